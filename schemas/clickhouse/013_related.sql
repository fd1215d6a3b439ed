-- Materialized recommendations: the related videos of each video and the creators a creator's
-- viewers also watch, at the default read options (half-life, lookback, minimum co-viewers),
-- scored by the same functions the API used to run per request (api/queries/recommendations.ts),
-- refreshed by api/related-refresher.ts (run by `viewpulse run processors` with the
-- recommendations processor) whenever the co-view counts of a video change, and every UTC day
-- (the decay moves with the day). The routes read one row; other read options are scored live.

-- recommendation_changes: when each video's co-view pairs last changed (an insert of pair
-- observations touching it), so the refresher rescores only those.
CREATE TABLE IF NOT EXISTS {{db}}.recommendation_changes (
    video_id   String,
    changed_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(changed_at)
ORDER BY video_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.recommendation_changes_a_mv TO {{db}}.recommendation_changes AS
SELECT video_a AS video_id, now() AS changed_at FROM {{db}}.recommendation_pair_observations GROUP BY video_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.recommendation_changes_b_mv TO {{db}}.recommendation_changes AS
SELECT video_b AS video_id, now() AS changed_at FROM {{db}}.recommendation_pair_observations GROUP BY video_id;

-- related_videos: per video its best related videos (up to 200, score descending), as of a day.
CREATE TABLE IF NOT EXISTS {{db}}.related_videos (
    video_id    String,
    as_of       Date COMMENT 'the UTC day the decay is measured from',
    version     UInt64 COMMENT 'epoch ms when the scoring started',
    related_ids Array(String),
    scores      Array(Float64),
    supports    Array(UInt64)
) ENGINE = ReplacingMergeTree(version)
ORDER BY video_id;

-- related_creators: per creator the creators its viewers also watch (up to 1,000, share descending).
CREATE TABLE IF NOT EXISTS {{db}}.related_creators (
    creator_id  String,
    as_of       Date,
    version     UInt64,
    creator_ids Array(String),
    shares      Array(Float64),
    lifts       Array(Float64),
    co_viewers  Array(Float64),
    supports    Array(UInt64)
) ENGINE = ReplacingMergeTree(version)
ORDER BY creator_id;
