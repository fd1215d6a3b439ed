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

export async function finality(db: FinalityDb): Promise<Finality> {
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
