// In-memory stand-ins for what the runner talks to, so its loop is specified without a network:
//
//   FakeCluster   one topic's log and one consumer group's committed offsets; `kafka` hands
//                 out FakeConsumers and a FakeProducer (what kafkajs's Kafka does)
//   FakeConsumer  the part of kafkajs's Consumer the runner uses; the test drives fetches with
//                 deliver(), which builds eachBatch payloads the way kafkajs does (fetch from the
//                 last resolved offset + 1, skip paused partitions, apply seeks first)
//   FakeClickHouse a RowSink recording acknowledged writes; `mode` makes it fail retriably
//                 (down) or with a rejection; FakeStateStore and MemoryCatalog share its mode
//   jsonSerde     a Decoder of JSON values; bytes that are not JSON do not decode
//   tally         a tiny deterministic processor: per viewer, the count of its records
import type { Batch, Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { ProcessorDefinition, TableSpec } from '../../../processors/contract.js';
import { MemoryTable } from '../../../processors/driver.js';
import { applyChanges, restoredState, Tracked, type StateEntries } from '../../../processors/keyed-state.js';
import { dlq, ok } from '../../../processors/outcome.js';
import { DEFAULT_RULE_PARAMETERS } from '../../../processors/parameters.js';
import type { VideoInfo } from '../../../processors/playback/state.js';
import type { TableWrite } from '../../../lib/clickhouse/writer.js';
import { ViewpulseError } from '../../../lib/errors.js';
import type { RuntimeCatalog, Decoder } from '../../../runtime/batch-loop.js';
import { decodeChanges, type SavedState, type StateEntry, type StateStore } from '../../../runtime/checkpoint-store.js';
import type { RowSink } from '../../../runtime/flush.js';

/** Everything that happened, in order, across the fakes and the processor: the loop's contract is an order. */
export type Trace = string[];

const EVENTS = {
  CRASH: 'consumer.crash',
  GROUP_JOIN: 'consumer.group_join',
} as const;

type Listener = (event: { payload: unknown }) => void;
type EachBatch = (payload: EachBatchPayload) => Promise<void>;

export interface Sent {
  topic: string;
  acks?: number;
  messages: { key: Buffer | string | null; value: Buffer | string | null; headers: Record<string, string> }[];
}

export class FakeCluster {
  /** partition → records, offset = index */
  readonly log = new Map<number, KafkaMessage[]>();
  /** The group's committed offsets: the next offset to read. */
  readonly committed = new Map<number, number>();
  readonly consumers: FakeConsumer[] = [];
  readonly sent: Sent[] = [];
  /** What the group assigns to its (only) member. */
  assignment: number[];
  refuseCommits = false;
  failSends = false;
  /** How long a consumer takes to leave the group (timers are faked). */
  disconnectMs = 0;

  constructor(
    readonly topic: string,
    partitions: number,
    readonly trace: Trace = [],
  ) {
    for (let p = 0; p < partitions; p++) this.log.set(p, []);
    this.assignment = [...this.log.keys()];
  }

  /** Appends a record; a value that is not a Buffer or null is JSON-encoded. */
  append(partition: number, value: unknown, key: string | null = null): number {
    const log = this.log.get(partition)!;
    const offset = log.length;
    const bytes = value === null ? null : Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value));
    log.push({
      key: key === null ? null : Buffer.from(key),
      value: bytes,
      timestamp: String(1_700_000_000_000 + offset),
      attributes: 0,
      offset: String(offset),
      headers: {},
    } as KafkaMessage);
    return offset;
  }

  /** The newest consumer (a restart creates a new one). */
  get consumer(): FakeConsumer {
    const c = this.consumers.at(-1);
    if (!c) throw new Error('no consumer was created');
    return c;
  }

  readonly kafka = {
    consumer: (): Consumer => {
      const c = new FakeConsumer(this);
      this.consumers.push(c);
      return c as unknown as Consumer;
    },
    producer: (): Producer => {
      const send = async (record: Sent): Promise<unknown[]> => {
        if (this.failSends) throw new Error('KafkaJSConnectionError: dead-letter topic unreachable');
        this.sent.push(record);
        this.trace.push(`dlq ${record.messages.map((m) => m.headers['vp-source-offset']).join(',')}`);
        return [];
      };
      return { connect: async () => undefined, disconnect: async () => undefined, send } as unknown as Producer;
    },
  } as unknown as Kafka;
}

/** What deliver() saw of one eachBatch call. */
export interface Delivered {
  partition: number;
  offsets: number[];
  resolved: number[];
  heartbeats: number;
  error?: Error;
}

export class FakeConsumer {
  readonly events = EVENTS;
  connected = false;
  running = false;
  readonly paused = new Set<number>();
  /** partition → next offset to fetch (kafkajs: last resolved + 1, else committed) */
  readonly position = new Map<number, number>();
  private readonly seeks = new Map<number, number>();
  private readonly listeners = new Map<string, Listener[]>();
  private eachBatch: EachBatch | undefined;
  private assigned: number[] = [];

  constructor(private readonly cluster: FakeCluster) {}

  async connect(): Promise<void> {
    this.connected = true;
  }

  async disconnect(): Promise<void> {
    if (this.cluster.disconnectMs) await new Promise((r) => setTimeout(r, this.cluster.disconnectMs));
    this.running = false;
    this.connected = false;
    this.cluster.trace.push('disconnect');
  }

  on(event: string, listener: Listener): () => void {
    const list = this.listeners.get(event) ?? [];
    list.push(listener);
    this.listeners.set(event, list);
    return () => list.splice(list.indexOf(listener), 1);
  }

  emit(event: string, payload: unknown): void {
    for (const l of this.listeners.get(event) ?? []) l({ payload });
  }

  async subscribe(_: { topic: string; fromBeginning?: boolean }): Promise<void> {}

  async run(config: { eachBatch: EachBatch; autoCommit?: boolean; eachBatchAutoResolve?: boolean }): Promise<void> {
    if (config.autoCommit !== false || config.eachBatchAutoResolve !== false)
      throw new Error('the runner must resolve and commit offsets itself');
    this.eachBatch = config.eachBatch;
    this.running = true;
    this.rebalance(this.cluster.assignment);
  }

  /** A new generation: the assignment, and every position back to the committed offset (as kafkajs). */
  rebalance(assignment: number[]): void {
    this.assigned = [...assignment];
    this.position.clear();
    for (const p of assignment) this.position.set(p, this.cluster.committed.get(p) ?? 0);
    this.emit(EVENTS.GROUP_JOIN, { memberAssignment: { [this.cluster.topic]: [...assignment] } });
  }

  pause(topics: { topic: string; partitions?: number[] }[]): void {
    for (const t of topics) for (const p of t.partitions ?? this.assigned) this.paused.add(p);
    this.cluster.trace.push('pause');
  }

  resume(topics: { topic: string; partitions?: number[] }[]): void {
    for (const t of topics) for (const p of t.partitions ?? this.assigned) this.paused.delete(p);
    this.cluster.trace.push('resume');
  }

  seek({ partition, offset }: { topic: string; partition: number; offset: string }): void {
    this.seeks.set(partition, Number(offset));
    this.cluster.trace.push(`seek ${partition}:${offset}`);
  }

  async commitOffsets(offsets: { topic: string; partition: number; offset: string }[]): Promise<void> {
    if (this.cluster.refuseCommits) throw new Error('KafkaJSProtocolError: REBALANCE_IN_PROGRESS');
    for (const o of offsets) this.cluster.committed.set(o.partition, Number(o.offset));
    this.cluster.trace.push(`commit ${offsets.map((o) => `${o.partition}:${o.offset}`).join(',')}`);
  }

  /**
   * One fetch round: for every assigned partition (or the one given) that is not paused and has
   * records at its position, one eachBatch call of up to `max` records. `ignorePause` delivers
   * what a fetch already under way when pause() was called would.
   */
  async deliver(o: { partition?: number; max?: number; ignorePause?: boolean } = {}): Promise<Delivered[]> {
    if (!this.running || !this.eachBatch) throw new Error('the consumer is not running');
    const out: Delivered[] = [];
    for (const partition of o.partition === undefined ? this.assigned : [o.partition]) {
      const seek = this.seeks.get(partition);
      if (seek !== undefined) {
        this.position.set(partition, seek);
        this.seeks.delete(partition);
      }
      if (this.paused.has(partition) && !o.ignorePause) continue;
      const log = this.cluster.log.get(partition)!;
      const from = this.position.get(partition) ?? 0;
      const messages = log.slice(from, from + (o.max ?? 1_000));
      if (messages.length === 0) continue;
      const seen: Delivered = {
        partition,
        offsets: messages.map((m) => Number(m.offset)),
        resolved: [],
        heartbeats: 0,
      };
      const batch = {
        topic: this.cluster.topic,
        partition,
        highWatermark: String(log.length),
        messages,
        isEmpty: () => messages.length === 0,
        firstOffset: () => messages[0]?.offset ?? null,
        lastOffset: () => messages.at(-1)!.offset,
        offsetLag: () => String(log.length - 1 - Number(messages.at(-1)!.offset)),
        offsetLagLow: () => String(log.length - 1 - Number(messages[0]!.offset)),
      } satisfies Batch;
      // as kafkajs' Batch class: where the fetch started (not in its .d.ts)
      Object.assign(batch, { fetchedOffset: String(from) });
      const payload = {
        batch,
        resolveOffset: (offset: string) => {
          seen.resolved.push(Number(offset));
          this.position.set(partition, Number(offset) + 1);
          this.cluster.trace.push(`resolve ${partition}@${offset}`);
        },
        heartbeat: async () => {
          seen.heartbeats++;
        },
        pause: () => () => undefined,
        commitOffsetsIfNecessary: async () => undefined,
        uncommittedOffsets: () => ({ topics: [] }),
        isRunning: () => this.running,
        isStale: () => this.seeks.has(partition),
      } satisfies EachBatchPayload;
      try {
        await this.eachBatch(payload);
      } catch (err) {
        seen.error = err as Error; // kafkajs fetches the batch again (from the last resolved offset)
      }
      out.push(seen);
    }
    return out;
  }

  /** Delivers until every assigned, unpaused partition is read to its end (or `rounds` ran out). */
  async drainAll(rounds = 50): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      const got = await this.deliver();
      if (got.length === 0 || !this.running) return;
    }
  }
}

export type Mode = 'up' | 'down' | 'reject';

/** ClickHouse as the runner sees it: acknowledged writes, in order, and ReplacingMergeTree tables. */
export class FakeClickHouse implements RowSink {
  mode: Mode = 'up';
  readonly writes: TableWrite[] = [];
  attempts = 0;
  pings = 0;
  private readonly tables = new Map<string, MemoryTable>();

  constructor(
    specs: readonly TableSpec[],
    readonly trace: Trace = [],
  ) {
    for (const s of specs) this.tables.set(s.name, new MemoryTable(s));
  }

  /** Throws what lib/clickhouse/writer.ts throws: retriable while down, not when a row is rejected. */
  fail(what: string): void {
    if (this.mode === 'down') throw new ViewpulseError('VP_ERR_CLICKHOUSE', `${what}: connect ECONNREFUSED`);
    if (this.mode === 'reject')
      throw new ViewpulseError('VP_ERR_CLICKHOUSE_REJECTED', `${what}: Code: 53. Type mismatch`);
  }

  /** While set, writes wait for it before they are acknowledged (an insert ClickHouse takes its time with). */
  private gate: Promise<void> | null = null;

  /** Holds every write until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise((r) => (release = r));
    return () => {
      this.gate = null;
      release();
    };
  }

  async write(w: TableWrite): Promise<void> {
    this.attempts++;
    if (this.gate) await this.gate;
    this.fail(w.table);
    this.writes.push({ ...w, rows: [...w.rows] });
    this.tables.get(w.table)?.insert(w.rows);
    this.trace.push(`write ${w.table} ${w.rows.length}`);
  }

  async ping(): Promise<boolean> {
    this.pings++;
    return this.mode !== 'down';
  }

  /** Every acknowledged row of a table, in write order. */
  rows(table: string): Record<string, unknown>[] {
    return this.writes.filter((w) => w.table === table).flatMap((w) => w.rows as Record<string, unknown>[]);
  }

  /** The table as `SELECT ... FINAL` reads it. */
  final(table: string): Record<string, unknown>[] {
    return this.tables.get(table)!.rows();
  }
}

/**
 * The state store in memory: per partition, its whole state with every saved change applied
 * (JSON round-tripped, as stored); unreachable when ClickHouse is down.
 */
export class FakeStateStore implements StateStore {
  /** partition → the offset its state includes, and that state */
  readonly saved = new Map<number, { offset: number; state: Map<string, unknown> }>();
  readonly loads: number[] = [];
  /** What every save was handed. */
  readonly saves: (Omit<StateEntry, 'changes'> & { changes: StateEntries })[][] = [];
  /** Only saving fails (retriably), while the rows still go in. */
  savesFail = false;

  constructor(private readonly ch: FakeClickHouse) {}

  /** A checkpoint some earlier run left. */
  seed(partition: number, offset: number, entries: StateEntries): void {
    this.saved.set(partition, { offset, state: new Map(entries) });
  }

  async load(partition: number): Promise<SavedState | undefined> {
    this.ch.fail('processor_checkpoints');
    this.loads.push(partition);
    const s = this.saved.get(partition);
    return s && { offset: s.offset, snapshot: new Map(JSON.parse(JSON.stringify([...s.state])) as StateEntries) };
  }

  async save(entries: readonly StateEntry[]): Promise<void> {
    this.ch.fail('processor_checkpoints');
    if (this.savesFail) throw new ViewpulseError('VP_ERR_CLICKHOUSE', 'processor_checkpoints: timeout');
    this.saves.push(entries.map((e) => ({ ...e, changes: decodeChanges(e.changes) })));
    for (const e of entries) {
      const state = new Map(this.saved.get(e.partition)?.state);
      applyChanges(state, decodeChanges(e.changes));
      this.saved.set(e.partition, { offset: e.offset, state });
    }
    this.ch.trace.push(`save ${entries.map((e) => `${e.partition}@${e.offset}`).join(',')}`);
  }
}

/** The catalog side input in memory; its `ensure` reads ClickHouse, so it fails while that is down. */
export class MemoryCatalog implements RuntimeCatalog {
  readonly asked: string[][] = [];

  constructor(
    private readonly ch: FakeClickHouse,
    private readonly videos = new Map<string, VideoInfo>(),
  ) {}

  get(videoId: string): VideoInfo | undefined {
    return this.videos.get(videoId);
  }

  add(videoId: string, info: VideoInfo): void {
    this.videos.set(videoId, info);
  }

  async ensure(ids: Iterable<string>): Promise<void> {
    this.ch.fail('videos');
    this.asked.push([...ids]);
    this.ch.trace.push(`ensure ${[...ids].join(',')}`);
  }
}

/** JSON values; bytes that are not JSON fail as a bad record would; `registryDown` fails retriably. */
export function jsonSerde<T>(state: { registryDown?: boolean } = {}): Decoder<T> {
  return {
    async decode(buf, context = {}) {
      if (state.registryDown) throw new ViewpulseError('VP_ERR_REGISTRY_UNAVAILABLE', 'ECONNREFUSED', context);
      try {
        return JSON.parse(buf.toString('utf8')) as T;
      } catch (err) {
        throw new ViewpulseError('VP_ERR_DECODE_MAGIC', `length ${buf.length}`, context, { cause: err });
      }
    },
  };
}

/** A record of the tally processor. */
export interface Tick {
  viewer: string;
  video: string;
  /** event time */
  t: number;
  /** breaks the rule: dead-lettered */
  bad?: boolean;
}

export const TALLIES: TableSpec = { name: 'tallies', key: ['kafka_partition', 'viewer'], version: 'version' };

export interface TallyRow {
  kafka_partition: number;
  viewer: string;
  /** the viewer's records so far in this partition: a full value, so a replay rewrites the same row */
  records: number;
  /** the offset of its last record */
  version: number;
}

/**
 * Per viewer, how many (good) records it sent: one row per viewer changed since the last drain.
 * Its state is keyed (`count:<viewer>`, `wm`), handed out as it changes. `throwAt` throws after
 * the record was applied, as a bug would (the state is then half-applied).
 */
export function tally(
  o: { trace?: Trace; throwAt?: (partition: number, offset: number) => boolean } = {},
): ProcessorDefinition<Tick> {
  return {
    name: 'tally',
    rules: DEFAULT_RULE_PARAMETERS,
    tables: [TALLIES],
    create(partition, restored) {
      const state = restoredState(restored);
      // Objects changed in place, as a real processor's state is: a store that encoded them
      // later than the flush took them would save records processed since.
      const counts = new Tracked<{ n: number }>('count:');
      counts.restore(state, (v) => ({ n: typeof v === 'number' ? v : (v as { n: number }).n }));
      let wm = (state.get('wm') as number | undefined) ?? -Infinity;
      let wmMoved = false;
      const changed = new Map<string, number>();
      return {
        process(r) {
          o.trace?.push(`process ${partition}@${r.offset}`);
          if (r.value.bad) return dlq('VP_ERR_EVENT_RULES', `bad: viewer ${r.value.viewer} broke the rule`);
          const count = counts.get(r.value.viewer);
          if (count) {
            count.n += 1;
            counts.touch(r.value.viewer);
          } else counts.set(r.value.viewer, { n: 1 });
          changed.set(r.value.viewer, r.offset);
          if (r.value.t > wm) {
            wm = r.value.t;
            wmMoved = true;
          }
          if (o.throwAt?.(partition, r.offset)) throw new Error(`injected bug at ${partition}@${r.offset}`);
          return ok;
        },
        drain() {
          o.trace?.push(`drain ${partition}`);
          const rows: TallyRow[] = [...changed].map(([viewer, version]) => ({
            kafka_partition: partition,
            viewer,
            records: counts.get(viewer)!.n,
            version,
          }));
          changed.clear();
          return new Map(rows.length ? [[TALLIES.name, rows]] : []);
        },
        stateChanges() {
          const out: StateEntries = [];
          counts.collect(out);
          if (wmMoved) out.push(['wm', wm]);
          wmMoved = false;
          return out;
        },
        snapshot() {
          const out: StateEntries = [];
          counts.all(out);
          if (Number.isFinite(wm)) out.push(['wm', wm]);
          return out;
        },
        get watermark() {
          return wm;
        },
      };
    },
  };
}

/** What `tally` must end with in ClickHouse: per partition and viewer, its good records. */
export function expectedTallies(cluster: FakeCluster): { kafka_partition: number; viewer: string; records: number }[] {
  const out = new Map<string, { kafka_partition: number; viewer: string; records: number }>();
  for (const [partition, log] of cluster.log) {
    for (const m of log) {
      let v: Tick;
      try {
        v = JSON.parse(m.value!.toString()) as Tick;
      } catch {
        continue;
      }
      if (v.bad) continue;
      const k = `${partition}|${v.viewer}`;
      const cell = out.get(k) ?? { kafka_partition: partition, viewer: v.viewer, records: 0 };
      cell.records++;
      out.set(k, cell);
    }
  }
  return sortTallies([...out.values()]);
}

export function sortTallies<T extends { kafka_partition: number; viewer: string }>(rows: T[]): T[] {
  return [...rows].sort((a, b) => a.kafka_partition - b.kafka_partition || a.viewer.localeCompare(b.viewer));
}
