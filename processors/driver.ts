// The in-memory driver: runs a processor the way the Kafka runner does — per partition,
// offsets in order, drain → write → checkpoint — but with tables in memory and no network,
// like Kafka Streams' TopologyTestDriver. Tests use it to pipe records, crash the processor
// at any point, restore it from its last checkpoint, replay, and read the tables.
import type { Outcome } from './outcome.js';
import { applyChanges, type StateEntries } from './keyed-state.js';
import type { VideoLookup, PartitionProcessor, ProcessorDefinition, TableSpec } from './contract.js';

interface Checkpoint {
  offset: number;
  /** The partition's state store: every change written at a checkpoint, newest per key. */
  state: Map<string, unknown>;
}

/** A table with ReplacingMergeTree semantics (or plain append when it has no key). */
export class MemoryTable {
  private readonly byKey = new Map<string, Record<string, unknown>>();
  private readonly appended: Record<string, unknown>[] = [];

  constructor(readonly spec: TableSpec) {}

  insert(rows: readonly object[]): void {
    for (const row of rows as Record<string, unknown>[]) {
      if (!this.spec.key) {
        this.appended.push(row);
        continue;
      }
      const k = JSON.stringify(this.spec.key.map((c) => row[c]));
      const prev = this.byKey.get(k);
      const v = this.spec.version;
      if (!prev || !v || (row[v] as number) >= (prev[v] as number)) this.byKey.set(k, row);
    }
  }

  /** The rows as `SELECT ... FINAL` would see them. */
  rows(): Record<string, unknown>[] {
    return this.spec.key ? [...this.byKey.values()] : [...this.appended];
  }
}

export class TestDriver<V> {
  readonly tables = new Map<string, MemoryTable>();
  private readonly inputs = new Map<number, { value: V; key: string | null }[]>();
  private readonly tasks = new Map<number, PartitionProcessor<V>>();
  private readonly next = new Map<number, number>();
  private readonly checkpoints = new Map<number, Checkpoint>();
  readonly outcomes: Outcome[] = [];

  constructor(
    readonly definition: ProcessorDefinition<V>,
    readonly catalog: VideoLookup = { get: () => undefined },
    readonly topic = 'play-events',
  ) {
    for (const spec of definition.tables) this.tables.set(spec.name, new MemoryTable(spec));
  }

  private task(partition: number): PartitionProcessor<V> {
    let t = this.tasks.get(partition);
    if (!t) {
      const cp = this.checkpoints.get(partition);
      // A restore reads the store; the processor must not share objects with it.
      t = this.definition.create(partition, cp ? structuredClone(cp.state) : undefined, this.catalog);
      this.tasks.set(partition, t);
      this.next.set(partition, cp ? cp.offset + 1 : 0);
    }
    return t;
  }

  /** Appends a record to the partition's log and processes everything not yet processed. */
  pipe(partition: number, value: V, key: string | null = null): Outcome {
    const log = this.inputs.get(partition) ?? [];
    log.push({ value, key });
    this.inputs.set(partition, log);
    return this.catchUp(partition).at(-1)!;
  }

  /** Processes the partition's log from the task's position to the end. */
  catchUp(partition: number): Outcome[] {
    const task = this.task(partition);
    const log = this.inputs.get(partition) ?? [];
    const results: Outcome[] = [];
    for (let offset = this.next.get(partition)!; offset < log.length; offset++) {
      const { value, key } = log[offset]!;
      const outcome = task.process({ topic: this.topic, partition, offset, key, value });
      results.push(outcome);
      this.outcomes.push(outcome);
      this.next.set(partition, offset + 1);
    }
    return results;
  }

  /** Drains every partition's rows into the tables (what a flush to ClickHouse does). */
  flush(): void {
    for (const task of this.tasks.values()) {
      for (const [table, rows] of task.drain()) this.table(table).insert(rows);
    }
  }

  /**
   * flush(), then each partition writes the state that changed since its last checkpoint (a
   * JSON round trip, as stored) into its store, with the offset.
   */
  checkpoint(): void {
    this.flush();
    for (const [partition, task] of this.tasks) {
      const offset = this.next.get(partition)! - 1;
      const changes = JSON.parse(JSON.stringify(task.stateChanges())) as StateEntries;
      if (offset < 0) continue;
      const cp = this.checkpoints.get(partition) ?? { offset, state: new Map<string, unknown>() };
      applyChanges(cp.state, changes);
      cp.offset = offset;
      this.checkpoints.set(partition, cp);
    }
  }

  /** Loses every unflushed row and all in-memory state, as `kill -9` would. */
  crash(): void {
    for (const task of this.tasks.values()) task.drain();
    this.tasks.clear();
    this.next.clear();
  }

  /** After a crash: restores each partition from its checkpoint and replays the rest. */
  recover(): void {
    for (const partition of this.inputs.keys()) this.catchUp(partition);
  }

  table(name: string): MemoryTable {
    const t = this.tables.get(name);
    if (!t) throw new Error(`processor ${this.definition.name} does not write table ${name}`);
    return t;
  }

  watermark(partition: number): number {
    return this.task(partition).watermark;
  }
}
