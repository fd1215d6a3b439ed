// `viewpulse run collector`: the HTTP collector (api/collector/server.ts), in the foreground.
import type { Command } from 'commander';
import { COLLECTOR_ENV } from '../api/collector/options.js';
import { runCollector } from '../api/collector/server.js';
import { ConfigError, loadConfig } from '../lib/config.js';
import { parsePort, stopOnSignal } from './foreground.js';

/** Adds `collector` to the `run` command. */
export function registerRunCollector(run: Command): void {
  run
    .command('collector')
    .description('run the HTTP collector: POST /v1/events → Avro → Kafka (play-events)')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (default VIEWPULSE_COLLECTOR_PORT, 3001)')
    .addHelpText(
      'after',
      [
        '',
        'Configuration (environment): VIEWPULSE_COLLECTOR_PORT, VIEWPULSE_WRITE_KEYS (comma-separated),',
        'VIEWPULSE_KAFKA_BROKERS, VIEWPULSE_REGISTRY_URL, VIEWPULSE_TOPIC_PREFIX, VIEWPULSE_LOG_LEVEL, and:',
        ...Object.entries(COLLECTOR_ENV).map(([k, v]) => `  ${k}: ${v}`),
        '',
        'Endpoints: POST /v1/events (header X-Write-Key), GET /healthz, GET /readyz, GET /metrics',
      ].join('\n'),
    )
    .action(async (opts: { host: string; port?: string }) => {
      try {
        const port = parsePort(opts.port);
        const collector = await runCollector(loadConfig(), { host: opts.host, port });
        console.error(`viewpulse collector listening on ${collector.url} (Ctrl-C stops it)`);
        await stopOnSignal(() => collector.close());
      } catch (err) {
        console.error(err instanceof ConfigError ? `viewpulse: ${err.message}` : err);
        process.exitCode = 1;
      }
    });
}
