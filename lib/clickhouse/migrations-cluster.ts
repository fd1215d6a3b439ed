// Migrations on a ClickHouse cluster (VIEWPULSE_CLICKHOUSE_CLUSTER): one shard, every replica
// reached through its own URL (VIEWPULSE_CLICKHOUSE_URLS). The files in schemas/clickhouse/ are
// written for one server and stay as they are (their checksums are of the text as written);
// at apply time every *MergeTree engine becomes its Replicated twin, on a ZooKeeper path per
// database and table:
//
//   ENGINE = ReplacingMergeTree(version)
//   → ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/<db>/<table>', '{replica}', version)
//
// Null tables, views and materialized views `TO` a table are left alone: a Null table stores
// nothing, and an insert into it runs the views on the server that took it, whose Replicated
// target then replicates the result. No Distributed tables: with one shard every replica holds
// every row, and a read goes to one replica (lib/clickhouse/failover.ts) — see docs/sql.md.
//
// Why DDL on each replica, not `ON CLUSTER`: ON CLUSTER needs the distributed DDL queue and waits
// for every host (a replica down blocks the whole migration for distributed_ddl_task_timeout),
// and the migrations table would say nothing per replica. Here each replica keeps its own
// schema_migrations (a plain MergeTree), so a run repairs whichever replica missed a step, and
// the migrations go in version order across replicas — migration m on every replica before
// m + 1 on any — because a replica can only join a replicated table whose columns equal those
// in ZooKeeper: creating it after another replica's ALTER would fail.
import type { Config } from '../config.js';
import { ViewpulseError } from '../errors.js';
import { createClickHouse, createReplicaClients, queryRows, type ClickHouseClient } from './client.js';
import {
  appliedMigrations,
  applyMigration,
  checkUnchanged,
  loadMigrations,
  migrate,
  migrationLabel,
  prepareDatabase,
} from './migrations.js';
import { sql, v } from './sql.js';

const IDENT = '[A-Za-z_][A-Za-z0-9_]*';
const TARGET = new RegExp(
  `^CREATE\\s+(?:TABLE|MATERIALIZED\\s+VIEW)\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?(${IDENT})\\.(${IDENT})`,
  'i',
);
const ENGINE = /\bENGINE\s*=\s*(Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing|Graphite)?MergeTree\b/g;

/** The engine's arguments `( ... )` at the start of `text` (balanced, quotes respected): [inner, length], or null. */
function engineArguments(text: string): [string, number] | null {
  const open = /^\s*\(/.exec(text);
  if (!open) return null;
  let depth = 0;
  let quote = '';
  for (let i = open[0].length - 1; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
    } else if (c === "'" || c === '`' || c === '"') quote = c;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return [text.slice(open[0].length, i), i + 1];
  }
  return null;
}

/**
 * A column's COMMENT '...'. ClickHouse 18.16 loses comments in a replicated table's columns in
 * ZooKeeper, then finds the table "too different" from its own definition and refuses to
 * create it (Code 122; an ALTER ADD COLUMN ... COMMENT succeeds without the comment). So on
 * 18.x replicas the comments go; newer servers keep them.
 */
const COLUMN_COMMENT = /\s+COMMENT\s+'(?:[^'\\]|\\.|'')*'/g;
const ADD_COLUMN = /^\s*ALTER\s+TABLE\b[\s\S]*\bADD\s+COLUMN\b/i;

/** False for servers that cannot keep column comments on replicated tables (18.x and older). */
export const keepsReplicatedComments = (version: string): boolean => Number(/^(\d+)\./.exec(version)?.[1] ?? 0) >= 19;

/** The ZooKeeper path of a replicated table: one per shard, database and table. */
export const zookeeperPath = (database: string, table: string): string =>
  `/clickhouse/tables/{shard}/${database}/${table}`;

/**
 * `statement` with its MergeTree-family engine made Replicated (see above); any other statement
 * unchanged. Throws on what it cannot rewrite safely: two engines in one statement, unbalanced
 * engine arguments, an engine on a table named without its database.
 */
export function replicatedStatement(statement: string, options: { keepComments?: boolean } = {}): string {
  if (options.keepComments === false && (ADD_COLUMN.test(statement) || statement.match(ENGINE)))
    statement = statement.replace(COLUMN_COMMENT, '');
  const engines = [...statement.matchAll(ENGINE)];
  if (engines.length === 0) return statement;
  const target = TARGET.exec(statement);
  const fail = (why: string): never => {
    throw new ViewpulseError(
      'VP_ERR_MIGRATION',
      `cannot make this statement replicated (${why}): ${statement.slice(0, 200)}`,
    );
  };
  if (!target) return fail('a MergeTree engine, but not in CREATE TABLE db.name or CREATE MATERIALIZED VIEW db.name');
  if (engines.length > 1) return fail('more than one engine');
  const m = engines[0]!;
  let rest = statement.slice(m.index + m[0].length);
  let args = '';
  if (/^\s*\(/.test(rest)) {
    const found = engineArguments(rest);
    if (!found) return fail('unbalanced engine arguments');
    args = found[0].trim();
    rest = rest.slice(found[1]);
  }
  const [, database, table] = target;
  const replicated =
    `ENGINE = Replicated${m[1] ?? ''}MergeTree(` +
    `${v.string(zookeeperPath(database!, table!)).text}, ${v.string('{replica}').text}${args ? `, ${args}` : ''})`;
  return statement.slice(0, m.index) + replicated + rest;
}

/** ALTERs wait until every replica applied them (18.16 does anyway; newer servers only with this). */
const alterSettings = (statement: string) =>
  /^\s*ALTER\b/i.test(statement) ? { replication_alter_partitions_sync: '2' } : {};

/** Checks that a replica knows the cluster (one shard) and has the macros the paths use. */
async function checkReplica(ch: ClickHouseClient, url: string, cluster: string, replicas: number): Promise<void> {
  const shards = await queryRows<{ shard_num: number | string; n: number | string }>(
    ch,
    sql`SELECT shard_num, count() AS n FROM system.clusters WHERE cluster = ${v.string(cluster)} GROUP BY shard_num`,
  );
  const bad = (why: string): never => {
    throw new ViewpulseError('VP_ERR_MIGRATION', `ClickHouse at ${url}: ${why}`);
  };
  if (shards.length === 0) return bad(`no cluster "${cluster}" in system.clusters (VIEWPULSE_CLICKHOUSE_CLUSTER)`);
  if (shards.length > 1) return bad(`cluster "${cluster}" has ${shards.length} shards; migrations support one shard`);
  const n = Number(shards[0]!.n);
  if (n > replicas)
    bad(`cluster "${cluster}" has ${n} replicas but VIEWPULSE_CLICKHOUSE_URLS names ${replicas}: name every replica`);
  const macros = await queryRows<{ macro: string }>(ch, sql`SELECT macro FROM system.macros`);
  for (const want of ['shard', 'replica'])
    if (!macros.some((x) => x.macro === want)) bad(`no {${want}} macro in the server's <macros>`);
}

/**
 * Applies what is missing on every replica, migration by migration; returns the versions any
 * replica applied now. Safe to run twice; a run after a crash finishes the replicas that missed a step.
 */
export async function migrateReplicas(
  replicas: readonly { url: string; client: ClickHouseClient }[],
  cluster: string,
  database: string,
  dir: string,
  log: (line: string) => void = () => {},
): Promise<number[]> {
  for (const r of replicas) {
    await checkReplica(r.client, r.url, cluster, replicas.length);
    await prepareDatabase(r.client, database);
  }
  const versions = await Promise.all(
    replicas.map(async (r) => (await queryRows<{ v: string }>(r.client, sql`SELECT version() AS v`))[0]?.v ?? ''),
  );
  const applied = await Promise.all(
    replicas.map(async (r) => new Map((await appliedMigrations(r.client, database)).map((a) => [a.version, a]))),
  );
  const done = new Set<number>();
  for (const m of loadMigrations(dir, database)) {
    for (const [i, r] of replicas.entries()) {
      const before = applied[i]!.get(m.version);
      if (before) {
        checkUnchanged(m, before);
        continue;
      }
      log(`applying ${migrationLabel(m)} on ${r.url} (${m.statements.length} statements, replicated)`);
      const keepComments = keepsReplicatedComments(versions[i]!);
      await applyMigration(r.client, database, m, {
        rewrite: (statement) => replicatedStatement(statement, { keepComments }),
        settings: alterSettings,
      });
      done.add(m.version);
    }
  }
  return [...done];
}

/** The configured way: each replica of VIEWPULSE_CLICKHOUSE_CLUSTER, or the one server. */
export async function migrateConfigured(
  config: Config['clickhouse'],
  database: string,
  dir: string,
  log: (line: string) => void = () => {},
): Promise<number[]> {
  if (!config.cluster) {
    const ch = createClickHouse(config, 'default');
    try {
      return await migrate(ch, database, dir, log);
    } finally {
      await ch.close();
    }
  }
  const clients = createReplicaClients(config, 'default');
  try {
    return await migrateReplicas(
      clients.map((client, i) => ({ url: config.urls[i]!, client })),
      config.cluster,
      database,
      dir,
      log,
    );
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}
