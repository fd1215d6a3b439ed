// What the processors' /healthz and /readyz answer, from each runner's health. Pure, so the
// rules are unit-tested without Kafka:
//   live  (/healthz): no processor failed (gave up after repeated crashes) or stuck (lag that
//                     has not moved for stuckAfterMs) — otherwise a supervisor should restart it;
//   ready (/readyz):  live, and every processor running (not starting or restarting).
// With `run processors --workers N` the parent merges its workers' reports (workersHealthReport).
import type { RunnerHealth, RunnerState } from './runner.js';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'failed';
  live: boolean;
  ready: boolean;
  processors: RunnerHealth[];
}

export function healthReport(processors: readonly RunnerHealth[]): HealthReport {
  const live = processors.every((p) => p.state !== 'failed' && !p.stuck);
  const ready = live && processors.every((p) => p.state === 'running');
  return { status: !live ? 'failed' : ready ? 'ok' : 'degraded', live, ready, processors: [...processors] };
}

/** One worker process of `run processors --workers N`, as its parent sees it. */
export interface WorkerHealth {
  worker: number;
  pid: number | undefined;
  /** starting: has not answered yet; running: answers; exited: the process is gone */
  status: 'starting' | 'running' | 'exited';
  /** How it ended (exited only): its exit code, or the signal that killed it. */
  exit?: { code: number | null; signal: string | null };
  /** Its processors' health, as it answered (none while starting or exited). */
  processors: RunnerHealth[];
}

export interface WorkersHealthReport extends HealthReport {
  workers: WorkerHealth[];
}

/** Worst first: a processor is as healthy as its least healthy worker. */
const STATES: readonly RunnerState[] = ['failed', 'stopped', 'restarting', 'starting', 'running'];

/** What a worker that has not answered (or is gone) stands for, per processor. */
function standIn(name: string, w: WorkerHealth): RunnerHealth {
  if (w.status !== 'exited') return { name, state: 'starting', crashes: 0, lag: 0, stuck: false, partitions: [] };
  const how = w.exit?.signal ?? `code ${w.exit?.code}`;
  const clean = w.exit?.code === 0;
  return {
    name,
    state: clean ? 'stopped' : 'failed',
    crashes: 0,
    ...(clean ? {} : { last_error: `worker ${w.worker} exited (${how})` }),
    lag: 0,
    stuck: false,
    partitions: [],
  };
}

/** One processor over every worker: its partitions are split across them. */
export function mergeProcessor(name: string, parts: readonly RunnerHealth[]): RunnerHealth {
  const state = STATES.find((s) => parts.some((p) => p.state === s)) ?? 'running';
  const lastError = (parts.find((p) => p.state === state && p.last_error) ?? parts.find((p) => p.last_error))
    ?.last_error;
  return {
    name,
    state,
    crashes: parts.reduce((n, p) => Math.max(n, p.crashes), 0),
    ...(lastError !== undefined ? { last_error: lastError } : {}),
    lag: parts.reduce((n, p) => n + p.lag, 0),
    stuck: parts.some((p) => p.stuck),
    partitions: parts.flatMap((p) => p.partitions).sort((a, b) => a.partition - b.partition),
  };
}

/**
 * The parent's /healthz and /readyz: per processor, merged over the workers (live unless one
 * failed, is stuck or a worker died; ready only while every worker runs it), and each worker's own.
 */
export function workersHealthReport(names: readonly string[], workers: readonly WorkerHealth[]): WorkersHealthReport {
  const processors = names.map((name) =>
    mergeProcessor(
      name,
      workers.map((w) => w.processors.find((p) => p.name === name) ?? standIn(name, w)),
    ),
  );
  return { ...healthReport(processors), workers: [...workers] };
}
