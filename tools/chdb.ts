// chDB (ClickHouse 26.x embedded in a Python wheel) for checking the project's SQL on a current
// ClickHouse without Docker: `viewpulse sql compat` and test/integration/clickhouse-current.
// A Python venv under `.viewpulse/chdb-venv` with the wheels pinned in tools/chdb/requirements.txt,
// installed once: a stamp holding the requirements' hash makes the next run install nothing.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot, stateHome } from '../infra/paths.js';
import { run, which } from '../infra/process.js';
import { PrerequisiteError } from '../infra/service.js';

const REQUIREMENTS = join(projectRoot, 'tools', 'chdb', 'requirements.txt');
const RUNNER = join(projectRoot, 'tools', 'chdb', 'run-sql.py');

export const chdbVenv = (): string => join(stateHome(), 'chdb-venv');
const python = (): string => join(chdbVenv(), 'bin', 'python');
const stampFile = (): string => join(chdbVenv(), 'viewpulse-requirements.sha256');
const requirementsHash = (): string => createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex');

/** Creates the venv and installs the pinned wheels when missing or changed; returns its python. */
export async function ensureChdb(log: (line: string) => void = () => {}): Promise<string> {
  const want = requirementsHash();
  if (existsSync(stampFile()) && readFileSync(stampFile(), 'utf8').trim() === want) return python();
  if (!(await which('python3'))) {
    throw new PrerequisiteError('python3 not found: install Python 3.9+ (`apt-get install -y python3 python3-venv`)');
  }
  const started = Date.now();
  log(`installing chdb into ${chdbVenv()} (pip, wheels only; once)`);
  // --clear: a half-made venv from an interrupted install starts over.
  await run('python3', ['-m', 'venv', '--clear', chdbVenv()]);
  await run(python(), [
    '-m',
    'pip',
    'install',
    '--quiet',
    '--disable-pip-version-check',
    '--only-binary',
    ':all:',
    '-r',
    REQUIREMENTS,
  ]);
  writeFileSync(stampFile(), `${want}\n`);
  log(`chdb installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return python();
}

export type ChdbResult = { ok: true; data: string } | { ok: false; error: string };

/**
 * Runs statements in one chDB session whose data lives in `sessionDir` (tables survive between
 * calls); one result per statement, a failed statement does not stop the rest. SELECT results
 * are JSONEachRow text. Runs with TZ=UTC, the server time zone of infra/clickhouse/config.xml,
 * so DateTime values print alike on both versions.
 */
export async function runChdb(
  sessionDir: string,
  statements: readonly string[],
  /** a server config for the session (<zookeeper>, <macros>: replicated tables) */
  configFile?: string,
): Promise<ChdbResult[]> {
  const py = await ensureChdb();
  const child = spawn(py, [RUNNER, sessionDir, ...(configFile ? [configFile] : [])], {
    env: { ...process.env, TZ: 'UTC' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  child.stdin.end(JSON.stringify(statements));
  const code = await exited;
  if (code !== 0) throw new Error(`chdb runner exited with ${code}: ${Buffer.concat(err).toString().slice(-2000)}`);
  return JSON.parse(Buffer.concat(out).toString('utf8')) as ChdbResult[];
}
