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
import { groupIdOf } from './registry.js';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  Partitioners,
  type Consumer,
  type EachBatchPayload,
  type Kafka,
  type KafkaMessage,
  type Producer,
} from 'kafkajs';
import { dlq as dlqOutcome, outcomeLabel, type Outcome } from '../processors/outcome.js';
import type { VideoLookup, InputRecord, PartitionProcessor, ProcessorDefinition } from '../processors/contract.js';
import { TABLES } from '../schemas/tables.js';
import { applyChanges, type StateEntries } from '../processors/keyed-state.js';
import { pushAll } from '../lib/arrays.js';
import { queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { ClickHouseWriter, type TableWrite } from '../lib/clickhouse/writer.js';
import { ViewpulseError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { ProcessorMetrics } from '../lib/metrics.js';
import { sendDeadLetters, type DeadLetter } from '../lib/kafka/dlq.js';
import type { AvroSerde } from '../lib/kafka/serde.js';

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
  /** First delay before restarting a crashed consumer; doubles per crash, up to 30 s. */
  restartBackoffMs: number;
  /** Crashes at one position (a partition that made no progress between them) before the runner gives up. */
  maxRestarts: number;
  /** A partition with lag that has not moved for this long is reported stuck. */
  stuckAfterMs: number;
  /** Largest fetch per partition: what one batch (and so one drain) can hold. */
  maxBytesPerPartition: number;
}

/** running: consuming; restarting: crashed, a new consumer starts after a backoff; failed: gave up. */
export type RunnerState = 'starting' | 'running' | 'restarting' | 'failed' | 'stopped';

export const DEFAULT_RUNNER: RunnerOptions = {
  flushIntervalMs: 1_000,
  flushRows: 50_000,
  checkpointIntervalMs: 5_000,
  sessionTimeoutMs: 30_000,
  restartBackoffMs: 1_000,
  maxRestarts: 5,
  stuckAfterMs: 60_000,
  maxBytesPerPartition: 4 * 1024 * 1024,
};

const MAX_RESTART_BACKOFF_MS = 30_000;

export interface RunnerDeps<V> {
  kafka: Kafka;
  clickhouse: ClickHouseClient;
  database: string;
  definition: ProcessorDefinition<V>;
  topic: string;
  dlqTopic: string;
  /** Decodes the input topic; null record values (tombstones) reach the processor as null. */
  serde: AvroSerde<NonNullable<V>>;
  catalog: VideoLookup & { ensure?: (ids: Iterable<string>) => Promise<void> };
  /** Video ids a record refers to, so the catalog can fetch missing ones before processing. */
  videoIdOf?: (value: NonNullable<V>) => string | undefined;
  logger: Logger;
  metrics: ProcessorMetrics;
  options?: Partial<RunnerOptions>;
  now?: () => number;
  /** Called once when the runner gives up (maxRestarts crashes at one position): exit non-zero. */
  onFailed?: (err: Error) => void;
}

export interface PartitionStatus {
  partition: number;
  lastOffset: number;
  checkpointed: number;
  watermark: number;
  /** High watermark minus the next offset, as of the last batch. */
  lag: number;
  /** Lag, and no record processed for stuckAfterMs. */
  stuck: boolean;
}

export interface RunnerHealth {
  name: string;
  state: RunnerState;
  crashes: number;
  last_error?: string;
  lag: number;
  stuck: boolean;
  partitions: PartitionStatus[];
}

/** The stored state with the processor's changes since the last checkpoint applied, as entries. */
function stateOf<V>(t: Task<V>): StateEntries {
  applyChanges(t.state, t.processor.stateChanges());
  return [...t.state];
}

/** Rows of dead_letters, written with every processor's own tables. */
const DEAD_LETTER_ROWS = { name: TABLES.deadLetters, times: ['record_time'] } as const;

interface Task<V> {
  processor: PartitionProcessor<V>;
  /** The partition's stored state: the processor's changes applied checkpoint after checkpoint. */
  state: Map<string, unknown>;
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
  private consumer: Consumer;
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
  private runState: RunnerState = 'starting';
  /** Per owned partition, surviving crashes: lag as of the last batch, when a record was last processed. */
  private readonly progress = new Map<number, { lag: number; at: number }>();
  /** The partition whose batch is being processed, and its checkpoint: where a crash happens. */
  private where: { partition: number; checkpoint: number; offset: number } | undefined;
  /** Crashes per position (`partition@checkpoint`); a checkpoint that moves starts a new count. */
  private readonly crashesAt = new Map<string, number>();
  private crashes = 0;
  /** Set from the first error that crashes the loop until the new consumer starts. */
  private crashing = false;
  private crashSite: 'flush' | 'consumer' = 'consumer';
  private restartTimer: NodeJS.Timeout | undefined;
  private lastError: string | undefined;

  constructor(private readonly deps: RunnerDeps<V>) {
    this.opts = { ...DEFAULT_RUNNER, ...deps.options };
    this.now = deps.now ?? Date.now;
    const name = deps.definition.name;
    this.log = deps.logger.child({ processor: name });
    this.consumer = this.createConsumer();
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

  get state(): RunnerState {
    return this.runState;
  }

  private setState(state: RunnerState): void {
    this.runState = state;
    this.deps.metrics.up.set({ processor: this.name }, state === 'running' ? 1 : 0);
  }

  private createConsumer(): Consumer {
    return this.deps.kafka.consumer({
      groupId: this.opts.groupId ?? groupIdOf('', this.name),
      sessionTimeout: this.opts.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(this.opts.sessionTimeoutMs / 10)),
      maxBytesPerPartition: this.opts.maxBytesPerPartition,
      // An idle fetch waits at most this long; disconnect (SIGTERM) waits for the running
      // fetch, so the default 5 s would add up to 5 s to every shutdown.
      maxWaitTimeInMs: 1_000,
    });
  }

  /** Serialises batch processing, timer flushes and shutdown. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  async start(): Promise<void> {
    this.setState('starting');
    await this.producer.connect();
    await this.runConsumer();
    this.timer = setInterval(() => void this.tick(), Math.max(100, Math.floor(this.opts.flushIntervalMs / 2)));
    this.timer.unref();
  }

  /** Connects the consumer, joins the group and starts the batch loop. */
  private async runConsumer(): Promise<void> {
    const consumer = this.consumer;
    await consumer.connect();
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      // Kafka-level failures: kafkajs rejoins by itself after retriable ones (our state is
      // consistent: only Kafka's errors and retriable errors before any state change get there);
      // after the others the consumer is dead and the runner restarts it.
      if (consumer !== this.consumer) return;
      if (payload.restart) {
        this.deps.metrics.restarts.inc({ processor: this.name });
        this.lastError = payload.error.message;
        this.setState('restarting');
        this.log.warn({ err: payload.error.message }, 'consumer crashed on a retriable error; kafkajs restarts it');
      } else this.crash(payload.error);
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      if (this.runState !== 'stopped' && this.runState !== 'failed') this.setState('running');
      const mine = new Set(payload.memberAssignment[this.deps.topic] ?? []);
      for (const p of [...this.tasks.keys()]) {
        // Revoked: drop state and unwritten rows; the new owner replays from the checkpoint.
        if (!mine.has(p)) {
          this.pendingCount -= [...this.tasks.get(p)!.pendingRows.values()].reduce((n, r) => n + r.length, 0);
          this.tasks.delete(p);
          this.progress.delete(p);
        }
      }
      this.log.info({ partitions: [...mine] }, 'assigned');
    });
    await consumer.subscribe({ topic: this.deps.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) =>
        this.exclusive(() => this.onBatch(payload)).catch((err: Error) => {
          // Kafka's own errors (a rebalance under way) and retriable ones raised before any
          // state changed (the registry is down) go back to kafkajs, which retries the batch.
          // Anything else may have left state half-applied: crash and restart from the checkpoint.
          if (err.name.startsWith('KafkaJS') || (err instanceof ViewpulseError && err.retriable)) throw err;
          this.crash(err);
        }),
    });
  }

  /** Stops processing at once (no further batch, flush or checkpoint) and restarts. */
  private crash(err: Error): void {
    if (this.crashing || this.stopping) return;
    this.crashing = true;
    void this.crashed(err);
  }

  /**
   * The consumer crashed. State ahead of the checkpoint may be half-applied, so it is dropped
   * (the same as a process crash: the restart replays from the checkpoint and rewrites the same
   * rows). A new consumer starts after a doubling backoff; after `maxRestarts` crashes in a row
   * at the same position the runner gives up, reports failed, and calls onFailed.
   */
  private async crashed(err: Error): Promise<void> {
    const name = this.name;
    this.lastError = err.message;
    this.deps.metrics.restarts.inc({ processor: name });
    this.setState('restarting');
    // Outside a batch (a timer flush, joining) the flush or the consumer is the position.
    const position = this.where ? `${this.where.partition}@${this.where.checkpoint}` : this.crashSite;
    this.crashes = (this.crashesAt.get(position) ?? 0) + 1;
    this.crashesAt.set(position, this.crashes);
    await this.consumer.disconnect().catch(() => undefined);
    await this.exclusive(async () => {
      this.tasks.clear();
      this.pendingCount = 0;
      this.paused = false;
      this.deps.metrics.paused.set({ processor: name }, 0);
    });
    if (this.crashes > this.opts.maxRestarts) {
      this.setState('failed');
      this.log.error(
        { err, at: this.where, crashes: this.crashes },
        'processor failed: it crashed again and again at the same position; giving up',
      );
      this.deps.onFailed?.(err);
      return;
    }
    const delay = Math.min(MAX_RESTART_BACKOFF_MS, this.opts.restartBackoffMs * 2 ** (this.crashes - 1));
    this.log.error(
      { err, at: this.where, crashes: this.crashes, restartInMs: delay },
      'consumer crashed; restarting it from the last checkpoint',
    );
    this.restartTimer = setTimeout(() => void this.restart(), delay);
    this.restartTimer.unref();
  }

  private async restart(): Promise<void> {
    this.restartTimer = undefined;
    if (this.stopping) return;
    this.consumer = this.createConsumer();
    this.crashing = false;
    this.where = undefined;
    this.crashSite = 'consumer';
    try {
      await this.runConsumer();
    } catch (err) {
      this.crash(err as Error);
    }
  }

  /**
   * The timer: flushes when rows wait or a checkpoint is due. At most one timer flush is
   * queued at a time; while paused it first asks ClickHouse (a cheap ping) and retries with
   * backoff, so the batch loop is never starved of the lock.
   */
  private async tick(): Promise<void> {
    if (this.tickBusy || this.stopping || this.crashing) return;
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
      // Not an outage (flush pauses on those): rows ClickHouse refuses, or a bug. Never go on
      // as a live process that has silently stopped counting: crash and restart.
      this.log.error({ err }, 'flush failed');
      this.crashSite = 'flush';
      this.crash(err as Error);
    } finally {
      this.tickBusy = false;
    }
  }

  private async task(partition: number): Promise<Task<V>> {
    let t = this.tasks.get(partition);
    if (t) return t;
    let cp = await this.loadCheckpoint(partition);
    if (cp && !Array.isArray(cp.snapshot)) {
      // Written before state was keyed: it cannot be restored, and rows are deterministic, so
      // replaying the partition from its start rewrites the same rows.
      this.log.warn({ partition, checkpoint: cp.offset }, 'checkpoint in an older format: replaying from the start');
      cp = undefined;
    }
    const state = new Map((cp?.snapshot ?? []) as StateEntries);
    t = {
      processor: this.deps.definition.create(partition, new Map(state), this.deps.catalog),
      state,
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
    if (!this.progress.has(partition)) this.progress.set(partition, { lag: 0, at: this.now() });
    this.log.info({ partition, checkpoint: t.coveredThrough }, 'partition state restored');
    return t;
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const name = this.name;
    const partition = batch.partition;
    // Fetched before a pause took effect: leave it unresolved; it is fetched again on resume.
    // After a crash nothing more is processed: the restart replays from the checkpoint.
    if (this.paused || this.crashing) return;
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
    this.where = { partition, checkpoint: task.checkpointed, offset: first };
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
      const label = outcomeLabel(outcome);
      outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
      task.lastOffset = offset;
      resolveOffset(d.message.offset);
    }
    for (const [outcome, n] of outcomes) this.deps.metrics.records.inc({ processor: name, outcome }, n);
    if (!this.tasks.has(partition)) return;
    this.drainTask(task);
    const lag = Math.max(0, Number(batch.highWatermark) - task.lastOffset - 1);
    const progress = this.progress.get(partition)!;
    if (task.lastOffset >= first) progress.at = this.now();
    progress.lag = lag;
    this.deps.metrics.consumerLag.set({ processor: name, partition: String(partition) }, lag);
    const wm = task.processor.watermark;
    if (Number.isFinite(wm))
      this.deps.metrics.watermarkDelay.set({ processor: name, partition: String(partition) }, (this.now() - wm) / 1000);
    if (this.pendingCount >= this.opts.flushRows || this.now() - this.lastFlush >= this.opts.flushIntervalMs) {
      await this.flush(false);
    }
    await heartbeat();
    this.where = undefined;
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
    let drained = 0;
    for (const [table, rows] of task.processor.drain()) {
      this.pend(task, table, rows);
      drained += rows.length;
      if (table === TABLES.lateEvents) {
        for (const r of rows as { applied?: number }[])
          this.deps.metrics.lateEvents.inc({ processor: this.name, applied: String(r.applied ?? 0) });
      }
    }
    this.deps.metrics.drainRows.observe({ processor: this.name }, drained);
  }

  /**
   * Writes everything pending; every checkpoint interval (or when `force`d) also snapshots
   * state and commits offsets. On a ClickHouse outage: pause, keep the rows, retry later.
   */
  private async flush(force: boolean): Promise<void> {
    if (this.crashing) return; // state may be half-applied: nothing of it may reach a checkpoint
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
        state: gzipSync(JSON.stringify(stateOf(t))).toString('base64'),
      }));
      await this.writer.write({ table: TABLES.checkpoints, rows });
      for (const [partition, t] of moved) {
        t.checkpointed = t.lastOffset;
        for (const key of this.crashesAt.keys())
          if (key.startsWith(`${partition}@`) || key === 'flush' || key === 'consumer') this.crashesAt.delete(key);
      }
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
    if (this.restartTimer) clearTimeout(this.restartTimer);
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
    this.setState('stopped');
  }

  /**
   * Leaves without flushing or committing anything more — what a crash looks like to the
   * rest of the system (tests; the fault tests use a real kill -9).
   */
  async abandon(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.stopping = true;
    this.tasks.clear();
    await this.exclusive(async () => {
      await this.consumer.disconnect();
    });
    await this.producer.disconnect();
    this.setState('stopped');
  }

  /** Partitions currently owned, with their watermark (for health and tests). */
  status(): PartitionStatus[] {
    const now = this.now();
    return [...this.tasks].map(([partition, t]) => {
      const { lag, at } = this.progress.get(partition) ?? { lag: 0, at: now };
      return {
        partition,
        lastOffset: t.lastOffset,
        checkpointed: t.checkpointed,
        watermark: t.processor.watermark,
        lag,
        stuck: lag > 0 && now - at >= this.opts.stuckAfterMs,
      };
    });
  }

  /** What health and readiness report: state, crashes in a row, the last error, partitions. */
  health(): RunnerHealth {
    const partitions = this.status();
    return {
      name: this.name,
      state: this.runState,
      crashes: this.crashes,
      ...(this.lastError !== undefined ? { last_error: this.lastError } : {}),
      lag: partitions.reduce((n, p) => n + p.lag, 0),
      stuck: partitions.some((p) => p.stuck),
      partitions,
    };
  }
}
