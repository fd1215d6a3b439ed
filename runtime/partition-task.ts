// One input partition as the runner holds it: its processor (restored from the checkpoint),
// where it stands (processed, checkpointed, committed) and what waits for the next flush (rows
// per table, dead letters). `Partitions` holds the owned ones: created on first use, dropped
// on revoke or crash; and per partition its progress (lag, last record), which survives a crash.
import type { InputRecord, OutputRows, PartitionProcessor } from '../processors/contract.js';
import type { Outcome } from '../processors/outcome.js';
import { pushAll } from '../lib/arrays.js';
import type { DeadLetter } from '../lib/kafka/dlq.js';
import type { EncodedChanges } from './checkpoint-store.js';

export class PartitionTask<V> {
  /** Highest offset included in the loaded snapshot; records up to it are skipped. */
  readonly coveredThrough: number;
  /** Highest offset processed. */
  lastOffset: number;
  /** Highest offset whose rows and snapshot are safely in ClickHouse. */
  checkpointed: number;
  /**
   * The offset last committed to Kafka for this partition (the next one to read). Unknown after
   * a restore: the first checkpoint commits the snapshot's offset again, in case the crash fell
   * between the snapshot and its offset commit.
   */
  committed = -1;
  /** Dead letters for the dead-letter topic; their rows for ClickHouse wait with the others. */
  dead: DeadLetter[] = [];
  /**
   * State changes a flush took for a checkpoint it never got to (its rows were not written):
   * the processor handed them out once, so the next checkpoint saves them, before its own.
   */
  unsaved: EncodedChanges = [];
  private readonly rows = new Map<string, object[]>();
  private count = 0;

  /** `restoredThrough`: the checkpoint's offset, -1 without one. */
  constructor(
    readonly partition: number,
    readonly processor: PartitionProcessor<V>,
    restoredThrough: number,
  ) {
    this.coveredThrough = restoredThrough;
    this.lastOffset = restoredThrough;
    this.checkpointed = restoredThrough;
  }

  /**
   * Records processed since the processor was last drained. It is drained when a flush takes
   * its rows (or once the partitions together hold flushRows such records, a bound on what
   * they hold), not after every batch: an open window or session changed by many batches is
   * then one row per flush, not one per batch.
   */
  undrained = 0;

  /** Rows waiting for the next flush, all tables together. */
  get pending(): number {
    return this.count;
  }

  /** Processed past its checkpoint. */
  get moved(): boolean {
    return this.lastOffset > this.checkpointed;
  }

  /** Checkpointed past what was committed to Kafka. */
  get uncommitted(): boolean {
    return this.checkpointed >= 0 && this.committed < this.checkpointed + 1;
  }

  pend(table: string, rows: readonly object[]): void {
    const list = this.rows.get(table) ?? [];
    pushAll(list, rows);
    this.rows.set(table, list);
    this.count += rows.length;
  }

  /** Hands a record to the processor, counted until the next drain. */
  process(record: InputRecord<V>): Outcome {
    this.undrained++;
    return this.processor.process(record);
  }

  /** Moves the processor's rows since its last drain into the pending rows, and returns them. */
  drain(): OutputRows {
    this.undrained = 0;
    const out = this.processor.drain();
    for (const [table, rows] of out) this.pend(table, rows);
    return out;
  }

  /**
   * Hands the pending rows and dead letters to a flush, which writes them while the task goes
   * on processing (its next rows pend anew).
   */
  take(): Taken {
    const taken = { rows: new Map(this.rows), dead: this.dead };
    this.rows.clear();
    this.count = 0;
    this.dead = [];
    return taken;
  }

  /** A flush that could not write what it took (ClickHouse down) gives it back, ahead of newer rows. */
  giveBack(taken: Taken): void {
    const newer = this.take();
    for (const [table, rows] of taken.rows) this.pend(table, rows);
    for (const [table, rows] of newer.rows) this.pend(table, rows);
    this.dead = [...taken.dead, ...newer.dead];
  }
}

/** What a flush took from a task: its rows per table and its dead letters. */
export interface Taken {
  rows: Map<string, object[]>;
  dead: DeadLetter[];
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

/** Lag as of the last batch, and when a record was last processed. */
export interface Progress {
  lag: number;
  at: number;
}

export class Partitions<V> {
  private readonly tasks = new Map<number, PartitionTask<V>>();
  private readonly progress = new Map<number, Progress>();

  get(partition: number): PartitionTask<V> | undefined {
    return this.tasks.get(partition);
  }

  has(partition: number): boolean {
    return this.tasks.has(partition);
  }

  /** A (re)loaded task: a restore counts as progress, or a long one would look stuck. */
  add(task: PartitionTask<V>, now: number): void {
    this.tasks.set(task.partition, task);
    const known = this.progress.get(task.partition);
    if (known) known.at = now;
    else this.progress.set(task.partition, { lag: 0, at: now });
  }

  /** The owned tasks, in the order they were created (a copy: safe to iterate across awaits). */
  list(): PartitionTask<V>[] {
    return [...this.tasks.values()];
  }

  /** Rows waiting for the next flush, over every partition. */
  get pending(): number {
    let n = 0;
    for (const t of this.tasks.values()) n += t.pending;
    return n;
  }

  /** Records processed since their task's last drain, over every partition (rows to come at the next flush). */
  get undrained(): number {
    let n = 0;
    for (const t of this.tasks.values()) n += t.undrained;
    return n;
  }

  progressOf(partition: number): Progress | undefined {
    return this.progress.get(partition);
  }

  /** Revoked partitions lose their state and unwritten rows; the new owner replays from the checkpoint. */
  keepOnly(assigned: ReadonlySet<number>): number[] {
    const revoked: number[] = [];
    for (const p of [...this.tasks.keys()]) {
      if (assigned.has(p)) continue;
      this.tasks.delete(p);
      this.progress.delete(p);
      revoked.push(p);
    }
    // also those met before a crash (dropAll keeps progress) and not owned any more
    for (const p of [...this.progress.keys()]) if (!assigned.has(p)) this.progress.delete(p);
    return revoked;
  }

  /**
   * One partition's state (maybe ahead of what its store holds) and unwritten rows go; its
   * progress stays. Its next batch loads it again from the store.
   */
  drop(partition: number): void {
    this.tasks.delete(partition);
  }

  /** A crash: every partition's state (maybe half-applied) and unwritten rows go; progress stays. */
  dropAll(): void {
    this.tasks.clear();
  }

  status(now: number, stuckAfterMs: number): PartitionStatus[] {
    return [...this.tasks].map(([partition, t]) => {
      const { lag, at } = this.progress.get(partition) ?? { lag: 0, at: now };
      return {
        partition,
        lastOffset: t.lastOffset,
        checkpointed: t.checkpointed,
        watermark: t.processor.watermark,
        lag,
        stuck: lag > 0 && now - at >= stuckAfterMs,
      };
    });
  }
}
