// Viewpulse player SDK: queue play events in a video player (browser or Node) and deliver
// them to the collector (`POST {endpoint}/v1/events`, see DESIGN.md "Shared contracts").
//
// - Batches: a request leaves when `maxBatch` events are queued, or `flushIntervalMs` after
//   the oldest unsent event was queued, or on flush()/shutdown()/page hide.
// - One request in flight at a time, in queue order (page hide is the one exception, below).
// - 429, 5xx, network errors and timeouts are retried with full-jitter exponential backoff,
//   at least `Retry-After` when the server sends one, up to `maxRetries` times. A retry
//   re-sends the same events (same event_id: the collector deduplicates) with a fresh sent_at.
// - Any other non-2xx answer drops the batch; events the collector rejects one by one in a
//   2xx answer are dropped too. Nothing is dropped silently: onDrop and stats() say why.
// - The queue holds at most `maxQueue` events; beyond that the oldest go first.
// - Page hide (`visibilitychange` to hidden, `pagehide`): queued events leave at once with
//   `keepalive: true`, in requests of at most 64 KiB, without waiting for a request already
//   in flight — the page may never run code again.
//
// Browser-safe: no Node imports, nothing imported from outside sdk/.

import type { PlayEvent } from './types.js';
import { backoffDelay, parseRetryAfter } from './retry.js';
import { KEEPALIVE_MAX_BYTES, splitBySize, utf8Length, type Chunk } from './split.js';
import { randomUUID } from './uuid.js';

export const SDK_VERSION = 'viewpulse-js/0.1.0';

/** Fields the collector accepts as null; a player may leave them out. */
type NullableField = 'referrer_video_id' | 'seek_from_ms' | 'startup_ms' | 'rebuffer_ms' | 'error_code';

/** What a player passes to track(): the SDK fills event_id, sdk_version and (if missing) event_time. */
export type TrackEvent = Omit<PlayEvent, 'event_id' | 'received_at' | 'sdk_version' | 'event_time' | NullableField> &
  Partial<Pick<PlayEvent, NullableField | 'event_time'>>;

/** What goes on the wire: a complete play event but for received_at, which the collector stamps. */
export type SentEvent = Omit<PlayEvent, 'received_at'>;

export const DROP_REASONS = [
  'queue_full', // more than maxQueue events waiting: the oldest were dropped
  'event_rejected', // the collector answered 2xx but rejected this event (see `reasons`)
  'batch_rejected', // the collector answered a non-retriable status (4xx other than 429)
  'retries_exhausted', // still failing (429, 5xx, network, timeout) after maxRetries retries
  'shutdown', // tracked after shutdown()
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export interface DropReport {
  reason: DropReason;
  events: SentEvent[];
  /** HTTP status of the answer that caused the drop, when there was one. */
  status?: number;
  /** The collector's reasons for an `event_rejected` event. */
  reasons?: string[];
  /** The last network error or timeout, for `retries_exhausted` without an answer. */
  error?: unknown;
}

/** The parts of fetch's RequestInit the SDK uses. */
export interface FetchInit {
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  keepalive: boolean;
  signal?: AbortSignal;
}

/** The parts of a fetch Response the SDK reads; a real Response fits. */
export interface FetchResponse {
  status: number;
  headers: { get(name: string): string | null };
  json(): Promise<unknown>;
  body?: { cancel(): Promise<void> } | null;
}

export type FetchLike = (url: string, init: FetchInit) => Promise<FetchResponse>;

export interface TrackerOptions {
  /** Collector base URL, e.g. `https://collect.example.com`; requests go to `${endpoint}/v1/events`. */
  endpoint: string;
  /** The application's write key, sent as `X-Write-Key`. */
  writeKey: string;
  /** Defaults to the global fetch. */
  fetch?: FetchLike;
  /** Clock in epoch milliseconds; defaults to Date.now. */
  now?: () => number;
  /** Timers; default to the global ones. */
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  /** Uniform [0, 1) source for backoff jitter; defaults to Math.random. */
  random?: () => number;
  /**
   * Source of each tracked event's event_id (default: random v4 UUIDs). For players that keep
   * their own ids (a queue persisted across restarts) and for replaying known events; every id
   * must be a UUID, one per event: the collector deduplicates on it.
   */
  eventId?: () => string;
  /** Events per request (default 100). */
  maxBatch?: number;
  /** Longest an event waits before it is sent, in ms (default 5000). */
  flushIntervalMs?: number;
  /** Events held while the collector is slow or unreachable (default 10000); the oldest go first. */
  maxQueue?: number;
  /** Retries per batch after the first attempt (default 8). */
  maxRetries?: number;
  /** Ceiling of the first retry's jittered delay, doubling per retry (default 500 ms). */
  baseBackoffMs?: number;
  /** Largest ceiling of a retry's jittered delay (default 30000 ms). Retry-After may exceed it. */
  maxBackoffMs?: number;
  /** A request (answer included) taking longer is aborted and retried (default 10000 ms; 0 = never). */
  timeoutMs?: number;
  /** Called for every event the SDK gives up on. Exceptions thrown here are ignored. */
  onDrop?: (drop: DropReport) => void;
}

export interface TrackerStats {
  /** Waiting to be sent. */
  queued: number;
  /** Sent and not answered yet, or waiting for a retry. */
  inFlight: number;
  /** Accepted by the collector. */
  sent: number;
  /** Events given up on, by reason. */
  dropped: Record<DropReason, number>;
  /** Requests re-sent after a retriable failure. */
  retries: number;
}

export interface Tracker {
  /** Queue one event; returns its event_id. Never throws for network reasons, never blocks. */
  track(event: TrackEvent): string;
  /** Send everything queued (with retries); resolves when each event is accepted or dropped. */
  flush(): Promise<void>;
  /** Stop taking events, flush, stop timers and page listeners. Idempotent. */
  shutdown(): Promise<void>;
  stats(): TrackerStats;
  /**
   * Call `listener` on `pagehide` (browser only), just before the queue leaves with keepalive,
   * so that a last event tracked there goes out with it. Returns a function that removes it.
   */
  onPageHide(listener: () => void): () => void;
}

export function createTracker(options: TrackerOptions): Tracker {
  return new PlayerTracker(options);
}

interface Entry {
  /** Arrival order; flush() sends every entry up to the sequence number it saw. */
  seq: number;
  event: SentEvent;
}

type Outcome =
  | { kind: 'accepted'; status: number; body: unknown }
  | { kind: 'retry'; status?: number; retryAfterMs?: number; error?: unknown }
  | { kind: 'fatal'; status: number };

interface PageTarget {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

const noop = (): void => {};

class PlayerTracker implements Tracker {
  private readonly url: string;
  private readonly writeKey: string;
  private readonly fetch: FetchLike;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private readonly random: () => number;
  private readonly eventId: () => string;
  private readonly maxBatch: number;
  private readonly flushIntervalMs: number;
  private readonly maxQueue: number;
  private readonly maxRetries: number;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly timeoutMs: number;
  private readonly onDrop: ((drop: DropReport) => void) | undefined;

  private queue: Entry[] = [];
  private seq = 0;
  private flushUpTo = 0;
  private inFlight = 0;
  private sent = 0;
  private retries = 0;
  private readonly dropped = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;

  private intervalTimer: unknown = undefined;
  private pumping: Promise<void> | undefined;
  private readonly hideLanes = new Set<Promise<void>>();
  private closed = false;
  private shuttingDown: Promise<void> | undefined;
  private detachPage: () => void = noop;
  private readonly pageHideListeners = new Set<() => void>();

  constructor(o: TrackerOptions) {
    if (typeof o.endpoint !== 'string' || !/^https?:\/\//i.test(o.endpoint)) {
      throw new TypeError('createTracker: endpoint must be an http(s) URL');
    }
    if (typeof o.writeKey !== 'string' || o.writeKey.length === 0) {
      throw new TypeError('createTracker: writeKey is required');
    }
    this.url = `${o.endpoint.replace(/\/+$/, '')}/v1/events`;
    this.writeKey = o.writeKey;
    if (o.fetch) {
      this.fetch = o.fetch;
    } else if (typeof globalThis.fetch === 'function') {
      this.fetch = (url, init) => globalThis.fetch(url, init); // late-bound: window.fetch needs its `this`
    } else {
      throw new TypeError('createTracker: no global fetch here; pass options.fetch');
    }
    this.now = o.now ?? (() => Date.now());
    this.setTimer = o.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
    this.clearTimer = o.clearTimeout ?? ((h) => globalThis.clearTimeout(h as Parameters<typeof clearTimeout>[0]));
    this.random = o.random ?? Math.random;
    this.eventId = o.eventId ?? randomUUID;
    this.maxBatch = int('maxBatch', o.maxBatch ?? 100, 1);
    this.flushIntervalMs = int('flushIntervalMs', o.flushIntervalMs ?? 5000, 1);
    this.maxQueue = int('maxQueue', o.maxQueue ?? 10_000, 1);
    this.maxRetries = int('maxRetries', o.maxRetries ?? 8, 0);
    this.baseBackoffMs = int('baseBackoffMs', o.baseBackoffMs ?? 500, 0);
    this.maxBackoffMs = int('maxBackoffMs', o.maxBackoffMs ?? 30_000, 0);
    this.timeoutMs = int('timeoutMs', o.timeoutMs ?? 10_000, 0);
    this.onDrop = o.onDrop;
    this.attachPage();
  }

  track(input: TrackEvent): string {
    // Copy, so that a caller mutating its object later does not change what is sent; fields
    // the SDK or the collector own are overwritten or removed even if a JS caller passes them.
    const {
      event_id: _id,
      received_at: _received,
      sdk_version: _version,
      ...fields
    } = input as TrackEvent & Partial<Pick<PlayEvent, 'event_id' | 'received_at' | 'sdk_version'>>;
    const event: SentEvent = {
      referrer_video_id: null,
      seek_from_ms: null,
      startup_ms: null,
      rebuffer_ms: null,
      error_code: null,
      ...fields,
      event_time: input.event_time ?? this.now(),
      event_id: this.eventId(),
      sdk_version: SDK_VERSION,
    };
    if (this.closed) {
      this.drop({ reason: 'shutdown', events: [event] });
      return event.event_id;
    }
    this.queue.push({ seq: ++this.seq, event });
    this.enforceCap();
    if (this.queue.length >= this.maxBatch) this.kick();
    else this.armInterval();
    return event.event_id;
  }

  async flush(): Promise<void> {
    this.flushUpTo = this.seq;
    this.stopInterval();
    for (;;) {
      if (!this.pumping && this.dueForSending()) this.kick();
      if (!this.pumping && this.hideLanes.size === 0) return;
      await Promise.all([this.pumping, ...this.hideLanes]);
    }
  }

  shutdown(): Promise<void> {
    if (!this.shuttingDown) {
      this.closed = true;
      this.detachPage();
      this.shuttingDown = this.flush().finally(() => this.stopInterval());
    }
    return this.shuttingDown;
  }

  onPageHide(listener: () => void): () => void {
    this.pageHideListeners.add(listener);
    return () => this.pageHideListeners.delete(listener);
  }

  stats(): TrackerStats {
    return {
      queued: this.queue.length,
      inFlight: this.inFlight,
      sent: this.sent,
      dropped: { ...this.dropped },
      retries: this.retries,
    };
  }

  // --- the normal lane: one batch at a time, retried until accepted or dropped ---

  private dueForSending(): boolean {
    const head = this.queue[0];
    return head !== undefined && (this.queue.length >= this.maxBatch || head.seq <= this.flushUpTo);
  }

  private kick(): void {
    if (this.pumping) return;
    const run = this.pump().finally(() => {
      this.pumping = undefined;
      if (this.dueForSending()) this.kick();
      else this.armInterval();
    });
    this.pumping = run;
    run.catch(noop); // flush() callers still see a failure; nobody else gets an unhandled rejection
  }

  private async pump(): Promise<void> {
    while (this.dueForSending()) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight += batch.length;
      try {
        await this.deliver(batch);
      } finally {
        this.inFlight -= batch.length;
      }
    }
  }

  private async deliver(batch: Entry[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.send(batch, false);
      if (outcome.kind !== 'retry') return this.settle(batch, outcome);
      if (attempt >= this.maxRetries) {
        return this.drop({
          reason: 'retries_exhausted',
          events: batch.map((e) => e.event),
          ...(outcome.status !== undefined ? { status: outcome.status } : { error: outcome.error }),
        });
      }
      const jitter = backoffDelay(attempt + 1, this.baseBackoffMs, this.maxBackoffMs, this.random);
      await this.sleep(Math.max(jitter, outcome.retryAfterMs ?? 0));
      this.retries++;
    }
  }

  // --- page hide: everything queued leaves now, with keepalive, in <= 64 KiB requests ---

  private attachPage(): void {
    const g = globalThis as unknown as { document?: PageTarget & { visibilityState?: string }; window?: PageTarget };
    const doc = g.document;
    const win = g.window;
    if (!doc && !win) return;
    const onVisibility = (): void => {
      if (doc?.visibilityState === 'hidden') this.flushForPageHide();
    };
    const onPageHide = (): void => {
      for (const listener of this.pageHideListeners) {
        try {
          listener();
        } catch {
          // a faulty listener must not keep the queue from leaving
        }
      }
      this.flushForPageHide();
    };
    doc?.addEventListener('visibilitychange', onVisibility);
    win?.addEventListener('pagehide', onPageHide);
    this.detachPage = () => {
      doc?.removeEventListener('visibilitychange', onVisibility);
      win?.removeEventListener('pagehide', onPageHide);
      this.detachPage = noop;
    };
  }

  private flushForPageHide(): void {
    this.stopInterval();
    const entries = this.queue.splice(0);
    if (entries.length === 0) return;
    const chunks = splitBySize(entries, (e) => utf8Length(JSON.stringify(e.event)), KEEPALIVE_MAX_BYTES, this.maxBatch);
    this.inFlight += entries.length;
    const lane = this.runHideLane(chunks); // its first fetch starts before this returns
    this.hideLanes.add(lane);
    lane.catch(noop).finally(() => this.hideLanes.delete(lane));
  }

  /**
   * Chunks go one after another: browsers cap the total of in-flight keepalive bodies at
   * 64 KiB. If the page really unloads, the first chunk is what gets out; if it was only
   * hidden, the rest follow. A retriable failure puts the unsent events back at the front of
   * the queue for the normal lane (with its retries); there is no waiting here.
   */
  private async runHideLane(chunks: Chunk<Entry>[]): Promise<void> {
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      // A single event too big for a keepalive body still goes, as an ordinary request.
      const outcome = await this.send(chunk.items, chunk.bytes <= KEEPALIVE_MAX_BYTES);
      if (outcome.kind === 'retry') {
        const unsent = chunks.slice(i).flatMap((c) => c.items);
        this.inFlight -= unsent.length;
        this.queue = unsent.concat(this.queue);
        this.enforceCap();
        if (this.dueForSending()) this.kick();
        else this.armInterval();
        return;
      }
      this.inFlight -= chunk.items.length;
      this.settle(chunk.items, outcome);
    }
  }

  // --- one request ---

  /** POST one batch; fetch is called synchronously (page hide relies on it). Never rejects. */
  private send(batch: Entry[], keepalive: boolean): Promise<Outcome> {
    const body = JSON.stringify({ sent_at: this.now(), events: batch.map((e) => e.event) });
    const controller = this.timeoutMs > 0 && typeof AbortController === 'function' ? new AbortController() : undefined;
    const timer = controller ? this.setTimer(() => controller.abort(), this.timeoutMs) : undefined;
    let request: Promise<FetchResponse>;
    try {
      request = this.fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-Write-Key': this.writeKey },
        body,
        keepalive,
        ...(controller ? { signal: controller.signal } : {}),
      });
    } catch (error) {
      request = Promise.reject(error);
    }
    return request
      .then(async (res): Promise<Outcome> => {
        const { status } = res;
        if (status >= 200 && status < 300) {
          const answer = await res.json().catch(() => undefined); // an unreadable 2xx answer still means accepted
          return { kind: 'accepted', status, body: answer };
        }
        res.body?.cancel().catch(noop); // free the connection; the body is not needed
        if (status === 429 || status >= 500) {
          const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), this.now());
          return { kind: 'retry', status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
        }
        return { kind: 'fatal', status };
      })
      .catch((error: unknown): Outcome => ({ kind: 'retry', error }))
      .finally(() => {
        if (timer !== undefined) this.clearTimer(timer);
      });
  }

  /** Account for a batch that got a final answer (accepted, possibly with per-event rejections, or fatal). */
  private settle(batch: Entry[], outcome: Exclude<Outcome, { kind: 'retry' }>): void {
    if (outcome.kind === 'fatal') {
      this.drop({ reason: 'batch_rejected', events: batch.map((e) => e.event), status: outcome.status });
      return;
    }
    const rejected = rejectedIndexes(outcome.body, batch.length);
    for (const [index, reasons] of rejected) {
      this.drop({ reason: 'event_rejected', events: [batch[index]!.event], status: outcome.status, reasons });
    }
    this.sent += batch.length - rejected.size;
  }

  // --- bookkeeping ---

  private enforceCap(): void {
    const excess = this.queue.length - this.maxQueue;
    if (excess > 0) {
      const oldest = this.queue.splice(0, excess);
      this.drop({ reason: 'queue_full', events: oldest.map((e) => e.event) });
    }
  }

  private drop(report: DropReport): void {
    this.dropped[report.reason] += report.events.length;
    try {
      this.onDrop?.(report);
    } catch {
      // a faulty callback must not break delivery
    }
  }

  private armInterval(): void {
    if (this.intervalTimer !== undefined || this.closed || this.queue.length === 0) return;
    const handle = this.setTimer(() => {
      this.intervalTimer = undefined;
      this.flushUpTo = this.seq;
      this.kick();
    }, this.flushIntervalMs);
    // In Node, a pending batch alone does not keep the process alive: call shutdown() before exit.
    (handle as { unref?: () => void } | undefined)?.unref?.();
    this.intervalTimer = handle;
  }

  private stopInterval(): void {
    if (this.intervalTimer === undefined) return;
    this.clearTimer(this.intervalTimer);
    this.intervalTimer = undefined;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.setTimer(resolve, ms);
    });
  }
}

/** The collector's `rejected: [{ index, reasons }]`, as index -> reasons, ignoring malformed entries. */
function rejectedIndexes(body: unknown, batchSize: number): Map<number, string[]> {
  const out = new Map<number, string[]>();
  const list = (body as { rejected?: unknown } | null | undefined)?.rejected;
  if (!Array.isArray(list)) return out;
  for (const item of list as unknown[]) {
    const { index, reasons } = (item ?? {}) as { index?: unknown; reasons?: unknown };
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= batchSize) continue;
    const texts = Array.isArray(reasons)
      ? reasons.map((r: unknown) => (typeof r === 'string' ? r : JSON.stringify(r)))
      : [];
    out.set(index, texts);
  }
  return out;
}

function int(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`createTracker: ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}
