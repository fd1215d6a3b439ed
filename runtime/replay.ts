// `viewpulse replay`: rebuilds processors' tables from the Kafka log into a shadow database,
// with the processor's own code, its own consumer group and its own changelog, while the live
// processor keeps running; then, with --swap, exchanges the tables and hands the live processor
// over to the rebuilt state (runtime/processor-slot.ts). The steps are recorded in `replays`,
// so a killed replay resumes where its group committed: the rebuild is effectively once for the
// same reason the live processors are (docs/effectively-once.md).
//
//   1. migrate the shadow database; find the processor's unfinished replay (resume) or start one:
//      truncate its shadow tables, a fresh group `<live group>.replay-<id>`, offsets at --from;
//   2. refuse when the log no longer reaches back to where the rebuild must start (retention);
//   3. run the processor into the shadow tables until every partition is committed up to its
//      end (the topic's end when it started, or the first offset at --to);
//   4. --swap: a 'draining' generation makes every live instance stop (flush, commit, leave);
//      once the live group has no members, the replay stops too (flush, commit), exchanges the
//      tables with one RENAME, and an 'active' generation makes the live instances go on as the
//      replay's group, with the rules the tables were built with.
import type { Admin, Kafka } from 'kafkajs';
import { exec, queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { migrate } from '../lib/clickhouse/migrations.js';
import { join, sql, v } from '../lib/clickhouse/sql.js';
import { ViewpulseError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { RuleParameters } from '../processors/parameters.js';
import { REBUILT_TABLES, TABLES } from '../schemas/tables.js';
import { appendGeneration, currentGenerations, type Generation } from './generations.js';
import type { SlotRunner } from './processor-slot.js';
import { groupIdOf } from './registry.js';

export type ReplayableProcessor = keyof typeof REBUILT_TABLES;
export const REPLAYABLE = Object.keys(REBUILT_TABLES) as ReplayableProcessor[];

export const REPLAY_ERROR = 'VP_ERR_REPLAY';

/** Where a rebuild starts: the log's start (default), a time, or an offset per partition. */
export type FromSpec =
  { kind: 'start' } | { kind: 'time'; ms: number } | { kind: 'offsets'; offsets: Map<number, number> };

export interface ReplayRequest {
  processors: readonly ReplayableProcessor[];
  from: FromSpec;
  /** Stop at the first record at or after this time (epoch ms); none: the topic's end at start. */
  toMs?: number;
  swap: boolean;
  /** Abandon an unfinished replay of these processors and start over. */
  fresh: boolean;
  shadowDatabase: string;
  /** The rule parameters to rebuild with (recorded with the tables; the live processor adopts them on --swap). */
  rules: RuleParameters;
  migrationsDir: string;
}

export interface ReplayDeps {
  kafka: Kafka;
  clickhouse: ClickHouseClient;
  /** The live database. */
  database: string;
  topicPrefix: string;
  /** The input topic of every replayable processor (play-events). */
  topic: string;
  /** A runner of `processor` as `groupId`, writing into `database`, with `rules`, not reading past `stopAt`. */
  createRunner(
    processor: ReplayableProcessor,
    o: {
      groupId: string;
      database: string;
      rules: RuleParameters;
      stopAt?: ReadonlyMap<number, number>;
      /** always false: the live run published the dead letters already; the shadow gets their rows */
      publishDeadLetters: false;
    },
  ): SlotRunner;
  logger: Logger;
  /** Called about once a second while rebuilding. */
  progress?: (p: ReplayProgress) => void;
  /** How long --swap waits for the live instances to stop (default 120 s). */
  drainTimeoutMs?: number;
  now?: () => number;
}

export interface PartitionProgress {
  partition: number;
  /** next offset the replay's group has committed (with its state) */
  position: number;
  /** where it is done */
  target: number;
}

export interface ReplayProgress {
  processor: ReplayableProcessor;
  replayId: string;
  done: number;
  total: number;
  partitions: PartitionProgress[];
}

export interface ReplayResult {
  processor: ReplayableProcessor;
  replayId: string;
  groupId: string;
  resumed: boolean;
  /** records rebuilt (from the start positions to the targets) */
  records: number;
  swapped: boolean;
  /** the generation the live processor runs as now (--swap) */
  generation?: number;
}

interface ReplayRow {
  replay_id: string;
  group_id: string;
  shadow_database: string;
  from_spec: string;
  to_ms: string;
  rules: string;
  state: 'running' | 'done' | 'swapping' | 'swapped' | 'handed_over' | 'abandoned';
}

const sameSpec = (r: ReplayRow, spec: Pick<ReplayRow, 'shadow_database' | 'from_spec' | 'to_ms' | 'rules'>): boolean =>
  r.shadow_database === spec.shadow_database &&
  r.from_spec === spec.from_spec &&
  r.to_ms === spec.to_ms &&
  r.rules === spec.rules;

const fromText = (f: FromSpec): string =>
  f.kind === 'start'
    ? ''
    : f.kind === 'time'
      ? new Date(f.ms).toISOString()
      : [...f.offsets]
          .sort((a, b) => a[0] - b[0])
          .map(([p, o]) => `${p}:${o}`)
          .join(',');

/** A replay id: the UTC second it started, e.g. 20261201T170512Z. */
const replayIdAt = (ms: number): string =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Replay {
  private readonly now: () => number;

  constructor(private readonly d: ReplayDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Rebuilds each processor in turn (and swaps it in with --swap). */
  async run(req: ReplayRequest): Promise<ReplayResult[]> {
    const { clickhouse: ch } = this.d;
    await migrate(ch, req.shadowDatabase, req.migrationsDir, (l) =>
      this.d.logger.info({ shadow: req.shadowDatabase }, l),
    );
    const results: ReplayResult[] = [];
    for (const processor of req.processors) results.push(await this.one(processor, req));
    return results;
  }

  private async one(processor: ReplayableProcessor, req: ReplayRequest): Promise<ReplayResult> {
    const log = this.d.logger.child({ processor, replay: true });
    const admin = this.d.kafka.admin();
    await admin.connect();
    try {
      const job = await this.prepare(processor, req, admin);
      log.info({ replay: job.replayId, group: job.groupId, resumed: job.resumed }, 'replay: rebuilding');
      const ends = new Map((await admin.fetchTopicOffsets(this.d.topic)).map((o) => [o.partition, Number(o.high)]));
      const stopAt =
        req.toMs === undefined
          ? undefined
          : new Map(
              (await admin.fetchTopicOffsetsByTimestamp(this.d.topic, req.toMs)).map((o) => {
                const at = Number(o.offset);
                return [o.partition, at < 0 ? (ends.get(o.partition) ?? 0) : at];
              }),
            );
      const targets = stopAt ?? ends;
      if (job.state === 'running') {
        const runner = this.d.createRunner(processor, {
          groupId: job.groupId,
          database: req.shadowDatabase,
          rules: req.rules,
          publishDeadLetters: false,
          ...(stopAt && { stopAt }),
        });
        await runner.start();
        try {
          await this.until(admin, processor, job, targets);
        } finally {
          if (!req.swap) await runner.stop();
        }
        if (req.swap) {
          await this.handOver(processor, req, job, admin, runner, log);
        } else {
          await this.record(processor, job, req, 'done');
        }
      } else {
        // killed during a swap: finish it (the rebuilt state is committed)
        await this.handOver(processor, req, job, admin, undefined, log);
      }
      const generation = req.swap
        ? (await currentGenerations(this.d.clickhouse, this.d.database)).get(processor)
        : undefined;
      return {
        processor,
        replayId: job.replayId,
        groupId: job.groupId,
        resumed: job.resumed,
        records: [...targets].reduce((n, [p, t]) => n + Math.max(0, t - (job.starts.get(p) ?? 0)), 0),
        swapped: req.swap,
        ...(generation && { generation: generation.generation }),
      };
    } finally {
      await admin.disconnect();
    }
  }

  /** The replay to go on with: the unfinished one of this processor, or a new one. */
  private async prepare(processor: ReplayableProcessor, req: ReplayRequest, admin: Admin): Promise<Job> {
    const { clickhouse: ch, database } = this.d;
    const [last] = await queryRows<ReplayRow>(
      ch,
      sql`SELECT replay_id, any(group_id) AS group_id, any(shadow_database) AS shadow_database, any(from_spec) AS from_spec,
                 toString(any(to_ms)) AS to_ms, any(rules) AS rules, max(state) AS state
          FROM ${v.table(database, TABLES.replays)} WHERE processor = ${v.string(processor)}
          GROUP BY replay_id ORDER BY max(at) DESC, replay_id DESC LIMIT 1`,
    );
    const spec = {
      shadow_database: req.shadowDatabase,
      from_spec: fromText(req.from),
      to_ms: String(req.toMs ?? 0),
      rules: JSON.stringify(req.rules),
    };
    if (last && (last.state === 'swapping' || last.state === 'swapped')) {
      // killed while swapping: only finishing it is safe
      if (!sameSpec(last, spec)) {
        throw new ViewpulseError(
          REPLAY_ERROR,
          `replay ${last.replay_id} of ${processor} was killed while swapping its tables in; run it again as it was (${describe(last)}) to finish the swap`,
        );
      }
      return {
        replayId: last.replay_id,
        groupId: last.group_id,
        resumed: true,
        state: last.state,
        starts: await this.startPositions(admin, last.group_id),
      };
    }
    if (last && (last.state === 'running' || last.state === 'done')) {
      // Killed, or finished earlier: the same request goes on from its committed offsets
      // (to the topic's end now, or into a --swap).
      if (sameSpec(last, spec) && !req.fresh) {
        return {
          replayId: last.replay_id,
          groupId: last.group_id,
          resumed: true,
          state: 'running',
          starts: await this.startPositions(admin, last.group_id),
        };
      }
      if (last.state === 'running' && !req.fresh) {
        throw new ViewpulseError(
          REPLAY_ERROR,
          `an unfinished replay ${last.replay_id} of ${processor} exists (${describe(last)}): run the same command to resume it, or add --fresh to start over`,
        );
      }
      await this.record(processor, { replayId: last.replay_id, groupId: last.group_id }, req, 'abandoned');
    }
    await this.checkRetention(admin, req.from);
    const replayId = replayIdAt(this.now());
    const groupId = `${groupIdOf(this.d.topicPrefix, processor)}.replay-${replayId}`;
    const shadowTables = REBUILT_TABLES[processor];
    for (const t of shadowTables) await exec(ch, sql`TRUNCATE TABLE IF EXISTS ${v.table(req.shadowDatabase, t)}`);
    const starts = await this.setStart(admin, groupId, req.from);
    await this.record(processor, { replayId, groupId }, req, 'running');
    return { replayId, groupId, resumed: false, state: 'running', starts };
  }

  /** Refuses a rebuild the log cannot give whole: records before its start were deleted (retention). */
  private async checkRetention(admin: Admin, from: FromSpec): Promise<void> {
    const offsets = await admin.fetchTopicOffsets(this.d.topic);
    const byTime =
      from.kind === 'time'
        ? new Map(
            (await admin.fetchTopicOffsetsByTimestamp(this.d.topic, from.ms)).map((o) => [
              o.partition,
              Number(o.offset),
            ]),
          )
        : undefined;
    for (const o of offsets) {
      const low = Number(o.low);
      if (low === 0) continue;
      const start =
        from.kind === 'start'
          ? 0
          : from.kind === 'offsets'
            ? (from.offsets.get(o.partition) ?? 0)
            : (byTime!.get(o.partition) ?? 0);
      // At --from TIME the first kept record may be the first at or after it, or a later one whose
      // predecessors (at or after TIME) are gone: only an offset past the log's start proves it whole.
      if (start < low || (from.kind === 'time' && start <= low)) {
        throw new ViewpulseError(
          REPLAY_ERROR,
          `the log no longer reaches back to ${from.kind === 'start' ? 'its beginning' : `--from ${fromText(from)}`}: ` +
            `partition ${o.partition} of ${this.d.topic} starts at offset ${low} (older records were deleted by retention; see README, "Replaying")`,
        );
      }
    }
  }

  /** Commits the new group's start offsets (--from); none: it starts at the log's start. */
  private async setStart(admin: Admin, groupId: string, from: FromSpec): Promise<Map<number, number>> {
    const offsets = await admin.fetchTopicOffsets(this.d.topic);
    let starts: Map<number, number>;
    if (from.kind === 'start') starts = new Map(offsets.map((o) => [o.partition, Number(o.low)]));
    else if (from.kind === 'offsets') {
      for (const p of from.offsets.keys()) {
        if (!offsets.some((o) => o.partition === p)) {
          throw new ViewpulseError(REPLAY_ERROR, `--from: ${this.d.topic} has no partition ${p}`);
        }
      }
      starts = new Map(offsets.map((o) => [o.partition, from.offsets.get(o.partition) ?? Number(o.low)]));
    } else {
      const at = await admin.fetchTopicOffsetsByTimestamp(this.d.topic, from.ms);
      starts = new Map(
        at.map((o) => [
          o.partition,
          Number(o.offset) < 0 ? Number(offsets.find((x) => x.partition === o.partition)?.high ?? 0) : Number(o.offset),
        ]),
      );
    }
    if (from.kind !== 'start') {
      await admin.setOffsets({
        groupId,
        topic: this.d.topic,
        partitions: [...starts].map(([partition, offset]) => ({ partition, offset: String(offset) })),
      });
    }
    return starts;
  }

  /** Where a resumed replay's group had started: what it committed, or the log's start. */
  private async startPositions(admin: Admin, groupId: string): Promise<Map<number, number>> {
    const [t] = await admin.fetchOffsets({ groupId, topics: [this.d.topic] });
    return new Map((t?.partitions ?? []).map((p) => [p.partition, Math.max(0, Number(p.offset))]));
  }

  /** Waits until the group has committed every partition up to its target, reporting progress. */
  private async until(
    admin: Admin,
    processor: ReplayableProcessor,
    job: Job,
    targets: ReadonlyMap<number, number>,
  ): Promise<void> {
    const total = [...targets].reduce((n, [p, t]) => n + Math.max(0, t - (job.starts.get(p) ?? 0)), 0);
    for (;;) {
      const [t] = await admin.fetchOffsets({ groupId: job.groupId, topics: [this.d.topic] });
      const committed = new Map((t?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
      const partitions = [...targets].map(([partition, target]) => {
        const c = committed.get(partition) ?? -1;
        return { partition, position: c >= 0 ? c : (job.starts.get(partition) ?? 0), target };
      });
      const done = partitions.reduce(
        (n, p) => n + Math.max(0, Math.min(p.position, p.target) - (job.starts.get(p.partition) ?? 0)),
        0,
      );
      this.d.progress?.({ processor, replayId: job.replayId, done, total, partitions });
      if (partitions.every((p) => p.position >= p.target)) return;
      await sleep(1_000);
    }
  }

  /** --swap: drain the live instances, exchange the tables, hand the live processor over. */
  private async handOver(
    processor: ReplayableProcessor,
    req: ReplayRequest,
    job: Job,
    admin: Admin,
    runner: SlotRunner | undefined,
    log: Logger,
  ): Promise<void> {
    const { clickhouse: ch, database } = this.d;
    const cur = (await currentGenerations(ch, database)).get(processor);
    const ours = cur?.replayId === job.replayId;
    if (ours && cur?.state === 'active') return; // handed over already; only the record was missing
    const generation = ours ? cur!.generation : (cur?.generation ?? 0) + 1;
    const liveGroup = ours
      ? await this.groupBefore(processor, generation)
      : (cur?.groupId ?? groupIdOf(this.d.topicPrefix, processor));
    const draining: Generation = {
      processor,
      generation,
      state: 'draining',
      groupId: job.groupId,
      rules: { ...req.rules },
      replayId: job.replayId,
    };
    if (!ours) await appendGeneration(ch, database, draining);
    log.info({ generation, live: liveGroup }, 'replay: live instances draining');
    try {
      await this.waitEmpty(admin, liveGroup);
    } catch (err) {
      // The live processor goes on as it was: the same group and rules, a newer generation.
      await appendGeneration(ch, database, {
        ...draining,
        generation: generation + 1,
        state: 'active',
        groupId: liveGroup,
        rules: cur?.rules ?? null,
        replayId: '',
      });
      if (runner) await runner.stop();
      await this.record(processor, job, req, 'abandoned');
      throw err;
    }
    if (runner) await runner.stop(); // its last rows and state, committed
    await this.swapTables(processor, req, job);
    await appendGeneration(ch, database, { ...draining, state: 'active' });
    await this.record(processor, job, req, 'handed_over');
    log.info({ generation, group: job.groupId }, 'replay: swapped in; live instances go on from the rebuilt state');
  }

  /** The group a processor ran as before `generation`. */
  private async groupBefore(processor: string, generation: number): Promise<string> {
    const [row] = await queryRows<{ group_id: string }>(
      this.d.clickhouse,
      sql`SELECT group_id FROM ${v.table(this.d.database, TABLES.generations)}
          WHERE processor = ${v.string(processor)} AND generation < ${v.uint(generation)} AND state = 'active'
          ORDER BY generation DESC LIMIT 1`,
    );
    return row?.group_id ?? groupIdOf(this.d.topicPrefix, processor);
  }

  private async waitEmpty(admin: Admin, groupId: string): Promise<void> {
    const deadline = this.now() + (this.d.drainTimeoutMs ?? 120_000);
    for (;;) {
      const { groups } = await admin.describeGroups([groupId]);
      const members = groups[0]?.members.length ?? 0;
      if (members === 0) return;
      if (this.now() > deadline) {
        throw new ViewpulseError(
          REPLAY_ERROR,
          `the live group ${groupId} still has ${members} member(s): are its instances too old to know about replays? Nothing was swapped`,
        );
      }
      await sleep(500);
    }
  }

  /**
   * Exchanges the processor's tables with one RENAME (live → shadow `__old`, shadow → live), then
   * puts the old ones under the shadow names, for --diff and for going back by hand. Resumable:
   * `swapping` recorded first; an `__old` table means the exchange happened.
   */
  private async swapTables(processor: ReplayableProcessor, req: ReplayRequest, job: Job): Promise<void> {
    const { clickhouse: ch, database } = this.d;
    const shadow = req.shadowDatabase;
    const tables = REBUILT_TABLES[processor];
    const exists = async (db: string, t: string): Promise<boolean> =>
      (
        await queryRows<{ n: string }>(
          ch,
          sql`SELECT toString(count()) AS n FROM system.tables WHERE database = ${v.string(db)} AND name = ${v.string(t)}`,
        )
      )[0]?.n === '1';
    if (job.state === 'running') await this.record(processor, job, req, 'swapping');
    if (job.state !== 'swapped' && !(await exists(shadow, `${tables[0]}__old`))) {
      const pairs = tables.flatMap((t) => [
        sql`${v.table(database, t)} TO ${v.table(shadow, `${t}__old`)}`,
        sql`${v.table(shadow, t)} TO ${v.table(database, t)}`,
      ]);
      await exec(ch, sql`RENAME TABLE ${join(pairs)}`);
    }
    await this.record(processor, job, req, 'swapped');
    const back = [];
    for (const t of tables)
      if (await exists(shadow, `${t}__old`)) back.push(sql`${v.table(shadow, `${t}__old`)} TO ${v.table(shadow, t)}`);
    if (back.length > 0) await exec(ch, sql`RENAME TABLE ${join(back)}`);
  }

  private async record(
    processor: string,
    job: Pick<Job, 'replayId' | 'groupId'>,
    req: ReplayRequest,
    state: ReplayRow['state'],
  ): Promise<void> {
    await exec(
      this.d.clickhouse,
      sql`INSERT INTO ${v.table(this.d.database, TABLES.replays)} (replay_id, processor, state, group_id, shadow_database, from_spec, to_ms, rules)
          VALUES (${v.string(job.replayId)}, ${v.string(processor)}, ${v.string(state)}, ${v.string(job.groupId)},
                  ${v.string(req.shadowDatabase)}, ${v.string(fromText(req.from))}, ${v.uint(req.toMs ?? 0)}, ${v.string(JSON.stringify(req.rules))})`,
    );
  }
}

interface Job {
  replayId: string;
  groupId: string;
  resumed: boolean;
  state: ReplayRow['state'];
  /** where the group started per partition (new) or had committed when resumed */
  starts: Map<number, number>;
}

const describe = (r: ReplayRow): string =>
  `shadow ${r.shadow_database}, from ${r.from_spec || 'the log start'}${r.to_ms !== '0' ? `, to ${new Date(Number(r.to_ms)).toISOString()}` : ''}, rules ${r.rules}`;
