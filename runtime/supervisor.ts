// Crash supervision of one processor's consumer, and the state its health reports.
//
// A crash (an error thrown while a batch is processed, rows ClickHouse refuses, a consumer that
// died) may leave state half-applied, so from the first error on nothing more is processed,
// flushed or checkpointed (`crashing`); the consumer is closed and every partition's state and
// unwritten rows are dropped (`teardown`) — the same as a process crash — and a new consumer
// starts from the checkpoints after a doubling backoff. Crashes are counted per position
// (`partition@checkpoint` of the batch under way, else `flush` or `consumer`); a checkpoint that
// moves starts a new count. After `maxRestarts` crashes at one position the next one gives up:
// state `failed`, onFailed is called.
import type { Logger } from '../lib/logger.js';
import type { ProcessorMetrics } from '../lib/metrics.js';
import type { PartitionStatus } from './partition-task.js';

/** running: consuming; restarting: crashed, a new consumer starts after a backoff; failed: gave up. */
export type RunnerState = 'starting' | 'running' | 'restarting' | 'failed' | 'stopped';

export interface RunnerHealth {
  name: string;
  state: RunnerState;
  crashes: number;
  last_error?: string;
  lag: number;
  stuck: boolean;
  partitions: PartitionStatus[];
}

export const MAX_RESTART_BACKOFF_MS = 30_000;

export interface SupervisorDeps {
  name: string;
  restartBackoffMs: number;
  maxRestarts: number;
  metrics: ProcessorMetrics;
  log: Logger;
  /** Closes the crashed consumer and drops every partition's state and unwritten rows. */
  teardown(): Promise<void>;
  /** Starts a new consumer (it restores the partitions from their checkpoints); a failure is a crash. */
  restart(): Promise<void>;
  onFailed?: (err: Error) => void;
}

/** The batch being processed: where a crash happens. */
interface Position {
  partition: number;
  checkpoint: number;
  offset: number;
}

export class Supervisor {
  private runState: RunnerState = 'starting';
  private crashCount = 0;
  private lastErr: string | undefined;
  private isCrashing = false;
  private isStopping = false;
  private where: Position | undefined;
  private crashSite: 'flush' | 'consumer' = 'consumer';
  /** Crashes per position; a checkpoint that moves starts a new count. */
  private readonly crashesAt = new Map<string, number>();
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: SupervisorDeps) {}

  get state(): RunnerState {
    return this.runState;
  }

  setState(state: RunnerState): void {
    this.runState = state;
    this.deps.metrics.up.set({ processor: this.deps.name }, state === 'running' ? 1 : 0);
  }

  /** From the first error that crashed the loop until the new consumer starts. */
  get crashing(): boolean {
    return this.isCrashing;
  }

  /** stop() or abandon() began: no more restarts, and a failed final flush is not an outage. */
  get stopping(): boolean {
    return this.isStopping;
  }

  stopRestarts(): void {
    this.isStopping = true;
  }

  cancelRestart(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
  }

  /** The group (re)assigned partitions: consuming, unless stopped or given up. */
  joined(): void {
    if (this.runState !== 'stopped' && this.runState !== 'failed') this.setState('running');
  }

  /** A retriable Kafka-level crash: kafkajs restarts the consumer by itself. */
  kafkaRestarts(err: Error): void {
    this.deps.metrics.restarts.inc({ processor: this.deps.name });
    this.lastErr = err.message;
    this.setState('restarting');
    this.deps.log.warn({ err: err.message }, 'consumer crashed on a retriable error; kafkajs restarts it');
  }

  /** A batch of `partition` starting at `offset`, whose checkpoint is `checkpoint`, is being processed. */
  enterBatch(partition: number, checkpoint: number, offset: number): void {
    this.where = { partition, checkpoint, offset };
  }

  leaveBatch(): void {
    this.where = undefined;
  }

  /** The partition's checkpoint moved: its crashes (and those of flushes and the consumer) no longer count. */
  checkpointed(partition: number): void {
    for (const key of this.crashesAt.keys())
      if (key.startsWith(`${partition}@`) || key === 'flush' || key === 'consumer') this.crashesAt.delete(key);
  }

  /** A timer flush failed (not an outage): a crash at the `flush` position, unless in a batch. */
  flushFailed(err: Error): void {
    this.crashSite = 'flush';
    this.crash(err);
  }

  /** Stops processing at once (no further batch, flush or checkpoint) and restarts. */
  crash(err: Error): void {
    if (this.isCrashing || this.isStopping) return;
    this.isCrashing = true;
    void this.crashed(err);
  }

  private async crashed(err: Error): Promise<void> {
    const { name, metrics, log } = this.deps;
    this.lastErr = err.message;
    metrics.restarts.inc({ processor: name });
    this.setState('restarting');
    // Outside a batch (a timer flush, joining) the flush or the consumer is the position.
    const position = this.where ? `${this.where.partition}@${this.where.checkpoint}` : this.crashSite;
    this.crashCount = (this.crashesAt.get(position) ?? 0) + 1;
    this.crashesAt.set(position, this.crashCount);
    await this.deps.teardown();
    if (this.crashCount > this.deps.maxRestarts) {
      this.setState('failed');
      log.error(
        { err, at: this.where, crashes: this.crashCount },
        'processor failed: it crashed again and again at the same position; giving up',
      );
      this.deps.onFailed?.(err);
      return;
    }
    const delay = Math.min(MAX_RESTART_BACKOFF_MS, this.deps.restartBackoffMs * 2 ** (this.crashCount - 1));
    log.error(
      { err, at: this.where, crashes: this.crashCount, restartInMs: delay },
      'consumer crashed; restarting it from the last checkpoint',
    );
    // Not unref'd: during the backoff the consumer is torn down, and with no metrics server
    // (--metrics-port -1) this timer is all that keeps the process alive to restart it (an
    // unref'd one let `run processors` exit 0 in the middle of a broker restart).
    this.restartTimer = setTimeout(() => void this.restart(), delay);
  }

  private async restart(): Promise<void> {
    this.restartTimer = undefined;
    if (this.isStopping) return;
    this.isCrashing = false;
    this.where = undefined;
    this.crashSite = 'consumer';
    try {
      await this.deps.restart();
    } catch (err) {
      this.crash(err as Error);
    }
  }

  health(partitions: PartitionStatus[]): RunnerHealth {
    return {
      name: this.deps.name,
      state: this.runState,
      crashes: this.crashCount,
      ...(this.lastErr !== undefined ? { last_error: this.lastErr } : {}),
      lag: partitions.reduce((n, p) => n + p.lag, 0),
      stuck: partitions.some((p) => p.stuck),
      partitions,
    };
  }
}
