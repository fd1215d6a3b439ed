// `viewpulse catalog put | import | delete`: the platform's catalog on the compacted
// `videos` topic (Avro Video records keyed by video_id; a tombstone deletes).
import type { Command } from 'commander';
import { loadConfig } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { RegistryClient } from '../lib/kafka/registry.js';
import { topics } from '../schemas/topics.js';
import {
  CatalogPublisher,
  checkCatalogFile,
  importCatalogFile,
  validateVideo,
  type LineProblem,
} from '../generator/catalog-publish.js';

const MAX_PROBLEMS_SHOWN = 50;

class UsageError extends Error {}

async function withPublisher<T>(fn: (p: CatalogPublisher) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const publisher = new CatalogPublisher(
    createKafka(config.kafka),
    new RegistryClient(config.registry.url),
    topics(config.kafka.topicPrefix).videos,
  );
  await publisher.connect();
  try {
    return await fn(publisher);
  } finally {
    await publisher.disconnect();
  }
}

async function run(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`viewpulse catalog: ${err.message}`);
      process.exitCode = 2;
    } else {
      console.error(`viewpulse catalog: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    }
  }
}

function showProblems(file: string, problems: LineProblem[]): string {
  const shown = problems.slice(0, MAX_PROBLEMS_SHOWN).map((p) => `  ${file}:${p.line}: ${p.message}`);
  if (problems.length > MAX_PROBLEMS_SHOWN) shown.push(`  ... and ${problems.length - MAX_PROBLEMS_SHOWN} more`);
  return shown.join('\n');
}

export function registerCatalog(program: Command): void {
  const catalog = program
    .command('catalog')
    .description('publish, import and delete catalog entries (Avro Video records on the compacted videos topic)')
    .addHelpText(
      'after',
      `
Records go to the topic "videos" (with VIEWPULSE_TOPIC_PREFIX in front), key = video_id, value
in Confluent Avro framing (schemas/avro/Video.avsc). Processors take ownership, titles and
durations from here, never from players. The topic must exist (npx viewpulse migrate).

Examples:
  npx viewpulse catalog put --video v1 --creator c1 --duration-ms 215000 --title "Sourdough basics"
  npx viewpulse catalog import catalog.jsonl
  npx viewpulse catalog delete --video v1`,
    );

  catalog
    .command('put')
    .description('create or replace one video')
    .requiredOption('--video <id>', 'video_id (the record key)')
    .requiredOption('--creator <id>', 'creator_id that owns the video')
    .requiredOption('--duration-ms <ms>', 'length in milliseconds (positive integer)')
    .requiredOption('--title <title>', 'title')
    .option('--category <category>', 'category', 'uncategorized')
    .option('--published-at <time>', 'ISO 8601 date-time or epoch ms (default: now)')
    .action(
      (opts: {
        video: string;
        creator: string;
        durationMs: string;
        title: string;
        category: string;
        publishedAt?: string;
      }) =>
        run(async () => {
          if (!/^\d+$/.test(opts.durationMs.trim())) throw new UsageError('--duration-ms: expected a positive integer');
          const v = validateVideo({
            video_id: opts.video,
            creator_id: opts.creator,
            title: opts.title,
            duration_ms: Number(opts.durationMs.trim()),
            category: opts.category,
            ...(opts.publishedAt !== undefined ? { published_at: opts.publishedAt } : {}),
          });
          if (!v.ok) throw new UsageError(v.errors.join('; '));
          await withPublisher(async (p) => {
            await p.put([v.video]);
            console.log(`published ${v.video.video_id} to ${p.topic}: ${JSON.stringify(v.video)}`);
          });
        }),
    );

  catalog
    .command('import')
    .description('validate a JSON-lines file (one Video object per line) and publish every entry')
    .argument('<file>', 'JSON lines: {"video_id","creator_id","title","duration_ms","published_at"?,"category"?}')
    .option('--dry-run', 'validate only; publish nothing')
    .addHelpText(
      'after',
      `
Every line is validated first; if any line is bad, nothing is published and each problem is
listed with its line number. published_at is epoch ms or ISO 8601 (default: now); category
defaults to "uncategorized". A video_id repeated in the file is published in file order, so the
last line wins. Blank lines are skipped.`,
    )
    .action((file: string, opts: { dryRun?: boolean }) =>
      run(async () => {
        if (opts.dryRun) {
          const check = await checkCatalogFile(file);
          if (check.problems.length)
            throw new UsageError(`${file} has problems:\n${showProblems(file, check.problems)}`);
          console.log(
            `${file}: ${check.videos} valid entries (${check.repeated} repeated video_ids); nothing published`,
          );
          return;
        }
        await withPublisher(async (p) => {
          const r = await importCatalogFile(file, p);
          if (r.problems.length) {
            throw new UsageError(`${file} has problems, nothing published:\n${showProblems(file, r.problems)}`);
          }
          console.log(`published ${r.published} entries from ${file} to ${p.topic} (${r.repeated} repeated video_ids)`);
        });
      }),
    );

  catalog
    .command('delete')
    .description('delete videos (one tombstone per video_id)')
    .requiredOption('--video <id...>', 'video_id(s) to delete')
    .action((opts: { video: string[] }) =>
      run(async () => {
        const ids = opts.video.map((v) => v.trim()).filter(Boolean);
        if (ids.length === 0) throw new UsageError('--video: at least one video_id');
        await withPublisher(async (p) => {
          await p.delete(ids);
          console.log(`deleted ${ids.join(', ')} from ${p.topic} (tombstones)`);
        });
      }),
    );
}
