// The runner's knobs, with their defaults (runtime/start.ts sets them from lib/config.ts).

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
  /** Largest fetch per partition: what one batch can hold. */
  maxBytesPerPartition: number;
  /**
   * Where partition state goes: `changelog` (a compacted Kafka topic, changes and offsets in one
   * transaction; runtime/changelog-store.ts) or `clickhouse` (whole-state snapshot rows in
   * processor_checkpoints; runtime/checkpoint-store.ts).
   */
  stateStore: 'changelog' | 'clickhouse';
  /** How long a partition waits for the catalog to learn a record's video (docs/semantics.md, "The catalog"). */
  catalogHoldMs: number;
  /**
   * Per partition, the first offset not to process (`viewpulse replay --to`): the partition pauses
   * there and its offsets stop at it. None: read on for ever.
   */
  stopAt?: ReadonlyMap<number, number>;
}

export const DEFAULT_RUNNER: RunnerOptions = {
  flushIntervalMs: 1_000,
  flushRows: 20_000,
  checkpointIntervalMs: 10_000,
  sessionTimeoutMs: 30_000,
  restartBackoffMs: 1_000,
  maxRestarts: 5,
  stuckAfterMs: 60_000,
  maxBytesPerPartition: 4 * 1024 * 1024,
  stateStore: 'changelog',
  catalogHoldMs: 30_000,
};
