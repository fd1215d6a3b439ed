// `viewpulse run api`: the creator insights API on ClickHouse (api/server.ts), in the foreground.
import type { Command } from 'commander';
import { API_ENV, runApi } from '../api/server.js';
import { ConfigError, loadConfig } from '../lib/config.js';
import { parsePort, stopOnSignal } from './foreground.js';

/** Adds `api` to the `run` command. */
export function registerRunApi(run: Command): void {
  run
    .command('api')
    .description('run the creator insights API and its dashboard: /v1/creators/..., /v1/videos/..., OpenAPI at /docs')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (default VIEWPULSE_API_PORT, 3000)')
    .addHelpText(
      'after',
      [
        '',
        'Configuration (environment): VIEWPULSE_API_PORT, VIEWPULSE_JWT_SECRET (HS256 secret of the bearer tokens),',
        'VIEWPULSE_CLICKHOUSE_URL, _DATABASE, _USER, _PASSWORD, VIEWPULSE_LOG_LEVEL, and:',
        ...Object.entries(API_ENV).map(([k, v]) => `  ${k}: ${v}`),
        '',
        'Endpoints: GET /v1/creators/:id/{overview,timeseries,realtime,videos,audience,audience/also-watched,health},',
        'GET /v1/videos/:id/{stats,retention,breakdown,traffic,recommendations}, the dashboard at /, /docs (OpenAPI),',
        '/healthz, /readyz, /metrics.',
        'Tokens: npx viewpulse token --creator <id> [--admin] [--ttl 1h]',
      ].join('\n'),
    )
    .action(async (opts: { host: string; port?: string }) => {
      try {
        const port = parsePort(opts.port);
        const api = await runApi(loadConfig(), { host: opts.host, port });
        console.error(`viewpulse insights API on ${api.url} (docs: ${api.url}/docs; Ctrl-C stops it)`);
        await stopOnSignal(() => api.close());
      } catch (err) {
        console.error(err instanceof ConfigError ? `viewpulse: ${err.message}` : err);
        process.exitCode = 1;
      }
    });
}
