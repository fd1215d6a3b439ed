// Synthetic traffic with the ground truth it implies.
//
//   const traffic = generateTraffic({ seed: 42, events: 100_000 });
//   for await (const d of traffic.deliveries()) await sink.write(d);
//   const truth = traffic.truth();
//
// The model:
// - Visits arrive over `span` (a Poisson process whose rate adapts so that the run ends with
//   exactly `events` deliveries). A visit belongs to one viewer (heavy viewers come back more
//   often) and is a chain of sessions, 4 on average (1..12), 1.5..20 s apart.
// - A visit stays on one taste cluster: the viewer's own with probability `onTaste` (0.88),
//   otherwise another one. Each video of the visit comes from that cluster (96 %, by Zipf
//   popularity within it), from the whole catalog (4 %), or is a replay of the previous
//   video (4 %, a refresh loop the repeat cap must absorb). So ~85 % of a viewer's videos are
//   from its cluster, and videos watched together in a visit are nearly always of one cluster.
// - The first video of a visit comes from search, browse, external, direct, notification,
//   playlist or other; the next ones mostly from `suggested`, with referrer_video_id = the
//   previous video of the visit.
// - Sessions are simulated by session.ts, their delivery and faults planned by faults.ts.
//
// Streaming: sessions are generated in start-time order and their deliveries wait in a heap
// until no later session can deliver anything earlier, so memory holds what is in flight
// (a few sessions per active visit), never the run. The truth accumulates session by session.
import type { TrafficSource } from '../schemas/types.js';
import { buildCatalog, type GeneratedCatalog, type CatalogVideo } from './catalog.js';
import { DEFAULT_FAULT_RATES, planDeliveries, validateFaultRates, type Delivery, type FaultRates } from './faults.js';
import { MinHeap } from '../lib/min-heap.js';
import { Rng, WeightedTable } from './rng.js';
import { simulateSession, type SessionSpec } from './session.js';
import { TruthAccumulator, truthRules, type TruthEvent, type TruthRules, type TruthTables } from './truth.js';
import {
  DEFAULT_CLIENT_MIX,
  pickViewerIndex,
  viewerId,
  viewerProfile,
  type ClientMix,
  type ViewerProfile,
} from './viewers.js';

export type { Delivery, EventDelivery, MalformedDelivery, FaultRates } from './faults.js';
export type { GeneratedCatalog, CatalogVideo } from './catalog.js';

/** Events end at most this long after the span: the last visits' sessions, late and repeated deliveries. */
export const TAIL_MS = 4 * 3_600_000;
const MAX_VISIT_MS = 3 * 3_600_000;
const MAX_SESSIONS_PER_VISIT = 12;
const MEAN_SESSIONS_PER_VISIT = 4;
const REPLAY_SHARE = 0.04;
const STRAY_SHARE = 0.04;

const ENTRY_SOURCES = WeightedTable.of<TrafficSource>({
  search: 0.25,
  browse: 0.28,
  external: 0.1,
  direct: 0.1,
  notification: 0.1,
  playlist: 0.12,
  other: 0.05,
});
const NEXT_SOURCES = WeightedTable.of<TrafficSource>({
  suggested: 0.7,
  playlist: 0.1,
  search: 0.1,
  browse: 0.08,
  other: 0.02,
});

export interface GenerateOptions {
  /** Records to deliver in total: events, duplicate copies and malformed records. */
  events: number;
  seed?: number;
  /**
   * Seed of the catalog (default: `seed`): traffic of another seed — other viewers, other
   * event ids — over the videos of an earlier run (the demo's live phase).
   */
  catalogSeed?: number;
  /** Simulated time of the first visit, epoch ms. Default: early enough that everything ends before `now`. */
  start?: number;
  /** Simulated period over which visits start. Default: 10 ms per event, 1 h .. 3 days. */
  spanMs?: number;
  /** Viewer pool size. Default: events / 100, at least 100. */
  viewers?: number;
  videos?: number;
  creators?: number;
  clusters?: number;
  /** Zipf exponent of video popularity. */
  zipf?: number;
  /** Share of visits on the viewer's own cluster. */
  onTaste?: number;
  faults?: Partial<FaultRates>;
  clients?: Partial<ClientMix>;
  /** "Now", for the default start (tests pin it). */
  now?: number;
  /**
   * The rule parameters the truth is computed under (default: today's, DEFAULT_TRUTH_RULES);
   * a RuleParameters or config.rules can be passed as it is. The traffic does not depend on them.
   */
  rules?: TruthRules;
}

export interface ResolvedOptions {
  events: number;
  seed: number;
  catalogSeed: number;
  start: number;
  spanMs: number;
  viewers: number;
  videos: number;
  creators: number;
  clusters: number;
  zipf: number;
  onTaste: number;
  faults: FaultRates;
  clients: ClientMix;
  /** The rules of the truth (view threshold, repeat cap). */
  rules: TruthRules;
}

export function defaultSpanMs(events: number): number {
  return Math.min(3 * 86_400_000, Math.max(3_600_000, events * 10));
}

/** The default start: the whole run (span and tail) ends before `now`; whole minutes. */
export function defaultStart(spanMs: number, now: number): number {
  return Math.floor((now - spanMs - TAIL_MS) / 60_000) * 60_000;
}

export function resolveOptions(o: GenerateOptions): ResolvedOptions {
  const int = (name: string, v: number, min: number, max: number): number => {
    if (!Number.isInteger(v) || v < min || v > max)
      throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${v}`);
    return v;
  };
  const events = int('events', o.events, 1, 1_000_000_000);
  const spanMs = int('span', o.spanMs ?? defaultSpanMs(events), 60_000, 400 * 86_400_000);
  const faults = { ...DEFAULT_FAULT_RATES, ...o.faults };
  validateFaultRates(faults);
  const clients = { ...DEFAULT_CLIENT_MIX, ...o.clients };
  for (const [k, v] of Object.entries(clients)) if (!(v >= 0 && v <= 1)) throw new RangeError(`${k} must be in 0..1`);
  if (clients.skewedClients + clients.slightlySkewedClients > 1) {
    throw new RangeError('skewed and slightly skewed client shares together must not exceed 1');
  }
  const clusters = int('clusters', o.clusters ?? 8, 1, 1000);
  const creators = int('creators', o.creators ?? Math.max(40, clusters), clusters, 100_000);
  const onTaste = o.onTaste ?? 0.88;
  if (!(onTaste >= 0 && onTaste <= 1)) throw new RangeError('onTaste must be in 0..1');
  const seed = int('seed', o.seed ?? 1, 0, 0xffffffff);
  return {
    events,
    seed,
    catalogSeed: int('catalogSeed', o.catalogSeed ?? seed, 0, 0xffffffff),
    start: o.start ?? defaultStart(spanMs, o.now ?? Date.now()),
    spanMs,
    viewers: int('viewers', o.viewers ?? Math.max(100, Math.round(events / 100)), 1, 100_000_000),
    videos: int('videos', o.videos ?? Math.max(400, creators), creators, 1_000_000),
    creators,
    clusters,
    zipf: o.zipf ?? 1,
    onTaste,
    faults,
    clients,
    rules: truthRules(o.rules),
  };
}

export interface GenerationCounts {
  /** Records delivered: events + duplicates + malformed. */
  deliveries: number;
  /** Distinct valid events delivered (each once, whatever its copies). */
  events: number;
  /** Extra copies of events already sent (same event_id). */
  duplicates: number;
  malformed: number;
  /** Events delivered 2..15 minutes after they happened. */
  late: number;
  /** Events delivered after a later event of their session (late ones included). */
  out_of_order: number;
  /** Events from clients whose clock is skewed (corrected by the collector when ≥ 2 s). */
  skewed_client_events: number;
  sessions: number;
  /** Sessions cut short because the delivery budget ran out (at most 1). */
  truncated_sessions: number;
  visits: number;
  viewers: number;
}

export interface TruthReport extends TruthTables {
  format: 'viewpulse-truth/1';
  options: ResolvedOptions;
  /** Accepted event times (after rule 3), and the last delivery, epoch ms. */
  time: { first_event: number; last_event: number; last_delivery: number };
  counts: GenerationCounts;
  catalog: { creators: number; videos: number };
  clusters: {
    names: string[];
    /** video_id → cluster index. */
    videos: Record<string, number>;
  };
}

export interface Traffic {
  readonly options: ResolvedOptions;
  readonly catalog: GeneratedCatalog;
  /** The deliveries, in delivery order. One pass: call once. */
  deliveries(): AsyncIterableIterator<Delivery>;
  /** The same, synchronously. */
  deliveriesSync(): IterableIterator<Delivery>;
  /** The ground truth; available once the deliveries are exhausted. */
  truth(): TruthReport;
  /** viewer_id → cluster of every viewer that appeared, in index order (streamed: pools can be large). */
  viewerClusters(): IterableIterator<[string, number]>;
}

interface Visit {
  seq: number;
  viewer: ViewerProfile;
  cluster: number;
  started: number;
  next: number;
  remaining: number;
  prev: CatalogVideo | undefined;
  /** Videos of this visit so far: people rarely pick the same one twice (replays aside). */
  watched: CatalogVideo[];
  rng: Rng;
}

interface Pending {
  d: Delivery;
  seq: number;
}

export function generateTraffic(input: GenerateOptions): Traffic {
  const o = resolveOptions(input);
  const catalog = buildCatalog({
    seed: o.catalogSeed,
    videos: o.videos,
    creators: o.creators,
    clusters: o.clusters,
    zipf: o.zipf,
    publishedBefore: o.start,
  });
  const acc = new TruthAccumulator(catalog.lookup, o.rules);
  const seen = new Uint8Array(o.viewers);
  const counts: GenerationCounts = {
    deliveries: 0,
    events: 0,
    duplicates: 0,
    malformed: 0,
    late: 0,
    out_of_order: 0,
    skewed_client_events: 0,
    sessions: 0,
    truncated_sessions: 0,
    visits: 0,
    viewers: 0,
  };
  const time = { first_event: Infinity, last_event: -Infinity, last_delivery: -Infinity };
  let started = false;
  let done = false;
  let report: TruthReport | undefined;

  function* run(): Generator<Delivery> {
    const spanEnd = o.start + o.spanMs;
    const arrivals = Rng.for(o.seed, 'arrivals');
    const visits = new MinHeap<Visit>((a, b) => a.next < b.next || (a.next === b.next && a.seq < b.seq));
    const pending = new MinHeap<Pending>(
      (a, b) => a.d.deliverAt < b.d.deliverAt || (a.d.deliverAt === b.d.deliverAt && a.seq < b.seq),
    );
    let pushed = 0;
    let used = 0; // deliveries planned
    let committedSessions = 0; // sessions active visits will still start
    let visitSeq = 0;
    let sessionSeq = 0;

    const perSession = (): number => (counts.sessions >= 20 ? used / counts.sessions : 30);
    // Visits arrive only for budget the active visits have not reserved yet: spread over what
    // is left of the span, or, past it, in a quick burst rather than running late. With the
    // budget reserved, arrivals wait (Infinity) until a visit ends.
    const arrivalGap = (now: number): number => {
      const left = o.events - used - committedSessions * perSession();
      if (left <= 0 && visits.size > 0) return Infinity;
      const spanLeft = spanEnd - now;
      const visitsLeft = Math.max(1, left / (perSession() * MEAN_SESSIONS_PER_VISIT));
      const mean = spanLeft > 0 ? spanLeft / visitsLeft : 100;
      return Math.max(1, Math.round(arrivals.exponential(mean)));
    };
    let nextArrival = o.start;

    while (used < o.events) {
      const top = visits.peek();
      const isSession = top !== undefined && top.next <= nextArrival;
      const now = isSession ? top.next : nextArrival;
      if (now === Infinity) throw new Error('generateTraffic: no visit active and none arriving'); // cannot happen
      while (pending.size > 0 && pending.peek()!.d.deliverAt < now) yield pending.pop()!.d;

      if (!isSession) {
        const vrng = Rng.for(o.seed, 'visit', visitSeq);
        const index = pickViewerIndex(vrng, o.viewers);
        const viewer = viewerProfile(o.seed, catalog.tag, index, o.clusters, o.clients);
        const onTaste = o.clusters === 1 || vrng.chance(o.onTaste);
        const cluster = onTaste ? viewer.cluster : (viewer.cluster + 1 + vrng.int(o.clusters - 1)) % o.clusters;
        let remaining = 1;
        while (remaining < MAX_SESSIONS_PER_VISIT && vrng.chance(1 - 1 / MEAN_SESSIONS_PER_VISIT)) remaining++;
        visits.push({
          seq: visitSeq++,
          viewer,
          cluster,
          started: now,
          next: now,
          remaining,
          prev: undefined,
          watched: [],
          rng: vrng,
        });
        committedSessions += remaining;
        nextArrival = now + arrivalGap(now);
        continue;
      }

      const visit = visits.pop()!;
      const { rng: vrng, viewer, prev } = visit;
      if (!prev) {
        // Counted at its first session: a visit the budget never reaches leaves no trace.
        counts.visits++;
        if (!seen[viewer.index]) {
          seen[viewer.index] = 1;
          counts.viewers++;
        }
      }
      let video: CatalogVideo;
      let source: TrafficSource;
      let referrer: string | null = null;
      if (prev && vrng.chance(REPLAY_SHARE)) {
        video = prev;
        source = 'direct';
      } else {
        const table = vrng.chance(STRAY_SHARE) ? catalog.global : catalog.byCluster[visit.cluster]!;
        video = table.pick(vrng);
        for (let i = 0; i < 8 && visit.watched.includes(video); i++) video = table.pick(vrng);
        source = prev ? NEXT_SOURCES.pick(vrng) : ENTRY_SOURCES.pick(vrng);
        if (source === 'suggested') referrer = prev!.video.video_id;
      }
      const srng = Rng.for(o.seed, 'session', sessionSeq);
      const spec: SessionSpec = {
        session_id: srng.uuid(),
        viewer,
        video_id: video.video.video_id,
        duration_ms: video.video.duration_ms,
        start: now,
        traffic_source: source,
        referrer_video_id: referrer,
      };
      const session = simulateSession(spec, srng);
      const plan = planDeliveries(session, o.faults, Rng.for(o.seed, 'faults', sessionSeq), o.events - used);
      sessionSeq++;
      counts.sessions++;
      if (plan.truncated) counts.truncated_sessions++;

      const accepted: TruthEvent[] = [];
      for (const d of plan.deliveries) {
        pending.push({ d, seq: pushed++ });
        used++;
        if (d.kind === 'malformed') {
          counts.malformed++;
          continue;
        }
        if (d.duplicate) {
          counts.duplicates++;
          continue;
        }
        counts.events++;
        if (d.late) counts.late++;
        if (d.outOfOrder) counts.out_of_order++;
        if (d.skewMs !== 0) counts.skewed_client_events++;
        const e = d.event;
        accepted.push({
          event_id: e.event_id,
          event_type: e.event_type,
          event_time: d.acceptedEventTime,
          session_id: e.session_id,
          viewer_id: e.viewer_id,
          video_id: e.video_id,
          position_ms: e.position_ms,
          watched_ms: e.watched_ms,
          seek_from_ms: e.seek_from_ms,
        });
        if (d.acceptedEventTime < time.first_event) time.first_event = d.acceptedEventTime;
        if (d.acceptedEventTime > time.last_event) time.last_event = d.acceptedEventTime;
      }
      acc.addSession(accepted);

      committedSessions--;
      visit.remaining--;
      visit.prev = video;
      visit.watched.push(video);
      const next = session.end + vrng.range(1500, 20_000);
      if (visit.remaining > 0 && next <= visit.started + MAX_VISIT_MS && next <= spanEnd + 1_800_000) {
        visit.next = next;
        visits.push(visit);
      } else {
        committedSessions -= visit.remaining;
        if (nextArrival === Infinity) nextArrival = now + arrivalGap(now);
      }
    }
    while (pending.size > 0) yield pending.pop()!.d;
    done = true;
  }

  function* once(): Generator<Delivery> {
    if (started) throw new Error('generateTraffic: the deliveries can be iterated once');
    started = true;
    for (const d of run()) {
      counts.deliveries++;
      if (d.deliverAt > time.last_delivery) time.last_delivery = d.deliverAt;
      yield d;
    }
  }

  return {
    options: o,
    catalog,
    deliveriesSync: once,
    async *deliveries() {
      yield* once();
    },
    truth(): TruthReport {
      if (!done) throw new Error('generateTraffic: truth() is available once the deliveries are exhausted');
      if (!report) {
        const tables = acc.finish();
        report = {
          format: 'viewpulse-truth/1',
          options: o,
          time,
          counts: { ...counts },
          catalog: { creators: catalog.creators.length, videos: catalog.videos.length },
          clusters: {
            names: catalog.clusterNames,
            videos: Object.fromEntries(catalog.videos.map((v) => [v.video.video_id, v.cluster])),
          },
          ...tables,
        };
      }
      return report;
    },
    *viewerClusters() {
      for (let i = 0; i < seen.length; i++) {
        if (seen[i])
          yield [viewerId(catalog.tag, i), viewerProfile(o.seed, catalog.tag, i, o.clusters, o.clients).cluster];
      }
    },
  };
}
