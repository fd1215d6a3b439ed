// Every query in docs/sql.md runs on the real ClickHouse against the real schema.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec } from '../../lib/clickhouse/client.js';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { projectRoot } from '../../infra/paths.js';
import { realServices } from '../../harness/services.js';

const s = realServices('sqldocs');
const doc = readFileSync(join(projectRoot, 'docs', 'sql.md'), 'utf8');
const queries = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());

describe('docs/sql.md', () => {
  beforeAll(() => migrate(s.clickhouse, s.database, join(projectRoot, 'schemas', 'clickhouse')));
  afterAll(async () => {
    await exec(s.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(s.database)}`);
    await s.clickhouse.close();
  });

  it('has example queries', () => {
    expect(queries.length).toBeGreaterThanOrEqual(12);
  });

  it.each(queries.map((q, i) => [i + 1, q.split('\n')[0], q] as const))('query %i runs: %s', async (_i, _first, q) => {
    // Documentation queries are fixed text written by us; the database name is a checked identifier.
    const rs = await s.clickhouse.query({
      query: q.replaceAll('{{db}}', v.ident(s.database).text),
      format: 'JSONEachRow',
    });
    expect(Array.isArray(await rs.json())).toBe(true);
  });
});
