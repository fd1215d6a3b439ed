-- late_events: events that arrived after their window closed. applied = 1: still counted,
-- as a delta row; applied = 0: set aside (their session had already closed). One row per
-- processor and input record.
CREATE TABLE IF NOT EXISTS {{db}}.late_events (
    processor       String,
    kafka_partition UInt16,
    kafka_offset    UInt64,
    event_id        String,
    video_id        String,
    event_time      DateTime('UTC'),
    watermark       DateTime('UTC') COMMENT 'the partition watermark when it arrived',
    lateness_ms     UInt64,
    applied         UInt8,
    reason          String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (processor, kafka_partition, kafka_offset);

-- processor_watermarks: per processor and input partition, the event time up to which its
-- results are final (minus each table's grace). The API's finalized_through is the minimum.
CREATE TABLE IF NOT EXISTS {{db}}.processor_watermarks (
    processor       String,
    kafka_partition UInt16,
    watermark       DateTime('UTC'),
    version         UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (processor, kafka_partition);

-- processor_checkpoints: per processor and input partition, a snapshot of its state and the
-- last offset it covers. Restarting processors resume from here (see docs/effectively-once.md).
CREATE TABLE IF NOT EXISTS {{db}}.processor_checkpoints (
    processor       String,
    topic           String,
    kafka_partition UInt16,
    kafka_offset    UInt64 COMMENT 'last offset included in the snapshot',
    state           String COMMENT 'gzip + base64 JSON',
    written_at      DateTime('UTC') DEFAULT now()
) ENGINE = ReplacingMergeTree(kafka_offset)
ORDER BY (processor, topic, kafka_partition);
