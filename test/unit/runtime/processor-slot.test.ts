// The hand-over of a running processor to a replay (runtime/processor-slot.ts): it stops its
// runner when its generation turns 'draining', waits, and starts the replay's group when it
// turns 'active' — once, whatever order and how often the generations are seen.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../lib/logger.js';
import type { Generation } from '../../../runtime/generations.js';
import { ProcessorSlot, type SlotRunner } from '../../../runtime/processor-slot.js';
import type { RunnerState } from '../../../runtime/supervisor.js';

function fakes() {
  const log: string[] = [];
  const make = (g: Generation | undefined): SlotRunner => {
    const group = g?.groupId ?? 'default';
    let state: RunnerState = 'starting';
    return {
      name: 'view-counts',
      get state() {
        return state;
      },
      start: async () => {
        state = 'running';
        log.push(`start ${group}`);
      },
      stop: async () => {
        state = 'stopped';
        log.push(`stop ${group}`);
      },
      abandon: async () => {
        state = 'stopped';
        log.push(`abandon ${group}`);
      },
      health: () => ({ name: 'view-counts', state, crashes: 0, lag: 0, stuck: false, partitions: [] }),
    };
  };
  return { log, slot: new ProcessorSlot('view-counts', make, createLogger('silent')) };
}

const gen = (generation: number, state: Generation['state'], groupId = `replay-${generation}`): Generation => ({
  processor: 'view-counts',
  generation,
  state,
  groupId,
  rules: null,
  replayId: `r${generation}`,
});

describe('ProcessorSlot', () => {
  it('runs its default group when no replay ever handed it over', async () => {
    const { log, slot } = fakes();
    await slot.start(undefined);
    expect(log).toEqual(['start default']);
    expect(slot.state).toBe('running');
  });

  it('drains on a draining generation, waits, and takes over as the replay group once active', async () => {
    const { log, slot } = fakes();
    await slot.start(undefined);
    await slot.observe(gen(1, 'draining'));
    expect(log).toEqual(['start default', 'stop default']);
    expect(slot.state).toBe('starting'); // alive, not ready
    await slot.observe(gen(1, 'draining')); // seen again on the next poll: nothing more
    await slot.observe(gen(1, 'active'));
    await slot.observe(gen(1, 'active'));
    expect(log).toEqual(['start default', 'stop default', 'start replay-1']);
    expect(slot.current).toBe(1);
  });

  it('a runner that missed the drain is abandoned, not flushed: its state is not the rebuilt one', async () => {
    const { log, slot } = fakes();
    await slot.start(gen(1, 'active'));
    await slot.observe(gen(2, 'active'));
    expect(log).toEqual(['start replay-1', 'abandon replay-1', 'start replay-2']);
  });

  it('ignores what the poll sees before it started', async () => {
    const { log, slot } = fakes();
    await slot.observe(gen(1, 'active'));
    await slot.start(gen(1, 'active'));
    expect(log).toEqual(['start replay-1']);
  });

  it('starting while a replay drains it: waits without running anything', async () => {
    const { log, slot } = fakes();
    await slot.start(gen(3, 'draining'));
    expect(log).toEqual([]);
    await slot.observe(gen(3, 'active'));
    expect(log).toEqual(['start replay-3']);
  });

  it('never goes back to an older generation, nor starts after stop', async () => {
    const { log, slot } = fakes();
    await slot.start(gen(2, 'active'));
    await slot.observe(gen(1, 'active'));
    await slot.stop();
    await slot.observe(gen(3, 'active'));
    expect(log).toEqual(['start replay-2', 'stop replay-2']);
    expect(slot.state).toBe('stopped');
  });
});
