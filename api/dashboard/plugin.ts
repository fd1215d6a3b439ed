// The creator dashboard: one static page (api/dashboard/public/) served by the insights API
// itself, so it works from the API process alone — no build step, no second server.
//
//   GET /                      index.html
//   GET /dashboard/<file>      the page's ES modules and CSS (api/dashboard/public/)
//   GET /dashboard/vendor/uplot.js, uplot.css   uPlot from node_modules (minified, as an ES module)
//
// Files are read once at registration and answered from memory: gzip when the client takes
// it, a strong ETag and `Cache-Control: no-cache` (the browser revalidates and gets a 304),
// and a Content-Security-Policy that allows only this origin. The page itself is public; the
// data comes from the JSON API with the bearer token the user pastes.
//
//   runApi(config)                                      // api/server.ts always serves it
//   buildApp({ ..., plugins: [dashboardPlugin] })       // at the root, outside /v1's auth
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { problem, sendProblem } from '../problem.js';

export interface DashboardOptions {
  /** Directory of the page's files (default: api/dashboard/public next to this file). */
  root?: string;
}

interface Asset {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
};

/** Only this origin; uPlot draws on canvas and styles through the CSSOM, which CSP allows. */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

export const DEFAULT_DASHBOARD_ROOT = fileURLToPath(new URL('./public/', import.meta.url));

function asset(body: Buffer, type: string): Asset {
  const compressible = /^(text\/|image\/svg)/.test(type) && body.length > 512;
  return {
    body,
    gzip: compressible ? gzipSync(body, { level: 9 }) : undefined,
    type,
    etag: `"${createHash('sha1').update(body).digest('base64url').slice(0, 27)}"`,
  };
}

/** uPlot's minified IIFE build turned into an ES module (`export default uPlot`); else its ESM build. */
function uplotAssets(): { js: Asset; css: Asset } {
  const require = createRequire(import.meta.url);
  const iife = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const js = /^(\/\*[^]*?\*\/\s*)?var uPlot=/.test(iife)
    ? `${iife}\nexport default uPlot;\n`
    : readFileSync(require.resolve('uplot/dist/uPlot.esm.js'), 'utf8');
  return {
    js: asset(Buffer.from(js), TYPES['.js']!),
    css: asset(readFileSync(require.resolve('uplot/dist/uPlot.min.css')), TYPES['.css']!),
  };
}

/** Every regular file directly in `root` with a known type, by name. */
function readAssets(root: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const type = TYPES[extname(entry.name)];
    if (entry.isFile() && type) out.set(entry.name, asset(readFileSync(join(root, entry.name)), type));
  }
  return out;
}

function send(request: FastifyRequest, reply: FastifyReply, a: Asset): FastifyReply {
  reply
    .header('content-type', a.type)
    .header('cache-control', 'no-cache')
    .header('etag', a.etag)
    .header('vary', 'accept-encoding')
    .header('x-content-type-options', 'nosniff');
  if (a.type.startsWith('text/html')) {
    reply
      .header('content-security-policy', DASHBOARD_CSP)
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY');
  }
  const match = request.headers['if-none-match'];
  if (match && match.split(',').some((t) => t.trim().replace(/^W\//, '') === a.etag)) {
    return reply.code(304).send();
  }
  const accepts = String(request.headers['accept-encoding'] ?? '');
  if (a.gzip && /\bgzip\b/.test(accepts)) return reply.header('content-encoding', 'gzip').send(a.gzip);
  return reply.send(a.body);
}

export const dashboardPlugin: FastifyPluginAsync<DashboardOptions> = async (app, options) => {
  const files = readAssets(options.root ?? DEFAULT_DASHBOARD_ROOT);
  const index = files.get('index.html');
  if (!index) throw new Error(`dashboard: no index.html in ${options.root ?? DEFAULT_DASHBOARD_ROOT}`);
  const uplot = uplotAssets();
  files.set('vendor/uplot.js', uplot.js);
  files.set('vendor/uplot.css', uplot.css);

  const notFound = (reply: FastifyReply): FastifyReply =>
    sendProblem(reply, problem('not_found', 'no such dashboard file'));

  const hide = { schema: { hide: true } };
  app.get('/', hide, (request, reply) => send(request, reply, index));
  app.get('/dashboard', hide, (_request, reply) => reply.redirect('/', 302));
  app.get('/dashboard/', hide, (request, reply) => send(request, reply, index));
  app.get<{ Params: { file: string } }>('/dashboard/:file', hide, (request, reply) => {
    const a = files.get(request.params.file);
    return a ? send(request, reply, a) : notFound(reply);
  });
  app.get<{ Params: { file: string } }>('/dashboard/vendor/:file', hide, (request, reply) => {
    const a = files.get(`vendor/${request.params.file}`);
    return a ? send(request, reply, a) : notFound(reply);
  });
};
