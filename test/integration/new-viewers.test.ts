// New viewers of a range (docs/semantics.md "New and returning viewers": new when the creator
// first saw the viewer inside the range; its other viewers are returning) read through
// creator_viewer_days instead of every viewer the creator ever had — on a database that had
// data before migration 014 (its backfill) and data written after it (its materialized view),
// including a late event that moves a viewer's first sighting earlier, and ranges whose edges
// fall on the very second of a first sighting. The reference is computed here from the
// observations themselves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newViewers } from '../../api/queries/creators.js';
import { exec } from '../../lib/clickhouse/client.js';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { TABLES } from '../../schemas/tables.js';
import { realServices } from '../../harness/services.js';
import { migrateUpTo, SCHEMAS } from './migration-helpers.js';

const s = realServices('newviewers');
const db = { clickhouse: s.clickhouse, database: s.database };
const t = (iso: string): number => Date.parse(`${iso}Z`);

interface Seen {
  creator_id: string;
  viewer_id: string;
  at: string;
}
const before: Seen[] = [
  { creator_id: 'c1', viewer_id: 'v1', at: '2026-11-01T10:00:00' },
  { creator_id: 'c1', viewer_id: 'v2', at: '2026-11-02T11:00:00' },
  { creator_id: 'c1', viewer_id: 'v3', at: '2026-11-01T23:59:59' },
  { creator_id: 'c1', viewer_id: 'v3', at: '2026-11-03T01:00:00' },
  { creator_id: 'c2', viewer_id: 'v1', at: '2026-11-03T08:00:00' },
];
const after: Seen[] = [
  { creator_id: 'c1', viewer_id: 'v4', at: '2026-11-03T05:00:00' },
  { creator_id: 'c1', viewer_id: 'v1', at: '2026-11-03T06:00:00' },
  { creator_id: 'c1', viewer_id: 'v5', at: '2026-11-03T07:00:00' },
  // late: v5 was first seen the evening before
  { creator_id: 'c1', viewer_id: 'v5', at: '2026-11-02T22:00:00' },
  { creator_id: 'c1', viewer_id: 'v6', at: '2026-11-04T00:00:00' },
  { creator_id: 'c2', viewer_id: 'v2', at: '2026-11-02T12:00:00' },
];

async function observe(seen: Seen[]): Promise<void> {
  await s.clickhouse.insert({
    table: `${s.database}.${TABLES.viewerObservations}`,
    values: seen.map((x) => ({
      video_id: `${x.creator_id}-video`,
      creator_id: x.creator_id,
      viewer_id: x.viewer_id,
      event_time: x.at.replace('T', ' '),
    })),
    format: 'JSONEachRow',
  });
}

/** The reference: viewers whose earliest sighting by the creator lies in [from, to). */
function expected(seen: Seen[], creator: string, from: number, to: number): number {
  const first = new Map<string, number>();
  for (const x of seen.filter((y) => y.creator_id === creator))
    first.set(x.viewer_id, Math.min(first.get(x.viewer_id) ?? Infinity, t(x.at)));
  return [...first.values()].filter((f) => f >= from && f < to).length;
}

const RANGES: Array<[string, string]> = [
  ['2026-11-01T00:00:00', '2026-11-05T00:00:00'],
  ['2026-11-01T00:00:00', '2026-11-04T00:00:00'], // v6's first second is outside
  ['2026-11-02T22:00:00', '2026-11-03T06:00:00'], // v5's late first second is inside
  ['2026-11-02T22:00:01', '2026-11-03T12:00:00'],
  ['2026-11-01T23:59:59', '2026-11-02T00:00:00'], // one second
  ['2026-11-03T00:00:00', '2026-11-04T00:00:01'],
  ['2026-11-03T07:00:00', '2026-11-03T08:00:00'], // v5 again, but first seen earlier: returning
];

describe('new viewers through creator_viewer_days', () => {
  beforeAll(async () => {
    // a database at migration 013, with data, then migrated to the latest
    await migrateUpTo(s.clickhouse, s.database, 13);
    await observe(before);
    expect(await migrate(s.clickhouse, s.database, SCHEMAS)).toContain(14);
    await observe(after);
  });
  afterAll(async () => {
    await exec(s.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(s.database)}`);
    await s.clickhouse.close();
  });

  it.each(RANGES)('from %s to %s: equal to the viewers first seen in the range', async (from, to) => {
    for (const creator of ['c1', 'c2', 'nobody']) {
      const range = { from: t(from), to: t(to) };
      expect(await newViewers(db, creator, range), creator).toBe(
        expected([...before, ...after], creator, range.from, range.to),
      );
    }
  });

  it('the reference is not trivially zero: the whole range counts every viewer once', () => {
    expect(expected([...before, ...after], 'c1', t(RANGES[0]![0]), t(RANGES[0]![1]))).toBe(6);
  });
});
