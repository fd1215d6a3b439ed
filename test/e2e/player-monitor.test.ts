// The player SDK's monitor in a real browser with a real video: Debian's Chromium plays a
// 12-second WebM (test/e2e/fixtures/clip-12s.webm, 1 KB, made with ffmpeg) in a page that
// loads the SDK's minified browser build (sdk/build.mjs) and calls monitor(video, …). The test
// plays, pauses, seeks forward and lets it finish; the events go through the real collector,
// Kafka and processors to ClickHouse, and the insights API must then report what the test did:
//
//   plays 1, views 1 (the session completed), watch time = the media time the browser played
//   (video.played) within 250 ms per played stretch — the monitor reports currentTime advances
//   between media events, which the browser updates every ~250 ms; retention 1 inside the
//   played stretches and 0 in the skipped one (the percent buckets next to a seek or a pause
//   may go either way).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { signToken } from '../../api/auth.js';
import { runCollector, type RunningCollector } from '../../api/collector/server.js';
import { seedCatalog } from '../../harness/dataset.js';
import { pipeline, startPipeline, waitForPipeline, type Pipeline } from '../../harness/pipeline.js';
import { CHROMIUM_FLAGS, ensureChromium } from '../../infra/chromium.js';
import { projectRoot } from '../../infra/paths.js';
import type { RunningProcessors } from '../../runtime/start.js';
import { qs } from '../url.js';

const VIDEO = 'monitor-clip';
const CREATOR = 'monitor-creator';
const DURATION_MS = 12_000;
const HOUR = 3_600_000;

let p: Pipeline;
let collector: RunningCollector;
let processors: RunningProcessors | undefined;
let site: Server;
let context: BrowserContext | undefined;
let userDataDir: string;
let page: Page;
let app: FastifyInstance;
let token: string;
let played: [number, number][];
let startedAt: number;
const pageErrors: string[] = [];

/** The page: the SDK's browser build, the clip, and monitor() on it (muted: autoplay allowed). */
function servePage(bundle: string, collectorUrl: string, writeKey: string): Promise<Server> {
  const clip = readFileSync(join(projectRoot, 'test', 'e2e', 'fixtures', 'clip-12s.webm'));
  const html = `<!doctype html><meta charset="utf-8"><title>monitor</title>
<video id="v" src="/clip.webm" muted playsinline preload="auto"></video>
<script type="module">
  import { monitor } from '/viewpulse.min.js';
  window.vp = monitor(document.getElementById('v'), {
    endpoint: ${JSON.stringify(collectorUrl)}, writeKey: ${JSON.stringify(writeKey)},
    videoId: ${JSON.stringify(VIDEO)}, viewerId: 'e2e-viewer', device: 'desktop', os: 'Linux', country: 'DE',
    trafficSource: 'direct', flushIntervalMs: 200,
  });
</script>`;
  const server = createServer((req, res) => {
    const files: Record<string, [string, string | Buffer]> = {
      '/': ['text/html; charset=utf-8', html],
      '/viewpulse.min.js': ['text/javascript', bundle],
      '/clip.webm': ['video/webm', clip],
    };
    const file = files[req.url ?? ''];
    if (!file) return void res.writeHead(404).end();
    const body = Buffer.from(file[1]);
    // Media is seekable only when served with byte ranges (otherwise Chromium seeks to 0).
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
      res.writeHead(206, {
        'content-type': file[0],
        'content-range': `bytes ${start}-${end}/${body.length}`,
        'content-length': end - start + 1,
        'accept-ranges': 'bytes',
      });
      return void res.end(body.subarray(start, end + 1));
    }
    res.writeHead(200, { 'content-type': file[0], 'content-length': body.length, 'accept-ranges': 'bytes' }).end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function api<T>(path: string, query: Record<string, string | number>): Promise<T> {
  const res = await app.inject({ url: `${path}?${qs(query)}`, headers: { authorization: `Bearer ${token}` } });
  expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
  return res.json() as T;
}

describe('the SDK monitor on a real <video> in Chromium, through the pipeline to the API', () => {
  beforeAll(async () => {
    const executablePath = await ensureChromium((l) => console.log(`[e2e] ${l}`));
    p = await pipeline('monitor', 2);
    await seedCatalog(p.clickhouse, p.database, [{ video_id: VIDEO, creator_id: CREATOR, duration_ms: DURATION_MS }]);
    collector = await runCollector(p.testConfig, { port: 0 });
    processors = await startPipeline(p);

    const outdir = mkdtempSync(join(tmpdir(), 'viewpulse-sdk-'));
    execFileSync(process.execPath, [join(projectRoot, 'sdk', 'build.mjs'), '--outdir', outdir], { stdio: 'pipe' });
    const bundle = readFileSync(join(outdir, 'viewpulse.min.js'), 'utf8');
    rmSync(outdir, { recursive: true, force: true });
    site = await servePage(bundle, collector.url, p.testConfig.collector.writeKeys[0]!);

    userDataDir = mkdtempSync(join(tmpdir(), 'viewpulse-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_FLAGS, '--autoplay-policy=no-user-gesture-required'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${(site.address() as { port: number }).port}/`);
    // Page scripts are strings: this project type-checks without the DOM library.
    const video = "document.getElementById('v')";
    await page.waitForFunction('window.vp !== undefined');

    // What a viewer does: play 4 s, pause for a second, skip to 8 s, watch to the end.
    startedAt = Date.now();
    await page.evaluate(`${video}.play()`);
    await page.waitForFunction(`${video}.currentTime >= 4`);
    await page.evaluate(`${video}.pause()`);
    await page.waitForTimeout(1_000);
    await page.evaluate(
      `new Promise((resolve) => { const v = ${video}; v.addEventListener('seeked', () => resolve(), { once: true }); v.currentTime = 8; })`,
    );
    await page.evaluate(`${video}.play()`);
    await page.waitForFunction(`${video}.ended`, undefined, { timeout: 30_000 });
    played = (await page.evaluate(
      `(() => { const r = ${video}.played; return Array.from({ length: r.length }, (_, i) => [r.start(i) * 1000, r.end(i) * 1000]); })()`,
    )) as [number, number][];
    // destroy(): the session's play_end, and the tracker delivers everything it holds.
    await page.evaluate('window.vp.destroy()');

    await waitForPipeline(p);
    app = buildApp({
      clickhouse: p.clickhouse,
      database: p.database,
      jwtSecret: p.testConfig.api.jwtSecret,
      rateLimit: false,
    });
    token = await signToken({ secret: p.testConfig.api.jwtSecret, sub: CREATOR, role: 'creator', ttlSeconds: 600 });
  }, 300_000);

  afterAll(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await new Promise((resolve) => (site ? site.close(resolve) : resolve(undefined)));
    await app?.close();
    await processors?.stop();
    await collector?.close();
    await p?.cleanup();
  });

  const range = (): { from: string; to: string } => {
    const from = Math.floor(startedAt / HOUR) * HOUR - HOUR;
    return { from: new Date(from).toISOString(), to: new Date(from + 3 * HOUR).toISOString() };
  };

  it('the browser played two stretches: 0 → ~4 s and 8 → 12 s', () => {
    expect(pageErrors).toEqual([]);
    expect(played).toHaveLength(2);
    expect(played[0]![0]).toBe(0);
    expect(played[0]![1]).toBeGreaterThanOrEqual(4_000);
    expect(played[1]![0]).toBe(8_000);
    expect(played[1]![1]).toBe(DURATION_MS);
  });

  it('video stats: 1 play, 1 view, watch time = the media time played (±250 ms per stretch)', async () => {
    const s = await api<{ totals: { plays: number; views: number; watch_time_ms: number; completion_rate: number } }>(
      `/v1/videos/${VIDEO}/stats`,
      range(),
    );
    const watched = played.reduce((n, [a, b]) => n + (b - a), 0);
    console.log(`[e2e] played ${JSON.stringify(played)}: ${watched} ms; the API says ${s.totals.watch_time_ms} ms`);
    expect(s.totals.plays).toBe(1);
    expect(s.totals.views).toBe(1);
    expect(s.totals.completion_rate).toBe(1);
    expect(Math.abs(s.totals.watch_time_ms - watched)).toBeLessThanOrEqual(250 * played.length);
  });

  it('retention: 1 where the viewer watched, 0 over the part skipped', async () => {
    const r = await api<{ views: number; points: { percent: number; retention: number }[] }>(
      `/v1/videos/${VIDEO}/retention`,
      range(),
    );
    expect(r.views).toBe(1);
    const pct = (ms: number): number => (100 * ms) / DURATION_MS;
    const checked = { inside: 0, skipped: 0 };
    for (const pt of r.points) {
      const inside = played.some(([a, b]) => pt.percent >= pct(a) + 2 && pt.percent <= pct(b) - 2);
      const skipped = pt.percent >= pct(played[0]![1]) + 2 && pt.percent <= pct(played[1]![0]) - 2;
      if (inside) expect(pt.retention, `${pt.percent} %`).toBe(1);
      if (skipped) expect(pt.retention, `${pt.percent} %`).toBe(0);
      if (inside) checked.inside++;
      if (skipped) checked.skipped++;
    }
    // 0..~31 % and 69..98 % watched, ~36..64 % skipped
    expect(checked.inside).toBeGreaterThanOrEqual(55);
    expect(checked.skipped).toBeGreaterThanOrEqual(25);
  });
});
