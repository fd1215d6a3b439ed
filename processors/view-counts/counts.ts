// Windowed counts (plays, views, watch time) per video and per creator, per minute, hour
// and day — the state of the view-counts processor.
//
// How a count reaches ClickHouse exactly once, whatever crashes: the table is a
// ReplacingMergeTree keyed by (dim, id, grain, window_start, kafka_partition, seq).
//  - While a window is open (the watermark has not passed end + grace) the processor holds
//    its full value for this partition and writes it as the row with seq = 0; a newer write
//    carries a higher version and replaces the older one.
//  - When the window closes the row is written a last time with is_final = 1 and forgotten.
//  - A change that arrives for a closed window (a late event) is written as a separate
//    delta row with seq = the offset of the event that caused it. One event can change
//    several minutes of one closed hour (a late event moving a play from one minute to
//    another): its changes to a window add up in that one row, since two rows with the same
//    key and version would collapse into one.
// Every row is a deterministic function of the checkpointed state and the input, so a replay
// after a crash rewrites the same keys with the same values: nothing lost, nothing doubled.
// Readers sum `FINAL` rows over partitions and seqs.
import { TimeWindows } from '../windows.js';
import { DAY, HOUR, MINUTE } from '../../lib/time.js';
import { DueQueue } from '../expiry.js';
import { Tracked, type RestoredState, type StateEntries } from '../keyed-state.js';

export type Dim = 'video' | 'creator';
export type Grain = 'minute' | 'hour' | 'day';

export interface CountDelta {
  plays: number;
  views: number;
  watchMs: number;
}

export interface CountRow {
  dim: Dim;
  id: string;
  grain: Grain;
  window_start: number;
  kafka_partition: number;
  seq: number;
  version: number;
  plays: number;
  views: number;
  watch_ms: number;
  is_final: number;
}

interface Entry {
  dim: Dim;
  id: string;
  grain: Grain;
  start: number;
  plays: number;
  views: number;
  watchMs: number;
  version: number;
  /** set in memory once the window closed and left the state (never saved: it is gone) */
  gone?: true;
}

/**
 * The windows (one per grain) that the last change of one video or creator found, with their
 * keys: most changes land in the same windows as the one before, and then need no key built
 * and hashed. In memory only.
 */
interface Recent {
  keys: string[];
  entries: (Entry | undefined)[];
}

export interface CountsOptions {
  /** How long after its end a window still accepts changes in place. */
  graceMs: number;
}

const GRAINS: readonly [Grain, TimeWindows][] = [
  ['minute', TimeWindows.tumbling(MINUTE)],
  ['hour', TimeWindows.tumbling(HOUR)],
  ['day', TimeWindows.tumbling(DAY)],
];

const keyOf = (dim: Dim, id: string, grain: Grain, start: number): string =>
  `${dim}\u0000${id}\u0000${grain}\u0000${start}`;

/** Versions: twice the offset, plus one for the final write, so "final" wins a tie. */
const version = (offset: number, final: boolean): number => offset * 2 + (final ? 1 : 0);

export class CountStore {
  private readonly open = new Tracked<Entry>('k:');
  private readonly dirty = new Set<string>();
  private readonly rows: CountRow[] = [];
  /** late delta rows since the last drain, by window key and seq (they are also in `rows`) */
  private readonly lateRows = new Map<string, CountRow>();
  private readonly grains: readonly [Grain, TimeWindows][];
  private readonly recent: Record<Dim, Map<string, Recent>> = { video: new Map(), creator: new Map() };
  /**
   * In memory only (rebuilt on restore): the open windows by the watermark that closes them, so
   * closeWindows() visits the windows due, not every window held (it did, once per grain, every
   * minute of watermark progress).
   */
  private readonly closing = new DueQueue<Entry>();

  constructor(
    readonly partition: number,
    options: CountsOptions,
  ) {
    this.grains = GRAINS.map(([g, w]) => [g, w.grace(options.graceMs)] as [Grain, TimeWindows]);
  }

  /**
   * Adds `delta` at event time `t` for one key to every grain. Returns true when some window
   * was already closed (the change is late and becomes a delta row).
   */
  add(dim: Dim, id: string, t: number, delta: CountDelta, offset: number, watermark: number): boolean {
    if (delta.plays === 0 && delta.views === 0 && delta.watchMs === 0) return false;
    let late = false;
    let r = this.recent[dim].get(id);
    if (r === undefined) this.recent[dim].set(id, (r = { keys: [], entries: [] }));
    for (let g = 0; g < this.grains.length; g++) {
      const [grain, windows] = this.grains[g]!;
      const start = windows.startFor(t);
      let entry = r.entries[g];
      let key: string;
      if (entry !== undefined && entry.start === start && entry.gone === undefined) key = r.keys[g]!;
      else {
        key = keyOf(dim, id, grain, start);
        entry = this.open.get(key);
        r.keys[g] = key;
        r.entries[g] = entry;
      }
      if (entry) {
        entry.plays += delta.plays;
        entry.views += delta.views;
        entry.watchMs += delta.watchMs;
        entry.version = offset;
        this.open.touch(key);
        this.dirty.add(key);
      } else if (!windows.isClosed({ start, end: start + windows.sizeMs }, watermark)) {
        const fresh: Entry = {
          dim,
          id,
          grain,
          start,
          plays: delta.plays,
          views: delta.views,
          watchMs: delta.watchMs,
          version: offset,
        };
        this.open.set(key, fresh);
        this.closing.add(windows.closesAt({ start, end: start + windows.sizeMs }), key, fresh);
        r.entries[g] = fresh;
        this.dirty.add(key);
      } else {
        late = true;
        const lateKey = `${key}\u0000${offset}`;
        const row = this.lateRows.get(lateKey);
        if (row) {
          row.plays += delta.plays;
          row.views += delta.views;
          row.watch_ms += delta.watchMs;
          continue;
        }
        const fresh: CountRow = {
          dim,
          id,
          grain,
          window_start: start,
          kafka_partition: this.partition,
          seq: offset,
          version: version(offset, true),
          plays: delta.plays,
          views: delta.views,
          watch_ms: delta.watchMs,
          is_final: 1,
        };
        this.lateRows.set(lateKey, fresh);
        this.rows.push(fresh);
      }
    }
    if (late) this.forgetIfClosed(dim, id);
    return late;
  }

  /** An id none of whose cached windows is open is forgotten: the cache holds no more than the open windows. */
  private forgetIfClosed(dim: Dim, id: string): void {
    const r = this.recent[dim].get(id);
    if (r !== undefined && r.entries.every((e) => e === undefined || e.gone)) this.recent[dim].delete(id);
  }

  /** Writes a final row for every window the watermark has closed, and forgets it. */
  closeWindows(watermark: number): void {
    this.closing.takeDue(watermark, (key, e) => {
      this.rows.push(this.row(e, true));
      this.open.delete(key);
      this.dirty.delete(key);
      e.gone = true;
      this.forgetIfClosed(e.dim, e.id);
    });
  }

  /** Rows since the last drain: late deltas, closed windows, and open windows that changed. */
  drain(): CountRow[] {
    for (const key of this.dirty) this.rows.push(this.row(this.open.get(key)!, false));
    this.dirty.clear();
    this.lateRows.clear();
    return this.rows.splice(0, this.rows.length);
  }

  private row(e: Entry, final: boolean): CountRow {
    return {
      dim: e.dim,
      id: e.id,
      grain: e.grain,
      window_start: e.start,
      kafka_partition: this.partition,
      seq: 0,
      version: version(e.version, final),
      plays: e.plays,
      views: e.views,
      watch_ms: e.watchMs,
      is_final: final ? 1 : 0,
    };
  }

  collect(out: StateEntries): void {
    this.open.collect(out);
  }

  all(out: StateEntries): void {
    this.open.all(out);
  }

  static restore(partition: number, options: CountsOptions, state: RestoredState): CountStore {
    const store = new CountStore(partition, options);
    store.open.restore(state, (v) => ({ ...(v as Entry) }));
    const windowsOf = new Map(store.grains);
    for (const [key, e] of store.open) {
      const windows = windowsOf.get(e.grain)!;
      store.closing.add(windows.closesAt({ start: e.start, end: e.start + windows.sizeMs }), key, e);
    }
    return store;
  }
}
