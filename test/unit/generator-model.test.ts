// The traffic model: determinism, distributions, session invariants, faults, and the
// incremental truth checked against a from-scratch recomputation over the delivered stream.
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { playEventSchema } from '../../schemas/avro.js';
import { buildCatalog } from '../../generator/catalog.js';
import { planDeliveries, type Delivery, type EventDelivery } from '../../generator/faults.js';
import { generateTraffic, type GenerateOptions, type Traffic } from '../../generator/index.js';
import { hash32, Rng, WeightedTable } from '../../generator/rng.js';
import { HEARTBEAT_MS, simulateSession, type SimSession } from '../../generator/session.js';
import {
  admitEventTime,
  contributions,
  sessionOrder,
  truthFromEvents,
  type TruthEvent,
} from '../../generator/truth.js';
import { viewerProfile, type ViewerProfile } from '../../generator/viewers.js';

const NOW = Date.parse('2026-06-01T12:00:00.000Z');

function run(options: Partial<GenerateOptions> & { events: number }): { traffic: Traffic; deliveries: Delivery[] } {
  const traffic = generateTraffic({ now: NOW, ...options });
  return { traffic, deliveries: [...traffic.deliveriesSync()] };
}

const toTruthEvent = (d: EventDelivery): TruthEvent => ({ ...d.event, event_time: d.acceptedEventTime });

// One shared medium-size run for the distribution checks (~20k records, well under a second).
const big = run({ events: 20_000, seed: 11 });
const bigEvents = big.deliveries.filter((d): d is EventDelivery => d.kind === 'event' && !d.duplicate);

describe('rng', () => {
  it('is deterministic per seed and spreads values', () => {
    const a = new Rng(1);
    const b = new Rng(1);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(Array.from({ length: 1000 }, () => b.next())).toEqual(xs);
    expect(new Rng(2).next()).not.toBe(xs[0]);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
    expect(hash32(1, 'a')).not.toBe(hash32('1a'));
    expect(new Rng(5).uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('picks by weight and draws log-normals around their median', () => {
    const rng = new Rng(3);
    const table = new WeightedTable(['a', 'b', 'c'], [1, 3, 0]);
    const counts = { a: 0, b: 0, c: 0 } as Record<string, number>;
    for (let i = 0; i < 20_000; i++) counts[table.pick(rng)]!++;
    expect(counts.c).toBe(0);
    expect(counts.b! / 20_000).toBeGreaterThan(0.72);
    expect(counts.b! / 20_000).toBeLessThan(0.78);
    const draws = Array.from({ length: 10_001 }, () => rng.lognormal(1000, 0.8)).sort((x, y) => x - y);
    expect(draws[5000]).toBeGreaterThan(900);
    expect(draws[5000]).toBeLessThan(1100);
  });
});

describe('determinism', () => {
  it('gives identical deliveries and truth for the same seed, different ones for another seed', () => {
    const a = run({ events: 3000, seed: 5 });
    const b = run({ events: 3000, seed: 5 });
    const c = run({ events: 3000, seed: 6 });
    expect(b.deliveries).toEqual(a.deliveries);
    expect(b.traffic.truth()).toEqual(a.traffic.truth());
    expect([...b.traffic.viewerClusters()]).toEqual([...a.traffic.viewerClusters()]);
    expect(c.deliveries.slice(0, 50)).not.toEqual(a.deliveries.slice(0, 50));
    expect(c.traffic.truth().minutes).not.toEqual(a.traffic.truth().minutes);
  });

  it('delivers exactly the requested number of records, in delivery-time order', () => {
    for (const events of [1, 7, 2500]) {
      const { traffic, deliveries } = run({ events, seed: 2 });
      expect(deliveries).toHaveLength(events);
      expect(traffic.truth().counts.deliveries).toBe(events);
    }
    for (let i = 1; i < big.deliveries.length; i++) {
      expect(big.deliveries[i]!.deliverAt).toBeGreaterThanOrEqual(big.deliveries[i - 1]!.deliverAt);
    }
  });

  it('can be iterated once, and has no truth before the end', () => {
    const traffic = generateTraffic({ events: 10, now: NOW });
    expect(() => traffic.truth()).toThrow(/exhausted/);
    expect([...traffic.deliveriesSync()]).toHaveLength(10);
    expect(() => [...traffic.deliveriesSync()]).toThrow(/once/);
  });

  it('places all events between the start and now (default start)', () => {
    const t = big.traffic.truth();
    expect(t.time.first_event).toBeGreaterThanOrEqual(big.traffic.options.start);
    expect(t.time.last_delivery).toBeLessThan(NOW);
  });
});

describe('catalog', () => {
  const catalog = buildCatalog({ seed: 1, videos: 2000, creators: 100, clusters: 8, zipf: 1, publishedBefore: NOW });

  it('has log-normal durations: median of a few minutes, ~10 % short clips, sane bounds', () => {
    const d = catalog.videos.map((v) => v.video.duration_ms).sort((a, b) => a - b);
    const median = d[d.length >> 1]!;
    expect(median).toBeGreaterThan(4 * 60_000);
    expect(median).toBeLessThan(9 * 60_000);
    const short = d.filter((x) => x < 30_000).length / d.length;
    expect(short).toBeGreaterThan(0.03);
    expect(short).toBeLessThan(0.12);
    expect(d[0]).toBeGreaterThanOrEqual(5_000);
    expect(d[d.length - 1]).toBeLessThanOrEqual(7_200_000);
  });

  it('gives every cluster videos, every creator a video, and publishes before the start', () => {
    for (let c = 0; c < 8; c++) expect(catalog.byCluster[c]!.items.length).toBeGreaterThan(100);
    const creators = new Set(catalog.videos.map((v) => v.video.creator_id));
    expect(creators.size).toBe(100);
    expect(catalog.videos.every((v) => v.video.published_at < NOW)).toBe(true);
    expect(catalog.videos[0]!.video.video_id).toBe('s1-v00001');
  });
});

describe('distributions', () => {
  const truth = big.traffic.truth();
  const clusterOfVideo = truth.clusters.videos;
  const clusterOfViewer = new Map(big.traffic.viewerClusters());

  it('has Zipf popularity: the top 10 % of videos get about half or more of the plays', () => {
    const plays = new Map<string, number>();
    for (const r of truth.minutes) plays.set(r.video_id, (plays.get(r.video_id) ?? 0) + r.plays);
    const sorted = [...plays.values()].sort((a, b) => b - a);
    const total = sorted.reduce((a, b) => a + b, 0);
    const head = sorted.slice(0, Math.ceil(big.traffic.options.videos / 10)).reduce((a, b) => a + b, 0);
    expect(head / total).toBeGreaterThan(0.4);
    expect(head / total).toBeLessThan(0.85);
  });

  it('has viewers watch mostly their own cluster (80–90 % of their sessions)', () => {
    const starts = bigEvents.filter((d) => d.event.event_type === 'play_start');
    const own = starts.filter((d) => clusterOfVideo[d.event.video_id] === clusterOfViewer.get(d.viewer_id)).length;
    expect(own / starts.length).toBeGreaterThan(0.8);
    expect(own / starts.length).toBeLessThan(0.92);
  });

  it('chains visits by suggestion, with co-viewed videos nearly always of one cluster', () => {
    const starts = bigEvents.filter((d) => d.event.event_type === 'play_start');
    const suggested = starts.filter((d) => d.event.traffic_source === 'suggested');
    expect(suggested.length / starts.length).toBeGreaterThan(0.35);
    expect(suggested.every((d) => d.event.referrer_video_id !== null)).toBe(true);
    expect(
      starts.filter((d) => d.event.traffic_source !== 'suggested').every((d) => d.event.referrer_video_id === null),
    ).toBe(true);
    const same = suggested.filter(
      (d) => clusterOfVideo[d.event.referrer_video_id!] === clusterOfVideo[d.event.video_id],
    ).length;
    expect(same / suggested.length).toBeGreaterThan(0.9);
    // Several sessions per visit: more sessions than visits by a wide margin.
    expect(truth.counts.sessions / truth.counts.visits).toBeGreaterThan(3.2);
  });

  it('mixes devices, countries and traffic sources', () => {
    const starts = bigEvents.filter((d) => d.event.event_type === 'play_start');
    const share = (f: (d: EventDelivery) => boolean): number => starts.filter(f).length / starts.length;
    expect(share((d) => d.event.device === 'mobile')).toBeGreaterThan(0.35);
    expect(new Set(starts.map((d) => d.event.device)).size).toBeGreaterThanOrEqual(4);
    expect(new Set(starts.map((d) => d.event.country)).size).toBeGreaterThanOrEqual(10);
    expect(new Set(starts.map((d) => d.event.traffic_source)).size).toBeGreaterThanOrEqual(6);
    expect(starts.every((d) => d.event.startup_ms !== null && d.event.startup_ms > 0)).toBe(true);
  });

  it('has completes, abandons, repeat-capped views and every event type', () => {
    const types = new Set(bigEvents.map((d) => d.event.event_type));
    for (const t of [
      'play_start',
      'heartbeat',
      'pause',
      'resume',
      'seek',
      'rebuffer_start',
      'rebuffer_end',
      'complete',
      'play_end',
    ]) {
      expect(types.has(t as never)).toBe(true);
    }
    expect(truth.totals.views).toBeGreaterThan(truth.totals.plays * 0.4);
    expect(truth.totals.views).toBeLessThan(truth.totals.plays);
    expect(truth.totals.views_capped).toBeGreaterThan(0);
    expect(bigEvents.some((d) => d.event.rebuffer_ms !== null && d.event.event_type === 'rebuffer_end')).toBe(true);
  });

  it('has buggy clients whose watched_ms exceeds the event-time gap (so the bound matters)', () => {
    const bySession = new Map<string, TruthEvent[]>();
    for (const d of bigEvents) {
      const list = bySession.get(d.event.session_id) ?? [];
      list.push(toTruthEvent(d));
      bySession.set(d.event.session_id, list);
    }
    let over = 0;
    for (const list of bySession.values()) {
      const sorted = list.sort(sessionOrder);
      const c = contributions(sorted);
      for (let i = 1; i < sorted.length; i++) if (sorted[i]!.watched_ms > c[i]!) over++;
    }
    expect(over).toBeGreaterThan(20);
  });
});

describe('sessions', () => {
  const viewers: ViewerProfile[] = Array.from({ length: 60 }, (_, i) => viewerProfile(9, 's9', i, 8));
  const sessions: SimSession[] = [];
  for (let i = 0; i < 600; i++) {
    const viewer = { ...viewers[i % viewers.length]!, buggy: false };
    const rng = Rng.for(9, 'test-session', i);
    const duration_ms = i % 7 === 0 ? rng.range(5_000, 29_000) : rng.range(60_000, 1_200_000);
    sessions.push(
      simulateSession(
        {
          session_id: rng.uuid(),
          viewer,
          video_id: `v${i}`,
          duration_ms,
          start: NOW - 86_400_000 + i * 1000,
          traffic_source: 'browse',
          referrer_video_id: null,
        },
        rng,
      ),
    );
  }

  it('starts with play_start, keeps positions within the video and times in order', () => {
    const problems: string[] = [];
    for (const s of sessions) {
      const bad = (what: string): number => problems.push(`${s.spec.session_id}: ${what}`);
      if (s.events[0]!.event_type !== 'play_start' || !(s.events[0]!.startup_ms! > 0)) bad('no play_start first');
      for (let i = 0; i < s.events.length; i++) {
        const e = s.events[i]!;
        if (e.position_ms < 0 || e.position_ms > s.spec.duration_ms) bad(`position ${e.position_ms}`);
        const prev = s.events[i - 1];
        if (prev && e.t < prev.t) bad('time goes back');
        if (prev && e.t === prev.t && e.event_type !== 'play_end') bad(`tie on ${e.event_type}`); // the only allowed tie
      }
      if (s.events.filter((e) => e.event_type === 'play_start').length !== 1) bad('play_start count');
      const complete = s.events.find((e) => e.event_type === 'complete');
      if (complete && complete.position_ms !== s.spec.duration_ms) bad('complete before the end');
      if ((s.outcome === 'complete') !== (complete !== undefined)) bad('outcome');
    }
    expect(problems).toEqual([]);
  });

  it('sends a heartbeat after every 10 s of playback', () => {
    let heartbeats = 0;
    const problems: string[] = [];
    for (const s of sessions) {
      let playback = 0;
      for (const e of s.events.slice(1)) {
        playback += e.watched_ms;
        if (e.event_type === 'heartbeat') {
          if (playback !== HEARTBEAT_MS) problems.push(`${s.spec.session_id}: heartbeat after ${playback} ms`);
          playback = 0;
          heartbeats++;
        }
        if (playback > HEARTBEAT_MS) problems.push(`${s.spec.session_id}: ${playback} ms without heartbeat`);
      }
    }
    expect(problems).toEqual([]);
    expect(heartbeats).toBeGreaterThan(5000);
  });

  it('reports seek_from_ms on seeks (forward and back) and only there; watched never exceeds the gap', () => {
    let forward = 0;
    let back = 0;
    const problems: string[] = [];
    for (const s of sessions) {
      for (let i = 0; i < s.events.length; i++) {
        const e = s.events[i]!;
        const bad = (what: string): number => problems.push(`${s.spec.session_id} #${i} ${e.event_type}: ${what}`);
        if (e.event_type === 'seek') {
          if (e.seek_from_ms === null) bad('no seek_from_ms');
          else if (e.position_ms > e.seek_from_ms) forward++;
          else back++;
        } else if (e.seek_from_ms !== null) bad('seek_from_ms');
        if (i > 0 && e.watched_ms > e.t - s.events[i - 1]!.t) bad('watched > gap');
        if (e.event_type === 'rebuffer_end' && !(e.rebuffer_ms! > 0)) bad('rebuffer_ms');
        if (e.event_type === 'error' && !e.error_code) bad('error_code');
      }
    }
    expect(problems).toEqual([]);
    expect(forward).toBeGreaterThan(20);
    expect(back).toBeGreaterThan(20);
  });

  it('follows a retention curve: short videos complete more often than long ones', () => {
    const rate = (f: (s: SimSession) => boolean): number => {
      const group = sessions.filter(f);
      return group.filter((s) => s.outcome === 'complete').length / group.length;
    };
    expect(rate((s) => s.spec.duration_ms < 30_000)).toBeGreaterThan(rate((s) => s.spec.duration_ms > 600_000) + 0.15);
  });
});

describe('faults', () => {
  const rates = { outOfOrder: 0.1, late: 0.05, duplicate: 0.1, malformed: 0.05 };
  const faulty = run({ events: 20_000, seed: 21, faults: rates });
  const t = faulty.traffic.truth();

  it('honours the configured rates (per generated event)', () => {
    const c = t.counts;
    expect(c.duplicates / c.events).toBeGreaterThan(0.085);
    expect(c.duplicates / c.events).toBeLessThan(0.115);
    expect(c.malformed / c.events).toBeGreaterThan(0.04);
    expect(c.malformed / c.events).toBeLessThan(0.06);
    expect(c.late / c.events).toBeGreaterThan(0.04);
    expect(c.late / c.events).toBeLessThan(0.06);
    // Out-of-order includes late events; most held-back events do land after their successor.
    expect(c.out_of_order / c.events).toBeGreaterThan(0.1);
    expect(c.out_of_order / c.events).toBeLessThan(0.17);
    expect(c.deliveries).toBe(c.events + c.duplicates + c.malformed);
  });

  it('delivers late events minutes after they happened, duplicates with the same content', () => {
    const events = faulty.deliveries.filter((d): d is EventDelivery => d.kind === 'event');
    const problems: string[] = [];
    for (const d of events) {
      if (d.late && d.deliverAt - d.acceptedEventTime < 115_000)
        problems.push(`${d.event.event_id}: late by too little`);
    }
    const first = new Map<string, EventDelivery>();
    for (const d of events) {
      const seen = first.get(d.event.event_id);
      if (seen) {
        if (!d.duplicate || JSON.stringify(d.event) !== JSON.stringify(seen.event) || d.deliverAt < seen.deliverAt) {
          problems.push(`${d.event.event_id}: bad copy`);
        }
      } else {
        if (d.duplicate) problems.push(`${d.event.event_id}: copy before the original`);
        first.set(d.event.event_id, d);
      }
    }
    expect(problems).toEqual([]);
    expect(events.filter((d) => d.late).length).toBeGreaterThan(100);
  });

  it('produces nothing of the kind at rate 0', () => {
    const clean = run({ events: 5000, seed: 21, faults: { outOfOrder: 0, late: 0, duplicate: 0, malformed: 0 } });
    expect(clean.traffic.truth().counts).toMatchObject({ duplicates: 0, malformed: 0, late: 0, out_of_order: 0 });
  });

  it('makes malformed records that no validator accepts: schema-invalid, out-of-range times, undecodable bytes', () => {
    const type = avro.Type.forSchema(playEventSchema() as avro.Schema);
    const malformed = faulty.deliveries.filter((d) => d.kind === 'malformed');
    expect(malformed.length).toBeGreaterThan(500);
    expect(new Set(malformed.map((d) => d.variant)).size).toBe(9);
    for (const d of malformed) {
      const record = { ...d.body, received_at: d.deliverAt };
      if (d.variant === 'future_event_time' || d.variant === 'ancient_event_time') {
        expect(type.isValid(record)).toBe(true);
        // Rejected whatever the real receive time, as long as the run lies within a week of it.
        for (const receivedAt of [d.deliverAt, d.deliverAt + 7 * 86_400_000]) {
          const sentAt = receivedAt + d.skewMs;
          expect(admitEventTime(d.body.event_time as number, sentAt, receivedAt, 366 * 86_400_000).accepted).toBe(
            false,
          );
        }
      } else expect(type.isValid(record)).toBe(false);
      const bytes = Buffer.from(d.bytes);
      if (d.framed) {
        expect(bytes[0]).toBe(0);
        expect(() => type.fromBuffer(bytes.subarray(5))).toThrow();
      } else expect(bytes[0]).not.toBe(0);
    }
  });

  it('keeps malformed records and duplicate copies out of the truth: it equals a recomputation from the stream', () => {
    const accepted = faulty.deliveries.filter((d): d is EventDelivery => d.kind === 'event').map(toTruthEvent);
    const recomputed = truthFromEvents(accepted, faulty.traffic.catalog.lookup);
    const { totals, minutes, daily_uniques, creator_daily_uniques, retention } = t;
    expect({ totals, minutes, daily_uniques, creator_daily_uniques, retention }).toEqual(recomputed);
    expect(totals.events).toBe(t.counts.events);
  });

  it('corrects skewed clients to true time and leaves sub-2 s skews alone (rule 3)', () => {
    let skewed = 0;
    let slight = 0;
    for (const d of bigEvents) {
      if (Math.abs(d.skewMs) >= 2000) {
        expect(Math.abs(d.skewMs) % 1000).toBe(0);
        expect(Math.abs(d.skewMs)).toBeGreaterThanOrEqual(60_000);
        expect(d.acceptedEventTime).toBe(d.event.event_time - d.skewMs);
        skewed++;
      } else {
        expect(d.acceptedEventTime).toBe(d.event.event_time);
        if (d.skewMs !== 0) slight++;
      }
    }
    expect(skewed).toBeGreaterThan(100);
    expect(slight).toBeGreaterThan(100);
  });

  it('truncates the last session when the budget runs out, sending a prefix', () => {
    const viewer = viewerProfile(1, 's1', 0, 8);
    const rng = Rng.for(1, 'trunc');
    const s = simulateSession(
      {
        session_id: 'x',
        viewer,
        video_id: 'v',
        duration_ms: 600_000,
        start: NOW - 86_400_000,
        traffic_source: 'browse',
        referrer_video_id: null,
      },
      rng,
    );
    const plan = planDeliveries(s, { outOfOrder: 0, late: 0, duplicate: 0, malformed: 0 }, Rng.for(2), 3);
    expect(plan.deliveries).toHaveLength(3);
    expect(plan.truncated).toBe(s.events.length > 3);
    expect(plan.deliveries.map((d) => (d as EventDelivery).event.event_id)).toEqual(
      s.events.slice(0, 3).map((e) => e.event_id),
    );
  });
});
