// ClickHouse from Debian's `clickhouse-server` package (18.16), started by us with a
// project-local config (127.0.0.1 only, data under .viewpulse/) rather than as the system
// service, so tests and the demo never touch a machine-wide installation.
import { existsSync, readFileSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, portOf } from '../lib/config.js';
import { assetPath, stateDir } from './paths.js';
import { aptInstall, portOpen, runningPid, startDaemon, stopDaemon, waitFor, which } from './process.js';
import { PrerequisiteError, type NativeService } from './service.js';

const NAME = 'clickhouse';
const TCP_PORT = Number(process.env.VIEWPULSE_CLICKHOUSE_TCP_PORT ?? 9000);

const httpUrl = (): string => loadConfig().clickhouse.url;
const httpPort = (): number => portOf(httpUrl());

async function serverBinary(): Promise<string | undefined> {
  for (const p of ['/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server']) if (existsSync(p)) return p;
  return which('clickhouse-server');
}

/** Runs a query over HTTP and returns the text body; used only for probes and version. */
async function httpQuery(sql: string, timeoutMs = 2000): Promise<string> {
  const res = await fetch(`${httpUrl()}/?query=${encodeURIComponent(sql)}`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`ClickHouse answered ${res.status}`);
  return (await res.text()).trim();
}

function renderConfig(): string {
  const data = stateDir('data', NAME);
  const logs = stateDir('logs', NAME);
  const runDir = stateDir('run', NAME);
  for (const sub of ['tmp', 'user_files', 'format_schemas']) mkdirSync(join(data, sub), { recursive: true });
  const xml = readFileSync(assetPath('clickhouse', 'config.xml'), 'utf8')
    .replaceAll('{{DATA}}', data)
    .replaceAll('{{LOGS}}', logs)
    .replaceAll('{{HTTP_PORT}}', String(httpPort()))
    .replaceAll('{{TCP_PORT}}', String(TCP_PORT));
  const configFile = join(runDir, 'config.xml');
  writeFileSync(configFile, xml);
  copyFileSync(assetPath('clickhouse', 'users.xml'), join(runDir, 'users.xml'));
  return configFile;
}

export const clickhouse: NativeService = {
  name: NAME,
  get address() {
    return `127.0.0.1:${httpPort()}`;
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
    if (runningPid(NAME) && (await this.ready())) return;
    for (const port of [httpPort(), TCP_PORT]) {
      if (!runningPid(NAME) && (await portOpen(port))) {
        throw new PrerequisiteError(
          `port ${port} is in use by another process (a system ClickHouse?): stop it (e.g. \`service clickhouse-server stop\`) or set VIEWPULSE_CLICKHOUSE_URL / VIEWPULSE_CLICKHOUSE_TCP_PORT`,
        );
      }
    }
    const binary = await serverBinary();
    if (!binary)
      throw new PrerequisiteError(
        'clickhouse-server not found: run `npx viewpulse services up` as root, or `apt-get install -y clickhouse-server`',
      );
    const configFile = renderConfig();
    log(`starting ClickHouse on ${this.address}`);
    startDaemon({ name: NAME, command: binary, args: [`--config-file=${configFile}`], cwd: stateDir('run', NAME) });
    await waitFor('ClickHouse', () => this.ready(), 60_000, `see ${stateDir('logs', NAME)}/`);
  },

  async ready() {
    return (await httpQuery('SELECT 1', 1000)) === '1';
  },

  async version() {
    try {
      return await httpQuery('SELECT version()');
    } catch {
      return 'unknown';
    }
  },

  async stop() {
    await stopDaemon(NAME);
  },
};
