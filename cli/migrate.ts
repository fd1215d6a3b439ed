// `viewpulse migrate`: Kafka topics, schema subjects (gate + BACKWARD_TRANSITIVE) and
// ClickHouse tables. Safe to run any number of times.
import type { Command } from 'commander';
import { migrateConfigured } from '../lib/clickhouse/migrations-cluster.js';
import { loadConfig } from '../lib/config.js';
import { publishSchemas } from '../lib/kafka/publish-schemas.js';
import { createKafka } from '../lib/kafka/client.js';
import { RegistryClient } from '../lib/kafka/registry.js';
import { ensureTopics } from '../lib/kafka/topics-admin.js';
import { projectRoot } from '../infra/paths.js';
import { join } from 'node:path';

export const MIGRATIONS_DIR = join(projectRoot, 'schemas', 'clickhouse');

export async function migrateAll(log: (line: string) => void): Promise<void> {
  const config = loadConfig();
  const created = await ensureTopics(
    createKafka(config.kafka),
    config.kafka.topicPrefix,
    config.kafka.playEventPartitions,
  );
  log(created.length ? `kafka: created ${created.join(', ')}` : 'kafka: topics up to date');
  const ids = await publishSchemas(new RegistryClient(config.registry.url), config.kafka.topicPrefix);
  log(
    `registry: ${Object.entries(ids)
      .map(([s, id]) => `${s} → id ${id}`)
      .join(', ')} (BACKWARD_TRANSITIVE)`,
  );
  // with VIEWPULSE_CLICKHOUSE_CLUSTER: replicated tables, created on every replica
  const applied = await migrateConfigured(config.clickhouse, config.clickhouse.database, MIGRATIONS_DIR, (l) =>
    log(`clickhouse: ${l}`),
  );
  log(applied.length ? `clickhouse: applied ${applied.join(', ')}` : 'clickhouse: schema up to date');
}

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description(
      'create Kafka topics, publish Avro schemas (gated, BACKWARD_TRANSITIVE) and apply ClickHouse migrations (on every replica, replicated, with VIEWPULSE_CLICKHOUSE_CLUSTER); idempotent',
    )
    .action(async () => {
      try {
        await migrateAll((line) => console.log(line));
      } catch (err) {
        console.error(`viewpulse migrate: ${(err as Error).message}`);
        process.exitCode = 1;
      }
    });
}
