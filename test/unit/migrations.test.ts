import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMigrations, splitStatements } from '../../lib/clickhouse/migrations.js';

describe('migration files', () => {
  it('split into statements at line-ending semicolons, dropping comments', () => {
    const text =
      "-- header\nCREATE TABLE a (x String DEFAULT ';') ENGINE = Log;\n\n-- next\nCREATE VIEW b AS SELECT 1;\n";
    expect(splitStatements(text)).toEqual([
      "CREATE TABLE a (x String DEFAULT ';') ENGINE = Log",
      'CREATE VIEW b AS SELECT 1',
    ]);
  });

  it('load in version order with the database filled in and a checksum', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vp-mig-'));
    writeFileSync(join(dir, '002_second.sql'), 'CREATE TABLE {{db}}.b (x UInt8) ENGINE = Log;\n');
    writeFileSync(join(dir, '001_first.sql'), 'CREATE TABLE {{db}}.a (x UInt8) ENGINE = Log;\n');
    const ms = loadMigrations(dir, 'vp_test');
    expect(ms.map((m) => [m.version, m.name])).toEqual([
      [1, 'first'],
      [2, 'second'],
    ]);
    expect(ms[0]!.statements).toEqual(['CREATE TABLE vp_test.a (x UInt8) ENGINE = Log']);
    expect(ms[0]!.checksum).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuse a database name that is not a plain identifier', () => {
    expect(() => loadMigrations(tmpdir(), 'x; DROP')).toThrow();
  });
});
