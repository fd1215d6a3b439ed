// A real Confluent-API schema registry: AxonOps Schema Registry, built from its pinned Go
// module with `go install`, storing schemas in our PostgreSQL so ids outlive restarts.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadConfig, portOf } from '../lib/config.js';
import { assetPath, stateDir } from './paths.js';
import { PG_DATABASE, PG_HOST, PG_PASSWORD, PG_PORT, PG_USER, postgres } from './postgres.js';
import { isAlive, logFile, portOpen, run, runningPid, sleep, startDaemon, stopDaemon, which } from './process.js';
import { PrerequisiteError, type NativeService } from './service.js';

const NAME = 'registry';
const MODULE = 'github.com/axonops/axonops-schema-registry';
const VERSION = 'v0.2.1';
const PACKAGE = `${MODULE}/cmd/schema-registry`;

const port = (): number => portOf(loadConfig().registry.url);
const baseUrl = (): string => `http://127.0.0.1:${port()}`;
const cacheDir = (): string => stateDir('cache', NAME);
const binary = (): string => join(cacheDir(), VERSION, 'bin', 'schema-registry');
const configFile = (): string => join(stateDir('run', NAME), 'config.yaml');

/**
 * `go install pkg@version` reads the module's version list to look up deprecation notices, and
 * the Go module proxy answers that list with 403 for this module, although the pinned version itself
 * downloads fine (and is checked against the checksum database). So: `go mod download` the pinned version first,
 * then let `go install` consult the module cache as a file proxy (see `go help goproxy`) before the
 * usual proxies; its list names what we downloaded, and everything else falls through (`,`).
 */
async function goInstall(gobin: string): Promise<void> {
  const go = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> =>
    run('go', args, { cwd: cacheDir(), env }); // cwd outside any Go module
  await go(['mod', 'download', `${MODULE}@${VERSION}`]);
  const cachedProxy = `file://${join((await go(['env', 'GOMODCACHE'])).trim(), 'cache', 'download')}`;
  const current = (await go(['env', 'GOPROXY'])).trim();
  const goproxy = current === 'off' ? current : `${cachedProxy},${current}`;
  await go(['install', '-ldflags', `-X main.version=${VERSION}`, `${PACKAGE}@${VERSION}`], {
    GOBIN: gobin,
    GOPROXY: goproxy,
  });
}

function renderConfig(): string {
  const values: Record<string, string> = {
    PORT: String(port()),
    PG_HOST,
    PG_PORT: String(PG_PORT),
    PG_DATABASE,
    PG_USER,
    PG_PASSWORD,
  };
  const yaml = readFileSync(assetPath('registry', 'config.yaml.tmpl'), 'utf8').replace(
    /\{\{(\w+)\}\}/g,
    (_, key: string) => values[key] ?? `{{${key}}}`,
  );
  writeFileSync(configFile(), yaml);
  return configFile();
}

/** Our registry whose pid file was lost: its command line names our binary and config. */
function orphanPid(): number | undefined {
  const ours = `${binary()}\0-config\0${configFile()}\0`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8') === ours) return Number(entry);
    } catch {
      /* exited meanwhile */
    }
  }
  return undefined;
}

/** SCHEMA_REGISTRY_* variables override the config file; blank them so a stray one can't redirect storage. */
function blankOverrides(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of Object.keys(process.env)) if (key.startsWith('SCHEMA_REGISTRY_')) env[key] = '';
  return env;
}

export const registry: NativeService = {
  name: NAME,
  get address() {
    return `127.0.0.1:${port()}`;
  },

  async install(log) {
    const built = existsSync(binary());
    if (!built && !(await which('go'))) {
      throw new PrerequisiteError('Go not found: install Go 1.26+ (https://go.dev/dl/) and put `go` on PATH');
    }
    await postgres.install(log);
    if (built) return;
    log(`building ${PACKAGE}@${VERSION} with go install (first run only, about a minute)`);
    await goInstall(dirname(binary()));
  },

  async start(log) {
    if (runningPid(NAME) && (await this.ready())) return;
    if (!runningPid(NAME) && (await portOpen(port()))) {
      throw new PrerequisiteError(
        `port ${port()} is in use by a process we did not start (another schema registry?): stop it (\`ss -ltnp 'sport = :${port()}'\`; \`services down\` if it is a leftover viewpulse registry) or set VIEWPULSE_REGISTRY_URL`,
      );
    }
    if (!existsSync(binary())) await this.install(log);
    await postgres.start(log);
    if (!runningPid(NAME)) {
      log(`starting AxonOps Schema Registry ${VERSION} on ${this.address}`);
      startDaemon({ name: NAME, command: binary(), args: ['-config', renderConfig()], env: blankOverrides() });
    }
    const deadline = Date.now() + 60_000;
    while (!(await this.ready())) {
      if (!runningPid(NAME)) throw new Error(`the schema registry exited during start; see ${logFile(NAME)}`);
      if (Date.now() > deadline) throw new Error(`the schema registry did not answer within 60s; see ${logFile(NAME)}`);
      await sleep(250);
    }
  },

  async ready() {
    try {
      const res = await fetch(`${baseUrl()}/subjects`, { signal: AbortSignal.timeout(2000) });
      const body: unknown = await res.json();
      // v0.2.1 with PostgreSQL storage answers an empty registry with `null` rather than `[]`.
      return res.status === 200 && (Array.isArray(body) || body === null);
    } catch {
      return false;
    }
  },

  async version() {
    return VERSION;
  },

  async stop() {
    await stopDaemon(NAME);
    const orphan = orphanPid();
    if (orphan) {
      process.kill(orphan, 'SIGTERM');
      for (let waited = 0; isAlive(orphan) && waited < 20_000; waited += 100) await sleep(100);
      if (isAlive(orphan)) process.kill(orphan, 'SIGKILL');
    }
    await postgres.stop();
  },
};
