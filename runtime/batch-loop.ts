// The thin eachBatch loop, one partition's batch at a time:
//   decode (schema ids cached) → the partition's task (restored from its checkpoint on first
//   use) → the catalog fetches the batch's videos → process each record (pure) → its rows and
//   dead letters pend → resolve its offset → flush when due (it drains every task) → heartbeat.
// An offset is resolved only after its record was processed; nothing is committed here (the
// flush commits after ClickHouse acknowledged, flush.ts). A due flush is started, not awaited:
// ClickHouse inserts while the next batches are processed.
import type { EachBatchPayload, KafkaMessage, Consumer } from 'kafkajs';
import { dlq as dlqOutcome, outcomeLabel, type Outcome } from '../processors/outcome.js';
import type { InputRecord, ProcessorDefinition, VideoLookup } from '../processors/contract.js';
import { TABLES } from '../schemas/tables.js';
import { ViewpulseError, type ErrorContext } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { ProcessorMetrics } from '../lib/metrics.js';
import type { StateStore } from './checkpoint-store.js';
import { deadLetterOf } from './dead-letters.js';
import type { FlowControl } from './flow-control.js';
import { drainTask, type Flusher } from './flush.js';
import type { LagGauges } from './lag-gauges.js';
import type { RunnerOptions } from './options.js';
import { PartitionTask, type Partitions } from './partition-task.js';
import type { Supervisor } from './supervisor.js';

/** What decodes the input topic's values (lib/kafka/serde.ts AvroSerde). */
export interface Decoder<T> {
  decode(buf: Buffer, context?: ErrorContext): Promise<T>;
}

/** The catalog side input; `ensure` fetches videos it does not know yet. */
export type RuntimeCatalog = VideoLookup & { ensure?: (ids: Iterable<string>) => Promise<void> };

export interface BatchLoopDeps<V> {
  name: string;
  definition: ProcessorDefinition<V>;
  /** Null record values (tombstones) reach the processor as null. */
  serde: Decoder<NonNullable<V>>;
  catalog: RuntimeCatalog;
  /**
   * Videos the catalog did not know → when the wait for them began (-1: given up), for all
   * partitions of the processor; kept across crashes and restarts of the consumer, so a video
   * given up on does not make every restart wait again.
   */
  catalogWaits: Map<string, number>;
  videoIdOf?: (value: NonNullable<V>) => string | undefined;
  partitions: Partitions<V>;
  store: StateStore;
  flow: FlowControl;
  supervisor: Supervisor;
  flusher: Flusher<V>;
  /** Consumer lag and watermark delay of the partitions this instance owns. */
  lag: Pick<LagGauges, 'batch'>;
  /** The current consumer (a restart replaces it). */
  consumer(): Pick<Consumer, 'seek' | 'pause' | 'resume'>;
  /** The partitions the group last assigned to this instance (restored together). */
  assigned(): ReadonlySet<number>;
  metrics: ProcessorMetrics;
  log: Logger;
  now(): number;
  opts: Pick<RunnerOptions, 'flushRows' | 'flushIntervalMs' | 'catalogHoldMs' | 'stopAt'>;
}

interface Decoded<V> {
  message: KafkaMessage;
  /** undefined: undecodable (see error) */
  value: V | undefined;
  /** The record's video (videoIdOf), looked up once per batch in the catalog. */
  videoId?: string;
  error?: ViewpulseError;
}

/** Decodes every record; a retriable failure (the registry down) is thrown, so kafkajs retries the batch. */
async function decodeAll<V>(serde: Decoder<NonNullable<V>>, batch: EachBatchPayload['batch']): Promise<Decoded<V>[]> {
  const decoded: Decoded<V>[] = [];
  for (const message of batch.messages) {
    if (message.value === null) {
      decoded.push({ message, value: null as V });
      continue;
    }
    try {
      const value = await serde.decode(message.value, {
        topic: batch.topic,
        partition: batch.partition,
        offset: message.offset,
      });
      decoded.push({ message, value: value as V });
    } catch (err) {
      if (err instanceof ViewpulseError && err.retriable) throw err; // registry down: kafkajs retries the batch
      decoded.push({ message, value: undefined, error: err as ViewpulseError });
    }
  }
  return decoded;
}

/** How often the group hears from a batch that waits for restores. */
const RESTORE_HEARTBEAT_MS = 1_000;

/** Awaits `work` while telling the group coordinator every second that this member is alive. */
async function whileBeating<T>(work: Promise<T>, heartbeat: () => Promise<void>): Promise<T> {
  // kafkajs sends one only when its heartbeat interval passed; a rebalance it reports is met
  // by the batch's own heartbeat at its end
  const timer = setInterval(() => void heartbeat().catch(() => undefined), RESTORE_HEARTBEAT_MS);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/**
 * The partition's task, created from its saved state the first time the partition is met.
 * Every other assigned partition not loaded yet is restored with it, side by side: after a
 * rebalance that costs one changelog read, not one per partition in turn, and the group's
 * heartbeat goes on meanwhile (a member silent past its session timeout would be dropped,
 * and its partitions moved again).
 */
async function taskOf<V>(
  d: BatchLoopDeps<V>,
  partition: number,
  heartbeat: () => Promise<void>,
): Promise<PartitionTask<V>> {
  const known = d.partitions.get(partition);
  if (known) return known;
  const todo = [...new Set([partition, ...d.assigned()])].filter((p) => !d.partitions.has(p));
  const started = d.now();
  const loaded = await whileBeating(Promise.allSettled(todo.map((p) => d.store.load(p))), heartbeat);
  let task: PartitionTask<V> | undefined;
  let failed: unknown;
  for (const [i, r] of loaded.entries()) {
    const p = todo[i]!;
    // one that failed is loaded again by its own next batch
    if (r.status === 'rejected') {
      if (p === partition) failed = r.reason;
      else d.log.warn({ partition: p, err: (r.reason as Error).message }, 'restore failed; its next batch tries again');
      continue;
    }
    const t = new PartitionTask<V>(
      p,
      d.definition.create(p, r.value?.snapshot ?? new Map(), d.catalog),
      r.value?.offset ?? -1,
    );
    d.partitions.add(t, d.now());
    d.log.info({ partition: p, checkpoint: t.coveredThrough }, 'partition state restored');
    if (p === partition) task = t;
  }
  d.metrics.restoreSeconds.set({ processor: d.name }, (d.now() - started) / 1000);
  if (!task) throw failed;
  return task;
}

/**
 * The batch's videos the catalog does not know (after `ensure` asked for them): each starts
 * its wait now unless it is waiting already — together, so a run of unknown videos costs one
 * wait, not one after the other. Known ones are forgotten.
 */
function unknownVideos<V>(d: BatchLoopDeps<V>, ids: readonly string[]): Set<string> {
  const unknown = new Set<string>();
  const now = d.now();
  for (const id of ids) {
    if (d.catalog.get(id)) {
      d.catalogWaits.delete(id);
      continue;
    }
    unknown.add(id);
    if (d.catalogWaits.has(id)) continue;
    d.catalogWaits.set(id, now);
    if (d.catalogWaits.size > MAX_REMEMBERED_VIDEOS) {
      // the oldest entry goes (a Map iterates in insertion order)
      d.catalogWaits.delete(d.catalogWaits.keys().next().value!);
    }
  }
  return unknown;
}

/**
 * Whether a record of a video the catalog does not know must wait: it has been unknown for
 * less than catalogHoldMs (docs/semantics.md, "The catalog"). Numbers are never computed from
 * "unknown" while the catalog is merely late; a video still unknown after the hold is applied
 * as "not in the catalog" and counted in viewpulse_processor_catalog_misses_total.
 */
function waitsForCatalog<V>(d: BatchLoopDeps<V>, id: string): boolean {
  if (d.opts.catalogHoldMs <= 0) return false;
  const since = d.catalogWaits.get(id);
  if (since === undefined || since < 0) return false;
  const now = d.now();
  if (now - since < d.opts.catalogHoldMs) return true;
  // Given up on this video: remembered (as -1) so its next records do not wait again.
  d.catalogWaits.set(id, -1);
  d.metrics.catalogMisses.inc({ processor: d.name });
  d.log.warn({ video_id: id, heldMs: now - since }, 'video still not in the catalog: applying its events as unknown');
  return false;
}

/** Pauses one partition for a moment: its batch is fetched again after the resume. */
function holdPartition<V>(d: BatchLoopDeps<V>, topic: string, partition: number): void {
  const consumer = d.consumer();
  consumer.pause([{ topic, partitions: [partition] }]);
  d.metrics.catalogHolds.inc({ processor: d.name });
  setTimeout(() => {
    // The consumer may have been closed meanwhile (stop, crash, restart): nothing to resume.
    // While the whole topic is paused (ClickHouse down) its own resume covers this partition.
    if (d.consumer() !== consumer || d.flow.paused) return;
    try {
      consumer.resume([{ topic, partitions: [partition] }]);
    } catch {
      // not running any more
    }
  }, CATALOG_RETRY_MS).unref();
}

/** Unknown videos a partition remembers (waiting, or given up on). */
const MAX_REMEMBERED_VIDEOS = 10_000;

/** How soon a partition held for the catalog looks again. */
const CATALOG_RETRY_MS = 250;

export async function processBatch<V>(
  d: BatchLoopDeps<V>,
  { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload,
): Promise<void> {
  const { name, metrics } = d;
  const partition = batch.partition;
  // Fetched before a pause took effect: leave it unresolved; it is fetched again on resume.
  // After a crash nothing more is processed: the restart replays from the checkpoint.
  // Fetched before a seek: kafkajs fetches again from the seek.
  if (d.flow.paused || d.supervisor.crashing || isStale()) return;
  // Decode first (schema ids are cached), so the catalog can fetch the batch's videos at once.
  const decoded = await decodeAll(d.serde, batch);
  const first = Number(batch.firstOffset() ?? batch.messages[0]?.offset ?? 0);
  // Where kafkajs fetched from: the first record may come later (a compacted input), the
  // fetch position not. Typed in kafkajs' Batch class, not in its .d.ts.
  const fetched = Number((batch as { fetchedOffset?: string }).fetchedOffset ?? first);
  const held = d.partitions.get(partition);
  if (held && fetched > held.lastOffset + 1) {
    // Kafka's position moved past what this task processed: another instance owned the
    // partition meanwhile (this one was dropped from the group, e.g. silent past its session
    // timeout, and came back with it) and committed further. Continued from memory, records
    // would be skipped, and rows from a state that missed them overwrite good ones: restore it.
    d.log.warn(
      { partition, fetched, processed: held.lastOffset },
      'partition moved on elsewhere meanwhile: restoring it from its checkpoint',
    );
    d.partitions.drop(partition);
  }
  let task: PartitionTask<V>;
  const ids: string[] = [];
  try {
    task = await taskOf(d, partition, heartbeat);
    for (const r of decoded) {
      const id = r.value != null && d.videoIdOf ? d.videoIdOf(r.value as NonNullable<V>) : undefined;
      if (id) {
        r.videoId = id;
        ids.push(id);
      }
    }
    await d.catalog.ensure?.(ids);
  } catch (err) {
    // A Kafka error of the state store (restoring a partition): back to kafkajs, which
    // retries the batch (the next restore starts with a fresh producer).
    if ((err as Error).name.startsWith('KafkaJS')) throw err;
    // ClickHouse (checkpoint or catalog) unreachable: nothing was resolved, so the batch is
    // fetched again once we resume.
    d.flow.pause(err as Error);
    return;
  }
  d.supervisor.enterBatch(partition, task.checkpointed, first);
  if (fetched > task.coveredThrough + 1 && task.lastOffset === task.coveredThrough) {
    // Kafka's committed offset is ahead of our checkpoint (e.g. state was reset): go back.
    d.log.warn({ partition, fetched, checkpoint: task.coveredThrough }, 'seeking back to the checkpoint');
    d.consumer().seek({ topic: batch.topic, partition, offset: String(task.coveredThrough + 1) });
    return;
  }
  metrics.batchSize.observe({ processor: name }, batch.messages.length);
  const unknown = unknownVideos(d, ids);
  const outcomes = new Map<string, number>();
  const stopAt = d.opts.stopAt?.get(partition) ?? Infinity;

  for (const r of decoded) {
    if (!isRunning() || isStale() || !d.partitions.has(partition)) break;
    const offset = Number(r.message.offset);
    if (offset <= task.lastOffset) {
      // Already applied (in the restored state, or by this task before a refetch): resolve it
      // too, or a batch made only of such records would be fetched again and again.
      resolveOffset(r.message.offset);
      continue;
    }
    if (offset >= stopAt) {
      // The end of a bounded replay (--to): this partition is done; the rest stays unread.
      d.consumer().pause([{ topic: batch.topic, partitions: [partition] }]);
      break;
    }
    if (r.videoId !== undefined && unknown.has(r.videoId) && waitsForCatalog(d, r.videoId)) {
      // The catalog does not know this record's video yet: hold the partition here (the rest
      // of the batch stays unresolved and is fetched again) and look again shortly.
      holdPartition(d, batch.topic, partition);
      break;
    }
    let outcome: Outcome;
    if (r.value === undefined) {
      outcome = dlqOutcome(r.error?.code ?? 'VP_ERR_DECODE_AVRO', r.error?.message ?? 'undecodable');
    } else {
      const record: InputRecord<V> = {
        topic: batch.topic,
        partition,
        offset,
        key: r.message.key?.toString() ?? null,
        value: r.value,
      };
      outcome = task.process(record);
    }
    if (outcome.kind === 'dlq') {
      const { letter, row } = deadLetterOf(
        name,
        { topic: batch.topic, partition, message: r.message },
        outcome,
        r.videoId,
      );
      task.dead.push(letter);
      task.pend(TABLES.deadLetters, [row]);
      metrics.deadLetters.inc({ processor: name, code: outcome.code });
    }
    const label = outcomeLabel(outcome);
    outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
    task.lastOffset = offset;
    resolveOffset(r.message.offset);
  }
  for (const [outcome, n] of outcomes) metrics.records.inc({ processor: name, outcome }, n);
  if (!d.partitions.has(partition)) return;
  // what the processors hold undrained stays bounded, and flushRows counts rows
  if (d.partitions.undrained >= d.opts.flushRows) for (const t of d.partitions.list()) drainTask(d, t);
  const lag = Math.max(0, Number(batch.highWatermark) - task.lastOffset - 1);
  const progress = d.partitions.progressOf(partition)!;
  if (task.lastOffset >= first) {
    progress.at = d.now();
    d.flusher.recordsProcessed();
  }
  progress.lag = lag;
  const wm = task.processor.watermark;
  d.lag.batch(partition, lag, Number.isFinite(wm) ? (d.now() - wm) / 1000 : undefined);
  if (d.partitions.pending >= d.opts.flushRows || d.flusher.msSinceFlush() >= d.opts.flushIntervalMs) {
    // written while the next batches are processed (flush.ts): a failure that is not an outage
    // crashes the runner at the flush, not at a record of a later batch
    await d.flusher.flushBehind((err) => d.supervisor.flushFailed(err));
  }
  await heartbeat();
  d.supervisor.leaveBatch();
}
