// The benchmarks' child processes: `viewpulse run processors` against a topic prefix and a
// database, stopped with SIGTERM (flush, commit, leave), and timed with their peak memory.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../infra/paths.js';

export interface Target {
  prefix: string;
  database: string;
}

/**
 * `viewpulse run processors [--only …]` in a child process; its logs (warn and up) on our stderr.
 * With BENCH_CPU_PROF_DIR set, each child writes a V8 CPU profile there when it exits.
 */
export function spawnProcessors(
  only: readonly string[] | undefined,
  target: Target,
  /** More arguments, e.g. `--workers 2`, `--metrics-port 39500` (which replaces the default -1). */
  extra: readonly string[] = [],
  /** More environment, e.g. a configuration variable */
  env: Record<string, string> = {},
): ChildProcess {
  return spawn(
    process.execPath,
    [
      ...(process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : []),
      join(projectRoot, 'bin', 'viewpulse.js'),
      'run',
      'processors',
      ...(only ? ['--only', only.join(',')] : []),
      ...(extra.includes('--metrics-port') ? [] : ['--metrics-port', '-1']),
      ...extra,
    ],
    {
      env: {
        ...process.env,
        VIEWPULSE_TOPIC_PREFIX: target.prefix,
        VIEWPULSE_CLICKHOUSE_DATABASE: target.database,
        VIEWPULSE_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

/** SIGTERM, then the exit (nothing to do when it already ended). */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** A process's resident memory now, in MB (0 once it is gone). */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

/** The resident memory of a process and all its descendants (`run processors --workers N` and its workers), in MB. */
export function treeRssMb(pid: number): number {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    // gone
  }
  return children.reduce((sum, c) => sum + treeRssMb(c), rssMb(pid));
}

/**
 * Seconds until `done` resolves and the child's peak resident memory meanwhile (with its
 * descendants: a --workers parent and its workers together); then stops it.
 */
export async function timed(
  child: ChildProcess,
  done: () => Promise<unknown>,
): Promise<{ seconds: number; peakRssMb: number }> {
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, treeRssMb(child.pid!))), 200);
  const started = Date.now();
  try {
    await done();
  } finally {
    clearInterval(sampler);
  }
  const seconds = (Date.now() - started) / 1000;
  await stopChild(child);
  return { seconds, peakRssMb: peak };
}
