// Pumps generated deliveries into a sink, at a given rate or as fast as the sink takes them.
import type { Traffic } from './index.js';
import type { Sink } from './sinks.js';

export interface PumpOptions {
  /** Deliveries per second; 0 = as fast as possible. */
  rate: number;
  /**
   * Deliver each record when the clock reaches its simulated delivery time (traffic generated
   * with `start` near now arrives as it happens: live traffic). Overrides `rate`.
   */
  realtime?: boolean;
  /** Called at most every `progressEveryMs` and once at the end. */
  onProgress?: (delivered: number, elapsedMs: number) => void;
  progressEveryMs?: number;
  /** Stops early (the truth is then not complete). */
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface PumpResult {
  delivered: number;
  elapsedMs: number;
  /** False when stopped by the signal. */
  complete: boolean;
}

export async function pump(traffic: Traffic, sink: Sink, options: PumpOptions): Promise<PumpResult> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const every = options.progressEveryMs ?? 200;
  const t0 = now();
  let delivered = 0;
  let lastProgress = t0;
  let complete = true;
  for await (const d of traffic.deliveries()) {
    if (options.signal?.aborted) {
      complete = false;
      break;
    }
    if (options.realtime) {
      const ahead = d.deliverAt - now();
      if (ahead >= 5) await sleep(ahead);
    } else if (options.rate > 0) {
      const due = t0 + (delivered / options.rate) * 1000;
      const ahead = due - now();
      if (ahead >= 5) await sleep(ahead);
    }
    await sink.write(d);
    delivered++;
    if (options.onProgress && (options.realtime || (delivered & 255) === 0)) {
      const t = now();
      if (t - lastProgress >= every) {
        lastProgress = t;
        options.onProgress(delivered, t - t0);
      }
    }
  }
  await sink.close();
  const elapsedMs = now() - t0;
  options.onProgress?.(delivered, elapsedMs);
  return { delivered, elapsedMs, complete };
}
