// `viewpulse replay <processor...>`: rebuild processors' tables from the Kafka log into a shadow
// database (runtime/replay.ts), compare them with the live ones (--diff), swap them in (--swap).
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { createClickHouse } from '../lib/clickhouse/client.js';
import { migrateConfigured } from '../lib/clickhouse/migrations-cluster.js';
import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { ruleParameters, type RuleParameters } from '../processors/parameters.js';
import { diffTables, formatDiff } from '../runtime/replay-diff.js';
import { Replay, REPLAYABLE, type FromSpec, type ReplayableProcessor, type ReplayProgress } from '../runtime/replay.js';
import { processorRuntime } from '../runtime/start.js';
import { topics } from '../schemas/topics.js';
import { MIGRATIONS_DIR } from './migrate.js';

/** `2026-12-01T10:00:00Z` (any Date.parse-able time with a zone) or `0:1200,1:980` (partition:offset). */
export function parseFrom(text: string | undefined): FromSpec {
  if (text === undefined || text === '') return { kind: 'start' };
  if (/^\d+:\d+(,\d+:\d+)*$/.test(text)) {
    return {
      kind: 'offsets',
      offsets: new Map(text.split(',').map((po) => po.split(':').map(Number) as [number, number])),
    };
  }
  return { kind: 'time', ms: parseTime(text, '--from') };
}

export function parseTime(text: string, flag: string): number {
  const ms = /[zZ]|[+-]\d\d:?\d\d$/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) {
    throw new Error(`${flag}: expected an ISO time with a zone (e.g. 2026-12-01T10:00:00Z), got "${text}"`);
  }
  return ms;
}

export function parseProcessors(names: readonly string[]): ReplayableProcessor[] {
  const picked = names.includes('all') ? [...REPLAYABLE] : [...new Set(names)];
  const unknown = picked.filter((n) => !(REPLAYABLE as readonly string[]).includes(n));
  if (unknown.length)
    throw new Error(`cannot replay ${unknown.join(', ')} (replayable: ${REPLAYABLE.join(', ')}, or all)`);
  return picked as ReplayableProcessor[];
}

const fmt = (n: number): string => n.toLocaleString('en-US');
const short = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${Math.round(n / 1e3)}k` : String(n);

/** The lag of the partitions still behind, largest first: "p3 12k · p0 1.2k …". */
const lagLine = (p: ReplayProgress): string => {
  const behind = p.partitions
    .filter((x) => x.position < x.target)
    .sort((a, b) => b.target - b.position - (a.target - a.position));
  if (behind.length === 0) return 'all partitions done';
  const shown = behind.slice(0, 4).map((x) => `p${x.partition} ${short(x.target - x.position)}`);
  return `lag ${shown.join(' · ')}${behind.length > 4 ? ` +${behind.length - 4}` : ''}`;
};

/** What commander parses from the options below. */
interface ReplayOptions {
  from?: string;
  to?: string;
  swap?: boolean;
  diff?: boolean;
  fresh?: boolean;
  database?: string;
  json?: boolean;
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description(
      'rebuild processors’ tables from the Kafka log into a shadow database while the live processors keep running; ' +
        '--diff compares them with the live tables, --swap swaps them in and hands the live processors over. ' +
        'The rule parameters come from the VIEWPULSE_RULE_* variables (README, "Replaying"). A killed replay resumes when run again.',
    )
    .argument('<processor...>', `${REPLAYABLE.join(', ')}, or all`)
    .option(
      '--from <time|offsets>',
      'start at this time (ISO, with a zone) or these offsets (0:1200,1:980); default: the log start',
    )
    .option(
      '--to <time>',
      'stop at the first record at or after this time (ISO, with a zone); default: the log end when it starts',
    )
    .option(
      '--swap',
      'when rebuilt up to the log end, swap the tables in and hand the live processor over (rebuilds from the log start only)',
    )
    .option('--diff', 'compare the shadow tables with the live ones and print what differs (no rebuild)')
    .option('--fresh', 'abandon an unfinished replay of these processors and start over')
    .option('--database <name>', 'the shadow database', undefined)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  VIEWPULSE_RULE_VIEW_THRESHOLD_MS=10000 npx viewpulse replay view-counts engagement   # rebuild into <db>_replay
  npx viewpulse replay view-counts --diff                                               # what changed
  VIEWPULSE_RULE_VIEW_THRESHOLD_MS=10000 npx viewpulse replay view-counts engagement --swap
  npx viewpulse replay raw-events --from 2026-12-01T00:00:00Z --to 2026-12-01T06:00:00Z`,
    )
    .action(async (names: string[], opts: ReplayOptions) => {
      try {
        await replayCommand(names, opts);
      } catch (err) {
        console.error(`viewpulse replay: ${(err as Error).message}`);
        process.exitCode = 1;
      }
    });
}

async function replayCommand(names: string[], opts: ReplayOptions): Promise<void> {
  const processors = parseProcessors(names);
  const from = parseFrom(opts.from);
  const toMs = opts.to === undefined ? undefined : parseTime(opts.to, '--to');
  if (opts.swap && (from.kind !== 'start' || toMs !== undefined)) {
    throw new Error('--swap replaces whole tables, so it rebuilds from the log start: drop --from and --to');
  }
  const config = loadConfig();
  if (config.clickhouse.cluster) {
    // TRUNCATE and RENAME act on one server; a replicated set needs them on every replica in step
    throw new Error(
      'replay does not run against a replicated ClickHouse yet (VIEWPULSE_CLICKHOUSE_CLUSTER is set): rebuild on a single-node setup',
    );
  }
  if (config.processors.stateStore !== 'changelog') {
    // snapshot rows are keyed by processor, not by group: a replay's state would mix with the live one's
    throw new Error(
      'replay needs VIEWPULSE_STATE_STORE=changelog (the default): snapshot rows are not kept per consumer group',
    );
  }
  const shadowDatabase = opts.database ?? `${config.clickhouse.database}_replay`;
  if (shadowDatabase === config.clickhouse.database)
    throw new Error('--database: the shadow database must not be the live one');
  if (opts.diff) {
    const ch = createClickHouse(config.clickhouse);
    try {
      for (const p of processors) {
        const diffs = await diffTables(ch, p, config.clickhouse.database, shadowDatabase);
        console.log(
          opts.json
            ? JSON.stringify({ processor: p, tables: diffs }, null, 2)
            : `${p} (live ${config.clickhouse.database} → shadow ${shadowDatabase})\n${formatDiff(diffs)}`,
        );
      }
    } finally {
      await ch.close();
    }
    return;
  }
  const rules: RuleParameters = ruleParameters(config.rules);
  const logger = createLogger(config.logLevel);
  const runtime = await processorRuntime(config, logger);
  const bars = process.stderr.isTTY
    ? new cliProgress.MultiBar(
        {
          stream: process.stderr,
          format:
            'replay {processor} [{bar}] {percentage}% | {value}/{total} records | {speed}/s | ETA {eta_formatted} | {lags}',
          hideCursor: true,
          etaBuffer: 20,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const seen = new Map<string, { bar?: cliProgress.SingleBar; t0: number; d0: number; lastLine: number }>();
  const progress = (p: ReplayProgress): void => {
    const now = Date.now();
    let s = seen.get(p.processor);
    if (!s) {
      s = {
        bar: bars?.create(p.total, 0, { processor: p.processor, speed: 0, lags: '' }),
        t0: now,
        d0: p.done,
        lastLine: 0,
      };
      seen.set(p.processor, s);
    }
    const speed = Math.round((p.done - s.d0) / Math.max(0.001, (now - s.t0) / 1000));
    if (s.bar) {
      s.bar.setTotal(p.total);
      s.bar.update(p.done, { processor: p.processor, speed: fmt(speed), lags: lagLine(p) });
    } else if (now - s.lastLine >= 5_000 || p.done >= p.total) {
      s.lastLine = now;
      process.stderr.write(
        `replay ${p.processor}: ${fmt(p.done)}/${fmt(p.total)} records, ${fmt(speed)}/s, ${lagLine(p)}\n`,
      );
    }
  };
  const replay = new Replay({
    kafka: runtime.kafka,
    migrate: (database) => migrateConfigured(config.clickhouse, database, MIGRATIONS_DIR),
    clickhouse: runtime.clickhouse,
    database: config.clickhouse.database,
    topicPrefix: config.kafka.topicPrefix,
    topic: topics(config.kafka.topicPrefix).playEvents,
    createRunner: (processor, o) => runtime.createRunner(processor, o),
    logger,
    progress,
  });
  const abort = (): void => {
    bars?.stop();
    // a hand-over that has not exchanged tables yet gives the live processor back first
    void replay
      .interrupt()
      .catch((err: Error) => console.error(`viewpulse replay: could not call the hand-over off: ${err.message}`))
      .finally(() => {
        console.error('viewpulse replay: interrupted; run the same command again to resume');
        process.exit(130);
      });
  };
  process.once('SIGINT', abort);
  try {
    const results = await replay.run({
      processors,
      from,
      ...(toMs !== undefined && { toMs }),
      swap: opts.swap === true,
      fresh: opts.fresh === true,
      shadowDatabase,
      rules,
    });
    bars?.stop();
    if (opts.json) console.log(JSON.stringify({ shadow_database: shadowDatabase, rules, results }, null, 2));
    else {
      for (const r of results) {
        console.log(
          `${r.processor}: ${r.resumed ? 'resumed' : 'rebuilt'} replay ${r.replayId} (${fmt(r.records)} records) into ${shadowDatabase}` +
            (r.swapped
              ? `; swapped in — the live processor runs as ${r.groupId} (generation ${r.generation}); the old tables are in ${shadowDatabase}`
              : `; compare: npx viewpulse replay ${r.processor} --diff · swap in: add --swap`),
        );
      }
    }
  } finally {
    process.removeListener('SIGINT', abort);
    bars?.stop();
    await runtime.close();
  }
}
