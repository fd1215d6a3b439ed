// A private ClickHouse replica set for a test or benchmark: its own ZooKeeper and servers on
// free ports, in its own folders under the state home, started through the same infra code as
// `viewpulse services up --replicas N`, never touching the shared services on the default ports.
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { clickhouseServer } from '../infra/clickhouse.js';
import { stateHome } from '../infra/paths.js';
import { isAlive, runningPid, sleep } from '../infra/process.js';
import { replicaSpecs, type ReplicaSetLayout } from '../infra/replica-set.js';
import type { NativeService } from '../infra/service.js';
import { zookeeperServer } from '../infra/zookeeper.js';

/** `n` distinct free ports on 127.0.0.1 (all held open at once, so none is handed out twice). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
      servers.push(s);
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

export interface ReplicaSet {
  cluster: string;
  /** each server's HTTP URL, replica 1 first: VIEWPULSE_CLICKHOUSE_URLS */
  urls: string[];
  zookeeper: NativeService;
  servers: NativeService[];
  /** kill -9 of server i (0-based); resolves once it is gone */
  kill(i: number): Promise<void>;
  /** starts server i again on its ports and data; resolves once it answers */
  restart(i: number): Promise<void>;
  /** stops everything it started and deletes its folders (logs too, unless keepLogs) */
  remove(options?: { keepLogs?: boolean }): Promise<void>;
}

/** Starts ZooKeeper and `replicas` ClickHouse servers named `<name>-zk`, `<name>-1`, ... */
export async function startReplicaSet(
  name: string,
  replicas = 2,
  log: (line: string) => void = () => {},
): Promise<ReplicaSet> {
  const ports = await freePorts(1 + 3 * replicas);
  const layout: ReplicaSetLayout = {
    cluster: 'viewpulse',
    zookeeper: { name: `${name}-zk`, port: ports[0]! },
    servers: Array.from({ length: replicas }, (_, k) => ({
      name: `${name}-${k + 1}`,
      httpPort: ports[1 + 3 * k]!,
      tcpPort: ports[2 + 3 * k]!,
      interserverPort: ports[3 + 3 * k]!,
    })),
  };
  const specs = replicaSpecs(layout);
  const zookeeper = zookeeperServer(() => layout.zookeeper);
  const servers = specs.map((spec) => clickhouseServer(() => spec));
  const every = [zookeeper, ...servers];
  const set: ReplicaSet = {
    cluster: layout.cluster,
    urls: specs.map((s) => `http://127.0.0.1:${s.httpPort}`),
    zookeeper,
    servers,
    async kill(i) {
      const pid = runningPid(specs[i]!.name);
      if (!pid) throw new Error(`${specs[i]!.name} is not running`);
      process.kill(pid, 'SIGKILL');
      while (isAlive(pid)) await sleep(20);
    },
    async restart(i) {
      await servers[i]!.start(log);
    },
    async remove(options = {}) {
      for (const s of [...every].reverse()) await s.stop().catch(() => undefined);
      for (const s of every) {
        const areas = options.keepLogs ? ['data', 'run'] : ['data', 'run', 'logs'];
        for (const area of areas) rmSync(join(stateHome(), area, s.name), { recursive: true, force: true });
      }
    },
  };
  try {
    for (const s of every) {
      await s.install(log);
      await s.start(log);
    }
  } catch (err) {
    await set.remove({ keepLogs: true });
    throw err;
  }
  return set;
}
