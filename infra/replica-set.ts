// The local ClickHouse replica set of `viewpulse services up --replicas N`: how many servers
// this state home runs (remembered until `--replicas 1`), and each one's ports, folders and
// macros. One shard, N replicas, one standalone ZooKeeper. Server 1 is the default setup's
// `clickhouse` (same ports and data); server i > 1 is `clickhouse-i` on the next ports.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, portOf } from '../lib/config.js';
import type { ClickHouseSpec } from './clickhouse.js';
import { stateDir } from './paths.js';
import type { ZooKeeperSpec } from './zookeeper.js';

/** The cluster's name in every replica's <remote_servers>: VIEWPULSE_CLICKHOUSE_CLUSTER for clients. */
export const CLUSTER = 'viewpulse';
export const MAX_REPLICAS = 9;

const modeFile = (): string => join(stateDir('run', 'clickhouse'), 'replicas');

/** How many ClickHouse servers this state home runs (1: the default setup, no ZooKeeper). */
export function replicaCount(): number {
  if (!existsSync(modeFile())) return 1;
  const n = Number(readFileSync(modeFile(), 'utf8').trim());
  return Number.isInteger(n) && n >= 1 && n <= MAX_REPLICAS ? n : 1;
}

export function setReplicaCount(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_REPLICAS)
    throw new Error(`--replicas: expected 1..${MAX_REPLICAS}, got ${n}`);
  if (n === 1) rmSync(modeFile(), { force: true });
  else writeFileSync(modeFile(), `${n}\n`);
}

const envPort = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);

export const zookeeperSpec = (): ZooKeeperSpec => ({
  name: 'zookeeper',
  port: envPort('VIEWPULSE_ZOOKEEPER_PORT', 2181),
});

/** Server i (1-based) of n: HTTP from VIEWPULSE_CLICKHOUSE_URLS (else the next port after the first's). */
export function clickhouseSpec(i: number, n = replicaCount()): ClickHouseSpec {
  const { urls } = loadConfig().clickhouse;
  const httpPort = (k: number): number => (urls[k - 1] ? portOf(urls[k - 1]!) : portOf(urls[0]!) + k - 1);
  const tcpPort = (k: number): number => envPort('VIEWPULSE_CLICKHOUSE_TCP_PORT', 9000) + k - 1;
  const spec: ClickHouseSpec = {
    name: i === 1 ? 'clickhouse' : `clickhouse-${i}`,
    httpPort: httpPort(i),
    tcpPort: tcpPort(i),
  };
  if (n === 1) return spec;
  return {
    ...spec,
    replicaOf: {
      cluster: CLUSTER,
      zookeeperPort: zookeeperSpec().port,
      shard: '01',
      replica: `replica-${i}`,
      interserverPort: envPort('VIEWPULSE_CLICKHOUSE_INTERSERVER_PORT', 9009) + i - 1,
      replicas: Array.from({ length: n }, (_, k) => ({ host: '127.0.0.1', tcpPort: tcpPort(k + 1) })),
    },
  };
}

/** The HTTP URLs of the set, as clients take them (VIEWPULSE_CLICKHOUSE_URLS). */
export const replicaUrls = (n = replicaCount()): string[] =>
  Array.from({ length: n }, (_, k) => `http://127.0.0.1:${clickhouseSpec(k + 1, n).httpPort}`);
