// checkPlayEvent takes an allocation-free fast path for events that keep every rule; it must
// accept exactly the events playEventProblems finds nothing wrong with.
import { describe, expect, it } from 'vitest';
import { checkPlayEvent, playEventProblems } from '../../../processors/rules.js';
import type { PlayEvent } from '../../../schemas/types.js';
import { rng, traffic } from './fixtures.js';

const bad: Record<string, unknown[]> = {
  event_id: ['', 'x'.repeat(129), 7, null],
  session_id: ['', undefined],
  viewer_id: ['', 'x'.repeat(129)],
  video_id: ['', null],
  event_type: ['replay', ''],
  traffic_source: ['tv', null],
  received_at: [-1, 1.5, Date.UTC(2101, 0, 1), Date.UTC(1999, 0, 1)],
  event_time: [Date.UTC(1999, 0, 1), 1.5, Number.NaN],
  position_ms: [-1, 86_400_001, 0.5, null],
  watched_ms: [-5, 86_400_001, '10'],
  seek_from_ms: [-1, 86_400_001, 2.5],
  startup_ms: [-1, 0.25],
  rebuffer_ms: [86_400_001, -3],
};

describe('the rule check', () => {
  it('accepts exactly the events with no problem, for good events and each field broken', () => {
    const r = rng(3);
    const events = traffic(8, { sessions: 40 }).deliveries.map((d) => d.event);
    for (const e of events) {
      expect(checkPlayEvent(e)).toBeNull();
      for (const [field, values] of Object.entries(bad)) {
        for (const value of values) {
          const broken = { ...e, [field]: value } as unknown as PlayEvent;
          expect(checkPlayEvent(broken) === null, `${field} = ${String(value)}`).toBe(
            playEventProblems(broken).length === 0,
          );
        }
      }
      // a time more than 24 h after its receive time
      const future = { ...e, event_time: e.received_at + 24 * 3_600_000 + Math.ceil(r() * 1000) };
      expect(checkPlayEvent(future)).not.toBeNull();
    }
    for (const v of [null, undefined]) expect(checkPlayEvent(v)).not.toBeNull();
  });
});
