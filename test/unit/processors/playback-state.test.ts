// PlaybackState's memory in event time: a closed session is refused as a straggler for
// CLOSED_MEMORY_MS after its last event and forgotten then; a (viewer, video) group with no
// open session is kept, compacted to its last counted view, only while a later view could
// still fall within the repeat cap of it (repeat cap + session gap + grace). The same holds
// for a state restored from its entries at any point — the expiry queues are rebuilt from it.
// A session closes exactly at its last event + gap + grace, and its events fold once they are
// the allowed lateness behind the watermark, restored in between or not. ExpiryQueue is what
// makes a close visit only what is due.
import { describe, expect, it } from 'vitest';
import { applyChanges, type StateEntries } from '../../../processors/keyed-state.js';
import { CLOSED_MEMORY_MS, DEFAULT_PLAYBACK, PlaybackState } from '../../../processors/playback/state.js';
import { ExpiryQueue } from '../../../processors/expiry.js';
import type { PlayEvent } from '../../../schemas/types.js';
import { aggregateObjectForm, playEvent } from './fixtures.js';

const T0 = Date.UTC(2026, 10, 2, 8);
const MIN = 60_000;
const video = { creatorId: 'c1', durationMs: 600_000 };
let n = 0;

const event = (session: string, viewer: string, type: PlayEvent['event_type'], t: number, watched: number): PlayEvent =>
  playEvent({
    event_id: `e${++n}`,
    event_type: type,
    event_time: t,
    session_id: session,
    viewer_id: viewer,
    video_id: 'v1',
    position_ms: watched,
    watched_ms: watched,
  });

/** A session that qualifies as a view (40 s watched) at `t`. */
function watch(p: PlaybackState, session: string, viewer: string, t: number): void {
  expect(p.apply(event(session, viewer, 'play_start', t, 0), video).kind).toBe('applied');
  expect(p.apply(event(session, viewer, 'heartbeat', t + 40_000, 40_000), video).kind).toBe('applied');
}

/** Moves the watermark to `t` (another viewer's event) and closes what it passed. */
function advance(p: PlaybackState, t: number): void {
  p.apply(event(`tick-${t}`, 'ticker', 'play_start', t, 0), video);
  p.closeIdle();
}

const keys = (p: PlaybackState, prefix: string): string[] => {
  const out: StateEntries = [];
  p.all(out);
  return out.map(([k]) => k).filter((k) => k.startsWith(prefix));
};

/** A fresh instance from the entries written so far (a restore from the changelog). */
function restored(p: PlaybackState): PlaybackState {
  const out: StateEntries = [];
  p.all(out);
  const state = new Map<string, unknown>();
  applyChanges(state, JSON.parse(JSON.stringify(out)) as StateEntries);
  return PlaybackState.restore(DEFAULT_PLAYBACK, state);
}

describe('PlaybackState: what closeIdle forgets, and when', () => {
  const keepGroupFor = DEFAULT_PLAYBACK.repeatCapMs + DEFAULT_PLAYBACK.sessionGapMs + DEFAULT_PLAYBACK.sessionGraceMs;
  const closesAfter = DEFAULT_PLAYBACK.sessionGapMs + DEFAULT_PLAYBACK.sessionGraceMs;

  for (const restart of [false, true]) {
    it(`refuses a closed session's stragglers for 24 h after its last event, then forgets it${restart ? ' (restored midway)' : ''}`, () => {
      let p = new PlaybackState();
      watch(p, 's1', 'u1', T0);
      const last = T0 + 40_000;
      advance(p, last + closesAfter + MIN);
      expect(keys(p, 'pc:')).toContain('pc:s1');
      if (restart) p = restored(p);
      const straggler = (t: number) => p.apply(event('s1', 'u1', 'heartbeat', t, 1_000), video).kind;
      advance(p, last + CLOSED_MEMORY_MS - MIN);
      expect(straggler(last + 30_000)).toBe('session_closed');
      expect(keys(p, 'pc:')).toContain('pc:s1');
      advance(p, last + CLOSED_MEMORY_MS + 2 * MIN);
      expect(keys(p, 'pc:')).not.toContain('pc:s1');
    });

    it(`keeps a group with no open session compacted to its last view until the repeat cap cannot reach it${restart ? ' (restored midway)' : ''}`, () => {
      let p = new PlaybackState();
      watch(p, 's1', 'u1', T0);
      const view = T0 + 40_000;
      // s2 starts while s1 is open: the group holds both candidates
      watch(p, 's2', 'u1', T0 + 10 * MIN);
      expect(p.isCandidate('u1', 'v1', 's2')).toBe(true);
      advance(p, T0 + 10 * MIN + 40_000 + closesAfter + MIN);
      // both closed: compacted, candidates forgotten, the group kept for the repeat cap
      expect(p.isCandidate('u1', 'v1', 's1')).toBe(false);
      expect(keys(p, 'pg:')).toEqual(['pg:u1\u0000v1']);
      if (restart) p = restored(p);
      advance(p, view + keepGroupFor - MIN);
      expect(keys(p, 'pg:')).toEqual(['pg:u1\u0000v1']);
      advance(p, view + keepGroupFor + MIN);
      expect(keys(p, 'pg:')).toEqual([]);
    });
  }

  it('a group that opens again is not forgotten while its new session is open', () => {
    const p = new PlaybackState();
    watch(p, 's1', 'u1', T0);
    advance(p, T0 + 40_000 + closesAfter + MIN);
    expect(keys(p, 'pg:')).toEqual(['pg:u1\u0000v1']);
    // a new session of the same viewer and video, 40 min later: counted (past the repeat cap)
    const again = T0 + 40 * MIN;
    watch(p, 's2', 'u1', again);
    expect(p.isCounted('u1', 'v1', 's2')).toBe(true);
    // the first view's expiry passes while s2 is still open: the group stays
    advance(p, T0 + 40_000 + keepGroupFor + MIN);
    expect(p.isCandidate('u1', 'v1', 's2')).toBe(true);
    // and goes once s2 closed and its own view is out of reach
    advance(p, again + 40_000 + keepGroupFor + MIN);
    expect(keys(p, 'pg:')).toEqual([]);
  });
});

describe('PlaybackState: closeIdle visits the sessions due to close or fold', () => {
  const closesAfter = DEFAULT_PLAYBACK.sessionGapMs + DEFAULT_PLAYBACK.sessionGraceMs;
  const lateness = DEFAULT_PLAYBACK.latenessMs;
  /** Moves the watermark itself to `wm` (the newest event time minus the allowed out-of-orderness). */
  const toWatermark = (p: PlaybackState, wm: number): void => advance(p, wm + DEFAULT_PLAYBACK.outOfOrdernessMs);
  const open = (p: PlaybackState): string[] => [...p.sessions.keys()].filter((id) => !id.startsWith('tick-'));

  for (const restart of [false, true]) {
    it(`a session active for longer than its gap closes exactly at its last event + gap + grace${restart ? ' (restored midway)' : ''}`, () => {
      let p = new PlaybackState();
      p.apply(event('s1', 'u1', 'play_start', T0, 0), video);
      // a heartbeat every 10 min for 2 h: each arrives before the session would have closed
      let last = T0;
      for (let t = T0 + 10 * MIN; t <= T0 + 120 * MIN; t += 10 * MIN) {
        toWatermark(p, t - MIN);
        expect(open(p)).toEqual(['s1']);
        expect(p.apply(event('s1', 'u1', 'heartbeat', t, 10_000), video).kind).toBe('applied');
        last = t;
        if (restart && t === T0 + 60 * MIN) p = restored(p);
      }
      toWatermark(p, last + closesAfter - 1);
      expect(open(p)).toEqual(['s1']);
      toWatermark(p, last + closesAfter);
      expect(open(p)).toEqual([]);
      expect(keys(p, 'pc:')).toContain('pc:s1');
    });

    it(`folds a session's events once they are the allowed lateness behind, also one that arrived out of order${restart ? ' (restored midway)' : ''}`, () => {
      let p = new PlaybackState();
      p.apply(event('s1', 'u1', 'play_start', T0 + 2 * MIN, 0), video);
      p.apply(event('s1', 'u1', 'heartbeat', T0 + 3 * MIN, 10_000), video);
      // arrives late and sorts first: the tail's oldest event is now T0 + MIN
      p.apply(event('s1', 'u1', 'heartbeat', T0 + MIN, 10_000), video);
      const tail = (): number => p.sessions.get('s1')!.agg.tailLength;
      expect(tail()).toBe(3);
      if (restart) p = restored(p);
      toWatermark(p, T0 + MIN + lateness);
      expect(tail()).toBe(3); // not behind yet: folded once strictly older than watermark − lateness
      toWatermark(p, T0 + MIN + lateness + 1);
      expect(tail()).toBe(2);
      toWatermark(p, T0 + 2 * MIN + lateness + 1);
      expect(tail()).toBe(1); // the last event always stays
      // an event sorting before the folded ones is refused
      expect(p.apply(event('s1', 'u1', 'heartbeat', T0 + 90_000, 1_000), video).kind).toBe('session_folded');
    });
  }
});

describe('ExpiryQueue', () => {
  it('visits the keys of the minutes before the limit, keeps what the visit keeps, and a re-add does not loop', () => {
    const q = new ExpiryQueue();
    q.add(T0 + 10_000, 'a');
    q.add(T0 + 50_000, 'b');
    q.add(T0 + MIN + 1, 'c');
    const seen: string[] = [];
    q.due(T0 + 30_000, (k) => (seen.push(k), k === 'b'));
    // the minute of T0 is partly due: both its keys are visited, 'c' (the next minute) is not
    expect(seen).toEqual(['a', 'b']);
    seen.length = 0;
    q.due(T0 + 2 * MIN, (k) => {
      seen.push(k);
      if (k === 'c') q.add(T0, 'c'); // queued again, into a minute already due: visited next time
      return false;
    });
    expect(seen.sort()).toEqual(['b', 'c']);
    seen.length = 0;
    q.due(T0 + 2 * MIN, (k) => (seen.push(k), false));
    expect(seen).toEqual(['c']);
  });

  it('visits due minutes earliest first, whatever order they were added in, and leaves later ones queued', () => {
    const q = new ExpiryQueue();
    const minutes = [5, 1, 1_440, 3, 2, 4, 720];
    for (const m of minutes) q.add(T0 + m * MIN, `m${m}`);
    const seen: string[] = [];
    q.due(T0 + 6 * MIN, (k) => (seen.push(k), false));
    expect(seen).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    seen.length = 0;
    q.due(T0 + 6 * MIN, (k) => (seen.push(k), false));
    expect(seen).toEqual([]);
    q.due(Number.NEGATIVE_INFINITY, (k) => (seen.push(k), false));
    expect(seen).toEqual([]);
    q.due(T0 + 1_441 * MIN, (k) => (seen.push(k), false));
    expect(seen).toEqual(['m720', 'm1440']);
  });
});

describe('PlaybackState: open sessions in the changelog', () => {
  /** An entry as earlier versions saved it: an object with named fields (its aggregate as saved). */
  const objectForm = (v: unknown[]) => {
    const [sessionId, viewerId, videoId, creatorId, durationMs, device, os, country, trafficSource, referrerVideoId] =
      v;
    const [startupMs, rebufferMs, rebuffers, errors] = v.slice(10);
    // and its aggregate's events objects too, as they were then
    const agg = aggregateObjectForm(v[14] as Record<string, unknown>);
    const dims = { device, os, country, trafficSource, referrerVideoId };
    return { sessionId, viewerId, videoId, creatorId, durationMs, dims, startupMs, rebufferMs, rebuffers, errors, agg };
  };

  it('are saved positionally, and the object form earlier versions saved restores to the same state', () => {
    const p = new PlaybackState(DEFAULT_PLAYBACK);
    watch(p, 's1', 'u1', T0);
    watch(p, 's2', 'u2', T0 + MIN);
    p.apply(event('s1', 'u1', 'rebuffer_end', T0 + 50_000, 45_000), video);
    const out: StateEntries = [];
    p.all(out);
    const state = new Map(JSON.parse(JSON.stringify(out)) as StateEntries);
    const sessions = [...state].filter(([k]) => k.startsWith('ps:'));
    expect(sessions).toHaveLength(2);
    for (const [, v] of sessions) expect(Array.isArray(v)).toBe(true);
    const old = new Map([...state].map(([k, v]) => [k, k.startsWith('ps:') ? objectForm(v as unknown[]) : v]));
    const fromOld = PlaybackState.restore(DEFAULT_PLAYBACK, old);
    const fromNew = PlaybackState.restore(DEFAULT_PLAYBACK, state);
    const saved = (x: PlaybackState) => {
      const o: StateEntries = [];
      x.all(o);
      return JSON.parse(JSON.stringify(o)) as StateEntries;
    };
    expect(saved(fromOld)).toEqual(saved(fromNew));
    expect(saved(fromNew)).toEqual(JSON.parse(JSON.stringify(out)));
    expect(fromOld.sessions.get('s1')).toEqual(fromNew.sessions.get('s1'));
    expect(fromOld.sessions.get('s1')!.agg.watchMs).toBe(p.sessions.get('s1')!.agg.watchMs);
  });
});
