// Pipeline parts as real child processes — `viewpulse run processors --only NAME` and
// `viewpulse run collector` — so tests and benchmarks can kill them with SIGKILL and start
// them again, as a crash and a process supervisor would.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '../infra/paths.js';
import type { Config } from '../lib/config.js';

export interface Instance {
  child: ChildProcess;
  /** Everything the process wrote (structured logs). */
  output: () => string;
  /** Resolves with the exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

/** `bin/viewpulse.js ARGS` with the configuration's topic prefix and database; output kept (and appended to `logFile`). */
function spawnViewpulse(args: string[], config: Config, env: Record<string, string>, logFile?: string): Instance {
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'viewpulse.js'), ...args], {
    env: {
      ...process.env,
      VIEWPULSE_TOPIC_PREFIX: config.kafka.topicPrefix,
      VIEWPULSE_CLICKHOUSE_DATABASE: config.clickhouse.database,
      VIEWPULSE_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (b: Buffer): void => {
    out += b.toString();
    if (logFile) appendFileSync(logFile, b);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/**
 * One processor (`viewpulse run processors --only NAME`, no metrics port) with a 6 s session
 * timeout and a checkpoint every second (so kills land after checkpoints too); `env` adds or
 * overrides variables, `logFile` receives its output as it comes.
 */
export function spawnProcessor(
  name: string,
  config: Config,
  env: Record<string, string> = {},
  logFile?: string,
): Instance {
  return spawnViewpulse(
    ['run', 'processors', '--only', name, '--metrics-port', '-1'],
    config,
    { VIEWPULSE_PROCESSOR_SESSION_TIMEOUT_MS: '6000', VIEWPULSE_PROCESSOR_CHECKPOINT_MS: '1000', ...env },
    logFile,
  );
}

/** `viewpulse run collector --port PORT` writing to the configuration's play-events topic. */
export function spawnCollector(
  config: Config,
  port: number,
  env: Record<string, string> = {},
  logFile?: string,
): Instance {
  return spawnViewpulse(['run', 'collector', '--port', String(port)], config, env, logFile);
}

export const exitedEarly = (i: Instance): boolean => i.child.exitCode !== null || i.child.signalCode !== null;

export async function kill9(i: Instance): Promise<void> {
  i.child.kill('SIGKILL');
  await i.exited;
}

/** Resolves once the output has `"msg":"<msg>"`; throws when the process exits first or after `timeoutMs`. */
export async function untilLogged(i: Instance, msg: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!i.output().includes(`"msg":"${msg}"`)) {
    if (exitedEarly(i)) throw new Error(`the process exited before "${msg}":\n${i.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`no "${msg}" within ${timeoutMs / 1000} s:\n${i.output().slice(-3000)}`);
    await sleep(50);
  }
}

/** Resolves once the instance logged that its processors run (signal handlers are in place by then). */
export const started = (i: Instance, timeoutMs = 120_000): Promise<void> =>
  untilLogged(i, 'processors running', timeoutMs);

/** SIGTERM (a clean stop: flush, commit, leave) and the exit code. */
export async function terminate(i: Instance): Promise<number | null> {
  i.child.kill('SIGTERM');
  return i.exited;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP port nothing listens on right now (for a child that must keep its port across restarts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
