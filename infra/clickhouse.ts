// ClickHouse from Debian's `clickhouse-server` package (18.16), started by us with a
// project-local config (127.0.0.1 only, data under .viewpulse/) rather than as the system
// service, so tests and the demo never touch a machine-wide installation. One server is
// `clickhouse`; a replica set (infra/clickhouse-replicas.ts) runs several of these, each with
// its own ports, folders and a config.d/cluster.xml (ZooKeeper, macros, the cluster).
import { existsSync, readFileSync, writeFileSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { assetPath, stateDir } from './paths.js';
import { aptInstall, portOpen, runningPid, startDaemon, stopDaemon, waitFor, which } from './process.js';
import { clickhouseSpec } from './replica-set.js';
import { PrerequisiteError, type NativeService } from './service.js';

/** What makes a server one replica of a set: its shard and replica, and the others. */
export interface ReplicaOf {
  /** the cluster's name in <remote_servers> (system.clusters) */
  cluster: string;
  zookeeperPort: number;
  shard: string;
  replica: string;
  /** where the other replicas fetch this one's parts */
  interserverPort: number;
  /** every replica of the shard, this one included (native protocol ports) */
  replicas: readonly { host: string; tcpPort: number }[];
}

export interface ClickHouseSpec {
  /** pid file, data and log folders: <state home>/{run,data,logs}/<name> */
  name: string;
  httpPort: number;
  tcpPort: number;
  replicaOf?: ReplicaOf;
}

async function serverBinary(): Promise<string | undefined> {
  for (const p of ['/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server']) if (existsSync(p)) return p;
  return which('clickhouse-server');
}

/** Runs a query over HTTP and returns the text body; used only for probes and version. */
async function httpQuery(port: number, sql: string, timeoutMs = 2000): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/?query=${encodeURIComponent(sql)}`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`ClickHouse answered ${res.status}`);
  return (await res.text()).trim();
}

/** config.d/cluster.xml of a replica (null for a lone server). */
export function clusterXml(r: ReplicaOf | undefined): string | null {
  if (!r) return null;
  const replicas = r.replicas
    .map((x) => `                <replica><host>${x.host}</host><port>${x.tcpPort}</port></replica>`)
    .join('\n');
  return readFileSync(assetPath('clickhouse', 'cluster.xml'), 'utf8')
    .replaceAll('{{ZOOKEEPER_PORT}}', String(r.zookeeperPort))
    .replaceAll('{{SHARD}}', r.shard)
    .replaceAll('{{REPLICA}}', r.replica)
    .replaceAll('{{INTERSERVER_PORT}}', String(r.interserverPort))
    .replaceAll('{{CLUSTER}}', r.cluster)
    .replaceAll('{{REPLICAS}}', replicas);
}

const clusterFile = (name: string): string => join(stateDir('run', name), 'config.d', 'cluster.xml');

/** True when the files on disk are what `spec` renders: a running server needs no restart. */
function clusterFileCurrent(spec: ClickHouseSpec): boolean {
  const want = clusterXml(spec.replicaOf);
  const file = clusterFile(spec.name);
  const have = existsSync(file) ? readFileSync(file, 'utf8') : null;
  return want === have;
}

function renderConfig(spec: ClickHouseSpec): string {
  const data = stateDir('data', spec.name);
  const logs = stateDir('logs', spec.name);
  const runDir = stateDir('run', spec.name);
  for (const sub of ['tmp', 'user_files', 'format_schemas']) mkdirSync(join(data, sub), { recursive: true });
  const xml = readFileSync(assetPath('clickhouse', 'config.xml'), 'utf8')
    .replaceAll('{{DATA}}', data)
    .replaceAll('{{LOGS}}', logs)
    .replaceAll('{{HTTP_PORT}}', String(spec.httpPort))
    .replaceAll('{{TCP_PORT}}', String(spec.tcpPort));
  const configFile = join(runDir, 'config.xml');
  writeFileSync(configFile, xml);
  copyFileSync(assetPath('clickhouse', 'users.xml'), join(runDir, 'users.xml'));
  // the server merges <config dir>/config.d/*.xml: a lone server must not keep a replica's
  const cluster = clusterXml(spec.replicaOf);
  const file = clusterFile(spec.name);
  if (cluster === null) rmSync(file, { force: true });
  else {
    mkdirSync(join(runDir, 'config.d'), { recursive: true });
    writeFileSync(file, cluster);
  }
  return configFile;
}

/** A ClickHouse server as a native service; `spec` is read at each call (ports may come from the environment). */
export function clickhouseServer(spec: () => ClickHouseSpec): NativeService {
  return {
    get name() {
      return spec().name;
    },
    get address() {
      return `127.0.0.1:${spec().httpPort}`;
    },

    async install(log) {
      if (await serverBinary()) return;
      if (process.getuid?.() !== 0) {
        throw new PrerequisiteError(
          'clickhouse-server not found: run `sudo apt-get install -y clickhouse-server` (Debian package, 18.16)',
        );
      }
      log('installing clickhouse-server from Debian packages (apt-get)');
      await aptInstall(['clickhouse-server']);
    },

    async start(log) {
      const s = spec();
      if (runningPid(s.name) && (await this.ready())) {
        if (!this.stale!()) return;
        // joining or leaving a replica set: ZooKeeper and macros are read at start only
        log(`restarting ${s.name} on ${this.address} ${s.replicaOf ? 'as replica ' + s.replicaOf.replica : 'alone'}`);
        await stopDaemon(s.name);
      }
      const ports = [s.httpPort, s.tcpPort, ...(s.replicaOf ? [s.replicaOf.interserverPort] : [])];
      for (const port of ports) {
        if (!runningPid(s.name) && (await portOpen(port))) {
          throw new PrerequisiteError(
            `port ${port} is in use by another process (a system ClickHouse?): stop it (e.g. \`service clickhouse-server stop\`) or set VIEWPULSE_CLICKHOUSE_URL(S) / VIEWPULSE_CLICKHOUSE_TCP_PORT / VIEWPULSE_CLICKHOUSE_INTERSERVER_PORT`,
          );
        }
      }
      const binary = await serverBinary();
      if (!binary)
        throw new PrerequisiteError(
          'clickhouse-server not found: run `npx viewpulse services up` as root, or `apt-get install -y clickhouse-server`',
        );
      const configFile = renderConfig(s);
      log(`starting ClickHouse on ${this.address}${s.replicaOf ? ` (replica ${s.replicaOf.replica})` : ''}`);
      startDaemon({
        name: s.name,
        command: binary,
        args: [`--config-file=${configFile}`],
        cwd: stateDir('run', s.name),
      });
      const logs = `see ${stateDir('logs', s.name)}/`;
      // stop waiting as soon as the server exits (a bad config, a port race)
      await waitFor('ClickHouse', async () => !runningPid(s.name) || (await this.ready()), 60_000, logs);
      if (!runningPid(s.name)) throw new Error(`ClickHouse exited during startup; ${logs}`);
    },

    async ready() {
      return (await httpQuery(spec().httpPort, 'SELECT 1', 1000)) === '1';
    },

    stale() {
      const s = spec();
      return runningPid(s.name) !== undefined && !clusterFileCurrent(s);
    },

    async version() {
      try {
        return await httpQuery(spec().httpPort, 'SELECT version()');
      } catch {
        return 'unknown';
      }
    },

    async stop() {
      await stopDaemon(spec().name);
    },
  };
}

/** Server 1: the default setup's one server, or replica 1 of this state home's replica set. */
export const clickhouse: NativeService = clickhouseServer(() => clickhouseSpec(1));
