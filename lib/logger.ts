// Structured JSON logs (pino). One root logger; components take a child with their name.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.VIEWPULSE_LOG_LEVEL ?? 'info', name = 'viewpulse'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
