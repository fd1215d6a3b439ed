// Every benchmark writes bench/results/<name>.json in one shape: { command, measured_at,
// machine, setup, figures }.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? 'unknown',
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node_version: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

export function writeResults(name: string, command: string, setup: object, figures: object): string {
  const file = new URL(`./results/${name}.json`, import.meta.url);
  mkdirSync(new URL('.', file), { recursive: true });
  const body = { command, measured_at: new Date().toISOString(), machine: machine(), setup, figures };
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  return fileURLToPath(file);
}

export const percentile = (sorted: readonly number[], p: number): number =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;
