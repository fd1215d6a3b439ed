// Catalog entry validation, JSON-lines files, the truth file, and the generate command's
// option parsing (no network).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCatalogFile, parsePublishedAt, validateVideo } from '../../generator/catalog-publish.js';
import { generateTraffic } from '../../generator/index.js';
import { readTruthFile, writeTruthFile } from '../../generator/truth-file.js';
import { emptyStats } from '../../generator/sinks.js';
import {
  generateOptionsFrom,
  parseDuration,
  parseInteger,
  parseTime,
  truthProblems,
  UsageError,
} from '../../cli/generate.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vp-gen-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const good = { video_id: 'v1', creator_id: 'c1', title: 'Sourdough basics', duration_ms: 215_000 };

describe('catalog entries', () => {
  it('accepts a valid entry with defaults for published_at and category', () => {
    expect(validateVideo(good, 1234)).toEqual({
      ok: true,
      video: { ...good, published_at: 1234, category: 'uncategorized' },
    });
    expect(validateVideo({ ...good, published_at: '2026-01-02T03:04:05Z', category: 'cooking' }, 0)).toEqual({
      ok: true,
      video: { ...good, published_at: Date.parse('2026-01-02T03:04:05Z'), category: 'cooking' },
    });
  });

  it('names every problem: types, ranges, unknown fields', () => {
    const r = validateVideo({
      video_id: 'has space',
      title: '',
      duration_ms: 1.5,
      durationMs: 3,
      published_at: 'soon',
    });
    expect(r.ok).toBe(false);
    const errors = (r as { errors: string[] }).errors.join('\n');
    for (const part of [
      'unknown field "durationMs"',
      'video_id',
      'creator_id',
      'title',
      'duration_ms',
      'published_at',
    ]) {
      expect(errors).toContain(part);
    }
    expect(validateVideo([good]).ok).toBe(false);
    expect(validateVideo({ ...good, duration_ms: 0 }).ok).toBe(false);
    expect(validateVideo({ ...good, duration_ms: 31 * 86_400_000 }).ok).toBe(false);
  });

  it('parses published_at as epoch ms or ISO 8601', () => {
    expect(parsePublishedAt(5)).toBe(5);
    expect(parsePublishedAt('1700000000000')).toBe(1_700_000_000_000);
    expect(parsePublishedAt('2026-01-02')).toBe(Date.parse('2026-01-02'));
    expect(parsePublishedAt('2026-01-02T03:04:05.123+02:00')).toBe(Date.parse('2026-01-02T03:04:05.123+02:00'));
    expect(parsePublishedAt('next tuesday')).toHaveProperty('error');
    expect(parsePublishedAt(-1)).toHaveProperty('error');
  });

  it('checks a JSON-lines file with line numbers, skipping blank lines', async () => {
    const file = join(dir, 'catalog.jsonl');
    await writeFile(
      file,
      [JSON.stringify(good), '', '{not json', JSON.stringify({ ...good, duration_ms: -1 }), JSON.stringify(good)].join(
        '\n',
      ),
    );
    const check = await checkCatalogFile(file, 0);
    expect(check.videos).toBe(2);
    expect(check.repeated).toBe(1);
    expect(check.problems.map((p) => p.line)).toEqual([3, 4]);
    expect(check.problems[0]!.message).toMatch(/not valid JSON/);
    expect(check.problems[1]!.message).toMatch(/duration_ms/);
  });
});

describe('truth file', () => {
  it('round-trips through writeTruthFile / readTruthFile', async () => {
    const traffic = generateTraffic({ events: 2000, seed: 12 });
    expect([...traffic.deliveriesSync()]).toHaveLength(2000);
    const truth = traffic.truth();
    const file = join(dir, 'truth.json');
    await writeTruthFile(file, truth, traffic.viewerClusters());
    const back = await readTruthFile(file);
    expect(back).toEqual({
      ...JSON.parse(JSON.stringify(truth)),
      clusters: { ...truth.clusters, viewers: Object.fromEntries(traffic.viewerClusters()) },
    });
    expect(Object.keys(back.clusters.viewers)).toHaveLength(truth.counts.viewers);
    expect((await readFile(file, 'utf8')).split('\n').length).toBeGreaterThan(truth.minutes.length);
  });
});

describe('generate command options', () => {
  const base = {
    events: '1000',
    rate: '0',
    target: 'none',
    seed: '1',
    outOfOrder: '0.02',
    late: '0',
    duplicates: '0.01',
    malformed: '0',
    skewedClients: '0.05',
    slightlySkewedClients: '0',
    buggyClients: '0.04',
    catalog: true,
    concurrency: '4',
    batch: '100',
    progress: false,
  };

  it('parses durations, times and integers', () => {
    expect(parseDuration('--span', '90m')).toBe(5_400_000);
    expect(parseDuration('--span', '2d')).toBe(172_800_000);
    expect(parseDuration('--span', '1.5h')).toBe(5_400_000);
    expect(parseDuration('--span', '500')).toBe(500);
    expect(() => parseDuration('--span', 'soon')).toThrow(UsageError);
    expect(parseTime('--start', '2026-01-01T00:00:00Z')).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(parseTime('--start', '1700000000000')).toBe(1_700_000_000_000);
    expect(() => parseTime('--start', 'yesterday')).toThrow(UsageError);
    expect(parseInteger('--events', '1_000_000', 1, 1e9)).toBe(1_000_000);
    expect(() => parseInteger('--events', '0', 1, 1e9)).toThrow(/1\.\.1000000000/);
  });

  it('maps the options onto the generator', () => {
    const o = generateOptionsFrom({ ...base, span: '2h', viewers: '500', onTaste: '0.9' });
    expect(o).toMatchObject({
      events: 1000,
      seed: 1,
      spanMs: 7_200_000,
      viewers: 500,
      onTaste: 0.9,
      faults: { outOfOrder: 0.02, late: 0, duplicate: 0.01, malformed: 0 },
      clients: { skewedClients: 0.05, slightlySkewedClients: 0, buggyClients: 0.04 },
    });
    expect(() => generateOptionsFrom({ ...base, late: '2' })).toThrow(/--late/);
  });

  it('says when the truth does not hold', () => {
    expect(truthProblems('collector', emptyStats())).toEqual([]);
    const bad = { ...emptyStats(), rejectedValid: 2, reasons: { event_too_old: 2 }, malformedAccepted: 1, failed: 3 };
    const problems = truthProblems('collector', bad).join('\n');
    expect(problems).toMatch(/3 records could not be delivered/);
    expect(problems).toMatch(/2 valid events were rejected .*event_too_old/);
    expect(problems).toMatch(/1 malformed records were accepted/);
  });
});
