// Where generated deliveries go.
//
// - CollectorSink: POST /v1/events, as clients would. Events of clients with the same clock
//   skew share requests (≤ maxBatch events), because the collector corrects skew per request
//   from `sent_at`, which is stamped in the client's clock just before each attempt. 429,
//   5xx, timeouts and network errors are retried with jittered exponential backoff (at
//   least Retry-After); each answer's per-event rejections are checked against what was sent
//   (malformed records must be rejected, valid events must not be).
// - KafkaSink: straight to the play-events topic with the Avro producer, keyed by viewer_id,
//   as a server-side producer would: event_time already corrected (rule 3), received_at =
//   the simulated delivery time; malformed records are raw undecodable bytes.
// - NullSink: nothing leaves the process (dry runs: the truth alone).
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import { AvroProducer } from '../lib/kafka/producer.js';
import type { RegistryClient } from '../lib/kafka/registry.js';
import { playEventSchema } from '../schemas/avro.js';
import type { PlayEvent } from '../schemas/types.js';
import type { Delivery, EventDelivery, MalformedDelivery } from './faults.js';
import { CLAMP_FUTURE_MS, SKEW_THRESHOLD_MS } from './truth.js';

export interface SinkStats {
  /** Records handed to the sink. */
  written: number;
  /** Valid events the destination acknowledged (collector: its `accepted` count). */
  accepted: number;
  /** Events the collector reported as duplicates. */
  duplicates: number;
  /** Malformed records refused, as they should be. */
  rejectedMalformed: number;
  /** Valid events refused: the truth no longer holds for them. */
  rejectedValid: number;
  /** Malformed records the destination took (collector target): a validation gap. */
  malformedAccepted: number;
  /** Records given up after retries or refused as a whole batch (non-retriable status). */
  failed: number;
  requests: number;
  retries: number;
  /** Valid events whose accepted event_time was more than 5 s ahead of the wall clock when sent (would be clamped). */
  aheadOfClock: number;
  /**
   * Events in requests whose round trip was long enough that latency may have moved the
   * collector's skew estimate across a rounding boundary (≥ 500 ms for a skewed client,
   * ≥ 2 s minus the skew for the others). Usually harmless (processing time is part of the
   * round trip, not of the latency the collector sees), but the truth is not guaranteed then.
   */
  slowRoundTrips: number;
  /** Rejection reasons of valid events (and of failed batches), with counts. */
  reasons: Record<string, number>;
}

export interface Sink {
  readonly name: string;
  write(d: Delivery): Promise<void>;
  /** Sends whatever is buffered and waits for every answer. */
  close(): Promise<void>;
  stats(): SinkStats;
}

export const emptyStats = (): SinkStats => ({
  written: 0,
  accepted: 0,
  duplicates: 0,
  rejectedMalformed: 0,
  rejectedValid: 0,
  malformedAccepted: 0,
  failed: 0,
  requests: 0,
  retries: 0,
  aheadOfClock: 0,
  slowRoundTrips: 0,
  reasons: {},
});

const bump = (stats: SinkStats, reason: string, n = 1): void => {
  stats.reasons[reason] = (stats.reasons[reason] ?? 0) + n;
};

export class NullSink implements Sink {
  readonly name = 'none';
  private readonly s = emptyStats();

  async write(d: Delivery): Promise<void> {
    this.s.written++;
    if (d.kind === 'event' && !d.duplicate) this.s.accepted++;
  }

  async close(): Promise<void> {}

  stats(): SinkStats {
    return { ...this.s, reasons: { ...this.s.reasons } };
  }
}

export interface CollectorSinkOptions {
  /** Full URL of the events endpoint, e.g. http://127.0.0.1:3001/v1/events. */
  url: string;
  writeKey: string;
  /** Events per request (the collector takes up to 500; players send up to 100). */
  maxBatch?: number;
  /** Requests in flight. */
  concurrency?: number;
  /** Attempts per request before its events count as failed. */
  maxAttempts?: number;
  /** Per attempt, answer included. */
  timeoutMs?: number;
  /** A partly filled request waits for at most this many later deliveries before it leaves. */
  maxHold?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

interface Bucket {
  items: Delivery[];
  firstSeq: number;
}

interface CollectorAnswer {
  accepted?: number;
  duplicates?: number;
  rejected?: Array<{ index: number; reasons?: string[] }>;
}

/** The collector refused the write key or the endpoint is wrong: retrying cannot help. */
export class CollectorRefused extends Error {
  override name = 'CollectorRefused';
}

export class CollectorSink implements Sink {
  readonly name = 'collector';
  private readonly o: Required<Omit<CollectorSinkOptions, 'fetch' | 'now' | 'sleep'>>;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly buckets = new Map<number, Bucket>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly s = emptyStats();
  private seq = 0;
  private fatal: Error | undefined;

  constructor(options: CollectorSinkOptions) {
    this.o = {
      maxBatch: 100,
      concurrency: 4,
      maxAttempts: 10,
      timeoutMs: 15_000,
      maxHold: 20_000,
      baseBackoffMs: 250,
      maxBackoffMs: 10_000,
      ...stripUndefined(options),
    } as CollectorSink['o'];
    this.fetchImpl = options.fetch ?? fetch;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async write(d: Delivery): Promise<void> {
    if (this.fatal) throw this.fatal;
    this.s.written++;
    if (d.kind === 'event' && d.acceptedEventTime > this.now() + CLAMP_FUTURE_MS) this.s.aheadOfClock++;
    const seq = this.seq++;
    let b = this.buckets.get(d.skewMs);
    if (!b) {
      b = { items: [], firstSeq: seq };
      this.buckets.set(d.skewMs, b);
    }
    b.items.push(d);
    if (b.items.length >= this.o.maxBatch) {
      this.buckets.delete(d.skewMs);
      await this.dispatch(d.skewMs, b.items);
    }
    if (seq % 64 === 0) {
      for (const [skew, bucket] of [...this.buckets]) {
        if (seq - bucket.firstSeq >= this.o.maxHold) {
          this.buckets.delete(skew);
          await this.dispatch(skew, bucket.items);
        }
      }
    }
  }

  async close(): Promise<void> {
    for (const [skew, bucket] of [...this.buckets]) {
      this.buckets.delete(skew);
      await this.dispatch(skew, bucket.items);
    }
    await Promise.all(this.inflight);
    if (this.fatal) throw this.fatal;
  }

  stats(): SinkStats {
    return { ...this.s, reasons: { ...this.s.reasons } };
  }

  private async dispatch(skewMs: number, items: Delivery[]): Promise<void> {
    while (this.inflight.size >= this.o.concurrency) await Promise.race(this.inflight);
    if (this.fatal) throw this.fatal;
    const p: Promise<void> = this.send(skewMs, items)
      .catch((err: unknown) => {
        this.fatal ??= err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  private async send(skewMs: number, items: Delivery[]): Promise<void> {
    const events = JSON.stringify(items.map((d) => (d.kind === 'event' ? d.event : d.body)));
    for (let attempt = 1; ; attempt++) {
      const stampedAt = this.now();
      const sentAt = stampedAt + skewMs;
      this.s.requests++;
      let status = 0;
      let retryAfterMs: number | undefined;
      let answer: CollectorAnswer | undefined;
      let problem = '';
      try {
        const res = await this.fetchImpl(this.o.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-write-key': this.o.writeKey },
          body: `{"sent_at":${sentAt},"events":${events}}`,
          signal: AbortSignal.timeout(this.o.timeoutMs),
        });
        status = res.status;
        const text = await res.text();
        if (res.ok) answer = (text ? JSON.parse(text) : {}) as CollectorAnswer;
        else problem = text.slice(0, 300);
        const ra = res.headers.get('retry-after');
        if (ra && /^\d+(\.\d+)?$/.test(ra.trim())) retryAfterMs = Math.ceil(Number(ra) * 1000);
      } catch (err) {
        problem = (err as Error).message;
      }
      if (answer) {
        const safe = Math.abs(skewMs) >= SKEW_THRESHOLD_MS ? 500 : SKEW_THRESHOLD_MS - Math.abs(skewMs);
        if (this.now() - stampedAt >= safe) this.s.slowRoundTrips += items.length;
        return this.account(items, answer);
      }
      if (status === 401 || status === 403 || status === 404) {
        throw new CollectorRefused(`collector answered ${status} for ${this.o.url}: ${problem}`);
      }
      if (status === 413 && items.length > 1) {
        const half = Math.ceil(items.length / 2);
        await this.send(skewMs, items.slice(0, half));
        await this.send(skewMs, items.slice(half));
        return;
      }
      const retriable = status === 0 || status === 429 || status >= 500;
      if (!retriable || attempt >= this.o.maxAttempts) {
        this.s.failed += items.length;
        bump(this.s, status === 0 ? `network: ${problem.slice(0, 80)}` : `http_${status}`, items.length);
        return;
      }
      this.s.retries++;
      const ceiling = Math.min(this.o.maxBackoffMs, this.o.baseBackoffMs * 2 ** (attempt - 1));
      await this.sleep(Math.max(retryAfterMs ?? 0, Math.floor(Math.random() * ceiling)));
    }
  }

  private account(items: Delivery[], answer: CollectorAnswer): void {
    this.s.accepted += answer.accepted ?? 0;
    this.s.duplicates += answer.duplicates ?? 0;
    const rejected = new Map<number, string[]>();
    for (const r of answer.rejected ?? []) rejected.set(r.index, r.reasons ?? []);
    items.forEach((d, i) => {
      const reasons = rejected.get(i);
      if (d.kind === 'malformed') {
        if (reasons) this.s.rejectedMalformed++;
        else this.s.malformedAccepted++;
      } else if (reasons) {
        this.s.rejectedValid++;
        for (const r of reasons.length ? reasons : ['(no reason)']) bump(this.s, r);
      }
    });
  }
}

export interface KafkaSinkOptions {
  /** Records per producer call. */
  chunk?: number;
  /** Producer calls in flight. */
  maxInFlight?: number;
  /** How play events are compressed (the producer's default: none). */
  compression?: 'none' | 'gzip';
}

export class KafkaSink implements Sink {
  readonly name = 'kafka';
  private readonly producer: AvroProducer<PlayEvent>;
  private readonly raw: Producer;
  private readonly s = emptyStats();
  private events: PlayEvent[] = [];
  private malformed: MalformedDelivery[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private schemaId = 0;
  private fatal: Error | undefined;
  private readonly chunk: number;
  private readonly maxInFlight: number;

  constructor(
    kafka: Kafka,
    registry: RegistryClient,
    readonly topic: string,
    options: KafkaSinkOptions = {},
  ) {
    this.chunk = options.chunk ?? 1000;
    this.maxInFlight = options.maxInFlight ?? 4;
    this.producer = new AvroProducer<PlayEvent>(kafka, registry, {
      topic,
      schema: playEventSchema(),
      key: (e) => e.viewer_id,
      ...(options.compression ? { compression: options.compression } : {}),
    });
    this.raw = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    await this.raw.connect();
    this.schemaId = await this.producer.serde.schemaId();
  }

  /** The PlayEvent a server-side producer writes for this delivery. */
  static record(d: EventDelivery): PlayEvent {
    return { ...d.event, event_time: d.acceptedEventTime, received_at: d.deliverAt };
  }

  async write(d: Delivery): Promise<void> {
    if (this.fatal) throw this.fatal;
    this.s.written++;
    if (d.kind === 'event') this.events.push(KafkaSink.record(d));
    else this.malformed.push(d);
    if (this.events.length + this.malformed.length >= this.chunk) await this.flush();
  }

  private async flush(): Promise<void> {
    const events = this.events;
    const malformed = this.malformed;
    this.events = [];
    this.malformed = [];
    if (events.length === 0 && malformed.length === 0) return;
    while (this.inflight.size >= this.maxInFlight) await Promise.race(this.inflight);
    if (this.fatal) throw this.fatal;
    const work = async (): Promise<void> => {
      const jobs: Array<Promise<unknown>> = [];
      if (events.length) jobs.push(this.producer.send(events).then(() => (this.s.accepted += events.length)));
      if (malformed.length) {
        const messages = malformed.map((m) => {
          const value = Buffer.from(m.bytes);
          if (m.framed) value.writeUInt32BE(this.schemaId, 1);
          return { key: m.viewer_id, value };
        });
        jobs.push(this.raw.send({ topic: this.topic, acks: -1, messages }));
      }
      this.s.requests += jobs.length;
      await Promise.all(jobs);
    };
    const p: Promise<void> = work()
      .catch((err: unknown) => {
        this.s.failed += events.length + malformed.length;
        this.fatal ??= err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  async close(): Promise<void> {
    try {
      await this.flush();
      await Promise.all(this.inflight);
    } finally {
      await this.producer.disconnect().catch(() => undefined);
      await this.raw.disconnect().catch(() => undefined);
    }
    if (this.fatal) throw this.fatal;
  }

  stats(): SinkStats {
    return { ...this.s, reasons: { ...this.s.reasons } };
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
