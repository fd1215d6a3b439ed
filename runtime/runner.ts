// The Kafka runtime for one processor: one consumer group, one thin batch loop. This file wires
// the parts together and owns the consumer's lifecycle:
//
//   batch-loop.ts      eachBatch: decode → process (pure processor) → pend rows → resolve offsets
//   partition-task.ts  per partition: processor, offsets (processed, checkpointed, committed), pending rows
//   flush.ts           dead letters → rows → (every checkpoint interval) state → commit offsets,
//                      taken at once between batches and written while the next ones are processed
//   changelog-store.ts the state store: changed keys + offsets in one Kafka transaction (default)
//   checkpoint-store.ts  the StateStore interface, and whole-state snapshot rows in ClickHouse
//   flow-control.ts    flowing | paused while ClickHouse does not answer
//   supervisor.ts      crash → drop state → restart with backoff → give up; state and health
//
// Offsets are committed only after ClickHouse has acknowledged both the rows and the state, and
// every row is a deterministic function of (state, input), so a crash at any instant replays
// from the last checkpoint and rewrites the same rows: effectively once (docs/effectively-once.md).
// Partition state is created on first use (from its checkpoint) and dropped on revoke. When
// ClickHouse is down the loop pauses consumption, retries with backoff and resumes.
import { groupIdOf } from './registry.js';
import { Partitioners, type Consumer, type Kafka, type Producer } from 'kafkajs';
import type { ProcessorDefinition } from '../processors/contract.js';
import type { ClickHouseClient } from '../lib/clickhouse/client.js';
import { ClickHouseWriter } from '../lib/clickhouse/writer.js';
import { ViewpulseError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { ProcessorMetrics } from '../lib/metrics.js';
import { processBatch, type BatchLoopDeps, type Decoder, type RuntimeCatalog } from './batch-loop.js';
import { SnapshotRowStore, type StateStore } from './checkpoint-store.js';
import { ChangelogStore } from './changelog-store.js';
import { Flusher, type RowSink } from './flush.js';
import { FlowControl } from './flow-control.js';
import { groupLagOf, LagGauges } from './lag-gauges.js';
import { DEFAULT_RUNNER, type RunnerOptions } from './options.js';
import { Partitions, type PartitionStatus } from './partition-task.js';
import { Supervisor, type RunnerHealth, type RunnerState } from './supervisor.js';

export { DEFAULT_RUNNER, type RunnerOptions } from './options.js';
export type { PartitionStatus } from './partition-task.js';
export type { RunnerHealth, RunnerState } from './supervisor.js';
export type { RowSink } from './flush.js';
export type { StateStore } from './checkpoint-store.js';

export interface RunnerDeps<V> {
  kafka: Kafka;
  clickhouse: ClickHouseClient;
  database: string;
  definition: ProcessorDefinition<V>;
  topic: string;
  /** Where dead letters are published; null: not at all (a replay: the live run published them), rows only. */
  dlqTopic: string | null;
  /** Decodes the input topic; null record values (tombstones) reach the processor as null. */
  serde: Decoder<NonNullable<V>>;
  catalog: RuntimeCatalog;
  /** Video ids a record refers to, so the catalog can fetch missing ones before processing. */
  videoIdOf?: (value: NonNullable<V>) => string | undefined;
  logger: Logger;
  metrics: ProcessorMetrics;
  options?: Partial<RunnerOptions>;
  now?: () => number;
  /** Called once when the runner gives up (maxRestarts crashes at one position): exit non-zero. */
  onFailed?: (err: Error) => void;
  /** Where rows go; default ClickHouse (`clickhouse`, `database`) through lib/clickhouse/writer.ts. */
  sink?: RowSink;
  /** Where partition state goes; default per options.stateStore (the Kafka changelog). */
  stateStore?: StateStore;
  /**
   * Asked before every join of the group (start and each restart): false keeps the consumer out
   * (a replay is handing the processor over: runtime/processor-slot.ts).
   */
  mayJoin?: () => Promise<boolean>;
}

export class ProcessorRunner<V> {
  private consumer: Consumer;
  private readonly producer: Producer;
  private readonly opts: RunnerOptions;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly partitions = new Partitions<V>();
  private readonly flow: FlowControl;
  private readonly supervisor: Supervisor;
  private readonly sink: RowSink;
  private readonly store: StateStore;
  private readonly flusher: Flusher<V>;
  private readonly loop: BatchLoopDeps<V>;
  /** The partitions of the group's last assignment to this instance. */
  private assigned: ReadonlySet<number> = new Set();
  private readonly lag: LagGauges;
  private lock: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private tickBusy = false;
  /** When the consumer last joined the group (kafkajs's own restarts included). */
  private joinedAt: number | undefined;

  constructor(private readonly deps: RunnerDeps<V>) {
    this.opts = { ...DEFAULT_RUNNER, ...deps.options };
    this.now = deps.now ?? Date.now;
    const name = deps.definition.name;
    const { metrics } = deps;
    this.log = deps.logger.child({ processor: name });
    this.consumer = this.createConsumer();
    this.producer = deps.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.sink = deps.sink ?? this.clickHouseSink();
    const store: StateStore =
      deps.stateStore ??
      (this.opts.stateStore === 'clickhouse'
        ? new SnapshotRowStore({
            clickhouse: deps.clickhouse,
            database: deps.database,
            processor: name,
            topic: deps.topic,
            writer: this.sink,
            log: this.log,
          })
        : new ChangelogStore({
            kafka: deps.kafka,
            groupId: this.opts.groupId ?? groupIdOf('', name),
            topic: deps.topic,
            logger: this.log,
          }));
    this.store = store;
    const groupId = this.opts.groupId ?? groupIdOf('', name);
    this.lag = new LagGauges({
      name,
      metrics,
      groupLag: (partitions) => groupLagOf(deps.kafka, groupId, deps.topic, partitions),
      log: this.log,
    });
    this.flow = new FlowControl({
      now: this.now,
      paused: (err) => {
        this.consumer.pause([{ topic: deps.topic }]);
        metrics.paused.set({ processor: name }, 1);
        this.log.warn({ err: err.message }, 'sink unavailable: paused consumption, will retry');
      },
      resumed: () => {
        this.consumer.resume([{ topic: deps.topic }]);
        metrics.paused.set({ processor: name }, 0);
        this.log.info('ClickHouse is back: resumed');
      },
    });
    this.supervisor = new Supervisor({
      name,
      restartBackoffMs: this.opts.restartBackoffMs,
      maxRestarts: this.opts.maxRestarts,
      metrics,
      log: this.log,
      onFailed: deps.onFailed,
      teardown: async () => {
        await this.consumer.disconnect().catch(() => undefined);
        // out of the group: the partitions' lag is their next owner's to report
        this.lag.clear();
        await this.exclusive(async () => {
          // a background flush still writing would checkpoint beside the restore: it ends first
          if (this.flusher.busy) await this.flusher.settled();
          this.partitions.dropAll();
          this.flow.reset();
          metrics.paused.set({ processor: name }, 0);
        });
      },
      restart: async () => {
        this.consumer = this.createConsumer();
        await this.runConsumer();
      },
    });
    const current = (): Consumer => this.consumer;
    this.flusher = new Flusher<V>({
      name,
      topic: deps.topic,
      dlqTopic: deps.dlqTopic,
      tables: deps.definition.tables,
      partitions: this.partitions,
      sink: this.sink,
      store,
      producer: this.producer,
      consumer: current,
      flow: this.flow,
      supervisor: this.supervisor,
      metrics,
      log: this.log,
      now: this.now,
      checkpointIntervalMs: this.opts.checkpointIntervalMs,
      quietMs: this.opts.flushIntervalMs,
    });
    this.loop = {
      name,
      definition: deps.definition,
      serde: deps.serde,
      catalog: deps.catalog,
      catalogWaits: new Map(),
      videoIdOf: deps.videoIdOf,
      partitions: this.partitions,
      store,
      flow: this.flow,
      supervisor: this.supervisor,
      flusher: this.flusher,
      lag: this.lag,
      consumer: current,
      assigned: () => this.assigned,
      metrics,
      log: this.log,
      now: this.now,
      opts: this.opts,
    };
  }

  get name(): string {
    return this.deps.definition.name;
  }

  get state(): RunnerState {
    return this.supervisor.state;
  }

  /** ClickHouse through the batched writer, with a short give-up so the batch loop keeps heartbeating. */
  private clickHouseSink(): RowSink {
    const { clickhouse, database, metrics } = this.deps;
    const name = this.deps.definition.name;
    const writer = new ClickHouseWriter(clickhouse, database, {
      // Short: a flush runs inside the batch loop, which must not go silent for long (the
      // group would evict this instance). Longer outages pause consumption instead.
      giveUpAfterMs: 2_000,
      onRetry: (table, attempt, err) => {
        metrics.sinkRetries.inc({ processor: name, table });
        if (attempt === 1) this.log.warn({ table, err: err.message }, 'ClickHouse write failed; retrying');
      },
    });
    return { write: (w) => writer.write(w), ping: async () => (await clickhouse.ping()).success };
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
    this.supervisor.setState('starting');
    await this.producer.connect();
    await this.store.start?.();
    await this.runConsumer();
    this.timer = setInterval(() => void this.tick(), Math.max(100, Math.floor(this.opts.flushIntervalMs / 2)));
    this.timer.unref();
  }

  /** Connects the consumer, joins the group and starts the batch loop. */
  private async runConsumer(): Promise<void> {
    if (this.deps.mayJoin && !(await this.deps.mayJoin())) {
      this.log.warn('not joining the group: a replay is handing this processor over');
      return;
    }
    const consumer = this.consumer;
    await consumer.connect();
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      // Kafka-level failures: kafkajs rejoins by itself after retriable ones (our state is
      // consistent: only Kafka's errors and retriable errors before any state change get there);
      // after the others the consumer is dead and the runner restarts it.
      if (consumer !== this.consumer) return;
      if (payload.restart) this.supervisor.kafkaRestarts(payload.error);
      else this.supervisor.crash(payload.error);
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.supervisor.joined();
      this.joinedAt = this.now();
      const mine = new Set(payload.memberAssignment[this.deps.topic] ?? []);
      this.assigned = mine;
      // Revoked: drop state and unwritten rows; the new owner replays from the checkpoint.
      for (const p of this.partitions.keepOnly(mine)) void this.store.release?.(p);
      this.lag.assign(mine);
      // leader: one member per rebalance is, so its lines count the group's rebalances
      this.log.info({ partitions: [...mine], leader: payload.isLeader }, 'assigned');
    });
    await consumer.subscribe({ topic: this.deps.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) =>
        this.exclusive(() => processBatch(this.loop, payload)).catch((err: Error) => {
          // Kafka's own errors (a rebalance under way) and retriable ones raised before any
          // state changed (the registry is down) go back to kafkajs, which retries the batch.
          // Anything else may have left state half-applied: crash and restart from the checkpoint.
          if (err.name.startsWith('KafkaJS') || (err instanceof ViewpulseError && err.retriable)) throw err;
          this.supervisor.crash(err);
        }),
    });
  }

  /**
   * The timer: flushes when rows wait or a checkpoint is due. At most one timer flush is
   * queued at a time; while paused it first asks ClickHouse (a cheap ping) and retries with
   * backoff, so the batch loop is never starved of the lock.
   */
  private async tick(): Promise<void> {
    if (this.tickBusy || this.supervisor.stopping || this.supervisor.crashing) return;
    if (this.stuckSinceJoin()) return;
    const due = this.partitions.pending > 0 || this.partitions.undrained > 0 || this.flusher.checkpointDue();
    if (!this.flow.paused && !due) return;
    if (this.flow.paused && !this.flow.retryDue()) return;
    this.tickBusy = true;
    try {
      if (this.flow.paused && !(await this.sink.ping())) {
        this.flow.probeFailed();
        return;
      }
      // written behind, as the batch loop's flushes are: the lock is held only while it takes
      // what it writes, so batches go on while ClickHouse inserts
      await this.exclusive(() => this.flusher.flushBehind((err) => this.timerFlushFailed(err)));
    } catch (err) {
      this.timerFlushFailed(err as Error);
    } finally {
      this.tickBusy = false;
    }
  }

  /**
   * Not an outage (a flush pauses on those): rows ClickHouse refuses, or a bug. Never go on as
   * a live process that has silently stopped counting: crash and restart.
   */
  private timerFlushFailed(err: Error): void {
    this.log.error({ err }, 'flush failed');
    this.supervisor.flushFailed(err);
  }

  /**
   * A partition with lag that has not moved for stuckAfterMs although the consumer has been in
   * the group at least that long, flowing (not paused for ClickHouse), and not a bounded replay
   * at its end: the consumer no longer fetches (seen once after kafkajs restarted itself during a
   * broker restart and the flow paused and resumed). Restart it from the checkpoint, as after a
   * crash: nothing is lost, and a processor that stays stuck gives up after maxRestarts.
   */
  private stuckSinceJoin(): boolean {
    const now = this.now();
    if (
      this.flow.paused ||
      this.opts.stopAt ||
      this.joinedAt === undefined ||
      now - this.joinedAt < this.opts.stuckAfterMs
    )
      return false;
    const stuck = this.status().filter((p) => p.stuck);
    if (stuck.length === 0) return false;
    this.log.error(
      { partitions: stuck.map((p) => p.partition), stuckAfterMs: this.opts.stuckAfterMs },
      'partitions made no progress with lag: restarting the consumer',
    );
    this.joinedAt = undefined;
    this.supervisor.crash(
      new ViewpulseError(
        'VP_ERR_STUCK',
        `partitions ${stuck.map((p) => p.partition).join(', ')} made no progress for ${Math.round(this.opts.stuckAfterMs / 1000)} s with lag`,
      ),
    );
    return true;
  }

  /** Graceful stop: finish the batch, flush, checkpoint, commit, leave the group. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.supervisor.cancelRestart();
    await this.exclusive(async () => {
      try {
        await this.flusher.flush(true);
      } catch (err) {
        this.log.error({ err }, 'final flush failed; the next start replays from the last checkpoint');
      }
      this.supervisor.stopRestarts();
    });
    await this.consumer.disconnect();
    this.lag.clear();
    await this.producer.disconnect();
    await this.store.stop?.();
    this.supervisor.setState('stopped');
  }

  /**
   * Leaves without flushing or committing anything more — what a crash looks like to the
   * rest of the system (tests; the fault tests use a real kill -9).
   */
  async abandon(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.supervisor.cancelRestart();
    this.supervisor.stopRestarts();
    this.partitions.dropAll();
    await this.exclusive(async () => {
      if (this.flusher.busy) await this.flusher.settled();
      await this.consumer.disconnect();
    });
    this.lag.clear();
    await this.producer.disconnect();
    await this.store.stop?.();
    this.supervisor.setState('stopped');
  }

  /** Partitions currently owned, with their watermark (for health and tests). */
  status(): PartitionStatus[] {
    return this.partitions.status(this.now(), this.opts.stuckAfterMs);
  }

  /** What health and readiness report: state, crashes in a row, the last error, partitions. */
  health(): RunnerHealth {
    return this.supervisor.health(this.status());
  }
}
