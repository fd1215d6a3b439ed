// The collector's Prometheus metrics, registered on the registry it is given.
import { Counter, Histogram, type Registry } from 'prom-client';

export interface CollectorMetrics {
  requests: Counter<'route' | 'status'>;
  accepted: Counter;
  rejected: Counter<'reason'>;
  duplicates: Counter;
  clamped: Counter;
  kafkaSend: Histogram<'outcome'>;
}

export function collectorMetrics(registry: Registry): CollectorMetrics {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'viewpulse_collector_requests_total',
      help: 'HTTP requests answered, by route and status code',
      labelNames: ['route', 'status'] as const,
      registers,
    }),
    accepted: new Counter({
      name: 'viewpulse_collector_events_accepted_total',
      help: 'Events acknowledged by Kafka',
      registers,
    }),
    rejected: new Counter({
      name: 'viewpulse_collector_events_rejected_total',
      help: 'Events rejected, by reason (invalid_event, future_event_time, event_too_old)',
      labelNames: ['reason'] as const,
      registers,
    }),
    duplicates: new Counter({
      name: 'viewpulse_collector_events_duplicate_total',
      help: 'Events dropped because their event_id was accepted recently',
      registers,
    }),
    clamped: new Counter({
      name: 'viewpulse_collector_events_clamped_total',
      help: 'Events whose event_time was more than 5 s in the future and was clamped to received_at',
      registers,
    }),
    kafkaSend: new Histogram({
      name: 'viewpulse_collector_kafka_send_seconds',
      help: 'Time from handing a request’s events to the producer until Kafka acknowledged them (or failed)',
      labelNames: ['outcome'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
  };
}
