-- late_events and dead_letters sorted by video first. The health route counts the late events
-- and dead letters of one creator's videos in a range, but both tables were sorted by where a
-- record came from (processor or topic, partition, offset): every request read every row of
-- the months it touched, whichever creator asked (104,109 rows per request over 2 M events,
-- growing with every event). Sorted by (video_id, time, ...), a request reads the rows of
-- that creator's videos in its range. The record's identity stays the end of the key, and video_id
-- and the time are functions of the record (a replay writes the same values), so FINAL still
-- keeps one row per record and processor, as before. 256-row granules, as the read models
-- (015). Rebuilt the way 015 rebuilds a table (a crashed run repeats safely, see its header):
-- a new table of the same columns, the names swapped, the rows copied, the old one dropped.
-- No materialized view reads these tables. Run before the processors start (viewpulse
-- migrate): rows a processor inserted meanwhile would land in the old table.

-- late_events
CREATE TABLE IF NOT EXISTS {{db}}.late_events__by_video AS {{db}}.late_events
ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(event_time) ORDER BY (video_id, event_time, processor, kafka_partition, kafka_offset)
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.late_events TO {{db}}.late_events__by_record;
RENAME TABLE {{db}}.late_events__by_video TO {{db}}.late_events;
INSERT INTO {{db}}.late_events SELECT * FROM {{db}}.late_events__by_record;
DROP TABLE IF EXISTS {{db}}.late_events__by_record;
DROP TABLE IF EXISTS {{db}}.late_events__by_video;

-- dead_letters
CREATE TABLE IF NOT EXISTS {{db}}.dead_letters__by_video AS {{db}}.dead_letters
ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(record_time) ORDER BY (video_id, record_time, source_topic, kafka_partition, kafka_offset, stage)
SETTINGS index_granularity = 256;
RENAME TABLE {{db}}.dead_letters TO {{db}}.dead_letters__by_record;
RENAME TABLE {{db}}.dead_letters__by_video TO {{db}}.dead_letters;
INSERT INTO {{db}}.dead_letters SELECT * FROM {{db}}.dead_letters__by_record;
DROP TABLE IF EXISTS {{db}}.dead_letters__by_record;
DROP TABLE IF EXISTS {{db}}.dead_letters__by_video;
