// The API against its own OpenAPI document, property-based: for every GET route under /v1 the
// document lists, requests drawn only from what the document states (enums, patterns, bounds,
// defaults, required or not, and the rules its parameter descriptions state) must never be
// refused with a 400 (a 404 is fine: the fake ClickHouse knows one creator and one video, and
// answers nothing else), nor 401/403 (an admin token), nor 5xx. And the reverse: a value that
// breaks a stated constraint is a 400 problem+json. New routes are covered as the document lists
// them.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { signToken } from '../../api/auth.js';
import { zonedInstant } from '../../api/queries/range.js';
import type { ClickHouseClient } from '../../lib/clickhouse/client.js';
import { qs } from '../url.js';

const SECRET = 'unit-test-jwt-secret-0123456789';
const NOW = Date.UTC(2026, 10, 20, 10, 17, 42);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const PER_ROUTE = 200;

// ---------------------------------------------------------------------------- a fake ClickHouse

/** Knows that every creator and video exists (so the handlers run past access), and has no data. */
class EmptyClickHouse {
  query({ query }: { query: string }): Promise<{ json: () => Promise<unknown[]> }> {
    let rows: unknown[] = [];
    if (/SELECT count\(\) AS n FROM .*videos/s.test(query)) rows = [{ n: '1' }];
    else if (/SELECT video_id, creator_id, title, duration_ms/s.test(query)) {
      const id = /video_id = '([^']*)'/.exec(query)?.[1] ?? 'v1';
      rows = [{ video_id: id, creator_id: 'c1', title: 't', duration_ms: 60_000, published: 1_700_000_000 }];
    }
    return Promise.resolve({ json: async () => rows });
  }
  command(): Promise<void> {
    return Promise.resolve();
  }
  async ping(): Promise<{ success: boolean }> {
    return { success: true };
  }
}

// ---------------------------------------------------------------------------- randomness

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
type Rng = () => number;
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;

// ---------------------------------------------------------------------------- strings from a pattern

type Node =
  { t: 'chars'; set: string[] } | { t: 'alt'; alts: Node[][] } | { t: 'rep'; node: Node; min: number; max: number };

/** A small parser for the regular expressions the document uses: classes, groups, |, ? * + {n,m}. */
function parsePattern(src: string): Node[] {
  let i = 0;
  const body = src.replace(/^\^/, '').replace(/\$$/, '');
  const s = body;
  const esc = (c: string): string[] => {
    if (c === 'd') return [...'0123456789'];
    return [c];
  };
  const parseClass = (): string[] => {
    i++; // [
    const out: string[] = [];
    while (s[i] !== ']') {
      let c = s[i++]!;
      if (c === '\\') c = s[i++]!;
      if (s[i] === '-' && s[i + 1] !== ']') {
        i++;
        let d = s[i++]!;
        if (d === '\\') d = s[i++]!;
        for (let k = c.charCodeAt(0); k <= d.charCodeAt(0); k++) out.push(String.fromCharCode(k));
      } else out.push(c);
    }
    i++; // ]
    return out;
  };
  const parseSeq = (): Node[][] => {
    const alts: Node[][] = [[]];
    while (i < s.length && s[i] !== ')') {
      const c = s[i]!;
      if (c === '|') {
        i++;
        alts.push([]);
        continue;
      }
      let node: Node;
      if (c === '[') node = { t: 'chars', set: parseClass() };
      else if (c === '(') {
        i++;
        if (s.startsWith('?:', i)) i += 2;
        node = { t: 'alt', alts: parseSeq() };
        i++; // )
      } else if (c === '\\') {
        node = { t: 'chars', set: esc(s[i + 1]!) };
        i += 2;
      } else {
        if (c === '.' || c === '^' || c === '$') throw new Error(`pattern generator: unsupported ${c} in ${src}`);
        node = { t: 'chars', set: [c] };
        i++;
      }
      const q = s[i];
      if (q === '?' || q === '*' || q === '+') {
        i++;
        node = { t: 'rep', node, min: q === '+' ? 1 : 0, max: q === '?' ? 1 : 40 };
      } else if (q === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(i))!;
        i += m[0].length;
        const min = Number(m[1]);
        node = { t: 'rep', node, min, max: m[2] ? (m[3] ? Number(m[3]) : min + 40) : min };
      }
      alts[alts.length - 1]!.push(node);
    }
    return alts;
  };
  return [{ t: 'alt', alts: parseSeq() }];
}

function generate(nodes: Node[], rng: Rng): string {
  let out = '';
  for (const n of nodes) {
    if (n.t === 'chars') out += pick(rng, n.set);
    else if (n.t === 'alt') out += generate(pick(rng, n.alts), rng);
    else {
      // short repetitions are likelier: the maximum is often large
      const max = rng() < 0.8 ? Math.min(n.max, n.min + 12) : n.max;
      const k = int(rng, n.min, max);
      for (let j = 0; j < k; j++) out += generate([n.node], rng);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------- the document

interface ParamSchema {
  type?: string;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  default?: unknown;
  format?: string;
}
interface Param {
  in: string;
  name: string;
  required?: boolean;
  description?: string;
  schema: ParamSchema;
}
interface Route {
  path: string;
  params: Param[];
}

/** A value of one parameter drawn only from its schema. */
function fromSchema(s: ParamSchema, rng: Rng, what: string): unknown {
  if (s.enum) return pick(rng, s.enum);
  if (s.type === 'boolean') return rng() < 0.5;
  if (s.type === 'integer' || s.type === 'number') {
    const lo = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : -1e6);
    const hi = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1 : 1e6);
    const r = rng();
    if (s.type === 'integer')
      return r < 0.15 ? Math.ceil(lo) : r < 0.3 ? Math.floor(hi) : int(rng, Math.ceil(lo), Math.floor(hi));
    return r < 0.15 ? lo : r < 0.3 ? hi : Number((lo + rng() * (hi - lo)).toFixed(3));
  }
  if (s.type === 'string') {
    if (s.format === 'date-time') return new Date(NOW - int(rng, 0, 400) * DAY).toISOString();
    if (!s.pattern) throw new Error(`${what}: a string without pattern, enum or format; the generator needs one`);
    const nodes = parsePattern(s.pattern);
    const re = new RegExp(s.pattern);
    for (let k = 0; k < 100; k++) {
      const x = generate(nodes, rng);
      if (x.length >= (s.minLength ?? 0) && x.length <= (s.maxLength ?? Infinity) && re.test(x)) return x;
    }
    throw new Error(`${what}: could not generate a string of ${s.pattern}`);
  }
  throw new Error(`${what}: no generator for ${JSON.stringify(s)}`);
}

// ---------------------------------------------------------------------------- rules stated in descriptions

/** The instant of an ISO 8601 date or date-time (a bare date: local midnight in tz). */
function instantOf(text: string, tz: string): number {
  const d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (d) return zonedInstant(tz, Number(d[1]), Number(d[2]), Number(d[3]));
  return Date.parse(text.replace(/(\.\d{3})\d+/, '$1'));
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** An instant in one of the date-time forms the document allows, chosen at random. */
function render(t: number, rng: Rng): string {
  const offsetMin = rng() < 0.4 ? 0 : pick(rng, [-12, -9.5, -5, -4, -1, 1, 2, 5.5, 5.75, 9, 13, 14]) * 60;
  const local = new Date(t + offsetMin * MINUTE);
  const date = `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}`;
  let time = `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}`;
  const r = rng();
  if (r < 0.6) time += `:${pad(local.getUTCSeconds())}`;
  if (r < 0.3) time += `.${pad(local.getUTCMilliseconds(), 3)}${rng() < 0.5 ? '123456' : ''}`;
  const a = Math.abs(offsetMin);
  const zone =
    offsetMin === 0 && rng() < 0.7 ? 'Z' : `${offsetMin < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
  return `${date}T${time}${zone}`;
}

interface Rules {
  /** the instants from and to may take: [lo, hi] */
  window?: [number, number];
  /** to − from at most this many days */
  maxDays?: number;
  /** the default of from: this many days before to */
  defaultDays?: number;
  /** most buckets of a series, by metric (the key '' for any) */
  maxBuckets?: Record<string, number>;
  /** interval values a metric may take */
  metricIntervals?: Record<string, string[]>;
  tzIana: boolean;
  /** parameters whose values only come from the API's own answers */
  opaque: Set<string>;
}

/** The rules a route's parameter descriptions state, read from the document text. */
function rulesOf(route: Route): Rules {
  const desc = (name: string): string => route.params.find((p) => p.name === name)?.description ?? '';
  const rules: Rules = { tzIana: /IANA/.test(desc('tz')), opaque: new Set() };
  const w = /between (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z) and (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z)/.exec(desc('from'));
  if (w) rules.window = [Date.parse(w[1]!), Date.parse(w[2]!)];
  const span = /at least a minute after from and at most (\d+) days later/.exec(desc('to'));
  if (span) rules.maxDays = Number(span[1]);
  const def = /Default: (\d+) days before to/.exec(desc('from'));
  if (def) rules.defaultDays = Number(def[1]);
  const interval = desc('interval');
  const buckets = /at most ([\d,]+) buckets/i.exec(interval);
  if (buckets) {
    rules.maxBuckets = { '': Number(buckets[1]!.replaceAll(',', '')) };
    for (const m of interval.matchAll(/([\d,]+) for metric=(\w+)/g))
      rules.maxBuckets[m[2]!] = Number(m[1]!.replaceAll(',', ''));
  }
  for (const m of interval.matchAll(/metric=(\w+) takes only interval=([\w|]+)/g))
    (rules.metricIntervals ??= {})[m[1]!] = m[2]!.split('|');
  for (const p of route.params)
    if (/only a value this API answered/.test(p.description ?? '')) rules.opaque.add(p.name);
  return rules;
}

const IANA = [...Intl.supportedValuesOf('timeZone'), 'UTC'];
const INTERVAL_MS: Record<string, number> = { minute: MINUTE, hour: HOUR, day: 23 * HOUR };

/**
 * Makes `q` obey the rules the descriptions state (the schema alone says nothing across
 * parameters): pick different values, the way a client that read the description would.
 */
function obey(route: Route, rules: Rules, q: Record<string, unknown>, rng: Rng): void {
  const has = (n: string): boolean => route.params.some((p) => p.name === n);
  for (const n of rules.opaque) delete q[n];
  if (rules.tzIana && typeof q.tz === 'string') {
    const tzSchema = route.params.find((p) => p.name === 'tz')!.schema;
    const re = new RegExp(tzSchema.pattern ?? '');
    q.tz = pick(
      rng,
      IANA.filter((z) => re.test(z) && z.length <= (tzSchema.maxLength ?? 64)),
    );
  }
  const metric = String(q.metric ?? route.params.find((p) => p.name === 'metric')?.schema.default ?? '');
  const allowed = rules.metricIntervals?.[metric];
  if (allowed && typeof q.interval === 'string' && !allowed.includes(q.interval)) q.interval = pick(rng, allowed);
  if (!has('from') || !has('to')) return;
  const tz = typeof q.tz === 'string' ? q.tz : 'UTC';
  const interval = String(q.interval ?? route.params.find((p) => p.name === 'interval')?.schema.default ?? '');
  const maxBuckets = rules.maxBuckets?.[metric] ?? rules.maxBuckets?.[''];
  let maxSpan = (rules.maxDays ?? Infinity) * DAY - MINUTE;
  if (maxBuckets !== undefined && interval) maxSpan = Math.min(maxSpan, (maxBuckets - 2) * INTERVAL_MS[interval]!);
  const [lo, hi] = rules.window ?? [-Infinity, Infinity];
  const defaultSpan = (rules.defaultDays ?? 0) * DAY;
  if (rules.window === undefined && rules.maxDays === undefined && maxBuckets === undefined) return;
  const ok = (): boolean => {
    const to = q.to === undefined ? Math.floor(NOW / MINUTE) * MINUTE + MINUTE : instantOf(String(q.to), tz);
    const from = q.from === undefined ? to - defaultSpan : instantOf(String(q.from), tz);
    if (q.from !== undefined && !(from >= lo && from <= hi)) return false;
    if (q.to !== undefined && !(to >= lo && to <= hi)) return false;
    const span = Math.floor(to / MINUTE) * MINUTE - Math.floor(from / MINUTE) * MINUTE;
    if (Number.isNaN(span)) return false; // not a date the description allows
    return span >= MINUTE && span <= maxSpan;
  };
  for (let k = 0; k < 50 && !ok(); k++) {
    const span = Math.max(MINUTE, Math.floor(rng() * rng() * maxSpan));
    if (q.from !== undefined && k < 25) {
      const from = instantOf(String(q.from), tz);
      if (from >= lo && from + span <= hi) q.to = render(from + span, rng);
      else q.from = render(lo + rng() * (NOW - lo), rng);
    } else if (q.to !== undefined) {
      q.to = render(NOW - int(rng, 0, 1000) * DAY * rng(), rng);
      q.from = render(instantOf(String(q.to), tz) - span, rng);
    } else q.from = render(NOW - span, rng);
  }
  if (!ok()) {
    delete q.from;
    delete q.to;
  }
}

// ---------------------------------------------------------------------------- the run

let app: FastifyInstance;
let routes: Route[];
let auth: { authorization: string };

beforeAll(async () => {
  app = buildApp({
    clickhouse: new EmptyClickHouse() as unknown as ClickHouseClient,
    database: 'viewpulse_unit',
    jwtSecret: SECRET,
    now: () => NOW,
    rateLimit: false,
  });
  auth = {
    authorization: `Bearer ${await signToken({ secret: SECRET, sub: 'root', role: 'admin', ttlSeconds: 3600, now: NOW })}`,
  };
  const doc = JSON.parse((await app.inject({ url: '/docs/json' })).body) as {
    paths: Record<string, { get?: { parameters?: Param[] } }>;
  };
  routes = Object.entries(doc.paths)
    .filter(([path, item]) => path.startsWith('/v1/') && item.get)
    .map(([path, item]) => ({ path, params: item.get!.parameters ?? [] }));
});
afterAll(async () => {
  await app.close();
});

function requestOf(route: Route, rng: Rng): { url: string; query: Record<string, unknown> } {
  let path = route.path;
  const query: Record<string, unknown> = {};
  for (const p of route.params) {
    const what = `${route.path} ${p.name}`;
    if (p.in === 'path')
      path = path.replace(`{${p.name}}`, encodeURIComponent(String(fromSchema(p.schema, rng, what))));
    else if (p.in === 'query' && (p.required || rng() < 0.6)) query[p.name] = fromSchema(p.schema, rng, what);
  }
  obey(route, rulesOf(route), query, rng);
  const q = qs(query as Record<string, string>);
  return { url: q ? `${path}?${q}` : path, query };
}

describe('the API against its OpenAPI document', () => {
  it('lists the insights routes', () => {
    expect(routes.length).toBeGreaterThanOrEqual(13);
  });

  it(`answers no request drawn from the document with a 400, 401, 403 or 5xx (${PER_ROUTE} per route)`, async () => {
    const failures: Record<string, { count: number; params: Record<string, number>; examples: string[] }> = {};
    for (const [r, route] of routes.entries()) {
      const rng = mulberry32(1000 + r);
      for (let n = 0; n < PER_ROUTE; n++) {
        const { url, query } = requestOf(route, rng);
        const res = await app.inject({ url, headers: auth });
        if (res.statusCode === 200 || res.statusCode === 404) continue;
        const f = (failures[route.path] ??= { count: 0, params: {}, examples: [] });
        f.count++;
        for (const k of Object.keys(query)) f.params[k] = (f.params[k] ?? 0) + 1;
        if (f.examples.length < 4) f.examples.push(`${res.statusCode} ${url} → ${res.body.slice(0, 240)}`);
      }
    }
    const report = Object.entries(failures).map(
      ([path, f]) =>
        `${path}: ${f.count}/${PER_ROUTE} refused; parameters present: ${JSON.stringify(f.params)}\n    ${f.examples.join('\n    ')}`,
    );
    if (report.length) console.log(report.join('\n'));
    expect(report).toEqual([]);
  }, 120_000);

  it('answers a value that breaks a stated constraint with a 400 problem+json', async () => {
    let checked = 0;
    for (const route of routes) {
      const base = route.path.replace('{id}', 'c1');
      for (const p of route.params.filter((x) => x.in === 'query')) {
        const s = p.schema;
        const bad: string[] = [];
        if (s.enum) bad.push(`not-${String(s.enum[0])}`);
        if (s.pattern) bad.push('~!'); // matches none of the patterns
        if (s.maxLength !== undefined && s.pattern) bad.push('2'.repeat(s.maxLength + 1));
        if (s.maximum !== undefined) bad.push(String(s.maximum + 1));
        if (s.minimum !== undefined) bad.push(String(s.minimum - 1));
        if (s.type === 'integer') bad.push('1.5');
        for (const value of bad) {
          const required = Object.fromEntries(
            route.params
              .filter((x) => x.in === 'query' && x.required && x.name !== p.name)
              .map((x) => [x.name, String(x.schema.enum?.[0])]),
          );
          const url = `${base}?${qs({ ...required, [p.name]: value })}`;
          const res = await app.inject({ url, headers: auth });
          expect(res.statusCode, `${url} → ${res.body}`).toBe(400);
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
          const body = JSON.parse(res.body) as { code: string; detail: string };
          expect(body.code).toBe('VP_ERR_HTTP_BAD_REQUEST');
          expect(body.detail, url).toContain(p.name);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
  });
});
