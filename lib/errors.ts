// The one coded error catalogue. Every error Viewpulse raises on purpose has a stable
// `VP_ERR_*` code, says whether retrying can help, and carries context (topic, partition,
// offset, table...) so a log line or a dead-letter header explains itself.

export interface ErrorContext {
  topic?: string;
  partition?: number;
  offset?: string;
  table?: string;
  subject?: string;
  [key: string]: string | number | boolean | undefined;
}

export const ERRORS = {
  VP_ERR_CONFIG: { retriable: false, message: 'invalid configuration' },
  VP_ERR_REGISTRY_UNAVAILABLE: { retriable: true, message: 'schema registry unavailable' },
  VP_ERR_REGISTRY_REJECTED: { retriable: false, message: 'schema registry rejected the request' },
  VP_ERR_SCHEMA_INCOMPATIBLE: { retriable: false, message: 'schema is not compatible with published versions' },
  VP_ERR_SCHEMA_NOT_FOUND: { retriable: false, message: 'schema id not found in the registry' },
  VP_ERR_DECODE_MAGIC: { retriable: false, message: 'record is not in Confluent wire format (bad magic byte)' },
  VP_ERR_DECODE_AVRO: { retriable: false, message: 'record body does not decode with its writer schema' },
  VP_ERR_ENCODE_AVRO: { retriable: false, message: 'value does not match the Avro schema' },
  VP_ERR_EVENT_RULES: { retriable: false, message: 'play event breaks a rule' },
  VP_ERR_VIDEO_RULES: { retriable: false, message: 'catalog record breaks a rule' },
  VP_ERR_KAFKA: { retriable: true, message: 'Kafka request failed' },
  VP_ERR_BACKPRESSURE: { retriable: true, message: 'too much work in flight; retry later' },
  VP_ERR_CLOSED: { retriable: false, message: 'component is shut down' },
  VP_ERR_CLICKHOUSE: { retriable: true, message: 'ClickHouse request failed' },
  VP_ERR_CLICKHOUSE_REJECTED: { retriable: false, message: 'ClickHouse rejected the query' },
  VP_ERR_MIGRATION: { retriable: false, message: 'migration failed' },
  VP_ERR_REPLAY: { retriable: false, message: 'replay refused' },
  VP_ERR_STUCK: { retriable: false, message: 'a partition made no progress' },
  VP_ERR_SERVICE: { retriable: false, message: 'local service failed' },
  // HTTP surfaces (api/problem.ts maps each to a status and a problem+json document)
  VP_ERR_HTTP_BAD_REQUEST: { retriable: false, message: 'bad request' },
  VP_ERR_HTTP_INVALID_JSON: { retriable: false, message: 'body is not valid JSON' },
  VP_ERR_HTTP_UNAUTHORIZED: { retriable: false, message: 'missing or invalid credentials' },
  VP_ERR_HTTP_NOT_FOUND: { retriable: false, message: 'not found' },
  VP_ERR_HTTP_TIMEOUT: { retriable: true, message: 'request timeout' },
  VP_ERR_HTTP_PAYLOAD_TOO_LARGE: { retriable: false, message: 'payload too large' },
  VP_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE: { retriable: false, message: 'unsupported media type' },
  VP_ERR_HTTP_RATE_LIMITED: { retriable: true, message: 'too many requests' },
  VP_ERR_HTTP_HEADERS_TOO_LARGE: { retriable: false, message: 'request headers too large' },
  VP_ERR_HTTP_INTERNAL: { retriable: false, message: 'internal error' },
  VP_ERR_HTTP_UNAVAILABLE: { retriable: true, message: 'service unavailable' },
} as const satisfies Record<string, { retriable: boolean; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class ViewpulseError extends Error {
  override name = 'ViewpulseError';
  readonly retriable: boolean;

  constructor(
    readonly code: ErrorCode,
    detail?: string,
    readonly context: ErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${ERRORS[code].message}${detail ? ` — ${detail}` : ''}`, options);
    this.retriable = ERRORS[code].retriable;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, retriable: this.retriable, context: this.context };
  }
}

export const isRetriable = (err: unknown): boolean => err instanceof ViewpulseError && err.retriable;
