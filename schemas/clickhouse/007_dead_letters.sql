-- dead_letters: every input record a processor sent to the dead-letter topic, with why. The
-- runner writes these rows in the same flush as the processor's rows, before it commits, so
-- a replay rewrites identical rows (record_time is the Kafka record's timestamp, not the time
-- of processing) and the key keeps one per stage and record. A record several processors
-- refused appears once per stage: count distinct (source_topic, kafka_partition, kafka_offset)
-- for records. video_id is empty when the record could not be decoded.
CREATE TABLE IF NOT EXISTS {{db}}.dead_letters (
    stage           String COMMENT 'the processor that refused it',
    source_topic    String,
    kafka_partition UInt16,
    kafka_offset    UInt64,
    record_time     DateTime('UTC') COMMENT 'the Kafka record timestamp',
    code            String COMMENT 'VP_ERR_... (lib/errors.ts)',
    reason          String,
    video_id        String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(record_time)
ORDER BY (source_topic, kafka_partition, kafka_offset, stage);
