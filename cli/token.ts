// `viewpulse token --creator ID [--admin] [--ttl 1h]`: prints a bearer token for the insights
// API, signed with VIEWPULSE_JWT_SECRET.
import type { Command } from 'commander';
import { ID_PATTERN, signToken } from '../api/auth.js';
import { ConfigError, loadConfig } from '../lib/config.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const MAX_TTL_SECONDS = 366 * 86_400;

/** "90s", "15m", "1h", "7d" or a number of seconds → seconds. */
export function parseTtl(text: string): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (!m) throw new ConfigError('--ttl', `expected a duration such as 90s, 15m, 1h or 7d, got "${text}"`);
  const seconds = Number(m[1]) * UNITS[m[2] || 's']!;
  if (seconds < 1 || seconds > MAX_TTL_SECONDS) throw new ConfigError('--ttl', 'expected 1 s .. 366 days');
  return seconds;
}

export function registerToken(program: Command): void {
  program
    .command('token')
    .description('print a bearer token (JWT, HS256) for the creator insights API')
    .option('--creator <id>', 'the creator the token reads (its sub)')
    .option('--admin', 'an admin token: reads every creator and video')
    .option('--ttl <duration>', 'lifetime: 90s, 15m, 1h, 7d', '1h')
    .addHelpText(
      'after',
      [
        '',
        'Signed with VIEWPULSE_JWT_SECRET (the API must use the same). Example:',
        '  curl -H "Authorization: Bearer $(npx viewpulse token --creator c1)" http://127.0.0.1:3000/v1/creators/c1/overview',
      ].join('\n'),
    )
    .action(async (opts: { creator?: string; admin?: boolean; ttl: string }) => {
      try {
        const sub = opts.creator ?? (opts.admin ? 'admin' : undefined);
        if (sub === undefined) throw new ConfigError('--creator', 'give the creator id (or --admin)');
        if (!new RegExp(ID_PATTERN).test(sub))
          throw new ConfigError('--creator', 'letters, digits and . _ : @ -, at most 128 characters');
        const token = await signToken({
          secret: loadConfig().api.jwtSecret,
          sub,
          role: opts.admin ? 'admin' : 'creator',
          ttlSeconds: parseTtl(opts.ttl),
        });
        console.log(token);
      } catch (err) {
        console.error(err instanceof ConfigError ? `viewpulse: ${err.message}` : err);
        process.exitCode = 1;
      }
    });
}
