// Every /v1 route plugin, in the order they are registered (and listed at /docs). To add a
// route file: one import and one entry. Each plugin is registered inside buildApp's /v1 scope,
// so every route it adds is authenticated and rate limited (api/auth.ts); it reads ClickHouse
// through `app.viewpulse` (api/routes/context.ts: ctxOf) and checks access with
// assertCreatorAccess / assertVideoAccess.
import type { ApiRoutes } from './context.js';
import { overviewRoutes } from './overview.js';
import { timeseriesRoutes } from './timeseries.js';
import { realtimeRoutes } from './realtime.js';
import { creatorVideosRoutes } from './creator-videos.js';
import { audienceRoutes } from './audience.js';
import { healthRoutes } from './health.js';
import { videoStatsRoutes } from './video-stats.js';
import { retentionRoutes } from './retention.js';
import { breakdownRoutes } from './breakdown.js';
import { trafficRoutes } from './traffic.js';
import { recommendationsRoutes } from './recommendations.js';
import { qoeRoutes } from './qoe.js';

export type { ApiRoutes } from './context.js';

export const ROUTES: ApiRoutes[] = [
  overviewRoutes,
  timeseriesRoutes,
  realtimeRoutes,
  creatorVideosRoutes,
  audienceRoutes,
  healthRoutes,
  videoStatsRoutes,
  retentionRoutes,
  breakdownRoutes,
  trafficRoutes,
  recommendationsRoutes,
  qoeRoutes,
];
