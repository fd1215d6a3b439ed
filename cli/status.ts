// `viewpulse status`: processors, partitions, lag, watermark and freshness in a table (or JSON).
import type { Command } from 'commander';
import { createClickHouse } from '../lib/clickhouse/client.js';
import { loadConfig } from '../lib/config.js';
import { humanDuration } from '../lib/durations.js';
import { textTable } from '../lib/text-table.js';
import { createKafka } from '../lib/kafka/client.js';
import { processorStatus, type ProcessorPosition } from '../runtime/status.js';

const iso = (t: number | null): string => (t === null ? '–' : new Date(t).toISOString().replace('.000Z', 'Z'));

export function formatStatus(list: readonly ProcessorPosition[], partitions: boolean): string {
  if (!partitions) {
    return textTable(
      ['PROCESSOR', 'STATE', 'INSTANCES', 'PARTITIONS', 'LAG', 'WATERMARK', 'FRESHNESS'],
      list.map((p) => [
        p.processor,
        p.state ?? 'not running here',
        String(p.members.length),
        String(p.partitions.length),
        p.lag.toLocaleString('en-US'),
        iso(p.watermark),
        p.freshnessMs === null ? '–' : `${humanDuration(p.freshnessMs)} behind`,
      ]),
    );
  }
  return textTable(
    ['PROCESSOR', 'PARTITION', 'OWNER', 'COMMITTED', 'END', 'LAG', 'WATERMARK'],
    list.flatMap((p) =>
      p.partitions.map((x) => [
        p.processor,
        String(x.partition),
        x.owner ?? '–',
        x.committed.toLocaleString('en-US'),
        x.end.toLocaleString('en-US'),
        x.lag.toLocaleString('en-US'),
        iso(x.watermark),
      ]),
    ),
  );
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'where each processor stands: state (from running `run processors` instances), instances (group members), partitions, lag, event-time watermark and freshness',
    )
    .option(
      '--partitions',
      'one row per processor and partition: owning instance, committed offset, end, lag, watermark',
    )
    .option('--json', 'print JSON instead of a table')
    .option(
      '--health-url <urls>',
      'the health endpoints of running `run processors` instances, comma-separated (their states are merged)',
      `http://127.0.0.1:${process.env.VIEWPULSE_PROCESSORS_PORT ?? '9464'}`,
    )
    .action(async (opts: { partitions?: boolean; json?: boolean; healthUrl: string }) => {
      const config = loadConfig();
      const clickhouse = createClickHouse(config.clickhouse);
      try {
        const list = await processorStatus({
          kafka: createKafka(config.kafka),
          clickhouse,
          database: config.clickhouse.database,
          topicPrefix: config.kafka.topicPrefix,
          healthUrls: opts.healthUrl
            .split(',')
            .map((u) => u.trim())
            .filter(Boolean),
        });
        console.log(opts.json ? JSON.stringify(list, null, 2) : formatStatus(list, opts.partitions === true));
      } catch (err) {
        console.error(`viewpulse status: ${(err as Error).message}`);
        process.exitCode = 1;
      } finally {
        await clickhouse.close();
      }
    });
}
