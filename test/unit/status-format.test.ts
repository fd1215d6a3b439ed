// `viewpulse status` output: one aligned row per processor (or per partition), lag and freshness.
import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../cli/status.js';
import type { ProcessorPosition } from '../../runtime/status.js';

const W = Date.UTC(2026, 11, 1, 10, 0, 0);
const list: ProcessorPosition[] = [
  {
    processor: 'view-counts',
    topic: 'play-events',
    group: 'viewpulse-view-counts',
    state: 'running',
    members: [
      { clientId: 'viewpulse-a-101', host: '127.0.0.1', partitions: [0] },
      { clientId: 'viewpulse-b-202', host: '127.0.0.1', partitions: [1] },
    ],
    partitions: [
      { partition: 0, committed: 1_200, end: 1_250, lag: 50, watermark: W, owner: 'viewpulse-a-101' },
      { partition: 1, committed: 900, end: 900, lag: 0, watermark: W + 60_000, owner: 'viewpulse-b-202' },
    ],
    lag: 50,
    watermark: W,
    freshnessMs: 1_668_000,
  },
  {
    processor: 'catalog',
    topic: 'videos',
    group: 'viewpulse-catalog',
    state: null,
    members: [],
    partitions: [{ partition: 0, committed: 0, end: 12_000, lag: 12_000, watermark: null, owner: null }],
    lag: 12_000,
    watermark: null,
    freshnessMs: null,
  },
];

describe('viewpulse status', () => {
  it('a row per processor: state, instances, partitions, lag, watermark, freshness for people', () => {
    expect(formatStatus(list, false).split('\n')).toEqual([
      'PROCESSOR    STATE             INSTANCES  PARTITIONS  LAG     WATERMARK             FRESHNESS',
      'view-counts  running           2          2           50      2026-12-01T10:00:00Z  28 min behind',
      'catalog      not running here  0          1           12,000  –                     –',
    ]);
  });

  it('--partitions: a row per processor and partition, with the instance that owns it', () => {
    expect(formatStatus(list, true).split('\n')).toEqual([
      'PROCESSOR    PARTITION  OWNER            COMMITTED  END     LAG     WATERMARK',
      'view-counts  0          viewpulse-a-101  1,200      1,250   50      2026-12-01T10:00:00Z',
      'view-counts  1          viewpulse-b-202  900        900     0       2026-12-01T10:01:00Z',
      'catalog      0          –                0          12,000  12,000  –',
    ]);
  });
});
