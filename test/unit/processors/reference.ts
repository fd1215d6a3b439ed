// The batch reference: every rule of docs/semantics.md applied to all events at once (no
// windows, no watermarks, no state) — what the streaming result must equal. Written from
// docs/semantics.md alone and deliberately naive: it imports nothing from processors/, so a
// wrong rule there cannot hide behind the same code here (as generator/truth.ts does for the
// generator's ground truth).
import type { PlayEvent } from '../../../schemas/types.js';

export interface MinuteCounts {
  plays: number;
  views: number;
  watchMs: number;
}

// "A minute is [floor(t / 60000) * 60000, +60000)"
const minuteStart = (t: number): number => Math.floor(t / 60_000) * 60_000;
// "Views 1: min(30000, duration_ms) … for a video not in the catalog the threshold is 30000"
const threshold = (durationMs: number | undefined): number =>
  durationMs !== undefined && durationMs > 0 ? Math.min(30_000, durationMs) : 30_000;
// "Views 2: t - last_counted >= 1_800_000"
const REPEAT_CAP = 1_800_000;

/** video → minute → counts */
export function referenceCounts(
  events: readonly PlayEvent[],
  durations: Map<string, number>,
): Map<string, Map<number, MinuteCounts>> {
  // "Deduplicated by event_id. The first accepted copy wins."
  const seen = new Set<string>();
  const sessions = new Map<string, PlayEvent[]>();
  for (const e of events) {
    if (seen.has(e.event_id)) continue;
    seen.add(e.event_id);
    const list = sessions.get(e.session_id) ?? [];
    list.push(e);
    sessions.set(e.session_id, list);
  }

  const out = new Map<string, Map<number, MinuteCounts>>();
  const cell = (video: string, t: number): MinuteCounts => {
    const m = minuteStart(t);
    let byMinute = out.get(video);
    if (!byMinute) out.set(video, (byMinute = new Map()));
    let c = byMinute.get(m);
    if (!c) byMinute.set(m, (c = { plays: 0, views: 0, watchMs: 0 }));
    return c;
  };

  // (viewer, video) → qualifying sessions' candidate times
  const candidates = new Map<string, { video: string; list: { session: string; t: number }[] }>();
  for (const [sessionId, list] of sessions) {
    // "Order within a session is event-time order, ties broken by event_id (string order)"
    const ordered = [...list].sort(
      (a, b) => a.event_time - b.event_time || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0),
    );
    const video = ordered[0]!.video_id;
    const viewer = ordered[0]!.viewer_id;
    const need = threshold(durations.get(video));
    let running = 0;
    let candidate: number | null = null;
    for (let i = 0; i < ordered.length; i++) {
      const e = ordered[i]!;
      // "Plays: a play is a play_start event", in the minute of its event_time
      if (e.event_type === 'play_start') cell(video, e.event_time).plays += 1;
      // "Watch time: the first event contributes 0; every later event contributes
      //  min(watched_ms, event_time - previous.event_time) (never negative)"
      const contribution = i === 0 ? 0 : Math.max(0, Math.min(e.watched_ms, e.event_time - ordered[i - 1]!.event_time));
      if (contribution > 0) cell(video, e.event_time).watchMs += contribution;
      running += contribution;
      // "qualifies at the first event where the running sum reaches the threshold or whose
      //  type is complete, whichever comes first"
      if (candidate === null && (running >= need || e.event_type === 'complete')) candidate = e.event_time;
    }
    if (candidate !== null) {
      const key = `${viewer}\u0000${video}`;
      const c = candidates.get(key) ?? { video, list: [] };
      c.list.push({ session: sessionId, t: candidate });
      candidates.set(key, c);
    }
  }

  // "Repeat cap: take qualifying sessions by candidate time (ties by session_id); a candidate
  //  counts only if no earlier counted view lies within the 30 minutes before it"; "a counted
  //  view belongs to the minute of its candidate time"
  for (const { video, list } of candidates.values()) {
    list.sort((a, b) => a.t - b.t || (a.session < b.session ? -1 : a.session > b.session ? 1 : 0));
    let last: number | null = null;
    for (const c of list) {
      if (last === null || c.t - last >= REPEAT_CAP) {
        cell(video, c.t).views += 1;
        last = c.t;
      }
    }
  }
  return out;
}
