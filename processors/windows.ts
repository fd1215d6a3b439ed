// Event-time windows as small immutable values, like Kafka Streams' TimeWindows.
//
// Every window is half-open, [start, end), and epoch-aligned: starts are whole multiples of
// the advance (for tumbling windows, of the size) counted from 1970-01-01T00:00:00Z. A
// window is *closed* — its result final — once the watermark reaches end + grace; before
// that it may still change.

export interface Window {
  readonly start: number;
  readonly end: number;
}

const floorTo = (t: number, step: number): number => Math.floor(t / step) * step;

function positiveInteger(name: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || ms <= 0)
    throw new RangeError(`${name} must be a positive whole number of ms, got ${ms}`);
}

export class TimeWindows {
  private constructor(
    readonly sizeMs: number,
    readonly advanceMs: number,
    readonly graceMs: number,
  ) {
    positiveInteger('size', sizeMs);
    positiveInteger('advance', advanceMs);
    if (advanceMs > sizeMs) throw new RangeError('advance must not exceed size (windows would leave gaps)');
    if (!Number.isSafeInteger(graceMs) || graceMs < 0) throw new RangeError('grace must be ≥ 0 ms');
  }

  /** Non-overlapping windows of `sizeMs`: every instant belongs to exactly one. */
  static tumbling(sizeMs: number): TimeWindows {
    return new TimeWindows(sizeMs, sizeMs, 0);
  }

  /** Overlapping windows of `sizeMs` starting every `advanceMs`: an instant belongs to size/advance of them. */
  static hopping(sizeMs: number, advanceMs: number): TimeWindows {
    return new TimeWindows(sizeMs, advanceMs, 0);
  }

  /** The same windows, accepting out-of-order events for `graceMs` after a window's end. */
  grace(graceMs: number): TimeWindows {
    return new TimeWindows(this.sizeMs, this.advanceMs, graceMs);
  }

  /** All windows containing `t`, earliest start first. */
  windowsFor(t: number): Window[] {
    const out: Window[] = [];
    const lastStart = floorTo(t, this.advanceMs);
    for (let start = lastStart; start > t - this.sizeMs; start -= this.advanceMs) {
      out.unshift({ start, end: start + this.sizeMs });
    }
    return out;
  }

  /** The one window containing `t` (tumbling windows only). */
  windowFor(t: number): Window {
    const start = this.startFor(t);
    return { start, end: start + this.sizeMs };
  }

  /** The start of the one window containing `t` (tumbling windows only): windowFor() without an object. */
  startFor(t: number): number {
    if (this.advanceMs !== this.sizeMs) throw new Error('windowFor() is for tumbling windows; use windowsFor()');
    return floorTo(t, this.sizeMs);
  }

  /** The watermark at which `w` becomes final. */
  closesAt(w: Window): number {
    return w.end + this.graceMs;
  }

  isClosed(w: Window, watermark: number): boolean {
    return watermark >= this.closesAt(w);
  }
}

/**
 * Session windows: activity separated by less than `gapMs` belongs to one session, whose
 * window is [first event, last event + gap). A session is closed once the watermark
 * reaches its end + grace; a later event then starts a new session.
 */
export class SessionWindows {
  private constructor(
    readonly gapMs: number,
    readonly graceMs: number,
  ) {
    positiveInteger('gap', gapMs);
    if (!Number.isSafeInteger(graceMs) || graceMs < 0) throw new RangeError('grace must be ≥ 0 ms');
  }

  static withInactivityGap(gapMs: number): SessionWindows {
    return new SessionWindows(gapMs, 0);
  }

  grace(graceMs: number): SessionWindows {
    return new SessionWindows(this.gapMs, graceMs);
  }

  /** The window of a session whose events span [first, last]. */
  windowOf(first: number, last: number): Window {
    return { start: first, end: last + this.gapMs };
  }

  /** True when an event at `t` belongs to the session spanning [first, last]. */
  joins(t: number, first: number, last: number): boolean {
    return t > first - this.gapMs && t < last + this.gapMs;
  }

  /** The watermark at which the session spanning [first, last] closes: its end + grace. */
  closesAt(first: number, last: number): number {
    return this.windowOf(first, last).end + this.graceMs;
  }

  isClosed(first: number, last: number, watermark: number): boolean {
    return watermark >= this.closesAt(first, last);
  }
}
