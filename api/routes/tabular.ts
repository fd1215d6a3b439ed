// Content negotiation of tabular routes: JSON, or CSV with Accept: text/csv or format=csv.
import { type Cell, CSV_CONTENT_TYPE, toCsv } from '../csv.js';
import type { FastifyReply, FastifyRequest } from 'fastify';

// ---------------------------------------------------------------------------- formats

/** CSV when ?format=csv, or when Accept prefers text/csv over JSON; JSON otherwise. */
export function wantsCsv(request: FastifyRequest): boolean {
  const format = (request.query as { format?: string } | undefined)?.format;
  if (format) return format === 'csv';
  const accept = request.headers.accept;
  if (!accept) return false;
  let best: { type: string; q: number } | undefined;
  for (const part of accept.split(',').slice(0, 20)) {
    const [type = '', ...params] = part.trim().toLowerCase().split(';');
    const qp = params.map((s) => s.trim()).find((s) => s.startsWith('q='));
    const q = qp ? Number(qp.slice(2)) : 1;
    if (!(q > 0)) continue;
    if (type !== 'text/csv' && type !== 'application/json' && type !== 'application/*' && type !== '*/*') continue;
    if (!best || q > best.q) best = { type, q };
  }
  return best?.type === 'text/csv';
}

/** JSON `body`, or the CSV table when the client asked for CSV. */
export function sendTabular(
  request: FastifyRequest,
  reply: FastifyReply,
  body: unknown,
  table: () => { columns: string[]; rows: Cell[][]; name: string },
): FastifyReply | unknown {
  if (!wantsCsv(request)) return body;
  const t = table();
  return reply
    .type(CSV_CONTENT_TYPE)
    .header('content-disposition', `inline; filename="${t.name}.csv"`)
    .send(toCsv(t.columns, t.rows));
}
