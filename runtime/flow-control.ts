// Backpressure as one explicit state: consumption is `flowing`, or `paused` because ClickHouse
// did not answer, with when to ask it again and the backoff. Transitions:
//
//   flowing ──pause(err)──> paused (retry in 500 ms)           hooks.paused(err): stop fetching
//   paused  ──pause(err)──> paused (retry in the current backoff)
//   paused  ──probeFailed──> paused (backoff doubled, up to 10 s)
//   paused  ──acknowledged──> flowing                         hooks.resumed(): fetch again
//   any     ──reset──> flowing                                 a crash: the paused consumer is gone
//
// The runner pauses when a write, the checkpoint or the catalog fails retriably; its timer asks
// ClickHouse (a ping) when retryDue(), flushes, and the flush's success resumes.

export const FIRST_RETRY_MS = 500;
export const MAX_RETRY_MS = 10_000;

export type Flow =
  { readonly mode: 'flowing' } | { readonly mode: 'paused'; readonly retryAt: number; readonly backoffMs: number };

const FLOWING: Flow = Object.freeze({ mode: 'flowing' });

export interface FlowHooks {
  now(): number;
  /** Entered `paused`: stop fetching. */
  paused(err: Error): void;
  /** Back to `flowing` after an acknowledged flush: fetch again. */
  resumed(): void;
}

export class FlowControl {
  private flow: Flow = FLOWING;

  constructor(private readonly hooks: FlowHooks) {}

  get state(): Flow {
    return this.flow;
  }

  get paused(): boolean {
    return this.flow.mode === 'paused';
  }

  /** The sink is unavailable: pause, or, already paused, put the next retry one backoff away. */
  pause(err: Error): void {
    const now = this.hooks.now();
    if (this.flow.mode === 'paused') {
      this.flow = { ...this.flow, retryAt: now + this.flow.backoffMs };
      return;
    }
    this.flow = { mode: 'paused', retryAt: now + FIRST_RETRY_MS, backoffMs: FIRST_RETRY_MS };
    this.hooks.paused(err);
  }

  /** Paused, and the time to ask the sink again has come. */
  retryDue(): boolean {
    return this.flow.mode === 'paused' && this.hooks.now() >= this.flow.retryAt;
  }

  /** Asked while paused, the sink still does not answer: wait twice as long. */
  probeFailed(): void {
    if (this.flow.mode !== 'paused') return;
    const backoffMs = Math.min(MAX_RETRY_MS, this.flow.backoffMs * 2);
    this.flow = { mode: 'paused', retryAt: this.hooks.now() + backoffMs, backoffMs };
  }

  /** A flush was acknowledged: resume if paused. */
  acknowledged(): void {
    if (this.flow.mode !== 'paused') return;
    this.flow = FLOWING;
    this.hooks.resumed();
  }

  /** A crash dropped the consumer (and its paused partitions): its successor starts flowing. */
  reset(): void {
    this.flow = FLOWING;
  }
}
