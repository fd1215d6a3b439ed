// What the processors' /healthz and /readyz answer, from each runner's health. Pure, so the
// rules are unit-tested without Kafka:
//   live  (/healthz): no processor failed (gave up after repeated crashes) or stuck (lag that
//                     has not moved for stuckAfterMs) — otherwise a supervisor should restart it;
//   ready (/readyz):  live, and every processor running (not starting or restarting).
import type { RunnerHealth } from './runner.js';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'failed';
  live: boolean;
  ready: boolean;
  processors: RunnerHealth[];
}

export function healthReport(processors: readonly RunnerHealth[]): HealthReport {
  const live = processors.every((p) => p.state !== 'failed' && !p.stuck);
  const ready = live && processors.every((p) => p.state === 'running');
  return { status: !live ? 'failed' : ready ? 'ok' : 'degraded', live, ready, processors: [...processors] };
}
