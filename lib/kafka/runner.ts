// The Kafka runtime for processors: one consumer group per processor, one thin batch loop.
//
//   decode (registry, ids cached) → process (pure processor) → every flush interval:
//   dead letters to Kafka → rows to ClickHouse, table by table, each acknowledged →
//   (every checkpoint interval) state snapshot to ClickHouse → commit offsets.
//
// Offsets are committed only after ClickHouse has acknowledged both the rows and the
// snapshot, and every row is a deterministic function of (snapshot, input), so a crash at any
// instant replays from the last snapshot and rewrites the same rows: effectively once.
// Partition state is created on first use (from its snapshot) and dropped on revoke. When
// ClickHouse is down the loop pauses consumption, retries with backoff and resumes.
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  Partitioners,
  type Consumer,
  type EachBatchPayload,
  type Kafka,
  type KafkaMessage,
  type Producer,
} from 'kafkajs';
import { dlq as dlqOutcome, type Outcome } from '../../processors/outcome.js';
import type { Catalog, InputRecord, PartitionProcessor, ProcessorDefinition } from '../../processors/topology.js';
import { TABLES } from '../../schemas/tables.js';
import { pushAll } from '../arrays.js';
import { queryRows, type ClickHouseClient } from '../clickhouse/client.js';
import { sql, v } from '../clickhouse/sql.js';
import { ClickHouseWriter, type TableWrite } from '../clickhouse/writer.js';
import { ViewpulseError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ProcessorMetrics } from '../metrics.js';
import { sendDeadLetters, type DeadLetter } from './dlq.js';
import type { AvroSerde } from './serde.js';

export interface RunnerOptions {
  /** Flush rows to ClickHouse at least this often while records flow. */
  flushIntervalMs: number;
  /** ...or as soon as this many rows wait. */
  flushRows: number;
  /** Snapshot state and commit offsets this often (at a flush). */
  checkpointIntervalMs: number;
  /** Consumer group id; default `viewpulse-<processor>`. */
  groupId?: string;
  /** How long the group waits for a silent instance before reassigning its partitions. */
  sessionTimeoutMs: number;
}

export const DEFAULT_RUNNER: RunnerOptions = {
  flushIntervalMs: 1_000,
  flushRows: 50_000,
  checkpointIntervalMs: 5_000,
  sessionTimeoutMs: 30_000,
};

export interface RunnerDeps<V> {
  kafka: Kafka;
  clickhouse: ClickHouseClient;
  database: string;
  definition: ProcessorDefinition<V>;
  topic: string;
  dlqTopic: string;
  /** Decodes the input topic; null record values (tombstones) reach the processor as null. */
  serde: AvroSerde<NonNullable<V>>;
  catalog: Catalog & { ensure?: (ids: Iterable<string>) => Promise<void> };
  /** Video ids a record refers to, so the catalog can fetch missing ones before processing. */
  videoIdOf?: (value: NonNullable<V>) => string | undefined;
  logger: Logger;
  metrics: ProcessorMetrics;
  options?: Partial<RunnerOptions>;
  now?: () => number;
}

/** Rows of dead_letters, written with every processor's own tables. */
const DEAD_LETTER_ROWS = { name: TABLES.deadLetters, times: ['record_time'] } as const;

interface Task<V> {
  processor: PartitionProcessor<V>;
  /** Highest offset included in the loaded snapshot; records up to it are skipped. */
  coveredThrough: number;
  /** Highest offset processed. */
  lastOffset: number;
  /** Highest offset whose rows and snapshot are safely in ClickHouse. */
  checkpointed: number;
  /** The offset last committed to Kafka for this partition (the next one to read). */
  committed: number;
  /** dead letters for the dead-letter topic; their rows for ClickHouse wait in pendingRows */
  dead: DeadLetter[];
  pendingRows: Map<string, object[]>;
}

export class ProcessorRunner<V> {
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly writer: ClickHouseWriter;
  private readonly tasks = new Map<number, Task<V>>();
  private readonly opts: RunnerOptions;
  private readonly now: () => number;
  private lock: Promise<unknown> = Promise.resolve();
  private lastFlush = 0;
  private lastCheckpoint = 0;
  private pendingCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private paused = false;
  private tickBusy = false;
  private retryAt = 0;
  private retryBackoffMs = 500;
  private stopping = false;
  private readonly log: Logger;

  constructor(private readonly deps: RunnerDeps<V>) {
    this.opts = { ...DEFAULT_RUNNER, ...deps.options };
    this.now = deps.now ?? Date.now;
    const name = deps.definition.name;
    this.log = deps.logger.child({ processor: name });
    this.consumer = deps.kafka.consumer({
      groupId: this.opts.groupId ?? `viewpulse-${name}`,
      sessionTimeout: this.opts.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(this.opts.sessionTimeoutMs / 10)),
      maxBytesPerPartition: 4 * 1024 * 1024,
      // An idle fetch waits at most this long; disconnect (SIGTERM) waits for the running
      // fetch, so the default 5 s would add up to 5 s to every shutdown.
      maxWaitTimeInMs: 1_000,
    });
    this.producer = deps.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.writer = new ClickHouseWriter(deps.clickhouse, deps.database, {
      // Short: a flush runs inside the batch loop, which must not go silent for long (the
      // group would evict this instance). Longer outages pause consumption instead.
      giveUpAfterMs: 2_000,
      onRetry: (table, attempt, err) => {
        deps.metrics.sinkRetries.inc({ processor: name, table });
        if (attempt === 1) this.log.warn({ table, err: err.message }, 'ClickHouse write failed; retrying');
      },
    });
  }

  get name(): string {
    return this.deps.definition.name;
  }

  /** Serialises batch processing, timer flushes and shutdown. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  async start(): Promise<void> {
    await this.producer.connect();
    await this.consumer.connect();
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      const mine = new Set(payload.memberAssignment[this.deps.topic] ?? []);
      for (const p of [...this.tasks.keys()]) {
        // Revoked: drop state and unwritten rows; the new owner replays from the checkpoint.
        if (!mine.has(p)) {
          this.pendingCount -= [...this.tasks.get(p)!.pendingRows.values()].reduce((n, r) => n + r.length, 0);
          this.tasks.delete(p);
        }
      }
      this.log.info({ partitions: [...mine] }, 'assigned');
    });
    await this.consumer.subscribe({ topic: this.deps.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.exclusive(() => this.onBatch(payload)),
    });
    this.timer = setInterval(() => void this.tick(), Math.max(100, Math.floor(this.opts.flushIntervalMs / 2)));
    this.timer.unref();
  }

  /**
   * The timer: flushes when rows wait or a checkpoint is due. At most one timer flush is
   * queued at a time; while paused it first asks ClickHouse (a cheap ping) and retries with
   * backoff, so the batch loop is never starved of the lock.
   */
  private async tick(): Promise<void> {
    if (this.tickBusy || this.stopping) return;
    const due = this.pendingCount > 0 || this.now() - this.lastCheckpoint >= this.opts.checkpointIntervalMs;
    if (!this.paused && !due) return;
    if (this.paused && this.now() < this.retryAt) return;
    this.tickBusy = true;
    try {
      if (this.paused && !(await this.deps.clickhouse.ping()).success) {
        this.retryBackoffMs = Math.min(10_000, this.retryBackoffMs * 2);
        this.retryAt = this.now() + this.retryBackoffMs;
        return;
      }
      await this.exclusive(() => this.flush(false));
    } catch (err) {
      this.log.error({ err }, 'flush failed');
    } finally {
      this.tickBusy = false;
    }
  }

  private async task(partition: number): Promise<Task<V>> {
    let t = this.tasks.get(partition);
    if (t) return t;
    const cp = await this.loadCheckpoint(partition);
    t = {
      processor: this.deps.definition.create(partition, cp?.snapshot, this.deps.catalog),
      coveredThrough: cp?.offset ?? -1,
      lastOffset: cp?.offset ?? -1,
      checkpointed: cp?.offset ?? -1,
      // Unknown after a restart: the first checkpoint commits the snapshot's offset again, in
      // case the crash fell between the snapshot and its offset commit.
      committed: -1,
      dead: [],
      pendingRows: new Map(),
    };
    this.tasks.set(partition, t);
    this.log.info({ partition, checkpoint: t.coveredThrough }, 'partition state restored');
    return t;
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const name = this.name;
    const partition = batch.partition;
    // Fetched before a pause took effect: leave it unresolved; it is fetched again on resume.
    if (this.paused) return;
    // Decode first (schema ids are cached), so the catalog can fetch the batch's videos at once.
    const decoded: { message: KafkaMessage; value: V | undefined; error?: ViewpulseError }[] = [];
    for (const message of batch.messages) {
      if (message.value === null) {
        decoded.push({ message, value: null as V });
        continue;
      }
      try {
        const value = await this.deps.serde.decode(message.value, {
          topic: batch.topic,
          partition,
          offset: message.offset,
        });
        decoded.push({ message, value: value as V });
      } catch (err) {
        if (err instanceof ViewpulseError && err.retriable) throw err; // registry down: kafkajs retries the batch
        decoded.push({ message, value: undefined, error: err as ViewpulseError });
      }
    }
    let task: Task<V>;
    try {
      task = await this.task(partition);
      if (this.deps.catalog.ensure && this.deps.videoIdOf) {
        const ids: string[] = [];
        for (const d of decoded) {
          const id = d.value ? this.deps.videoIdOf(d.value as NonNullable<V>) : undefined;
          if (id) ids.push(id);
        }
        await this.deps.catalog.ensure(ids);
      }
    } catch (err) {
      // ClickHouse (checkpoint or catalog) unreachable: nothing was resolved, so the batch is
      // fetched again once we resume.
      this.pause(err as Error);
      return;
    }
    const first = Number(batch.firstOffset() ?? batch.messages[0]?.offset ?? 0);
    if (first > task.coveredThrough + 1 && task.lastOffset === task.coveredThrough) {
      // Kafka's committed offset is ahead of our checkpoint (e.g. state was reset): go back.
      this.log.warn({ partition, first, checkpoint: task.coveredThrough }, 'seeking back to the checkpoint');
      this.consumer.seek({ topic: batch.topic, partition, offset: String(task.coveredThrough + 1) });
      return;
    }
    this.deps.metrics.batchSize.observe({ processor: name }, batch.messages.length);
    const outcomes = new Map<string, number>();

    for (const d of decoded) {
      if (!isRunning() || isStale() || !this.tasks.has(partition)) break;
      const offset = Number(d.message.offset);
      if (offset <= task.lastOffset) continue; // already in the restored snapshot
      let outcome: Outcome;
      if (d.value === undefined) {
        outcome = dlqOutcome(d.error?.code ?? 'VP_ERR_DECODE_AVRO', d.error?.message ?? 'undecodable');
      } else {
        const record: InputRecord<V> = {
          topic: batch.topic,
          partition,
          offset,
          key: d.message.key?.toString() ?? null,
          value: d.value,
        };
        outcome = task.processor.process(record);
      }
      if (outcome.kind === 'dlq') {
        task.dead.push({
          key: d.message.key,
          value: d.message.value,
          code: outcome.code,
          reason: outcome.reason,
          stage: name,
          source: { topic: batch.topic, partition, offset: d.message.offset },
        });
        const videoId = d.value ? this.deps.videoIdOf?.(d.value as NonNullable<V>) : undefined;
        this.pend(task, TABLES.deadLetters, [
          {
            stage: name,
            source_topic: batch.topic,
            kafka_partition: partition,
            kafka_offset: offset,
            record_time: Number(d.message.timestamp),
            code: outcome.code,
            reason: outcome.reason.slice(0, 2000),
            video_id: videoId ?? '',
          },
        ]);
        this.deps.metrics.deadLetters.inc({ processor: name, code: outcome.code });
      }
      const label = outcome.kind === 'ok' ? 'ok' : `${outcome.kind}:${outcome.reason.split(':')[0]}`;
      outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
      task.lastOffset = offset;
      resolveOffset(d.message.offset);
    }
    for (const [outcome, n] of outcomes) this.deps.metrics.records.inc({ processor: name, outcome }, n);
    if (!this.tasks.has(partition)) return;
    this.drainTask(task);
    const lag = Number(batch.highWatermark) - task.lastOffset - 1;
    this.deps.metrics.consumerLag.set({ processor: name, partition: String(partition) }, Math.max(0, lag));
    const wm = task.processor.watermark;
    if (Number.isFinite(wm))
      this.deps.metrics.watermarkDelay.set({ processor: name, partition: String(partition) }, (this.now() - wm) / 1000);
    if (this.pendingCount >= this.opts.flushRows || this.now() - this.lastFlush >= this.opts.flushIntervalMs) {
      await this.flush(false);
    }
    await heartbeat();
  }

  /** Stops fetching until ClickHouse answers again; the timer checks and resumes. */
  private pause(err: Error): void {
    this.retryAt = this.now() + this.retryBackoffMs;
    if (this.paused) return;
    this.paused = true;
    this.consumer.pause([{ topic: this.deps.topic }]);
    this.deps.metrics.paused.set({ processor: this.name }, 1);
    this.log.warn({ err: err.message }, 'sink unavailable: paused consumption, will retry');
  }

  private pend(task: Task<V>, table: string, rows: readonly object[]): void {
    const list = task.pendingRows.get(table) ?? [];
    pushAll(list, rows);
    task.pendingRows.set(table, list);
    this.pendingCount += rows.length;
  }

  private drainTask(task: Task<V>): void {
    for (const [table, rows] of task.processor.drain()) {
      this.pend(task, table, rows);
      if (table === TABLES.lateEvents) {
        for (const r of rows as { applied?: number }[])
          this.deps.metrics.lateEvents.inc({ processor: this.name, applied: String(r.applied ?? 0) });
      }
    }
  }

  /**
   * Writes everything pending; every checkpoint interval (or when `force`d) also snapshots
   * state and commits offsets. On a ClickHouse outage: pause, keep the rows, retry later.
   */
  private async flush(force: boolean): Promise<void> {
    const name = this.name;
    this.lastFlush = this.now();
    const tasks = [...this.tasks.entries()];
    try {
      for (const [, task] of tasks) {
        if (task.dead.length) {
          await sendDeadLetters(this.producer, this.deps.dlqTopic, task.dead);
          task.dead = [];
        }
      }
      for (const spec of [...this.deps.definition.tables, DEAD_LETTER_ROWS]) {
        const rows = tasks.flatMap(([, t]) => t.pendingRows.get(spec.name) ?? []);
        if (rows.length === 0) continue;
        const write: TableWrite = { table: spec.name, rows, times: spec.times };
        const end = this.deps.metrics.sinkLatency.startTimer({ processor: name, table: spec.name });
        await this.writer.write(write);
        end();
        for (const [, t] of tasks) t.pendingRows.delete(spec.name);
      }
      this.pendingCount = [...this.tasks.values()].reduce(
        (n, t) => n + [...t.pendingRows.values()].reduce((m, r) => m + r.length, 0),
        0,
      );
      if (force || this.now() - this.lastCheckpoint >= this.opts.checkpointIntervalMs) await this.checkpoint();
      // Everything above was acknowledged (and tick() pinged before an empty flush): resume.
      if (this.paused) {
        this.paused = false;
        this.retryBackoffMs = 500;
        this.consumer.resume([{ topic: this.deps.topic }]);
        this.deps.metrics.paused.set({ processor: name }, 0);
        this.log.info('ClickHouse is back: resumed');
      }
    } catch (err) {
      if (!(err instanceof ViewpulseError) || !err.retriable || this.stopping) throw err;
      this.pause(err);
    }
  }

  /** Snapshots every partition that moved, then commits its offset (after ClickHouse acked). */
  private async checkpoint(): Promise<void> {
    this.lastCheckpoint = this.now();
    const tasks = [...this.tasks.entries()];
    const moved = tasks.filter(([, t]) => t.lastOffset > t.checkpointed);
    if (moved.length) {
      const rows = moved.map(([partition, t]) => ({
        processor: this.name,
        topic: this.deps.topic,
        kafka_partition: partition,
        kafka_offset: t.lastOffset,
        state: gzipSync(JSON.stringify(t.processor.snapshot())).toString('base64'),
      }));
      await this.writer.write({ table: TABLES.checkpoints, rows });
      for (const [, t] of moved) t.checkpointed = t.lastOffset;
      this.deps.metrics.checkpoints.inc({ processor: this.name });
    }
    // Commit what is checkpointed and not yet committed (a restored partition re-commits).
    const uncommitted = tasks.filter(([, t]) => t.checkpointed >= 0 && t.committed < t.checkpointed + 1);
    if (uncommitted.length === 0) return;
    try {
      await this.consumer.commitOffsets(
        uncommitted.map(([partition, t]) => ({
          topic: this.deps.topic,
          partition,
          offset: String(t.checkpointed + 1),
        })),
      );
      for (const [, t] of uncommitted) t.committed = t.checkpointed + 1;
    } catch (err) {
      // The snapshot is what restarts trust; a refused commit (e.g. during a rebalance) only
      // means a restart skips records by snapshot offset instead of by committed offset.
      // It is tried again at the next checkpoint.
      this.log.warn({ err: (err as Error).message }, 'offset commit refused; the checkpoint stands');
    }
  }

  private async loadCheckpoint(partition: number): Promise<{ offset: number; snapshot: unknown } | undefined> {
    const rows = await queryRows<{ kafka_offset: string; state: string }>(
      this.deps.clickhouse,
      sql`SELECT kafka_offset, state FROM ${v.table(this.deps.database, TABLES.checkpoints)}
          WHERE processor = ${v.string(this.name)} AND topic = ${v.string(this.deps.topic)} AND kafka_partition = ${v.uint(partition, 'UInt16')}
          ORDER BY kafka_offset DESC LIMIT 1`,
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      offset: Number(row.kafka_offset),
      snapshot: JSON.parse(gunzipSync(Buffer.from(row.state, 'base64')).toString('utf8')),
    };
  }

  /** Graceful stop: finish the batch, flush, checkpoint, commit, leave the group. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.exclusive(async () => {
      try {
        for (const t of this.tasks.values()) this.drainTask(t);
        await this.flush(true);
      } catch (err) {
        this.log.error({ err }, 'final flush failed; the next start replays from the last checkpoint');
      }
      this.stopping = true;
    });
    await this.consumer.disconnect();
    await this.producer.disconnect();
  }

  /**
   * Leaves without flushing or committing anything more — what a crash looks like to the
   * rest of the system (tests; the fault tests use a real kill -9).
   */
  async abandon(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.stopping = true;
    this.tasks.clear();
    await this.exclusive(async () => {
      await this.consumer.disconnect();
    });
    await this.producer.disconnect();
  }

  /** Partitions currently owned, with their watermark (for health and tests). */
  status(): { partition: number; lastOffset: number; checkpointed: number; watermark: number }[] {
    return [...this.tasks].map(([partition, t]) => ({
      partition,
      lastOffset: t.lastOffset,
      checkpointed: t.checkpointed,
      watermark: t.processor.watermark,
    }));
  }
}
