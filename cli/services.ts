// `viewpulse services up|down|status`: the real Kafka, Schema Registry and ClickHouse on
// 127.0.0.1, without Docker (or with docker compose, when asked and available).
import type { Command } from 'commander';
import { run } from '../infra/process.js';
import { projectRoot } from '../infra/paths.js';
import { PrerequisiteError } from '../infra/service.js';
import {
  CLUSTER,
  MAX_REPLICAS,
  replicaCount,
  replicatedDatabases,
  replicaUrls,
  setReplicaCount,
} from '../infra/replica-set.js';
import { formatTable, servicesDown, servicesStatus, servicesUp, surplusServices } from '../infra/services.js';

const log = (line: string): void => console.error(line);

async function guarded(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    // A missing prerequisite is one clear line, not a stack trace.
    console.error(err instanceof PrerequisiteError ? `viewpulse: ${err.message}` : err);
    process.exitCode = 1;
  }
}

/** Remembers the replica count and stops what a smaller set no longer has (servicesUp starts the rest). */
async function switchReplicas(n: number): Promise<void> {
  const dbs = n === 1 && replicaCount() > 1 ? replicatedDatabases() : [];
  if (dbs.length)
    throw new PrerequisiteError(
      `ClickHouse server 1 holds replicated tables (databases ${dbs.join(', ')}), which need ZooKeeper and the replica macros to start: drop those databases on every replica first, or keep the replica set`,
    );
  setReplicaCount(n);
  for (const s of surplusServices(n).reverse()) {
    await s.stop();
    log(`[${s.name}] stopped (not in a set of ${n})`);
  }
}

export function registerServices(program: Command): void {
  const services = program
    .command('services')
    .description('run the real Kafka, Schema Registry and ClickHouse locally (127.0.0.1)');

  services
    .command('up')
    .description('install what is missing (cached), start every service and wait until each answers')
    .argument(
      '[names...]',
      'only these services: clickhouse (with replicas: its ZooKeeper and every server), kafka, postgres, registry',
    )
    .option('--docker', 'use docker compose instead of native processes (needs a Docker engine)')
    .option(
      '--replicas <n>',
      `run n ClickHouse servers as replicas of one shard, with ZooKeeper (1..${MAX_REPLICAS}; remembered until --replicas 1)`,
    )
    .action((names: string[], opts: { docker?: boolean; replicas?: string }) =>
      guarded(async () => {
        const started = Date.now();
        if (opts.docker) {
          await run('docker', ['compose', 'up', '-d', '--wait'], { cwd: projectRoot });
        }
        if (opts.replicas !== undefined && !opts.docker) await switchReplicas(Number(opts.replicas));
        const rows = opts.docker ? await servicesStatus(names) : await servicesUp(log, names);
        console.log(formatTable(rows));
        if (replicaCount() > 1 && !opts.docker)
          log(
            `clients: VIEWPULSE_CLICKHOUSE_URLS=${replicaUrls().join(',')} VIEWPULSE_CLICKHOUSE_CLUSTER=${CLUSTER} (README, "Running ClickHouse with replicas")`,
          );
        log(`services up in ${((Date.now() - started) / 1000).toFixed(1)}s`);
        if (rows.some((r) => r.state !== 'up')) process.exitCode = 1;
      }),
    );

  services
    .command('down')
    .description('stop exactly what `services up` started (pid files); data is kept')
    .argument('[names...]', 'only these services')
    .option('--docker', 'docker compose down')
    .action((names: string[], opts: { docker?: boolean }) =>
      guarded(async () => {
        if (opts.docker) await run('docker', ['compose', 'down'], { cwd: projectRoot });
        else await servicesDown(log, names);
      }),
    );

  services
    .command('status')
    .description('print each service with address, version and state; exit 1 if any is down')
    .argument('[names...]', 'only these services')
    .action((names: string[]) =>
      guarded(async () => {
        const rows = await servicesStatus(names);
        console.log(formatTable(rows));
        if (rows.some((r) => r.state !== 'up')) process.exitCode = 1;
      }),
    );
}
