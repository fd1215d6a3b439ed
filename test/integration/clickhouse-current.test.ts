// The project's SQL on a current ClickHouse: chDB (ClickHouse 26.x embedded, tools/chdb.ts)
// against the real 18.16 server, on the same data — a small dataset generated and run through
// Kafka and every processor. Migrations (twice) and the schema they make, docs/sql.md, and
// every SELECT the insights API sends (captured through a recording proxy) must run on 26.x
// and answer exactly as on 18.16, apart from the documented KNOWN_DIFFERENCES.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureChdb } from '../../tools/chdb.js';
import {
  checkSqlCompat,
  dropDataset,
  formatReport,
  prepareDataset,
  type CompatReport,
} from '../../tools/sql-compat.js';
import type { Config } from '../../lib/config.js';
import { realServices } from '../../harness/services.js';

const s = realServices('chcurrent');
const config: Config = {
  ...s.config,
  logLevel: 'warn',
  kafka: { ...s.config.kafka, topicPrefix: s.prefix, playEventPartitions: 3 },
  clickhouse: { ...s.config.clickhouse, database: s.database },
};
let report: CompatReport;

describe('SQL on ClickHouse 26.x (chDB) answers as on 18.16', () => {
  beforeAll(async () => {
    await ensureChdb((line) => console.log(`[clickhouse-current] ${line}`));
    await prepareDataset(config, { events: 4000, seed: 5 }, () => {});
    report = await checkSqlCompat({ clickhouse: config.clickhouse, jwtSecret: config.api.jwtSecret });
    console.log(formatReport(report));
  }, 600_000);

  afterAll(async () => {
    await dropDataset(config);
    await s.clickhouse.close();
  });

  it('compares a real current version with 18.16, over every group of statements', () => {
    expect(report.oldVersion).toMatch(/^18\.16\./);
    expect(Number(report.currentVersion.split('.')[0])).toBeGreaterThanOrEqual(25);
    const run = Object.fromEntries(report.groups.map((g) => [g.group.replace(/ \(.*/, ''), g.run]));
    expect(run.migrations).toBeGreaterThanOrEqual(30);
    expect(run['docs/sql.md']).toBeGreaterThanOrEqual(12);
    expect(run.API).toBeGreaterThanOrEqual(40);
    expect(run['row counts']).toBeGreaterThanOrEqual(10);
  });

  it('every statement runs on 26.x and on 18.16', () => {
    expect(report.failures.filter((f) => !f.error.startsWith('different results'))).toEqual([]);
  });

  it('every result equals 18.16 (numbers normalised), except documented known differences', () => {
    expect(report.failures).toEqual([]);
    for (const g of report.groups) if (g.equal !== null) expect(g.equal + g.known, g.group).toBe(g.ok);
  });
});
