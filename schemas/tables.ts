// Every ClickHouse table name lives here.

export const TABLES = {
  migrations: 'schema_migrations',
  smokeEvents: 'smoke_events',
  /** every accepted play event (raw-events) */
  playEvents: 'play_events',
  /** the catalog (catalog loader) */
  videos: 'videos',
  /** the catalog's (creator, video) pairs ordered by creator: candidates, checked against videos (migration 018) */
  videosByCreator: 'videos_by_creator',
  /** plays, views, watch time per video/creator per minute/hour/day (view-counts) */
  counts: 'view_counts',
  /** one row per playback session, the base of engagement numbers (engagement) */
  sessions: 'sessions',
  /** counted views' numbers per window and video / creator / breakdown value, read by the insights routes (engagement) */
  engagementRollup: 'engagement_rollup',
  /** per creator and partition, the sessions with an event in the last 2 minutes: who watches now (engagement) */
  creatorLive: 'creator_live',
  /** counted views' (creator, country or device, viewer, view time); a materialized view rolls them into uniq states (engagement) */
  audienceObservations: 'audience_observations',
  creatorAudience: 'creator_audience',
  /** viewer observations; materialized views roll them into uniq states (engagement) */
  viewerObservations: 'viewer_observations',
  videoViewersHourly: 'video_viewers_hourly',
  videoViewersDaily: 'video_viewers_daily',
  creatorViewersHourly: 'creator_viewers_hourly',
  creatorViewersDaily: 'creator_viewers_daily',
  /** the same per Monday-start week, so a range's whole weeks are one state each (migration 016) */
  videoViewersWeekly: 'video_viewers_weekly',
  creatorViewersWeekly: 'creator_viewers_weekly',
  /** creator_audience per week (country and device values) */
  creatorAudienceWeekly: 'creator_audience_weekly',
  creatorViewerFirstSeen: 'creator_viewer_first_seen',
  /** (creator, day, viewer): the days each viewer watched each creator, a set (engagement) */
  creatorViewerDays: 'creator_viewer_days',
  /** co-viewed video pairs (day, video_a < video_b, viewer): a Null table feeding uniqExact states (recommendations) */
  recommendationPairObservations: 'recommendation_pair_observations',
  /** per (day, video, related video): uniqExact state of the viewers who co-viewed them, both directions */
  recommendationPairsDaily: 'recommendation_pairs_daily',
  /** (day, video, viewer) of every video in a co-view window: a Null table feeding uniqExact states */
  recommendationVideoObservations: 'recommendation_video_observations',
  /** per (day, video): uniqExact state of its co-view viewers, the normalisation of the similarity */
  recommendationVideosDaily: 'recommendation_videos_daily',
  /** per day: uniqExact state of every co-view viewer, overall popularity for creator lift */
  recommendationViewersDaily: 'recommendation_viewers_daily',
  /** when each video's co-view pairs last changed (materialized views on the pair observations) */
  recommendationChanges: 'recommendation_changes',
  /** per video its related videos at the default read options, refreshed as the co-view counts change */
  relatedVideos: 'related_videos',
  /** per creator the creators its viewers also watch, at the default read options */
  relatedCreators: 'related_creators',
  /** input records a processor sent to the dead-letter topic, with the reason (all processors) */
  deadLetters: 'dead_letters',
  /** events that arrived after their window closed (all processors) */
  lateEvents: 'late_events',
  /** per processor and partition: how far results are final */
  watermarks: 'processor_watermarks',
  /** per processor and partition: state snapshot and the offset it covers */
  checkpoints: 'processor_checkpoints',
  /** per processor: the consumer group (and rule parameters) it runs as; `viewpulse replay --swap` appends */
  generations: 'processor_generations',
  /** the steps of every `viewpulse replay` run, so a killed one resumes */
  replays: 'replays',
} as const;

export type TableKey = keyof typeof TABLES;

/**
 * The tables holding each processor's results: what `viewpulse replay` rebuilds in a shadow
 * database and swaps in. Null tables and materialized views are not listed (they hold no rows:
 * a view writes into whichever table has the target's name, so after a swap the live views feed
 * the rebuilt tables); nor are the shared logs (late events, dead letters, watermarks), which
 * record what happened when and are not rebuilt.
 */
export const REBUILT_TABLES = {
  'view-counts': [TABLES.counts],
  engagement: [
    TABLES.sessions,
    TABLES.engagementRollup,
    TABLES.creatorLive,
    TABLES.creatorAudience,
    TABLES.creatorAudienceWeekly,
    TABLES.videoViewersHourly,
    TABLES.videoViewersDaily,
    TABLES.creatorViewersHourly,
    TABLES.creatorViewersDaily,
    TABLES.videoViewersWeekly,
    TABLES.creatorViewersWeekly,
    TABLES.creatorViewerFirstSeen,
    TABLES.creatorViewerDays,
  ],
  recommendations: [
    TABLES.recommendationPairsDaily,
    TABLES.recommendationVideosDaily,
    TABLES.recommendationViewersDaily,
    // rebuilt empty: the refresher scores every video again after the swap
    TABLES.relatedVideos,
    TABLES.relatedCreators,
  ],
  'raw-events': [TABLES.playEvents],
} as const;
