// How far the read models are final: the watermarks the processors wrote.
import { type FinalityDb, num, rows, table } from './db.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { ENGAGEMENT, finalizedThrough, VIEW_COUNTS } from '../../processors/semantics.js';

// ---------------------------------------------------------------------------- finality

export interface Finality {
  /**
   * Counts (view_counts) are final up to here: the lowest view-counts watermark over its input
   * partitions, minus the window grace. Null before the processor wrote any.
   */
  counts: number | null;
  /** The engagement processor (sessions, uniq states) has seen every partition up to here. */
  engagement: number | null;
}

/** How long one read of the watermarks answers every request (a shared read, at most this stale). */
export const FINALITY_TTL_MS = 250;

const recent = new WeakMap<object, Map<string, { at: number; value: Promise<Finality> }>>();

/**
 * The finality, read at most every FINALITY_TTL_MS per ClickHouse client and database and shared
 * by the requests in between: one query fewer per request under load. A slightly older
 * watermark only makes fewer ranges final, never more.
 */
export function finality(db: FinalityDb): Promise<Finality> {
  const now = performance.now();
  let byDb = recent.get(db.clickhouse);
  if (!byDb) recent.set(db.clickhouse, (byDb = new Map()));
  const key = `${db.database}/${db.windowGraceMs}`;
  const last = byDb.get(key);
  if (last && now - last.at < FINALITY_TTL_MS) return last.value;
  const value = readFinality(db);
  byDb.set(key, { at: now, value });
  value.catch(() => byDb.delete(key));
  return value;
}

async function readFinality(db: FinalityDb): Promise<Finality> {
  const r = await rows<{ processor: string; wm: number | string }>(
    db,
    sql`SELECT processor, toUInt32(min(watermark)) AS wm
        FROM ${table(db, 'watermarks')} FINAL
        WHERE processor IN ${v.inList([VIEW_COUNTS, ENGAGEMENT], 'String')}
        GROUP BY processor`,
  );
  const wm = (name: string): number | null => {
    const x = r.find((row) => row.processor === name);
    return x ? num(x.wm) * 1000 : null;
  };
  const counts = wm(VIEW_COUNTS);
  return { counts: counts === null ? null : finalizedThrough(counts, db.windowGraceMs), engagement: wm(ENGAGEMENT) };
}
