// An HTTP proxy in front of ClickHouse that records the SELECTs passing through: how
// `bench:api` and `viewpulse sql compat` learn the exact SQL text each API route sends.
import { createServer, request as httpRequest, Agent, type IncomingHttpHeaders, type Server } from 'node:http';

export interface Captured {
  query: string;
  settings: Record<string, string>;
  start: number;
  end: number;
}

export interface RecordingProxy {
  url: string;
  records: Captured[];
  server: Server;
}

export async function recordingProxy(target: string): Promise<RecordingProxy> {
  const records: Captured[] = [];
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    const start = performance.now();
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
      const out = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          up.on('end', () => {
            const u = new URL(req.url ?? '/', 'http://x');
            const text = (u.searchParams.get('query') ?? '') + body.toString('utf8');
            if (/^\s*(SELECT|WITH)\b/i.test(text)) {
              const settings: Record<string, string> = {};
              for (const [k, val] of u.searchParams) {
                if (!['query', 'query_id', 'database', 'user', 'password', 'session_id'].includes(k)) settings[k] = val;
              }
              records.push({ query: text, settings, start, end: performance.now() });
            }
          });
        },
      );
      out.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      out.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  server.on('close', () => agent.destroy());
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, records, server };
}
