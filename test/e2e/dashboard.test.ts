// The dashboard in a real browser: Debian's Chromium driven by playwright-core, against the
// real insights API over data the real pipeline produced (generator → collector → Kafka →
// processors → ClickHouse). Signs in with a minted token, checks that the charts are drawn
// with data and that the numbers on the page are the API's, opens a video page, and saves
// screenshots under test-artifacts/.
//
// Chromium comes from infra/chromium.ts (apt-get when missing). Without it — no root, no
// package — the suite fails with the reason; it never skips.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../api/auth.js';
import { humanDuration } from '../../lib/durations.js';
import { runApi, type RunningApi } from '../../api/server.js';
import type { RunningProcessors } from '../../runtime/start.js';
import { CHROMIUM_FLAGS, chromiumVersion, ensureChromium } from '../../infra/chromium.js';
import { projectRoot } from '../../infra/paths.js';
import { sendThroughCollector, startPipeline, waitForPipeline } from '../integration/e2e-helpers.js';
import { pipeline, type Pipeline } from '../../harness/pipeline.js';
import { testNow } from '../clock.js';

const ARTIFACTS = join(projectRoot, 'test-artifacts');
const EVENTS = 10_000;
/**
 * "Now" for the traffic, the API and the page's clock alike (test/clock.ts): the page's
 * periods and realtime cards see the same hours of the day whenever the test runs.
 */
const NOW = testNow();

let p: Pipeline | undefined;
let processors: RunningProcessors | undefined;
let api: RunningApi;
let context: BrowserContext | undefined;
let userDataDir: string | undefined;
let page: Page;
let creatorId: string;
let token: string;
let secret: string;
/** JSON answers the page got from /v1, in order of arrival. */
const seen: { path: string; url: string; status: number; body: unknown }[] = [];
const pageErrors: string[] = [];
/** Why the browser is not there (no root to install Debian's chromium, …): every test fails with it. */
let missing: Error | undefined;

function needsBrowser(): void {
  if (missing) throw missing;
}

interface Metric {
  value: number | null;
  previous: number | null;
  change_percent: number | null;
}
interface Overview {
  metrics: Record<string, Metric>;
}
interface Realtime {
  views_last_60_minutes: number;
  views_last_48_hours: number;
  watching_now: { viewers: number };
  minutes: { views: number }[];
  top_videos: { video_id: string; title: string | null; views: number }[];
}
interface Series {
  total: number | null;
  points: { time: string; value: number }[];
}
interface Videos {
  videos: { video_id: string; title: string; views: number }[];
}
interface Stats {
  video: { video_id: string; title: string };
  totals: Record<string, number | null>;
}
interface Retention {
  views: number;
  points: { percent: number; retention: number }[];
  comparison: { views: number };
  stall_exits: { percent: number; views: number }[];
  stall_exit_marker_min: number;
}
interface Breakdown {
  total_views: number;
  rows: { value: string; views: number }[];
  other: { views: number };
}
interface Traffic {
  total_views: number;
  sources: { value: string; views: number }[];
  suggested: { referrers: { video_id: string; views: number }[] };
}

interface QoeTotals {
  plays: number;
  startup_measured: number;
  startup_ms_p50: number | null;
  startup_ms_p95: number | null;
  rebuffering_ratio: number | null;
  rebuffers_per_play: number | null;
  failures: number;
  failure_rate: number | null;
}
interface Health {
  freshness_seconds: number | null;
  finalized_through: string | null;
  late_events: { applied: number; set_aside: number };
  dead_letters: { records: number; by_code: { code: string; records: number }[] };
}

/** The QoE tiles of the page against the API's totals: the raw values and the numbers shown. */
async function expectQoeTiles(scope: string, t: QoeTotals): Promise<void> {
  await page.locator(`${scope} #qoe-tiles .tile`).first().waitFor();
  const tile = (k: string) => page.locator(`${scope} .tile[data-metric="${k}"]`);
  for (const k of [
    'plays',
    'startup_ms_p50',
    'startup_ms_p95',
    'rebuffering_ratio',
    'rebuffers_per_play',
    'failures',
  ] as const)
    expect(await tile(k).getAttribute('data-value'), k).toBe(t[k] === null ? '' : String(t[k]));
  for (const k of ['plays', 'startup_ms_p50', 'startup_ms_p95', 'failures'] as const)
    expect(digits(await tile(k).locator('.value').textContent()), k).toBe(t[k]);
  // "0.8 %": the ratio as a percentage with one decimal
  expect(Number((await tile('rebuffering_ratio').locator('.value').textContent())!.replace(/[^\d.]/g, ''))).toBeCloseTo(
    100 * t.rebuffering_ratio!,
    1,
  );
}

/** GET from the API as the dashboard's user: an independent call, not the page's. */
async function apiGet<T>(url: string, bearer = token): Promise<T> {
  const res = await fetch(url.startsWith('http') ? url : `${api.url}${url}`, {
    headers: { authorization: `Bearer ${bearer}` },
  });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** The latest answer the page got for a /v1 path (and query, when `query` is given), waiting for it if needed. */
async function answer<T>(path: string, query?: RegExp, timeoutMs = 20_000): Promise<{ url: string; body: T }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = seen.findLast((x) => x.path === path && (!query || query.test(new URL(x.url).search)));
    if (r) {
      expect(r.status, `${path} answered ${r.status}: ${JSON.stringify(r.body)}`).toBe(200);
      return { url: r.url, body: r.body as T };
    }
    if (Date.now() > deadline) throw new Error(`the page did not request ${path}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Runs a JavaScript expression in the page (browser code stays out of this file's Node types). */
const inPage = <T>(expression: string): Promise<T> => page.evaluate(expression) as Promise<T>;

const storedToken = (): Promise<string | null> => inPage(`sessionStorage.getItem('viewpulse.token')`);
const hash = (): Promise<string> => inPage('location.hash');

/** Pixels of each chart canvas in `selector` drawn in the first series colour. */
function seriesPixels(selector: string): Promise<number[]> {
  return inPage(`(() => {
    const hex = getComputedStyle(document.documentElement).getPropertyValue('--series-1').trim();
    const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    return [...document.querySelectorAll(${JSON.stringify(selector)})].map((figure) => {
      const canvas = figure.querySelector('canvas');
      if (!canvas || !canvas.width || !canvas.height) return 0;
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 200 && rgb.every((c, k) => Math.abs(data[i + k] - c) < 24)) n++;
      }
      return n;
    });
  })()`);
}

/** Polls until the value matches (the page renders asynchronously). */
const eventually = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 20_000, interval: 100 });

const shot = async (name: string): Promise<void> => {
  await page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });
};

const digits = (text: string | null): number => Number((text ?? '').replace(/[^\d]/g, ''));

async function signIn(t: string): Promise<void> {
  await page.locator('#token').fill(t);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

describe('dashboard in Chromium', () => {
  beforeAll(async () => {
    // The browser first: without it nothing else is set up, and every test fails with the reason.
    let executablePath: string;
    try {
      executablePath = await ensureChromium((l) => console.log(`[e2e] ${l}`));
    } catch (err) {
      missing = new Error(`the dashboard test needs Chromium: ${(err as Error).message}`);
      return;
    }
    console.log(`[e2e] ${await chromiumVersion(executablePath)} at ${executablePath}`);
    mkdirSync(ARTIFACTS, { recursive: true });

    p = await pipeline('e2e', 4);
    processors = await startPipeline(p);
    // Traffic over the 100 minutes up to about now, on a small catalog, so every card (the
    // realtime minutes included) has numbers.
    const sent = await sendThroughCollector(p, {
      events: EVENTS,
      seed: 2024,
      creators: 8,
      videos: 80,
      start: Math.floor((NOW - 100 * 60_000) / 60_000) * 60_000,
      spanMs: 60 * 60_000,
    });
    await sent.collector.close();
    await waitForPipeline(p);

    // The creator with the most views in the ground truth.
    const views = new Map<string, number>();
    for (const r of sent.truth.minutes) {
      const c = sent.traffic.catalog.byId.get(r.video_id)!.video.creator_id;
      views.set(c, (views.get(c) ?? 0) + r.views);
    }
    creatorId = [...views].sort((a, b) => b[1] - a[1])[0]![0];
    secret = p.testConfig.api.jwtSecret;
    token = await signToken({ secret, sub: creatorId, role: 'creator', ttlSeconds: 3600, now: NOW });

    api = await runApi(p.testConfig, { port: 0, options: { rateLimit: false }, now: () => NOW });

    userDataDir = mkdtempSync(join(tmpdir(), 'viewpulse-chromium-'));
    try {
      context = await chromium.launchPersistentContext(userDataDir, {
        executablePath,
        headless: true,
        args: [...CHROMIUM_FLAGS],
        viewport: { width: 1280, height: 900 },
        timezoneId: 'Europe/Berlin',
        locale: 'en-US',
      });
    } catch (err) {
      throw new Error(`Chromium at ${executablePath} did not start: ${(err as Error).message}`);
    }
    // the page's Date.now() is NOW too (its periods and token expiry); timers keep running
    await context.clock.setFixedTime(NOW);
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) pageErrors.push(m.text());
    });
    page.on('response', async (res) => {
      const u = new URL(res.url());
      if (!u.pathname.startsWith('/v1/')) return;
      const body: unknown = await res.json().catch(() => undefined);
      seen.push({ path: u.pathname, url: res.url(), status: res.status(), body });
    });
  }, 600_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await api?.close();
    await processors?.stop();
    await p?.cleanup();
  });

  it('serves the page and uPlot from the API process, with a strict CSP', async () => {
    needsBrowser();
    const res = await fetch(`${api.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    for (const path of ['/dashboard/app.js', '/dashboard/vendor/uplot.js', '/dashboard/vendor/uplot.css']) {
      const r = await fetch(`${api.url}${path}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(r.status, path).toBe(200);
      const etag = r.headers.get('etag')!;
      expect((await fetch(`${api.url}${path}`, { headers: { 'if-none-match': etag } })).status, path).toBe(304);
    }
    expect((await fetch(`${api.url}/dashboard/..%2Fplugin.ts`)).status).toBe(404);
  });

  it('refuses a bad token at sign-in', async () => {
    needsBrowser();
    await page.goto(`${api.url}/`);
    await eventually(() => page.getByRole('heading', { name: 'Sign in' }).isVisible()).toBe(true);
    await signIn('not-a-token');
    await eventually(() => page.locator('#sign-in-error').textContent()).toContain('not a token');
    const forged = await signToken({
      secret: `${secret}-wrong`,
      sub: creatorId,
      role: 'creator',
      ttlSeconds: 600,
      now: NOW,
    });
    await signIn(forged);
    await eventually(() => page.locator('#sign-in-error').textContent()).toContain('refused');
    expect(await storedToken()).toBeNull();
  });

  it('signs in and shows the creator page with the numbers of the API, charts drawn with data', async () => {
    needsBrowser();
    seen.length = 0;
    const signedInAt = await page.evaluate(() => performance.now());
    await signIn(token);
    await eventually(() => hash()).toBe(`#/creators/${creatorId}`);
    await eventually(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Your channel');

    // Overview tiles: the page's numbers are the API's, and a second, independent call agrees.
    const overview = await answer<Overview>(`/v1/creators/${creatorId}/overview`);
    // the page's period (the last 7 days) ends at the pinned now: its clock is NOW
    const sevenDaysBefore = Math.floor((NOW - 7 * 86_400_000) / 60_000) * 60_000;
    expect(new URL(overview.url).searchParams.get('from')).toBe(new Date(sevenDaysBefore).toISOString());
    await page.locator('#overview .tile').first().waitFor();
    const again = await apiGet<Overview>(overview.url);
    expect(again.metrics).toEqual(overview.body.metrics);
    expect(overview.body.metrics.views!.value).toBeGreaterThan(0);
    for (const [key, m] of Object.entries(overview.body.metrics)) {
      const tile = page.locator(`#overview .tile[data-metric="${key}"]`);
      expect(await tile.getAttribute('data-value'), key).toBe(m.value === null ? '' : String(m.value));
    }
    expect(digits(await page.locator('#overview .tile[data-metric="views"] .value').textContent())).toBe(
      overview.body.metrics.views!.value,
    );

    // Realtime: the last 60 minutes have views (the traffic ends about now), drawn as bars.
    const rt = await answer<Realtime>(`/v1/creators/${creatorId}/realtime`);
    expect(rt.body.views_last_60_minutes).toBeGreaterThan(0);
    await page.locator('#chart-minutes canvas').waitFor();
    expect(Number(await page.locator('#views-60m').getAttribute('data-value'))).toBe(rt.body.views_last_60_minutes);
    expect(Number(await page.locator('#views-48h').getAttribute('data-value'))).toBe(rt.body.views_last_48_hours);
    expect(Number(await page.locator('#watching-now').getAttribute('data-value'))).toBe(rt.body.watching_now.viewers);
    expect(Number(await page.locator('#chart-minutes').getAttribute('data-total'))).toBe(
      rt.body.minutes.reduce((n, m) => n + m.views, 0),
    );
    expect(await page.locator('#realtime-top li').count()).toBe(rt.body.top_videos.length);

    // Time series (views per hour over the period).
    const series = await answer<Series>(`/v1/creators/${creatorId}/timeseries`);
    await page.locator('#chart-series canvas').waitFor();
    expect(series.body.total).toBeGreaterThan(0);
    expect(Number(await page.locator('#chart-series').getAttribute('data-total'))).toBe(series.body.total);
    expect((await apiGet<Series>(series.url)).total).toBe(series.body.total);
    expect(Number(await page.locator('#chart-series').getAttribute('data-points'))).toBe(
      series.body.points.filter((x) => x.value !== 0).length,
    );

    // Top videos table.
    const videos = await answer<Videos>(`/v1/creators/${creatorId}/videos`);
    await page.locator('#top-videos-table tbody tr').first().waitFor();
    const rows = page.locator('#top-videos-table tbody tr');
    expect(await rows.count()).toBe(videos.body.videos.length);
    expect(await rows.first().locator('th a').textContent()).toBe(videos.body.videos[0]!.title);
    expect(digits(await rows.first().locator('td').first().textContent())).toBe(videos.body.videos[0]!.views);

    // How long the first view took, on the page's own clock (performance.now(); printed, not
    // asserted: a timing): from the sign-in click to every tile, chart and table drawn.
    const drawnMs = await page.evaluate((t0) => Math.round(performance.now() - t0), signedInAt);
    console.log(
      `[e2e] first view (Performance API): the creator page drawn within ${drawnMs} ms of sign-in (an upper bound: the checks above ran in between)`,
    );

    // Every chart canvas has pixels in the series colour: drawn, with data.
    const pixels = await seriesPixels('#chart-minutes, #chart-hours, #chart-series');
    expect(pixels).toHaveLength(3);
    for (const n of pixels) expect(n).toBeGreaterThan(20);
    await shot('creator');
  });

  it('switches the time series to watch time per minute', async () => {
    needsBrowser();
    await page.getByLabel('Metric').selectOption('watch_time_ms');
    await page.getByLabel('Interval').selectOption('minute');
    const s = await answer<Series>(`/v1/creators/${creatorId}/timeseries`, /metric=watch_time_ms&interval=minute/);
    await eventually(() => page.locator('#chart-series').getAttribute('data-total')).toBe(String(s.body.total));
    expect(s.body.total).toBeGreaterThan(0);
  });

  it('shows the QoE and health panels with the numbers of the API', async () => {
    needsBrowser();
    const qoe = await answer<{ totals: QoeTotals }>(`/v1/creators/${creatorId}/qoe`);
    expect(qoe.body.totals.plays).toBeGreaterThan(0);
    expect((await apiGet<{ totals: QoeTotals }>(qoe.url)).totals).toEqual(qoe.body.totals);
    await expectQoeTiles('#qoe', qoe.body.totals);
    await page.locator('#qoe').scrollIntoViewIfNeeded();
    await page.locator('#qoe').screenshot({ path: join(ARTIFACTS, 'dashboard-qoe.png') });

    const health = await answer<Health>(`/v1/creators/${creatorId}/health`);
    await page.locator('#health-tiles .tile').first().waitFor();
    const tile = (k: string) => page.locator(`#health .tile[data-metric="${k}"] .value`);
    const h = health.body;
    // elapsed() in format.js follows lib/durations.ts, except that it never shows milliseconds
    const lag = h.freshness_seconds === null ? null : Math.max(0, h.freshness_seconds) * 1000;
    expect(await tile('freshness_seconds').textContent()).toBe(
      lag === null ? 'no data yet' : `${lag < 500 ? '0 s' : humanDuration(lag)} behind`,
    );
    expect(h.finalized_through).not.toBeNull();
    expect(await page.locator('#health .tile[data-metric="finalized_through"]').getAttribute('data-value')).toBe(
      String(Date.parse(h.finalized_through!)),
    );
    expect(digits(await tile('late_applied').textContent())).toBe(h.late_events.applied);
    expect(digits(await tile('late_set_aside').textContent())).toBe(h.late_events.set_aside);
    expect(digits(await tile('dead_letters').textContent())).toBe(h.dead_letters.records);
    for (const c of h.dead_letters.by_code) expect(await page.locator('#health').textContent()).toContain(c.code);
    await page.locator('#health').scrollIntoViewIfNeeded();
    await page.locator('#health').screenshot({ path: join(ARTIFACTS, 'dashboard-health.png') });
  });

  it('opens a video from the table: retention with its comparison, breakdowns, traffic', async () => {
    needsBrowser();
    const videos = (await answer<Videos>(`/v1/creators/${creatorId}/videos`)).body.videos;
    const top = videos[0]!;
    seen.length = 0;
    // A click on the row (not only its link) opens the video.
    await page.locator('#top-videos-table tbody tr').first().locator('td').first().click();
    await eventually(() => hash()).toBe(`#/videos/${top.video_id}`);
    await eventually(() => page.getByRole('heading', { level: 1 }).textContent()).toBe(top.title);

    const stats = await answer<Stats>(`/v1/videos/${top.video_id}/stats`);
    await page.locator('#video-stats .tile').first().waitFor();
    for (const key of ['views', 'plays', 'watch_time_ms', 'unique_viewers']) {
      expect(await page.locator(`#video-stats .tile[data-metric="${key}"]`).getAttribute('data-value'), key).toBe(
        String(stats.body.totals[key]),
      );
    }
    expect(stats.body.totals.views).toBe(top.views);

    const retention = await answer<Retention>(`/v1/videos/${top.video_id}/retention`);
    expect(retention.body.points).toHaveLength(101);
    expect(retention.body.views).toBeGreaterThan(0);
    await page.locator('#chart-retention canvas').waitFor();
    const curves = retention.body.comparison.views > 0 ? 2 : 1;
    expect(Number(await page.locator('#chart-retention').getAttribute('data-series'))).toBe(curves);
    expect(Number(await page.locator('#chart-retention').getAttribute('data-points'))).toBeGreaterThan(0);
    // the dots: the percents where at least stall_exit_marker_min views left right after a stall
    const marked = retention.body.stall_exits
      .filter((x) => x.views >= Math.max(2, retention.body.stall_exit_marker_min))
      .map((x) => x.percent);
    const dots = (await page.locator('#chart-retention').getAttribute('data-markers')) ?? '';
    console.log(
      `[e2e] retention of ${top.video_id}: stall exits ${JSON.stringify(retention.body.stall_exits)}, marked ${dots || 'none'}`,
    );
    expect(dots ? dots.split(',').map(Number) : []).toEqual(marked);

    const breakdown = await answer<Breakdown>(`/v1/videos/${top.video_id}/breakdown`);
    const bRows = page.locator('#breakdown tbody tr');
    await bRows.first().waitFor();
    expect(await bRows.count()).toBe(breakdown.body.rows.length + (breakdown.body.other.views > 0 ? 1 : 0));
    expect(digits(await bRows.first().locator('td').first().textContent())).toBe(breakdown.body.rows[0]!.views);

    const traffic = await answer<Traffic>(`/v1/videos/${top.video_id}/traffic`);
    await page.locator('#traffic tbody tr').first().waitFor();
    expect(await page.locator('#traffic tbody tr').count()).toBe(traffic.body.sources.length);
    expect(traffic.body.sources.reduce((n, s) => n + s.views, 0)).toBe(traffic.body.total_views);
    if (traffic.body.suggested.referrers.length) {
      expect(await page.locator('#suggested-by li a').first().getAttribute('href')).toBe(
        `#/videos/${traffic.body.suggested.referrers.find((r) => r.video_id)!.video_id}`,
      );
    }

    const vq = await answer<{ totals: QoeTotals }>(`/v1/videos/${top.video_id}/qoe`);
    expect(vq.body.totals.plays).toBe(stats.body.totals.plays);
    await expectQoeTiles('#qoe', vq.body.totals);

    const pixels = await seriesPixels('#chart-video-series, #chart-retention');
    for (const n of pixels) expect(n).toBeGreaterThan(20);
    await shot('video');

    // Another dimension: the table follows the API.
    await page.getByLabel('Dimension').selectOption('device');
    const byDevice = await answer<Breakdown>(`/v1/videos/${top.video_id}/breakdown`, /dimension=device/);
    await eventually(() => page.locator('#breakdown th[scope="col"]').first().textContent()).toBe('Device');
    const shown = page.locator('#breakdown tbody tr td:nth-of-type(1)');
    await eventually(() => shown.count()).toBe(byDevice.body.rows.length + (byDevice.body.other.views > 0 ? 1 : 0));
    expect((await shown.allTextContents()).slice(0, byDevice.body.rows.length).map(digits)).toEqual(
      byDevice.body.rows.map((r) => r.views),
    );
  });

  it('goes back to sign-in on a 401 and on sign-out', async () => {
    needsBrowser();
    // A token the API refuses (signed with another secret) in the session: the first request
    // answers 401 and the page shows the sign-in form with the reason.
    const forged = await signToken({
      secret: `${secret}-other`,
      sub: creatorId,
      role: 'creator',
      ttlSeconds: 600,
      now: NOW,
    });
    await inPage(`sessionStorage.setItem('viewpulse.token', ${JSON.stringify(forged)})`);
    await page.goto(`${api.url}/#/creators/${creatorId}`);
    await eventually(() => page.locator('#sign-in').isVisible()).toBe(true);
    await eventually(() => page.locator('#sign-in-error').textContent()).toContain('401');
    expect(await storedToken()).toBeNull();

    await signIn(token);
    await page.locator('#overview .tile').first().waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await eventually(() => page.locator('#sign-in').isVisible()).toBe(true);
    expect(await storedToken()).toBeNull();
    expect(await page.locator('#view').textContent()).toBe('');
  });

  it('signs in from a link with the token in the fragment, and takes it out of the address bar', async () => {
    needsBrowser();
    await inPage(`sessionStorage.clear()`);
    await page.goto(`${api.url}/#token=${token}`);
    await eventually(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Your channel');
    await page.locator('#overview .tile').first().waitFor();
    expect(page.url()).toBe(`${api.url}/#/creators/${encodeURIComponent(creatorId)}`);
    expect(page.url()).not.toContain(token);
    expect(await storedToken()).toBe(token);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await eventually(() => page.locator('#sign-in').isVisible()).toBe(true);
  });

  it('lets an admin open any creator', async () => {
    needsBrowser();
    const admin = await signToken({ secret, sub: 'admin', role: 'admin', ttlSeconds: 600, now: NOW });
    await signIn(admin);
    await eventually(() => page.getByRole('heading', { name: 'Admin' }).isVisible()).toBe(true);
    await page.getByLabel('Creator id').fill(creatorId);
    await page.getByRole('button', { name: 'Open channel' }).click();
    await eventually(() => page.getByRole('heading', { level: 1 }).textContent()).toBe(`Channel ${creatorId}`);
    await page.locator('#overview .tile').first().waitFor();
  });

  it('had no script errors or CSP violations', () => {
    needsBrowser();
    expect(pageErrors).toEqual([]);
  });
});
