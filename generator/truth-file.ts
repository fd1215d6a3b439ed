// The truth file (`viewpulse generate --truth FILE`): one JSON document, written as a stream
// with one table row per line so that large runs neither build a huge string nor produce an
// unreadable file. `readTruthFile` loads it back for tests that compare it with ClickHouse.
//
// {
//   "format": "viewpulse-truth/1",
//   "options": {...}, "time": {...}, "counts": {...}, "catalog": {...}, "totals": {...},
//   "minutes": [ {"video_id","minute","plays","views","watch_ms"}, ... ],
//   "daily_uniques": [ {"video_id","day","day_start","viewers"}, ... ],
//   "creator_daily_uniques": [ {"creator_id","day","day_start","viewers"}, ... ],
//   "retention": [ {"video_id","duration_ms","views","covering":[101 counts]}, ... ],
//   "clusters": { "names": [...], "videos": {video_id: cluster}, "viewers": {viewer_id: cluster} }
// }
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { TruthReport } from './index.js';

export interface TruthFile extends TruthReport {
  clusters: TruthReport['clusters'] & { viewers: Record<string, number> };
}

export async function writeTruthFile(
  path: string,
  report: TruthReport,
  viewerClusters: Iterable<[string, number]>,
): Promise<void> {
  const out = createWriteStream(path, { encoding: 'utf8' });
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => undefined);
  const write = async (s: string): Promise<void> => {
    if (!out.write(s)) await Promise.race([once(out, 'drain'), failed]);
  };
  const rows = async (name: string, list: Iterable<unknown>, last = false): Promise<void> => {
    await write(`${JSON.stringify(name)}:[`);
    let first = true;
    for (const row of list) {
      await write(`${first ? '\n' : ',\n'}${JSON.stringify(row)}`);
      first = false;
    }
    await write(`\n]${last ? '' : ',\n'}`);
  };
  await write(`{"format":${JSON.stringify(report.format)},\n`);
  for (const key of ['options', 'time', 'counts', 'catalog', 'totals'] as const) {
    await write(`${JSON.stringify(key)}:${JSON.stringify(report[key])},\n`);
  }
  await rows('minutes', report.minutes);
  await rows('daily_uniques', report.daily_uniques);
  await rows('creator_daily_uniques', report.creator_daily_uniques);
  await rows('retention', report.retention);
  await write(`"clusters":{"names":${JSON.stringify(report.clusters.names)},\n"videos":{`);
  let first = true;
  for (const [id, c] of Object.entries(report.clusters.videos)) {
    await write(`${first ? '\n' : ',\n'}${JSON.stringify(id)}:${c}`);
    first = false;
  }
  await write('\n},\n"viewers":{');
  first = true;
  for (const [id, c] of viewerClusters) {
    await write(`${first ? '\n' : ',\n'}${JSON.stringify(id)}:${c}`);
    first = false;
  }
  await write('\n}}}\n');
  out.end();
  await Promise.race([once(out, 'finish'), failed]);
}

export async function readTruthFile(path: string): Promise<TruthFile> {
  const parsed = JSON.parse(await readFile(path, 'utf8')) as TruthFile;
  if (parsed.format !== 'viewpulse-truth/1')
    throw new Error(`${path}: not a viewpulse truth file (format ${parsed.format})`);
  return parsed;
}
