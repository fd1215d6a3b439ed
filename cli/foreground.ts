// What the long-running `viewpulse run …` commands share: the --port option's check, and
// running in the foreground until Ctrl-C (SIGINT) or SIGTERM.
import { ConfigError } from '../lib/config.js';

/** `--port` as a number, or undefined when not given (then the configured port applies). */
export function parsePort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('--port', `expected 0..65535, got "${value}"`);
  }
  return port;
}

/** Resolves after the first SIGINT or SIGTERM has run `stop` (a failed stop sets exit code 1). */
export function stopOnSignal(stop: () => Promise<unknown>): Promise<void> {
  return new Promise<void>((resolve) => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      void stop().then(
        () => resolve(),
        (err: unknown) => {
          console.error(err);
          process.exitCode = 1;
          resolve();
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
