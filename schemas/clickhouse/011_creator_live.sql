-- creator_live: who watches a creator now. Per creator and Kafka source partition, the sessions
-- with an event in the last 2 minutes of the partition's watermark, with their viewer and
-- latest event time (processors/engagement/live.ts), as one full-value row replaced by a
-- higher version whenever they change. The realtime route reads the creator's rows FINAL and
-- keeps the entries with an event in the last 60 s of its clock: a row per partition, as many
-- entries as sessions are live — never the creator's history.
CREATE TABLE IF NOT EXISTS {{db}}.creator_live (
    creator_id      String,
    kafka_partition UInt16,
    version         UInt64,
    session_ids     Array(String),
    viewer_ids      Array(String),
    last_event_at   Array(DateTime('UTC')) COMMENT 'each session''s latest event time'
) ENGINE = ReplacingMergeTree(version)
ORDER BY (creator_id, kafka_partition);
