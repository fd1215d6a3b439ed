// Wiring for pipeline tests: an isolated topic prefix and ClickHouse database per test file,
// migrated and with schemas published, plus helpers to wait for processors to catch up.
import { join } from 'node:path';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { exec, queryRows, type ClickHouseClient } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { ClickHouseWriter } from '../../lib/clickhouse/writer.js';
import type { Config } from '../../lib/config.js';
import { publishSchemas } from '../../lib/governance.js';
import { ensureTopics } from '../../lib/kafka/topics-admin.js';
import { projectRoot } from '../../infra/paths.js';
import { TABLES } from '../../schemas/tables.js';
import { topics } from '../../schemas/topics.js';
import { realServices, type RealServices } from './helpers.js';

export interface Pipeline extends RealServices {
  /** the configuration a processor or collector of this test uses */
  testConfig: Config;
  topics: ReturnType<typeof topics>;
  cleanup(): Promise<void>;
}

export async function pipeline(name: string, partitions = 4): Promise<Pipeline> {
  const s = realServices(name);
  const testConfig: Config = {
    ...s.config,
    kafka: { ...s.config.kafka, topicPrefix: s.prefix, playEventPartitions: partitions },
    clickhouse: { ...s.config.clickhouse, database: s.database },
  };
  await ensureTopics(s.kafka, s.prefix, partitions);
  await publishSchemas(s.registry, s.prefix);
  await migrate(s.clickhouse, s.database, join(projectRoot, 'schemas', 'clickhouse'));
  const t = topics(s.prefix);
  return {
    ...s,
    testConfig,
    topics: t,
    async cleanup() {
      await exec(s.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(s.database)}`);
      const admin = s.kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: Object.values(t) }).catch(() => undefined);
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(s.prefix));
      if (groups.length) await admin.deleteGroups(groups).catch(() => undefined);
      await admin.disconnect();
      await s.clickhouse.close();
    },
  };
}

/** Writes catalog rows straight into the videos table (what the catalog processor does). */
export async function seedCatalog(
  ch: ClickHouseClient,
  database: string,
  videos: { video_id: string; creator_id: string; duration_ms: number }[],
): Promise<void> {
  await new ClickHouseWriter(ch, database).write({
    table: TABLES.videos,
    times: ['published_at'],
    rows: videos.map((x) => ({ ...x, title: x.video_id, published_at: 0, category: 'test', deleted: 0, version: 1 })),
  });
}

export { endOffsets, waitForCommitted } from '../../lib/kafka/topics-admin.js';

export interface CountCell {
  plays: number;
  views: number;
  watchMs: number;
}

/** video → minute → counts, as an analyst reads them (FINAL, summed over partitions). */
export async function readMinuteCounts(
  ch: ClickHouseClient,
  database: string,
): Promise<Map<string, Map<number, CountCell>>> {
  const rows = await queryRows<{ id: string; w: number; plays: string; views: string; watch: string }>(
    ch,
    sql`SELECT id, toUInt32(window_start) AS w, sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch
        FROM ${v.table(database, TABLES.counts)} FINAL
        WHERE dim = 'video' AND grain = 'minute'
        GROUP BY id, w HAVING plays != 0 OR views != 0 OR watch != 0`,
  );
  const out = new Map<string, Map<number, CountCell>>();
  for (const r of rows) {
    const m = out.get(r.id) ?? new Map<number, CountCell>();
    m.set(Number(r.w) * 1000, { plays: Number(r.plays), views: Number(r.views), watchMs: Number(r.watch) });
    out.set(r.id, m);
  }
  return out;
}
