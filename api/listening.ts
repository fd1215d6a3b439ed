// What a started HTTP surface hands back (the insights API, the collector): the URL it listens
// on and a close() that stops it once, however often it is called.
import type { FastifyInstance } from 'fastify';

export interface Listening {
  url: string;
  close(): Promise<void>;
}

/** After `app.listen()`: the URL (the real port when 0 asked for a free one) and a once-only close. */
export function listening(
  app: FastifyInstance,
  host: string,
  configuredPort: number,
  stop: () => Promise<void>,
): Listening {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : configuredPort;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let closing: Promise<void> | undefined;
  return { url, close: () => (closing ??= stop()) };
}
