// PostgreSQL as the schema registry's durable storage: a private cluster under .viewpulse/,
// listening on 127.0.0.1:5433 so it never collides with a system cluster on 5432.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { stateDir, stateHome } from './paths.js';
import {
  aptInstall as aptInstallPackages,
  isAlive,
  logFile,
  portOpen,
  run,
  runningPid,
  sleep,
  startDaemon,
  stopDaemon,
  which,
} from './process.js';
import { PrerequisiteError, type NativeService } from './service.js';

const NAME = 'postgres';
export const PG_HOST = '127.0.0.1';
/** VIEWPULSE_POSTGRES_PORT moves it, e.g. to run a second checkout side by side. */
export const PG_PORT = Number(process.env.VIEWPULSE_POSTGRES_PORT ?? 5433);
/** Dev-only credentials: the cluster listens on loopback only and holds nothing secret. */
export const PG_USER = 'viewpulse';
export const PG_PASSWORD = 'viewpulse';
export const PG_DATABASE = 'schema_registry';
/** initdb's superuser; reachable only through the unix socket in our run dir. */
const SUPERUSER = 'postgres';

/**
 * Where the cluster lives. Normally under .viewpulse/ (VIEWPULSE_HOME). As root, PostgreSQL
 * runs as the `postgres` OS user, which cannot reach a clone under a private directory (a home
 * folder of mode 700, a `mktemp -d` folder): then, unless VIEWPULSE_HOME names the place, the
 * data and socket directories go to /var/lib/viewpulse/postgres-<hash of the state home>, one
 * per checkout, and .viewpulse/data/postgres/LOCATION says where.
 */
export const FALLBACK_ROOT = '/var/lib/viewpulse';
let located: { data: string; socket: string } | undefined;

const dataDir = (): string => located?.data ?? stateDir('data', NAME);
const socketDir = (): string => located?.socket ?? stateDir('run', NAME);

async function locate(log: (line: string) => void = () => undefined): Promise<void> {
  if (located) return;
  const home = { data: stateDir('data', NAME), socket: stateDir('run', NAME) };
  const o = await owner();
  if (!o || process.env.VIEWPULSE_HOME || (await reachable(home.data, home.socket))) {
    located = home;
    return;
  }
  const base = join(FALLBACK_ROOT, `postgres-${createHash('sha256').update(stateHome()).digest('hex').slice(0, 12)}`);
  located = { data: join(base, 'data'), socket: join(base, 'run') };
  for (const dir of [FALLBACK_ROOT, base, located.data, located.socket]) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  }
  const marker = join(home.data, 'LOCATION');
  if (!existsSync(marker)) {
    log(`the postgres OS user cannot reach ${home.data}: keeping the registry's database in ${base}`);
    writeFileSync(
      marker,
      `${base}\n(the postgres OS user cannot reach this checkout's directory; delete that folder to start the registry afresh)\n`,
    );
  }
}

/** Whether the postgres OS user can write both directories (every parent must let it through). */
async function reachable(...dirs: string[]): Promise<boolean> {
  for (const dir of dirs) {
    const o = (await owner())!;
    chownSync(dir, o.uid, o.gid);
    try {
      await asOwner('test', ['-w', dir]);
    } catch {
      return false;
    }
  }
  return true;
}

/** A directory holding initdb, postgres and psql of one PostgreSQL major version. */
async function findBinDir(): Promise<string | undefined> {
  const candidates: string[] = [];
  const onPath = await which('initdb');
  if (onPath) candidates.push(dirname(realpathSync(onPath)));
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const majors = readdirSync(debianRoot).filter((v) => /^\d+$/.test(v));
    majors.sort((a, b) => Number(b) - Number(a));
    for (const v of majors) candidates.push(join(debianRoot, v, 'bin'));
  }
  return candidates.find((dir) => ['initdb', 'postgres', 'psql'].every((t) => existsSync(join(dir, t))));
}

async function binDir(): Promise<string> {
  const dir = await findBinDir();
  if (!dir) throw new PrerequisiteError('PostgreSQL not found: run `sudo apt-get install -y postgresql`');
  return dir;
}

const isRoot = (): boolean => process.getuid?.() === 0;

interface Owner {
  uid: number;
  gid: number;
  /** Wraps a command so it runs as this owner. */
  wrap(command: string, args: string[]): [string, string[]];
}

/** PostgreSQL refuses to run as root, so as root we drop to the `postgres` OS user. */
let ownerLookup: Promise<Owner | undefined> | undefined;
const owner = (): Promise<Owner | undefined> => (ownerLookup ??= lookupOwner());

async function lookupOwner(): Promise<Owner | undefined> {
  if (!isRoot()) return undefined;
  const id = async (flag: string): Promise<number> => Number((await run('id', [flag, 'postgres'])).trim());
  try {
    await id('-u');
  } catch {
    await run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
  }
  const uid = await id('-u');
  const gid = await id('-g');
  // setpriv execs in place (unlike runuser, which forks), so our pid file names the postmaster.
  const wrap = (command: string, args: string[]): [string, string[]] => [
    'setpriv',
    ['--reuid', String(uid), '--regid', String(gid), '--init-groups', '--', command, ...args],
  ];
  return { uid, gid, wrap };
}

async function asOwner(command: string, args: string[]): Promise<string> {
  const o = await owner();
  const [cmd, argv] = o ? o.wrap(command, args) : [command, args];
  return run(cmd, argv);
}

async function aptInstall(log: (line: string) => void): Promise<void> {
  if (!isRoot()) throw new PrerequisiteError('PostgreSQL not found: run `sudo apt-get install -y postgresql`');
  log('PostgreSQL binaries not found: running apt-get install -y postgresql');
  await aptInstallPackages(['postgresql']);
}

const INITDB_FLAGS = ['-E', 'UTF8', '--no-locale', '--auth-local=trust', '--auth-host=scram-sha-256'];

/** Creates the cluster once; PG_VERSION marks a finished initdb. */
async function ensureCluster(bin: string, log: (line: string) => void): Promise<void> {
  await locate(log);
  const data = dataDir();
  const o = await owner();
  if (o) for (const dir of [data, socketDir()]) chownSync(dir, o.uid, o.gid);
  chmodSync(socketDir(), 0o700); // keeps the trust-authenticated socket to ourselves
  try {
    await asOwner('test', ['-w', data]);
  } catch {
    throw new PrerequisiteError(
      `the postgres OS user cannot write ${data} (a parent directory is private?): set VIEWPULSE_HOME to a directory it can reach, e.g. /var/tmp/viewpulse, or leave it unset to use ${FALLBACK_ROOT}`,
    );
  }
  if (existsSync(join(data, 'PG_VERSION'))) return;
  log(`initdb ${data}`);
  // Unix socket: trust (its directory is ours alone). TCP: password (SCRAM).
  await asOwner(join(bin, 'initdb'), ['-D', data, '-U', SUPERUSER, ...INITDB_FLAGS]);
}

/** Runs one statement with psql and returns its unaligned, tuples-only output. */
const psql = (bin: string, conn: string[], sql: string, env: NodeJS.ProcessEnv = {}): Promise<string> =>
  run(join(bin, 'psql'), ['-X', ...conn, '-v', 'ON_ERROR_STOP=1', '-tAc', sql], { env });

/** As the superuser over the unix socket, for setup statements. */
const superSql = (bin: string, sql: string): Promise<string> =>
  psql(bin, ['-h', socketDir(), '-p', String(PG_PORT), '-U', SUPERUSER, '-d', 'postgres'], sql);

/** Creates the registry's login role and database once. */
async function ensureDatabase(bin: string, log: (line: string) => void): Promise<void> {
  if (!(await superSql(bin, `SELECT 1 FROM pg_roles WHERE rolname = '${PG_USER}'`)).trim()) {
    await superSql(bin, `CREATE ROLE ${PG_USER} LOGIN PASSWORD '${PG_PASSWORD}'`);
  }
  if (!(await superSql(bin, `SELECT 1 FROM pg_database WHERE datname = '${PG_DATABASE}'`)).trim()) {
    log(`creating database ${PG_DATABASE}`);
    await superSql(bin, `CREATE DATABASE ${PG_DATABASE} OWNER ${PG_USER}`);
  }
}

/** A postmaster of our data dir whose pid file we lost (e.g. .viewpulse/run was wiped). */
function orphanPostmaster(): number | undefined {
  const lock = join(dataDir(), 'postmaster.pid');
  if (!existsSync(lock)) return undefined;
  const pid = Number(readFileSync(lock, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir()) ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!runningPid(NAME)) throw new Error(`PostgreSQL exited during start; see ${logFile(NAME)}`);
    if (await probe().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`${what} did not become ready within ${timeoutMs / 1000}s; see ${logFile(NAME)}`);
}

let installing: Promise<void> | undefined;

export const postgres: NativeService = {
  name: NAME,
  address: `${PG_HOST}:${PG_PORT}`,

  install(log) {
    // The registry installs its storage too, and `services up` installs side by side: share
    // one run, since two initdb's in one directory fail.
    installing ??= (async () => {
      if (!(await findBinDir())) await aptInstall(log);
      await ensureCluster(await binDir(), log);
    })().finally(() => (installing = undefined));
    return installing;
  },

  async start(log) {
    await locate(log);
    if (runningPid(NAME) && (await this.ready())) return;
    const bin = await binDir();
    if (!runningPid(NAME)) {
      if (orphanPostmaster() || (await portOpen(PG_PORT))) {
        throw new PrerequisiteError(
          `port ${PG_PORT} is in use by a process we did not start: stop it (\`ss -ltnp 'sport = :${PG_PORT}'\`), or run \`services down\` if it is a leftover viewpulse postgres`,
        );
      }
      await ensureCluster(bin, log);
      log(`starting PostgreSQL on ${this.address}`);
      const settings = { listen_addresses: PG_HOST, port: PG_PORT, unix_socket_directories: socketDir() };
      const args = ['-D', dataDir(), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
      const o = await owner();
      const [command, argv] = o ? o.wrap(join(bin, 'postgres'), args) : [join(bin, 'postgres'), args];
      startDaemon({ name: NAME, command, args: argv, cwd: dataDir() });
    }
    await waitUntil('PostgreSQL', async () => (await superSql(bin, 'SELECT 1')).trim() === '1', 60_000);
    await ensureDatabase(bin, log);
    await waitUntil('PostgreSQL (registry database)', () => this.ready(), 10_000);
  },

  async ready() {
    const bin = await findBinDir();
    if (!bin) return false;
    // A real login over TCP as the registry's role, exactly as the registry connects.
    const conn = ['-h', PG_HOST, '-p', String(PG_PORT), '-U', PG_USER, '-d', PG_DATABASE];
    const env = { PGPASSWORD: PG_PASSWORD, PGCONNECT_TIMEOUT: '3' };
    const out = await psql(bin, conn, 'SELECT 1', env).catch(() => '');
    return out.trim() === '1';
  },

  async version() {
    const bin = await findBinDir();
    if (!bin) return 'unknown';
    const out = await run(join(bin, 'postgres'), ['--version']); // "postgres (PostgreSQL) 15.14 (Debian ...)"
    return /\(PostgreSQL\)\s+(\S+)/.exec(out)?.[1] ?? out.trim();
  },

  async stop() {
    await locate();
    const pid = runningPid(NAME) ?? orphanPostmaster();
    if (!pid) return;
    // SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") would wait for every client to leave.
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      /* already gone */
    }
    const deadline = Date.now() + 30_000;
    while (isAlive(pid) && Date.now() < deadline) await sleep(100);
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await stopDaemon(NAME, 5_000); // clears the pid file and any straggler in the group
  },
};
