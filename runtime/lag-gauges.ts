// The per-partition gauges of one processor instance (consumer lag, watermark delay), kept to
// the partitions this instance owns. With several instances in a group each partition is
// reported by its owner only, so a sum over instances is the group's lag:
//   - a revoked partition's series are removed at once (the new owner reports it);
//   - a newly assigned partition reports the group's lag (topic end − committed offset) until
//     its first batch does: kafkajs passes no empty batches, so a partition with nothing new to
//     read would otherwise have no series on its owner at all.
import type { Kafka } from 'kafkajs';
import type { Logger } from '../lib/logger.js';
import type { ProcessorMetrics } from '../lib/metrics.js';

export interface LagGaugesDeps {
  name: string;
  metrics: Pick<ProcessorMetrics, 'consumerLag' | 'watermarkDelay'>;
  /** Lag per partition from the group's committed offsets (default: asked of Kafka's admin API). */
  groupLag(partitions: readonly number[]): Promise<Map<number, number>>;
  log: Logger;
}

export class LagGauges {
  private owned = new Set<number>();
  /** Partitions a batch reported since they were assigned: their value is fresher than the group's. */
  private readonly measured = new Set<number>();
  /** Assignment generation per owned partition, so a late answer for an earlier one is dropped. */
  private readonly since = new Map<number, number>();
  private generation = 0;

  constructor(private readonly d: LagGaugesDeps) {}

  /** A new assignment (a rebalance): drops the revoked partitions' series, seeds the new ones'. */
  assign(mine: ReadonlySet<number>): void {
    const gen = ++this.generation;
    for (const p of this.owned) if (!mine.has(p)) this.remove(p);
    const added = [...mine].filter((p) => !this.owned.has(p));
    this.owned = new Set(mine);
    for (const p of added) this.since.set(p, gen);
    if (!added.length) return;
    this.d.groupLag(added).then(
      (lags) => {
        for (const [p, lag] of lags) {
          if (this.since.get(p) === gen && !this.measured.has(p))
            this.d.metrics.consumerLag.set({ processor: this.d.name, partition: String(p) }, lag);
        }
      },
      (err: Error) => this.d.log.debug({ err: err.message }, 'could not read the group lag of new partitions'),
    );
  }

  /** What a batch saw: lag after it, and wall clock minus the partition's event-time watermark. */
  batch(partition: number, lag: number, watermarkDelaySeconds: number | undefined): void {
    if (!this.owned.has(partition)) return;
    this.measured.add(partition);
    const labels = { processor: this.d.name, partition: String(partition) };
    this.d.metrics.consumerLag.set(labels, lag);
    if (watermarkDelaySeconds !== undefined) this.d.metrics.watermarkDelay.set(labels, watermarkDelaySeconds);
  }

  /** The instance left the group (stop, crash teardown): it owns nothing until the next assignment. */
  clear(): void {
    for (const p of this.owned) this.remove(p);
    this.owned = new Set();
    this.generation++;
  }

  private remove(p: number): void {
    const labels = { processor: this.d.name, partition: String(p) };
    this.d.metrics.consumerLag.remove(labels);
    this.d.metrics.watermarkDelay.remove(labels);
    this.measured.delete(p);
    this.since.delete(p);
  }
}

/** The group's lag per partition: topic end minus the committed offset (or the topic's start). */
export async function groupLagOf(
  kafka: Kafka,
  groupId: string,
  topic: string,
  partitions: readonly number[],
): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const out = new Map<number, number>();
    for (const p of partitions) {
      const end = ends.find((o) => o.partition === p);
      if (!end) continue;
      const c = Number(committed?.partitions.find((x) => x.partition === p)?.offset ?? -1);
      const from = c < 0 ? Number(end.low) : c;
      out.set(p, Math.max(0, Number(end.high) - from));
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}
