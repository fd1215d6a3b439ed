// `viewpulse demo`: brings up the real services and pushes records through every part
// (registry → Kafka → consumer → ClickHouse), printing what went where. Later stages of
// the pipeline (collector, processors, API) join the demo as they are built.
import type { Command } from 'commander';
import { createClickHouse } from '../lib/clickhouse/client.js';
import { loadConfig } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { RegistryClient } from '../lib/kafka/registry.js';
import { runSmoke } from '../lib/smoke.js';
import { TABLES } from '../schemas/tables.js';
import { smokeTopic } from '../schemas/topics.js';
import { PrerequisiteError } from '../infra/service.js';
import { formatTable, servicesUp } from '../infra/services.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('start the services and run records end to end through registry, Kafka and ClickHouse')
    .option('-n, --events <count>', 'records to push through', '1000')
    .action(async (opts: { events: string }) => {
      const count = Number(opts.events);
      if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
        console.error('viewpulse demo: --events must be an integer from 1 to 1000000');
        process.exitCode = 2;
        return;
      }
      try {
        const config = loadConfig();
        console.log(formatTable(await servicesUp((l) => console.error(l))));
        const kafka = createKafka(config.kafka);
        const clickhouse = createClickHouse(config.clickhouse, 'default');
        const topic = smokeTopic(config.kafka.topicPrefix);
        const started = Date.now();
        const r = await runSmoke(
          {
            kafka,
            registry: new RegistryClient(config.registry.url),
            clickhouse,
            database: config.clickhouse.database,
            topic,
          },
          count,
        );
        await clickhouse.close();
        const same = JSON.stringify(r.produced) === JSON.stringify(r.stored);
        console.log(
          [
            `schema id ${r.schemaId} (subject ${topic}-value)`,
            `produced ${r.produced.length} Avro records to ${topic}`,
            `consumed ${r.consumed.length}, stored ${r.stored.length} rows in ${config.clickhouse.database}.${TABLES.smokeEvents}`,
            `round trip ${same ? 'exact' : 'MISMATCH'} in ${Date.now() - started} ms (run ${r.runId})`,
            `try: curl '${config.clickhouse.url}/?query=SELECT+count()+FROM+${config.clickhouse.database}.${TABLES.smokeEvents}'`,
            'stop the services with: npx viewpulse services down',
          ].join('\n'),
        );
        if (!same) process.exitCode = 1;
      } catch (err) {
        console.error(err instanceof PrerequisiteError ? `viewpulse: ${err.message}` : err);
        process.exitCode = 1;
      }
    });
}
