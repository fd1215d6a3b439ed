// Structured JSON logs (pino). One root logger; components take a child with their name.
// They go to stdout, or, with VIEWPULSE_LOG_FILE, appended to that file (the demo sends them
// there, so a person's terminal shows progress, not request logs).
import { pino, type Logger } from 'pino';

export type { Logger };

const files = new Map<string, pino.DestinationStream>();

/** One destination per file for the whole process, so several loggers append in order. */
function destination(file: string | undefined): pino.DestinationStream | undefined {
  if (!file) return undefined;
  let d = files.get(file);
  if (!d) {
    d = pino.destination({ dest: file, mkdir: true, append: true, sync: false });
    files.set(file, d);
  }
  return d;
}

export function createLogger(
  level: string = process.env.VIEWPULSE_LOG_LEVEL ?? 'info',
  name = 'viewpulse',
  file: string | undefined = process.env.VIEWPULSE_LOG_FILE || undefined,
): Logger {
  const options = { name, level, base: { pid: process.pid } };
  const dest = destination(file);
  return dest ? pino(options, dest) : pino(options);
}

/** Writes what the file destinations hold (before exit). */
export function flushLogs(): void {
  for (const d of files.values()) {
    try {
      (d as { flushSync?: () => void }).flushSync?.();
    } catch {
      // not open yet: nothing was written to it
    }
  }
}
