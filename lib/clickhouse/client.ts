// The ClickHouse client, built in one place. Queries are built with lib/clickhouse/sql.ts.
// Several URLs (VIEWPULSE_CLICKHOUSE_URLS, replicas of the same tables) make one client that
// fails over between them (failover.ts); one URL is a plain client, as it always was.
import { ClickHouseLogLevel, createClient, type ClickHouseClient as NodeClient } from '@clickhouse/client';
import type { Config } from '../config.js';
import { createLogger } from '../logger.js';
import { FailoverClickHouse } from './failover.js';
import type { SqlFragment } from './sql.js';

/** What the code base uses of @clickhouse/client's client: a failover client offers the same. */
export type ClickHouseClient = Pick<NodeClient, 'query' | 'command' | 'exec' | 'insert' | 'ping' | 'close'>;

function createOne(config: Config['clickhouse'], url: string, database: string | undefined): NodeClient {
  return createClient({
    url,
    username: config.user,
    password: config.password,
    database: database ?? config.database,
    request_timeout: 60_000,
    // Every failure reaches the caller, which logs it in its own structured way (or retries
    // quietly, like the processors' generation poll): the client's own multi-line console
    // errors would only repeat it, once a second during an outage.
    log: { level: ClickHouseLogLevel.OFF },
    // A busy processor's event loop can stall past the idle-socket timer (2.5 s, under the
    // server's 3 s keep-alive): drop such sockets before reuse instead of risking a reset.
    keep_alive: { eagerly_destroy_stale_sockets: true },
    // 18.16 knows nothing of newer settings; send none that it would reject. With a cluster,
    // replicated tables must not drop an insert whose block equals a recent one: the pipeline
    // is exact by its own keys and versions, and two equal blocks can both be meant
    // (docs/sql.md, "Replicated tables"). insert_deduplicate is known to 18.16 and 26.x alike.
    clickhouse_settings: config.cluster ? { insert_deduplicate: 0 } : {},
  });
}

export function createClickHouse(config: Config['clickhouse'], database?: string): ClickHouseClient {
  // One server: `url` (callers point it elsewhere — a capture server, the SQL recording proxy —
  // by overriding `url` alone, so it must win over the one-element `urls` the config holds).
  const urls = config.urls && config.urls.length > 1 ? config.urls : [config.url];
  if (urls.length === 1) return createOne(config, urls[0]!, database);
  const log = createLogger(undefined, 'clickhouse');
  return new FailoverClickHouse(
    urls.map((url) => ({ url, client: createOne(config, url, database) })),
    {
      onFailover: (from, to, err) =>
        log.warn({ from, to, err: err.message }, 'ClickHouse replica unavailable; failing over'),
    },
  );
}

/** One plain client per replica (migrations run on each; tests compare them). */
export const createReplicaClients = (config: Config['clickhouse'], database?: string): ClickHouseClient[] =>
  (config.urls?.length ? config.urls : [config.url]).map((url) => createOne(config, url, database));

/** Runs a SELECT built with the `sql` tag and returns its rows as objects (with `settings` for this query). */
export async function queryRows<T>(
  ch: ClickHouseClient,
  q: SqlFragment,
  settings?: Record<string, string | number>,
): Promise<T[]> {
  const rs = await ch.query({
    query: q.text,
    format: 'JSONEachRow',
    ...(settings ? { clickhouse_settings: settings as never } : {}),
  });
  return rs.json<T>();
}

/** Runs a statement (DDL, ALTER ...) built with the `sql` tag. */
export async function exec(ch: ClickHouseClient, q: SqlFragment): Promise<void> {
  await ch.command({ query: q.text });
}
