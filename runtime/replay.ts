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
import { sql, v } from '../lib/clickhouse/sql.js';
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
}

export interface ReplayDeps {
  kafka: Kafka;
  /** Creates or updates the shadow database's tables (the migrations, as `viewpulse migrate` runs them). */
  migrate(database: string): Promise<unknown>;
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

/** A replay id: when it started, to the millisecond, and a random tag, e.g. 20261201T170512.345Z-3f9a. */
const replayIdAt = (ms: number): string =>
  `${new Date(ms).toISOString().replace(/[-:]/g, '')}-${Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0')}`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Replay {
  private readonly now: () => number;

  constructor(private readonly d: ReplayDeps) {
    this.now = d.now ?? Date.now;
  }

  /**
   * Rebuilds every processor side by side; with --swap, once all are rebuilt, hands them over one
   * after the other (each hand-over is a short pause, not a rebuild).
   */
  async run(req: ReplayRequest): Promise<ReplayResult[]> {
    await this.d.migrate(req.shadowDatabase);
    const admin = this.d.kafka.admin();
    await admin.connect();
    const built: Built[] = [];
    try {
      const all = await Promise.allSettled(req.processors.map((p) => this.rebuild(p, req, admin)));
      for (const r of all) if (r.status === 'fulfilled') built.push(r.value);
      const failed = all.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const results: ReplayResult[] = [];
      for (const b of built) {
        const log = this.d.logger.child({ processor: b.processor, replay: b.job.replayId });
        const finishing = b.job.state !== 'running'; // killed during a swap: it must be finished
        if (req.swap || finishing) await this.handOver(b.processor, req, b.job, admin, b.runner, log);
        else await this.record(b.processor, b.job, req, 'done');
        b.runner = undefined;
        const generation = (await currentGenerations(this.d.clickhouse, this.d.database)).get(b.processor);
        results.push({
          processor: b.processor,
          replayId: b.job.replayId,
          groupId: b.job.groupId,
          resumed: b.job.resumed,
          records: b.records,
          swapped: req.swap || finishing,
          ...(generation && generation.replayId === b.job.replayId && { generation: generation.generation }),
        });
      }
      return results;
    } finally {
      // a failure: stop what still runs (its committed state lets the next run resume)
      await Promise.all(built.map((b) => b.runner?.stop().catch(() => undefined)));
      await admin.disconnect();
    }
  }

  /**
   * Interrupted (SIGINT): a live processor left draining by a hand-over that has not exchanged
   * its tables yet goes back to its previous group and rules; after the exchange nothing is undone.
   */
  async interrupt(): Promise<void> {
    const h = this.handingOver;
    if (h && !h.exchanged) await this.undrain(h.processor);
  }

  private handingOver: { processor: string; replayId: string; exchanged: boolean } | undefined;

  /** Prepares (or resumes) the processor's replay and runs it up to its targets. */
  private async rebuild(processor: ReplayableProcessor, req: ReplayRequest, admin: Admin): Promise<Built> {
    const log = this.d.logger.child({ processor, replay: true });
    const job = await this.prepare(processor, req, admin);
    log.info({ replay: job.replayId, group: job.groupId, resumed: job.resumed }, 'replay: rebuilding');
    // a killed --swap left the live processor draining: give it back unless this run swaps
    if (job.state === 'running' && !req.swap) await this.undrain(processor);
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
    const records = [...targets].reduce((n, [p, t]) => n + Math.max(0, t - (job.starts.get(p) ?? 0)), 0);
    if (job.state !== 'running') return { processor, job, records, runner: undefined };
    const runner = this.d.createRunner(processor, {
      groupId: job.groupId,
      database: req.shadowDatabase,
      rules: req.rules,
      publishDeadLetters: false,
      ...(stopAt && { stopAt }),
    });
    await runner.start();
    try {
      await this.until(admin, processor, job, targets, runner);
    } catch (err) {
      await runner.stop().catch(() => undefined);
      throw err;
    }
    if (!req.swap) {
      await runner.stop();
      return { processor, job, records, runner: undefined };
    }
    return { processor, job, records, runner };
  }

  /** A draining generation of `processor`: back to the group (and rules) it ran as before. */
  private async undrain(processor: string): Promise<void> {
    const { clickhouse: ch, database } = this.d;
    const cur = (await currentGenerations(ch, database)).get(processor);
    // Callers call it only for a drain whose tables were not exchanged: a replay killed after
    // 'swapping' is finished by its next run (prepare), never given back.
    if (cur?.state !== 'draining') return;
    const before = await this.generationBefore(processor, cur.generation);
    await appendGeneration(ch, database, {
      processor,
      generation: cur.generation + 1,
      state: 'active',
      groupId: before.groupId,
      rules: before.rules,
      replayId: '',
    });
    this.d.logger.warn(
      { processor, group: before.groupId },
      'replay: hand-over called off; the live processor goes on as before',
    );
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
        starts: await this.resumePositions(admin, last.group_id),
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
          starts: await this.resumePositions(admin, last.group_id),
        };
      }
      if (last.state === 'running' && !req.fresh) {
        throw new ViewpulseError(
          REPLAY_ERROR,
          `an unfinished replay ${last.replay_id} of ${processor} exists (${describe(last)}): run the same command to resume it, or add --fresh to start over`,
        );
      }
      await this.checkRetention(admin, req.from);
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
      for (const [p, offset] of from.offsets) {
        const o = offsets.find((x) => x.partition === p);
        if (!o) throw new ViewpulseError(REPLAY_ERROR, `--from: ${this.d.topic} has no partition ${p}`);
        if (offset > Number(o.high)) {
          throw new ViewpulseError(
            REPLAY_ERROR,
            `--from: partition ${p} of ${this.d.topic} ends at offset ${o.high}, before ${offset}`,
          );
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

  /**
   * Where a resumed replay's group goes on: what it committed (0 where nothing). Refused when
   * retention deleted records it has not read yet: the consumer would skip to the log's start.
   */
  private async resumePositions(admin: Admin, groupId: string): Promise<Map<number, number>> {
    const [t] = await admin.fetchOffsets({ groupId, topics: [this.d.topic] });
    const at = new Map((t?.partitions ?? []).map((p) => [p.partition, Math.max(0, Number(p.offset))]));
    for (const o of await admin.fetchTopicOffsets(this.d.topic)) {
      const low = Number(o.low);
      if ((at.get(o.partition) ?? 0) < low) {
        throw new ViewpulseError(
          REPLAY_ERROR,
          `the log no longer holds where replay ${groupId} stopped: partition ${o.partition} of ${this.d.topic} now starts at offset ${low}, ` +
            `after its position ${at.get(o.partition) ?? 0} (retention); start over with --fresh`,
        );
      }
    }
    return at;
  }

  /** Waits until the group has committed every partition up to its target, reporting progress. */
  private async until(
    admin: Admin,
    processor: ReplayableProcessor,
    job: Job,
    targets: ReadonlyMap<number, number>,
    runner: SlotRunner,
  ): Promise<void> {
    const total = [...targets].reduce((n, [p, t]) => n + Math.max(0, t - (job.starts.get(p) ?? 0)), 0);
    for (;;) {
      if (runner.state === 'failed' || runner.state === 'stopped') {
        const why = runner.health().last_error ?? runner.state;
        throw new ViewpulseError(
          REPLAY_ERROR,
          `the ${processor} replay gave up (${why}); run the same command to resume`,
        );
      }
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
    const live = await this.generationBefore(processor, generation);
    const draining: Generation = {
      processor,
      generation,
      state: 'draining',
      groupId: job.groupId,
      rules: { ...req.rules },
      replayId: job.replayId,
    };
    this.handingOver = { processor, replayId: job.replayId, exchanged: job.state !== 'running' };
    if (!ours) await appendGeneration(ch, database, draining);
    log.info({ generation, live: live.groupId }, 'replay: live instances draining');
    if (job.state === 'running') {
      try {
        await this.waitEmpty(admin, live.groupId);
      } catch (err) {
        // nothing was exchanged: the live processor goes on as it was, and this rebuild stays
        // resumable (done: run it again to retry the swap)
        await this.undrain(processor);
        if (runner) await runner.stop();
        await this.record(processor, job, req, 'done');
        this.handingOver = undefined;
        throw err;
      }
    }
    if (runner) await runner.stop(); // its last rows and state, committed
    await this.swapTables(processor, req, job);
    await appendGeneration(ch, database, { ...draining, state: 'active' });
    await this.record(processor, job, req, 'handed_over');
    this.handingOver = undefined;
    log.info({ generation, group: job.groupId }, 'replay: swapped in; live instances go on from the rebuilt state');
  }

  /** The group and rules a processor ran as before `generation` (its default group and configured rules: none). */
  private async generationBefore(
    processor: string,
    generation: number,
  ): Promise<{ groupId: string; rules: Record<string, number> | null }> {
    const [row] = await queryRows<{ group_id: string; rules: string }>(
      this.d.clickhouse,
      sql`SELECT group_id, rules FROM ${v.table(this.d.database, TABLES.generations)}
          WHERE processor = ${v.string(processor)} AND generation < ${v.uint(generation)} AND state = 'active'
          ORDER BY generation DESC LIMIT 1`,
    );
    return row
      ? { groupId: row.group_id, rules: row.rules === '' ? null : (JSON.parse(row.rules) as Record<string, number>) }
      : { groupId: groupIdOf(this.d.topicPrefix, processor), rules: null };
  }

  /**
   * Waits until the live group has had no member for DRAIN_QUIET_MS in a row: long enough for
   * every instance to see the draining generation (they poll each second, and check it again
   * before any join) and for one that was joining when it was written to show up.
   */
  private async waitEmpty(admin: Admin, groupId: string): Promise<void> {
    const deadline = this.now() + (this.d.drainTimeoutMs ?? 120_000);
    let emptySince: number | undefined;
    for (;;) {
      const { groups } = await admin.describeGroups([groupId]);
      const members = groups[0]?.members.length ?? 0;
      const now = this.now();
      if (members > 0) emptySince = undefined;
      else emptySince ??= now;
      if (emptySince !== undefined && now - emptySince >= DRAIN_QUIET_MS) return;
      if (now > deadline) {
        throw new ViewpulseError(
          REPLAY_ERROR,
          `the live group ${groupId} still has ${members} member(s) after ${Math.round((this.d.drainTimeoutMs ?? 120_000) / 1000)} s: are its instances too old to know about replays? Nothing was swapped; the live processor goes on as before`,
        );
      }
      await sleep(250);
    }
  }

  /**
   * Exchanges the processor's tables, one RENAME per table (live → shadow `__old`, shadow → live),
   * then puts the old ones under the shadow names, for --diff and for going back by hand.
   * Resumable table by table: `swapping` is recorded first, and a table whose `__old` twin exists
   * (or that is already back under its shadow name after the exchange) was exchanged.
   */
  private async swapTables(processor: ReplayableProcessor, req: ReplayRequest, job: Job): Promise<void> {
    const { clickhouse: ch, database } = this.d;
    const shadow = req.shadowDatabase;
    const exists = async (db: string, t: string): Promise<boolean> =>
      (
        await queryRows<{ n: string }>(
          ch,
          sql`SELECT toString(count()) AS n FROM system.tables WHERE database = ${v.string(db)} AND name = ${v.string(t)}`,
        )
      )[0]?.n === '1';
    if (job.state === 'running') await this.record(processor, job, req, 'swapping');
    for (const t of REBUILT_TABLES[processor]) {
      // 'swapped' is recorded only after every table was exchanged
      if (job.state !== 'swapped' && !(await exists(shadow, `${t}__old`))) {
        await exec(
          ch,
          sql`RENAME TABLE ${v.table(database, t)} TO ${v.table(shadow, `${t}__old`)}, ${v.table(shadow, t)} TO ${v.table(database, t)}`,
        );
      }
    }
    this.handingOver = { processor, replayId: job.replayId, exchanged: true };
    await this.record(processor, job, req, 'swapped');
    for (const t of REBUILT_TABLES[processor]) {
      if (await exists(shadow, `${t}__old`)) {
        await exec(ch, sql`RENAME TABLE ${v.table(shadow, `${t}__old`)} TO ${v.table(shadow, t)}`);
      }
    }
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

/** How long the live group must stay empty before the tables are exchanged. */
export const DRAIN_QUIET_MS = 5_000;

interface Built {
  processor: ReplayableProcessor;
  job: Job;
  /** records from the start positions to the targets */
  records: number;
  /** still running (a --swap hands over from it) */
  runner: SlotRunner | undefined;
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
