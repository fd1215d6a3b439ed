// Generated deliveries straight into the play-events topic, as generator/sinks.ts KafkaSink
// writes them (KafkaSink.record: event_time corrected, received_at = the delivery time;
// malformed records as undecodable bytes), but riding out a broker that goes away: a chunk
// Kafka did not acknowledge is sent again, every second, until it is (a server-side producer
// with a durable outbox would do the same). A re-sent chunk may duplicate records the broker
// had taken (after 10 minutes of refusals it gives up); the pipeline deduplicates by event_id (docs/semantics.md), as for the
// generator's own duplicates. A chunk also leaves once it holds deliveries `maxHoldMs` of
// simulated time apart, so that where traffic is sparse records do not wait in it while other
// paths (the collector) deliver later ones: the partitions' watermarks would run ahead of them.
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { Delivery, MalformedDelivery } from '../generator/faults.js';
import { emptyStats, KafkaSink, type Sink, type SinkStats } from '../generator/sinks.js';
import { AvroProducer } from '../lib/kafka/producer.js';
import type { RegistryClient } from '../lib/kafka/registry.js';
import { playEventSchema } from '../schemas/avro.js';
import type { PlayEvent } from '../schemas/types.js';

export class PatientKafkaSink implements Sink {
  readonly name = 'kafka';
  /** Chunks sent again after Kafka refused or lost them. */
  resends = 0;
  private readonly producer: AvroProducer<PlayEvent>;
  private readonly raw: Producer;
  private readonly s = emptyStats();
  private events: PlayEvent[] = [];
  private malformed: MalformedDelivery[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private schemaId = 0;
  /** Simulated delivery time of the chunk's first record. */
  private firstAt = Infinity;

  constructor(
    kafka: Kafka,
    registry: RegistryClient,
    readonly topic: string,
    private readonly chunk = 500,
    private readonly maxInFlight = 4,
    private readonly maxHoldMs = 5_000,
    private readonly onResend: (err: unknown) => void = () => undefined,
  ) {
    this.producer = new AvroProducer<PlayEvent>(kafka, registry, {
      topic,
      schema: playEventSchema(),
      key: (e) => e.viewer_id,
    });
    this.raw = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    await this.raw.connect();
    this.schemaId = await this.producer.serde.schemaId();
  }

  async write(d: Delivery): Promise<void> {
    if (d.deliverAt - this.firstAt > this.maxHoldMs) await this.flush();
    this.s.written++;
    if (d.kind === 'event') this.events.push(KafkaSink.record(d));
    else this.malformed.push(d);
    this.firstAt = Math.min(this.firstAt, d.deliverAt);
    if (this.events.length + this.malformed.length >= this.chunk) await this.flush();
  }

  async close(): Promise<void> {
    try {
      await this.flush();
      await Promise.all(this.inflight);
    } finally {
      await this.producer.disconnect().catch(() => undefined);
      await this.raw.disconnect().catch(() => undefined);
    }
  }

  stats(): SinkStats {
    return { ...this.s, reasons: { ...this.s.reasons } };
  }

  private async flush(): Promise<void> {
    const events = this.events;
    const malformed = this.malformed;
    this.events = [];
    this.malformed = [];
    this.firstAt = Infinity;
    if (events.length === 0 && malformed.length === 0) return;
    while (this.inflight.size >= this.maxInFlight) await Promise.race(this.inflight);
    const p: Promise<void> = this.sendUntilTaken(events, malformed).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  private async sendUntilTaken(events: PlayEvent[], malformed: MalformedDelivery[]): Promise<void> {
    const messages = malformed.map((m) => {
      const value = Buffer.from(m.bytes);
      if (m.framed) value.writeUInt32BE(this.schemaId, 1);
      return { key: m.viewer_id, value };
    });
    let eventsTaken = events.length === 0;
    let malformedTaken = messages.length === 0;
    const giveUpAt = Date.now() + 600_000;
    for (;;) {
      try {
        if (!eventsTaken) {
          await this.producer.send(events);
          eventsTaken = true;
          this.s.accepted += events.length;
        }
        if (!malformedTaken) {
          await this.raw.send({ topic: this.topic, acks: -1, messages });
          malformedTaken = true;
        }
        this.s.requests++;
        return;
      } catch (err) {
        if (Date.now() > giveUpAt) throw err;
        this.resends++;
        this.onResend(err);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }
}
