// Shared wiring for integration tests: real clients from the real configuration, and a
// unique topic prefix and database per test file so runs never see each other's data.
import { randomUUID } from 'node:crypto';
import { createClickHouse, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { loadConfig, type Config } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { RegistryClient } from '../lib/kafka/registry.js';
import type { Kafka } from 'kafkajs';

export interface RealServices {
  config: Config;
  kafka: Kafka;
  registry: RegistryClient;
  clickhouse: ClickHouseClient;
  prefix: string;
  database: string;
}

export function realServices(name: string): RealServices {
  const id = randomUUID().slice(0, 8);
  const config = loadConfig();
  return {
    config,
    kafka: createKafka(config.kafka),
    registry: new RegistryClient(config.registry.url),
    clickhouse: createClickHouse(config.clickhouse, 'default'),
    prefix: `it-${name}-${id}.`,
    database: `it_${name.replace(/[^a-z0-9]/gi, '_')}_${id}`,
  };
}
