// Where each processor stands, for `viewpulse status`: per processor and input partition, the
// committed offset, the topic's end, the lag, the event-time watermark and its freshness (from
// Kafka's group offsets and ClickHouse's processor_watermarks), the group's members — the
// instances it runs as, wherever they are — and which of them owns each partition (Kafka's
// describeGroups), and — when `run processors` instances answer on their health ports — the
// live state of the processor, merged over them (the least healthy wins).
import { AssignerProtocol, type Kafka } from 'kafkajs';
import { minOf } from '../lib/arrays.js';
import { queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { TABLES } from '../schemas/tables.js';
import { topics } from '../schemas/topics.js';
import { mergeProcessor, type HealthReport } from './processor-health.js';
import { currentGenerations, type Generation } from './generations.js';
import { groupIdOf, PROCESSORS, type ProcessorName } from './registry.js';
import type { RunnerHealth } from './runner.js';

export interface PartitionPosition {
  partition: number;
  /** Next offset to read, as committed by the group (0 when it never committed). */
  committed: number;
  /** The topic's end (next offset to be written). */
  end: number;
  lag: number;
  /** Event-time watermark (epoch ms), when the processor writes one. */
  watermark: number | null;
  /** The group member (instance) that owns the partition now: its client id; null while unassigned. */
  owner: string | null;
}

/** One member of a processor's consumer group: one running instance (or `--workers` worker). */
export interface GroupMember {
  /** Kafka's client id: `<VIEWPULSE_KAFKA_CLIENT_ID>-<host>-<pid>` for `run processors`. */
  clientId: string;
  /** The address Kafka sees it connect from. */
  host: string;
  partitions: number[];
}

export interface ProcessorPosition {
  processor: ProcessorName;
  topic: string;
  group: string;
  /** Live state from the running instances' health endpoints (the least healthy), or null when none answers. */
  state: string | null;
  /** The group's members now (empty: nothing runs it); Kafka splits the partitions between them. */
  members: GroupMember[];
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
  /** `http://127.0.0.1:<port>` of each `run processors` instance to ask; none: skip. */
  healthUrls?: readonly string[];
  now?: () => number;
}

/** Each processor's live state over the instances that answer (an instance that does not is skipped). */
async function liveStates(urls: readonly string[]): Promise<Map<string, string>> {
  const reports = await Promise.all(
    urls.map(async (url) => {
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
        return ((await res.json()) as HealthReport).processors;
      } catch {
        return []; // nobody listening there
      }
    }),
  );
  const by = new Map<string, RunnerHealth[]>();
  for (const p of reports.flat()) by.set(p.name, [...(by.get(p.name) ?? []), p]);
  return new Map([...by].map(([name, parts]) => [name, mergeProcessor(name, parts).state]));
}

/** The group's members and what each was assigned of `topic`. */
async function membersOf(admin: ReturnType<Kafka['admin']>, group: string, topic: string): Promise<GroupMember[]> {
  const { groups } = await admin.describeGroups([group]);
  const members = (groups[0]?.members ?? []).map((m) => ({
    clientId: m.clientId,
    host: m.clientHost.replace(/^\//, ''),
    partitions: [...(AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? [])].sort(
      (a, b) => a - b,
    ),
  }));
  return members.sort((a, b) => (a.partitions[0] ?? Infinity) - (b.partitions[0] ?? Infinity));
}

export async function processorStatus(deps: StatusDeps): Promise<ProcessorPosition[]> {
  const now = (deps.now ?? Date.now)();
  const names = topics(deps.topicPrefix);
  const states = await liveStates(deps.healthUrls ?? []);
  const marks = await queryRows<{ processor: string; kafka_partition: number; wm: number }>(
    deps.clickhouse,
    sql`SELECT processor, kafka_partition, toUInt32(argMax(watermark, version)) AS wm
        FROM ${v.table(deps.database, TABLES.watermarks)} GROUP BY processor, kafka_partition`,
  );
  const watermarkOf = new Map(marks.map((m) => [`${m.processor}|${m.kafka_partition}`, Number(m.wm) * 1000]));
  // after `viewpulse replay --swap` a processor runs as the replay's group (runtime/generations.ts)
  const generations = await currentGenerations(deps.clickhouse, deps.database).catch(
    () => new Map<string, Generation>(),
  );
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
      const generation = generations.get(processor);
      const group = generation?.state === 'active' ? generation.groupId : groupIdOf(deps.topicPrefix, processor);
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      const members = await membersOf(admin, group, topic);
      const ownerOf = new Map(members.flatMap((m) => m.partitions.map((x) => [x, m.clientId] as const)));
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
            owner: ownerOf.get(partition) ?? null,
          };
        });
      const marks = partitions.map((p) => p.watermark).filter((w): w is number => w !== null);
      const watermark = marks.length === partitions.length && marks.length > 0 ? minOf(marks) : null;
      out.push({
        processor,
        topic,
        group,
        state: states.get(processor) ?? null,
        members,
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
