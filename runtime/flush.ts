// Flushing and checkpointing: what makes a processed record count, in this order —
//   dead letters → Kafka (acks=all) → rows → ClickHouse (the data tables side by side, then the
//   watermarks, then dead-letter rows), each acknowledged →
//   (every checkpoint interval, once records stopped coming, or forced) state of every
//   partition that moved → the state store → commit offsets = checkpoint + 1.
// Offsets are committed only after the rows and the state they imply were acknowledged. A
// retriable failure (ClickHouse down) pauses consumption and keeps what is pending; anything
// else is thrown to the caller, which crashes the runner.
//
// A flush first takes, at once, what it will write: every partition's pending rows and dead
// letters and — when it checkpoints — the state changes and offset of every partition that
// moved, all as of the same point (between two batches, every task drained now). Then it writes
// them. The batch loop's and the timer's flushes run in the background (`flushBehind`): the
// next batches are processed while ClickHouse inserts, their rows pending for the next flush.
// One flush runs at a time — the next one, a stop's and a crash's teardown first wait for it — so the
// writes keep their order, and a checkpoint never covers a record whose rows are not written:
// it covers the offsets it took, not what was processed since.
import type { Consumer, Producer } from 'kafkajs';
import type { TableSpec } from '../processors/contract.js';
import type { TableWrite } from '../lib/clickhouse/writer.js';
import { ViewpulseError } from '../lib/errors.js';
import { sendDeadLetters } from '../lib/kafka/dlq.js';
import type { Logger } from '../lib/logger.js';
import type { ProcessorMetrics } from '../lib/metrics.js';
import { encodeChanges, type EncodedChanges, type StateStore } from './checkpoint-store.js';
import { DEAD_LETTER_ROWS } from './dead-letters.js';
import { TABLES } from '../schemas/tables.js';
import type { FlowControl } from './flow-control.js';
import type { PartitionTask, Partitions, Taken } from './partition-task.js';
import type { Supervisor } from './supervisor.js';

/**
 * Moves the processor's output into the task's pending rows, counting drains and late events.
 * A task that processed nothing since its last drain is left alone: its drain would only
 * repeat its watermark row.
 */
export function drainTask<V>(d: { name: string; metrics: ProcessorMetrics }, task: PartitionTask<V>): void {
  if (task.undrained === 0) return;
  let drained = 0;
  for (const [table, rows] of task.drain()) {
    drained += rows.length;
    if (table === TABLES.lateEvents) {
      for (const r of rows as { applied?: number }[])
        d.metrics.lateEvents.inc({ processor: d.name, applied: String(r.applied ?? 0) });
    }
  }
  d.metrics.drainRows.observe({ processor: d.name }, drained);
}

/** Where rows go: ClickHouse (lib/clickhouse/writer.ts) in production. */
export interface RowSink {
  /** Resolves once the rows are acknowledged; a retriable ViewpulseError while unreachable. */
  write(w: TableWrite): Promise<void>;
  /** A cheap "are you back?" while paused. */
  ping(): Promise<boolean>;
}

export interface FlushDeps<V> {
  name: string;
  topic: string;
  /** Where dead letters are published; null: not published (a replay: the live run did), rows only. */
  dlqTopic: string | null;
  /** The processor's tables: written side by side, its watermarks after the others, dead_letters rows last. */
  tables: readonly TableSpec[];
  partitions: Partitions<V>;
  sink: RowSink;
  store: StateStore;
  producer: Producer;
  /** The current consumer (a restart replaces it). */
  consumer(): Pick<Consumer, 'commitOffsets' | 'seek' | 'resume'>;
  flow: FlowControl;
  supervisor: Supervisor;
  metrics: ProcessorMetrics;
  log: Logger;
  now(): number;
  checkpointIntervalMs: number;
  /**
   * No record for this long (and something moved since the last checkpoint): checkpoint now
   * instead of at the interval, so a quiet topic's offsets and state catch up at once.
   */
  quietMs: number;
}

export class Flusher<V> {
  private lastFlush = 0;
  private lastCheckpoint = 0;
  private lastRecord = 0;
  /** The flush under way (background or not), null when none. */
  private running: Promise<void> | null = null;

  constructor(private readonly d: FlushDeps<V>) {}

  /** A batch processed records (the quiet rule counts from the last one). */
  recordsProcessed(): void {
    this.lastRecord = this.d.now();
  }

  msSinceFlush(): number {
    return this.d.now() - this.lastFlush;
  }

  /**
   * A checkpoint costs in proportion to the keys that changed since the last one, and a live
   * key (an open session) changes at every event: under a steady load the interval decides how
   * often each is written again. Once records stop, waiting out the interval would only delay
   * the commit.
   */
  checkpointDue(): boolean {
    const now = this.d.now();
    if (now - this.lastCheckpoint >= this.d.checkpointIntervalMs) return true;
    return (
      now - this.lastRecord >= this.d.quietMs &&
      now - this.lastCheckpoint >= this.d.quietMs &&
      this.d.partitions.list().some((t) => t.moved)
    );
  }

  /** Whether a flush is under way (a background one may still be writing). */
  get busy(): boolean {
    return this.running !== null;
  }

  /** Waits for the flush under way, if any (its failure is its caller's: never thrown here). */
  async settled(): Promise<void> {
    if (this.running) await this.running.catch(() => undefined);
  }

  /** Runs a flush as the one under way until it settles. */
  private start(work: Flush<V>): Promise<void> {
    const running = this.write(work).finally(() => {
      if (this.running === running) this.running = null;
    });
    this.running = running;
    return running;
  }

  /**
   * Writes everything pending; every checkpoint interval, a flush interval after the last
   * record, or when `force`d, also checkpoints and commits. On a ClickHouse outage: pause,
   * keep the rows, retry later. Once all of it was acknowledged, a paused runner resumes.
   * Waits for a flush under way first.
   */
  async flush(force: boolean): Promise<void> {
    if (this.running) await this.settled();
    const work = this.take(force);
    if (work) await this.start(work);
  }

  /**
   * The same, written in the background: resolves once the flush took what it writes (after
   * the one under way finished), so the batch loop goes on processing while ClickHouse inserts.
   * A failure that is not an outage goes to `onError` (the runner crashes and restarts).
   */
  async flushBehind(onError: (err: Error) => void): Promise<void> {
    if (this.running) await this.settled();
    const work = this.take(false);
    if (work) this.start(work).catch(onError);
  }

  /** What a flush writes, taken at once; undefined while crashing (state may be half-applied). */
  private take(force: boolean): Flush<V> | undefined {
    const d = this.d;
    if (d.supervisor.crashing) return undefined;
    this.lastFlush = d.now();
    const taken = d.partitions.list().map((task) => {
      drainTask(d, task);
      return { task, taken: task.take() };
    });
    let checkpoint: Flush<V>['checkpoint'] = null;
    if (force || this.checkpointDue()) {
      this.lastCheckpoint = d.now();
      // With the changelog store a partition restored from a checkpoint ahead of the group's
      // committed offset (a transaction's offsets lost to fencing) saves once with no changes, so
      // its offset is committed again; otherwise an idle partition would show lag for ever.
      checkpoint = d.partitions
        .list()
        .filter((t) => t.moved || (d.store.commitsOffsets && t.uncommitted))
        .map((task) => {
          const changes = [...task.unsaved, ...encodeChanges(task.processor.stateChanges())];
          task.unsaved = [];
          return { task, offset: task.lastOffset, changes };
        });
    }
    return { taken, checkpoint };
  }

  private async write(work: Flush<V>): Promise<void> {
    const d = this.d;
    let saving = false;
    try {
      for (const { taken } of work.taken) {
        if (taken.dead.length === 0) continue;
        if (d.dlqTopic !== null) await sendDeadLetters(d.producer, d.dlqTopic, taken.dead);
        taken.dead = [];
      }
      // The data tables side by side (their inserts wait on ClickHouse, not on this process),
      // then the watermarks, then dead-letter rows: a watermark row says what is complete, so it
      // is never visible before the rows it vouches for.
      const data = d.tables.filter((t) => t.name !== TABLES.watermarks);
      const last = d.tables.filter((t) => t.name === TABLES.watermarks);
      for (const step of [data, last, [DEAD_LETTER_ROWS]]) {
        const results = await Promise.allSettled(step.map((spec) => this.writeTable(work.taken, spec)));
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
        // a rejection (bad rows: crash) must not hide behind an outage of another table (pause)
        const fatal = failed.find((e) => !(e instanceof ViewpulseError) || !e.retriable);
        if (failed.length) throw fatal ?? failed[0];
      }
      // A crash meanwhile drops the partitions and restores them from the store: what this flush
      // took would land beside that restore. Its rows are written (a replay writes the same).
      saving = true;
      if (work.checkpoint && !d.supervisor.crashing) await this.checkpoint(work.checkpoint);
      // Everything above was acknowledged (and the timer pinged before an empty flush): resume.
      d.flow.acknowledged();
    } catch (err) {
      // What was not written waits for the next flush, ahead of the rows pending since; so do
      // the state changes of a checkpoint not tried (a store that failed keeps its own).
      for (const { task, taken } of work.taken) task.giveBack(taken);
      // (one flush at a time, and take() emptied `unsaved`: nothing newer is there)
      if (!saving) for (const { task, changes } of work.checkpoint ?? []) task.unsaved = changes;
      if (!(err instanceof ViewpulseError) || !err.retriable || d.supervisor.stopping) throw err;
      d.flow.pause(err);
    }
  }

  /** Writes a table's rows of every partition the flush took; once acknowledged they are no longer the flush's. */
  private async writeTable(taken: Flush<V>['taken'], spec: TableSpec): Promise<void> {
    const rows = taken.flatMap((t) => t.taken.rows.get(spec.name) ?? []);
    if (rows.length === 0) return;
    const end = this.d.metrics.sinkLatency.startTimer({ processor: this.d.name, table: spec.name });
    await this.d.sink.write({ table: spec.name, rows, times: spec.times });
    end();
    for (const t of taken) t.taken.rows.delete(spec.name);
  }

  /** Saves the state changes taken of every partition that moved, then commits its offset (after the store acked). */
  private async checkpoint(taken: NonNullable<Flush<V>['checkpoint']>): Promise<void> {
    const d = this.d;
    // A partition restored again while this flush wrote (its task replaced) is not saved from
    // the old task's memory: the new one's changes are relative to what its restore read.
    const entries = taken.filter((e) => {
      const now = d.partitions.get(e.task.partition);
      return now === undefined || now === e.task;
    });
    const tasks = d.partitions.list();
    if (entries.length) {
      let bytes: number | void = 0;
      let lost: ReadonlySet<number> = new Set();
      try {
        bytes = await d.store.save(
          entries.map((e) => ({ partition: e.task.partition, offset: e.offset, changes: e.changes })),
        );
      } catch (err) {
        // Partitions whose save failed (SaveFailed: fenced by a new owner during a rebalance,
        // or Kafka unreachable) may never be written from this memory again: the store took
        // none of their changes, and a new owner may have written since. Their state and
        // unwritten rows go; one still assigned here is restored from the changelog by its
        // next batch, which replays from there (processBatch seeks back). The other
        // partitions' saves went through. Anything else crashes.
        const failed = (err as { partitions?: readonly number[] }).partitions;
        if (!failed) throw err;
        lost = new Set(failed);
        const owned = failed.filter((p) => d.partitions.has(p));
        for (const p of owned) {
          // fetched again from the checkpoint, and resumed if it was paused (a bounded replay
          // at its end pauses it again), so its next batch restores it; one with nothing more
          // to fetch is restored when a record comes
          const from = d.partitions.get(p)!.checkpointed + 1;
          d.partitions.drop(p);
          try {
            d.consumer().seek({ topic: d.topic, partition: p, offset: String(from) });
            if (!d.flow.paused) d.consumer().resume([{ topic: d.topic, partitions: [p] }]);
          } catch {
            // not fetching it any more (revoked meanwhile): its new owner restores it
          }
        }
        d.log.warn(
          { partitions: failed, restored: owned, err: (err as Error).message },
          'checkpoint failed: those partitions restart from their last checkpoint',
        );
      }
      if (bytes) d.metrics.stateBytes.inc({ processor: d.name }, bytes);
      for (const { task: t, offset } of entries) {
        if (lost.has(t.partition)) continue;
        t.checkpointed = offset;
        // The changelog store committed the offset in the same transaction as the state.
        if (d.store.commitsOffsets) t.committed = t.checkpointed + 1;
        d.supervisor.checkpointed(t.partition);
      }
      d.metrics.checkpoints.inc({ processor: d.name });
    }
    // Commit what is checkpointed and not yet committed (a restored partition re-commits).
    if (d.store.commitsOffsets) return;
    const uncommitted = tasks.filter((t) => t.uncommitted);
    if (uncommitted.length === 0) return;
    try {
      await d
        .consumer()
        .commitOffsets(
          uncommitted.map((t) => ({ topic: d.topic, partition: t.partition, offset: String(t.checkpointed + 1) })),
        );
      for (const t of uncommitted) t.committed = t.checkpointed + 1;
    } catch (err) {
      // The checkpoint is what restarts trust; a refused commit (e.g. during a rebalance) only
      // means a restart skips records by checkpoint offset instead of by committed offset.
      // It is tried again at the next checkpoint.
      d.log.warn({ err: (err as Error).message }, 'offset commit refused; the checkpoint stands');
    }
  }
}

/** What one flush writes, taken at once (Flusher.take). */
interface Flush<V> {
  taken: { task: PartitionTask<V>; taken: Taken }[];
  /**
   * per partition that moved, its state changes (encoded at once: the values are live objects)
   * and offset as of the rows taken; null: no checkpoint
   */
  checkpoint: { task: PartitionTask<V>; offset: number; changes: EncodedChanges }[] | null;
}
