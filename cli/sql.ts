// `viewpulse sql compat`: checks the project's SQL (migrations, docs/sql.md, the insights API)
// on a current ClickHouse (chDB, 26.x) against the running 18.16, on the same data
// (tools/sql-compat.ts). Exits 1 naming every statement that fails or answers differently.
import type { Command } from 'commander';
import { ensureChdb } from '../tools/chdb.js';
import { checkSqlCompat, compatNames, dropDataset, formatReport, prepareDataset } from '../tools/sql-compat.js';
import { loadConfig, type Config } from '../lib/config.js';

interface CompatFlags {
  database?: string;
  events: string;
  seed: string;
  keep?: boolean;
}

export function registerSql(program: Command): void {
  const cmd = program.command('sql').description('checks of the project SQL');
  cmd
    .command('compat')
    .description(
      'run the migrations, docs/sql.md and every insights API query on ClickHouse 26.x (chDB) and compare the answers with the running 18.16',
    )
    .option('--database <name>', 'compare on this existing database instead of generating a fresh one')
    .option('--events <n>', 'generated records for the fresh dataset', '4000')
    .option('--seed <n>', 'generator seed', '5')
    .option('--keep', 'keep the generated database and topics')
    .addHelpText(
      'after',
      '\nNeeds `viewpulse services up` (Kafka, registry, ClickHouse 18.16) and python3; installs chdb into\n.viewpulse/chdb-venv the first time (pip, pinned wheels).',
    )
    .action(async (flags: CompatFlags) => {
      const log = (line: string): void => console.error(`[sql compat] ${line}`);
      const base = loadConfig();
      const names = compatNames();
      const config: Config = {
        ...base,
        logLevel: 'warn',
        kafka: { ...base.kafka, topicPrefix: names.prefix, playEventPartitions: 3 },
        clickhouse: { ...base.clickhouse, database: flags.database ?? names.database },
      };
      const fresh = flags.database === undefined;
      try {
        await ensureChdb(log);
        if (fresh) await prepareDataset(config, { events: Number(flags.events), seed: Number(flags.seed) }, log);
        const report = await checkSqlCompat({ clickhouse: config.clickhouse, jwtSecret: config.api.jwtSecret, log });
        console.log(formatReport(report));
        if (report.failures.length) process.exitCode = 1;
      } catch (err) {
        console.error(`viewpulse sql compat: ${(err as Error).message}`);
        process.exitCode = 1;
      } finally {
        if (fresh && !flags.keep) await dropDataset(config).catch(() => undefined);
        else if (fresh) log(`kept database ${config.clickhouse.database} and topics ${names.prefix}*`);
      }
    });
}
