// Where a partition's state and the offset it covers are kept between runs. The runner loads
// it when it first meets a partition, and at every checkpoint — after the rows the state
// implies were acknowledged, before the offset is committed — hands it the keyed changes each
// moved partition made since its last checkpoint (processors/keyed-state.ts).
//
// SnapshotRowStore, today's store: it applies the changes to the partition's whole state and
// writes all of it as one processor_checkpoints row per partition (gzip'd JSON entries); the
// newest row wins (VIEWPULSE_STATE_STORE=clickhouse). The default, the changelog store
// (runtime/changelog-store.ts), writes only the changes.
import { gunzipSync, gzipSync } from 'node:zlib';
import { applyChanges, type RestoredState, type StateEntries } from '../processors/keyed-state.js';
import { queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import type { TableWrite } from '../lib/clickhouse/writer.js';
import type { Logger } from '../lib/logger.js';
import { TABLES } from '../schemas/tables.js';

export interface SavedState {
  /** Highest offset the state includes. */
  offset: number;
  /** What `ProcessorDefinition.create` restores the processor from. */
  snapshot: RestoredState;
}

export interface StateEntry {
  partition: number;
  /** Highest offset the state includes after these changes. */
  offset: number;
  /**
   * The partition's keyed changes since its last save (or load): [key, value as JSON text],
   * null removes. Encoded when the flush took them: values are live objects of the processor,
   * which the records processed while the flush writes go on changing.
   */
  changes: EncodedChanges;
}

/** State changes with each value as JSON text (null: the key was removed). */
export type EncodedChanges = [key: string, json: string | null][];

export const encodeChanges = (changes: StateEntries): EncodedChanges =>
  changes.map(([key, value]) => [key, value === null ? null : JSON.stringify(value)]);

export const decodeChanges = (changes: EncodedChanges): StateEntries =>
  changes.map(([key, json]) => [key, json === null ? null : (JSON.parse(json) as unknown)]);

export interface StateStore {
  /**
   * True when save() also commits the consumer group's offsets (checkpoint + 1) atomically
   * with the state (the changelog store's Kafka transaction); the runner then commits nothing.
   */
  readonly commitsOffsets?: boolean;
  start?(): Promise<void>;
  /** The partition's stored state, or undefined when it has none (it starts empty). */
  load(partition: number): Promise<SavedState | undefined>;
  /** The partition went to another instance (or the runner crashed): let go of it. */
  release?(partition: number): Promise<void>;
  stop?(): Promise<void>;
  /**
   * Resolves once every entry is durable, with the bytes written. Throws while the store is
   * unreachable (a retriable error: it keeps the changes for the next save), or a SaveFailed
   * naming the partitions whose changes it did not take (runtime/changelog-store.ts): the
   * runner drops their state, and their next batch loads them again.
   */
  save(entries: readonly StateEntry[]): Promise<number | void>;
}

/** The state as processor_checkpoints rows: (processor, topic, partition, offset, gzip'd JSON entries). */
export class SnapshotRowStore implements StateStore {
  /** Per partition, its whole state: as loaded, with every saved change applied. */
  private readonly states = new Map<number, Map<string, unknown>>();

  constructor(
    private readonly o: {
      clickhouse: ClickHouseClient;
      database: string;
      processor: string;
      topic: string;
      /** The runner's writer (retries, metrics), which the rows go through. */
      writer: { write(w: TableWrite): Promise<void> };
      log: Logger;
    },
  ) {}

  async load(partition: number): Promise<SavedState | undefined> {
    const { clickhouse, database, processor, topic } = this.o;
    const rows = await queryRows<{ kafka_offset: string; state: string }>(
      clickhouse,
      sql`SELECT kafka_offset, state FROM ${v.table(database, TABLES.checkpoints)}
          WHERE processor = ${v.string(processor)} AND topic = ${v.string(topic)} AND kafka_partition = ${v.uint(partition, 'UInt16')}
          ORDER BY kafka_offset DESC LIMIT 1`,
    );
    const row = rows[0];
    let saved: { offset: number; entries: unknown } | undefined = row && {
      offset: Number(row.kafka_offset),
      entries: decodeSnapshot(row.state),
    };
    if (saved && !Array.isArray(saved.entries)) {
      // Written before state was keyed: it cannot be restored, and rows are deterministic, so
      // replaying the partition from its start rewrites the same rows.
      this.o.log.warn(
        { partition, checkpoint: saved.offset },
        'checkpoint in an older format: replaying from the start',
      );
      saved = undefined;
    }
    const state = new Map((saved?.entries ?? []) as StateEntries);
    this.states.set(partition, state);
    return saved && { offset: saved.offset, snapshot: new Map(state) };
  }

  async save(entries: readonly StateEntry[]): Promise<number> {
    const rows = entries.map((e) => {
      let state = this.states.get(e.partition);
      if (!state) this.states.set(e.partition, (state = new Map()));
      applyChanges(state, decodeChanges(e.changes));
      return {
        processor: this.o.processor,
        topic: this.o.topic,
        kafka_partition: e.partition,
        kafka_offset: e.offset,
        state: encodeSnapshot([...state]),
      };
    });
    await this.o.writer.write({ table: TABLES.checkpoints, rows });
    return rows.reduce((n, r) => n + r.state.length, 0);
  }
}

export const encodeSnapshot = (entries: StateEntries): string => gzipSync(JSON.stringify(entries)).toString('base64');

export const decodeSnapshot = (state: string): unknown =>
  JSON.parse(gunzipSync(Buffer.from(state, 'base64')).toString('utf8'));
