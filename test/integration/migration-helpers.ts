// Helpers for the tests of one migration: a database brought to an earlier version (the
// migrations up to N, copied to a scratch folder, as a database at that version has them), and
// a migration's statements run the way the runner runs them (its crash-repair guards included).
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '../../lib/clickhouse/client.js';
import { migrate, portableStatement } from '../../lib/clickhouse/migrations.js';
import { projectRoot } from '../../infra/paths.js';

export const SCHEMAS = join(projectRoot, 'schemas', 'clickhouse');

/** Applies the migrations numbered up to `last`; returns the versions applied. */
export async function migrateUpTo(ch: ClickHouseClient, database: string, last: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'vp-migrations-'));
  try {
    for (const f of readdirSync(SCHEMAS).filter((f) => Number(f.slice(0, 3)) <= last))
      cpSync(join(SCHEMAS, f), join(dir, f));
    return await migrate(ch, database, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs statements of a migration as the runner does (a guarded one it would skip is skipped). */
export async function runStatements(ch: ClickHouseClient, statements: readonly string[]): Promise<void> {
  for (const st of statements) {
    const q = await portableStatement(ch, st);
    if (q !== null) await ch.command({ query: q });
  }
}
