// `viewpulse verify --truth FILE [FILE …]`: compares what ClickHouse holds with the ground
// truth of one or more `viewpulse generate --truth FILE` runs (different seeds: their videos
// and viewers are disjoint). Optionally waits until the processors have consumed the whole
// play-events topic first. Exits 1 when any number differs.
import type { Command } from 'commander';
import { checkAgainstTruth, unionTruth } from '../harness/truth-check.js';
import { readTruthFile } from '../generator/truth-file.js';
import { createClickHouse } from '../lib/clickhouse/client.js';
import { loadConfig } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { waitForCommitted } from '../lib/kafka/topics-admin.js';
import { groupIdOf } from '../runtime/registry.js';
import { topics } from '../schemas/topics.js';

const PLAY_EVENT_PROCESSORS = ['view-counts', 'engagement', 'raw-events'] as const;

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      'compare ClickHouse with the ground truth of `viewpulse generate --truth FILE` runs: events, plays, views and watch time per video and minute exactly, unique viewers within 2 %, retention within 1 point',
    )
    .requiredOption('--truth <files...>', 'truth files written by `viewpulse generate --truth` (different seeds)')
    .option(
      '--wait [seconds]',
      'first wait until view-counts, engagement and raw-events have consumed the whole play-events topic',
    )
    .action(async (opts: { truth: string[]; wait?: string | boolean }) => {
      const config = loadConfig();
      const clickhouse = createClickHouse(config.clickhouse);
      try {
        if (opts.wait !== undefined) {
          const seconds = opts.wait === true ? 600 : Number(opts.wait);
          if (!(seconds > 0)) throw new Error(`--wait takes seconds > 0, got ${String(opts.wait)}`);
          const kafka = createKafka(config.kafka);
          const topic = topics(config.kafka.topicPrefix).playEvents;
          for (const name of PLAY_EVENT_PROCESSORS) {
            process.stderr.write(`waiting for ${name} to consume ${topic} …\n`);
            await waitForCommitted(kafka, groupIdOf(config.kafka.topicPrefix, name), topic, seconds * 1000);
          }
        }
        const truth = unionTruth(await Promise.all(opts.truth.map((f) => readTruthFile(f))));
        const checks = await checkAgainstTruth(clickhouse, config.clickhouse.database, truth);
        const width = checks.reduce((w, c) => Math.max(w, c.name.length), 0);
        for (const c of checks) console.log(`${c.ok ? '✓' : '✗'} ${c.name.padEnd(width)}  ${c.got}  (truth ${c.want})`);
        const failed = checks.filter((c) => !c.ok).length;
        console.log(
          failed ? `${failed} of ${checks.length} checks differ` : `all ${checks.length} checks equal the truth`,
        );
        if (failed) process.exitCode = 1;
      } catch (err) {
        console.error(`viewpulse verify: ${(err as Error).message}`);
        process.exitCode = 1;
      } finally {
        await clickhouse.close();
      }
    });
}
