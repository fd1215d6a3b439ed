-- Unique viewers per week, beside the hours and days. A unique count over a range merges one
-- uniqCombined state per window it reads, and a busy creator's or video's day is a full
-- HyperLogLog (about 96 KiB): merging one took 0.4 ms here, so 28 days cost 11 ms and 90 days
-- 36 ms per range (overview reads two ranges), growing with the days and never with the rows
-- returned. With weeks the whole days of a range are read as days up to the first Monday,
-- whole weeks, and days after the last Monday: at most 2 × 6 day states besides the weeks.
-- The result is the same number (the union of the same viewers: HyperLogLog merges take the
-- maximum per register, in any grouping). Weeks are ClickHouse's toMonday (Monday 00:00 UTC).
-- Each table is fed by a materialized view like its hourly and daily siblings, and filled from
-- the daily states written before it existed. The view is created before the copy, so a
-- viewer inserted meanwhile is in both, which a uniq state folds into one; for the same
-- reason the file can run again after a crash.

-- video_viewers_weekly
CREATE TABLE IF NOT EXISTS {{db}}.video_viewers_weekly (
    video_id String,
    week     Date COMMENT 'Monday (toMonday)',
    viewers  AggregateFunction(uniqCombined, String)
) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(week) ORDER BY (video_id, week)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.video_viewers_weekly_mv TO {{db}}.video_viewers_weekly AS
SELECT video_id, toMonday(event_time) AS week, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.viewer_observations GROUP BY video_id, week;

INSERT INTO {{db}}.video_viewers_weekly
SELECT video_id, toMonday(day) AS week, uniqCombinedMergeState(viewers) AS viewers
FROM {{db}}.video_viewers_daily GROUP BY video_id, week;

-- creator_viewers_weekly
CREATE TABLE IF NOT EXISTS {{db}}.creator_viewers_weekly (
    creator_id String,
    week       Date COMMENT 'Monday (toMonday)',
    viewers    AggregateFunction(uniqCombined, String)
) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(week) ORDER BY (creator_id, week)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_viewers_weekly_mv TO {{db}}.creator_viewers_weekly AS
SELECT creator_id, toMonday(event_time) AS week, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.viewer_observations WHERE creator_id != '' GROUP BY creator_id, week;

INSERT INTO {{db}}.creator_viewers_weekly
SELECT creator_id, toMonday(day) AS week, uniqCombinedMergeState(viewers) AS viewers
FROM {{db}}.creator_viewers_daily GROUP BY creator_id, week;

-- creator_audience_weekly: creator_audience's distinct viewers by country and device, per week
CREATE TABLE IF NOT EXISTS {{db}}.creator_audience_weekly (
    creator_id String,
    dimension  Enum8('country' = 1, 'device' = 2),
    week       Date COMMENT 'Monday (toMonday) of the view time',
    value      String,
    viewers    AggregateFunction(uniqCombined, String)
) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(week) ORDER BY (creator_id, dimension, week, value)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_audience_weekly_mv TO {{db}}.creator_audience_weekly AS
SELECT creator_id, dimension, toMonday(view_time) AS week, value, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.audience_observations GROUP BY creator_id, dimension, week, value;

INSERT INTO {{db}}.creator_audience_weekly
SELECT creator_id, dimension, toMonday(window_start) AS week, value, uniqCombinedMergeState(viewers) AS viewers
FROM {{db}}.creator_audience WHERE grain = 'day' GROUP BY creator_id, dimension, week, value;
