// `viewpulse run processors [--only name,...]`: the stream processors (runtime/start.ts) in the
// foreground, with Prometheus metrics and a health endpoint.
import type { Command } from 'commander';
import { parseOnly, PROCESSORS } from '../runtime/registry.js';
import { runProcessors } from '../runtime/start.js';

export function registerRunProcessors(run: Command): void {
  run
    .command('processors')
    .description(
      'run the stream processors (all, or --only some); SIGTERM/SIGINT flushes, commits and leaves the group',
    )
    .option('--only <names>', `comma-separated: ${Object.keys(PROCESSORS).join(', ')}`)
    .option(
      '--metrics-port <port>',
      'Prometheus /metrics, /healthz (503 when a processor failed or is stuck) and /readyz (503 unless all run) on 127.0.0.1 (-1 to disable)',
      process.env.VIEWPULSE_PROCESSORS_PORT ?? '9464',
    )
    .action(async (opts: { only?: string; metricsPort: string }) => {
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
      const starting = runProcessors(parseOnly(opts.only), { metricsPort: Number(opts.metricsPort), onFailed: failed });
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
