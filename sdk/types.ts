// The play event as the SDK knows it: a copy of `PlayEvent` in schemas/types.ts (the Avro
// schema schemas/avro/PlayEvent.avsc), so that the SDK package stands alone — its type
// declarations import nothing from outside sdk/. test/unit/sdk-package.test.ts checks that
// the two stay identical.

export type EventType =
  | 'play_start'
  | 'heartbeat'
  | 'pause'
  | 'resume'
  | 'seek'
  | 'rebuffer_start'
  | 'rebuffer_end'
  | 'complete'
  | 'play_end'
  | 'error';

export type TrafficSource =
  'search' | 'suggested' | 'browse' | 'external' | 'direct' | 'playlist' | 'notification' | 'other';

/** What the collector accepts as `device`. */
export type Device = 'desktop' | 'mobile' | 'tablet' | 'tv' | 'console' | 'other';

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
