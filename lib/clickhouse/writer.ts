// The batched ClickHouse writer: one INSERT per table per flush, JSONEachRow, retried with
// exponential backoff while ClickHouse is unreachable. It resolves only once ClickHouse has
// acknowledged the rows — the runtime commits Kafka offsets after that and never before.
import { ViewpulseError } from '../errors.js';
import type { ClickHouseClient } from './client.js';
import { v } from './sql.js';

export interface TableWrite {
  table: string;
  rows: readonly object[];
  /** Columns holding epoch milliseconds, written as DateTime (whole seconds). */
  times?: readonly string[];
}

export interface WriterOptions {
  /** First retry delay; doubles up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Give up (throw a retriable error) after this long; the caller decides what next. */
  giveUpAfterMs?: number;
  sleep?: (ms: number) => Promise<void>;
  onRetry?: (table: string, attempt: number, err: Error) => void;
}

/** Rewrites millisecond time columns as whole seconds, the form DateTime accepts. */
export function toClickHouseRows(rows: readonly object[], times: readonly string[] = []): object[] {
  if (times.length === 0) return rows as object[];
  return rows.map((row) => {
    const copy: Record<string, unknown> = { ...(row as Record<string, unknown>) };
    for (const c of times) {
      const ms = copy[c];
      if (typeof ms === 'number') copy[c] = Math.max(0, Math.floor(ms / 1000));
    }
    return copy;
  });
}

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ClickHouseWriter {
  private readonly opts: Required<Omit<WriterOptions, 'onRetry'>> & Pick<WriterOptions, 'onRetry'>;

  constructor(
    private readonly ch: ClickHouseClient,
    readonly database: string,
    options: WriterOptions = {},
  ) {
    v.ident(database);
    this.opts = { initialBackoffMs: 200, maxBackoffMs: 5_000, giveUpAfterMs: 30_000, sleep: realSleep, ...options };
  }

  async write(w: TableWrite): Promise<void> {
    if (w.rows.length === 0) return;
    v.ident(w.table);
    const values = toClickHouseRows(w.rows, w.times);
    const started = Date.now();
    let delay = this.opts.initialBackoffMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ch.insert({ table: `${this.database}.${w.table}`, values, format: 'JSONEachRow' });
        return;
      } catch (err) {
        const e = err as Error;
        // A rejected query (bad row) will not get better by retrying.
        if (/Code: (27|26|33|53|62|60|16|117)\b/.test(e.message)) {
          throw new ViewpulseError(
            'VP_ERR_CLICKHOUSE_REJECTED',
            e.message.slice(0, 500),
            { table: w.table },
            { cause: err },
          );
        }
        if (Date.now() - started > this.opts.giveUpAfterMs) {
          throw new ViewpulseError(
            'VP_ERR_CLICKHOUSE',
            `${w.table}: ${e.message.slice(0, 300)}`,
            { table: w.table },
            { cause: err },
          );
        }
        this.opts.onRetry?.(w.table, attempt, e);
        await this.opts.sleep(delay);
        delay = Math.min(this.opts.maxBackoffMs, delay * 2);
      }
    }
  }
}
