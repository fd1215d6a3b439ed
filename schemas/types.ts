// TypeScript shapes of the Avro contracts in schemas/avro/. test/unit/schemas.test.ts
// proves they match field for field.

export const EVENT_TYPES = [
  'play_start',
  'heartbeat',
  'pause',
  'resume',
  'seek',
  'rebuffer_start',
  'rebuffer_end',
  'complete',
  'play_end',
  'error',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const TRAFFIC_SOURCES = [
  'search',
  'suggested',
  'browse',
  'external',
  'direct',
  'playlist',
  'notification',
  'other',
] as const;
export type TrafficSource = (typeof TRAFFIC_SOURCES)[number];

export const DEVICES = ['desktop', 'mobile', 'tablet', 'tv', 'console', 'other'] as const;
export type Device = (typeof DEVICES)[number];

/** A play event (schemas/avro/PlayEvent.avsc). Times are epoch milliseconds. */
export interface PlayEvent {
  event_id: string;
  event_type: EventType;
  event_time: number;
  received_at: number;
  session_id: string;
  viewer_id: string;
  video_id: string;
  position_ms: number;
  watched_ms: number;
  device: string;
  os: string;
  country: string;
  traffic_source: TrafficSource;
  referrer_video_id: string | null;
  seek_from_ms: number | null;
  startup_ms: number | null;
  rebuffer_ms: number | null;
  error_code: string | null;
  sdk_version: string;
}

/** A catalog entry (schemas/avro/Video.avsc). A null record value deletes the video. */
export interface Video {
  video_id: string;
  creator_id: string;
  title: string;
  duration_ms: number;
  published_at: number;
  category: string;
}
