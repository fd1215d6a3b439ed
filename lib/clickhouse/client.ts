// The ClickHouse client, built in one place. Queries are built with lib/clickhouse/sql.ts.
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../config.js';
import type { SqlFragment } from './sql.js';

export type { ClickHouseClient };

export function createClickHouse(config: Config['clickhouse'], database?: string): ClickHouseClient {
  return createClient({
    url: config.url,
    username: config.user,
    password: config.password,
    database: database ?? config.database,
    request_timeout: 60_000,
    // A busy processor's event loop can stall past the idle-socket timer (2.5 s, under the
    // server's 3 s keep-alive): drop such sockets before reuse instead of risking a reset.
    keep_alive: { eagerly_destroy_stale_sockets: true },
    // 18.16 knows nothing of newer settings; send none that it would reject.
    clickhouse_settings: {},
  });
}

/** Runs a SELECT built with the `sql` tag and returns its rows as objects. */
export async function queryRows<T>(ch: ClickHouseClient, q: SqlFragment): Promise<T[]> {
  const rs = await ch.query({ query: q.text, format: 'JSONEachRow' });
  return rs.json<T>();
}

/** Runs a statement (DDL, ALTER ...) built with the `sql` tag. */
export async function exec(ch: ClickHouseClient, q: SqlFragment): Promise<void> {
  await ch.command({ query: q.text });
}
