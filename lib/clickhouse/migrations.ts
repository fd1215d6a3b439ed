// Versioned ClickHouse migrations: schemas/clickhouse/NNN_name.sql, applied in order and
// recorded in the `schema_migrations` table. Every statement is written to be safe to run
// again (IF NOT EXISTS), so a crash halfway through a file is repaired by the next run.
// `{{db}}` in a file is the configured database (a validated identifier).
// `ALTER TABLE db.t ADD COLUMN IF NOT EXISTS c ...` (one column per statement): ClickHouse
// 18.16 does not know the clause, so on every server the runner looks the column up in
// system.columns itself, skips the statement when it exists and otherwise runs it without
// the clause.
// Two more statements are given the meaning their text says, on every server, so that a table
// can be rebuilt (new settings) by name swaps that a crashed run repeats safely (015):
//  - `CREATE TABLE IF NOT EXISTS db.t AS db.other ...` is skipped when db.t exists (18.16 would
//    first look for db.other, which an earlier run may have renamed away);
//  - `RENAME TABLE db.a TO db.b` (one pair) is skipped when db.b exists: the rename was done.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ViewpulseError } from '../errors.js';
import { TABLES } from '../../schemas/tables.js';
import type { ClickHouseSettings } from '@clickhouse/client';
import { exec, queryRows, type ClickHouseClient } from './client.js';
import { sql, v } from './sql.js';

export interface Migration {
  version: number;
  name: string;
  checksum: string;
  statements: string[];
}

const FILE = /^(\d{3})_([a-z0-9_]+)\.sql$/;

/** Splits a file into statements at `;` that ends a line; comment-only chunks are dropped. */
export function splitStatements(text: string): string[] {
  return text
    .split(/;[ \t]*(?:\r?\n|$)/)
    .map((chunk) =>
      chunk
        .split('\n')
        .filter((line) => !/^\s*--/.test(line))
        .join('\n')
        .trim(),
    )
    .filter((s) => s.length > 0);
}

export function loadMigrations(dir: string, database: string): Migration[] {
  v.ident(database); // validates
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((file) => {
      const m = FILE.exec(file);
      if (!m) throw new ViewpulseError('VP_ERR_MIGRATION', `bad migration file name ${file} (want NNN_name.sql)`);
      const text = readFileSync(join(dir, file), 'utf8');
      return {
        version: Number(m[1]),
        name: m[2]!,
        checksum: createHash('sha256').update(text).digest('hex').slice(0, 16),
        statements: splitStatements(text.replaceAll('{{db}}', database)),
      };
    });
}

const ADD_COLUMN =
  /^(ALTER\s+TABLE\s+([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s+ADD\s+COLUMN\s+)IF\s+NOT\s+EXISTS\s+([A-Za-z_][A-Za-z0-9_]*)\s/i;

const CREATE_AS = /^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s+AS\s/i;
const RENAME =
  /^RENAME\s+TABLE\s+[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*\s+TO\s+([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*$/i;

async function tableExists(ch: ClickHouseClient, database: string, table: string): Promise<boolean> {
  const found = await queryRows<{ n: string | number }>(
    ch,
    sql`SELECT count() AS n FROM system.tables WHERE database = ${v.string(database)} AND name = ${v.string(table)}`,
  );
  return Number(found[0]?.n ?? 0) > 0;
}

/**
 * The statement to run for `statement`, or null to skip it: an `ADD COLUMN IF NOT EXISTS`
 * becomes a plain ADD COLUMN when the column is missing and nothing when it exists; a
 * `CREATE TABLE IF NOT EXISTS .. AS ..` whose table exists and a `RENAME TABLE a TO b` whose
 * b exists are skipped.
 */
export async function portableStatement(ch: ClickHouseClient, statement: string): Promise<string | null> {
  const target = CREATE_AS.exec(statement) ?? RENAME.exec(statement);
  if (target) return (await tableExists(ch, target[1]!, target[2]!)) ? null : statement;
  const m = ADD_COLUMN.exec(statement);
  if (!m) return statement;
  const [, head, database, table, column] = m;
  const found = await queryRows<{ n: string | number }>(
    ch,
    sql`SELECT count() AS n FROM system.columns
        WHERE database = ${v.string(database!)} AND table = ${v.string(table!)} AND name = ${v.string(column!)}`,
  );
  if (Number(found[0]?.n ?? 0) > 0) return null;
  return head! + statement.slice(head!.length).replace(/^IF\s+NOT\s+EXISTS\s+/i, '');
}

export interface Applied {
  version: number;
  name: string;
  checksum: string;
}

export async function appliedMigrations(ch: ClickHouseClient, database: string): Promise<Applied[]> {
  const rows = await queryRows<Applied>(
    ch,
    sql`SELECT version, any(name) AS name, any(checksum) AS checksum
        FROM ${v.table(database, TABLES.migrations)} GROUP BY version ORDER BY version`,
  );
  return rows.map((r) => ({ ...r, version: Number(r.version) }));
}

/** The database and its schema_migrations table (a plain MergeTree on every server: each records its own). */
export async function prepareDatabase(ch: ClickHouseClient, database: string): Promise<void> {
  await exec(ch, sql`CREATE DATABASE IF NOT EXISTS ${v.ident(database)}`);
  await exec(
    ch,
    sql`CREATE TABLE IF NOT EXISTS ${v.table(database, TABLES.migrations)} (
          version UInt32, name String, checksum String, applied_at DateTime DEFAULT now()
        ) ENGINE = MergeTree ORDER BY version`,
  );
}

/** Throws when a migration applied before has another checksum now. */
export function checkUnchanged(m: Migration, before: Applied): void {
  if (before.checksum !== m.checksum) {
    throw new ViewpulseError(
      'VP_ERR_MIGRATION',
      `migration ${m.version}_${m.name} changed after it was applied (checksum ${before.checksum} → ${m.checksum}); add a new migration instead`,
    );
  }
}

export interface ApplyOptions {
  /** Rewrites each statement before it runs (a cluster's replicated engines); the checksum is of the file as written. */
  rewrite?: (statement: string) => string;
  /** Settings for the statements of this migration (a cluster's ALTERs wait for every replica). */
  settings?: (statement: string) => ClickHouseSettings;
}

/** Runs the statements of one migration and records it as applied. */
export async function applyMigration(
  ch: ClickHouseClient,
  database: string,
  m: Migration,
  options: ApplyOptions = {},
): Promise<void> {
  for (const [i, statement] of m.statements.entries()) {
    try {
      const run = await portableStatement(ch, options.rewrite ? options.rewrite(statement) : statement);
      if (run !== null) await ch.command({ query: run, clickhouse_settings: options.settings?.(run) ?? {} });
    } catch (err) {
      throw new ViewpulseError(
        'VP_ERR_MIGRATION',
        `${m.version}_${m.name} statement ${i + 1}: ${(err as Error).message}`,
        {},
        { cause: err },
      );
    }
  }
  await ch.insert({
    table: `${database}.${TABLES.migrations}`,
    format: 'JSONEachRow',
    values: [{ version: m.version, name: m.name, checksum: m.checksum }],
  });
}

export const migrationLabel = (m: Migration): string => `${String(m.version).padStart(3, '0')}_${m.name}`;

/** Applies what is missing on one server; returns the versions applied now. Safe to run twice. */
export async function migrate(
  ch: ClickHouseClient,
  database: string,
  dir: string,
  log: (line: string) => void = () => {},
): Promise<number[]> {
  await prepareDatabase(ch, database);
  const applied = new Map((await appliedMigrations(ch, database)).map((a) => [a.version, a]));
  const done: number[] = [];
  for (const m of loadMigrations(dir, database)) {
    const before = applied.get(m.version);
    if (before) {
      checkUnchanged(m, before);
      continue;
    }
    log(`applying ${migrationLabel(m)} (${m.statements.length} statements)`);
    await applyMigration(ch, database, m);
    done.push(m.version);
  }
  return done;
}
