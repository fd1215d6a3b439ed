// The batch reference: every rule of docs/semantics.md applied to all events at once
// (no windows, no watermarks, no state) — what the streaming result must equal.
import { minuteOf, totals, insertSorted, type CompactEvent } from '../../../processors/playback/session.js';
import { countedViews } from '../../../processors/playback/views.js';
import { toCompact } from '../../../processors/playback/state.js';
import type { PlayEvent } from '../../../schemas/types.js';

export interface MinuteCounts {
  plays: number;
  views: number;
  watchMs: number;
}

/** video → minute → counts */
export function referenceCounts(
  events: readonly PlayEvent[],
  durations: Map<string, number>,
): Map<string, Map<number, MinuteCounts>> {
  const sessions = new Map<string, { viewer: string; video: string; events: CompactEvent[] }>();
  for (const e of events) {
    const s = sessions.get(e.session_id) ?? { viewer: e.viewer_id, video: e.video_id, events: [] };
    insertSorted(s.events, toCompact(e));
    sessions.set(e.session_id, s);
  }
  const out = new Map<string, Map<number, MinuteCounts>>();
  const cell = (video: string, m: number): MinuteCounts => {
    const byMinute = out.get(video) ?? new Map<number, MinuteCounts>();
    out.set(video, byMinute);
    const c = byMinute.get(m) ?? { plays: 0, views: 0, watchMs: 0 };
    byMinute.set(m, c);
    return c;
  };
  const candidates = new Map<string, { sessionId: string; t: number }[]>();
  for (const [id, s] of sessions) {
    const t = totals(s.events, durations.get(s.video) ?? 0);
    for (const [m, n] of t.plays) cell(s.video, m).plays += n;
    for (const [m, w] of t.watch) cell(s.video, m).watchMs += w;
    if (t.candidate !== null) {
      const key = `${s.viewer}|${s.video}`;
      candidates.set(key, [...(candidates.get(key) ?? []), { sessionId: id, t: t.candidate }]);
    }
  }
  for (const [key, list] of candidates) {
    const video = key.split('|')[1]!;
    for (const v of countedViews(list)) cell(video, minuteOf(v.t)).views += 1;
  }
  return out;
}
