// Keys by the event-time minute they expire in: what a close visits when the watermark moves
// (the markers and groups due), instead of every key a processor holds. One array slot per
// key, so it can follow millions of them; in memory only, rebuilt from the state on restore.
import { MINUTE } from '../lib/time.js';

export class ExpiryQueue {
  private readonly buckets = new Map<number, string[]>();

  /** `key` is due once the limit passes `at`. */
  add(at: number, key: string): void {
    const m = Math.floor(at / MINUTE);
    const b = this.buckets.get(m);
    if (b) b.push(key);
    else this.buckets.set(m, [key]);
  }

  /**
   * Visits the keys added with a time that may be before `limit` (whole minutes, so some are
   * not due yet: `visit` checks the state and returns true to keep a key queued). A visit may
   * add keys again, into any minute.
   */
  due(limit: number, visit: (key: string) => boolean): void {
    const now: [number, string[]][] = [];
    for (const b of this.buckets) if (b[0] * MINUTE < limit) now.push(b);
    for (const [m] of now) this.buckets.delete(m);
    for (const [m, keys] of now) for (const key of keys) if (visit(key)) this.add(m * MINUTE, key);
  }
}
