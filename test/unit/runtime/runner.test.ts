// The runner's loop against a fake consumer (test/unit/runtime/fakes.ts): no network, the clock
// and the timers faked, every fetch driven by the test. What it specifies is the order of
// things — process → resolve; rows → state → commit — and what a pause, a revoke and a crash
// do to what reaches ClickHouse and Kafka.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProcessorRunner, type RunnerOptions } from '../../../runtime/runner.js';
import { DEAD_LETTER_ROWS } from '../../../runtime/dead-letters.js';
import type { ProcessorDefinition, TableSpec } from '../../../processors/contract.js';
import type { TableWrite } from '../../../lib/clickhouse/writer.js';
import { TABLES } from '../../../schemas/tables.js';
import { SaveFailed } from '../../../runtime/changelog-store.js';
import { DLQ_HEADERS } from '../../../lib/kafka/dlq.js';
import type { ClickHouseClient } from '../../../lib/clickhouse/client.js';
import { ViewpulseError } from '../../../lib/errors.js';
import { createLogger } from '../../../lib/logger.js';
import { createRegistry, processorMetrics } from '../../../lib/metrics.js';
import {
  FakeCluster,
  FakeClickHouse,
  FakeStateStore,
  MemoryCatalog,
  TALLIES,
  expectedTallies,
  jsonSerde,
  sortTallies,
  tally,
  type Tick,
  type Trace,
} from './fakes.js';

const TOPIC = 'play-events';
const DLQ = 'play-events.dlq';

/** Any use of the ClickHouse client fails the test: the sink and the store stand in for it. */
const untouchable = new Proxy(
  {},
  {
    get: (_, prop) => {
      throw new Error(`the unit test touched the ClickHouse client (${String(prop)})`);
    },
  },
) as ClickHouseClient;

function setup(
  o: {
    partitions?: number;
    options?: Partial<RunnerOptions>;
    throwAt?: (partition: number, offset: number) => boolean;
    /** a second data table and a watermarks table beside the tallies, each insert taking 100 ms */
    moreTables?: boolean;
  } = {},
) {
  const trace: Trace = [];
  const cluster = new FakeCluster(TOPIC, o.partitions ?? 1, trace);
  const definition = o.moreTables
    ? withMoreTables(tally({ trace, throwAt: o.throwAt }))
    : tally({ trace, throwAt: o.throwAt });
  const ch = o.moreTables
    ? new SlowClickHouse([...definition.tables, DEAD_LETTER_ROWS], trace)
    : new FakeClickHouse([TALLIES, DEAD_LETTER_ROWS], trace);
  const store = new FakeStateStore(ch);
  // the catalog knows the videos fill() uses (v0..v2); the catalog test adds others
  const catalog = new MemoryCatalog(
    ch,
    new Map(['v0', 'v1', 'v2'].map((id) => [id, { creatorId: 'c1', durationMs: 60_000 }])),
  );
  const serde = { registryDown: false };
  const registry = createRegistry(false);
  const failures: Error[] = [];
  const runner = new ProcessorRunner<Tick>({
    kafka: cluster.kafka,
    clickhouse: untouchable,
    database: 'unit',
    definition,
    topic: TOPIC,
    dlqTopic: DLQ,
    serde: jsonSerde(serde),
    catalog,
    videoIdOf: (v) => v.video,
    logger: createLogger('silent'),
    metrics: processorMetrics(registry),
    // the timer ticks every 500 ms
    options: {
      flushIntervalMs: 1_000,
      checkpointIntervalMs: 5_000,
      restartBackoffMs: 100,
      maxRestarts: 2,
      ...o.options,
    },
    now: () => Date.now(),
    onFailed: (err) => failures.push(err),
    sink: ch,
    stateStore: store,
  });
  /** A metric's value (summed over label sets matching `labels`). */
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const m = registry.getSingleMetric(name);
    if (!m) throw new Error(`no metric ${name}`);
    const { values } = await m.get();
    return values
      .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
      .reduce((n, v) => n + v.value, 0);
  };
  return { trace, cluster, ch, store, catalog, serde, runner, failures, metric };
}

const TOTALS: TableSpec = { name: 'tally_totals', key: ['kafka_partition'], version: 'version' };
const WATERMARKS: TableSpec = { name: TABLES.watermarks, key: ['kafka_partition'], version: 'version' };

/** The tally processor with a second data table and a watermarks table, a row in each at every drain with tallies. */
function withMoreTables(def: ProcessorDefinition<Tick>): ProcessorDefinition<Tick> {
  return {
    ...def,
    tables: [TALLIES, TOTALS, WATERMARKS],
    create(partition, restored, catalog) {
      const p = def.create(partition, restored, catalog);
      return Object.assign(Object.create(p) as typeof p, {
        drain() {
          const rows = p.drain();
          const n = rows.get(TALLIES.name)?.length ?? 0;
          if (n) for (const t of [TOTALS, WATERMARKS]) rows.set(t.name, [{ kafka_partition: partition, version: n }]);
          return rows;
        },
      });
    },
  };
}

/** A ClickHouse whose every insert takes 100 ms, tracing when each starts; `rejecting` tables refuse their rows. */
class SlowClickHouse extends FakeClickHouse {
  rejecting = new Set<string>();

  override async write(w: TableWrite): Promise<void> {
    this.trace.push(`start ${w.table}`);
    await new Promise((r) => setTimeout(r, 100));
    if (this.rejecting.has(w.table))
      throw new ViewpulseError('VP_ERR_CLICKHOUSE_REJECTED', `${w.table}: Code: 53. Type mismatch`);
    await super.write(w);
  }
}

/** Offsets 0.. of one partition: viewers a, b, a, b, ... watching v1, v2, ... */
function fill(cluster: FakeCluster, partition: number, n: number, viewers = ['a', 'b']): void {
  for (let i = 0; i < n; i++) {
    const offset = cluster.log.get(partition)!.length;
    cluster.append(partition, {
      viewer: viewers[offset % viewers.length]!,
      video: `v${offset % 3}`,
      t: 1_000 * offset,
    });
  }
}

const tallies = (ch: FakeClickHouse) =>
  sortTallies(ch.final(TALLIES.name) as { kafka_partition: number; viewer: string; records: number }[]).map(
    ({ kafka_partition, viewer, records }) => ({ kafka_partition, viewer, records }),
  );
const only = (trace: Trace, ...kinds: string[]) => trace.filter((l) => kinds.includes(l.split(' ')[0]!));
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

async function until(what: string, check: () => boolean, maxMs = 10_000): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited > maxMs) throw new Error(`timed out waiting for: ${what}`);
    await advance(10);
  }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(0);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('the batch loop', () => {
  it('resolves each offset right after its record was processed, and commits nothing in the batch', async () => {
    const s = setup();
    fill(s.cluster, 0, 3);
    await s.runner.start();
    const [batch] = await s.cluster.consumer.deliver();
    expect(batch).toMatchObject({ partition: 0, offsets: [0, 1, 2], resolved: [0, 1, 2], heartbeats: 1 });
    expect(only(s.trace, 'process', 'resolve')).toEqual([
      'process 0@0',
      'resolve 0@0',
      'process 0@1',
      'resolve 0@1',
      'process 0@2',
      'resolve 0@2',
    ]);
    expect(s.ch.writes).toEqual([]);
    expect(s.cluster.committed.size).toBe(0);
    expect(s.runner.status()).toEqual([
      { partition: 0, lastOffset: 2, checkpointed: -1, watermark: 2_000, lag: 0, stuck: false },
    ]);
  });

  it("the catalog is asked for the batch's videos before any of its records is processed", async () => {
    const s = setup();
    fill(s.cluster, 0, 4);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    expect(s.catalog.asked).toEqual([['v0', 'v1', 'v2', 'v0']]);
    expect(s.trace.indexOf('ensure v0,v1,v2,v0')).toBeLessThan(s.trace.indexOf('process 0@0'));
  });

  it("holds a partition while the catalog does not know a record's video, and goes on once it does", async () => {
    const s = setup({ options: { catalogHoldMs: 10_000 } });
    fill(s.cluster, 0, 2);
    s.cluster.append(0, { viewer: 'a', video: 'late', t: 2_000 });
    fill(s.cluster, 0, 1);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    // processed up to the unknown video, the rest left unresolved, the partition paused
    expect(only(s.trace, 'process')).toEqual(['process 0@0', 'process 0@1']);
    expect(s.cluster.consumer.paused.has(0)).toBe(true);
    expect(await s.metric('viewpulse_processor_catalog_holds_total')).toBe(1);
    await advance(300);
    expect(s.cluster.consumer.paused.has(0)).toBe(false);
    await s.cluster.consumer.deliver(); // still unknown: held again
    expect(only(s.trace, 'process')).toHaveLength(2);
    s.catalog.add('late', { creatorId: 'c2', durationMs: 20_000 });
    await advance(300);
    await s.cluster.consumer.deliver();
    expect(only(s.trace, 'process')).toEqual(['process 0@0', 'process 0@1', 'process 0@2', 'process 0@3']);
    expect(await s.metric('viewpulse_processor_catalog_misses_total')).toBe(0);
  });

  it('applies a video still unknown after catalogHoldMs as "not in the catalog", and counts the miss', async () => {
    const s = setup({ options: { catalogHoldMs: 1_000 } });
    s.cluster.append(0, { viewer: 'a', video: 'never', t: 0 });
    await s.runner.start();
    await s.cluster.consumer.deliver();
    expect(only(s.trace, 'process')).toEqual([]);
    for (let i = 0; i < 6 && only(s.trace, 'process').length === 0; i++) {
      await advance(300);
      await s.cluster.consumer.deliver();
    }
    expect(only(s.trace, 'process')).toEqual(['process 0@0']);
    expect(await s.metric('viewpulse_processor_catalog_misses_total')).toBe(1);
  });

  it('commits only after the rows and the state were acknowledged: checkpoint offset + 1', async () => {
    const s = setup();
    fill(s.cluster, 0, 3);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    // The timer flushes the rows; no checkpoint is due yet, so nothing is committed.
    await advance(500);
    expect(s.ch.rows(TALLIES.name)).toEqual([
      { kafka_partition: 0, viewer: 'a', records: 2, version: 2 },
      { kafka_partition: 0, viewer: 'b', records: 1, version: 1 },
    ]);
    expect(s.store.saved.size).toBe(0);
    expect(s.cluster.committed.size).toBe(0);
    // Checkpointed by now (the records stopped 1 s in): the state, then the offset after it.
    await advance(4_500);
    expect(s.store.saved.get(0)).toEqual({
      offset: 2,
      state: new Map<string, unknown>([
        ['count:a', { n: 2 }],
        ['count:b', { n: 1 }],
        ['wm', 2_000],
      ]),
    });
    expect(s.cluster.committed.get(0)).toBe(3);
    expect(only(s.trace, 'write', 'save', 'commit')).toEqual(['write tallies 2', 'save 0@2', 'commit 0:3']);
    expect(await s.metric('viewpulse_processor_checkpoints_total')).toBe(1);
  });

  it('the store is handed only the keys a partition changed since its last checkpoint', async () => {
    const s = setup({ options: { checkpointIntervalMs: 1_000 } });
    fill(s.cluster, 0, 3);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    await advance(1_000);
    s.cluster.append(0, { viewer: 'c', video: 'v1', t: 500 }); // an earlier event time: wm stays
    await s.cluster.consumer.deliver();
    await advance(1_000);
    expect(s.store.saves).toEqual([
      [
        {
          partition: 0,
          offset: 2,
          changes: [
            ['count:a', { n: 2 }],
            ['count:b', { n: 1 }],
            ['wm', 2_000],
          ],
        },
      ],
      [{ partition: 0, offset: 3, changes: [['count:c', { n: 1 }]] }],
    ]);
    expect(s.cluster.committed.get(0)).toBe(4);
  });

  it("writes a flush's data tables side by side, and its watermarks only once they were acknowledged", async () => {
    const s = setup({ moreTables: true });
    fill(s.cluster, 0, 3);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    await until('the watermarks written', () => s.trace.includes(`write ${TABLES.watermarks} 1`));
    expect(only(s.trace, 'start', 'write')).toEqual([
      'start tallies',
      'start tally_totals',
      'write tallies 2',
      'write tally_totals 1',
      `start ${TABLES.watermarks}`,
      `write ${TABLES.watermarks} 1`,
    ]);
  });

  it('a table that rejects its rows crashes the runner even while another table is unreachable', async () => {
    const s = setup({ moreTables: true, options: { maxRestarts: 1 } });
    const ch = s.ch as SlowClickHouse;
    fill(s.cluster, 0, 3);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    // at the flush, tallies fails first in table order, retriably (down); tally_totals refuses its rows
    ch.mode = 'down';
    ch.rejecting.add('tally_totals');
    await until('crash', () => s.runner.state === 'restarting');
    expect(s.runner.health().last_error).toContain('VP_ERR_CLICKHOUSE_REJECTED');
  });

  it('under a steady stream the state is saved at the checkpoint interval, not at every flush', async () => {
    const s = setup({ options: { checkpointIntervalMs: 30_000 } });
    await s.runner.start();
    // one record every 500 ms for 20 s: rows flushed every second, no checkpoint
    for (let i = 0; i < 40; i++) {
      fill(s.cluster, 0, 1);
      await s.cluster.consumer.deliver();
      await advance(500);
    }
    expect(s.ch.rows(TALLIES.name).length).toBeGreaterThanOrEqual(19);
    expect(s.store.saves).toEqual([]);
    expect(s.cluster.committed.size).toBe(0);
  });

  it('once records stop for a flush interval, what moved is checkpointed and committed at once', async () => {
    const s = setup({ options: { checkpointIntervalMs: 30_000 } });
    await s.runner.start();
    for (let i = 0; i < 6; i++) {
      fill(s.cluster, 0, 1);
      await s.cluster.consumer.deliver();
      await advance(500);
    }
    expect(s.store.saves).toEqual([]);
    // 1 s after the last record (a flush interval), not 30 s
    await advance(1_000);
    expect(s.store.saves.map((save) => save.map((e) => `${e.partition}@${e.offset}`))).toEqual([['0@5']]);
    expect(s.cluster.committed.get(0)).toBe(6);
    // nothing moved since: no more checkpoints while it stays quiet
    await advance(60_000);
    expect(s.store.saves).toHaveLength(1);
    // and a record after the quiet spell is checkpointed a flush interval after it
    fill(s.cluster, 0, 1);
    await s.cluster.consumer.deliver();
    await advance(1_500);
    expect(s.cluster.committed.get(0)).toBe(7);
  });

  it('flushes inside the batch once flushRows rows wait', async () => {
    const s = setup({ options: { flushRows: 2 } });
    s.cluster.append(0, { viewer: 'a', video: 'v1', t: 1 });
    s.cluster.append(0, { viewer: 'b', video: 'v1', t: 2 });
    await s.runner.start();
    await s.cluster.consumer.deliver();
    expect(s.ch.rows(TALLIES.name)).toHaveLength(2);
  });

  it('drains a processor when a flush takes its rows: a key changed by several batches is one row per flush', async () => {
    const s = setup();
    await s.runner.start();
    for (let i = 0; i < 3; i++) {
      fill(s.cluster, 0, 2, ['a']);
      await s.cluster.consumer.deliver();
    }
    expect(s.ch.writes).toHaveLength(0);
    await advance(1_000);
    await until('the flush wrote', () => s.ch.rows(TALLIES.name).length > 0);
    // one row, as of the last of the three batches (before: one per batch)
    expect(s.ch.rows(TALLIES.name).map((r) => [r.viewer, r.records, r.version])).toEqual([['a', 6, 5]]);
    expect(only(s.trace, 'drain')).toEqual(['drain 0']);
    // idle: the timer's flushes and checkpoints drain nothing (a processor's drain writes its watermark row)
    await advance(60_000);
    expect(only(s.trace, 'drain')).toEqual(['drain 0']);
  });

  it('drains every partition once they hold flushRows records undrained, and flushes on flushRows rows', async () => {
    const s = setup({ partitions: 2, options: { flushRows: 4 } });
    await s.runner.start();
    fill(s.cluster, 0, 2, ['a']);
    fill(s.cluster, 1, 1, ['a']);
    await s.cluster.consumer.deliver(); // 3 undrained
    await s.cluster.consumer.deliver();
    expect(only(s.trace, 'drain')).toEqual([]);
    fill(s.cluster, 0, 1, ['a']);
    await s.cluster.consumer.deliver(); // 4 undrained: both drained, 2 rows pending, no flush
    expect(only(s.trace, 'drain').sort()).toEqual(['drain 0', 'drain 1']);
    expect(s.ch.writes).toHaveLength(0);
  });

  it('processes the next batch while a flush writes; that checkpoint covers only the offsets it took', async () => {
    // two viewers' tallies: two rows, a flush
    const s = setup({ options: { checkpointIntervalMs: 0, flushRows: 2 } });
    fill(s.cluster, 0, 4);
    await s.runner.start();
    const release = s.ch.hold();
    await s.cluster.consumer.deliver(); // 0..3: processed, and their flush started (its inserts wait)
    fill(s.cluster, 0, 3, ['a']); // one viewer: one row, no flush yet
    const [next] = await s.cluster.consumer.deliver(); // processed while those inserts wait
    expect(next!.resolved).toEqual([4, 5, 6]);
    expect(s.ch.writes).toHaveLength(0);
    expect(s.store.saves).toHaveLength(0);
    expect(s.cluster.committed.size).toBe(0);
    release();
    await until('the first flush checkpointed', () => s.store.saves.length === 1);
    // its state and offset are those of 0..3, not of the batch processed meanwhile (a: 2 + 3)
    expect(s.store.saved.get(0)?.offset).toBe(3);
    expect(s.store.saved.get(0)?.state.get('count:a')).toEqual({ n: 2 });
    await until('its offset committed', () => s.cluster.committed.get(0) === 4);
    expect(s.ch.rows(TALLIES.name).map((r) => r.version)).toEqual([2, 3]); // the rows of 0..3 only
    // the next flush writes the rest
    await advance(1_000);
    await until('the rest committed', () => s.cluster.committed.get(0) === 7);
    expect(s.store.saved.get(0)?.offset).toBe(6);
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
  });

  it('a checkpoint whose rows could not be written saves its state changes with the next one', async () => {
    const s = setup({ options: { checkpointIntervalMs: 0 } });
    fill(s.cluster, 0, 4);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    s.ch.mode = 'down';
    await advance(500); // the timer's flush took rows and state changes, and failed on the rows
    expect(s.ch.attempts).toBeGreaterThan(0);
    expect(s.store.saves).toHaveLength(0);
    s.ch.mode = 'up';
    await advance(5_000);
    expect(s.cluster.committed.get(0)).toBe(4);
    // the processor handed those changes out once: they are saved now, not lost
    expect(s.store.saved.get(0)).toEqual({
      offset: 3,
      state: new Map<string, unknown>([
        ['count:a', { n: 2 }],
        ['count:b', { n: 2 }],
        ['wm', 3_000],
      ]),
    });
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
  });

  it('a crash while a flush writes: the flush ends first, takes no checkpoint, and the restart replays', async () => {
    let thrown = 0;
    const s = setup({
      throwAt: (_, offset) => offset === 6 && thrown++ === 0,
      options: { checkpointIntervalMs: 0, flushRows: 2 },
    });
    fill(s.cluster, 0, 4);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    await until('0..3 committed', () => s.cluster.committed.get(0) === 4);
    await advance(1_000);
    fill(s.cluster, 0, 4);
    const release = s.ch.hold();
    // 4 and 5 are processed and flushed (the flush waits), 6 throws in the next batch
    await s.cluster.consumer.deliver({ max: 2 });
    await s.cluster.consumer.deliver();
    await until('the crashed consumer is closed', () => s.trace.includes('disconnect'));
    expect(s.runner.state).toBe('restarting');
    release();
    await until('a new consumer runs', () => s.cluster.consumers.length === 2 && s.runner.state === 'running');
    // the flush of 4..5 wrote its rows but saved no state: the crash came before its checkpoint
    expect(s.store.saved.get(0)?.offset).toBe(3);
    await s.cluster.consumer.deliver();
    await advance(1_000);
    await until('everything committed', () => s.cluster.committed.get(0) === 8);
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
  });

  it('a refused commit leaves the checkpoint standing; the next checkpoint commits it', async () => {
    const s = setup();
    fill(s.cluster, 0, 2);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    s.cluster.refuseCommits = true;
    await advance(5_000);
    expect(s.store.saved.get(0)?.offset).toBe(1);
    expect(s.cluster.committed.size).toBe(0);
    s.cluster.refuseCommits = false;
    await advance(5_000);
    expect(s.cluster.committed.get(0)).toBe(2);
    expect(only(s.trace, 'save')).toEqual(['save 0@1']); // nothing moved: the state is not saved again
  });

  it('after a restore, records up to the checkpoint offset are skipped and the checkpoint is committed again', async () => {
    const s = setup();
    fill(s.cluster, 0, 8);
    // A crash fell between saving the state of offsets 0..4 and committing: Kafka hands out 0.. again.
    s.store.seed(0, 4, [
      ['count:a', 3],
      ['count:b', 2],
      ['wm', 4_000],
    ]);
    await s.runner.start();
    const [batch] = await s.cluster.consumer.deliver();
    expect(s.store.loads).toEqual([0]);
    expect(batch!.offsets).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(only(s.trace, 'process')).toEqual(['process 0@5', 'process 0@6', 'process 0@7']);
    // the skipped ones are resolved as well: they are in the restored state (a batch of only those would otherwise be fetched again and again)
    expect(batch!.resolved).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await advance(5_000);
    expect(s.cluster.committed.get(0)).toBe(8);
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
  });

  it('a restored partition whose committed offset is ahead of its checkpoint seeks back to it', async () => {
    const s = setup();
    fill(s.cluster, 0, 8);
    s.store.seed(0, 2, [
      ['count:a', 2],
      ['count:b', 1],
      ['wm', 2_000],
    ]);
    s.cluster.committed.set(0, 6); // e.g. the state was reset to an older checkpoint
    await s.runner.start();
    const [ahead] = await s.cluster.consumer.deliver();
    expect(ahead).toMatchObject({ offsets: [6, 7], resolved: [] });
    expect(only(s.trace, 'seek', 'process')).toEqual(['seek 0:3']);
    const [back] = await s.cluster.consumer.deliver();
    expect(back).toMatchObject({ offsets: [3, 4, 5, 6, 7], resolved: [3, 4, 5, 6, 7] });
    await advance(5_000);
    expect(s.cluster.committed.get(0)).toBe(8);
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
  });
});

describe('bad input', () => {
  it('an undecodable record and one breaking a rule become dead-letter rows and DLQ messages with the reason; the loop goes on', async () => {
    const s = setup();
    s.cluster.append(0, { viewer: 'a', video: 'v1', t: 1 }, 'a');
    const garbage = Buffer.from([0xff, 0x00, 0x13]);
    s.cluster.append(0, garbage, 'x');
    s.cluster.append(0, { viewer: 'b', video: 'v1', t: 2 }, 'b');
    s.cluster.append(0, { viewer: 'c', video: 'v2', t: 3, bad: true }, 'c');
    await s.runner.start();
    const [batch] = await s.cluster.consumer.deliver();
    // The undecodable one never reaches the processor; every offset is resolved.
    expect(only(s.trace, 'process')).toEqual(['process 0@0', 'process 0@2', 'process 0@3']);
    expect(batch!.resolved).toEqual([0, 1, 2, 3]);
    await advance(5_000);

    expect(s.cluster.sent).toHaveLength(1);
    const [send] = s.cluster.sent;
    expect(send).toMatchObject({ topic: DLQ, acks: -1 });
    expect(send!.messages.map((m) => [m.key?.toString(), m.value])).toEqual([
      ['x', garbage],
      ['c', s.cluster.log.get(0)![3]!.value],
    ]);
    const [undecodable, rule] = send!.messages.map((m) => m.headers);
    expect(undecodable).toMatchObject({
      [DLQ_HEADERS.code]: 'VP_ERR_DECODE_MAGIC',
      [DLQ_HEADERS.stage]: 'tally',
      [DLQ_HEADERS.sourceTopic]: TOPIC,
      [DLQ_HEADERS.sourcePartition]: '0',
      [DLQ_HEADERS.sourceOffset]: '1',
    });
    expect(undecodable![DLQ_HEADERS.reason]).toContain('not in Confluent wire format');
    expect(rule).toMatchObject({
      [DLQ_HEADERS.code]: 'VP_ERR_EVENT_RULES',
      [DLQ_HEADERS.reason]: 'bad: viewer c broke the rule',
      [DLQ_HEADERS.sourceOffset]: '3',
    });

    expect(s.ch.rows('dead_letters')).toEqual([
      {
        stage: 'tally',
        source_topic: TOPIC,
        kafka_partition: 0,
        kafka_offset: 1,
        record_time: Number(s.cluster.log.get(0)![1]!.timestamp),
        code: 'VP_ERR_DECODE_MAGIC',
        reason: expect.stringContaining('VP_ERR_DECODE_MAGIC'),
        video_id: '',
      },
      {
        stage: 'tally',
        source_topic: TOPIC,
        kafka_partition: 0,
        kafka_offset: 3,
        record_time: Number(s.cluster.log.get(0)![3]!.timestamp),
        code: 'VP_ERR_EVENT_RULES',
        reason: 'bad: viewer c broke the rule',
        video_id: 'v2',
      },
    ]);
    // The letters are in Kafka, then the rows (the processor's tables first) in ClickHouse, then the commit.
    expect(only(s.trace, 'dlq', 'write', 'save', 'commit')).toEqual([
      'dlq 1,3',
      'write tallies 2',
      'write dead_letters 2',
      'save 0@3',
      'commit 0:4',
    ]);
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
    expect(await s.metric('viewpulse_processor_records_total', { outcome: 'ok' })).toBe(2);
    expect(await s.metric('viewpulse_processor_records_total', { outcome: 'dlq:VP_ERR_DECODE_MAGIC' })).toBe(1);
    expect(await s.metric('viewpulse_processor_dead_letters_total', { code: 'VP_ERR_EVENT_RULES' })).toBe(1);
  });

  it('a registry outage while decoding goes back to kafkajs: nothing processed or resolved, no crash', async () => {
    const s = setup();
    fill(s.cluster, 0, 2);
    await s.runner.start();
    s.serde.registryDown = true;
    const [failed] = await s.cluster.consumer.deliver();
    expect(failed!.error).toBeInstanceOf(ViewpulseError);
    expect((failed!.error as ViewpulseError).code).toBe('VP_ERR_REGISTRY_UNAVAILABLE');
    expect(failed!.resolved).toEqual([]);
    expect(only(s.trace, 'process')).toEqual([]);
    expect(s.runner.state).toBe('running');
    s.serde.registryDown = false;
    const [again] = await s.cluster.consumer.deliver();
    expect(again!.resolved).toEqual([0, 1]);
  });
});

describe('a ClickHouse outage', () => {
  it('pauses consumption without committing, pings with a doubling backoff, resumes after a write succeeded; no row lost or written twice', async () => {
    const s = setup({ options: { checkpointIntervalMs: 1_000 } });
    fill(s.cluster, 0, 5);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    s.ch.mode = 'down';
    await advance(500); // the timer's flush fails: paused
    expect(s.ch.attempts).toBe(1);
    expect(s.cluster.consumer.paused).toEqual(new Set([0]));
    expect(await s.metric('viewpulse_processor_paused')).toBe(1);
    expect(s.runner.state).toBe('running');

    // A batch fetched before the pause took effect is left unresolved; nothing more is fetched.
    fill(s.cluster, 0, 2);
    const [late] = await s.cluster.consumer.deliver({ ignorePause: true });
    expect(late).toMatchObject({ offsets: [5, 6], resolved: [] });
    expect(await s.cluster.consumer.deliver()).toEqual([]);

    // The timer asks ClickHouse at 1 s, 2 s, 4 s, 8 s (backoff 0.5 s doubling) and writes nothing meanwhile.
    await advance(3_500);
    expect(s.ch.pings).toBe(3);
    await advance(3_900);
    expect(s.ch.pings).toBe(3);
    expect(s.ch.attempts).toBe(1);
    expect(s.cluster.committed.size).toBe(0);

    s.ch.mode = 'up';
    await advance(100); // t = 8 s: the ping answers, the flush writes, checkpoints, commits, resumes
    expect(s.ch.pings).toBe(4);
    expect(only(s.trace, 'pause', 'write', 'save', 'commit', 'resume')).toEqual([
      'pause',
      'write tallies 2',
      'save 0@4',
      'commit 0:5',
      'resume',
    ]);
    expect(s.cluster.consumer.paused.size).toBe(0);
    expect(await s.metric('viewpulse_processor_paused')).toBe(0);

    await s.cluster.consumer.drainAll();
    await advance(1_000);
    expect(s.cluster.committed.get(0)).toBe(7);
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
    const written = s.ch.rows(TALLIES.name).map((r) => `${r.kafka_partition}|${r.viewer}|${r.version}`);
    expect(new Set(written).size).toBe(written.length);
  });

  it('a failed state save pauses too: the rows are in, the offset is not committed until the state is', async () => {
    const s = setup({ options: { checkpointIntervalMs: 1_000 } });
    fill(s.cluster, 0, 3);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    s.store.savesFail = true;
    await advance(1_000);
    expect(s.ch.rows(TALLIES.name)).toHaveLength(2);
    expect(s.cluster.consumer.paused.size).toBe(1);
    expect(s.cluster.committed.size).toBe(0);
    s.store.savesFail = false;
    await advance(1_000); // retry due at 1.5 s: ping, flush (no rows), checkpoint, commit, resume
    expect(only(s.trace, 'write', 'save', 'commit')).toEqual(['write tallies 2', 'save 0@2', 'commit 0:3']);
    expect(s.cluster.committed.get(0)).toBe(3);
    expect(s.cluster.consumer.paused.size).toBe(0);
    expect(s.ch.rows(TALLIES.name)).toHaveLength(2);
  });

  it("a partition's state that cannot be loaded pauses before anything is resolved", async () => {
    const s = setup();
    fill(s.cluster, 0, 2);
    await s.runner.start();
    s.ch.mode = 'down';
    const [batch] = await s.cluster.consumer.deliver();
    expect(batch!.resolved).toEqual([]);
    expect(s.cluster.consumer.paused.size).toBe(1);
    s.ch.mode = 'up';
    await advance(1_000);
    expect(s.cluster.consumer.paused.size).toBe(0);
    const [again] = await s.cluster.consumer.deliver();
    expect(again!.resolved).toEqual([0, 1]);
  });
});

describe('rebalances', () => {
  /** The store's next save: partition 0's transaction fenced (its new owner took it), the others saved. */
  const fenceNextSave = (s: ReturnType<typeof setup>, during: () => void): void => {
    const save = s.store.save.bind(s.store);
    s.store.save = async (entries) => {
      s.store.save = save;
      during();
      await save(entries.filter((e) => e.partition !== 0));
      const fenced = Object.assign(new Error('Producer attempted an operation with an old epoch'), {
        name: 'KafkaJSProtocolError',
      });
      throw new SaveFailed(fenced, [0]);
    };
  };

  it('a partition revoked mid-checkpoint and fenced by its new owner is let go: no crash, the others checkpoint', async () => {
    const s = setup({ partitions: 2 });
    fill(s.cluster, 0, 2, ['a', 'b']);
    fill(s.cluster, 1, 2, ['c', 'd']);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    // the rebalance lands while the checkpoint is saved
    fenceNextSave(s, () => s.cluster.consumer.rebalance([1]));
    await advance(5_000);
    expect(s.failures).toEqual([]);
    expect(await s.metric('viewpulse_processor_restarts_total')).toBe(0);
    expect(s.runner.state).toBe('running');
    expect(only(s.trace, 'save', 'commit')).toEqual(['save 1@1', 'commit 1:2']);
  });

  // A failed save must never be retried from memory: its changes were relative to the state
  // its restore read, and a new owner may have written since (runtime/changelog-store.ts).
  it('a failed save of a partition it still owns drops that partition: its next batch restores it and replays from the checkpoint', async () => {
    const s = setup({ partitions: 2 });
    fill(s.cluster, 0, 2, ['a', 'b']);
    fill(s.cluster, 1, 2, ['c', 'd']);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    fenceNextSave(s, () => undefined);
    await advance(5_000);
    expect(await s.metric('viewpulse_processor_restarts_total')).toBe(0);
    expect(s.runner.status().map((p) => p.partition)).toEqual([1]);
    expect(only(s.trace, 'save', 'commit')).toEqual(['save 1@1', 'commit 1:2']);

    fill(s.cluster, 0, 2, ['e', 'f']);
    await s.cluster.consumer.drainAll();
    expect(s.store.loads).toEqual([0, 1, 0]);
    // restored with no checkpoint: back to its first record
    expect(s.trace).toContain('seek 0:0');
    expect(only(s.trace, 'process').filter((l) => l.startsWith('process 0@'))).toEqual([
      'process 0@0',
      'process 0@1',
      'process 0@0',
      'process 0@1',
      'process 0@2',
      'process 0@3',
    ]);
    await advance(5_000);
    expect(s.cluster.committed).toEqual(
      new Map([
        [1, 2],
        [0, 4],
      ]),
    );
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
    expect(s.failures).toEqual([]);
  });

  it("so does one that fails in the flush at the end of a batch (not only in the timer's)", async () => {
    const s = setup({ partitions: 2, options: { flushRows: 1, checkpointIntervalMs: 0 } });
    fill(s.cluster, 0, 2, ['a', 'b']);
    fill(s.cluster, 1, 2, ['c', 'd']);
    await s.runner.start();
    fenceNextSave(s, () => undefined);
    await s.cluster.consumer.deliver();
    expect(await s.metric('viewpulse_processor_restarts_total')).toBe(0);
    expect(s.runner.state).toBe('running');
    expect(s.runner.status().map((p) => p.partition)).not.toContain(0);
    await s.cluster.consumer.drainAll();
    await advance(1_000);
    expect(s.store.loads.filter((p) => p === 0)).toHaveLength(2);
    expect(s.cluster.committed.get(0)).toBe(2);
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
    expect(s.failures).toEqual([]);
  });

  it('the first batch after an assignment restores every assigned partition side by side, heartbeating while it waits', async () => {
    const s = setup({ partitions: 3 });
    for (const p of [0, 1, 2]) fill(s.cluster, p, 2);
    let open!: () => void;
    const slow = new Promise<void>((r) => (open = r));
    const load = s.store.load.bind(s.store);
    s.store.load = async (p) => {
      const saved = await load(p);
      await slow;
      return saved;
    };
    await s.runner.start();
    const delivering = s.cluster.consumer.deliver();
    await advance(3_500);
    // all three restores under way at once, none of their records processed yet
    expect(s.store.loads).toEqual([0, 1, 2]);
    expect(only(s.trace, 'process')).toEqual([]);
    open();
    const [first] = await delivering;
    expect(first!.heartbeats).toBeGreaterThanOrEqual(3);
    // the restore held the batch up 3.5 s (the clock's advance): the gauge says so
    expect(await s.metric('viewpulse_processor_restore_seconds')).toBeCloseTo(3.5, 1);
    await s.cluster.consumer.drainAll();
    expect(s.store.loads).toEqual([0, 1, 2]);
    await advance(5_000);
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
  });

  it('a kept partition another instance moved on meanwhile (this one was dropped from the group and came back) is restored, not continued from memory', async () => {
    const s = setup();
    fill(s.cluster, 0, 2, ['a', 'b']);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    expect(s.store.loads).toEqual([0]);
    // Meanwhile another member owned partition 0: it processed offsets 0..3 and checkpointed.
    fill(s.cluster, 0, 4, ['a', 'b']);
    s.store.seed(0, 3, [
      ['count:a', 2],
      ['count:b', 2],
    ]);
    s.cluster.committed.set(0, 4);
    s.cluster.consumer.rebalance([0]);
    await s.cluster.consumer.drainAll();
    expect(s.store.loads).toEqual([0, 0]);
    expect(only(s.trace, 'process')).toEqual(['process 0@0', 'process 0@1', 'process 0@4', 'process 0@5']);
    await advance(5_000);
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
  });

  it('a revoked partition loses its state and unwritten rows; given back, it is restored from its checkpoint', async () => {
    const s = setup({ partitions: 2 });
    fill(s.cluster, 0, 2, ['a', 'b']);
    fill(s.cluster, 1, 2, ['c', 'd']);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    expect(s.runner.status().map((p) => p.partition)).toEqual([0, 1]);

    s.cluster.consumer.rebalance([1]);
    expect(s.runner.status().map((p) => p.partition)).toEqual([1]);
    await advance(5_000);
    expect(s.ch.rows(TALLIES.name).map((r) => r.kafka_partition)).toEqual([1, 1]);
    expect(only(s.trace, 'save', 'commit')).toEqual(['save 1@1', 'commit 1:2']);

    s.cluster.consumer.rebalance([0, 1]);
    await s.cluster.consumer.drainAll();
    expect(s.store.loads).toEqual([0, 1, 0]);
    expect(only(s.trace, 'process').filter((l) => l.startsWith('process 0@'))).toEqual([
      'process 0@0',
      'process 0@1',
      'process 0@0',
      'process 0@1',
    ]);
    await advance(5_000);
    expect(s.cluster.committed).toEqual(
      new Map([
        [1, 2],
        [0, 2],
      ]),
    );
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
  });
});

describe('supervision', () => {
  it('a thrown processor error crashes the loop: state dropped, nothing flushed, restarted from the checkpoint', async () => {
    let thrown = 0;
    const s = setup({
      throwAt: (_, offset) => offset === 6 && thrown++ === 0,
      options: { checkpointIntervalMs: 1_000 },
    });
    fill(s.cluster, 0, 4);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    await advance(1_000);
    expect(s.cluster.committed.get(0)).toBe(4);

    fill(s.cluster, 0, 4);
    const [crashed] = await s.cluster.consumer.deliver();
    expect(crashed!.resolved).toEqual([4, 5]); // 6 threw after it changed the state: never resolved
    await until('the crashed consumer is closed', () => s.trace.includes('disconnect'));
    expect(s.runner.state).toBe('restarting');
    expect(s.runner.status()).toEqual([]);
    expect(await s.metric('viewpulse_processor_restarts_total')).toBe(1);
    const writes = s.ch.writes.length;

    // restartBackoffMs: 100 (the crash came at most 10 ms before `until` saw the disconnect)
    await advance(80);
    expect(s.cluster.consumers).toHaveLength(1);
    await until('a new consumer runs', () => s.cluster.consumers.length === 2 && s.runner.state === 'running');
    expect(s.ch.writes).toHaveLength(writes); // the half-applied state never reached ClickHouse

    const [replayed] = await s.cluster.consumer.deliver();
    expect(replayed).toMatchObject({ offsets: [4, 5, 6, 7], resolved: [4, 5, 6, 7] });
    expect(s.store.loads).toEqual([0, 0]);
    await advance(1_000);
    expect(s.cluster.committed.get(0)).toBe(8);
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
    expect(s.failures).toEqual([]);
    expect(s.runner.health()).toMatchObject({ state: 'running', crashes: 1, last_error: 'injected bug at 0@6' });
  });

  it('a consumer that stops fetching with lag is restarted from the checkpoint after stuckAfterMs; nothing lost', async () => {
    const s = setup({ options: { checkpointIntervalMs: 1_000, stuckAfterMs: 10_000 } });
    fill(s.cluster, 0, 8);
    await s.runner.start();
    // kafkajs hands over half of the log, then (the bug this guards against) nothing more
    await s.cluster.consumer.deliver({ max: 4 });
    await advance(9_000);
    expect(s.runner.state).toBe('running'); // not yet: stuckAfterMs since the join
    await until('the stuck consumer is restarted', () => s.cluster.consumers.length === 2, 5_000);
    expect(s.runner.health()).toMatchObject({ crashes: 1 });
    expect(s.runner.health().last_error).toMatch(/partitions 0 made no progress for 10 s with lag/);
    await until('the new consumer runs', () => s.runner.state === 'running');
    await s.cluster.consumer.deliver();
    await advance(1_000);
    expect(s.cluster.committed.get(0)).toBe(8);
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
    expect(s.failures).toEqual([]);
  });

  it('gives up after maxRestarts crashes at the same position: state failed, onFailed called once, no more restarts', async () => {
    const s = setup({ throwAt: (_, offset) => offset === 2, options: { maxRestarts: 2 } });
    fill(s.cluster, 0, 4);
    await s.runner.start();
    for (let crash = 1; crash <= 3; crash++) {
      await s.cluster.consumer.deliver();
      await until(`crash ${crash} handled`, () => s.runner.state !== 'running');
      if (crash < 3)
        await until(`restart ${crash}`, () => s.cluster.consumers.length === crash + 1 && s.runner.state === 'running');
    }
    await until('it gives up', () => s.runner.state === 'failed');
    expect(s.failures.map((e) => e.message)).toEqual(['injected bug at 0@2']);
    expect(s.runner.health()).toMatchObject({ state: 'failed', crashes: 3, last_error: 'injected bug at 0@2' });
    await advance(60_000);
    expect(s.cluster.consumers).toHaveLength(3);
    expect(s.cluster.committed.size).toBe(0);
    expect(await s.metric('viewpulse_processor_up')).toBe(0);
    expect(await s.metric('viewpulse_processor_restarts_total')).toBe(3);
  });

  it('crashes at positions whose checkpoint moved in between do not add up', async () => {
    const thrown = new Set<number>();
    const s = setup({
      throwAt: (_, offset) => (offset === 2 || offset === 5) && !thrown.has(offset) && thrown.add(offset) !== undefined,
      options: { maxRestarts: 1, checkpointIntervalMs: 1_000 },
    });
    fill(s.cluster, 0, 8);
    await s.runner.start();
    await s.cluster.consumer.deliver(); // throws at 2: crash 1 at 0@-1
    await until('restart 1', () => s.cluster.consumers.length === 2 && s.runner.state === 'running');
    await s.cluster.consumer.deliver({ max: 4 }); // 0..3
    await advance(1_000);
    expect(s.cluster.committed.get(0)).toBe(4);
    await s.cluster.consumer.deliver(); // throws at 5: crash 1 at 0@3
    await until('restart 2', () => s.cluster.consumers.length === 3 && s.runner.state === 'running');
    await s.cluster.consumer.drainAll();
    await advance(1_000);
    expect(s.failures).toEqual([]);
    expect(s.cluster.committed.get(0)).toBe(8);
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
  });

  it('stop() while a crash is handled writes nothing of the dropped state', async () => {
    const s = setup({ throwAt: (_, offset) => offset === 1 });
    s.cluster.disconnectMs = 50; // stop() gets the lock before the crash handler drops the state
    fill(s.cluster, 0, 3);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    const stopped = s.runner.stop();
    await advance(200);
    await stopped;
    await advance(10_000);
    expect(s.ch.writes).toEqual([]);
    expect(s.cluster.committed.size).toBe(0);
    expect(s.cluster.consumers).toHaveLength(1);
  });

  it('rows ClickHouse rejects crash the runner at the flush position; a checkpoint in between starts a new count', async () => {
    const s = setup({ options: { maxRestarts: 1, checkpointIntervalMs: 1_000 } });
    fill(s.cluster, 0, 2);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    s.ch.mode = 'reject';
    await until('crash 1', () => s.runner.state === 'restarting');
    expect(s.runner.health().last_error).toContain('VP_ERR_CLICKHOUSE_REJECTED');
    s.ch.mode = 'up';
    await until('restart 1', () => s.cluster.consumers.length === 2 && s.runner.state === 'running');
    await s.cluster.consumer.drainAll();
    await advance(1_000);
    expect(s.cluster.committed.get(0)).toBe(2);

    fill(s.cluster, 0, 2);
    await s.cluster.consumer.deliver();
    s.ch.mode = 'reject';
    await until('crash 2', () => s.runner.state === 'restarting');
    s.ch.mode = 'up';
    await until('restart 2', () => s.cluster.consumers.length === 3 && s.runner.state === 'running');
    expect(s.failures).toEqual([]);
    await s.cluster.consumer.drainAll();
    await advance(1_000);
    expect(s.cluster.committed.get(0)).toBe(4);
    expect(tallies(s.ch)).toEqual(expectedTallies(s.cluster));
  });

  it('a retriable consumer crash is left to kafkajs; a fatal one restarts the consumer', async () => {
    const s = setup();
    await s.runner.start();
    const first = s.cluster.consumer;
    first.emit(first.events.CRASH, { error: new Error('KafkaJSConnectionError'), restart: true });
    expect(s.runner.state).toBe('restarting');
    first.rebalance([0]);
    expect(s.runner.state).toBe('running');
    expect(s.cluster.consumers).toHaveLength(1);

    first.emit(first.events.CRASH, { error: new Error('KafkaJSNonRetriableError'), restart: false });
    await until('a new consumer runs', () => s.cluster.consumers.length === 2 && s.runner.state === 'running');
    expect(first.connected).toBe(false);
    expect(await s.metric('viewpulse_processor_restarts_total')).toBe(2);
    // Events of the old consumer no longer count.
    first.emit(first.events.CRASH, { error: new Error('late'), restart: false });
    expect(s.runner.state).toBe('running');
  });
});

describe('stopping', () => {
  it('stop() drains, flushes, checkpoints and commits, then leaves', async () => {
    const s = setup();
    fill(s.cluster, 0, 3);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    await s.runner.stop();
    expect(only(s.trace, 'write', 'save', 'commit', 'disconnect')).toEqual([
      'write tallies 2',
      'save 0@2',
      'commit 0:3',
      'disconnect',
    ]);
    expect(s.runner.state).toBe('stopped');
  });

  it('abandon() leaves without writing or committing anything more', async () => {
    const s = setup();
    fill(s.cluster, 0, 3);
    await s.runner.start();
    await s.cluster.consumer.deliver();
    await s.runner.abandon();
    await advance(10_000);
    expect(s.ch.writes).toEqual([]);
    expect(s.cluster.committed.size).toBe(0);
    expect(s.runner.state).toBe('stopped');
  });
});
