// Per-partition event-time watermark: the highest event time seen minus the allowed
// out-of-orderness. It never moves backwards, and depends only on the records seen, so a
// replay from a checkpoint reproduces it exactly.

export class Watermark {
  private maxEventTime = Number.NEGATIVE_INFINITY;

  constructor(readonly outOfOrdernessMs: number) {
    if (!Number.isSafeInteger(outOfOrdernessMs) || outOfOrdernessMs < 0) {
      throw new RangeError('out-of-orderness must be ≥ 0 ms');
    }
  }

  /** Takes an event time into account; returns true when the watermark moved. */
  observe(eventTime: number): boolean {
    if (eventTime <= this.maxEventTime) return false;
    this.maxEventTime = eventTime;
    return true;
  }

  /** -Infinity until the first event. */
  get current(): number {
    return this.maxEventTime - this.outOfOrdernessMs;
  }

  get maxSeen(): number {
    return this.maxEventTime;
  }

  toJSON(): { maxEventTime: number | null } {
    return { maxEventTime: Number.isFinite(this.maxEventTime) ? this.maxEventTime : null };
  }

  static fromJSON(outOfOrdernessMs: number, json: { maxEventTime: number | null } | undefined): Watermark {
    const w = new Watermark(outOfOrdernessMs);
    if (json?.maxEventTime != null) w.maxEventTime = json.maxEventTime;
    return w;
  }
}
