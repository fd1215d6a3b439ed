// The catalog processor: the compacted `videos` topic into the `videos` table. The newest
// record of a video wins, a tombstone marks it deleted, and a record that breaks the rules
// goes to the dead-letter topic.
import { describe, expect, it } from 'vitest';
import { catalog, VIDEOS_TABLE } from '../../../processors/catalog/processor.js';
import { MemoryTable } from '../../../processors/driver.js';
import type { Outcome } from '../../../processors/outcome.js';
import type { Video } from '../../../schemas/types.js';

const PUBLISHED = Date.UTC(2026, 0, 15, 9, 30, 0);

const video = (id: string, extra: Partial<Video> = {}): Video => ({
  video_id: id,
  creator_id: 'c1',
  title: `Video ${id}`,
  duration_ms: 300_000,
  published_at: PUBLISHED,
  category: 'music',
  ...extra,
});

/**
 * One partition of the videos topic: records carry their key (the video_id), which a tombstone
 * needs. Rows go into a table with the ReplacingMergeTree semantics of `videos`.
 */
class CatalogTopic {
  readonly table = new MemoryTable(VIDEOS_TABLE);
  private readonly log: { key: string | null; value: Video | null }[] = [];
  readonly outcomes: Outcome[] = [];

  /** Appends records (the key defaults to the video_id) and loads them. */
  put(...records: (Video | { key: string | null; value: Video | null })[]): Outcome[] {
    const start = this.log.length;
    for (const r of records) this.log.push('key' in r ? r : { key: r.video_id, value: r });
    return this.load(start);
  }

  tombstone(key: string | null): Outcome {
    return this.put({ key, value: null })[0]!;
  }

  /** A processor loads the log from `from` to the end (a replay starts before the end). */
  load(from: number): Outcome[] {
    const p = catalog().create(0, null, { get: () => undefined });
    const outcomes = this.log
      .slice(from)
      .map((r, i) => p.process({ topic: 'videos', partition: 0, offset: from + i, key: r.key, value: r.value }));
    for (const rows of p.drain().values()) this.table.insert(rows);
    this.outcomes.push(...outcomes);
    return outcomes;
  }

  row(id: string): Record<string, unknown> | undefined {
    return this.table.rows().find((r) => r.video_id === id);
  }
}

describe('catalog processor', () => {
  it('a put becomes a row with every field, versioned by its offset', () => {
    const topic = new CatalogTopic();
    expect(topic.put(video('v1'), video('v2', { creator_id: 'c2' }))).toEqual([{ kind: 'ok' }, { kind: 'ok' }]);
    expect(topic.row('v2')).toEqual({
      video_id: 'v2',
      creator_id: 'c2',
      title: 'Video v2',
      duration_ms: 300_000,
      published_at: PUBLISHED,
      category: 'music',
      deleted: 0,
      version: 1,
    });
  });

  it('an update replaces the video: the higher offset wins, also when a replay writes older rows again', () => {
    const topic = new CatalogTopic();
    topic.put(video('v1'), video('v2'));
    topic.put(video('v1', { title: 'Better title', duration_ms: 301_000 }));
    expect(topic.row('v1')).toMatchObject({ title: 'Better title', duration_ms: 301_000, version: 2 });
    topic.load(0); // a replay from the start
    expect(topic.row('v1')).toMatchObject({ title: 'Better title', duration_ms: 301_000, version: 2 });
    expect(topic.table.rows()).toHaveLength(2);
  });

  it('a tombstone marks the video deleted, with empty fields; a later put brings it back', () => {
    const topic = new CatalogTopic();
    topic.put(video('v1'));
    expect(topic.tombstone('v1')).toEqual({ kind: 'ok' });
    expect(topic.row('v1')).toEqual({
      video_id: 'v1',
      creator_id: '',
      title: '',
      duration_ms: 0,
      published_at: 0,
      category: '',
      deleted: 1,
      version: 1,
    });
    topic.put(video('v1', { title: 'Back' }));
    expect(topic.row('v1')).toMatchObject({ deleted: 0, title: 'Back', version: 2 });
  });

  it('has no state and no event time', () => {
    const p = catalog().create(3, null, { get: () => undefined });
    expect(p.snapshot()).toEqual([]);
    expect(p.stateChanges()).toEqual([]);
    expect(p.watermark).toBe(Number.NEGATIVE_INFINITY);
    expect(catalog().tables).toEqual([VIDEOS_TABLE]);
  });

  it.each<[string, { key: string | null; value: Video | null }, string]>([
    ['an empty video_id', { key: null, value: video('') }, 'video_id: must not be empty'],
    ['an empty creator_id', { key: 'v1', value: video('v1', { creator_id: '' }) }, 'creator_id: must not be empty'],
    ['a zero duration', { key: 'v1', value: video('v1', { duration_ms: 0 }) }, 'duration_ms: must be a positive'],
    ['a negative duration', { key: 'v1', value: video('v1', { duration_ms: -5 }) }, 'duration_ms: must be a positive'],
    ['a key that is not its video_id', { key: 'v2', value: video('v1') }, 'key: must equal video_id'],
    ['a tombstone without a key', { key: null, value: null }, 'key: a tombstone needs the video_id as its key'],
    ['a tombstone with an empty key', { key: '', value: null }, 'key: a tombstone needs the video_id as its key'],
  ])('%s goes to the dead-letter topic with the reason, and nothing is written', (_, record, reason) => {
    const topic = new CatalogTopic();
    const [outcome] = topic.put(record);
    expect(outcome).toMatchObject({ kind: 'dlq', code: 'VP_ERR_VIDEO_RULES' });
    expect((outcome as { reason: string }).reason).toContain(reason);
    expect(topic.table.rows()).toEqual([]);
  });

  it('a bad record does not stop the ones after it', () => {
    const topic = new CatalogTopic();
    const outcomes = topic.put(video('v1', { duration_ms: 0 }), video('v2'));
    expect(outcomes.map((o) => o.kind)).toEqual(['dlq', 'ok']);
    expect(topic.table.rows().map((r) => r.video_id)).toEqual(['v2']);
  });
});
