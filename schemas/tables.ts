// Every ClickHouse table name lives here.

export const TABLES = {
  migrations: 'schema_migrations',
  smokeEvents: 'smoke_events',
} as const;

export type TableKey = keyof typeof TABLES;
