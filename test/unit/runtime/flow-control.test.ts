// Backpressure as a state value: flowing, or paused with when to ask the sink again.
import { describe, expect, it } from 'vitest';
import { FlowControl, MAX_RETRY_MS } from '../../../runtime/flow-control.js';

function flow() {
  let now = 0;
  const hooks: string[] = [];
  const f = new FlowControl({
    now: () => now,
    paused: (err) => hooks.push(`paused: ${err.message}`),
    resumed: () => hooks.push('resumed'),
  });
  return { f, hooks, at: (t: number) => (now = t) };
}

describe('flow control', () => {
  it('starts flowing; a failure pauses once and asks again in 500 ms', () => {
    const { f, hooks, at } = flow();
    expect(f.state).toEqual({ mode: 'flowing' });
    at(1_000);
    f.pause(new Error('down'));
    expect(f.state).toEqual({ mode: 'paused', retryAt: 1_500, backoffMs: 500 });
    expect(f.retryDue()).toBe(false);
    at(1_500);
    expect(f.retryDue()).toBe(true);
    // paused again (a retry failed in a flush): the next retry one current backoff away, no second hook
    at(1_600);
    f.pause(new Error('still down'));
    expect(f.state).toEqual({ mode: 'paused', retryAt: 2_100, backoffMs: 500 });
    expect(hooks).toEqual(['paused: down']);
  });

  it('a failed probe doubles the backoff up to 10 s', () => {
    const { f, at } = flow();
    f.pause(new Error('down'));
    const backoffs: number[] = [];
    for (let i = 0; i < 8; i++) {
      f.probeFailed();
      backoffs.push((f.state as { backoffMs: number }).backoffMs);
    }
    expect(backoffs).toEqual([1_000, 2_000, 4_000, 8_000, MAX_RETRY_MS, MAX_RETRY_MS, MAX_RETRY_MS, MAX_RETRY_MS]);
    at(50_000);
    f.probeFailed();
    expect(f.state).toEqual({ mode: 'paused', retryAt: 60_000, backoffMs: MAX_RETRY_MS });
  });

  it('an acknowledged flush resumes (once); the next pause starts again at 500 ms', () => {
    const { f, hooks } = flow();
    f.acknowledged();
    expect(hooks).toEqual([]);
    f.pause(new Error('down'));
    f.probeFailed();
    f.acknowledged();
    f.acknowledged();
    expect(f.state).toEqual({ mode: 'flowing' });
    expect(hooks).toEqual(['paused: down', 'resumed']);
    f.pause(new Error('again'));
    expect(f.state).toMatchObject({ backoffMs: 500 });
  });

  it('reset (a crash) flows without a resume hook: the paused consumer is gone', () => {
    const { f, hooks } = flow();
    f.pause(new Error('down'));
    f.reset();
    expect(f.paused).toBe(false);
    expect(f.retryDue()).toBe(false);
    f.probeFailed();
    expect(f.state).toEqual({ mode: 'flowing' });
    expect(hooks).toEqual(['paused: down']);
  });
});
