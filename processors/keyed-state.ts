// Keyed processor state, written as it changes. A processor keeps its state in Tracked maps;
// each remembers which keys changed since the last checkpoint, so a checkpoint writes only
// those ([key, value], or [key, null] for a key removed) — like a Kafka Streams state store
// with its changelog. Restoring replays the entries of the last checkpoints, newest value per
// key, in the order they were last written.

/** [key, value] pairs; null removes a key. Values are JSON-serialisable. */
export type StateEntries = [key: string, value: unknown][];

/** The restored state of a partition: key → value, in the order the keys were last written. */
export type RestoredState = ReadonlyMap<string, unknown>;

/** Accepts what a runtime hands back: a map, entries (a JSON round trip), or nothing. */
export function restoredState(x: unknown): RestoredState {
  if (x instanceof Map) return x as RestoredState;
  if (Array.isArray(x)) return new Map(x as StateEntries);
  return new Map();
}

/** Applies changes to a full state (what a store does at a checkpoint, and a restore replays). */
export function applyChanges(state: Map<string, unknown>, changes: StateEntries): void {
  for (const [key, value] of changes) {
    // Last written last: a restore iterates keys in the order they were last written.
    state.delete(key);
    if (value !== null) state.set(key, value);
  }
}

const same = <V>(v: V): unknown => v;

/**
 * A restored state's entries by key prefix (up to the first ':'), keys without it, in the
 * order of the state: built once per restore, so each of a processor's maps restores from its
 * own entries instead of scanning all of them (eight maps scanned millions of keys eight times).
 * Kept until the current task ends only: a caller may change the map and restore from it again.
 */
const prefixIndex = new WeakMap<RestoredState, Map<string, [string, unknown][]>>();
function byPrefix(state: RestoredState): Map<string, [string, unknown][]> {
  let index = prefixIndex.get(state);
  if (!index) {
    index = new Map();
    for (const [key, value] of state) {
      const at = key.indexOf(':') + 1;
      if (at === 0) continue;
      const prefix = key.slice(0, at);
      let list = index.get(prefix);
      if (!list) index.set(prefix, (list = []));
      list.push([key.slice(at), value]);
    }
    prefixIndex.set(state, index);
    const built = state;
    queueMicrotask(() => prefixIndex.delete(built));
  }
  return index;
}

/** A part of a processor's state: a Tracked map, or a structure holding some. */
export interface StatePart {
  /** Appends the changes since the last call to `out`, and forgets them. */
  collect(out: StateEntries): void;
  /** Appends every entry to `out`. */
  all(out: StateEntries): void;
}

/**
 * A processor's state out of its parts: the changes since the last call (`full` false) or
 * everything, plus the small unkeyed entries written every time (watermarks, close points).
 */
export function stateOf(
  parts: readonly StatePart[],
  unkeyed: readonly [string, unknown][],
  full: boolean,
): StateEntries {
  const out: StateEntries = [];
  for (const p of parts) {
    if (full) p.all(out);
    else p.collect(out);
  }
  for (const e of unkeyed) out.push([e[0], e[1]]);
  return out;
}

/**
 * A Map whose changes since the last `collect()` are known. Values changed in place must be
 * `touch()`ed. Keys are written with `prefix`, so several maps share one state.
 *
 * A key that came and went between two collects is not written at all: it never reached the
 * changelog, so it needs no tombstone. (Replaying a day of traffic in minutes, most sessions
 * open and close within one checkpoint; their tombstones were two thirds of the records a
 * restore read, kept by compaction for delete.retention.ms.)
 */
export class Tracked<V> implements StatePart {
  private readonly map = new Map<string, V>();
  private readonly dirty = new Set<string>();
  /** keys set since the last collect that were not in the map at it (so not in the changelog) */
  private readonly unwritten = new Set<string>();
  /** touchValue()'s mark, and the number of collects so far */
  private readonly mark = Symbol('changed');
  private epoch = 0;

  constructor(
    readonly prefix: string,
    private readonly encode: (v: V) => unknown = same,
  ) {
    // what byPrefix() takes a prefix to be
    if (!/^[^:]+:$/.test(prefix)) throw new RangeError(`a state prefix ends with its only ':' (${prefix})`);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  set(key: string, value: V): this {
    // absent and not deleted since the last collect: absent from the changelog too
    if (!this.dirty.has(key) && !this.map.has(key)) this.unwritten.add(key);
    this.map.set(key, value);
    this.dirty.add(key);
    return this;
  }

  /** Moves `key` to the end of the iteration order (as a fresh insert) with `value`. */
  reinsert(key: string, value: V): void {
    if (!this.map.delete(key)) {
      this.set(key, value);
      return;
    }
    this.map.set(key, value);
    this.dirty.add(key);
  }

  delete(key: string): boolean {
    if (!this.map.delete(key)) return false;
    if (this.unwritten.delete(key)) this.dirty.delete(key);
    else this.dirty.add(key);
    return true;
  }

  /** Marks a value changed in place. */
  touch(key: string): void {
    this.dirty.add(key);
  }

  /**
   * touch() for an object value changed again and again: marked on the value itself (under a
   * symbol, which JSON leaves out) once per checkpoint, so a repeat costs a property read.
   */
  touchValue(key: string, value: V & object): void {
    const v = value as { [k: symbol]: number };
    if (v[this.mark] === this.epoch) return;
    v[this.mark] = this.epoch;
    this.dirty.add(key);
  }

  keys(): IterableIterator<string> {
    return this.map.keys();
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  entries(): IterableIterator<[string, V]> {
    return this.map.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.map.entries();
  }

  /** Appends the changes since the last call to `out`, and forgets them. */
  collect(out: StateEntries): void {
    for (const key of this.dirty) {
      const v = this.map.get(key);
      out.push([this.prefix + key, v === undefined ? null : this.encode(v)]);
    }
    this.dirty.clear();
    this.unwritten.clear();
    this.epoch++;
  }

  /** Appends every entry to `out` (a full snapshot). */
  all(out: StateEntries): void {
    for (const [key, v] of this.map) out.push([this.prefix + key, this.encode(v)]);
  }

  /** Loads this map's entries from a restored state; nothing is dirty afterwards. */
  restore(state: RestoredState, decode: (value: unknown) => V): void {
    for (const [key, value] of byPrefix(state).get(this.prefix) ?? []) this.map.set(key, decode(value));
  }
}
