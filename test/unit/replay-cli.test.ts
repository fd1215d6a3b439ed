// What `viewpulse replay` accepts on its command line (cli/replay.ts).
import { describe, expect, it } from 'vitest';
import { parseFrom, parseProcessors, parseTime } from '../../cli/replay.js';

describe('viewpulse replay arguments', () => {
  it('--from: nothing is the log start; a time needs a zone; offsets are partition:offset pairs', () => {
    expect(parseFrom(undefined)).toEqual({ kind: 'start' });
    expect(parseFrom('2026-12-01T10:00:00Z')).toEqual({ kind: 'time', ms: Date.UTC(2026, 11, 1, 10) });
    expect(parseFrom('2026-12-01T11:00:00+01:00')).toEqual({ kind: 'time', ms: Date.UTC(2026, 11, 1, 10) });
    expect(parseFrom('0:1200,3:7')).toEqual({
      kind: 'offsets',
      offsets: new Map([
        [0, 1200],
        [3, 7],
      ]),
    });
    expect(() => parseFrom('2026-12-01T10:00:00')).toThrow(/--from: expected an ISO time with a zone/);
    expect(() => parseFrom('yesterday')).toThrow(/--from/);
    expect(() => parseTime('soon', '--to')).toThrow(/--to: expected an ISO time/);
  });

  it('processors: the replayable ones by name, or all; others are refused with the list', () => {
    expect(parseProcessors(['view-counts', 'engagement', 'view-counts'])).toEqual(['view-counts', 'engagement']);
    expect(parseProcessors(['all'])).toEqual(['view-counts', 'engagement', 'recommendations', 'raw-events']);
    expect(() => parseProcessors(['catalog'])).toThrow(
      /cannot replay catalog \(replayable: view-counts, engagement, recommendations, raw-events, or all\)/,
    );
  });
});
