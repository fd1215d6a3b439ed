// The TypeScript types in schemas/types.ts match the Avro contracts field for field.
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { playEventSchema, videoSchema } from '../../schemas/avro.js';
import { EVENT_TYPES, TRAFFIC_SOURCES, type PlayEvent, type Video } from '../../schemas/types.js';

// `Required<...>` with `satisfies` makes the compiler prove every property is listed here,
// and nothing else: adding a field to the type without the schema (or the reverse) fails.
const fullEvent = {
  event_id: '9b2f5d1e-3c1a-4b8e-9f3e-1a2b3c4d5e6f',
  event_type: 'seek',
  event_time: 1_795_000_000_000,
  received_at: 1_795_000_000_500,
  session_id: 's1',
  viewer_id: 'u1',
  video_id: 'v1',
  position_ms: 120_000,
  watched_ms: 9_000,
  device: 'mobile',
  os: 'android',
  country: 'DE',
  traffic_source: 'suggested',
  referrer_video_id: 'v0',
  seek_from_ms: 60_000,
  startup_ms: 800,
  rebuffer_ms: 0,
  error_code: null,
  sdk_version: '1.0.0',
} satisfies Required<PlayEvent>;

const fullVideo = {
  video_id: 'v1',
  creator_id: 'c1',
  title: 'A title',
  duration_ms: 600_000,
  published_at: 1_790_000_000_000,
  category: 'music',
} satisfies Required<Video>;

const fieldNames = (schema: object): string[] => (schema as { fields: { name: string }[] }).fields.map((f) => f.name);
const enumSymbols = (schema: object, field: string): string[] =>
  (schema as { fields: { name: string; type: { symbols: string[] } }[] }).fields.find((f) => f.name === field)!.type
    .symbols;

describe('TypeScript types match the Avro schemas', () => {
  it('PlayEvent has exactly the schema fields, and a full value is valid Avro', () => {
    expect(Object.keys(fullEvent).sort()).toEqual(fieldNames(playEventSchema()).sort());
    const type = avro.Type.forSchema(playEventSchema() as avro.Schema);
    expect(type.isValid(fullEvent)).toBe(true);
    expect(type.fromBuffer(type.toBuffer(fullEvent))).toEqual(fullEvent);
  });

  it('PlayEvent enums are the same symbols in the same order', () => {
    expect(enumSymbols(playEventSchema(), 'event_type')).toEqual([...EVENT_TYPES]);
    expect(enumSymbols(playEventSchema(), 'traffic_source')).toEqual([...TRAFFIC_SOURCES]);
  });

  it('Video has exactly the schema fields, and a full value is valid Avro', () => {
    expect(Object.keys(fullVideo).sort()).toEqual(fieldNames(videoSchema()).sort());
    const type = avro.Type.forSchema(videoSchema() as avro.Schema);
    expect(type.isValid(fullVideo)).toBe(true);
  });

  it('every nullable field has a null default', () => {
    for (const schema of [playEventSchema(), videoSchema()]) {
      for (const f of (schema as { fields: { name: string; type: unknown; default?: unknown }[] }).fields) {
        if (Array.isArray(f.type) && f.type.includes('null')) expect(f, f.name).toHaveProperty('default', null);
      }
    }
  });
});
