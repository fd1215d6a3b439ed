// The catalog is a side input that can arrive after a video's first events. No number may be
// computed from "unknown" (docs/semantics.md, "The catalog"): whenever the catalog learns a
// video, the tables end up exactly as if it had known the video from the start — for
// view-counts (views of short videos, creator totals) and for engagement (retention
// coverage, percent viewed, completion).
import { describe, expect, it } from 'vitest';
import { TestDriver } from '../../../processors/driver.js';
import { viewCounts, COUNTS_TABLE } from '../../../processors/view-counts/processor.js';
import { engagement, SESSIONS_TABLE } from '../../../processors/engagement/processor.js';
import type { ProcessorDefinition, VideoLookup } from '../../../processors/contract.js';
import type { VideoInfo } from '../../../processors/playback/state.js';
import type { PlayEvent } from '../../../schemas/types.js';
import { traffic } from './fixtures.js';
import { referenceCounts } from './reference.js';

/** A catalog that knows only some videos until told to learn the rest. */
class LateCatalog implements VideoLookup {
  private learned = false;
  constructor(
    private readonly full: VideoLookup,
    private readonly lateIds: ReadonlySet<string>,
  ) {}
  learn(): void {
    this.learned = true;
  }
  get(id: string): VideoInfo | undefined {
    return this.lateIds.has(id) && !this.learned ? undefined : this.full.get(id);
  }
}

function run(definition: ProcessorDefinition<PlayEvent>, catalog: VideoLookup, learnAt: number, onLearn: () => void) {
  const t = traffic(11, { sessions: 120, partitions: 2 });
  const driver = new TestDriver(definition, catalog);
  for (const [i, d] of t.deliveries.entries()) {
    if (i === learnAt) onLearn();
    driver.pipe(d.partition, d.event);
    if (i % 20 === 19) driver.checkpoint();
  }
  // The runtime's timer: partitions whose traffic stopped apply what waited for the catalog.
  driver.poll();
  driver.checkpoint();
  return { driver, t };
}

/** SUM over FINAL rows per (dim, id, grain, window). */
function sums(driver: TestDriver<PlayEvent>): Map<string, [number, number, number]> {
  const out = new Map<string, [number, number, number]>();
  for (const r of driver.table(COUNTS_TABLE.name).rows()) {
    const k = `${String(r.dim)}|${String(r.id)}|${String(r.grain)}|${String(r.window_start)}`;
    const s = out.get(k) ?? [0, 0, 0];
    s[0] += r.plays as number;
    s[1] += r.views as number;
    s[2] += r.watch_ms as number;
    out.set(k, s);
  }
  for (const [k, s] of out) if (s.every((x) => x === 0)) out.delete(k);
  return out;
}

const sessionRows = (driver: TestDriver<PlayEvent>) =>
  driver
    .table(SESSIONS_TABLE.name)
    .rows()
    .map(({ version: _version, ...rest }) => rest)
    .sort((a, b) => String(a.session_id).localeCompare(String(b.session_id)));

describe('the catalog arriving after the events', () => {
  const base = traffic(11, { sessions: 120, partitions: 2 });
  // v0 is the 12 s video (threshold 12 s, not 30 s); v1 a long one.
  const late = new Set(['v0', 'v1']);
  const n = base.deliveries.length;

  for (const learnAt of [Math.floor(n / 3), Math.floor((2 * n) / 3), n - 1]) {
    it(`view-counts: equal to a catalog known from the start (learned at delivery ${learnAt} of ${n})`, () => {
      const known = run(viewCounts(), base.catalog, -1, () => undefined);
      const cat = new LateCatalog(base.catalog, late);
      const raced = run(viewCounts(), cat, learnAt, () => cat.learn());
      expect(sums(raced.driver)).toEqual(sums(known.driver));
      // and equal to the rules over all events, video by video and minute by minute
      const ref = referenceCounts(
        base.deliveries.map((d) => d.event),
        base.durations,
      );
      for (const [video, byMinute] of ref)
        for (const [minute, c] of byMinute) {
          const got = sums(raced.driver).get(`video|${video}|minute|${minute}`) ?? [0, 0, 0];
          expect(got).toEqual([c.plays, c.views, c.watchMs]);
        }
    });

    it(`engagement: every session row equal to a catalog known from the start (learned at ${learnAt} of ${n})`, () => {
      const known = run(engagement(), base.catalog, -1, () => undefined);
      const cat = new LateCatalog(base.catalog, late);
      const raced = run(engagement(), cat, learnAt, () => cat.learn());
      // Sessions released by the last poll close at the next minute of watermark progress;
      // everything else is final already.
      const open = (rows: Record<string, unknown>[]) => rows.map(({ closed: _closed, ...rest }) => rest);
      const rows = sessionRows(raced.driver);
      if (learnAt === n - 1) expect(open(rows)).toEqual(open(sessionRows(known.driver)));
      else expect(rows).toEqual(sessionRows(known.driver));
      // the race was real: some sessions of the late videos have coverage
      expect(rows.some((r) => late.has(String(r.video_id)) && (r.covered as number[]).length > 0)).toBe(true);
    });
  }
});
