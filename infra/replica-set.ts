// The local ClickHouse replica set of `viewpulse services up --replicas N`: how many servers
// this state home runs (remembered until `--replicas 1`), and each one's ports, folders and
// macros. One shard, N replicas, one standalone ZooKeeper. Server 1 is the default setup's
// `clickhouse` (same ports and data); server i > 1 is `clickhouse-i` on the next ports.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * Databases of server `name` that hold replicated tables (from its metadata files, running or
 * not): such a server cannot start without ZooKeeper and its {shard}/{replica} macros.
 */
export function replicatedDatabases(name = 'clickhouse'): string[] {
  const dir = join(stateDir('data', name), 'metadata');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .filter((db) =>
      readdirSync(join(dir, db))
        .filter((f) => f.endsWith('.sql'))
        .some((f) => /ENGINE = Replicated/.test(readFileSync(join(dir, db, f), 'utf8'))),
    );
}

const envPort = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);

export const zookeeperSpec = (): ZooKeeperSpec => ({
  name: 'zookeeper',
  port: envPort('VIEWPULSE_ZOOKEEPER_PORT', 2181),
});

/** A replica set's ports and names: the default one (`services up --replicas N`) or a test's own. */
export interface ReplicaSetLayout {
  cluster: string;
  zookeeper: ZooKeeperSpec;
  servers: readonly { name: string; httpPort: number; tcpPort: number; interserverPort: number }[];
}

/** Every server of a layout as a replica of its one shard: replica-1, replica-2, ... */
export function replicaSpecs(layout: ReplicaSetLayout): ClickHouseSpec[] {
  return layout.servers.map((x, k) => ({
    name: x.name,
    httpPort: x.httpPort,
    tcpPort: x.tcpPort,
    replicaOf: {
      cluster: layout.cluster,
      zookeeperPort: layout.zookeeper.port,
      shard: '01',
      replica: `replica-${k + 1}`,
      interserverPort: x.interserverPort,
      replicas: layout.servers.map((y) => ({ host: '127.0.0.1', tcpPort: y.tcpPort })),
    },
  }));
}

/** This state home's set of n: HTTP from VIEWPULSE_CLICKHOUSE_URLS (else the ports after the first's), TCP and interserver from their base ports. */
export function defaultLayout(n: number): ReplicaSetLayout {
  const { urls } = loadConfig().clickhouse;
  return {
    cluster: CLUSTER,
    zookeeper: zookeeperSpec(),
    servers: Array.from({ length: n }, (_, k) => ({
      name: k === 0 ? 'clickhouse' : `clickhouse-${k + 1}`,
      httpPort: urls[k] ? portOf(urls[k]) : portOf(urls[0]!) + k,
      tcpPort: envPort('VIEWPULSE_CLICKHOUSE_TCP_PORT', 9000) + k,
      interserverPort: envPort('VIEWPULSE_CLICKHOUSE_INTERSERVER_PORT', 9009) + k,
    })),
  };
}

/** Server i (1-based) of n: alone when n = 1, else replica i of defaultLayout(n). */
export function clickhouseSpec(i: number, n = replicaCount()): ClickHouseSpec {
  const spec = replicaSpecs(defaultLayout(n))[i - 1]!;
  return n === 1 ? { name: spec.name, httpPort: spec.httpPort, tcpPort: spec.tcpPort } : spec;
}

/** The HTTP URLs of the set, as clients take them (VIEWPULSE_CLICKHOUSE_URLS). */
export const replicaUrls = (n = replicaCount()): string[] =>
  Array.from({ length: n }, (_, k) => `http://127.0.0.1:${clickhouseSpec(k + 1, n).httpPort}`);
