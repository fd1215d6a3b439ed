// The native services in start order, and the up/down/status operations over all of them.
// With a replica set (`services up --replicas N`, remembered in the state home) the list also
// holds ZooKeeper and ClickHouse servers 2..N (infra/replica-set.ts).
import { textTable } from '../lib/text-table.js';
import { clickhouse, clickhouseServer } from './clickhouse.js';
import { kafka } from './kafka.js';
import { postgres } from './postgres.js';
import { registry } from './registry.js';
import { runningPid } from './process.js';
import { clickhouseSpec, MAX_REPLICAS, replicaCount, zookeeperSpec } from './replica-set.js';
import type { NativeService, ServiceStatus } from './service.js';
import { zookeeperServer } from './zookeeper.js';

/** Start order: the registry needs its PostgreSQL storage first. Stop order is the reverse. */
export const SERVICES: readonly NativeService[] = [clickhouse, kafka, postgres, registry];

/** ZooKeeper first: a replica needs it to attach its replicated tables. */
function replicaSetServices(n: number): NativeService[] {
  if (n <= 1) return [];
  return [
    zookeeperServer(zookeeperSpec),
    clickhouse,
    ...Array.from({ length: n - 1 }, (_, k) => clickhouseServer(() => clickhouseSpec(k + 2, n))),
  ];
}

/** Every service of this state home: the default four, or, with replicas, ZooKeeper and N ClickHouse servers first. */
export function allServices(n = replicaCount()): NativeService[] {
  const set = replicaSetServices(n);
  return set.length ? [...set, ...SERVICES.filter((s) => s !== clickhouse)] : [...SERVICES];
}

/** `clickhouse` names the whole replica set (its ZooKeeper and every server) when there is one. */
export function selectServices(names?: readonly string[], n = replicaCount()): NativeService[] {
  const all = allServices(n);
  if (!names || names.length === 0) return all;
  const unknown = names.filter((x) => !all.some((s) => s.name === x));
  if (unknown.length)
    throw new Error(`unknown service(s): ${unknown.join(', ')} (known: ${all.map((s) => s.name).join(', ')})`);
  const wanted = new Set(names);
  if (n > 1 && wanted.has('clickhouse')) for (const s of replicaSetServices(n)) wanted.add(s.name);
  return all.filter((s) => wanted.has(s.name));
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
    if ((await s.ready().catch(() => false)) && !s.stale?.()) continue;
    await s.start((line) => log(`[${s.name}] ${line}`));
  }
  return Promise.all(list.map(statusOf));
}

/** ZooKeeper and servers 2..MAX_REPLICAS that run (pid file) but are not in a set of `n`. */
export function surplusServices(n: number): NativeService[] {
  return allServices(MAX_REPLICAS).filter(
    (s) => !SERVICES.includes(s) && !allServices(n).some((t) => t.name === s.name) && runningPid(s.name),
  );
}

/** Stops each selected service; without names, also whatever of a replica set still runs. */
export async function servicesDown(log: (line: string) => void, names?: readonly string[]): Promise<void> {
  const list = names?.length ? selectServices(names) : [...surplusServices(replicaCount()), ...allServices()];
  for (const s of [...list].reverse()) {
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
