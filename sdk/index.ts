// @viewpulse/sdk: the `<video>` monitor and the low-level tracker it sends through.
export { monitor, type MediaElementLike, type Monitor, type MonitorOptions, type SessionFields } from './monitor.js';
export {
  createTracker,
  DROP_REASONS,
  SDK_VERSION,
  type DropReason,
  type DropReport,
  type FetchInit,
  type FetchLike,
  type FetchResponse,
  type SentEvent,
  type Tracker,
  type TrackerOptions,
  type TrackerStats,
  type TrackEvent,
} from './player.js';
export type { Device, EventType, PlayEvent, TrafficSource } from './types.js';
