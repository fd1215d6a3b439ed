// The native services in start order, and the up/down/status operations over all of them.
import { textTable } from '../lib/text-table.js';
import { clickhouse } from './clickhouse.js';
import { kafka } from './kafka.js';
import { postgres } from './postgres.js';
import { registry } from './registry.js';
import type { NativeService, ServiceStatus } from './service.js';

/** Start order: the registry needs its PostgreSQL storage first. Stop order is the reverse. */
export const SERVICES: readonly NativeService[] = [clickhouse, kafka, postgres, registry];

export function selectServices(names?: readonly string[]): NativeService[] {
  if (!names || names.length === 0) return [...SERVICES];
  const unknown = names.filter((n) => !SERVICES.some((s) => s.name === n));
  if (unknown.length)
    throw new Error(`unknown service(s): ${unknown.join(', ')} (known: ${SERVICES.map((s) => s.name).join(', ')})`);
  return SERVICES.filter((s) => names.includes(s.name));
}

export async function statusOf(s: NativeService): Promise<ServiceStatus> {
  const up = await s.ready().catch(() => false);
  return {
    name: s.name,
    address: s.address,
    version: await s.version().catch(() => 'unknown'),
    state: up ? 'up' : 'down',
  };
}

/** Installs what is missing, then starts each service and waits until it answers. */
export async function servicesUp(log: (line: string) => void, names?: readonly string[]): Promise<ServiceStatus[]> {
  const list = selectServices(names);
  // Installs are independent (apt, Maven, go install): run them side by side.
  await Promise.all(list.map((s) => s.install((line) => log(`[${s.name}] ${line}`))));
  for (const s of list) {
    if (await s.ready().catch(() => false)) continue;
    await s.start((line) => log(`[${s.name}] ${line}`));
  }
  return Promise.all(list.map(statusOf));
}

export async function servicesDown(log: (line: string) => void, names?: readonly string[]): Promise<void> {
  for (const s of [...selectServices(names)].reverse()) {
    await s.stop();
    log(`[${s.name}] stopped`);
  }
}

export const servicesStatus = (names?: readonly string[]): Promise<ServiceStatus[]> =>
  Promise.all(selectServices(names).map(statusOf));

/** A plain aligned table, for terminals and CI logs alike. */
export function formatTable(rows: readonly ServiceStatus[]): string {
  return textTable(
    ['SERVICE', 'ADDRESS', 'VERSION', 'STATE'],
    rows.map((r) => [r.name, r.address, r.version, r.state]),
  );
}
