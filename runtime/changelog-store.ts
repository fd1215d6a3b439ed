// A processor's state store, backed by a compacted Kafka changelog topic — the way Kafka
// Streams keeps state (EOS v1: one transactional producer per input partition).
//
//   save:    one Kafka transaction per partition holds the keys that changed since the last
//            checkpoint (value JSON, a null value for a removed key) AND the consumer group's
//            offset for that partition (sendOffsets). Both become visible together or not at
//            all, so the stored state always belongs to the committed offset.
//   load:    on assignment, the partition's producer begins with a transaction of its own
//            (which fences any zombie owner of the same partition and aborts what it left open)
//            that writes a barrier record with a fresh token; the store then reads the
//            changelog partition from the start (read committed) until that token, newest value
//            per key, and the input offset the state covers (written with it).
//   compact: Kafka's log cleaner keeps the newest record per key, so a restore reads about one
//            record per live key, not the history.
//   fencing: only the producer a restore opened writes a partition's changelog. A save that
//            fails closes it, and the partition cannot be saved again until it is restored:
//            the changes were relative to the state that restore read, and once a transaction
//            failed another owner may have written since. (Opening a fresh producer to retry
//            would fence the new owner and lay stale changes over its state.)
//
// The changelog records are written after the rows they imply are in ClickHouse, so a crash
// anywhere replays from the last committed transaction and rewrites the same rows.
import { randomUUID } from 'node:crypto';
import type { Admin, ConfigResourceTypes, Consumer, Kafka, Producer } from 'kafkajs';
import { CHANGELOG_CONFIGS, changelogTopic } from '../schemas/topics.js';
import type { EncodedChanges, SavedState, StateEntry, StateStore } from './checkpoint-store.js';
import type { Logger } from '../lib/logger.js';

const BARRIER_KEY = '\u0000barrier';
/** kafkajs' ConfigResourceTypes.TOPIC: its enum is not among the named exports Node's ESM loader sees. */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;
/** A config set on the topic itself (kafkajs' ConfigSource.DYNAMIC_TOPIC_CONFIG). */
const DYNAMIC_TOPIC_CONFIG = 1;
/** The highest input offset the saved state covers. */
const OFFSET_KEY = '\u0000offset';
/** Changelog bytes per send (one record batch), well under the topic's 16 MB max.message.bytes. */
const SEND_BYTES = 4 * 1024 * 1024;
/**
 * ...and at most this many messages: kafkajs groups a send's messages per partition by copying
 * the growing array once per message (producer/groupMessagesPerPartition.js), so one send of n
 * messages costs O(n²) — a checkpoint of 50,000 changed keys spent minutes there.
 */
const SEND_MESSAGES = 1_000;
/** A restore that has not read up to its barrier by then fails (and is retried). */
const RESTORE_TIMEOUT_MS = 120_000;

export interface Restored {
  /** Highest offset the state includes (committed offset - 1); -1 when nothing was committed. */
  offset: number;
  state: Map<string, unknown>;
  /** Changelog records read, and how long the restore took. */
  records: number;
  ms: number;
}

export interface ChangelogStoreOptions {
  kafka: Kafka;
  groupId: string;
  /** The input topic whose partitions the state follows. */
  topic: string;
  logger: Logger;
}

/**
 * A save in which some partitions' transactions failed (the others committed): the first
 * error, and every partition that failed. Their changes are not kept: each must be restored
 * before it is saved again (the runner drops their state; the next batch restores it).
 */
export class SaveFailed extends Error {
  constructor(
    readonly first: Error,
    readonly partitions: readonly number[],
  ) {
    super(first.message);
    this.name = 'SaveFailed';
  }
}

/** Tries of start() on retriable Kafka errors (about 15 s in all). */
const START_ATTEMPTS = 10;

export class ChangelogStore implements StateStore {
  readonly commitsOffsets = true;
  readonly changelog: string;
  private readonly producers = new Map<number, Producer>();
  /** Bytes of changelog values written, since the start (for the checkpoint cost figure). */
  bytesWritten = 0;

  constructor(private readonly o: ChangelogStoreOptions) {
    this.changelog = changelogTopic(o.groupId);
  }

  /**
   * Creates the changelog topic (as many partitions as the input topic) when missing. Retries
   * Kafka's retriable errors: listing topics fails while another client deletes one (the
   * broker answers "does not host this topic-partition" for it), which must not stop a start.
   */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.createChangelog();
      } catch (err) {
        if (!(err as { retriable?: boolean }).retriable || attempt >= START_ATTEMPTS) throw err;
        this.o.logger.warn({ err: (err as Error).message, attempt }, 'changelog topic check failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
      }
    }
  }

  private async createChangelog(): Promise<void> {
    const admin = this.o.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      if (existing.has(this.changelog)) return await this.updateConfigs(admin);
      const [meta] = (await admin.fetchTopicMetadata({ topics: [this.o.topic] })).topics;
      await admin
        .createTopics({
          waitForLeaders: true,
          topics: [
            {
              topic: this.changelog,
              numPartitions: meta!.partitions.length,
              replicationFactor: 1,
              configEntries: Object.entries(CHANGELOG_CONFIGS).map(([name, value]) => ({ name, value })),
            },
          ],
        })
        .catch((err: Error) => {
          // another instance created it first
          if (!/already exists/i.test(err.message)) throw err;
        });
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * A changelog created by an earlier version gets the configs it lacks (a smaller segment,
   * say), when one differs. AlterConfigs sets a topic's configs as a whole, so the overrides
   * it has (an operator's retention, say) are sent along. Best effort: a broker that refuses
   * (no AlterConfigs permission) leaves the topic as it is, and the store works with it.
   */
  private async updateConfigs(admin: Admin): Promise<void> {
    try {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: TOPIC_RESOURCE, name: this.changelog }],
      });
      const entries = resources[0]?.configEntries ?? [];
      const now = new Map(entries.map((e) => [e.configName, e.configValue]));
      if (Object.entries(CHANGELOG_CONFIGS).every(([k, val]) => now.get(k) === val)) return;
      const configs = new Map(
        entries
          .filter((e) => e.configSource === DYNAMIC_TOPIC_CONFIG && !e.isSensitive)
          .map((e) => [e.configName, e.configValue]),
      );
      for (const [k, val] of Object.entries(CHANGELOG_CONFIGS)) configs.set(k, val);
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: TOPIC_RESOURCE,
            name: this.changelog,
            configEntries: [...configs].map(([name, value]) => ({ name, value })),
          },
        ],
      });
      this.o.logger.info({ topic: this.changelog }, 'changelog topic configs updated');
    } catch (err) {
      this.o.logger.warn({ topic: this.changelog, err: (err as Error).message }, 'changelog topic configs not updated');
    }
  }

  /** A fresh transactional producer for `partition`: initialising it fences any previous owner. */
  private async openProducer(partition: number): Promise<Producer> {
    const p = this.o.kafka.producer({
      transactionalId: `${this.o.groupId}-${this.o.topic}-${partition}`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await p.connect();
    this.producers.set(partition, p);
    return p;
  }

  /** Takes ownership of `partition` (fencing any previous owner) and restores its state. */
  async load(partition: number): Promise<SavedState | undefined> {
    const r = await this.restore(partition);
    this.o.logger.debug({ partition, records: r.records, ms: r.ms }, 'changelog read');
    // Nothing saved here yet: the partition starts empty, from its first offset (the runner
    // seeks back if the group's committed offset is ahead, e.g. written by another store).
    return r.offset < 0 ? undefined : { offset: r.offset, snapshot: r.state };
  }

  async restore(partition: number): Promise<Restored> {
    // A fresh producer: initialising it is what fences the previous owner (a cached one may
    // itself have been fenced, or be stuck after a failed commit).
    await this.release(partition);
    const started = Date.now();
    const producer = await this.openProducer(partition);
    const token = randomUUID();
    const tx = await producer.transaction();
    try {
      await tx.send({ topic: this.changelog, messages: [{ key: BARRIER_KEY, value: token, partition }] });
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => undefined);
      // kafkajs cannot begin another transaction on a producer whose commit failed: start over.
      await this.release(partition);
      throw err;
    }
    const state = new Map<string, unknown>();
    // The offset the state covers is written with it (the group's committed offset, set in the
    // same transaction, can also come from elsewhere: an older store, a reset).
    let offset = -1;
    const records = await this.readUntil(partition, token, (key, value) => {
      if (key === OFFSET_KEY) {
        offset = Number(value);
        return;
      }
      state.delete(key);
      if (value !== null) state.set(key, JSON.parse(value));
    }).catch(async (err: unknown) => {
      // no state, no producer: the next restore starts over
      await this.release(partition);
      throw err;
    });
    return { offset, state, records, ms: Date.now() - started };
  }

  /** Reads a changelog partition from its start until the barrier `token`. */
  private async readUntil(
    partition: number,
    token: string,
    apply: (key: string, value: string | null) => void,
  ): Promise<number> {
    const groupId = `${this.o.groupId}-restore-${randomUUID()}`;
    const consumer: Consumer = this.o.kafka.consumer({
      groupId,
      maxBytesPerPartition: 16 * 1024 * 1024,
      maxWaitTimeInMs: 100,
    });
    let records = 0;
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: this.changelog, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `restore of ${this.changelog} partition ${partition} did not reach its barrier in ${RESTORE_TIMEOUT_MS / 1000} s`,
              ),
            ),
          RESTORE_TIMEOUT_MS,
        );
        timer.unref();
        consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
          const others = (payload.memberAssignment[this.changelog] ?? []).filter((p) => p !== partition);
          if (others.length) consumer.pause([{ topic: this.changelog, partitions: others }]);
        });
        consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
        consumer
          .run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              if (batch.partition !== partition) return;
              for (const m of batch.messages) {
                const key = m.key?.toString() ?? '';
                if (key === BARRIER_KEY) {
                  if (m.value?.toString() === token) {
                    clearTimeout(timer);
                    resolve();
                    return;
                  }
                  continue;
                }
                records += 1;
                apply(key, m.value === null ? null : m.value.toString());
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await this.forgetGroup(groupId);
    }
    return records;
  }

  /**
   * A restore's throwaway group is deleted once its consumer left: it commits nothing, but the
   * broker would list it among the groups until it expires — one per restore, piling up.
   * Best effort: a group that could not be deleted expires on its own.
   */
  private async forgetGroup(groupId: string): Promise<void> {
    const admin = this.o.kafka.admin();
    try {
      await admin.connect();
      await admin.deleteGroups([groupId]);
    } catch {
      // left to expire
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** Every partition's changes, each in its own transaction (in parallel); the bytes written. */
  async save(entries: readonly StateEntry[]): Promise<number> {
    const before = this.bytesWritten;
    const results = await Promise.allSettled(entries.map((e) => this.savePartition(e.partition, e.offset, e.changes)));
    const failed = results.flatMap((r, i) =>
      r.status === 'rejected' ? [{ partition: entries[i]!.partition, r }] : [],
    );
    if (failed.length)
      throw new SaveFailed(
        failed[0]!.r.reason as Error,
        failed.map((f) => f.partition),
      );
    return this.bytesWritten - before;
  }

  /**
   * Commits `changes` of `partition` and the group's offset `offset + 1` in one transaction.
   * Throws when the transaction fails (e.g. fenced: another instance owns the partition now),
   * and when the partition was not restored by this store since its last failure.
   */
  async savePartition(partition: number, offset: number, changes: EncodedChanges): Promise<void> {
    const producer = this.producers.get(partition);
    if (!producer)
      throw new Error(
        `${this.changelog} partition ${partition}: not restored by this instance since its last save failed (or never): restore it first`,
      );
    const messages = changes.map(([key, json]) => {
      this.bytesWritten += key.length + (json?.length ?? 0);
      return { key, value: json, partition };
    });
    messages.push({ key: OFFSET_KEY, value: String(offset), partition });
    const tx = await producer.transaction();
    try {
      // A record batch (one send to one partition) must stay under the topic's max.message.bytes.
      for (let i = 0, bytes = 0, from = 0; i <= messages.length; i++) {
        const m = messages[i];
        if (
          i === messages.length ||
          i - from >= SEND_MESSAGES ||
          bytes + (m!.key.length + (m!.value?.length ?? 0)) > SEND_BYTES
        ) {
          if (i > from) await tx.send({ topic: this.changelog, messages: messages.slice(from, i) });
          from = i;
          bytes = 0;
        }
        if (m) bytes += m.key.length + (m.value?.length ?? 0);
      }
      await tx.sendOffsets({
        consumerGroupId: this.o.groupId,
        topics: [{ topic: this.o.topic, partitions: [{ partition, offset: String(offset + 1) }] }],
      });
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => undefined);
      // kafkajs cannot begin another transaction on a producer whose commit failed: start over.
      await this.release(partition);
      throw err;
    }
  }

  /** The partition moved to another instance: close its producer. */
  async release(partition: number): Promise<void> {
    const p = this.producers.get(partition);
    this.producers.delete(partition);
    await p?.disconnect().catch(() => undefined);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.producers.keys()].map((p) => this.release(p)));
  }
}
