// The cluster rewrite of migration statements (no server): which engines become Replicated,
// with what ZooKeeper path and arguments, what stays as it is, and what is refused.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../infra/paths.js';
import {
  keepsReplicatedComments,
  replicatedStatement,
  zookeeperPath,
} from '../../lib/clickhouse/migrations-cluster.js';
import { loadMigrations } from '../../lib/clickhouse/migrations.js';

const DIR = join(projectRoot, 'schemas', 'clickhouse');

describe('replicatedStatement', () => {
  it.each([
    [
      'a plain MergeTree',
      'CREATE TABLE db.t (x UInt8) ENGINE = MergeTree ORDER BY x',
      "CREATE TABLE db.t (x UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/t', '{replica}') ORDER BY x",
    ],
    [
      'ReplacingMergeTree without a version, before a new line',
      'CREATE TABLE IF NOT EXISTS db.play_events (x UInt8) ENGINE = ReplacingMergeTree\nPARTITION BY x\nORDER BY x',
      "CREATE TABLE IF NOT EXISTS db.play_events (x UInt8) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/play_events', '{replica}')\nPARTITION BY x\nORDER BY x",
    ],
    [
      'ReplacingMergeTree(version): the version stays the last argument',
      'CREATE TABLE IF NOT EXISTS db.videos (v UInt64) ENGINE = ReplacingMergeTree(version)\nORDER BY video_id',
      "CREATE TABLE IF NOT EXISTS db.videos (v UInt64) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/videos', '{replica}', version)\nORDER BY video_id",
    ],
    [
      'SummingMergeTree with a tuple of columns',
      'CREATE TABLE db.s (k String, a Int64, b Int64) ENGINE=SummingMergeTree((a, b)) ORDER BY k',
      "CREATE TABLE db.s (k String, a Int64, b Int64) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/db/s', '{replica}', (a, b)) ORDER BY k",
    ],
    [
      'AggregatingMergeTree',
      'CREATE TABLE IF NOT EXISTS db.agg (d Date) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(d) ORDER BY d',
      "CREATE TABLE IF NOT EXISTS db.agg (d Date) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/db/agg', '{replica}') PARTITION BY toYYYYMM(d) ORDER BY d",
    ],
    [
      'CollapsingMergeTree(sign)',
      'CREATE TABLE db.c (s Int8) ENGINE = CollapsingMergeTree(s) ORDER BY s',
      "CREATE TABLE db.c (s Int8) ENGINE = ReplicatedCollapsingMergeTree('/clickhouse/tables/{shard}/db/c', '{replica}', s) ORDER BY s",
    ],
    [
      'a materialized view with its own engine',
      'CREATE MATERIALIZED VIEW IF NOT EXISTS db.mv ENGINE = AggregatingMergeTree ORDER BY k AS SELECT k FROM db.src',
      "CREATE MATERIALIZED VIEW IF NOT EXISTS db.mv ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/db/mv', '{replica}') ORDER BY k AS SELECT k FROM db.src",
    ],
  ])('%s', (_what, statement, want) => {
    expect(replicatedStatement(statement)).toBe(want);
  });

  it.each([
    ['a Null table', 'CREATE TABLE IF NOT EXISTS db.obs (x String) ENGINE = Null'],
    ['a materialized view TO a table', 'CREATE MATERIALIZED VIEW IF NOT EXISTS db.mv TO db.t AS SELECT x FROM db.obs'],
    ['a view', 'CREATE VIEW IF NOT EXISTS db.v AS SELECT * FROM db.t FINAL'],
    ['an ALTER', "ALTER TABLE db.sessions ADD COLUMN IF NOT EXISTS c UInt8 DEFAULT 0 COMMENT 'MergeTree'"],
    [
      'an engine that is replicated already',
      "CREATE TABLE db.t (x UInt8) ENGINE = ReplicatedMergeTree('/p', '{replica}') ORDER BY x",
    ],
    ['a Log table', 'CREATE TABLE db.l (x UInt8) ENGINE = Log'],
  ])('leaves %s as it is', (_what, statement) => {
    expect(replicatedStatement(statement)).toBe(statement);
  });

  it.each([
    ['a table without its database', 'CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x'],
    ['unbalanced engine arguments', 'CREATE TABLE db.s (a Int64) ENGINE = SummingMergeTree((a, b) ORDER BY a'],
    ['two engines', 'CREATE TABLE db.s (a Int64) ENGINE = MergeTree ORDER BY a ENGINE = MergeTree'],
  ])('refuses %s', (_what, statement) => {
    expect(() => replicatedStatement(statement)).toThrow(/cannot make this statement replicated/);
  });

  it('drops column comments where the server cannot keep them (18.x), and only there', () => {
    const create =
      "CREATE TABLE db.t (x String COMMENT 'a, b: it\\'s', y UInt8 COMMENT 'it''s') ENGINE = MergeTree ORDER BY x";
    expect(replicatedStatement(create, { keepComments: false })).toBe(
      "CREATE TABLE db.t (x String, y UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/t', '{replica}') ORDER BY x",
    );
    expect(replicatedStatement(create, { keepComments: true })).toMatch(/x String COMMENT 'a, b: it\\'s'/);
    const alter = "ALTER TABLE db.sessions ADD COLUMN IF NOT EXISTS c UInt8 DEFAULT 0 COMMENT '1 if so' AFTER errors";
    expect(replicatedStatement(alter, { keepComments: false })).toBe(
      'ALTER TABLE db.sessions ADD COLUMN IF NOT EXISTS c UInt8 DEFAULT 0 AFTER errors',
    );
    // a Null table is not replicated: its comments stay on any server
    const obs = "CREATE TABLE db.obs (x String COMMENT 'kept') ENGINE = Null";
    expect(replicatedStatement(obs, { keepComments: false })).toBe(obs);
    expect([keepsReplicatedComments('18.16.1'), keepsReplicatedComments('26.1.2.3')]).toEqual([false, true]);
  });

  it('gives every table of the repository its own path and leaves no MergeTree unreplicated', () => {
    const paths = new Set<string>();
    for (const m of loadMigrations(DIR, 'vp')) {
      for (const s of m.statements) {
        const out = replicatedStatement(s);
        // no engine of the MergeTree family is left that is not Replicated
        expect(out).not.toMatch(/ENGINE\s*=\s*(Replacing|Summing|Aggregating|Collapsing)?MergeTree\b/);
        const path = /ENGINE = Replicated\w*MergeTree\('([^']+)'/.exec(out)?.[1];
        if (!path) continue;
        const table = /^CREATE TABLE IF NOT EXISTS vp\.(\w+)/.exec(out)![1]!;
        expect(path).toBe(zookeeperPath('vp', table));
        expect(paths.has(path)).toBe(false);
        paths.add(path);
      }
    }
    expect(paths.size).toBeGreaterThanOrEqual(15);
  });

  it('leaves the checksums alone: they are of each file as written', () => {
    for (const m of loadMigrations(DIR, 'vp')) {
      const file = readdirSync(DIR).find((f) => f.startsWith(String(m.version).padStart(3, '0')))!;
      const hash = createHash('sha256')
        .update(readFileSync(join(DIR, file), 'utf8'))
        .digest('hex')
        .slice(0, 16);
      expect(m.checksum).toBe(hash);
    }
  });
});
