// Start and stop long-running native servers with pid files, so `services down` stops
// exactly what `services up` started and nothing else.
import { spawn, execFile } from 'node:child_process';
import { existsSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stateDir } from './paths.js';

export const execFileAsync = promisify(execFile);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const pidFile = (name: string): string => join(stateDir('run', name), `${name}.pid`);
export const logFile = (name: string): string => join(stateDir('logs', name), `${name}.log`);

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid recorded for `name`, if that process is still alive. */
export function runningPid(name: string): number | undefined {
  const file = pidFile(name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return pid;
  rmSync(file, { force: true });
  return undefined;
}

export interface DaemonSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Spawns a detached server in its own process group with stdout/stderr appended to
 * `.viewpulse/logs/<name>/<name>.log`, and records its pid. Returns the pid.
 */
export function startDaemon(spec: DaemonSpec): number {
  const existing = runningPid(spec.name);
  if (existing) return existing;
  const out = openSync(logFile(spec.name), 'a');
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start ${spec.name} (${spec.command})`);
  child.unref();
  writeFileSync(pidFile(spec.name), `${child.pid}\n`);
  return child.pid;
}

/** SIGTERM the whole process group, wait up to `graceMs`, then SIGKILL. */
export async function stopDaemon(name: string, graceMs = 20_000): Promise<boolean> {
  const pid = runningPid(name);
  if (!pid) return false;
  const signalGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signalGroup('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) signalGroup('SIGKILL');
  while (isAlive(pid)) await sleep(50);
  rmSync(pidFile(name), { force: true });
  return true;
}

/** True when something accepts TCP connections on host:port. */
export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Polls `probe` until it resolves true or `timeoutMs` passes. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  onTimeoutHint = '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      /* not ready yet */
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what} did not become ready within ${timeoutMs / 1000}s${onTimeoutHint ? `; ${onTimeoutHint}` : ''}`,
      );
    }
    await sleep(250);
  }
}

/** Runs a command, inheriting nothing; throws with its output on failure. */
export async function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`.trim());
  }
}

/** Path of an executable on PATH, or undefined. */
export async function which(cmd: string): Promise<string | undefined> {
  try {
    return (await execFileAsync('sh', ['-c', `command -v ${cmd}`])).stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

let aptQueue: Promise<unknown> = Promise.resolve();

/**
 * Installs Debian packages. Calls are serialised (dpkg takes one lock), and a failed install
 * is retried once after `apt-get update`, since a fresh machine may have stale lists.
 */
export function aptInstall(packages: string[]): Promise<void> {
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): Promise<string> =>
    run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { env });
  const next = aptQueue.then(async () => {
    try {
      await install();
    } catch {
      await run('apt-get', ['update'], { env });
      await install();
    }
  });
  aptQueue = next.catch(() => undefined);
  return next;
}
