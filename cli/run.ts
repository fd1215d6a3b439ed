// `viewpulse run collector|processors|all`: the long-running parts of the pipeline.
import type { Command } from 'commander';
import { loadConfig } from '../lib/config.js';
import { runApi } from '../api/server.js';
import { runCollector } from '../api/collector/server.js';
import { parseOnly } from '../runtime/registry.js';
import { runWithRefresher } from './run-processors.js';
import { registerRunApi } from './run-api.js';
import { registerRunCollector } from './run-collector.js';
import { registerRunProcessors } from './run-processors.js';

export function registerRun(program: Command): void {
  const run = program
    .command('run')
    .description('run a part of the pipeline in the foreground (Ctrl-C stops it cleanly)');
  registerRunCollector(run);
  registerRunProcessors(run);
  registerRunApi(run);
  run
    .command('all')
    .description('the collector, every processor and the insights API in one process')
    .action(async () => {
      const config = loadConfig();
      let stopAll = async (): Promise<void> => undefined;
      const processors = await runWithRefresher(parseOnly(undefined), {
        config,
        refresher: true,
        metricsPort: Number(process.env.VIEWPULSE_PROCESSORS_PORT ?? 9464),
        // as `run processors`: a processor that gave up ends the process with exit code 1
        onFailed: (name, err) => {
          console.error(`viewpulse run all: ${name} failed: ${err.message}`);
          void stopAll().finally(() => process.exit(1));
        },
      });
      stopAll = () => processors.stop();
      const collector = await runCollector(config);
      const api = await runApi(config);
      stopAll = async () => {
        await Promise.all([api.close(), collector.close(), processors.stop()]);
      };
      console.error(
        `collector on ${collector.url}; API and dashboard on ${api.url}; processors: ${processors.runners.map((r) => r.name).join(', ')}`,
      );
      const shutdown = (): void => {
        void stopAll().then(() => process.exit(0));
      };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
    });
}
