-- audience_observations: (creator, dimension, value, viewer, view time) of every counted view,
-- by country and by device (processors/engagement/audience.ts). A Null table: the materialized
-- views fold each insert into uniqCombined states per minute, hour and day of the view time,
-- which a replay cannot inflate.
CREATE TABLE IF NOT EXISTS {{db}}.audience_observations (
    creator_id String,
    dimension  Enum8('country' = 1, 'device' = 2),
    value      String,
    viewer_id  String,
    view_time  DateTime('UTC')
) ENGINE = Null;

-- creator_audience: distinct viewers of a creator's counted views per window (grain and
-- window_start, as view_counts) of the view time and value of a dimension (estimates:
-- uniqCombinedMerge). The audience route merges the windows that make up its range exactly
-- (at most 2 × 59 minutes and 2 × 23 hours besides the days).
CREATE TABLE IF NOT EXISTS {{db}}.creator_audience (
    creator_id   String,
    dimension    Enum8('country' = 1, 'device' = 2),
    grain        Enum8('minute' = 1, 'hour' = 2, 'day' = 3),
    window_start DateTime('UTC'),
    value        String,
    viewers      AggregateFunction(uniqCombined, String)
) ENGINE = AggregatingMergeTree PARTITION BY (grain, toYYYYMM(window_start)) ORDER BY (creator_id, dimension, grain, window_start, value);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_audience_minute_mv TO {{db}}.creator_audience AS
SELECT creator_id, dimension, CAST('minute' AS Enum8('minute' = 1, 'hour' = 2, 'day' = 3)) AS grain, toStartOfMinute(view_time) AS window_start, value, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.audience_observations GROUP BY creator_id, dimension, window_start, value;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_audience_hour_mv TO {{db}}.creator_audience AS
SELECT creator_id, dimension, CAST('hour' AS Enum8('minute' = 1, 'hour' = 2, 'day' = 3)) AS grain, toStartOfHour(view_time) AS window_start, value, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.audience_observations GROUP BY creator_id, dimension, window_start, value;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_audience_day_mv TO {{db}}.creator_audience AS
SELECT creator_id, dimension, CAST('day' AS Enum8('minute' = 1, 'hour' = 2, 'day' = 3)) AS grain, toStartOfDay(view_time) AS window_start, value, uniqCombinedState(viewer_id) AS viewers
FROM {{db}}.audience_observations GROUP BY creator_id, dimension, window_start, value;
