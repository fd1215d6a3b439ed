// Data health for a creator: how fresh the numbers are (processor watermarks), how far they
// are final, the late events of the creator's videos (applied as deltas, or set aside) and
// the records of its videos the processors refused (dead letters, with their codes).
import { sql, v } from '../../lib/clickhouse/sql.js';
import { maxOf } from '../../lib/arrays.js';
import { finalizedThrough, VIEW_COUNTS } from '../../processors/semantics.js';
import { creatorVideoIds } from './video-catalog.js';
import { num, rows, table, type FinalityDb } from './db.js';
import { iso, type Range } from './range.js';

export interface ProcessorWatermark {
  processor: string;
  partitions: number;
  oldest_watermark: string;
  newest_watermark: string;
}

export interface LateEvents {
  processor: string;
  applied: number;
  set_aside: number;
  worst_lateness_ms: number;
}

export interface DeadLetters {
  /** distinct input records of the creator's videos that some processor dead-lettered */
  records: number;
  by_code: Array<{ code: string; records: number }>;
  /** records no processor could decode, so no video is known: pipeline-wide */
  undecodable_records: number;
}

export interface Health {
  now: string;
  newest_watermark: string | null;
  freshness_seconds: number | null;
  finalized_through: string | null;
  processors: ProcessorWatermark[];
  late_events: { applied: number; set_aside: number; by_processor: LateEvents[] };
  dead_letters: DeadLetters;
}

export async function health(db: FinalityDb, creatorId: string, range: Range, now: number): Promise<Health> {
  const inRange = sql`record_time >= ${v.dateTime(range.from)} AND record_time < ${v.dateTime(range.to)}`;
  const [wms, late, dead] = await Promise.all([
    rows<{ processor: string; partitions: string; lo: number; hi: number }>(
      db,
      sql`SELECT processor, count() AS partitions, toUInt32(min(watermark)) AS lo, toUInt32(max(watermark)) AS hi
          FROM ${table(db, 'watermarks')} FINAL
          GROUP BY processor
          ORDER BY processor`,
    ),
    rows<{ processor: string; applied: number; n: string; worst: string }>(
      db,
      sql`SELECT processor, applied, count() AS n, max(lateness_ms) AS worst
          FROM ${table(db, 'lateEvents')} FINAL
          WHERE video_id IN ${creatorVideoIds(db, creatorId)}
            AND event_time >= ${v.dateTime(range.from)} AND event_time < ${v.dateTime(range.to)}
          GROUP BY processor, applied
          ORDER BY processor, applied`,
    ),
    // Dead letters in one read: per record (a row per refusing stage) its codes, then per
    // (undecodable, code) the records — with '' standing for "any code" (a real code is never
    // empty: VP_ERR_…), so the record counts come with the counts per code.
    rows<{ undecodable: number; code: string; n: string }>(
      db,
      sql`SELECT undecodable, arrayJoin(arrayPushFront(codes, '')) AS code, count() AS n
          FROM
          (
              SELECT source_topic, kafka_partition, kafka_offset, video_id = '' AS undecodable,
                     groupUniqArray(code) AS codes
              FROM ${table(db, 'deadLetters')} FINAL
              WHERE (video_id = '' OR video_id IN ${creatorVideoIds(db, creatorId)}) AND ${inRange}
              GROUP BY source_topic, kafka_partition, kafka_offset, undecodable
          )
          GROUP BY undecodable, code`,
    ),
  ]);
  const processors = wms.map((w) => ({
    processor: w.processor,
    partitions: num(w.partitions),
    oldest_watermark: iso(num(w.lo) * 1000),
    newest_watermark: iso(num(w.hi) * 1000),
  }));
  const counts = wms.find((w) => w.processor === VIEW_COUNTS);
  const finalized = counts ? finalizedThrough(num(counts.lo) * 1000, db.windowGraceMs) : null;
  const newest = wms.length ? maxOf(wms.map((w) => num(w.hi) * 1000)) : null;
  const byProcessor = new Map<string, LateEvents>();
  for (const r of late) {
    const e = byProcessor.get(r.processor) ?? {
      processor: r.processor,
      applied: 0,
      set_aside: 0,
      worst_lateness_ms: 0,
    };
    if (num(r.applied) === 1) e.applied += num(r.n);
    else e.set_aside += num(r.n);
    e.worst_lateness_ms = Math.max(e.worst_lateness_ms, num(r.worst));
    byProcessor.set(r.processor, e);
  }
  const list = [...byProcessor.values()];
  return {
    now: iso(now),
    newest_watermark: newest === null ? null : iso(newest),
    freshness_seconds: newest === null ? null : Math.round((now - newest) / 1000),
    finalized_through: finalized === null ? null : iso(finalized),
    processors,
    late_events: {
      applied: list.reduce((s, e) => s + e.applied, 0),
      set_aside: list.reduce((s, e) => s + e.set_aside, 0),
      by_processor: list,
    },
    dead_letters: {
      records: num(dead.find((r) => num(r.undecodable) === 0 && r.code === '')?.n),
      by_code: dead
        .filter((r) => num(r.undecodable) === 0 && r.code !== '')
        .map((r) => ({ code: r.code, records: num(r.n) }))
        .sort((a, b) => b.records - a.records || (a.code < b.code ? -1 : 1)),
      undecodable_records: num(dead.find((r) => num(r.undecodable) === 1 && r.code === '')?.n),
    },
  };
}
