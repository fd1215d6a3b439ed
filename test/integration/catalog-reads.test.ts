// How the API reads the catalog. Migration 018 orders the catalog's (creator, video) pairs by
// creator, so a creator's videos are read from the creator's own rows. Specified against the catalog's meaning (schemas
// 002_videos.sql: the newest record of a video wins, a tombstone deletes it): a creator's
// videos are exactly the videos whose newest record names the creator and is not a tombstone —
// through moves between creators (and back), deletions, re-uploads, replayed records and
// records loaded before the migration ran. And the access checks' lookups (VideoLookups) answer
// what `videos` holds, at most their TTL late.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, queryRows } from '../../lib/clickhouse/client.js';
import { loadMigrations } from '../../lib/clickhouse/migrations.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { realServices } from '../../harness/services.js';
import { creatorExists, creatorVideoIds, VideoLookups } from '../../api/queries/video-catalog.js';
import { migrateUpTo, runStatements, SCHEMAS } from './migration-helpers.js';

const s = realServices('bycreator');
const db = { clickhouse: s.clickhouse, database: s.database };

/** A catalog record as the catalog processor writes it (version = its offset). */
interface Put {
  video: string;
  creator: string | null; // null: a tombstone
  offset: number;
}
const written: Put[] = [];

async function load(puts: Put[]): Promise<void> {
  written.push(...puts);
  await s.clickhouse.insert({
    table: `${s.database}.videos`,
    format: 'JSONEachRow',
    values: puts.map((p) => ({
      video_id: p.video,
      creator_id: p.creator ?? '',
      title: `t-${p.video}`,
      duration_ms: p.creator === null ? 0 : 60_000,
      published_at: p.creator === null ? 0 : 1_700_000_000,
      category: '',
      deleted: p.creator === null ? 1 : 0,
      version: p.offset,
    })),
  });
}

/** The truth from the records alone: per creator, the videos whose newest record names it. */
function owners(): Map<string, string[]> {
  const newest = new Map<string, Put>();
  for (const p of written) if ((newest.get(p.video)?.offset ?? -1) < p.offset) newest.set(p.video, p);
  const out = new Map<string, string[]>();
  for (const p of newest.values())
    if (p.creator !== null) out.set(p.creator, [...(out.get(p.creator) ?? []), p.video].sort());
  return out;
}

async function videosOf(creator: string): Promise<string[]> {
  const r = await queryRows<{ video_id: string }>(
    s.clickhouse,
    sql`SELECT video_id FROM ${v.table(s.database, 'videos')} WHERE video_id IN ${creatorVideoIds(db, creator)} ORDER BY video_id`,
  );
  return [...new Set(r.map((x) => x.video_id))];
}

const CREATORS = ['ca', 'cb', 'cc', 'cd'];

async function expectTruth(label: string): Promise<void> {
  const truth = owners();
  for (const c of CREATORS) {
    expect(await videosOf(c), `${label}: videos of ${c}`).toEqual(truth.get(c) ?? []);
    expect(await creatorExists(db, c), `${label}: ${c} exists`).toBe((truth.get(c) ?? []).length > 0);
  }
}

afterAll(async () => {
  await exec(s.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(s.database)}`);
  await s.clickhouse.close();
});

describe('migration 018: a creator’s videos from videos_by_creator', () => {
  beforeAll(async () => {
    await migrateUpTo(s.clickhouse, s.database, 17);
    // loaded before the migration: the copy must bring them along
    await load([
      { video: 'a1', creator: 'ca', offset: 1 },
      { video: 'a2', creator: 'ca', offset: 2 },
      { video: 'b1', creator: 'cb', offset: 3 },
      { video: 'c1', creator: 'cc', offset: 4 },
      { video: 'c1', creator: null, offset: 5 }, // deleted before the migration
    ]);
    expect(await migrateUpTo(s.clickhouse, s.database, 18)).toEqual([18]);
  }, 120_000);
  it('lists what was loaded before the migration (a deleted video left out)', async () => {
    await expectTruth('before');
    expect(await videosOf('ca')).toEqual(['a1', 'a2']);
    expect(await creatorExists(db, 'cc')).toBe(false);
  });

  it('follows moves between creators, deletions, re-uploads and replayed records', async () => {
    await load([
      { video: 'a2', creator: 'cb', offset: 10 }, // a2 moves to cb
      { video: 'b1', creator: null, offset: 11 }, // b1 deleted
      { video: 'a3', creator: 'ca', offset: 12 },
      { video: 'c1', creator: 'cd', offset: 13 }, // c1 uploaded again, by another creator
      { video: 'a1', creator: 'ca', offset: 1 }, // a replay writes a record again
    ]);
    await expectTruth('moved');
    expect(await videosOf('cb')).toEqual(['a2']);
    await load([
      { video: 'a2', creator: 'ca', offset: 20 }, // and back
      { video: 'c1', creator: null, offset: 21 },
    ]);
    await expectTruth('moved back');
    expect(await videosOf('ca')).toEqual(['a1', 'a2', 'a3']);
    expect(await creatorExists(db, 'cb')).toBe(false);
    // merged parts give the same answer
    await exec(s.clickhouse, sql`OPTIMIZE TABLE ${v.table(s.database, 'videos_by_creator')} FINAL`);
    await exec(s.clickhouse, sql`OPTIMIZE TABLE ${v.table(s.database, 'videos')} FINAL`);
    await expectTruth('merged');
  });

  it('ends in the same place when a run that stopped after any statement is run again', async () => {
    const m = loadMigrations(SCHEMAS, s.database).find((x) => x.version === 18)!;
    for (let stop = 0; stop < m.statements.length; stop++) {
      await runStatements(s.clickhouse, m.statements.slice(0, stop + 1));
      await runStatements(s.clickhouse, m.statements);
      await expectTruth(`stopped after statement ${stop + 1}`);
    }
    // a record loaded now still reaches the table through the view
    await load([{ video: 'd9', creator: 'cd', offset: 30 }]);
    await expectTruth('after the re-runs');
    expect(await videosOf('cd')).toEqual(['d9']);
  }, 120_000);
});

describe('VideoLookups: the access checks\u2019 catalog lookups', () => {
  it('answers what videos holds, at most ttlMs late, and shares one lookup between requests', async () => {
    let now = 0;
    const lookups = new VideoLookups(db, 2_000, 3, () => now);
    expect(await lookups.find('a2')).toMatchObject({ video_id: 'a2', creator_id: 'ca' });
    expect(await lookups.find('zz')).toBeUndefined();
    // the same promise while it is fresh: one query for every request in between
    expect(lookups.find('a2')).toBe(lookups.find('a2'));
    await load([
      { video: 'a2', creator: 'cb', offset: 40 },
      { video: 'zz', creator: 'cb', offset: 41 },
    ]);
    now = 1_999;
    expect(await lookups.find('a2')).toMatchObject({ creator_id: 'ca' }); // within the TTL
    now = 2_000;
    expect(await lookups.find('a2')).toMatchObject({ creator_id: 'cb' });
    expect(await lookups.find('zz')).toMatchObject({ creator_id: 'cb' });
    await load([{ video: 'a2', creator: null, offset: 42 }]);
    now = 4_000;
    expect(await lookups.find('a2')).toBeUndefined(); // deleted
    // bounded (3 here): the oldest lookup goes first
    now = 10_000;
    const a1 = lookups.find('a1');
    expect(lookups.find('a1')).toBe(a1);
    for (const id of ['c1', 'd9', 'zz']) await lookups.find(id);
    expect(lookups.find('zz')).toBe(lookups.find('zz'));
    expect(lookups.find('a1')).not.toBe(a1);
    const fresh = new VideoLookups(db, 0);
    expect(await fresh.find('a1')).toMatchObject({ creator_id: 'ca' }); // 0: every request looks up
    expect(fresh.find('a1')).not.toBe(fresh.find('a1'));
  });

  it('does not remember a failed lookup', async () => {
    let fail = true;
    const flaky = {
      database: s.database,
      clickhouse: new Proxy(s.clickhouse, {
        get: (target, prop, receiver) =>
          prop === 'query' && fail
            ? () => Promise.reject(new Error('ClickHouse is away'))
            : Reflect.get(target, prop, receiver),
      }),
    };
    const lookups = new VideoLookups(flaky, 60_000);
    await expect(lookups.find('a1')).rejects.toThrow('ClickHouse is away');
    fail = false;
    expect(await lookups.find('a1')).toMatchObject({ creator_id: 'ca' });
  });
});
