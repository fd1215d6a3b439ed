// Migration 017 sorts late_events and dead_letters by video first, so the health route reads
// one creator's rows. Specified on a database that had rows at migration 016: afterwards both
// tables are sorted by (video, time, record identity), hold exactly what they held (what the
// health route counts), still keep one row per record and processor under FINAL when a replay
// writes a row again, and a run that stopped after any statement, run again, ends the same.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, queryRows } from '../../lib/clickhouse/client.js';
import { loadMigrations } from '../../lib/clickhouse/migrations.js';
import { sql, v, type SqlFragment } from '../../lib/clickhouse/sql.js';
import { realServices } from '../../harness/services.js';
import { migrateUpTo, runStatements, SCHEMAS } from './migration-helpers.js';

const s = realServices('logsbyvideo');
const t = (name: string): SqlFragment => v.table(s.database, name);

const lateRow = (processor: string, offset: number, video: string, applied: number) => ({
  processor,
  kafka_partition: offset % 3,
  kafka_offset: offset,
  event_id: `e${offset}`,
  video_id: video,
  event_time: `2026-11-0${1 + (offset % 9)} 10:00:00`,
  watermark: '2026-11-10 00:00:00',
  lateness_ms: 1000 * offset,
  applied,
  reason: applied ? 'late_delta' : 'session_closed',
});
const deadRow = (stage: string, offset: number, video: string, code: string) => ({
  stage,
  source_topic: 'play-events',
  kafka_partition: offset % 3,
  kafka_offset: offset,
  record_time: `2026-11-0${1 + (offset % 9)} 11:00:00`,
  code,
  reason: `${code} at ${offset}`,
  video_id: video,
});

/** Rows of both logs, each written twice (a replay after a crash writes identical rows). */
async function writeRows(from: number, n: number): Promise<void> {
  const late = [];
  const dead = [];
  for (let i = from; i < from + n; i++) {
    const video = `v${i % 7}`;
    late.push(lateRow('view-counts', i, video, i % 2), lateRow('engagement', i, video, 1));
    dead.push(deadRow('raw-events', i, i % 5 === 0 ? '' : video, i % 3 ? 'VP_ERR_A' : 'VP_ERR_B'));
    dead.push(deadRow('engagement', i, i % 5 === 0 ? '' : video, i % 3 ? 'VP_ERR_A' : 'VP_ERR_B'));
  }
  for (let k = 0; k < 2; k++) {
    await s.clickhouse.insert({ table: `${s.database}.late_events`, values: late, format: 'JSONEachRow' });
    await s.clickhouse.insert({ table: `${s.database}.dead_letters`, values: dead, format: 'JSONEachRow' });
  }
}

/** What the health route counts, per video: late events by processor and applied, records by code. */
async function fingerprint(): Promise<unknown> {
  const q = (text: SqlFragment) => queryRows<Record<string, unknown>>(s.clickhouse, text);
  return {
    late: await q(
      sql`SELECT video_id, processor, applied, count() AS n, max(lateness_ms) AS worst
          FROM ${t('late_events')} FINAL GROUP BY video_id, processor, applied ORDER BY video_id, processor, applied`,
    ),
    dead: await q(
      sql`SELECT video_id, code, uniqExact(source_topic, kafka_partition, kafka_offset) AS records, count() AS rows
          FROM ${t('dead_letters')} FINAL GROUP BY video_id, code ORDER BY video_id, code`,
    ),
  };
}

async function sortingKeys(): Promise<Record<string, string>> {
  const r = await queryRows<{ name: string; key: string }>(
    s.clickhouse,
    sql`SELECT name, sorting_key AS key FROM system.tables
        WHERE database = ${v.string(s.database)} AND name IN ('late_events', 'dead_letters')`,
  );
  return Object.fromEntries(r.map((x) => [x.name, x.key.replaceAll(' ', '')]));
}

const BY_VIDEO = {
  late_events: 'video_id,event_time,processor,kafka_partition,kafka_offset',
  dead_letters: 'video_id,record_time,source_topic,kafka_partition,kafka_offset,stage',
};

async function tableNames(): Promise<string[]> {
  const r = await queryRows<{ name: string }>(
    s.clickhouse,
    sql`SELECT name FROM system.tables WHERE database = ${v.string(s.database)} ORDER BY name`,
  );
  return r.map((x) => x.name);
}

describe('migration 017: late events and dead letters sorted by video', () => {
  let before: unknown;
  let names: string[];
  beforeAll(async () => {
    await migrateUpTo(s.clickhouse, s.database, 16);
    await writeRows(0, 300);
    before = await fingerprint();
    names = await tableNames();
    expect(await migrateUpTo(s.clickhouse, s.database, 17)).toEqual([17]);
  }, 120_000);
  afterAll(async () => {
    await exec(s.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(s.database)}`);
    await s.clickhouse.close();
  });

  it('sorts both logs by video and time, keeping every row and no leftover table', async () => {
    expect(await sortingKeys()).toEqual(BY_VIDEO);
    expect(await fingerprint()).toEqual(before);
    expect(await tableNames()).toEqual(names);
    // one row per record and processor: 300 records, two processors / stages
    const [n] = await queryRows<{ late: string; dead: string }>(
      s.clickhouse,
      sql`SELECT (SELECT count() FROM ${t('late_events')} FINAL) AS late, (SELECT count() FROM ${t('dead_letters')} FINAL) AS dead`,
    );
    expect([Number(n!.late), Number(n!.dead)]).toEqual([600, 600]);
  });

  it('keeps one row per record under FINAL when a replay writes rows again', async () => {
    await writeRows(250, 100); // 50 records again, 50 new
    const [n] = await queryRows<{ late: string; dead: string }>(
      s.clickhouse,
      sql`SELECT (SELECT count() FROM ${t('late_events')} FINAL) AS late, (SELECT count() FROM ${t('dead_letters')} FINAL) AS dead`,
    );
    expect([Number(n!.late), Number(n!.dead)]).toEqual([700, 700]);
  });

  it('ends in the same place when a run that stopped after any statement is run again', async () => {
    const reference = await fingerprint();
    const m = loadMigrations(SCHEMAS, s.database).find((x) => x.version === 17)!;
    for (let stop = 0; stop < m.statements.length; stop++) {
      await runStatements(s.clickhouse, m.statements.slice(0, stop + 1));
      await runStatements(s.clickhouse, m.statements);
      expect(await fingerprint(), `stopped after statement ${stop + 1}`).toEqual(reference);
      expect(await sortingKeys()).toEqual(BY_VIDEO);
      expect(await tableNames()).toEqual(names);
    }
  }, 600_000);
});
