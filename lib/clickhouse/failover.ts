// One ClickHouse client over several replicas of the same tables (VIEWPULSE_CLICKHOUSE_URLS):
// every call goes to the current replica; when that replica does not answer (refused, reset,
// timed out) or answers that it cannot serve (no ZooKeeper, read-only), the call moves to the
// next one, which becomes current. Server errors about the query itself are thrown as they are.
//
// What is retried where:
//  - query: always on the next replica. The body is read in full before the call returns (a
//    replica killed halfway through a result must not surface as a truncated read), and handed
//    back as a ResultSet over the buffered text.
//  - command, ping, an insert of an array: on the next replica at once.
//  - an insert or exec from a stream (the batched writer's): a stream is read once, so the call
//    throws after moving to the next replica, and the caller's retry (lib/clickhouse/writer.ts
//    retries with backoff) goes there.
// Retrying an insert elsewhere can write a block twice: the first replica may have stored it
// and died before answering. That is the same duplicate a retry on one server can make, and the
// tables absorb it the same way (docs/effectively-once.md): every row is keyed and versioned
// (ReplacingMergeTree, read with FINAL) or folds into an idempotent state (uniq, min). Kafka
// offsets are committed only after some replica acknowledged, so nothing is lost either.
import { Readable } from 'node:stream';
import { ResultSet, type DataFormat } from '@clickhouse/client';
import type { ClickHouseClient } from './client.js';

/** Node's socket errors that mean the server is gone or unreachable, not that the query is wrong. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
]);

/**
 * ClickHouse error codes of a replica that cannot serve right now: 209 SOCKET_TIMEOUT,
 * 210 NETWORK_ERROR, 225 NO_ZOOKEEPER, 242 TABLE_IS_READ_ONLY (lost its ZooKeeper session),
 * 319 UNKNOWN_STATUS_OF_INSERT, 999 KEEPER_EXCEPTION.
 */
const REPLICA_CODES = new Set(['209', '210', '225', '242', '319', '999']);

/** True when `err` says the replica is unavailable (worth another replica), not that the request is bad. */
export function replicaUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || REPLICA_CODES.has(e.code))) return true;
  const serverCode = /\bCode: (\d+)\b/.exec(e.message)?.[1];
  if (serverCode !== undefined) return REPLICA_CODES.has(serverCode);
  if (/socket hang up|Timeout error|other side closed|ECONNREFUSED|ECONNRESET|EPIPE/i.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== err && replicaUnavailable(e.cause);
}

export interface Replica {
  url: string;
  client: ClickHouseClient;
}

export interface FailoverOptions {
  /** told each time calls move from one replica to another */
  onFailover?: (from: string, to: string, err: Error) => void;
}

type Client = ClickHouseClient;

export class FailoverClickHouse implements Client {
  private current = 0;

  constructor(
    private readonly replicas: readonly Replica[],
    private readonly options: FailoverOptions = {},
  ) {
    if (replicas.length === 0) throw new Error('FailoverClickHouse needs at least one replica');
  }

  /** The URL calls go to now. */
  get currentUrl(): string {
    return this.replicas[this.current]!.url;
  }

  /** Moves off replica `i` unless a concurrent call already did. */
  private moveFrom(i: number, err: Error): void {
    if (this.current !== i || this.replicas.length === 1) return;
    this.current = (i + 1) % this.replicas.length;
    this.options.onFailover?.(this.replicas[i]!.url, this.currentUrl, err);
  }

  /** Runs `op` on the current replica, then on each other in turn while they are unavailable. */
  private async attempt<T>(op: (c: Client) => Promise<T>, replayable: boolean): Promise<T> {
    const first = this.current;
    let last: unknown;
    for (let k = 0; k < this.replicas.length; k++) {
      const i = (first + k) % this.replicas.length;
      try {
        return await op(this.replicas[i]!.client);
      } catch (err) {
        if (!replicaUnavailable(err)) throw err;
        last = err;
        this.moveFrom(i, err as Error);
        if (!replayable) throw err;
      }
    }
    throw last;
  }

  query: Client['query'] = (params) =>
    this.attempt(async (c) => {
      const rs = await c.query(params);
      const text = await rs.text();
      const format = (params.format ?? 'JSON') as DataFormat;
      return new ResultSet(
        Readable.from([Buffer.from(text)], { objectMode: false }),
        format,
        rs.query_id,
        undefined,
        rs.response_headers,
      );
    }, true) as ReturnType<Client['query']>;

  command: Client['command'] = (params) => this.attempt((c) => c.command(params), true);

  exec: Client['exec'] = (params) =>
    this.attempt((c) => c.exec(params), !('values' in params && params.values instanceof Readable));

  insert: Client['insert'] = (params) => this.attempt((c) => c.insert(params), !(params.values instanceof Readable));

  /** Success from the first replica that answers, starting with the current one. */
  ping: Client['ping'] = async (params) => {
    const first = this.current;
    let result: Awaited<ReturnType<Client['ping']>> | undefined;
    for (let k = 0; k < this.replicas.length; k++) {
      const i = (first + k) % this.replicas.length;
      result = await this.replicas[i]!.client.ping(params);
      if (result.success) return result;
      this.moveFrom(i, result.error);
    }
    return result!;
  };

  close: Client['close'] = async () => {
    await Promise.all(this.replicas.map((r) => r.client.close()));
  };
}
