// `viewpulse demo` (`npm run demo`): the whole pipeline on this machine, in one command.
// Brings up the real services, migrates, starts the catalog loader, the processors, the
// collector and the insights API with its dashboard, publishes a generated catalog, prints the
// dashboard's address and tokens to sign in with, drives generated traffic through the
// collector at a steady rate, shows what ClickHouse counts as it happens, and at the end
// compares the totals with the generator's ground truth. Then it keeps running so the
// dashboard can be browsed, with live traffic stamped "now" over the same videos so the
// realtime numbers move (`--exit` stops after the comparison). Structured logs go to a file
// under .viewpulse/logs/demo/ (its path is printed); the terminal shows one progress line.
// Ctrl-C stops everything cleanly; the services keep running.
import { join } from 'node:path';
import type { Command } from 'commander';
import { signToken } from '../api/auth.js';
import { createClickHouse, queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { flushLogs } from '../lib/logger.js';
import { loadConfig, type Config } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { RegistryClient } from '../lib/kafka/registry.js';
import { runSmoke } from '../lib/smoke.js';
import { generateTraffic, type Traffic } from '../generator/index.js';
import { pump } from '../generator/run.js';
import { CollectorSink } from '../generator/sinks.js';
import { TABLES } from '../schemas/tables.js';
import { smokeTopic } from '../schemas/topics.js';
import { stateDir } from '../infra/paths.js';
import { PrerequisiteError } from '../infra/service.js';
import { formatTable, servicesUp } from '../infra/services.js';
import { publishCatalog } from './generate.js';
import { migrateAll } from './migrate.js';
import { runApi } from '../api/server.js';
import { runCollector } from '../api/collector/server.js';
import { parseOnly } from '../runtime/registry.js';
import { runWithRefresher } from './run-processors.js';

interface DemoOptions {
  events: string;
  rate: string;
  seed?: string;
  smoke?: boolean;
  exit?: boolean;
}

/** How long the printed tokens stay valid. */
const TOKEN_TTL_SECONDS = 12 * 3600;
/**
 * Live phase: about 20 records/s. It starts an hour back, so the last hour arrives at once and
 * the rest as it happens: the realtime card starts full instead of ramping up for an hour.
 */
const LIVE_EVENTS = 500_000;
const LIVE_SPAN_MS = 7 * 3_600_000;
const LIVE_BACKFILL_MS = 3_600_000;

/**
 * One status line: rewritten in place on a terminal, or printed every 5 s when the output is
 * a file or a pipe (CI logs stay readable).
 */
function progressLine(): { update(text: string): void; done(): void } {
  const tty = process.stdout.isTTY === true;
  let last = '';
  let printedAt = 0;
  return {
    update(text) {
      last = text;
      if (tty) process.stdout.write(`\r\x1b[2K${text}`);
      else if (Date.now() - printedAt >= 5_000) {
        printedAt = Date.now();
        console.log(text);
      }
    },
    done() {
      if (tty && last) process.stdout.write('\n');
      else if (!tty && last) console.log(last);
      last = '';
    },
  };
}

const n = (x: number): string => x.toLocaleString('en-US');

/**
 * The creator with the largest expected share of the traffic: videos are picked by Zipf
 * popularity (weight 1 / rank^zipf), so sum the weights of each creator's videos.
 */
export function topCreator(traffic: Traffic): string {
  const weight = new Map<string, number>();
  for (const v of traffic.catalog.videos) {
    const c = v.video.creator_id;
    weight.set(c, (weight.get(c) ?? 0) + 1 / v.rank ** traffic.options.zipf);
  }
  return [...weight].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
}

const say = (line: string): void => console.log(line);

/** What ClickHouse counts so far (one client for the whole demo: the ticker asks every 5 s). */
async function totals(
  ch: ClickHouseClient,
  db: string,
): Promise<{ plays: number; views: number; watchHours: number; events: number }> {
  const [c] = await queryRows<{ plays: string; views: string; watch: string }>(
    ch,
    sql`SELECT sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch FROM ${v.table(db, TABLES.counts)} FINAL WHERE dim = 'video' AND grain = 'day'`,
  );
  const [e] = await queryRows<{ n: string }>(ch, sql`SELECT count() AS n FROM ${v.table(db, TABLES.playEvents)} FINAL`);
  return {
    plays: Number(c?.plays ?? 0),
    views: Number(c?.views ?? 0),
    watchHours: Number(c?.watch ?? 0) / 3_600_000,
    events: Number(e?.n ?? 0),
  };
}

async function smoke(config: Config, count: number): Promise<void> {
  const clickhouse = createClickHouse(config.clickhouse, 'default');
  const topic = smokeTopic(config.kafka.topicPrefix);
  const r = await runSmoke(
    {
      kafka: createKafka(config.kafka),
      registry: new RegistryClient(config.registry.url),
      clickhouse,
      database: config.clickhouse.database,
      topic,
    },
    count,
  );
  await clickhouse.close();
  const same = JSON.stringify(r.produced) === JSON.stringify(r.stored);
  say(
    `smoke: ${r.produced.length} Avro records (schema id ${r.schemaId}) → ${topic} → consumer → ClickHouse: ${same ? 'exact' : 'MISMATCH'}`,
  );
  if (!same) process.exitCode = 1;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'run the whole pipeline here: services, collector, processors, insights API and dashboard, generated traffic compared with its ground truth, then live traffic stamped now (about 20 records/s for 6 hours) until Ctrl-C; logs go to .viewpulse/logs/demo/',
    )
    .option('-n, --events <count>', 'generated records to send', '20000')
    .option('-r, --rate <perSecond>', 'records per second through the collector', '500')
    .option('-s, --seed <n>', 'generator seed (default: a new one each run, so runs add up)')
    .option('--smoke', 'only push records through registry, Kafka and ClickHouse once, and exit')
    .option(
      '--exit',
      'stop after the comparison with the ground truth (default: keep the dashboard running, fed by live traffic)',
    )
    .action(async (opts: DemoOptions) => {
      const events = Number(opts.events);
      const rate = Number(opts.rate);
      if (!Number.isInteger(events) || events < 1 || events > 10_000_000 || !(rate >= 0)) {
        console.error('viewpulse demo: --events must be 1..10000000 and --rate ≥ 0');
        process.exitCode = 2;
        return;
      }
      const stops: (() => Promise<void>)[] = [];
      const abort = new AbortController();
      const stopAll = async (): Promise<void> => {
        for (const stop of stops.reverse()) await stop().catch(() => undefined);
      };
      process.once('SIGINT', () => {
        say('\nstopping…');
        abort.abort();
      });
      // Structured logs of every component go to a file: the terminal is for people.
      const logFile = join(stateDir('logs', 'demo'), `demo-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
      process.env.VIEWPULSE_LOG_FILE = logFile;
      try {
        const config = loadConfig();
        say(`logs: ${logFile}`);
        say(formatTable(await servicesUp((l) => console.error(l))));
        if (opts.smoke) return await smoke(config, 1000);
        await migrateAll((l) => say(`migrate: ${l}`));
        const ch = createClickHouse(config.clickhouse);
        stops.push(() => ch.close());

        const seed = opts.seed === undefined ? Date.now() % 4_294_967_296 : Number(opts.seed);
        const traffic = generateTraffic({ events, seed });
        const before = await totals(ch, config.clickhouse.database);
        await publishCatalog(config, traffic);
        say(
          `catalog: ${traffic.catalog.videos.length} videos of ${traffic.catalog.creators.length} creators published`,
        );

        const processors = await runWithRefresher(parseOnly(undefined), {
          config,
          refresher: true,
          metricsPort: Number(process.env.VIEWPULSE_PROCESSORS_PORT ?? 9464),
          // a processor that gave up ends the demo with exit code 1 (its log file says why)
          onFailed: (name, err) => {
            console.error(`\nviewpulse demo: ${name} failed: ${err.message}`);
            process.exitCode = 1;
            abort.abort();
          },
        });
        stops.push(() => processors.stop());
        const collector = await runCollector(config);
        stops.push(() => collector.close());
        const api = await runApi(config).catch((err: unknown) => {
          if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
            throw new PrerequisiteError(
              `port ${config.api.port} is in use (another API or demo?): stop it or set VIEWPULSE_API_PORT`,
            );
          }
          throw err;
        });
        stops.push(() => api.close());
        say(
          `collector: ${collector.url}/v1/events · processors: ${processors.runners.map((r) => r.name).join(', ')} · metrics: http://127.0.0.1:${process.env.VIEWPULSE_PROCESSORS_PORT ?? 9464}/metrics`,
        );
        const creator = topCreator(traffic);
        const secret = config.api.jwtSecret;
        const creatorToken = await signToken({ secret, sub: creator, role: 'creator', ttlSeconds: TOKEN_TTL_SECONDS });
        const adminToken = await signToken({ secret, sub: 'admin', role: 'admin', ttlSeconds: TOKEN_TTL_SECONDS });
        const signIn = (): void => {
          say('');
          say(`dashboard: ${api.url}/   (API docs: ${api.url}/docs)`);
          // the token rides in the fragment: browsers never send it to a server
          say(`  open signed in as the top creator: ${api.url}/#token=${creatorToken}`);
          say(`  sign in as the top creator (${creator}), token valid ${TOKEN_TTL_SECONDS / 3600} h:`);
          say(`  ${creatorToken}`);
          say('  or as an admin (every creator):');
          say(`  ${adminToken}`);
          say('');
        };
        signIn();
        say(`sending ${events} generated records (seed ${seed}) at ${rate || 'full'} records/s (Ctrl-C stops)…`);

        const sink = new CollectorSink({
          url: `${collector.url}/v1/events`,
          writeKey: config.collector.writeKeys[0]!,
          maxHold: 200,
        });
        const progress = progressLine();
        let delivered = 0;
        const counted = (label: () => string) => (t: Awaited<ReturnType<typeof totals>>) =>
          progress.update(
            `${label()} · ClickHouse: ${n(t.events)} events · ${n(t.plays)} plays · ${n(t.views)} views · ${t.watchHours.toFixed(1)} h watched`,
          );
        const ticker = setInterval(
          () =>
            void totals(ch, config.clickhouse.database).then(
              counted(() => `sent ${n(delivered)}/${n(events)} records`),
              () => undefined,
            ),
          1_000,
        );
        const result = await pump(traffic, sink, {
          rate,
          signal: abort.signal,
          onProgress: (d) => (delivered = d),
          progressEveryMs: 250,
        });
        clearInterval(ticker);
        progress.done();
        if (!result.complete) return;

        // Let the processors catch up (watermarks, final flush), then compare with the truth.
        say('all sent; waiting for the processors to catch up…');
        const truth = traffic.truth();
        const deadline = Date.now() + 120_000;
        const added = async (): Promise<{ events: number; plays: number; views: number }> => {
          const now = await totals(ch, config.clickhouse.database);
          return {
            events: now.events - before.events,
            plays: now.plays - before.plays,
            views: now.views - before.views,
          };
        };
        let t = await added();
        while (
          (t.events < truth.counts.events || t.views < truth.totals.views) &&
          Date.now() < deadline &&
          !abort.signal.aborted
        ) {
          await new Promise((r) => setTimeout(r, 1_000));
          t = await added();
        }
        const mark = (got: number, want: number): string => `${got} (ground truth ${want}) ${got === want ? '✓' : '✗'}`;
        say('this run added:');
        say(`  events: ${mark(t.events, truth.counts.events)}`);
        say(`  plays:  ${mark(t.plays, truth.totals.plays)}`);
        say(`  views:  ${mark(t.views, truth.totals.views)}`);
        if (t.events !== truth.counts.events || t.plays !== truth.totals.plays || t.views !== truth.totals.views) {
          process.exitCode = 1;
        }
        say(
          `try: curl '${config.clickhouse.url}/?query=SELECT+*+FROM+${config.clickhouse.database}.video_counts_day+ORDER+BY+views+DESC+LIMIT+5'`,
        );
        if (!opts.exit && !abort.signal.aborted) {
          signIn();
          // Live: traffic of another seed over the same videos, each record sent when its
          // simulated time comes, so the realtime card and the last minutes keep moving.
          const live = generateTraffic({
            events: LIVE_EVENTS,
            seed: (seed + 1) % 4_294_967_296,
            catalogSeed: seed,
            start: Date.now() - LIVE_BACKFILL_MS,
            spanMs: LIVE_SPAN_MS,
          });
          say('live traffic stamped "now" keeps flowing; Ctrl-C stops the API, collector and processors');
          // small requests: at 20 records/s a request of 100 would wait 5 s
          const liveSink = new CollectorSink({
            url: `${collector.url}/v1/events`,
            writeKey: config.collector.writeKeys[0]!,
            maxBatch: 20,
            maxHold: 20,
          });
          delivered = 0;
          const liveTicker = setInterval(
            () =>
              void totals(ch, config.clickhouse.database).then(
                counted(() => `live: sent ${n(delivered)} records`),
                () => undefined,
              ),
            1_000,
          );
          await pump(live, liveSink, {
            rate: 0,
            realtime: true,
            signal: abort.signal,
            onProgress: (d) => (delivered = d),
            progressEveryMs: 250,
          });
          clearInterval(liveTicker);
          progress.done();
          if (!abort.signal.aborted)
            await new Promise<void>((resolve) =>
              abort.signal.addEventListener('abort', () => resolve(), { once: true }),
            );
        }
        say('services keep running; stop them with: npx viewpulse services down');
      } catch (err) {
        console.error(err instanceof PrerequisiteError ? `viewpulse: ${err.message}` : err);
        process.exitCode = 1;
      } finally {
        await stopAll();
        flushLogs();
      }
    });
}
