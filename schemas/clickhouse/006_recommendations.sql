-- Recommendations: the co-view graph, written by the recommendations processor
-- (processors/recommendations/). A co-view window is a viewer's run of qualified views with
-- less than 30 minutes between consecutive ones; its first 20 (by default) distinct videos form pairs.
--
-- The processor writes OBSERVATIONS, not counts: "viewer u co-viewed videos a and b on day d"
-- and "viewer u viewed video a (in a co-view window) on day d". Both go to Null tables, which
-- store nothing; materialized views fold every insert into uniqExact states per day. A
-- replayed observation (after a crash, or a zombie instance) adds a viewer already in the
-- set, so it cannot change any number: exactly-once without versions or keys. Days are
-- mergeable: any period is the merge of its days, and readers weight each day by a time
-- decay (0.5 ^ (age_days / half_life)) at read time — see docs/sql.md and
-- api/queries/recommendations.ts. Old days stop mattering through the decay; a newer server
-- could also drop them with a TTL (18.16 has none), and any month can be dropped by hand
-- (ALTER TABLE ... DROP PARTITION 202611).

-- One row per (day, video_a, video_b, viewer) with video_a < video_b (string order).
CREATE TABLE IF NOT EXISTS {{db}}.recommendation_pair_observations (
    day       Date   COMMENT 'UTC day of the later of the two views',
    video_a   String COMMENT 'the smaller video id of the pair',
    video_b   String COMMENT 'the larger video id of the pair',
    viewer_id String
) ENGINE = Null;

-- Both directions of every pair, so "related to video X" is a prefix read (video_id = X).
CREATE TABLE IF NOT EXISTS {{db}}.recommendation_pairs_daily (
    day        Date,
    video_id   String,
    related_id String,
    viewers    AggregateFunction(uniqExact, String) COMMENT 'distinct viewers who co-viewed video_id and related_id that day'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (video_id, related_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.recommendation_pairs_ab_mv TO {{db}}.recommendation_pairs_daily AS
SELECT day, video_a AS video_id, video_b AS related_id, uniqExactState(viewer_id) AS viewers
FROM {{db}}.recommendation_pair_observations GROUP BY day, video_id, related_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.recommendation_pairs_ba_mv TO {{db}}.recommendation_pairs_daily AS
SELECT day, video_b AS video_id, video_a AS related_id, uniqExactState(viewer_id) AS viewers
FROM {{db}}.recommendation_pair_observations GROUP BY day, video_id, related_id;

-- One row per (day, video, viewer) for every video that entered a co-view window (after the cap).
CREATE TABLE IF NOT EXISTS {{db}}.recommendation_video_observations (
    day       Date   COMMENT 'UTC day of the view',
    video_id  String,
    viewer_id String
) ENGINE = Null;

CREATE TABLE IF NOT EXISTS {{db}}.recommendation_videos_daily (
    day      Date,
    video_id String,
    viewers  AggregateFunction(uniqExact, String) COMMENT 'distinct viewers with a view of video_id in a co-view window that day'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (video_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.recommendation_videos_daily_mv TO {{db}}.recommendation_videos_daily AS
SELECT day, video_id, uniqExactState(viewer_id) AS viewers
FROM {{db}}.recommendation_video_observations GROUP BY day, video_id;

CREATE TABLE IF NOT EXISTS {{db}}.recommendation_viewers_daily (
    day     Date,
    viewers AggregateFunction(uniqExact, String) COMMENT 'distinct viewers with any view in a co-view window that day'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY day;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.recommendation_viewers_daily_mv TO {{db}}.recommendation_viewers_daily AS
SELECT day, uniqExactState(viewer_id) AS viewers
FROM {{db}}.recommendation_video_observations GROUP BY day;
