// Migration 015 rebuilds the read models with 256-row granules. Specified here on a database
// that had data at migration 014: afterwards every rebuilt table has the new granularity and
// exactly the rows it had (compared through the reads the routes make: FINAL sums, merged uniq
// and min states); its materialized views still feed it; and a run that stopped after any
// statement of the file, run again, ends in the same place (the runner's CREATE .. AS and
// RENAME guards, lib/clickhouse/migrations.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, queryRows } from '../../lib/clickhouse/client.js';
import { loadMigrations } from '../../lib/clickhouse/migrations.js';
import { sql, v, type SqlFragment } from '../../lib/clickhouse/sql.js';
import { realServices } from '../../harness/services.js';
import { migrateUpTo, runStatements, SCHEMAS } from './migration-helpers.js';

const s = realServices('granularity');
const REBUILT = [
  'engagement_rollup',
  'view_counts',
  'videos',
  'related_videos',
  'related_creators',
  'creator_live',
  'video_viewers_hourly',
  'video_viewers_daily',
  'creator_viewers_hourly',
  'creator_viewers_daily',
  'creator_viewer_first_seen',
  'creator_viewer_days',
  'creator_audience',
];
const t = (name: string): SqlFragment => v.table(s.database, name);

async function insert(table: string, values: object[]): Promise<void> {
  await s.clickhouse.insert({ table: `${s.database}.${table}`, values, format: 'JSONEachRow' });
}

/** Some rows of every kind: two versions of a rollup and a count window, catalog rows, observations. */
async function writeData(tag: string): Promise<void> {
  const window = { grain: 'hour', window_start: '2026-11-03 10:00:00', kafka_partition: 1, seq: 0 };
  for (const version of [1, 2]) {
    await insert('engagement_rollup', [
      {
        dim: 'video',
        id: `v-${tag}`,
        value: '',
        ...window,
        version,
        views: version,
        watch_ms: 1000 * version,
        retention: [version, 1],
      },
      { dim: 'country', id: `v-${tag}`, value: 'DE', ...window, version, views: 3 * version, watch_ms: 7 },
    ]);
    await insert('view_counts', [
      { dim: 'creator', id: `c-${tag}`, ...window, version, plays: 5 * version, views: version, watch_ms: 9 },
    ]);
    await insert('videos', [
      { video_id: `v-${tag}`, creator_id: `c-${tag}`, title: `title ${version}`, duration_ms: 60_000, version },
    ]);
  }
  const seen = ['a', 'b', 'c'].map((viewer, i) => ({
    video_id: `v-${tag}`,
    creator_id: `c-${tag}`,
    viewer_id: `${viewer}-${tag}`,
    event_time: `2026-11-0${i + 1} 10:00:00`,
  }));
  await insert('viewer_observations', seen);
  await insert(
    'audience_observations',
    seen.map((x) => ({
      creator_id: x.creator_id,
      dimension: 'country',
      value: 'DE',
      viewer_id: x.viewer_id,
      view_time: x.event_time,
    })),
  );
}

/** What the routes read from each table, as one comparable value. */
async function fingerprint(): Promise<unknown> {
  const q = (text: SqlFragment) => queryRows<Record<string, unknown>>(s.clickhouse, text);
  return {
    rollup: await q(
      sql`SELECT dim, id, value, sum(views) AS v, sum(watch_ms) AS w, sumForEach(retention) AS r
          FROM ${t('engagement_rollup')} FINAL GROUP BY dim, id, value ORDER BY dim, id, value`,
    ),
    counts: await q(
      sql`SELECT id, sum(plays) AS p, sum(views) AS v FROM ${t('view_counts')} FINAL GROUP BY id ORDER BY id`,
    ),
    videos: await q(sql`SELECT video_id, title FROM ${t('videos')} FINAL ORDER BY video_id`),
    hourly: await q(
      sql`SELECT video_id, hour, uniqCombinedMerge(viewers) AS n FROM ${t('video_viewers_hourly')} GROUP BY video_id, hour ORDER BY video_id, hour`,
    ),
    daily: await q(
      sql`SELECT creator_id, day, uniqCombinedMerge(viewers) AS n FROM ${t('creator_viewers_daily')} GROUP BY creator_id, day ORDER BY creator_id, day`,
    ),
    firstSeen: await q(
      sql`SELECT creator_id, viewer_id, toString(minMerge(first_seen)) AS f FROM ${t('creator_viewer_first_seen')}
          GROUP BY creator_id, viewer_id ORDER BY creator_id, viewer_id`,
    ),
    days: await q(
      sql`SELECT creator_id, toString(day) AS d, viewer_id FROM ${t('creator_viewer_days')} FINAL ORDER BY creator_id, d, viewer_id`,
    ),
    audience: await q(
      sql`SELECT creator_id, grain, value, uniqCombinedMerge(viewers) AS n FROM ${t('creator_audience')}
          GROUP BY creator_id, grain, value ORDER BY creator_id, grain, value`,
    ),
  };
}

async function granularities(): Promise<Record<string, string>> {
  const r = await queryRows<{ name: string; g: string }>(
    s.clickhouse,
    sql`SELECT name, extract(engine_full, 'index_granularity = ([0-9]+)') AS g FROM system.tables
        WHERE database = ${v.string(s.database)} AND name IN ${v.inList(REBUILT, 'String')}`,
  );
  return Object.fromEntries(r.map((x) => [x.name, x.g]));
}

async function tableNames(): Promise<string[]> {
  const r = await queryRows<{ name: string }>(
    s.clickhouse,
    sql`SELECT name FROM system.tables WHERE database = ${v.string(s.database)} ORDER BY name`,
  );
  return r.map((x) => x.name);
}

describe('migration 015: read models with 256-row granules', () => {
  let before: unknown;
  let names: string[];
  beforeAll(async () => {
    await migrateUpTo(s.clickhouse, s.database, 14);
    await writeData('old');
    before = await fingerprint();
    names = await tableNames();
    // only 015: later migrations add tables of their own
    expect(await migrateUpTo(s.clickhouse, s.database, 15)).toEqual([15]);
  }, 120_000);
  afterAll(async () => {
    await exec(s.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(s.database)}`);
    await s.clickhouse.close();
  });

  it('rebuilds every read model at 256 rows a granule, keeping every row and no leftover table', async () => {
    expect(await granularities()).toEqual(Object.fromEntries(REBUILT.map((n) => [n, '256'])));
    expect(await fingerprint()).toEqual(before);
    expect(await tableNames()).toEqual(names);
  });

  it('keeps the materialized views feeding the rebuilt tables', async () => {
    await writeData('new');
    const after = (await fingerprint()) as Record<string, Array<Record<string, unknown>>>;
    for (const key of ['hourly', 'daily', 'firstSeen', 'days', 'audience'])
      expect(after[key]!.filter((r) => JSON.stringify(r).includes('-new')).length, key).toBeGreaterThanOrEqual(1);
    expect(after.firstSeen!.filter((r) => r.creator_id === 'c-new')).toHaveLength(3);
  });

  it('ends in the same place when a run that stopped after any statement is run again', async () => {
    const reference = await fingerprint();
    const m = loadMigrations(SCHEMAS, s.database).find((x) => x.version === 15)!;
    // every stopping point of a table without views (the first block) and of one with three
    const blocks = ['engagement_rollup', 'creator_audience'].map((name) => {
      const first = m.statements.findIndex((x) => x.includes(`.${name}`));
      const last = m.statements.findLastIndex((x) => x.includes(`.${name}`));
      return [first, last] as const;
    });
    for (const [first, last] of blocks) {
      for (let stop = first; stop <= last; stop++) {
        await runStatements(s.clickhouse, m.statements.slice(first, stop + 1));
        await runStatements(s.clickhouse, m.statements);
        expect(await fingerprint(), `stopped after statement ${stop + 1}`).toEqual(reference);
        expect(await granularities()).toEqual(Object.fromEntries(REBUILT.map((n) => [n, '256'])));
        expect(await tableNames()).toEqual(names);
      }
    }
  }, 600_000);
});
