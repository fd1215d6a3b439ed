// Processor instances as real child processes, so a test can kill -9 them.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../infra/paths.js';
import type { Config } from '../../lib/config.js';

export interface Instance {
  child: ChildProcess;
  /** Everything the process wrote (structured logs). */
  output: () => string;
  exited: Promise<number | null>;
}

export function spawnProcessor(name: string, config: Config, env: Record<string, string> = {}): Instance {
  const child = spawn(
    process.execPath,
    [join(projectRoot, 'bin', 'viewpulse.js'), 'run', 'processors', '--only', name, '--metrics-port', '-1'],
    {
      env: {
        ...process.env,
        VIEWPULSE_TOPIC_PREFIX: config.kafka.topicPrefix,
        VIEWPULSE_CLICKHOUSE_DATABASE: config.clickhouse.database,
        VIEWPULSE_PROCESSOR_SESSION_TIMEOUT_MS: '6000',
        VIEWPULSE_PROCESSOR_CHECKPOINT_MS: '1000',
        VIEWPULSE_LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

export async function kill9(i: Instance): Promise<void> {
  i.child.kill('SIGKILL');
  await i.exited;
}

/** Resolves once the instance logged that its processors run (signal handlers are in place by then). */
export async function started(i: Instance, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!i.output().includes('"msg":"processors running"')) {
    if (i.child.exitCode !== null || i.child.signalCode !== null)
      throw new Error(`the processor exited:\n${i.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`the processor did not start:\n${i.output().slice(-3000)}`);
    await sleep(100);
  }
}

export async function terminate(i: Instance): Promise<number | null> {
  i.child.kill('SIGTERM');
  return i.exited;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
