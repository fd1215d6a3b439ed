// What the processors' /healthz and /readyz answer, for each combination of runner states.
import { describe, expect, it } from 'vitest';
import { healthReport } from '../../runtime/processor-health.js';
import type { RunnerHealth, RunnerState } from '../../runtime/runner.js';

const runner = (name: string, state: RunnerState, stuck = false): RunnerHealth => ({
  name,
  state,
  crashes: 0,
  lag: stuck ? 10 : 0,
  stuck,
  partitions: [],
});

describe('processor health', () => {
  it('all running: live and ready', () => {
    const r = healthReport([runner('a', 'running'), runner('b', 'running')]);
    expect([r.status, r.live, r.ready]).toEqual(['ok', true, true]);
  });

  it('one starting or restarting: live, not ready', () => {
    for (const state of ['starting', 'restarting'] as const) {
      const r = healthReport([runner('a', 'running'), runner('b', state)]);
      expect([r.status, r.live, r.ready], state).toEqual(['degraded', true, false]);
    }
  });

  it('one failed, or one stuck: neither live nor ready', () => {
    for (const r of [
      healthReport([runner('a', 'running'), runner('b', 'failed')]),
      healthReport([runner('a', 'running'), runner('b', 'running', true)]),
    ])
      expect([r.status, r.live, r.ready]).toEqual(['failed', false, false]);
  });

  it('lists every processor with its state and lag', () => {
    const r = healthReport([runner('a', 'running'), runner('b', 'restarting', true)]);
    expect(r.processors.map((p) => [p.name, p.state, p.lag])).toEqual([
      ['a', 'running', 0],
      ['b', 'restarting', 10],
    ]);
  });
});
