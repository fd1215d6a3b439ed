-- view_counts: plays, views and watch time per video and per creator, per minute, hour and
-- day, written by the view-counts processor. Rows are keyed by window and Kafka source
-- partition: seq = 0 holds the partition's full value while the window is open (replaced by
-- a higher version on each write, is_final = 1 once closed); seq > 0 rows are deltas from
-- late events (seq = the late event's offset). Always read with FINAL and SUM over
-- partitions and seqs — or use the views below.
CREATE TABLE IF NOT EXISTS {{db}}.view_counts (
    dim             Enum8('video' = 1, 'creator' = 2),
    id              String COMMENT 'video_id or creator_id',
    grain           Enum8('minute' = 1, 'hour' = 2, 'day' = 3),
    window_start    DateTime('UTC') COMMENT 'start of the half-open, epoch-aligned window',
    kafka_partition UInt16,
    seq             UInt64,
    version         UInt64,
    plays           Int64,
    views           Int64,
    watch_ms        Int64,
    is_final        UInt8 COMMENT '1 when the watermark had passed the window end + grace'
) ENGINE = ReplacingMergeTree(version)
PARTITION BY (grain, toYYYYMM(window_start))
ORDER BY (dim, id, grain, window_start, kafka_partition, seq);

CREATE VIEW IF NOT EXISTS {{db}}.video_counts_minute AS
SELECT id AS video_id, window_start AS minute, sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch_ms
FROM {{db}}.view_counts FINAL WHERE dim = 'video' AND grain = 'minute' GROUP BY video_id, minute;

CREATE VIEW IF NOT EXISTS {{db}}.video_counts_hour AS
SELECT id AS video_id, window_start AS hour, sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch_ms
FROM {{db}}.view_counts FINAL WHERE dim = 'video' AND grain = 'hour' GROUP BY video_id, hour;

CREATE VIEW IF NOT EXISTS {{db}}.video_counts_day AS
SELECT id AS video_id, toDate(window_start) AS day, sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch_ms
FROM {{db}}.view_counts FINAL WHERE dim = 'video' AND grain = 'day' GROUP BY video_id, day;

CREATE VIEW IF NOT EXISTS {{db}}.creator_counts_minute AS
SELECT id AS creator_id, window_start AS minute, sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch_ms
FROM {{db}}.view_counts FINAL WHERE dim = 'creator' AND grain = 'minute' GROUP BY creator_id, minute;

CREATE VIEW IF NOT EXISTS {{db}}.creator_counts_hour AS
SELECT id AS creator_id, window_start AS hour, sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch_ms
FROM {{db}}.view_counts FINAL WHERE dim = 'creator' AND grain = 'hour' GROUP BY creator_id, hour;

CREATE VIEW IF NOT EXISTS {{db}}.creator_counts_day AS
SELECT id AS creator_id, toDate(window_start) AS day, sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch_ms
FROM {{db}}.view_counts FINAL WHERE dim = 'creator' AND grain = 'day' GROUP BY creator_id, day;
