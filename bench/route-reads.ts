// npm run bench:route-reads -- [--database bench_api] [--days 28] [--only a,b] [--queries]
//
// What each insights route makes ClickHouse read: one URL per route (the most viewed creator
// and video of a database that `npm run bench:api -- --reuse` prepared, a range of --days up to
// its last minute), sent three times through buildApp() with the response cache off. Prints per
// route the API's times, the queries per request and, from system.query_log, ClickHouse's own
// time and the rows and bytes it read per request. A route whose rows read grow with the data
// behind it, not with the rows it returns, shows here first. Needs `viewpulse services up`.
import { parseArgs } from 'node:util';
import type { ClickHouseSettings } from '@clickhouse/client';
import { buildApp } from '../api/app.js';
import { signToken } from '../api/auth.js';
import { createClickHouse, exec, queryRows } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { loadConfig } from '../lib/config.js';
import { TABLES } from '../schemas/tables.js';
import { DAY, HOUR } from '../lib/time.js';

const { values: args } = parseArgs({
  options: {
    database: { type: 'string', default: 'bench_api' },
    days: { type: 'string', default: '28' },
    only: { type: 'string' },
    queries: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(
    'npm run bench:route-reads -- [--database bench_api] [--days 28] [--only overview,retention] [--queries]',
  );
  process.exit(0);
}
const db = args.database!;
const days = Number(args.days);
const ch = createClickHouse(loadConfig().clickhouse, db);
const t = (k: keyof typeof TABLES) => v.table(db, TABLES[k]);

const top = async (dim: 'video' | 'creator'): Promise<string> => {
  const [r] = await queryRows<{ id: string }>(
    ch,
    sql`SELECT id FROM ${t('counts')} FINAL WHERE dim = ${v.string(dim)} AND grain = 'day'
        GROUP BY id ORDER BY sum(views) DESC, id LIMIT 1`,
  );
  return r!.id;
};
const creator = await top('creator');
const video = await top('video');
const [owner] = await queryRows<{ c: string }>(
  ch,
  sql`SELECT argMax(creator_id, version) AS c FROM ${t('videos')} WHERE video_id = ${v.string(video)}`,
);
const [last] = await queryRows<{ t: number }>(
  ch,
  sql`SELECT toUInt32(max(window_start)) AS t FROM ${t('counts')} WHERE grain = 'minute'`,
);
const to = Math.ceil((Number(last!.t) * 1000 + 60_000) / HOUR) * HOUR;
const q = `from=${new Date(to - days * DAY).toISOString()}&to=${new Date(to).toISOString()}&tz=UTC`;
const interval = days > 2 ? 'day' : 'hour';

const ROUTES: Array<[name: string, sub: string, url: string]> = [
  ['overview', creator, `/v1/creators/${creator}/overview?${q}`],
  ['timeseries', creator, `/v1/creators/${creator}/timeseries?metric=views&interval=${interval}&${q}`],
  ['realtime', creator, `/v1/creators/${creator}/realtime`],
  ['videos', creator, `/v1/creators/${creator}/videos?sort=views&limit=20&${q}`],
  ['audience', creator, `/v1/creators/${creator}/audience?${q}`],
  ['health', creator, `/v1/creators/${creator}/health?${q}`],
  ['creator_qoe', creator, `/v1/creators/${creator}/qoe?interval=${interval}&${q}`],
  ['also_watched', creator, `/v1/creators/${creator}/audience/also-watched?limit=10`],
  ['video_stats', owner!.c, `/v1/videos/${video}/stats?interval=${interval}&${q}`],
  ['retention', owner!.c, `/v1/videos/${video}/retention?${q}`],
  ['breakdown', owner!.c, `/v1/videos/${video}/breakdown?dimension=country&${q}`],
  ['traffic', owner!.c, `/v1/videos/${video}/traffic?${q}`],
  ['video_qoe', owner!.c, `/v1/videos/${video}/qoe?interval=${interval}&${q}`],
  ['recommendations', owner!.c, `/v1/videos/${video}/recommendations?limit=10`],
];

// Every query of the app is logged (the server does not log by default).
const query = ch.query.bind(ch);
(ch as { query: typeof query }).query = ((p: Parameters<typeof query>[0]) =>
  query({
    ...p,
    clickhouse_settings: { ...p.clickhouse_settings, log_queries: 1 } as ClickHouseSettings,
  })) as typeof query;

const secret = 'route-reads-'.repeat(4);
const app = buildApp({ clickhouse: ch, database: db, jwtSecret: secret, rateLimit: false, cache: false });
await app.ready();
const SENDS = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
console.log(`${db}: creator ${creator}, video ${video}, ${days} days to ${new Date(to).toISOString()}`);
for (const [name, sub, url] of ROUTES) {
  if (args.only && !args.only.split(',').includes(name)) continue;
  const token = await signToken({ secret, sub, role: 'creator', ttlSeconds: 3600 });
  await exec(ch, sql`SYSTEM FLUSH LOGS`);
  const [since] = await queryRows<{ t: string }>(ch, sql`SELECT toString(now()) AS t`);
  await sleep(1100); // query_log has whole seconds
  const times: number[] = [];
  for (let i = 0; i < SENDS; i++) {
    const start = performance.now();
    const res = await app.inject({ url, headers: { authorization: `Bearer ${token}` } });
    times.push(performance.now() - start);
    if (res.statusCode !== 200) console.log(`${name}: HTTP ${res.statusCode} ${res.body.slice(0, 200)}`);
  }
  await sleep(1100);
  await exec(ch, sql`SYSTEM FLUSH LOGS`);
  const log = await queryRows<{ d: string; r: string; b: string; q: string }>(
    ch,
    sql`SELECT query_duration_ms AS d, read_rows AS r, read_bytes AS b, substring(query, 1, 100) AS q
        FROM system.query_log
        WHERE type = 2 AND event_time > toDateTime(${v.string(since!.t)}) AND query NOT LIKE '%system.query_log%'
          AND query NOT LIKE 'SYSTEM %' AND query NOT LIKE 'SELECT toString(now())%'
        ORDER BY event_time`,
  );
  const per = (k: 'd' | 'r' | 'b') => log.reduce((a, x) => a + Number(x[k]), 0) / SENDS;
  console.log(
    `${name.padEnd(16)} api ${times.map((x) => x.toFixed(0)).join('/')} ms · ${(log.length / SENDS).toFixed(1)} queries · ` +
      `ClickHouse ${per('d').toFixed(0)} ms, ${per('r').toFixed(0)} rows, ${(per('b') / 2 ** 20).toFixed(2)} MiB read per request`,
  );
  if (args.queries)
    for (const x of log.slice(0, log.length / SENDS))
      console.log(`    ${x.d} ms  ${x.r} rows  ${x.q.replace(/\s+/g, ' ')}`);
}
await app.close();
await ch.close();
