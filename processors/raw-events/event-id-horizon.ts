// The event ids a partition has written recently, to drop duplicate copies (a client retry,
// a producer resend) before they reach ClickHouse. Bounded twice over:
//  - by event time: ids are kept in one-minute buckets of their event time, and a bucket is
//    forgotten once it lies wholly more than `horizonMs` behind the partition's highest
//    event time (its "clock");
//  - by count: above `maxIds`, the oldest buckets go first.
// An event older than the horizon cannot be checked any more; it is written anyway (it may be
// a legitimate offline upload). If it is in fact a copy it carries the same ORDER BY key
// (video, event time, event id), so play_events' ReplacingMergeTree collapses the two
// when parts merge and FINAL hides the extra one before that.
//
// Deterministic: which ids are remembered depends only on the ids and times admitted, in
// order — never on when snapshots or eviction passes happen — so a replay from a checkpoint
// makes the same decisions. (Eviction runs whenever the horizon's minute moves; the set of
// evictable buckets is a function of that minute alone.)
import { MINUTE } from '../../lib/time.js';
import { minOf } from '../../lib/arrays.js';
import { Tracked, type RestoredState, type StateEntries } from '../keyed-state.js';

export interface EventIdHorizonOptions {
  horizonMs: number;
  maxIds: number;
}

export type Admission = 'new' | 'duplicate' | 'unchecked';

export class EventIdHorizon {
  /** minute (as a string key) → ids admitted with an event time in it */
  private readonly buckets = new Tracked<string[]>('rb:');
  private readonly ids = new Set<string>();
  private clock = Number.NEGATIVE_INFINITY;
  private evictedThrough = Number.NEGATIVE_INFINITY;

  constructor(readonly options: EventIdHorizonOptions) {
    if (!Number.isSafeInteger(options.horizonMs) || options.horizonMs < MINUTE)
      throw new RangeError('the dedup horizon must be at least one minute');
    if (!Number.isSafeInteger(options.maxIds) || options.maxIds < 1) throw new RangeError('maxIds must be ≥ 1');
  }

  get size(): number {
    return this.ids.size;
  }

  /**
   * Takes an event into account: 'duplicate' when its id was admitted before and is still
   * remembered, 'unchecked' when it is older than the horizon (written, not remembered),
   * otherwise 'new' (remembered from now on).
   */
  admit(id: string, eventTime: number): Admission {
    if (eventTime > this.clock) {
      this.clock = eventTime;
      this.evict();
    }
    if (this.ids.has(id)) return 'duplicate';
    if (eventTime < this.clock - this.options.horizonMs) return 'unchecked';
    const minute = Math.floor(eventTime / MINUTE) * MINUTE;
    const key = String(minute);
    const bucket = this.buckets.get(key);
    if (bucket) {
      bucket.push(id);
      this.buckets.touch(key);
    } else this.buckets.set(key, [id]);
    this.ids.add(id);
    while (this.ids.size > this.options.maxIds) this.forget(minOf([...this.buckets.keys()].map(Number)));
    return 'new';
  }

  /** Forgets every bucket that ends at or before clock - horizon. */
  private evict(): void {
    const through = Math.floor((this.clock - this.options.horizonMs) / MINUTE) * MINUTE;
    if (through <= this.evictedThrough) return;
    this.evictedThrough = through;
    for (const key of [...this.buckets.keys()]) if (Number(key) + MINUTE <= through) this.forget(Number(key));
  }

  private forget(minute: number): void {
    const key = String(minute);
    for (const id of this.buckets.get(key) ?? []) this.ids.delete(id);
    this.buckets.delete(key);
  }

  collect(out: StateEntries): void {
    this.buckets.collect(out);
    out.push(['rb-clock', Number.isFinite(this.clock) ? this.clock : null]);
  }

  all(out: StateEntries): void {
    this.buckets.all(out);
    out.push(['rb-clock', Number.isFinite(this.clock) ? this.clock : null]);
  }

  static restore(options: EventIdHorizonOptions, state: RestoredState): EventIdHorizon {
    const seen = new EventIdHorizon(options);
    const clock = state.get('rb-clock') as number | null | undefined;
    if (clock != null) seen.clock = clock;
    seen.buckets.restore(state, (v) => [...(v as string[])]);
    for (const ids of seen.buckets.values()) for (const id of ids) seen.ids.add(id);
    seen.evict();
    return seen;
  }
}
