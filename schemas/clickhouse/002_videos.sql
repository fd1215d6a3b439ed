-- videos: the platform catalog, loaded from the compacted `videos` topic. The newest record
-- of a video wins (version = its Kafka offset; one video always lands on one partition). A
-- tombstone sets deleted = 1. Query with FINAL.
CREATE TABLE IF NOT EXISTS {{db}}.videos (
    video_id     String,
    creator_id   String,
    title        String,
    duration_ms  UInt64,
    published_at DateTime('UTC'),
    category     String,
    deleted      UInt8 COMMENT '1 after a tombstone',
    version      UInt64 COMMENT 'Kafka offset of the catalog record'
) ENGINE = ReplacingMergeTree(version)
ORDER BY video_id;
