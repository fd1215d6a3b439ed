// Where each processor stands, for `viewpulse status`: per processor and input partition, the
// committed offset, the topic's end, the lag, the event-time watermark and its freshness (from
// Kafka's group offsets and ClickHouse's processor_watermarks), and — when a `run processors`
// answers on its health port — the live state of the processor.
import type { Kafka } from 'kafkajs';
import { minOf } from '../lib/arrays.js';
import { queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { TABLES } from '../schemas/tables.js';
import { topics } from '../schemas/topics.js';
import type { HealthReport } from './processor-health.js';
import { groupIdOf, PROCESSORS, type ProcessorName } from './registry.js';

export interface PartitionPosition {
  partition: number;
  /** Next offset to read, as committed by the group (0 when it never committed). */
  committed: number;
  /** The topic's end (next offset to be written). */
  end: number;
  lag: number;
  /** Event-time watermark (epoch ms), when the processor writes one. */
  watermark: number | null;
}

export interface ProcessorPosition {
  processor: ProcessorName;
  topic: string;
  group: string;
  /** Live state from a running instance's health endpoint, or null when none answers. */
  state: string | null;
  partitions: PartitionPosition[];
  lag: number;
  /** The lowest watermark over the partitions: how far every result of it reaches. */
  watermark: number | null;
  /** now - watermark, ms. */
  freshnessMs: number | null;
}

export interface StatusDeps {
  kafka: Kafka;
  clickhouse: ClickHouseClient;
  database: string;
  topicPrefix: string;
  /** `http://127.0.0.1:<port>` of a `run processors`, or undefined to skip it. */
  healthUrl?: string;
  now?: () => number;
}

async function liveStates(url: string | undefined): Promise<Map<string, string>> {
  if (!url) return new Map();
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
    const report = (await res.json()) as HealthReport;
    return new Map(report.processors.map((p) => [p.name, p.state]));
  } catch {
    return new Map(); // nobody listening: the states stay unknown
  }
}

export async function processorStatus(deps: StatusDeps): Promise<ProcessorPosition[]> {
  const now = (deps.now ?? Date.now)();
  const names = topics(deps.topicPrefix);
  const states = await liveStates(deps.healthUrl);
  const marks = await queryRows<{ processor: string; kafka_partition: number; wm: number }>(
    deps.clickhouse,
    sql`SELECT processor, kafka_partition, toUInt32(argMax(watermark, version)) AS wm
        FROM ${v.table(deps.database, TABLES.watermarks)} GROUP BY processor, kafka_partition`,
  );
  const watermarkOf = new Map(marks.map((m) => [`${m.processor}|${m.kafka_partition}`, Number(m.wm) * 1000]));
  const admin = deps.kafka.admin();
  await admin.connect();
  try {
    const ends = new Map<string, Map<number, number>>();
    const out: ProcessorPosition[] = [];
    for (const processor of Object.keys(PROCESSORS) as ProcessorName[]) {
      const topic = names[PROCESSORS[processor].inputTopic];
      if (!ends.has(topic)) {
        const offsets = await admin.fetchTopicOffsets(topic);
        ends.set(topic, new Map(offsets.map((o) => [o.partition, Number(o.high)])));
      }
      const group = groupIdOf(deps.topicPrefix, processor);
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      const partitions = [...ends.get(topic)!]
        .sort((a, b) => a[0] - b[0])
        .map(([partition, end]): PartitionPosition => {
          const c = Number(committed?.partitions.find((x) => x.partition === partition)?.offset ?? -1);
          const next = c < 0 ? 0 : c;
          return {
            partition,
            committed: next,
            end,
            lag: Math.max(0, end - next),
            watermark: watermarkOf.get(`${processor}|${partition}`) ?? null,
          };
        });
      const marks = partitions.map((p) => p.watermark).filter((w): w is number => w !== null);
      const watermark = marks.length === partitions.length && marks.length > 0 ? minOf(marks) : null;
      out.push({
        processor,
        topic,
        group,
        state: states.get(processor) ?? null,
        partitions,
        lag: partitions.reduce((n, p) => n + p.lag, 0),
        watermark,
        freshnessMs: watermark === null ? null : now - watermark,
      });
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}
