// npm run bench:dashboard -- [--databases bench_api,bench_api_small] [--loads 5]
//
// How long the dashboard takes to show a creator its first view, in a real browser (Debian's
// Chromium through playwright-core), over the datasets `npm run bench:api -- --reuse` prepared
// (50 M and 5 M events by default). Per database: the insights API in this process (response
// cache on and empty, rate limit off), the most viewed creator's sign-in link
// (`/#token=<jwt>`), then the time from the page's navigation start (the Performance API's
// time origin) until every card of the creator page has its content (no `aria-busy="true"`
// left: realtime, overview, trend, top videos, playback quality, data health), and each
// /v1 request's duration from the page's PerformanceResourceTiming. The first load meets a
// cold response cache; --loads more loads in fresh tabs follow (provisional answers live 1 s,
// so most of them are computed again). Writes bench/results/dashboard.json; printed, never
// asserted. Needs `viewpulse services up`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type BrowserContext } from 'playwright-core';
import { signToken } from '../api/auth.js';
import { runApi } from '../api/server.js';
import { CHROMIUM_FLAGS, chromiumVersion, ensureChromium } from '../infra/chromium.js';
import { createClickHouse, queryRows } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { loadConfig, type Config } from '../lib/config.js';
import { TABLES } from '../schemas/tables.js';
import { percentile, writeResults } from './results-file.js';

const { values: args } = parseArgs({
  options: {
    databases: { type: 'string', default: 'bench_api,bench_api_small' },
    loads: { type: 'string', default: '5' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(
    [
      'npm run bench:dashboard -- [--databases bench_api,bench_api_small] [--loads 5]',
      '',
      "The creator page's first view in Chromium over each prepared bench database",
      '(npm run bench:api -- --reuse prepares them): from navigation start until every card is drawn.',
    ].join('\n'),
  );
  process.exit(0);
}
const DATABASES = args.databases!.split(',').filter(Boolean);
const LOADS = Number(args.loads);
const log = (line: string): void => console.error(`[bench:dashboard] ${line}`);

interface Load {
  /** navigation start → every card drawn (ms, the page's clock) */
  first_view_ms: number;
  dom_content_loaded_ms: number;
  cards: number;
  failed_cards: number;
  /** per /v1 request: path (ids left out) and its duration in the page (ms) */
  requests: { path: string; ms: number }[];
}

/** In the page: waits until every card has loaded, then reports the page's own timings. */
const MEASURE = `new Promise((resolve) => {
  const done = () => {
    const bodies = [...document.querySelectorAll('.page-creator [aria-busy]')];
    if (bodies.length < 6 || bodies.some((b) => b.getAttribute('aria-busy') === 'true')) return false;
    const nav = performance.getEntriesByType('navigation')[0];
    resolve({
      first_view_ms: Math.round(performance.now()),
      dom_content_loaded_ms: Math.round(nav ? nav.domContentLoadedEventEnd : -1),
      cards: bodies.length,
      failed_cards: document.querySelectorAll('.page-creator .state-error').length,
      requests: performance
        .getEntriesByType('resource')
        .filter((r) => new URL(r.name).pathname.startsWith('/v1/'))
        .map((r) => ({
          path: new URL(r.name).pathname.replace(/\\/(creators|videos)\\/[^/]+/, '/$1/:id'),
          ms: Math.round(r.responseEnd - r.startTime),
        })),
    });
    return true;
  };
  const tick = () => { if (!done()) requestAnimationFrame(tick); };
  tick();
})`;

async function topCreator(config: Config, database: string): Promise<{ id: string; events: number }> {
  const ch = createClickHouse(config.clickhouse, database);
  try {
    const [c] = await queryRows<{ id: string }>(
      ch,
      sql`SELECT id FROM ${v.table(database, TABLES.counts)} FINAL WHERE dim = 'creator' AND grain = 'day'
          GROUP BY id ORDER BY sum(views) DESC, id LIMIT 1`,
    );
    const [n] = await queryRows<{ n: string }>(
      ch,
      sql`SELECT count() AS n FROM ${v.table(database, TABLES.playEvents)}`,
    );
    if (!c) throw new Error(`${database} has no views: prepare it with npm run bench:api -- --reuse`);
    return { id: c.id, events: Number(n!.n) };
  } finally {
    await ch.close();
  }
}

async function measure(context: BrowserContext, url: string): Promise<Load> {
  const page = await context.newPage();
  try {
    page.setDefaultTimeout(60_000);
    await page.goto(url);
    return (await page.evaluate(MEASURE)) as Load;
  } finally {
    await page.close();
  }
}

async function main(): Promise<void> {
  const executablePath = await ensureChromium(log);
  const browser = await chromiumVersion(executablePath);
  const base = loadConfig();
  const figures: Record<string, object> = {};
  for (const database of DATABASES) {
    const config: Config = { ...base, clickhouse: { ...base.clickhouse, database }, logLevel: 'warn' };
    const creator = await topCreator(config, database);
    const token = await signToken({ secret: config.api.jwtSecret, sub: creator.id, role: 'creator', ttlSeconds: 3600 });
    const api = await runApi(config, { port: 0, options: { rateLimit: false } });
    const userDataDir = mkdtempSync(join(tmpdir(), 'viewpulse-bench-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_FLAGS],
      viewport: { width: 1280, height: 900 },
    });
    try {
      const url = `${api.url}/#token=${token}`;
      const cold = await measure(context, url);
      const warm: Load[] = [];
      for (let i = 0; i < LOADS; i++) warm.push(await measure(context, url));
      const sorted = warm.map((l) => l.first_view_ms).sort((a, b) => a - b);
      figures[database] = {
        events: creator.events,
        creator: creator.id,
        cold,
        warm: {
          loads: warm.length,
          first_view_p50_ms: percentile(sorted, 50),
          first_view_max_ms: sorted.at(-1) ?? null,
        },
      };
      const slowest = [...cold.requests].sort((a, b) => b.ms - a.ms)[0];
      log(
        `${database} (${creator.events} events, creator ${creator.id}): first view ${cold.first_view_ms} ms cold` +
          ` (${cold.cards} cards, ${cold.failed_cards} failed; slowest request ${slowest?.path} ${slowest?.ms} ms),` +
          ` warm p50 ${percentile(sorted, 50)} ms over ${warm.length} loads`,
      );
    } finally {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
      await api.close();
    }
  }
  const file = writeResults(
    'dashboard',
    `npm run bench:dashboard -- --databases ${DATABASES.join(',')} --loads ${LOADS}`,
    {
      browser,
      page: "the creator page of each database's most viewed creator (sign-in link), 1280×900, headless",
      first_view:
        "performance.now() when no card is busy any more (navigation start is the page's time origin); requests from PerformanceResourceTiming",
      api: 'in this process, response cache on and empty before the cold load, rate limit off',
      note: 'Chromium, the API and ClickHouse share this 2-core machine',
    },
    figures,
  );
  log(`wrote ${file}`);
}

await main();
