// The producer library: Confluent-framed Avro values on a kafkajs idempotent producer
// (acks=all). Concurrent `send` calls are coalesced into one Kafka request at a time
// (linger-style batching), and the work waiting is bounded: past `maxQueuedMessages` a send
// fails fast with a retriable VP_ERR_BACKPRESSURE instead of growing memory.
//
//   const producer = new AvroProducer<PlayEvent>(kafka, registry, {
//     topic: topics().playEvents, schema: playEventSchema(), key: (e) => e.viewer_id,
//   });
//   await producer.connect();
//   await producer.send(events); // resolves only once Kafka acknowledged every record
//   await producer.disconnect();
import { CompressionTypes, Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import { ViewpulseError } from '../errors.js';
import { valueSubject } from '../../schemas/topics.js';
import type { RegistryClient } from './registry.js';
import { AvroSerde } from './serde.js';

export interface AvroProducerOptions<T> {
  topic: string;
  schema: object;
  /** Partition key of a value; records with one key keep their order. */
  key: (value: T) => string;
  /**
   * none (default) or gzip. Play events are read by four processors, and each inflated every
   * gzip batch again. Side by side at 5,000 live events/s (`bench/processors.ts --freshness-only
   * --rate 5000 --probes 15`), freshness p50 was 1.2–2.2 s with gzip and 0.5–0.6 s without; in
   * the full bench at 5,357 events/s, 40 of 50 probes timed out with gzip and 2–7 without. gzip
   * trades that CPU for about a third of the bytes.
   */
  compression?: 'gzip' | 'none';
  /** Most records in one Kafka request. */
  maxBatchMessages?: number;
  /** Most records waiting for a request before send() fails with VP_ERR_BACKPRESSURE. */
  maxQueuedMessages?: number;
  /** How long a send waits for company before its request goes out. */
  lingerMs?: number;
}

interface Pending {
  messages: Message[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class AvroProducer<T> {
  readonly serde: AvroSerde<T>;
  private readonly producer: Producer;
  private readonly queue: Pending[] = [];
  private queued = 0;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly opts: Required<Omit<AvroProducerOptions<T>, 'schema'>>;

  constructor(kafka: Kafka, registry: RegistryClient, options: AvroProducerOptions<T>) {
    this.opts = {
      compression: 'none',
      maxBatchMessages: 5_000,
      maxQueuedMessages: 100_000,
      lingerMs: 2,
      ...options,
    };
    this.serde = new AvroSerde<T>(registry, valueSubject(options.topic), options.schema);
    // Idempotent with one request in flight: retries can neither duplicate nor reorder.
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    await this.serde.schemaId();
  }

  /** Encodes and sends `values`; resolves when Kafka acknowledged all of them (acks=all). */
  async send(values: readonly T[], headers?: Record<string, string>): Promise<void> {
    if (this.closed) throw new ViewpulseError('VP_ERR_CLOSED', 'producer is disconnected', { topic: this.opts.topic });
    if (values.length === 0) return;
    if (this.queued + values.length > this.opts.maxQueuedMessages) {
      throw new ViewpulseError('VP_ERR_BACKPRESSURE', `${this.queued} records already waiting`, {
        topic: this.opts.topic,
      });
    }
    const messages = await Promise.all(
      values.map(async (value) => ({ key: this.opts.key(value), value: await this.serde.encode(value), headers })),
    );
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ messages, resolve, reject });
      this.queued += messages.length;
      this.kick();
    });
  }

  /** Sends a tombstone (null value) for `key`, e.g. to delete a catalog entry. */
  async tombstone(key: string): Promise<void> {
    await this.producer.send({ topic: this.opts.topic, acks: -1, messages: [{ key, value: null }] });
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      if (this.opts.lingerMs > 0) await new Promise((r) => setTimeout(r, this.opts.lingerMs));
      while (this.queue.length > 0) await this.flushOnce();
    })().finally(() => {
      this.flushing = undefined;
      if (this.queue.length > 0) this.kick();
    });
  }

  private async flushOnce(): Promise<void> {
    const batch: Pending[] = [];
    let count = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (batch.length > 0 && count + next.messages.length > this.opts.maxBatchMessages) break;
      batch.push(this.queue.shift()!);
      count += next.messages.length;
    }
    try {
      await this.producer.send({
        topic: this.opts.topic,
        acks: -1,
        compression: this.opts.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        messages: batch.flatMap((p) => p.messages),
      });
      for (const p of batch) p.resolve();
    } catch (err) {
      const wrapped = new ViewpulseError(
        'VP_ERR_KAFKA',
        (err as Error).message,
        { topic: this.opts.topic },
        { cause: err },
      );
      for (const p of batch) p.reject(wrapped);
    } finally {
      this.queued -= count;
    }
  }

  /** Waits for everything queued, then disconnects. */
  async disconnect(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.producer.disconnect();
  }
}
