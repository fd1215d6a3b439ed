-- creator_viewer_days: the days on which each viewer watched each creator (a set: the key is
-- the whole row), so that new viewers of a range are found among the viewers of its days
-- instead of among every viewer the creator ever had. The audience route takes the viewers
-- seen on the days the range touches, merges the first-seen states of only those
-- (creator_viewer_first_seen filtered by IN before its GROUP BY), and counts the ones first
-- seen inside the range. Exact: a viewer first seen in the range was seen on that day.
CREATE TABLE IF NOT EXISTS {{db}}.creator_viewer_days (
    creator_id String,
    day        Date,
    viewer_id  String
) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(day) ORDER BY (creator_id, day, viewer_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.creator_viewer_days_mv TO {{db}}.creator_viewer_days AS
SELECT creator_id, toDate(event_time) AS day, viewer_id
FROM {{db}}.viewer_observations WHERE creator_id != '' GROUP BY creator_id, day, viewer_id;

-- Data written before this table existed: each viewer's first day is all the route needs (safe
-- to run again: the table is a set).
INSERT INTO {{db}}.creator_viewer_days
SELECT creator_id, toDate(minMerge(first_seen)) AS day, viewer_id
FROM {{db}}.creator_viewer_first_seen GROUP BY creator_id, viewer_id;
