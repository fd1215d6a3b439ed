// What the parent of `run processors --workers N` answers on /healthz and /readyz: each
// processor merged over the workers (its partitions split across them), and each worker's own.
import { describe, expect, it } from 'vitest';
import { mergeProcessor, workersHealthReport, type WorkerHealth } from '../../../runtime/processor-health.js';
import type { PartitionStatus, RunnerHealth, RunnerState } from '../../../runtime/runner.js';

const part = (partition: number, lag = 0, stuck = false): PartitionStatus => ({
  partition,
  lastOffset: 10,
  checkpointed: 9,
  watermark: 1_000,
  lag,
  stuck,
});
const health = (
  name: string,
  state: RunnerState,
  partitions: PartitionStatus[],
  extra: Partial<RunnerHealth> = {},
) => ({
  name,
  state,
  crashes: 0,
  lag: partitions.reduce((n, p) => n + p.lag, 0),
  stuck: partitions.some((p) => p.stuck),
  partitions,
  ...extra,
});
const running = (worker: number, processors: RunnerHealth[]): WorkerHealth => ({
  worker,
  pid: 100 + worker,
  status: 'running',
  processors,
});

describe('workers health', () => {
  it('merges each processor: partitions of all workers, lag summed, ready while every worker runs it', () => {
    const r = workersHealthReport(
      ['view-counts'],
      [
        running(0, [health('view-counts', 'running', [part(2, 5), part(0)])]),
        running(1, [health('view-counts', 'running', [part(3), part(1, 7)])]),
      ],
    );
    expect(r).toMatchObject({ status: 'ok', live: true, ready: true });
    expect(r.processors).toEqual([
      {
        name: 'view-counts',
        state: 'running',
        crashes: 0,
        lag: 12,
        stuck: false,
        partitions: [part(0), part(1, 7), part(2, 5), part(3)],
      },
    ]);
    expect(r.workers.map((w) => w.processors[0]!.partitions.map((p) => p.partition))).toEqual([
      [2, 0],
      [3, 1],
    ]);
  });

  it('a worker that has not answered yet counts as starting: live, not ready', () => {
    const r = workersHealthReport(
      ['view-counts', 'engagement'],
      [
        running(0, [health('view-counts', 'running', [part(0)]), health('engagement', 'running', [part(0)])]),
        { worker: 1, pid: 101, status: 'starting', processors: [] },
      ],
    );
    expect(r).toMatchObject({ status: 'degraded', live: true, ready: false });
    expect(r.processors.map((p) => [p.name, p.state])).toEqual([
      ['view-counts', 'starting'],
      ['engagement', 'starting'],
    ]);
  });

  it('one worker failing, stuck or gone makes the processor not live', () => {
    const failed = workersHealthReport(
      ['view-counts'],
      [
        running(0, [health('view-counts', 'running', [part(0)])]),
        running(1, [health('view-counts', 'failed', [], { crashes: 6, last_error: 'injected' })]),
      ],
    );
    expect(failed).toMatchObject({ status: 'failed', live: false, ready: false });
    expect(failed.processors[0]).toMatchObject({ state: 'failed', crashes: 6, last_error: 'injected' });

    const stuck = workersHealthReport(
      ['view-counts'],
      [
        running(0, [health('view-counts', 'running', [part(0, 3, true)])]),
        running(1, [health('view-counts', 'running', [])]),
      ],
    );
    expect(stuck).toMatchObject({ live: false });

    const gone = workersHealthReport(
      ['view-counts'],
      [
        running(0, [health('view-counts', 'running', [part(0)])]),
        { worker: 1, pid: 101, status: 'exited', exit: { code: null, signal: 'SIGKILL' }, processors: [] },
      ],
    );
    expect(gone).toMatchObject({ status: 'failed', live: false });
    expect(gone.processors[0]).toMatchObject({ state: 'failed', last_error: 'worker 1 exited (SIGKILL)' });
  });

  it('workers stopped cleanly report stopped', () => {
    const r = workersHealthReport(
      ['view-counts'],
      [0, 1].map((worker) => ({ worker, pid: 1, status: 'exited', exit: { code: 0, signal: null }, processors: [] })),
    );
    expect(r).toMatchObject({ live: true, ready: false });
    expect(r.processors[0]!.state).toBe('stopped');
  });

  it('a processor is as healthy as its least healthy worker', () => {
    const merged = (...states: RunnerState[]) =>
      mergeProcessor(
        'x',
        states.map((s) => health('x', s, [])),
      ).state;
    expect(merged('running', 'running')).toBe('running');
    expect(merged('running', 'starting')).toBe('starting');
    expect(merged('starting', 'restarting')).toBe('restarting');
    expect(merged('restarting', 'stopped')).toBe('stopped');
    expect(merged('stopped', 'failed', 'running')).toBe('failed');
  });
});
