// Keys by the event-time minute they expire in: what a close visits when the watermark moves
// (the markers and groups due), instead of every key a processor holds. One array slot per
// key, so it can follow millions of them; in memory only, rebuilt from the state on restore.
// The minutes that hold keys are in a min-heap, so a close costs the keys due plus O(log n)
// per minute due — not a visit of every minute queued (24 h of markers are 1,440 minutes).
import { MINUTE } from '../lib/time.js';
import { MinHeap } from '../lib/min-heap.js';

export class ExpiryQueue {
  private readonly buckets = new Map<number, string[]>();
  /** the keys of `buckets`, each once */
  private readonly minutes = new MinHeap<number>((a, b) => a < b);

  /** `key` is due once the limit passes `at`. */
  add(at: number, key: string): void {
    const m = Math.floor(at / MINUTE);
    const b = this.buckets.get(m);
    if (b) b.push(key);
    else {
      this.buckets.set(m, [key]);
      this.minutes.push(m);
    }
  }

  /**
   * Visits the keys added with a time that may be before `limit` (whole minutes, so some are
   * not due yet: `visit` checks the state and returns true to keep a key queued), earliest
   * minute first. A visit may add keys again, into any minute.
   */
  due(limit: number, visit: (key: string) => boolean): void {
    // m * MINUTE < limit, for a whole m, is m < ceil(limit / MINUTE)
    const before = Math.ceil(limit / MINUTE);
    const now: [number, string[]][] = [];
    while (this.minutes.size > 0 && this.minutes.peek()! < before) {
      const m = this.minutes.pop()!;
      now.push([m, this.buckets.get(m)!]);
      this.buckets.delete(m);
    }
    for (const [m, keys] of now) for (const key of keys) if (visit(key)) this.add(m * MINUTE, key);
  }
}

/**
 * Values by the exact time they come due (a window's close at a watermark), each time's values
 * by key — so queueing a key again at the same time replaces it — and the times in a min-heap,
 * so taking what is due costs the values due plus O(log n) per time, not a visit of all held.
 * In memory only: the stores using it rebuild it from their state on restore.
 */
export class DueQueue<V> {
  private readonly byTime = new Map<number, Map<string, V>>();
  /** the keys of `byTime`, each once */
  private readonly times = new MinHeap<number>((a, b) => a < b);

  add(at: number, key: string, value: V): void {
    let due = this.byTime.get(at);
    if (!due) {
      this.byTime.set(at, (due = new Map()));
      this.times.push(at);
    }
    due.set(key, value);
  }

  /** Visits every value queued at a time ≤ `limit`, earliest time first, and forgets it. */
  takeDue(limit: number, visit: (key: string, value: V) => void): void {
    while (this.times.size > 0 && this.times.peek()! <= limit) {
      const at = this.times.pop()!;
      const due = this.byTime.get(at)!;
      this.byTime.delete(at);
      for (const [key, value] of due) visit(key, value);
    }
  }
}
