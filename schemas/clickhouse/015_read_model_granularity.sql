-- Read models with 256-row granules. The insights routes read a few dozen rows of one video or
-- creator (the windows of a range), but a MergeTree reads whole granules: at the default 8,192
-- rows a granule, one video's retention curve over 28 days read 49,152 rows (25.9 MiB, the
-- 101-point arrays) for the 190 it sums; at 256, 2,560 rows (2.1 MiB) (docs/sql.md). The setting
-- cannot be changed on a table, so each table is rebuilt: a new table of the same columns
-- (AS), the names swapped, the rows copied, the old table dropped. A crash anywhere is repaired
-- by running the file again (lib/clickhouse/migrations.ts skips a CREATE .. AS whose table
-- exists and a RENAME whose target exists; a copy made twice repeats rows that every one of
-- these engines folds into one: the same version of a Replacing row, the same viewer in a
-- uniq, min or set state).
-- A table fed by materialized views has its views dropped before the swap and created again
-- after it: a view's target is fixed when it is created (by UUID on current servers), so it
-- would keep writing into the old table. Run it as every migration is run, before the
-- processors start (viewpulse migrate): rows inserted meanwhile would miss the views.
-- On a cluster (Replicated engines, migrations-cluster.ts), a run that crashed between a table's
-- swap and the end of its block stops there when run again: `CREATE .. <table>__g256` fails,
-- since the swapped-in table holds that ZooKeeper path. Run the rest of that block by hand,
-- from its first RENAME on, then `viewpulse migrate` again.

-- engagement_rollup
CREATE TABLE IF NOT EXISTS {{db}}.engagement_rollup__g256 AS {{db}}.engagement_rollup
ENGINE = ReplacingMergeTree(version) PARTITION BY (grain, toYYYYMM(window_start)) ORDER BY (dim, id, grain, window_start, value, kafka_partition, seq)
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.engagement_rollup TO {{db}}.engagement_rollup__g8192;
RENAME TABLE {{db}}.engagement_rollup__g256 TO {{db}}.engagement_rollup;
INSERT INTO {{db}}.engagement_rollup SELECT * FROM {{db}}.engagement_rollup__g8192;
DROP TABLE IF EXISTS {{db}}.engagement_rollup__g8192;
DROP TABLE IF EXISTS {{db}}.engagement_rollup__g256;

-- view_counts
CREATE TABLE IF NOT EXISTS {{db}}.view_counts__g256 AS {{db}}.view_counts
ENGINE = ReplacingMergeTree(version) PARTITION BY (grain, toYYYYMM(window_start)) ORDER BY (dim, id, grain, window_start, kafka_partition, seq)
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.view_counts TO {{db}}.view_counts__g8192;
RENAME TABLE {{db}}.view_counts__g256 TO {{db}}.view_counts;
INSERT INTO {{db}}.view_counts SELECT * FROM {{db}}.view_counts__g8192;
DROP TABLE IF EXISTS {{db}}.view_counts__g8192;
DROP TABLE IF EXISTS {{db}}.view_counts__g256;

-- videos
CREATE TABLE IF NOT EXISTS {{db}}.videos__g256 AS {{db}}.videos
ENGINE = ReplacingMergeTree(version) ORDER BY video_id
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.videos TO {{db}}.videos__g8192;
RENAME TABLE {{db}}.videos__g256 TO {{db}}.videos;
INSERT INTO {{db}}.videos SELECT * FROM {{db}}.videos__g8192;
DROP TABLE IF EXISTS {{db}}.videos__g8192;
DROP TABLE IF EXISTS {{db}}.videos__g256;

-- related_videos
CREATE TABLE IF NOT EXISTS {{db}}.related_videos__g256 AS {{db}}.related_videos
ENGINE = ReplacingMergeTree(version) ORDER BY video_id
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.related_videos TO {{db}}.related_videos__g8192;
RENAME TABLE {{db}}.related_videos__g256 TO {{db}}.related_videos;
INSERT INTO {{db}}.related_videos SELECT * FROM {{db}}.related_videos__g8192;
DROP TABLE IF EXISTS {{db}}.related_videos__g8192;
DROP TABLE IF EXISTS {{db}}.related_videos__g256;

-- related_creators
CREATE TABLE IF NOT EXISTS {{db}}.related_creators__g256 AS {{db}}.related_creators
ENGINE = ReplacingMergeTree(version) ORDER BY creator_id
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.related_creators TO {{db}}.related_creators__g8192;
RENAME TABLE {{db}}.related_creators__g256 TO {{db}}.related_creators;
INSERT INTO {{db}}.related_creators SELECT * FROM {{db}}.related_creators__g8192;
DROP TABLE IF EXISTS {{db}}.related_creators__g8192;
DROP TABLE IF EXISTS {{db}}.related_creators__g256;

-- creator_live
CREATE TABLE IF NOT EXISTS {{db}}.creator_live__g256 AS {{db}}.creator_live
ENGINE = ReplacingMergeTree(version) ORDER BY (creator_id, kafka_partition)
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.creator_live TO {{db}}.creator_live__g8192;
RENAME TABLE {{db}}.creator_live__g256 TO {{db}}.creator_live;
INSERT INTO {{db}}.creator_live SELECT * FROM {{db}}.creator_live__g8192;
DROP TABLE IF EXISTS {{db}}.creator_live__g8192;
DROP TABLE IF EXISTS {{db}}.creator_live__g256;

-- video_viewers_hourly
DROP TABLE IF EXISTS {{db}}.video_viewers_hourly_mv;
CREATE TABLE IF NOT EXISTS {{db}}.video_viewers_hourly__g256 AS {{db}}.video_viewers_hourly
ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(hour) ORDER BY (video_id, hour)
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.video_viewers_hourly TO {{db}}.video_viewers_hourly__g8192;
RENAME TABLE {{db}}.video_viewers_hourly__g256 TO {{db}}.video_viewers_hourly;
INSERT INTO {{db}}.video_viewers_hourly SELECT * FROM {{db}}.video_viewers_hourly__g8192;
DROP TABLE IF EXISTS {{db}}.video_viewers_hourly__g8192;
DROP TABLE IF EXISTS {{db}}.video_viewers_hourly__g256;
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.video_viewers_hourly_mv TO {{db}}.video_viewers_hourly AS
SELECT video_id, toStartOfHour(event_time) AS hour, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.viewer_observations GROUP BY video_id, hour;

-- video_viewers_daily
DROP TABLE IF EXISTS {{db}}.video_viewers_daily_mv;
CREATE TABLE IF NOT EXISTS {{db}}.video_viewers_daily__g256 AS {{db}}.video_viewers_daily
ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(day) ORDER BY (video_id, day)
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.video_viewers_daily TO {{db}}.video_viewers_daily__g8192;
RENAME TABLE {{db}}.video_viewers_daily__g256 TO {{db}}.video_viewers_daily;
INSERT INTO {{db}}.video_viewers_daily SELECT * FROM {{db}}.video_viewers_daily__g8192;
DROP TABLE IF EXISTS {{db}}.video_viewers_daily__g8192;
DROP TABLE IF EXISTS {{db}}.video_viewers_daily__g256;
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.video_viewers_daily_mv TO {{db}}.video_viewers_daily AS
SELECT video_id, toDate(event_time) AS day, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.viewer_observations GROUP BY video_id, day;

-- creator_viewers_hourly
DROP TABLE IF EXISTS {{db}}.creator_viewers_hourly_mv;
CREATE TABLE IF NOT EXISTS {{db}}.creator_viewers_hourly__g256 AS {{db}}.creator_viewers_hourly
ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(hour) ORDER BY (creator_id, hour)
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.creator_viewers_hourly TO {{db}}.creator_viewers_hourly__g8192;
RENAME TABLE {{db}}.creator_viewers_hourly__g256 TO {{db}}.creator_viewers_hourly;
INSERT INTO {{db}}.creator_viewers_hourly SELECT * FROM {{db}}.creator_viewers_hourly__g8192;
DROP TABLE IF EXISTS {{db}}.creator_viewers_hourly__g8192;
DROP TABLE IF EXISTS {{db}}.creator_viewers_hourly__g256;
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_viewers_hourly_mv TO {{db}}.creator_viewers_hourly AS
SELECT creator_id, toStartOfHour(event_time) AS hour, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.viewer_observations WHERE creator_id != '' GROUP BY creator_id, hour;

-- creator_viewers_daily
DROP TABLE IF EXISTS {{db}}.creator_viewers_daily_mv;
CREATE TABLE IF NOT EXISTS {{db}}.creator_viewers_daily__g256 AS {{db}}.creator_viewers_daily
ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(day) ORDER BY (creator_id, day)
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.creator_viewers_daily TO {{db}}.creator_viewers_daily__g8192;
RENAME TABLE {{db}}.creator_viewers_daily__g256 TO {{db}}.creator_viewers_daily;
INSERT INTO {{db}}.creator_viewers_daily SELECT * FROM {{db}}.creator_viewers_daily__g8192;
DROP TABLE IF EXISTS {{db}}.creator_viewers_daily__g8192;
DROP TABLE IF EXISTS {{db}}.creator_viewers_daily__g256;
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_viewers_daily_mv TO {{db}}.creator_viewers_daily AS
SELECT creator_id, toDate(event_time) AS day, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.viewer_observations WHERE creator_id != '' GROUP BY creator_id, day;

-- creator_viewer_first_seen
DROP TABLE IF EXISTS {{db}}.creator_viewer_first_seen_mv;
CREATE TABLE IF NOT EXISTS {{db}}.creator_viewer_first_seen__g256 AS {{db}}.creator_viewer_first_seen
ENGINE = AggregatingMergeTree ORDER BY (creator_id, viewer_id)
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.creator_viewer_first_seen TO {{db}}.creator_viewer_first_seen__g8192;
RENAME TABLE {{db}}.creator_viewer_first_seen__g256 TO {{db}}.creator_viewer_first_seen;
INSERT INTO {{db}}.creator_viewer_first_seen SELECT * FROM {{db}}.creator_viewer_first_seen__g8192;
DROP TABLE IF EXISTS {{db}}.creator_viewer_first_seen__g8192;
DROP TABLE IF EXISTS {{db}}.creator_viewer_first_seen__g256;
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_viewer_first_seen_mv TO {{db}}.creator_viewer_first_seen AS
SELECT creator_id, viewer_id, minState(event_time) AS first_seen
FROM {{db}}.viewer_observations WHERE creator_id != '' GROUP BY creator_id, viewer_id;

-- creator_viewer_days
DROP TABLE IF EXISTS {{db}}.creator_viewer_days_mv;
CREATE TABLE IF NOT EXISTS {{db}}.creator_viewer_days__g256 AS {{db}}.creator_viewer_days
ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(day) ORDER BY (creator_id, day, viewer_id)
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.creator_viewer_days TO {{db}}.creator_viewer_days__g8192;
RENAME TABLE {{db}}.creator_viewer_days__g256 TO {{db}}.creator_viewer_days;
INSERT INTO {{db}}.creator_viewer_days SELECT * FROM {{db}}.creator_viewer_days__g8192;
DROP TABLE IF EXISTS {{db}}.creator_viewer_days__g8192;
DROP TABLE IF EXISTS {{db}}.creator_viewer_days__g256;
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_viewer_days_mv TO {{db}}.creator_viewer_days AS
SELECT creator_id, toDate(event_time) AS day, viewer_id
FROM {{db}}.viewer_observations WHERE creator_id != '' GROUP BY creator_id, day, viewer_id;

-- creator_audience
DROP TABLE IF EXISTS {{db}}.creator_audience_minute_mv;
DROP TABLE IF EXISTS {{db}}.creator_audience_hour_mv;
DROP TABLE IF EXISTS {{db}}.creator_audience_day_mv;
CREATE TABLE IF NOT EXISTS {{db}}.creator_audience__g256 AS {{db}}.creator_audience
ENGINE = AggregatingMergeTree PARTITION BY (grain, toYYYYMM(window_start)) ORDER BY (creator_id, dimension, grain, window_start, value)
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.creator_audience TO {{db}}.creator_audience__g8192;
RENAME TABLE {{db}}.creator_audience__g256 TO {{db}}.creator_audience;
INSERT INTO {{db}}.creator_audience SELECT * FROM {{db}}.creator_audience__g8192;
DROP TABLE IF EXISTS {{db}}.creator_audience__g8192;
DROP TABLE IF EXISTS {{db}}.creator_audience__g256;
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_audience_minute_mv TO {{db}}.creator_audience AS
SELECT creator_id, dimension, CAST('minute' AS Enum8('minute' = 1, 'hour' = 2, 'day' = 3)) AS grain, toStartOfMinute(view_time) AS window_start, value, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.audience_observations GROUP BY creator_id, dimension, window_start, value;
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_audience_hour_mv TO {{db}}.creator_audience AS
SELECT creator_id, dimension, CAST('hour' AS Enum8('minute' = 1, 'hour' = 2, 'day' = 3)) AS grain, toStartOfHour(view_time) AS window_start, value, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.audience_observations GROUP BY creator_id, dimension, window_start, value;
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_audience_day_mv TO {{db}}.creator_audience AS
SELECT creator_id, dimension, CAST('day' AS Enum8('minute' = 1, 'hour' = 2, 'day' = 3)) AS grain, toStartOfDay(view_time) AS window_start, value, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.audience_observations GROUP BY creator_id, dimension, window_start, value;
