// One processor of a running `run processors`, across generations (runtime/generations.ts).
// Normally it holds one runner for the whole run. When `viewpulse replay --swap` hands the
// processor over, the slot stops its runner gracefully (flush, commit, leave the group) as soon
// as the generation turns 'draining', waits, and starts a new runner as the replay's group (with
// the rules the rebuilt tables were built with) once it turns 'active'. The replay swaps the
// tables only after the old group has no members left, so the old runner's last rows land in
// the old tables and the new runner goes on from exactly where the rebuilt state stands: no gap,
// nothing counted twice.
import type { Logger } from '../lib/logger.js';
import type { Generation } from './generations.js';
import type { RunnerHealth, RunnerState } from './supervisor.js';

/** What the slot needs of a runner (runtime/runner.ts ProcessorRunner). */
export interface SlotRunner {
  readonly name: string;
  readonly state: RunnerState;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Leaves without flushing or committing anything more. */
  abandon(): Promise<void>;
  health(): RunnerHealth;
}

export class ProcessorSlot {
  private runner: SlotRunner | undefined;
  private generation = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** start() was called: until then, generations seen by the poll wait for it. */
  private begun = false;

  constructor(
    readonly name: string,
    /** A runner for a generation (undefined: the default group and the configured rules). */
    private readonly make: (g: Generation | undefined) => SlotRunner,
    private readonly log: Logger,
  ) {}

  /** starting while handing over: not ready, but alive. */
  get state(): RunnerState {
    return this.runner?.state ?? (this.stopped ? 'stopped' : 'starting');
  }

  /** The generation this slot runs (or waits in). */
  get current(): number {
    return this.generation;
  }

  health(): RunnerHealth {
    return (
      this.runner?.health() ?? { name: this.name, state: this.state, crashes: 0, lag: 0, stuck: false, partitions: [] }
    );
  }

  /** Starts as `g` says: its group when active, nothing yet while a replay drains it. */
  start(g: Generation | undefined): Promise<void> {
    return this.serial(async () => {
      this.begun = true;
      this.generation = g?.generation ?? 0;
      if (g?.state === 'draining') {
        this.log.warn({ processor: this.name, replay: g.replayId }, 'a replay is swapping this processor in: waiting');
        return;
      }
      await this.startRunner(g);
    });
  }

  /** A newer generation was seen: drain (stop) or take over as its group. */
  observe(g: Generation): Promise<void> {
    return this.serial(async () => {
      if (!this.begun || this.stopped || g.generation < this.generation) return;
      if (g.generation === this.generation && (g.state === 'draining' || this.runner)) return;
      this.generation = g.generation;
      if (this.runner) {
        const r = this.runner;
        this.runner = undefined;
        if (g.state === 'draining') {
          this.log.info({ processor: this.name, replay: g.replayId }, 'handing over to a replay: stopping');
          await r.stop();
        } else {
          // It missed the drain (it joined while the replay thought its group empty): its state
          // is not the rebuilt one, so nothing more of it may be written — leave as a crash does.
          this.log.warn({ processor: this.name, replay: g.replayId }, 'behind a hand-over: abandoning the old runner');
          await r.abandon();
        }
      }
      if (g.state === 'active') {
        this.log.info({ processor: this.name, group: g.groupId, rules: g.rules }, 'taking over the rebuilt state');
        await this.startRunner(g);
      }
    });
  }

  stop(): Promise<void> {
    return this.serial(async () => {
      this.stopped = true;
      const r = this.runner;
      this.runner = undefined;
      await r?.stop();
    });
  }

  private async startRunner(g: Generation | undefined): Promise<void> {
    const r = this.make(g);
    this.runner = r;
    await r.start();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
