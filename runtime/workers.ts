// `viewpulse run processors --workers N`: N worker processes on one machine (one event loop
// per core), each started with child_process.fork of the same CLI entry and VIEWPULSE_WORKER
// set, each a normal member of every processor's consumer group — so Kafka splits each
// processor's partitions across them, and a worker's partitions move to the others when it
// leaves, exactly as with separate instances. Nothing is shared between workers but the group.
//
// The parent consumes nothing. It
//   - serves /healthz, /readyz and /metrics for all workers on the processors port: health is
//     each processor merged over the workers plus every worker's own report (processor-health.ts
//     workersHealthReport); metrics are every worker's registry, labelled worker="<i>", merged
//     into one exposition (prom-client AggregatorRegistry.aggregate) — asked over the IPC channel;
//   - forwards SIGTERM/SIGINT to the workers as SIGTERM (each flushes, commits, leaves its
//     groups) and exits 0 once all exited 0;
//   - does not respawn: a worker that exits unasked — it gave up (exit 1), crashed or was killed
//     — makes the parent stop the others cleanly and exit 1. Restarting is the operator's
//     supervisor's job, as for a single process, and a silent loss of capacity is not an option.
import { fork, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Logger } from '../lib/logger.js';
import { workersHealthReport, type WorkerHealth, type WorkersHealthReport } from './processor-health.js';
import type { RunnerHealth } from './runner.js';
import { serveHealth, type RunningProcessors } from './start.js';

/** Set in a worker's environment: its index, 0..N-1. */
export const WORKER_ENV = 'VIEWPULSE_WORKER';

/** How long the parent waits for a worker's answer before it counts as not answering. */
const ASK_TIMEOUT_MS = 1_000;

type Ask = 'health' | 'metrics';

/** parent → worker */
interface Question {
  vp: 'ask';
  id: number;
  what: Ask;
}

/** worker → parent */
type WorkerMessage = { vp: 'started' } | { vp: 'answer'; id: number; health?: RunnerHealth[]; metrics?: object[] };

// ---------------------------------------------------------------------------------------------
// The worker side.

/** This process's worker index when it is a worker of `run processors --workers`, else undefined. */
export function workerIndex(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[WORKER_ENV];
  if (raw === undefined || !process.send) return undefined;
  const i = Number(raw);
  return Number.isInteger(i) && i >= 0 ? i : undefined;
}

/**
 * Answers the parent's questions (health, metrics) from the running processors; before they
 * run it answers "starting". `onParentGone` runs when the IPC channel closes (the parent died).
 */
export function answerParent(o: { onParentGone: () => void }): { started(running: RunningProcessors): void } {
  let running: RunningProcessors | undefined;
  const send = (m: WorkerMessage): void => {
    if (process.connected) process.send!(m);
  };
  process.on('message', (m: Question) => {
    if (m?.vp !== 'ask') return;
    if (m.what === 'health')
      send({ vp: 'answer', id: m.id, ...(running && { health: running.runners.map((r) => r.health()) }) });
    else
      void (running ? running.registry.getMetricsAsJSON() : Promise.resolve([])).then((metrics) =>
        send({ vp: 'answer', id: m.id, metrics }),
      );
  });
  process.once('disconnect', o.onParentGone);
  return {
    started(r) {
      running = r;
      send({ vp: 'started' });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The parent side.

export interface WorkersOptions {
  count: number;
  /** The CLI entry to fork (process.argv[1]) and its arguments for one worker. */
  exec: string;
  args: readonly string[];
  /** The processors every worker runs (for the health of workers that have not answered). */
  processors: readonly string[];
  /** 127.0.0.1 port of /healthz, /readyz and /metrics; negative: none. */
  metricsPort: number;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}

export interface RunningWorkers {
  server: Server | undefined;
  /** Resolves with the exit code once every worker exited: 0 after stop() when all exited 0, else 1. */
  done: Promise<number>;
  /** SIGTERM to every worker, then what `done` resolves with. */
  stop(): Promise<number>;
  health(): Promise<WorkersHealthReport>;
  metrics(): Promise<{ contentType: string; body: string }>;
}

interface Worker {
  index: number;
  child: ChildProcess;
  started: boolean;
  exit?: { code: number | null; signal: string | null };
  exited: Promise<void>;
}

export async function runWorkers(o: WorkersOptions): Promise<RunningWorkers> {
  const log = o.logger.child({ component: 'workers' });
  let stopping = false;
  let failed = false;
  let nextId = 0;
  const pending = new Map<number, (m: WorkerMessage & { vp: 'answer' }) => void>();

  const stopAll = (): void => {
    for (const w of workers) if (!w.exit) w.child.kill('SIGTERM');
  };

  const spawnWorker = (index: number): Worker => {
    const child = fork(o.exec, [...o.args], {
      env: { ...(o.env ?? process.env), [WORKER_ENV]: String(index) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const w: Worker = { index, child, started: false, exited: Promise.resolve() };
    w.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        w.exit = { code, signal };
        if (!stopping) {
          // Not asked to: it gave up (exit 1), crashed or was killed. The others stop cleanly.
          failed = true;
          stopping = true;
          log.error({ worker: index, pid: child.pid, code, signal }, 'worker exited unexpectedly; stopping the others');
          stopAll();
        } else if (code !== 0) {
          failed = true;
          log.error({ worker: index, pid: child.pid, code, signal }, 'worker did not stop cleanly');
        } else log.info({ worker: index, pid: child.pid }, 'worker stopped');
        resolve();
      }),
    );
    child.on('message', (m: WorkerMessage) => {
      if (m?.vp === 'started') {
        w.started = true;
        if (workers.every((x) => x.started)) log.info({ workers: workers.map((x) => x.child.pid) }, 'workers running');
      } else if (m?.vp === 'answer') pending.get(m.id)?.(m);
    });
    child.on('error', (err) => log.error({ worker: index, err: err.message }, 'worker IPC error'));
    return w;
  };

  const ask = (w: Worker, what: Ask): Promise<(WorkerMessage & { vp: 'answer' }) | undefined> => {
    if (w.exit || !w.child.connected) return Promise.resolve(undefined);
    const id = nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(undefined);
      }, ASK_TIMEOUT_MS);
      pending.set(id, (m) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(m);
      });
      const question: Question = { vp: 'ask', id, what };
      w.child.send(question, (err) => {
        if (err) pending.get(id)?.({ vp: 'answer', id });
      });
    });
  };

  const workers: Worker[] = [];
  for (let i = 0; i < o.count; i++) workers.push(spawnWorker(i));
  log.info({ workers: workers.map((w) => w.child.pid) }, 'workers starting');

  const health = async (): Promise<WorkersHealthReport> => {
    const reports = await Promise.all(
      workers.map(async (w): Promise<WorkerHealth> => {
        const answer = await ask(w, 'health');
        const base = { worker: w.index, pid: w.child.pid };
        if (w.exit) return { ...base, status: 'exited', exit: w.exit, processors: [] };
        if (!answer?.health) return { ...base, status: 'starting', processors: [] };
        return { ...base, status: 'running', processors: answer.health };
      }),
    );
    return workersHealthReport(o.processors, reports);
  };

  const metrics = async (): Promise<{ contentType: string; body: string }> => {
    const answers = await Promise.all(workers.map((w) => ask(w, 'metrics')));
    const merged: Registry = AggregatorRegistry.aggregate(answers.flatMap((a) => (a?.metrics ? [a.metrics] : [])));
    return { contentType: merged.contentType, body: await merged.metrics() };
  };

  const all = Promise.all(workers.map((w) => w.exited));
  let server: Server | undefined;
  if (o.metricsPort >= 0) {
    server = await serveHealth(o.metricsPort, { report: health, metrics });
    log.info({ port: (server.address() as { port: number }).port }, 'workers metrics and health listening');
  }
  const done = all.then(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    return failed ? 1 : 0;
  });

  return {
    server,
    done,
    health,
    metrics,
    stop() {
      stopping = true;
      stopAll();
      return done;
    },
  };
}
