// `viewpulse run processors --only view-counts --workers 2` as a child process over a small
// prefixed pipeline: both workers own partitions of the one consumer group (the parent's
// /healthz lists each worker's), view_counts equals the generator's truth exactly, the
// parent's /metrics carries both workers' series and `viewpulse status` sees the live state;
// SIGTERM stops it with exit 0. A worker killed with SIGKILL, or one that gives up, makes the
// parent stop the other and exit 1. Real Kafka, registry and ClickHouse.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../infra/paths.js';
import { exec } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { generateTraffic, type Traffic } from '../../generator/index.js';
import { seedAndPump } from '../../harness/dataset.js';
import { pipeline, waitForCommitted, type Pipeline } from '../../harness/pipeline.js';
import { clickhouseMinutes, truthMinutes, unionTruth } from '../../harness/truth-check.js';
import type { WorkersHealthReport } from '../../runtime/processor-health.js';
import { TABLES } from '../../schemas/tables.js';

// Kafka-direct traffic has no receive-time horizon: a fixed clock makes the data the same at any hour.
const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const BIN = join(projectRoot, 'bin', 'viewpulse.js');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let p: Pipeline;
const group = (): string => `${p.prefix}viewpulse-view-counts`;

interface Parent {
  child: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function runWorkers(env: Record<string, string> = {}): Promise<Parent> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, 'run', 'processors', '--only', 'view-counts', '--workers', '2', '--metrics-port', String(port)],
    {
      env: {
        ...process.env,
        VIEWPULSE_TOPIC_PREFIX: p.prefix,
        VIEWPULSE_CLICKHOUSE_DATABASE: p.database,
        VIEWPULSE_PROCESSOR_SESSION_TIMEOUT_MS: '6000',
        VIEWPULSE_PROCESSOR_CHECKPOINT_MS: '1000',
        VIEWPULSE_LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, port, output: () => out, exited };
}

async function healthz(parent: Parent): Promise<WorkersHealthReport | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${parent.port}/healthz`, { signal: AbortSignal.timeout(3_000) });
    return (await res.json()) as WorkersHealthReport;
  } catch {
    return undefined; // not listening yet
  }
}

async function until<T>(what: string, parent: Parent, check: () => Promise<T | undefined>, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await check();
    if (got !== undefined) return got;
    if (parent.child.exitCode !== null)
      throw new Error(`the parent exited while waiting for ${what}:\n${parent.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${parent.output().slice(-3000)}`);
    await sleep(200);
  }
}

/** Both workers joined the group (a worker is `running` once its assignment arrived). */
const bothJoined = (parent: Parent) =>
  until('both workers in the group', parent, async () => {
    const r = await healthz(parent);
    const ok =
      r?.workers.length === 2 && r.workers.every((w) => w.status === 'running' && w.processors[0]?.state === 'running');
    return ok ? r : undefined;
  });

const partitionsOf = (r: WorkersHealthReport): number[][] =>
  r.workers.map((w) => w.processors.flatMap((x) => x.partitions.map((pp) => pp.partition)).sort((a, b) => a - b));

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let parent: Parent | undefined;
afterEach(async () => {
  // a failed test leaves nothing running
  if (parent && parent.child.exitCode === null) {
    parent.child.kill('SIGKILL');
    await parent.exited;
  }
  parent = undefined;
});

describe('run processors --workers 2', () => {
  let first: Traffic;
  let second: Traffic;

  beforeAll(async () => {
    p = await pipeline('workers', 4);
    first = generateTraffic({ events: 4_000, seed: 41, videos: 40, creators: 8, now: NOW });
    second = generateTraffic({ events: 4_000, seed: 42, videos: 40, creators: 8, now: NOW });
    await seedAndPump(p, first, { chunk: 1000 });
  }, 300_000);
  afterAll(() => p.cleanup());

  it('splits the partitions between the workers and counts exactly; SIGTERM stops both, exit 0', async () => {
    parent = await runWorkers();
    const joined = await bothJoined(parent);
    const pids = joined.workers.map((w) => w.pid!);
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(parent.child.pid);

    // Traffic after both joined: every partition gets records in its owner, whichever it is.
    await seedAndPump(p, second, { chunk: 1000 });
    await waitForCommitted(p.kafka, group(), p.topics.playEvents, 240_000);

    const split = await until('both workers to own partitions', parent, async () => {
      const r = await healthz(parent!);
      return r && partitionsOf(r).every((ps) => ps.length > 0) ? r : undefined;
    });
    const [a, b] = partitionsOf(split);
    expect([...a!, ...b!].sort()).toEqual([0, 1, 2, 3]); // all of them, each in one worker
    expect(split.processors[0]).toMatchObject({ name: 'view-counts', state: 'running' });
    expect(split.processors[0]!.partitions.map((x) => x.partition)).toEqual([0, 1, 2, 3]);
    expect(split).toMatchObject({ status: 'ok', live: true, ready: true });

    expect(await clickhouseMinutes(p.clickhouse, p.database)).toEqual(
      truthMinutes(unionTruth([first.truth(), second.truth()])),
    );

    const metrics = await (await fetch(`http://127.0.0.1:${parent.port}/metrics`)).text();
    for (const worker of ['0', '1']) {
      const line = metrics
        .split('\n')
        .find(
          (l) =>
            l.startsWith('viewpulse_processor_records_total{') &&
            l.includes('processor="view-counts"') &&
            l.includes(`worker="${worker}"`),
        );
      expect(line, `worker ${worker} in /metrics`).toBeDefined();
    }
    expect(metrics.match(/^# TYPE viewpulse_processor_records_total counter$/gm)).toHaveLength(1);

    const { stdout } = await promisify(execFile)(
      process.execPath,
      [BIN, 'status', '--json', '--health-url', `http://127.0.0.1:${parent.port}`],
      { env: { ...process.env, VIEWPULSE_TOPIC_PREFIX: p.prefix, VIEWPULSE_CLICKHOUSE_DATABASE: p.database } },
    );
    const status = JSON.parse(stdout) as { processor: string; state: string | null; lag: number }[];
    expect(status.find((s) => s.processor === 'view-counts')).toMatchObject({ state: 'running', lag: 0 });

    parent.child.kill('SIGTERM');
    expect(await parent.exited, parent.output().slice(-2000)).toBe(0);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(parent.output().match(/"msg":"processors stopped"/g)).toHaveLength(2);
  });

  it('a worker killed with SIGKILL makes the parent stop the other cleanly and exit 1', async () => {
    parent = await runWorkers();
    const joined = await bothJoined(parent);
    const [survivor, victim] = joined.workers.map((w) => w.pid!);
    process.kill(victim!, 'SIGKILL');
    const code = await Promise.race([parent.exited, sleep(120_000).then(() => 'timeout' as const)]);
    expect(code, parent.output().slice(-3000)).toBe(1);
    expect(isAlive(survivor!)).toBe(false);
    expect(parent.output()).toContain('"msg":"worker exited unexpectedly; stopping the others"');
    expect(parent.output()).toContain('"msg":"processors stopped"'); // the survivor flushed, committed, left
  });

  it('a worker that gives up (its table is gone) makes the parent exit 1', async () => {
    await exec(p.clickhouse, sql`DROP TABLE ${v.table(p.database, TABLES.watermarks)}`);
    await seedAndPump(p, generateTraffic({ events: 1_000, seed: 43, videos: 40, creators: 8, now: NOW }), {
      chunk: 1000,
    });
    parent = await runWorkers({ VIEWPULSE_PROCESSOR_RESTART_BACKOFF_MS: '50', VIEWPULSE_PROCESSOR_MAX_RESTARTS: '2' });
    const code = await Promise.race([parent.exited, sleep(180_000).then(() => 'timeout' as const)]);
    expect(code, parent.output().slice(-3000)).toBe(1);
    expect(parent.output()).toContain('view-counts failed');
    expect(parent.output()).toContain('a worker gave up or died; the others were stopped');
  });
});
