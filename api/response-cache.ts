// The insights API's response cache: answers kept in memory, bounded in bytes (least recently
// used go first), keyed by who asks (role and subject of the token: an answer was only ever
// stored after that principal passed the route's access check), the URL and the Accept header.
//
//  - Final answers (the range ends at or before finalized_through, every view closed: they
//    can no longer change) are kept up to `finalTtlMs`, the Cache-Control max-age they are sent
//    with; the ETag computed from the payload comes with them, so If-None-Match is answered 304
//    from the cache.
//  - Provisional answers are kept up to `provisionalTtlMs`, and only while the processors'
//    newest watermark is the one they were computed under (`Freshness` polls it at most every
//    `pollMs`): an answer is never older than the data freshness the health route reports,
//    plus at most that TTL.
import type { ClickHouseClient } from '../lib/clickhouse/client.js';
import { queryRows } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { TABLES } from '../schemas/tables.js';

export interface CacheOptions {
  /** bytes of payload kept at most (default 64 MiB) */
  maxBytes?: number;
  /** how long a final answer is kept (default 300 s, its Cache-Control max-age) */
  finalTtlMs?: number;
  /** how long a provisional answer is kept while the watermark stands still (default 1 s) */
  provisionalTtlMs?: number;
  /** how often the newest watermark is read at most (default 250 ms) */
  pollMs?: number;
}

export const DEFAULT_CACHE: Required<CacheOptions> = {
  maxBytes: 64 * 1024 * 1024,
  finalTtlMs: 300_000,
  provisionalTtlMs: 1_000,
  pollMs: 250,
};

export interface CachedAnswer {
  payload: string | Buffer;
  /** the headers the answer was sent with (content type, ETag, Cache-Control, cursors) */
  headers: Record<string, string>;
  final: boolean;
  /** the watermark token it was computed under */
  token: string;
  storedAt: number;
  bytes: number;
}

/** An LRU map of answers, bounded in payload bytes. */
export class ResponseCache {
  private readonly entries = new Map<string, CachedAnswer>();
  private used = 0;
  readonly options: Required<CacheOptions>;

  constructor(
    options: CacheOptions = {},
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.options = { ...DEFAULT_CACHE, ...options };
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.used;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The answer for `key` if still valid under the current watermark `token` (null: unknown). */
  get(key: string, token: string | null): CachedAnswer | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const age = this.clock() - e.storedAt;
    const valid = e.final
      ? age < this.options.finalTtlMs
      : age < this.options.provisionalTtlMs && token !== null && e.token === token;
    if (!valid) {
      this.remove(key, e);
      return undefined;
    }
    // most recently used last
    this.entries.delete(key);
    this.entries.set(key, e);
    return e;
  }

  set(key: string, answer: Omit<CachedAnswer, 'storedAt' | 'bytes'>): void {
    const bytes = Buffer.byteLength(answer.payload) + key.length;
    if (bytes > this.options.maxBytes / 16) return; // one answer never takes a large share
    const prev = this.entries.get(key);
    if (prev) this.remove(key, prev);
    this.entries.set(key, { ...answer, storedAt: this.clock(), bytes });
    this.used += bytes;
    for (const [k, e] of this.entries) {
      if (this.used <= this.options.maxBytes) break;
      this.remove(k, e);
    }
  }

  private remove(key: string, e: CachedAnswer): void {
    this.entries.delete(key);
    this.used -= e.bytes;
  }
}

/**
 * The processors' newest watermark as a token, read at most every `pollMs` (callers in the
 * meantime share the last answer or the read in flight). Null when it cannot be read: then
 * nothing is cached or served from the cache.
 */
export class Freshness {
  private last: { at: number; token: string | null } | null = null;
  private inflight: Promise<string | null> | null = null;

  constructor(
    private readonly clickhouse: ClickHouseClient,
    private readonly database: string,
    private readonly pollMs: number,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  async token(): Promise<string | null> {
    const now = this.clock();
    if (this.last && now - this.last.at < this.pollMs) return this.last.token;
    if (!this.inflight) {
      this.inflight = this.read()
        .catch(() => null)
        .then((token) => {
          this.last = { at: this.clock(), token };
          this.inflight = null;
          return token;
        });
    }
    return this.inflight;
  }

  private async read(): Promise<string | null> {
    const [r] = await queryRows<{ wm: string | number; n: string | number }>(
      this.clickhouse,
      sql`SELECT toString(max(watermark)) AS wm, toString(count()) AS n FROM ${v.table(this.database, TABLES.watermarks)}`,
    );
    return r ? `${r.wm}/${r.n}` : null;
  }
}
