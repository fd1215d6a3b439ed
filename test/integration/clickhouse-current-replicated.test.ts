// The replicated DDL of cluster mode (lib/clickhouse/migrations-cluster.ts) on a current
// ClickHouse: chDB (26.x, tools/chdb.ts) with a private ZooKeeper (infra/zookeeper.ts) and
// the macros of a replica set's config runs every CREATE of every migration as a cluster
// applies it. Every table of the MergeTree family must be created as its Replicated twin with
// the path and arguments 18.16 gets (test/faults/clickhouse-replica.test.ts runs them there),
// its column comments kept.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterXml } from '../../infra/clickhouse.js';
import { projectRoot, stateHome } from '../../infra/paths.js';
import { zookeeperServer } from '../../infra/zookeeper.js';
import { freePorts } from '../../harness/replica-set.js';
import {
  keepsReplicatedComments,
  replicatedStatement,
  zookeeperPath,
} from '../../lib/clickhouse/migrations-cluster.js';
import { loadMigrations } from '../../lib/clickhouse/migrations.js';
import { runChdb, type ChdbResult } from '../../tools/chdb.js';

const DATABASE = `vp_replicated_${process.pid}`;
const name = `replicated-ddl-${process.pid}-zk`;
let zookeeper: ReturnType<typeof zookeeperServer> | undefined;
let dir: string;
let results: ChdbResult[];
let statements: string[];
const log = (line: string): void => console.log(`[current-replicated] ${line}`);

describe('cluster-mode DDL on ClickHouse 26.x (chDB with ZooKeeper)', () => {
  beforeAll(async () => {
    const [port] = await freePorts(1);
    zookeeper = zookeeperServer(() => ({ name, port: port! }));
    await zookeeper.install(log);
    await zookeeper.start(log);
    dir = mkdtempSync(join(tmpdir(), 'vp-chdb-replicated-'));
    const config = join(dir, 'cluster.xml');
    writeFileSync(
      config,
      clusterXml({
        cluster: 'viewpulse',
        zookeeperPort: port!,
        shard: '01',
        replica: 'chdb-1',
        interserverPort: 0,
        replicas: [{ host: '127.0.0.1', tcpPort: 9000 }],
      })!,
    );
    const keepComments = keepsReplicatedComments('26.9');
    // CREATE statements only: chDB never activates a replica (the embedded engine runs no
    // replication threads), so its replicated tables stay read-only and an ALTER or INSERT is
    // refused (Code 242). An ALTER's text is the same on one server and on a cluster, and
    // sql:compat runs it on 26.x; 18.16 runs all of it replicated in the fault test.
    statements = [
      `CREATE DATABASE IF NOT EXISTS ${DATABASE}`,
      ...loadMigrations(join(projectRoot, 'schemas', 'clickhouse'), DATABASE)
        .flatMap((m) => m.statements.map((s) => replicatedStatement(s, { keepComments })))
        .filter((s) => /^CREATE\b/i.test(s)),
    ];
    results = await runChdb(
      join(dir, 'session'),
      [
        'SELECT version() AS v',
        'SELECT macro, substitution FROM system.macros ORDER BY macro',
        ...statements,
        `SELECT name, engine, engine_full FROM system.tables WHERE database = '${DATABASE}' ORDER BY name`,
        `SELECT comment FROM system.columns WHERE database = '${DATABASE}' AND table = 'play_events' AND name = 'event_id'`,
      ],
      config,
    );
  }, 600_000);

  afterAll(async () => {
    await zookeeper?.stop();
    for (const area of ['data', 'run', 'logs']) rmSync(join(stateHome(), area, name), { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const rows = <T>(r: ChdbResult | undefined): T[] =>
    r && r.ok
      ? r.data
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as T)
      : [];

  it('runs on a current version with the replica macros', () => {
    const [version, macros] = results;
    expect(Number(rows<{ v: string }>(version)[0]?.v.split('.')[0])).toBeGreaterThanOrEqual(25);
    expect(rows(macros)).toEqual([
      { macro: 'replica', substitution: 'chdb-1' },
      { macro: 'shard', substitution: '01' },
    ]);
  });

  it('accepts every CREATE of every migration as a cluster runs it', () => {
    const failed = statements
      .map((s, i) => ({ s: s.slice(0, 120), r: results[2 + i]! }))
      .filter((x) => !x.r.ok)
      .map((x) => `${x.s}: ${(x.r as { error: string }).error.slice(0, 200)}`);
    expect(failed).toEqual([]);
  });

  it('creates each MergeTree-family table as its Replicated twin, on its own path, comments kept', () => {
    const tables = rows<{ name: string; engine: string; engine_full: string }>(results.at(-2));
    const replicated = tables.filter((t) => t.engine.startsWith('Replicated'));
    expect(replicated.length).toBeGreaterThanOrEqual(15);
    // nothing of the family is left unreplicated, but the migrations table (one per server)
    expect(tables.filter((t) => /MergeTree$/.test(t.engine) && !t.engine.startsWith('Replicated'))).toEqual([]);
    for (const t of replicated)
      expect(t.engine_full, t.name).toContain(`'${zookeeperPath(DATABASE, t.name)}', '{replica}'`);
    const versioned = tables.find((t) => t.name === 'view_counts')!;
    expect(versioned.engine_full).toMatch(/^ReplicatedReplacingMergeTree\('[^']+', '\{replica\}', version\)/);
    expect(rows<{ comment: string }>(results.at(-1))).toEqual([{ comment: 'client-generated UUID, the dedup key' }]);
  });
});
