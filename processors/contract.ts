// The contract between pure processors and the runtimes that drive them. A processor is
// created per input partition from its restored state; it applies records one at a time
// (pure: no I/O, no wall clock), collects output rows, and hands out its keyed state as it
// changes (processors/keyed-state.ts), so a checkpoint writes only what changed. The Kafka
// runner (runtime/) and the in-memory test driver (processors/driver.ts) are two runtimes for
// the same processors.
import type { Outcome } from './outcome.js';
import { pushAll } from '../lib/arrays.js';
import type { VideoInfo } from './playback/state.js';
import type { StateEntries } from './keyed-state.js';
import type { RuleParameters } from './parameters.js';

export interface InputRecord<V> {
  topic: string;
  partition: number;
  /** Kafka offset; processors use it as the version of the rows they write. */
  offset: number;
  key: string | null;
  value: V;
}

/** Rows per ClickHouse table name. */
export type OutputRows = Map<string, object[]>;

/** The catalog side input as a processor sees it: a video's owner and length, undefined while unknown. */
export interface VideoLookup {
  get(videoId: string): VideoInfo | undefined;
}

export interface PartitionProcessor<V> {
  process(record: InputRecord<V>): Outcome;
  /** Rows produced since the last drain, per table, in the order they must be written. */
  drain(): OutputRows;
  /** Keyed state changed since the last call: [key, value], or [key, null] for a removed key. */
  stateChanges(): StateEntries;
  /** All of the state as entries (what the changes add up to). */
  snapshot(): StateEntries;
  /** The partition's watermark (event time), -Infinity before the first record. */
  readonly watermark: number;
}

/**
 * How a table keeps rows: a ReplacingMergeTree keeps, per `key`, the row with the highest
 * `version` (the last written on a tie); a table without `key` keeps every row.
 */
export interface TableSpec {
  name: string;
  key?: readonly string[];
  version?: string;
  /** Columns the processor fills with epoch milliseconds that ClickHouse stores as DateTime. */
  times?: readonly string[];
}

export interface ProcessorDefinition<V> {
  /** Also the consumer group suffix, the metrics label and the checkpoint key. */
  name: string;
  /** The rule parameters it was built with (processors/parameters.ts). */
  rules: RuleParameters;
  /** Tables this processor writes (the runtime writes them side by side, its watermarks last). */
  tables: readonly TableSpec[];
  /**
   * `state` is what the last checkpoints stored — a RestoredState (key → newest value, in the
   * order last written), entries, or undefined — and restoring it gives exactly the state that
   * wrote it.
   */
  create(partition: number, state: unknown, catalog: VideoLookup): PartitionProcessor<V>;
}

/** Adds rows to an OutputRows map. */
export function pushRows(out: OutputRows, table: string, rows: readonly object[]): void {
  if (rows.length === 0) return;
  const list = out.get(table);
  if (list) pushAll(list, rows);
  else out.set(table, [...rows]);
}
