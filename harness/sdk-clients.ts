// Generated events sent to a real collector through the player SDK's tracker (sdk/player.ts:
// its queue, batching, one request in flight, full-jitter retries of 429/5xx/network errors
// and timeouts), as a fleet of `clients` players would: each viewer always uses the same
// tracker, so its events leave in order. The tracker sends the generator's event_id (its
// `eventId` option), so a retry or a generated duplicate carries the same id, and the
// generator's truth still describes what reaches ClickHouse.
//
// A ledger on the wire (the tracker's injectable fetch, wrapping the global one) records what
// the collector acknowledged: every event of a 2xx answer that is not in its `rejected` list
// (the newly `accepted` and the `duplicates` of events it had already taken), with the
// event_time sent — the events the collector promised are durable, to be found in ClickHouse
// afterwards.
//
// Event times go out as the collector would have corrected them (the delivery's
// acceptedEventTime) with the tracker's true clock in sent_at, so no skew correction applies.
// Malformed records are not sent here (the SDK would complete some into valid events).
//
// `maxLagMs` bounds how far (in simulated delivery time) the unacknowledged events may trail
// what the pump writes elsewhere: holdBack(), called before every delivery, waits while the
// oldest unacknowledged delivery is older than that, so an outage of the collector holds the whole pump back instead of letting
// the partitions' watermarks run ahead of this stream (docs/semantics.md: events more than
// 20 minutes behind the watermark may be folded).
import type { EventDelivery } from '../generator/faults.js';
import { hash32 } from '../generator/rng.js';
import { createTracker, type FetchLike, type Tracker, type TrackerOptions } from '../sdk/player.js';

export interface SdkClientsOptions {
  /** Collector base URL, e.g. http://127.0.0.1:3001. */
  endpoint: string;
  writeKey: string;
  /** Trackers (players); a viewer's events always go through the same one. */
  clients: number;
  /** How far (simulated ms) the oldest unacknowledged event may trail the newest written. */
  maxLagMs?: number;
  /** More tracker options (defaults here: maxBatch 100, flushIntervalMs 500, maxRetries 20). */
  tracker?: Partial<TrackerOptions>;
}

export interface SdkLedger {
  /** Valid events handed to a tracker (generated duplicates counted once). */
  tracked: number;
  /** Event ids the collector acknowledged (2xx, not rejected), with the event_time sent. */
  acknowledged: Map<string, number>;
  /** Sum of the `accepted` counts of the collector's 2xx answers. */
  acceptedCount: number;
  /** Sum of the `duplicates` counts. */
  duplicateCount: number;
  /** Valid events the collector rejected one by one (none expected). */
  rejected: { event_id: string; reasons: string[] }[];
  requests: number;
  /** Answers by HTTP status; `network` for requests that got no answer (refused, reset, aborted). */
  answers: Record<string, number>;
  /** Requests whose answer took ≥ 1.5 s (then latency could have crossed the collector's 2 s skew threshold). */
  slowRequests: number;
  /** What the trackers gave up on, by reason (none expected). */
  dropped: Record<string, number>;
  retries: number;
}

export class SdkClients {
  readonly ledger: SdkLedger = {
    tracked: 0,
    acknowledged: new Map(),
    acceptedCount: 0,
    duplicateCount: 0,
    rejected: [],
    requests: 0,
    answers: {},
    slowRequests: 0,
    dropped: {},
    retries: 0,
  };
  /** Generated ids of the valid events handed to a tracker. */
  readonly trackedIds = new Set<string>();
  /** Viewers whose events went through here. */
  readonly viewers = new Set<string>();
  private readonly trackers: Tracker[];
  private nextId = '';
  /** Deliveries not yet acknowledged (or dropped), oldest first: [event_id, deliverAt]. */
  private pending: [string, number][] = [];
  private pendingHead = 0;
  private readonly settled = new Set<string>();
  private readonly maxLagMs: number;

  constructor(private readonly o: SdkClientsOptions) {
    this.maxLagMs = o.maxLagMs ?? 120_000;
    const fetch: FetchLike = (url, init) => this.send(url, init);
    this.trackers = Array.from({ length: o.clients }, () =>
      createTracker({
        endpoint: o.endpoint,
        writeKey: o.writeKey,
        fetch,
        eventId: () => this.nextId,
        maxBatch: 100,
        flushIntervalMs: 500,
        maxRetries: 20,
        onDrop: (d) => {
          this.ledger.dropped[d.reason] = (this.ledger.dropped[d.reason] ?? 0) + d.events.length;
          for (const e of d.events) this.settled.add(e.event_id);
        },
        ...o.tracker,
      }),
    );
  }

  /**
   * Resolves once no unacknowledged event is more than maxLagMs (simulated) older than
   * `deliverAt`: the pump calls it before every delivery, whichever way it goes.
   */
  async holdBack(deliverAt: number): Promise<void> {
    while (this.oldestPending() < deliverAt - this.maxLagMs) await new Promise((r) => setTimeout(r, 20));
  }

  /** Tracks one generated event on its viewer's tracker (after holdBack). */
  async write(d: EventDelivery): Promise<void> {
    await this.holdBack(d.deliverAt);
    const { event_id, sdk_version: _v, ...fields } = d.event;
    if (!this.trackedIds.has(event_id)) this.ledger.tracked++;
    this.trackedIds.add(event_id);
    this.viewers.add(d.viewer_id);
    this.pending.push([event_id, d.deliverAt]);
    this.nextId = event_id;
    this.trackers[hash32('sdk-client', d.viewer_id) % this.trackers.length]!.track({
      ...fields,
      event_time: d.acceptedEventTime,
    });
  }

  /** Requests in flight or waiting for a retry, over all trackers. */
  inFlight(): number {
    return this.trackers.reduce((n, t) => n + t.stats().inFlight, 0);
  }

  /** Delivers what is queued (retries included) and stops the trackers. */
  async close(): Promise<void> {
    await Promise.all(this.trackers.map((t) => t.shutdown()));
    for (const t of this.trackers) this.ledger.retries += t.stats().retries;
  }

  private oldestPending(): number {
    while (this.pendingHead < this.pending.length && this.settled.has(this.pending[this.pendingHead]![0]))
      this.pendingHead++;
    if (this.pendingHead > 10_000) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
    return this.pending[this.pendingHead]?.[1] ?? Infinity;
  }

  /** The wire: the real fetch, and the ledger of what the collector answered. */
  private async send(url: string, init: Parameters<FetchLike>[1]): Promise<Response> {
    const events = (JSON.parse(init.body) as { events: { event_id: string; event_time: number }[] }).events;
    const started = Date.now();
    this.ledger.requests++;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, init);
      text = await res.text();
    } catch (err) {
      this.count('network');
      throw err;
    } finally {
      if (Date.now() - started >= 1_500) this.ledger.slowRequests++;
    }
    this.count(String(res.status));
    if (res.status >= 200 && res.status < 300) {
      const answer = JSON.parse(text) as {
        accepted: number;
        duplicates: number;
        rejected: { index: number; reasons: string[] }[];
      };
      this.ledger.acceptedCount += answer.accepted;
      this.ledger.duplicateCount += answer.duplicates;
      const rejected = new Map(answer.rejected.map((r) => [r.index, r.reasons]));
      events.forEach((e, i) => {
        const reasons = rejected.get(i);
        if (reasons) this.ledger.rejected.push({ event_id: e.event_id, reasons });
        else this.ledger.acknowledged.set(e.event_id, e.event_time);
        this.settled.add(e.event_id);
      });
    }
    return new Response(text, { status: res.status, headers: res.headers });
  }

  private count(answer: string): void {
    this.ledger.answers[answer] = (this.ledger.answers[answer] ?? 0) + 1;
  }
}
