-- sessions: one row per playback session, the base of the engagement numbers (average view
-- duration, percentage viewed, completion, quantiles, retention, breakdowns, QoE). Written by
-- the engagement processor as full values: a newer version replaces an older one, so read
-- with FINAL. Only rows with counted_view = 1 are views (DESIGN's view rule and repeat cap).
CREATE TABLE IF NOT EXISTS {{db}}.sessions (
    session_id        String,
    viewer_id         String,
    video_id          String,
    creator_id        String,
    first_seen_at     DateTime('UTC') COMMENT 'event time of the first event processed (fixed: picks the partition)',
    started_at        DateTime('UTC') COMMENT 'earliest event time',
    ended_at          DateTime('UTC') COMMENT 'latest event time',
    events            UInt32,
    plays             UInt8  COMMENT '1 if the session has a play_start',
    watch_ms          UInt64 COMMENT 'watch time (docs/semantics.md)',
    duration_ms       UInt64 COMMENT 'video length from the catalog; 0 unknown',
    max_position_ms   UInt64,
    completed         UInt8  COMMENT '1 if it sent complete',
    qualified         UInt8  COMMENT '1 if it reached the view threshold or completed',
    view_time         DateTime('UTC') COMMENT 'when it qualified (epoch 0 if not)',
    counted_view      UInt8  COMMENT '1 if it counts as a view after the 30-minute repeat cap',
    covered           Array(UInt8) COMMENT 'retention buckets 0..100 the session watched',
    device            String,
    os                String,
    country           String,
    traffic_source    String,
    referrer_video_id String COMMENT 'empty unless traffic_source = suggested',
    startup_ms        Nullable(UInt32),
    rebuffer_ms       UInt64,
    rebuffers         UInt32,
    errors            UInt32,
    closed            UInt8  COMMENT '1 once the inactivity gap passed: the row is final',
    kafka_partition   UInt16,
    version           UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(first_seen_at)
ORDER BY (video_id, session_id);

-- viewer_observations: (video, creator, viewer, hour) facts. A Null table stores nothing: the
-- materialized views below fold each insert into mergeable uniq / min states, which a replay
-- cannot inflate (a viewer seen twice is still one viewer).
CREATE TABLE IF NOT EXISTS {{db}}.viewer_observations (
    video_id   String,
    creator_id String,
    viewer_id  String,
    event_time DateTime('UTC')
) ENGINE = Null;

CREATE TABLE IF NOT EXISTS {{db}}.video_viewers_hourly (
    video_id String,
    hour     DateTime('UTC'),
    viewers  AggregateFunction(uniqCombined, String)
) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(hour) ORDER BY (video_id, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.video_viewers_hourly_mv TO {{db}}.video_viewers_hourly AS
SELECT video_id, toStartOfHour(event_time) AS hour, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.viewer_observations GROUP BY video_id, hour;

CREATE TABLE IF NOT EXISTS {{db}}.video_viewers_daily (
    video_id String,
    day      Date,
    viewers  AggregateFunction(uniqCombined, String)
) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(day) ORDER BY (video_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.video_viewers_daily_mv TO {{db}}.video_viewers_daily AS
SELECT video_id, toDate(event_time) AS day, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.viewer_observations GROUP BY video_id, day;

CREATE TABLE IF NOT EXISTS {{db}}.creator_viewers_hourly (
    creator_id String,
    hour       DateTime('UTC'),
    viewers    AggregateFunction(uniqCombined, String)
) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(hour) ORDER BY (creator_id, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_viewers_hourly_mv TO {{db}}.creator_viewers_hourly AS
SELECT creator_id, toStartOfHour(event_time) AS hour, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.viewer_observations WHERE creator_id != '' GROUP BY creator_id, hour;

CREATE TABLE IF NOT EXISTS {{db}}.creator_viewers_daily (
    creator_id String,
    day        Date,
    viewers    AggregateFunction(uniqCombined, String)
) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(day) ORDER BY (creator_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_viewers_daily_mv TO {{db}}.creator_viewers_daily AS
SELECT creator_id, toDate(event_time) AS day, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.viewer_observations WHERE creator_id != '' GROUP BY creator_id, day;

-- creator_viewer_first_seen: when each viewer first watched each creator (min state), for
-- new versus returning viewers: new on day d = first seen on d; returning = the rest.
CREATE TABLE IF NOT EXISTS {{db}}.creator_viewer_first_seen (
    creator_id String,
    viewer_id  String,
    first_seen AggregateFunction(min, DateTime('UTC'))
) ENGINE = AggregatingMergeTree ORDER BY (creator_id, viewer_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_viewer_first_seen_mv TO {{db}}.creator_viewer_first_seen AS
SELECT creator_id, viewer_id, minState(event_time) AS first_seen
FROM {{db}}.viewer_observations WHERE creator_id != '' GROUP BY creator_id, viewer_id;
