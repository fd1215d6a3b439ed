// Viewers and their clients. A viewer's profile is a pure function of (seed, index): no
// per-viewer state is kept, so a pool of a million viewers costs nothing until they appear.
//
// Hidden ground truth: every viewer has a preferred taste cluster. Visits (see index.ts)
// stay mostly on it, which is what recommendations must later recover from co-viewing.
import type { Device } from '../schemas/types.js';
import { Rng, WeightedTable } from './rng.js';

export interface ClientMix {
  /** Share of clients whose clock is off by whole seconds, 1..30 minutes either way (corrected by the collector). */
  skewedClients: number;
  /** Share of clients off by up to half a second (below the 2 s threshold: not corrected). */
  slightlySkewedClients: number;
  /** Share of clients on an old SDK that over-reports watched_ms (the watch-time bound catches it). */
  buggyClients: number;
}

export const DEFAULT_CLIENT_MIX: ClientMix = { skewedClients: 0.05, slightlySkewedClients: 0.05, buggyClients: 0.04 };

export interface ViewerProfile {
  index: number;
  viewer_id: string;
  cluster: number;
  device: Device;
  os: string;
  country: string;
  sdk_version: string;
  /** The client's clock minus true time, ms. */
  skewMs: number;
  /** Over-reports watched_ms now and then. */
  buggy: boolean;
  /** Median time to first frame, ms. */
  startupMedianMs: number;
  /** Relative chance of stalls. */
  rebufferProneness: number;
}

const DEVICES = WeightedTable.of<Device>({
  mobile: 0.55,
  desktop: 0.25,
  tv: 0.12,
  tablet: 0.06,
  console: 0.015,
  other: 0.005,
});

const OS: Record<Device, WeightedTable<string>> = {
  mobile: WeightedTable.of({ Android: 0.7, iOS: 0.3 }),
  desktop: WeightedTable.of({ Windows: 0.7, macOS: 0.22, Linux: 0.08 }),
  tablet: WeightedTable.of({ iPadOS: 0.55, Android: 0.45 }),
  tv: WeightedTable.of({ 'Android TV': 0.35, Tizen: 0.25, webOS: 0.2, tvOS: 0.2 }),
  console: WeightedTable.of({ PlayStation: 0.55, Xbox: 0.45 }),
  other: WeightedTable.of({ other: 1 }),
};

const COUNTRIES = WeightedTable.of({
  US: 0.22,
  IN: 0.14,
  BR: 0.07,
  GB: 0.05,
  DE: 0.05,
  JP: 0.05,
  FR: 0.04,
  MX: 0.04,
  ID: 0.04,
  CA: 0.03,
  ES: 0.03,
  IT: 0.03,
  KR: 0.03,
  PH: 0.03,
  TR: 0.03,
  NG: 0.02,
  AU: 0.02,
  NL: 0.02,
  PL: 0.02,
  EG: 0.02,
  ZZ: 0.01,
});

const STARTUP_MEDIAN_MS: Record<Device, number> = {
  desktop: 600,
  mobile: 900,
  tablet: 800,
  tv: 1300,
  console: 1100,
  other: 1000,
};

const REBUFFER_PRONENESS: Record<Device, number> = {
  desktop: 0.6,
  mobile: 1.4,
  tablet: 1,
  tv: 0.8,
  console: 0.7,
  other: 1,
};

// Countries with slower networks stall more and start slower.
const SLOW_NETWORK = new Set(['IN', 'BR', 'ID', 'NG', 'PH', 'EG', 'MX', 'TR']);

function sdkFor(device: Device, os: string, buggy: boolean): string {
  const platform =
    device === 'desktop'
      ? 'viewpulse-js'
      : os === 'iOS' || os === 'iPadOS' || os === 'tvOS'
        ? 'viewpulse-ios'
        : os === 'Android' || os === 'Android TV'
          ? 'viewpulse-android'
          : 'viewpulse-tv';
  return `${platform}/${buggy ? '2.9.1' : '3.4.0'}`;
}

export const viewerId = (tag: string, index: number): string => `${tag}-u${String(index).padStart(7, '0')}`;

export function viewerProfile(
  seed: number,
  tag: string,
  index: number,
  clusters: number,
  mix: ClientMix = DEFAULT_CLIENT_MIX,
): ViewerProfile {
  const rng = Rng.for(seed, 'viewer', index);
  const cluster = rng.int(clusters);
  const device = DEVICES.pick(rng);
  const os = OS[device].pick(rng);
  const country = COUNTRIES.pick(rng);
  const buggy = rng.chance(mix.buggyClients);
  const u = rng.next();
  let skewMs = 0;
  if (u < mix.skewedClients) {
    skewMs = (rng.chance(0.5) ? 1 : -1) * rng.range(60, 1800) * 1000;
  } else if (u < mix.skewedClients + mix.slightlySkewedClients) {
    skewMs = (rng.chance(0.5) ? 1 : -1) * rng.range(1, 500);
  }
  const slow = SLOW_NETWORK.has(country) ? 1.6 : 1;
  return {
    index,
    viewer_id: viewerId(tag, index),
    cluster,
    device,
    os,
    country,
    sdk_version: sdkFor(device, os, buggy),
    skewMs,
    buggy,
    startupMedianMs: STARTUP_MEDIAN_MS[device] * slow,
    rebufferProneness: REBUFFER_PRONENESS[device] * slow,
  };
}

/** A viewer for a new visit: heavy viewers (low indexes) come back more often. */
export function pickViewerIndex(rng: Rng, pool: number): number {
  return Math.min(pool - 1, Math.floor(pool * Math.pow(rng.next(), 1.6)));
}
