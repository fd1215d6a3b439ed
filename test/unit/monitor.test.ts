// The <video> monitor (sdk/monitor.ts) against a fake media element: an EventTarget with
// currentTime, paused, playbackRate, ... that a scripted "browser" below moves and fires
// events on, an injected clock and scheduler that only move when the test says so, and a real
// tracker whose fetch records what would reach the collector. No DOM, no network.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { validateEvent } from '../../api/collector/event-schema.js';
import { contributions, type CompactEvent } from '../../processors/playback/session.js';
import { monitor, type MonitorOptions } from '../../sdk/monitor.js';
import { createTracker, type FetchLike, type SentEvent } from '../../sdk/player.js';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const SRC1 = 'https://cdn.example.test/v1/master.m3u8';
const SRC2 = 'https://cdn.example.test/v2/master.m3u8';

/** A media element as far as the monitor can tell; the test plays the browser. */
class FakeMedia extends EventTarget {
  currentTime = 0;
  duration = 600;
  paused = true;
  ended = false;
  playbackRate = 1;
  currentSrc = SRC1;
  error: { code: number } | null = null;
  readyState = 1; // HAVE_METADATA
  seeking = false;
  listeners = 0;

  override addEventListener(type: string, listener: Parameters<EventTarget['addEventListener']>[1]): void {
    this.listeners++;
    super.addEventListener(type, listener);
  }
  override removeEventListener(type: string, listener: Parameters<EventTarget['addEventListener']>[1]): void {
    this.listeners--;
    super.removeEventListener(type, listener);
  }
  fire(...types: string[]): void {
    for (const type of types) this.dispatchEvent(new Event(type));
  }
  /** Whether currentTime moves as the clock does. */
  get advancing(): boolean {
    return !this.paused && !this.ended && !this.seeking && this.readyState >= 3;
  }
}

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/** The fake media element, a clock and a scheduler that move together, and a monitor on them. */
function rig(options: Partial<MonitorOptions> = {}, { runTimers = true } = {}) {
  let t = T0;
  let seq = 0;
  const timers = new Map<number, Timer>();
  const media = new FakeMedia();
  const sent: { keepalive: boolean; events: SentEvent[] }[] = [];
  const fetch: FetchLike = async (_url, init) => {
    const body = JSON.parse(init.body) as { events: SentEvent[] };
    sent.push({ keepalive: init.keepalive, events: body.events });
    return { status: 200, headers: new Headers(), json: async () => ({ accepted: body.events.length, rejected: [] }) };
  };
  const tracker = createTracker({
    endpoint: 'https://collect.example.test',
    writeKey: 'vp_test_write_key',
    fetch,
    now: () => t,
    flushIntervalMs: 3_600_000, // the test flushes
  });
  const m = monitor(media, {
    tracker,
    videoId: 'video-1',
    viewerId: 'viewer-1',
    device: 'desktop',
    os: 'macOS',
    country: 'FR',
    trafficSource: 'search',
    now: () => t,
    setTimeout: (fn, ms) => {
      const id = ++seq;
      if (runTimers) timers.set(id, { at: t + ms, seq: id, fn });
      return id;
    },
    clearTimeout: (id) => timers.delete(id as number),
    ...options,
  });

  const mediaEnd = (): number =>
    media.advancing && media.playbackRate > 0
      ? t + ((media.duration - media.currentTime) * 1000) / media.playbackRate
      : Infinity;

  /** Wall time passes: the playhead moves when the element plays, timers fire, the media may end. */
  const advance = (ms: number, { timeupdate = true } = {}): void => {
    const until = t + ms;
    for (;;) {
      const due = [...timers.values()].sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      const next = Math.min(due?.at ?? Infinity, mediaEnd(), until);
      if (media.advancing) media.currentTime += ((next - t) / 1000) * media.playbackRate;
      t = next;
      if (media.advancing && media.currentTime >= media.duration) {
        media.currentTime = media.duration;
        media.paused = true;
        media.ended = true;
        media.fire('timeupdate', 'pause', 'ended');
        continue;
      }
      if (due && due.at <= t) {
        timers.delete(due.seq);
        due.fn();
        continue;
      }
      if (t >= until) break;
    }
    if (timeupdate) media.fire('timeupdate');
  };

  const browser = {
    play(): void {
      media.paused = false;
      media.fire('play');
    },
    firstFrame(): void {
      media.readyState = 4;
      media.fire('playing');
    },
    pause(): void {
      media.paused = true;
      media.fire('pause');
    },
    seek(toSeconds: number): void {
      media.seeking = true;
      media.currentTime = toSeconds;
      media.fire('seeking');
    },
    seeked(): void {
      media.seeking = false;
      media.fire('seeked');
    },
    stall(): void {
      media.readyState = 2;
      media.fire('waiting');
    },
    unstall(): void {
      media.readyState = 4;
      media.fire('playing');
    },
    rate(r: number): void {
      media.playbackRate = r;
      media.fire('ratechange');
    },
    /** What load() with a new src does: emptied (playhead reset), then the new source loads. */
    changeSource(src: string): void {
      media.paused = true;
      media.ended = false;
      media.currentTime = 0;
      media.readyState = 0;
      media.fire('emptied');
      media.currentSrc = src;
      media.fire('loadstart');
    },
    fail(code: number): void {
      media.error = { code };
      media.fire('error');
    },
  };

  /** Everything the monitor tracked, as the collector would receive it. */
  const events = async (): Promise<SentEvent[]> => {
    await tracker.flush();
    return sent.flatMap((r) => r.events);
  };

  return { media, monitor: m, tracker, browser, advance, events, sent, timers, now: () => t };
}

type Brief = Record<string, unknown>;

/** The parts of an event a scenario pins down; times relative to T0; nulls left out. */
function brief(e: SentEvent): Brief {
  const out: Brief = { type: e.event_type, t: e.event_time - T0, pos: e.position_ms, watched: e.watched_ms };
  if (e.seek_from_ms !== null) out.seek_from = e.seek_from_ms;
  if (e.startup_ms !== null) out.startup = e.startup_ms;
  if (e.rebuffer_ms !== null) out.rebuffer = e.rebuffer_ms;
  if (e.error_code !== null) out.error = e.error_code;
  return out;
}

/** What the pipeline counts as watch time for one session (docs/semantics.md). */
function pipelineWatch(events: readonly SentEvent[]): number[] {
  const compact: CompactEvent[] = events.map((e) => ({
    id: e.event_id,
    t: e.event_time,
    type: e.event_type,
    pos: e.position_ms,
    watched: e.watched_ms,
    seekFrom: e.seek_from_ms,
  }));
  return contributions(compact);
}

/** play → first frame after `startup` ms. */
function start(r: ReturnType<typeof rig>, startup = 500): void {
  r.browser.play();
  r.advance(startup);
  r.browser.firstFrame();
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('monitor(): play events from a media element', () => {
  it('play → first frame is play_start with startup_ms; heartbeats every 10 s of playback; pause and resume', async () => {
    const r = rig();
    r.browser.play();
    expect(r.monitor.sessionId()).toMatch(/^[0-9a-f-]{36}$/);
    r.advance(850); // buffering: no frame yet, nothing sent
    r.browser.firstFrame();
    r.advance(25_000);
    r.browser.pause();
    r.advance(4_000); // paused: no heartbeat, no watched time
    r.browser.play();
    r.browser.firstFrame(); // 'playing' after the resume
    r.advance(5_000);
    r.advance(10_000);

    const events = await r.events();
    expect(events.map(brief)).toEqual([
      { type: 'play_start', t: 850, pos: 0, watched: 0, startup: 850 },
      { type: 'heartbeat', t: 10_850, pos: 10_000, watched: 10_000 },
      { type: 'heartbeat', t: 20_850, pos: 20_000, watched: 10_000 },
      { type: 'pause', t: 25_850, pos: 25_000, watched: 5_000 },
      { type: 'resume', t: 29_850, pos: 25_000, watched: 0 },
      { type: 'heartbeat', t: 34_850, pos: 30_000, watched: 5_000 }, // 10 s of playback since the last heartbeat
      { type: 'heartbeat', t: 44_850, pos: 40_000, watched: 10_000 },
    ]);
    const ids = new Set(events.map((e) => e.session_id));
    expect([...ids]).toEqual([r.monitor.sessionId()]);
    expect(events[0]).toMatchObject({
      viewer_id: 'viewer-1',
      video_id: 'video-1',
      device: 'desktop',
      os: 'macOS',
      country: 'FR',
      traffic_source: 'search',
      referrer_video_id: null,
    });
  });

  it('seek forward and back: seek_from_ms is where the playhead was, the jump is not watched', async () => {
    const r = rig();
    start(r, 200);
    r.advance(4_000);
    r.browser.seek(60);
    r.advance(300); // seeking: the playhead does not move
    r.browser.seeked();
    r.advance(6_000); // 4 s + 6 s of playback: a heartbeat
    r.advance(3_000, { timeupdate: false });
    r.browser.seek(20); // no timeupdate since the last sample: where it was is estimated from the clock
    r.browser.seek(10); // still scrubbing: one seek event
    r.advance(500);
    r.browser.seeked();
    r.advance(7_000);

    expect((await r.events()).map(brief)).toEqual([
      { type: 'play_start', t: 200, pos: 0, watched: 0, startup: 200 },
      { type: 'seek', t: 4_200, pos: 60_000, watched: 4_000, seek_from: 4_000 },
      { type: 'heartbeat', t: 10_500, pos: 66_000, watched: 6_000 },
      { type: 'seek', t: 13_500, pos: 20_000, watched: 3_000, seek_from: 69_000 },
      { type: 'heartbeat', t: 21_000, pos: 17_000, watched: 7_000 },
    ]);
  });

  it('a seek while paused carries no watched time and does not restart playback accounting', async () => {
    const r = rig();
    start(r, 100);
    r.advance(2_000);
    r.browser.pause();
    r.advance(1_000);
    r.browser.seek(30);
    r.browser.seeked();
    r.advance(5_000); // still paused
    r.browser.play();
    r.browser.firstFrame();
    r.advance(8_000);
    expect((await r.events()).map(brief)).toEqual([
      { type: 'play_start', t: 100, pos: 0, watched: 0, startup: 100 },
      { type: 'pause', t: 2_100, pos: 2_000, watched: 2_000 },
      { type: 'seek', t: 3_100, pos: 30_000, watched: 0, seek_from: 2_000 },
      { type: 'resume', t: 8_100, pos: 30_000, watched: 0 },
      { type: 'heartbeat', t: 16_100, pos: 38_000, watched: 8_000 },
    ]);
  });

  it('a stall: waiting → rebuffer_start, playing → rebuffer_end with rebuffer_ms; no watched time while stalled', async () => {
    const r = rig();
    start(r, 300);
    r.advance(3_000);
    r.browser.stall();
    r.advance(1_500);
    r.browser.unstall();
    r.advance(7_000);
    r.browser.stall();
    r.advance(2_000);
    r.browser.pause(); // a pause ends the stall too
    const events = await r.events();
    expect(events.map(brief)).toEqual([
      { type: 'play_start', t: 300, pos: 0, watched: 0, startup: 300 },
      { type: 'rebuffer_start', t: 3_300, pos: 3_000, watched: 3_000 },
      { type: 'rebuffer_end', t: 4_800, pos: 3_000, watched: 0, rebuffer: 1_500 },
      { type: 'heartbeat', t: 11_800, pos: 10_000, watched: 7_000 },
      { type: 'rebuffer_start', t: 11_801, pos: 10_000, watched: 0 }, // same millisecond: 1 ms later
      { type: 'rebuffer_end', t: 13_800, pos: 10_000, watched: 0, rebuffer: 2_000 }, // the stall's real length
      { type: 'pause', t: 13_801, pos: 10_000, watched: 0 },
    ]);
  });

  it('playback rate 1 → 2 → 0.5: watched_ms is media time; heartbeats every 10 s of media time', async () => {
    const r = rig();
    start(r, 0);
    r.advance(4_000);
    r.browser.rate(2);
    r.advance(8_000); // 6 s of media (3 s of wall) to the heartbeat, then 10 s more
    r.browser.rate(0.5);
    r.advance(20_000);
    const events = await r.events();
    expect(events.map(brief)).toEqual([
      { type: 'play_start', t: 0, pos: 0, watched: 0, startup: 0 },
      { type: 'heartbeat', t: 7_000, pos: 10_000, watched: 10_000 },
      { type: 'heartbeat', t: 12_000, pos: 20_000, watched: 10_000 },
      { type: 'heartbeat', t: 32_000, pos: 30_000, watched: 10_000 },
    ]);
    // The pipeline bounds watched_ms by the event-time gap: at rate 2 it counts wall time,
    // not the media time watched (see sdk/README.md, "Watched time").
    expect(pipelineWatch(events)).toEqual([0, 7_000, 5_000, 10_000]);
  });

  it('ended → complete; a replay after complete is a new session (play_end for the old one)', async () => {
    const r = rig();
    r.media.duration = 25;
    start(r, 100);
    r.advance(30_000);
    const first = r.monitor.sessionId();
    r.advance(2_000);
    // play() at the end: the browser seeks to 0, then plays
    r.browser.seek(0);
    r.browser.seeked();
    r.media.ended = false;
    r.media.readyState = 2; // the first frame after the seek takes 200 ms
    r.browser.play();
    r.advance(200);
    r.browser.firstFrame();
    r.advance(1_000);
    const second = r.monitor.sessionId();
    expect(second).not.toBe(first);

    const events = await r.events();
    expect(events.map((e) => [e.session_id === first ? 1 : 2, brief(e)])).toEqual([
      [1, { type: 'play_start', t: 100, pos: 0, watched: 0, startup: 100 }],
      [1, { type: 'heartbeat', t: 10_100, pos: 10_000, watched: 10_000 }],
      [1, { type: 'heartbeat', t: 20_100, pos: 20_000, watched: 10_000 }],
      [1, { type: 'complete', t: 25_100, pos: 25_000, watched: 5_000 }],
      [1, { type: 'play_end', t: 32_100, pos: 0, watched: 0 }],
      [2, { type: 'play_start', t: 32_300, pos: 0, watched: 0, startup: 200 }],
    ]);
  });

  it('a new source: play_end for the old session, a new session_id (and video) for the new one', async () => {
    const r = rig({ videoId: (src) => (src === SRC1 ? 'video-1' : 'video-2') });
    start(r, 400);
    r.advance(12_000, { timeupdate: false });
    const first = r.monitor.sessionId();
    r.browser.changeSource(SRC2); // currentTime is already 0: the old position is estimated
    expect(r.monitor.sessionId()).toBeNull();
    r.advance(1_000);
    r.browser.play();
    r.advance(600);
    r.browser.firstFrame();
    r.advance(10_000);
    const second = r.monitor.sessionId();
    expect(second).not.toBeNull();
    expect(second).not.toBe(first);

    const events = await r.events();
    expect(events.map((e) => [e.session_id === first ? 1 : 2, e.video_id, brief(e)])).toEqual([
      [1, 'video-1', { type: 'play_start', t: 400, pos: 0, watched: 0, startup: 400 }],
      [1, 'video-1', { type: 'heartbeat', t: 10_400, pos: 10_000, watched: 10_000 }],
      [1, 'video-1', { type: 'play_end', t: 12_400, pos: 12_000, watched: 2_000 }],
      [2, 'video-2', { type: 'play_start', t: 14_000, pos: 0, watched: 0, startup: 600 }],
      [2, 'video-2', { type: 'heartbeat', t: 24_000, pos: 10_000, watched: 10_000 }],
    ]);
  });

  it('update() changes the fields of the next session, not of the open one', async () => {
    const r = rig();
    start(r, 100);
    r.monitor.update({ videoId: 'video-9', trafficSource: 'playlist', referrerVideoId: 'video-1' });
    r.advance(1_000);
    r.browser.changeSource(SRC2);
    start(r, 100);
    const events = await r.events();
    expect(events.map((e) => [e.event_type, e.video_id, e.traffic_source, e.referrer_video_id])).toEqual([
      ['play_start', 'video-1', 'search', null],
      ['play_end', 'video-1', 'search', null],
      ['play_start', 'video-9', 'playlist', 'video-1'],
    ]);
  });

  it('a media error → error with the MediaError code; the session is over', async () => {
    const r = rig();
    start(r, 100);
    r.advance(3_000);
    r.browser.fail(3);
    expect(r.monitor.sessionId()).toBeNull();
    r.advance(20_000);
    await r.monitor.destroy(); // no session: no play_end
    expect((await r.events()).map(brief)).toEqual([
      { type: 'play_start', t: 100, pos: 0, watched: 0, startup: 100 },
      { type: 'error', t: 3_100, pos: 3_000, watched: 3_000, error: 'MEDIA_ERR_DECODE' },
    ]);
  });

  it('an error before the first frame is reported in its session; unknown codes keep their number', async () => {
    const r = rig();
    r.browser.play();
    r.advance(700);
    r.browser.fail(4);
    r.browser.changeSource(SRC2);
    r.browser.play();
    r.browser.fail(7);
    const events = await r.events();
    expect(events.map(brief)).toEqual([
      { type: 'error', t: 700, pos: 0, watched: 0, error: 'MEDIA_ERR_SRC_NOT_SUPPORTED' },
      { type: 'error', t: 700, pos: 0, watched: 0, error: 'MEDIA_ERR_7' },
    ]);
    expect(events[0]!.session_id).not.toBe(events[1]!.session_id);
  });

  it('destroy() ends the session with play_end and removes every listener and timer', async () => {
    const r = rig();
    expect(r.media.listeners).toBeGreaterThan(0);
    start(r, 100);
    r.advance(4_000);
    expect(r.timers.size).toBe(1); // the heartbeat
    await r.monitor.destroy();
    expect(r.media.listeners).toBe(0);
    expect(r.timers.size).toBe(0);
    r.browser.pause();
    r.browser.play();
    r.advance(30_000);
    r.browser.fail(2);
    await r.monitor.destroy(); // idempotent
    expect((await r.events()).map(brief)).toEqual([
      { type: 'play_start', t: 100, pos: 0, watched: 0, startup: 100 },
      { type: 'play_end', t: 4_100, pos: 4_000, watched: 4_000 },
    ]);
  });

  it('destroy() shuts down a tracker the monitor created itself', async () => {
    const media = new FakeMedia();
    const requests: string[] = [];
    const m = monitor(media, {
      endpoint: 'https://collect.example.test',
      writeKey: 'vp_test_write_key',
      fetch: async (_url, init) => {
        requests.push(init.body);
        return { status: 200, headers: new Headers(), json: async () => ({}) };
      },
      videoId: 'video-1',
      viewerId: 'viewer-1',
    });
    media.paused = false;
    media.fire('play');
    media.readyState = 4;
    media.fire('playing');
    await m.destroy();
    const sent = requests.flatMap((b) => (JSON.parse(b) as { events: SentEvent[] }).events);
    expect(sent.map((e) => [e.event_type, e.device, e.os, e.country, e.traffic_source])).toEqual([
      ['play_start', 'other', 'unknown', 'ZZ', 'other'],
      ['play_end', 'other', 'unknown', 'ZZ', 'other'],
    ]);
    expect(m.tracker.stats().dropped.shutdown).toBe(0);
    m.tracker.track({ ...sent[0]!, event_type: 'heartbeat' });
    expect(m.tracker.stats().dropped.shutdown).toBe(1);
  });

  it('on pagehide the play_end goes out in the keepalive request', async () => {
    vi.stubGlobal('window', new EventTarget());
    const r = rig();
    start(r, 100);
    r.advance(6_000);
    (globalThis as unknown as { window: EventTarget }).window.dispatchEvent(new Event('pagehide'));
    expect(r.sent).toHaveLength(1); // before the handler returned
    expect(r.sent[0]!.keepalive).toBe(true);
    expect(r.sent[0]!.events.map(brief)).toEqual([
      { type: 'play_start', t: 100, pos: 0, watched: 0, startup: 100 },
      { type: 'play_end', t: 6_100, pos: 6_000, watched: 6_000 },
    ]);
    expect(r.monitor.sessionId()).toBeNull();
    await r.monitor.destroy();
  });

  it('attached to an element already playing: play_start at once, startup_ms unknown', async () => {
    const t = T0;
    const media = new FakeMedia();
    media.paused = false;
    media.readyState = 4;
    media.currentTime = 42;
    const sent: SentEvent[] = [];
    const tracker = createTracker({
      endpoint: 'https://collect.example.test',
      writeKey: 'k',
      now: () => t,
      fetch: async (_url, init) => {
        sent.push(...(JSON.parse(init.body) as { events: SentEvent[] }).events);
        return { status: 200, headers: new Headers(), json: async () => ({}) };
      },
    });
    const m = monitor(media, { tracker, videoId: 'video-1', viewerId: 'viewer-1', now: () => t });
    await m.destroy();
    await tracker.shutdown();
    expect(sent.map(brief)).toEqual([
      { type: 'play_start', t: 0, pos: 42_000, watched: 0 },
      { type: 'play_end', t: 1, pos: 42_000, watched: 0 },
    ]);
  });

  it('with throttled timers, timeupdate still sends the heartbeat once 10 s of media have played', async () => {
    const r = rig({}, { runTimers: false });
    start(r, 0);
    for (let i = 0; i < 25; i++) r.advance(1_000); // a timeupdate each second
    expect((await r.events()).map(brief)).toEqual([
      { type: 'play_start', t: 0, pos: 0, watched: 0, startup: 0 },
      { type: 'heartbeat', t: 10_000, pos: 10_000, watched: 10_000 },
      { type: 'heartbeat', t: 20_000, pos: 20_000, watched: 10_000 },
    ]);
  });

  it('a jump of currentTime without a seeking event is not watched time', async () => {
    const r = rig();
    start(r, 0);
    r.advance(2_000);
    r.media.currentTime = 300; // e.g. a player jumping a gap without seeking
    r.media.fire('timeupdate');
    r.advance(8_000);
    expect((await r.events()).map(brief)).toEqual([
      { type: 'play_start', t: 0, pos: 0, watched: 0, startup: 0 },
      { type: 'heartbeat', t: 10_000, pos: 308_000, watched: 10_000 },
    ]);
  });

  it('every event of a long session is valid for the collector; at rate 1 the pipeline counts all of watched_ms', async () => {
    const r = rig({ referrerVideoId: 'video-0' });
    r.media.duration = 95;
    start(r, 1_234);
    r.advance(17_345);
    r.browser.pause();
    r.advance(3_210);
    r.browser.play();
    r.browser.firstFrame();
    r.advance(4_321);
    r.browser.seek(50.5);
    r.advance(250);
    r.browser.seeked();
    r.advance(12_000);
    r.browser.stall();
    r.advance(2_345);
    r.browser.unstall();
    r.advance(60_000); // to the end
    r.advance(1_000);
    await r.monitor.destroy();

    const events = await r.events();
    expect(events.map((e) => e.event_type)).toEqual([
      'play_start',
      'heartbeat',
      'pause',
      'resume',
      'heartbeat',
      'seek',
      'heartbeat',
      'rebuffer_start',
      'rebuffer_end',
      'heartbeat',
      'heartbeat',
      'heartbeat',
      'complete',
      'play_end',
    ]);
    for (const e of events) expect(validateEvent(e)).toEqual({ ok: true, event: e });
    expect(new Set(events.map((e) => e.event_id)).size).toBe(events.length);
    for (let i = 1; i < events.length; i++) expect(events[i]!.event_time).toBeGreaterThan(events[i - 1]!.event_time);
    // Played: 17 345 + 4 321 before the seek, then 50.5 s → 95 s.
    const played = 17_345 + 4_321 + 44_500;
    expect(events.reduce((sum, e) => sum + e.watched_ms, 0)).toBe(played);
    expect(pipelineWatch(events).reduce((a, b) => a + b, 0)).toBe(played);
  });
});
