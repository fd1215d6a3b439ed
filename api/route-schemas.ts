// JSON Schemas shared by the insights routes: path ids, range and format parameters, the
// problem document, and building blocks of responses. fastify validates every request against
// them (unknown query parameters are refused) and @fastify/swagger publishes them at /docs.
import { ID_PATTERN } from './auth.js';
import { INTERVALS, parseInstant } from './queries/range.js';

type Schema = Record<string, unknown>;

export const MAX_RANGE_DAYS = 400;
export const DEFAULT_RANGE_DAYS = 28;

export function idParams(what: 'creator' | 'video'): Schema {
  return {
    type: 'object',
    required: ['id'],
    additionalProperties: false,
    properties: {
      id: {
        type: 'string',
        minLength: 1,
        maxLength: 128,
        pattern: ID_PATTERN,
        description: `the ${what} id (letters, digits and . _ : @ -, at most 128 characters)`,
      },
    },
  };
}

// A real calendar day of 2000..2099 (29 February in leap years only), 1999-12-31 or 2100-01-01
// (which an offset can bring into the bounds); a real time of day; an offset of at most ±23:59.
// The instant must also lie in [2000-01-01, 2100-01-01] UTC (after the offset, or tz for a bare
// date), which a pattern cannot say: the description does.
const YEAR = '20[0-9]{2}';
const DAY_OF_YEAR =
  `(${YEAR}-(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])` +
  `|${YEAR}-(0[469]|11)-(0[1-9]|[12][0-9]|30)` +
  `|${YEAR}-02-(0[1-9]|1[0-9]|2[0-8])` +
  '|20([02468][048]|[13579][26])-02-29' +
  '|1999-12-31|2100-01-01)';
const TIME_OF_DAY = '([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,9})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])';
const INSTANT_PATTERN = `^${DAY_OF_YEAR}(T${TIME_OF_DAY})?$`;

const TZ_PATTERN = '^[A-Za-z0-9_+\\-/]+$';

/** Most buckets of a series, and the interval description that says so. */
export function intervalParam(o: {
  intervals?: readonly string[];
  default: string;
  maxPoints: number;
  /** more rules of this route's interval, a sentence */
  more?: string;
}): Schema {
  const intervals = o.intervals ?? INTERVALS;
  return {
    type: 'string',
    enum: [...intervals],
    default: o.default,
    description:
      `bucket size of the series: ${intervals.join(', ')} (local to tz); default ${o.default}. At most ` +
      `${o.maxPoints} buckets: the range may span at most ${o.maxPoints} of them (a longer one is a 400 ` +
      `"too many points"; day buckets may be 23 hours long across a DST change).${o.more ? ` ${o.more}` : ''}`,
  };
}

/** Query parameters, one definition each. */
export const QUERY = {
  from: {
    type: 'string',
    maxLength: 40,
    pattern: INSTANT_PATTERN,
    description:
      'start of the range, inclusive: an ISO 8601 date-time with offset (2026-11-20T10:00:00Z, ' +
      '2026-11-20T12:00:00%2B02:00 with the "+" encoded) or a date ' +
      '(local midnight in tz). The instant must lie between 2000-01-01T00:00Z and 2100-01-01T00:00Z. ' +
      `Rounded down to the minute. Default: ${DEFAULT_RANGE_DAYS} days before to.`,
  },
  to: {
    type: 'string',
    maxLength: 40,
    pattern: INSTANT_PATTERN,
    description:
      'end of the range, exclusive, in the same forms and bounds as from; rounded down to the minute. After ' +
      `rounding it must be at least a minute after from and at most ${MAX_RANGE_DAYS} days later (a 400 ` +
      'otherwise). Default: now (the current minute included).',
  },
  tz: {
    type: 'string',
    minLength: 1,
    maxLength: 64,
    pattern: TZ_PATTERN,
    default: 'UTC',
    description:
      'IANA time zone for day and hour boundaries and bare dates (Europe/Berlin); default UTC. Only names of ' +
      "the IANA time zone database are accepted (as the server's ICU knows them, aliases such as " +
      'US/Eastern included); any other is a 400 "unknown time zone". ' +
      'Encode a "+" as %2B (tz=Etc/GMT%2B4): unencoded, a "+" in a query string is a space, and a tz ' +
      'with a space is refused with a 400 that says so.',
  },
  interval: {
    type: 'string',
    enum: [...INTERVALS],
    description: 'bucket size of the series: minute, hour or day (local to tz)',
  },
  format: {
    type: 'string',
    enum: ['json', 'csv'],
    description: 'json (default) or csv; `Accept: text/csv` does the same as csv',
  },
} as const;

/** The parameters whose values may hold a "+": a zone (Etc/GMT+4), an offset (+02:00). */
const PLUS_PARAMS: Record<string, RegExp> = {
  tz: new RegExp(TZ_PATTERN),
  from: new RegExp(INSTANT_PATTERN),
  to: new RegExp(INSTANT_PATTERN),
};

/**
 * The 400 detail for a `tz`, `from` or `to` that holds a space, which none of them may: an
 * unencoded "+" (Etc/GMT+4, +02:00) arrives as one, because a query string decodes "+" to a
 * space. And for a `from` or `to` that its pattern refuses, what is wrong with it (no such date,
 * no such time of day, out of bounds), said better than "must match pattern". Undefined when
 * no value of `query` needs either. buildApp asks before the schema validates.
 */
export function plusAsSpaceDetail(query: unknown): string | undefined {
  if (!query || typeof query !== 'object') return undefined;
  for (const [name, pattern] of Object.entries(PLUS_PARAMS)) {
    const value = (query as Record<string, unknown>)[name];
    if (typeof value !== 'string' || !value.includes(' ')) continue;
    const meant = value.replaceAll(' ', '+');
    const example = meant.length <= 64 && pattern.test(meant) ? ` (${name}=${meant.replaceAll('+', '%2B')})` : '';
    return (
      `querystring/${name} ${JSON.stringify(value.slice(0, 64))} contains a space, which it may not: ` +
      `a "+" in a query string means a space, so encode "+" as %2B${example}`
    );
  }
  for (const name of ['from', 'to'] as const) {
    const value = (query as Record<string, unknown>)[name];
    if (typeof value !== 'string' || PLUS_PARAMS[name]!.test(value)) continue;
    try {
      parseInstant(value, 'UTC');
    } catch (err) {
      return `${name}: ${(err as Error).message}`;
    }
    return `${name}: expected an ISO 8601 date or date-time with an offset between 2000-01-01 and 2100-01-01`;
  }
  return undefined;
}

export function limitParam(def: number, max: number, what = 'rows'): Schema {
  return { type: 'integer', minimum: 1, maximum: max, default: def, description: `most ${what} (1..${max})` };
}

/** A querystring schema that refuses unknown parameters. */
export function querystring(properties: Record<string, Schema>, required: string[] = []): Schema {
  return { type: 'object', additionalProperties: false, properties, ...(required.length ? { required } : {}) };
}

export const problemSchema: Schema = {
  type: 'object',
  description: 'RFC 9457 problem details (application/problem+json)',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', description: 'stable VP_ERR_* code (lib/errors.ts)' },
    reason: {
      type: 'string',
      description: '401: missing_token, malformed_header, invalid_token, token_expired, invalid_claims',
    },
    request_id: { type: 'string' },
    retry_after_seconds: { type: 'integer' },
  },
};

const problemResponse = (description: string): Schema => ({
  description,
  content: { 'application/problem+json': { schema: problemSchema } },
});

/** Responses of a /v1 route: the 200 (JSON, and CSV when `csv`), and the problems it can answer. */
export function responses(ok: Schema, opts: { csv?: boolean; description?: string } = {}): Schema {
  const content: Record<string, Schema> = { 'application/json': { schema: ok } };
  if (opts.csv)
    content['text/csv'] = { schema: { type: 'string', description: 'the same table as CSV (header row first)' } };
  return {
    200: { description: opts.description ?? 'OK', content },
    304: { description: 'not modified (If-None-Match matched the ETag of a final range)', type: 'null' },
    400: problemResponse('invalid parameter (problem+json, code VP_ERR_HTTP_BAD_REQUEST)'),
    401: problemResponse('missing, malformed, badly signed or expired token'),
    404: problemResponse('no such creator or video, or not yours (the same answer)'),
    429: problemResponse('rate limited; see Retry-After'),
    503: problemResponse('ClickHouse unavailable'),
  };
}

export const nullableNumber = { type: ['number', 'null'] } as const;
export const nullableString = { type: ['string', 'null'] } as const;

export const rangeSchema: Schema = {
  type: 'object',
  description: 'the range answered, [from, to), after rounding',
  required: ['from', 'to', 'tz'],
  properties: {
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    tz: { type: 'string' },
  },
};

export const countsProperties = {
  plays: { type: 'integer', description: 'play_start events (exact)' },
  views: { type: 'integer', description: 'counted views (exact)' },
  watch_time_ms: { type: 'integer', description: 'watch time in ms (exact)' },
} as const;

export const videoSchema: Schema = {
  type: 'object',
  required: ['video_id', 'creator_id', 'title', 'duration_ms'],
  properties: {
    video_id: { type: 'string' },
    creator_id: { type: 'string' },
    title: { type: 'string' },
    duration_ms: { type: 'integer' },
    published_at: { type: 'string', format: 'date-time' },
  },
};

export function objectSchema(properties: Record<string, unknown>, description?: string): Schema {
  return {
    type: 'object',
    required: Object.keys(properties),
    properties,
    ...(description ? { description } : {}),
  };
}

export function arrayOf(items: Schema, description?: string): Schema {
  return { type: 'array', items, ...(description ? { description } : {}) };
}

export const finalizedThroughSchema = {
  type: ['string', 'null'],
  description:
    'counts are final up to here: the lowest view-counts watermark over its partitions minus the window grace ' +
    '(ISO 8601), null before the processor reported one',
} as const;

export interface InsightsRouteDoc {
  /** 'creators' for /v1/creators/:id/..., 'videos' for /v1/videos/:id/... */
  tag: 'creators' | 'videos';
  summary: string;
  /** sentences of the OpenAPI description, joined with spaces */
  description: readonly string[];
  /** the route's own query parameters; they come before from/to/tz and format */
  query?: Record<string, Schema>;
  required?: string[];
  /** from, to and tz (default true) */
  range?: boolean;
  /** format=csv and `Accept: text/csv` (default true) */
  csv?: boolean;
  ok: Schema;
}

/**
 * The schema of an insights GET route: bearer auth, the creator or video id in the path, the
 * query string (nothing else accepted) and the answers (OK, CSV, problems).
 */
export function insightsSchema(d: InsightsRouteDoc): Schema {
  const range = d.range ?? true;
  const csv = d.csv ?? true;
  return {
    tags: [d.tag],
    summary: d.summary,
    description: d.description.join(' '),
    security: [{ bearerAuth: [] }],
    params: idParams(d.tag === 'creators' ? 'creator' : 'video'),
    querystring: querystring(
      {
        ...d.query,
        ...(range ? { from: QUERY.from, to: QUERY.to, tz: QUERY.tz } : {}),
        ...(csv ? { format: QUERY.format } : {}),
      },
      d.required,
    ),
    response: responses(d.ok, { csv }),
  };
}
