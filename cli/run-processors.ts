// `viewpulse run processors [--only name,...] [--workers N]`: the stream processors
// (runtime/start.ts) in the foreground, with Prometheus metrics and a health endpoint; with
// --workers N, N worker processes of it under one parent (runtime/workers.ts).
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { createClickHouse } from '../lib/clickhouse/client.js';
import { RelatedRefresher } from '../api/related-refresher.js';
import { parseOnly, PROCESSORS } from '../runtime/registry.js';
import { runProcessors, type RunningProcessors } from '../runtime/start.js';
import { answerParent, runWorkers, workerIndex } from '../runtime/workers.js';

/**
 * runProcessors, and with the recommendations processor the refresher of the materialized
 * recommendations (api/related-refresher.ts) beside it — in one process only (worker 0).
 */
export async function runWithRefresher(
  names: ReturnType<typeof parseOnly>,
  options: Parameters<typeof runProcessors>[1] & { refresher: boolean },
): Promise<RunningProcessors> {
  const { refresher: wanted, ...rest } = options;
  const running = await runProcessors(names, rest);
  if (!wanted || !names.includes('recommendations')) return running;
  const config = rest.config ?? loadConfig();
  const clickhouse = createClickHouse(config.clickhouse);
  const refresher = new RelatedRefresher(
    { clickhouse, database: config.clickhouse.database },
    { logger: createLogger(config.logLevel) },
  );
  refresher.start();
  return {
    ...running,
    async stop() {
      await refresher.stop();
      await clickhouse.close();
      await running.stop();
    },
  };
}

/** `--workers` as a number of processes, 1..64. */
export function parseWorkers(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new ConfigError('--workers', `expected 1..64, got "${value}"`);
  return n;
}

export function registerRunProcessors(run: Command): void {
  run
    .command('processors')
    .description(
      'run the stream processors (all, or --only some; --workers N: in N processes); SIGTERM/SIGINT flushes, commits and leaves the group',
    )
    .option('--only <names>', `comma-separated: ${Object.keys(PROCESSORS).join(', ')}`)
    .option(
      '--metrics-port <port>',
      'Prometheus /metrics, /healthz (503 when a processor failed or is stuck) and /readyz (503 unless all run) on 127.0.0.1 (-1 to disable)',
      process.env.VIEWPULSE_PROCESSORS_PORT ?? '9464',
    )
    .option(
      '--workers <n>',
      'worker processes, each a member of every consumer group (partitions split across them); the parent serves ' +
        "all workers' health and metrics (label worker) on --metrics-port, forwards SIGTERM/SIGINT, and exits 1 " +
        'when a worker gives up or dies (after stopping the others); it does not respawn workers',
      '1',
    )
    .action(async (opts: { only?: string; metricsPort: string; workers: string }) => {
      let names: ReturnType<typeof parseOnly>;
      let count: number;
      try {
        names = parseOnly(opts.only);
        count = parseWorkers(opts.workers);
      } catch (err) {
        console.error(`viewpulse run processors: ${(err as Error).message}`);
        process.exit(1);
      }
      const worker = workerIndex();
      if (worker !== undefined) return runAsWorker(names, worker);
      if (count > 1) return runAsParent(names, count, opts);
      // Handlers go in before the consumers start: a SIGTERM during start-up (joining the group,
      // restoring checkpoints) waits for the start to finish, then stops cleanly with exit 0.
      // A processor that keeps crashing at one position stops the process with exit code 1 (after
      // the others flushed and committed), so a supervisor sees it instead of a live husk.
      const failed = (processor: string, err: Error): void => {
        console.error(`viewpulse run processors: ${processor} failed: ${err.message}`);
        void starting.then(
          (running) => running.stop().finally(() => process.exit(1)),
          () => process.exit(1),
        );
      };
      const starting = runWithRefresher(names, {
        metricsPort: Number(opts.metricsPort),
        onFailed: failed,
        refresher: true,
      });
      const shutdown = (): void => {
        void starting.then(
          (running) => running.stop().then(() => process.exit(0)),
          () => process.exit(1),
        );
      };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
      try {
        await starting;
      } catch (err) {
        console.error(`viewpulse run processors: ${(err as Error).message}`);
        process.exit(1);
      }
    });
}

/** The parent of --workers N: forks them, serves their health and metrics, forwards signals. */
async function runAsParent(
  names: readonly string[],
  count: number,
  opts: { only?: string; metricsPort: string },
): Promise<void> {
  const workers = await runWorkers({
    count,
    exec: process.argv[1]!,
    args: ['run', 'processors', ...(opts.only ? ['--only', opts.only] : []), '--metrics-port', '-1'],
    processors: names,
    metricsPort: Number(opts.metricsPort),
    logger: createLogger(),
  });
  const shutdown = (): void => void workers.stop();
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  const code = await workers.done;
  if (code !== 0) console.error('viewpulse run processors: a worker gave up or died; the others were stopped');
  process.exit(code);
}

/**
 * One worker of --workers N: the processors as in a single process, its metrics labelled with
 * its index, answering the parent over IPC. It stops on SIGTERM (the parent forwards SIGINT as
 * SIGTERM, so a Ctrl-C reaching the whole process group stops it once) or when the parent is gone.
 */
async function runAsWorker(names: ReturnType<typeof parseOnly>, index: number): Promise<void> {
  let stopping: Promise<never> | undefined;
  const stop = (code: number): Promise<never> =>
    (stopping ??= starting.then(
      (running) => running.stop().then(() => process.exit(code)),
      () => process.exit(1),
    ));
  const failed = (processor: string, err: Error): void => {
    console.error(`viewpulse run processors (worker ${index}): ${processor} failed: ${err.message}`);
    void stop(1);
  };
  const parent = answerParent({ onParentGone: () => void stop(0) });
  process.on('SIGINT', () => undefined);
  process.once('SIGTERM', () => void stop(0));
  const starting = runWithRefresher(names, {
    metricsPort: -1,
    onFailed: failed,
    metricLabels: { worker: String(index) },
    refresher: index === 0,
  });
  try {
    parent.started(await starting);
  } catch (err) {
    console.error(`viewpulse run processors (worker ${index}): ${(err as Error).message}`);
    process.exit(1);
  }
}
