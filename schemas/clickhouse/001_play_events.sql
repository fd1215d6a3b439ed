-- play_events: every accepted play event, for ad-hoc SQL. Written by the raw-events
-- processor. Day partitions on event time; sorted by video and time so per-video queries
-- read little (creator_id is not in the key: it comes from the catalog, which may learn a
-- video only after its first events, and a key must never change under a replay). Duplicates of an event_id (a replay after a crash, a
-- client retry) collapse into one row when parts merge: query with FINAL (or GROUP BY
-- event_id) for exact counts.
CREATE TABLE IF NOT EXISTS {{db}}.play_events (
    event_id          String                 COMMENT 'client-generated UUID, the dedup key',
    event_type        Enum8('play_start' = 1, 'heartbeat' = 2, 'pause' = 3, 'resume' = 4, 'seek' = 5,
                            'rebuffer_start' = 6, 'rebuffer_end' = 7, 'complete' = 8, 'play_end' = 9, 'error' = 10),
    event_time        DateTime('UTC')        COMMENT 'when it happened (client clock, skew-corrected), to the second',
    event_time_ms     UInt64                 COMMENT 'the same, epoch milliseconds',
    received_at       DateTime('UTC')        COMMENT 'when the collector received it',
    session_id        String                 COMMENT 'one playback session of one video',
    viewer_id         String,
    video_id          String,
    creator_id        String                 COMMENT 'from the catalog when processed; empty if the video was unknown',
    position_ms       UInt64                 COMMENT 'playhead position',
    watched_ms        UInt64                 COMMENT 'watched since the previous event, as the client reported it',
    device            String,
    os                String,
    country           String                 COMMENT 'ISO 3166-1 alpha-2; ZZ unknown',
    traffic_source    Enum8('search' = 1, 'suggested' = 2, 'browse' = 3, 'external' = 4, 'direct' = 5,
                            'playlist' = 6, 'notification' = 7, 'other' = 8),
    referrer_video_id Nullable(String)       COMMENT 'the video that suggested this one',
    seek_from_ms      Nullable(UInt64)       COMMENT 'seek events: playhead before the jump',
    startup_ms        Nullable(UInt32)       COMMENT 'QoE: time to first frame',
    rebuffer_ms       Nullable(UInt32)       COMMENT 'QoE: stall time (rebuffer_end)',
    error_code        Nullable(String),
    sdk_version       String,
    kafka_partition   UInt16,
    kafka_offset      UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (video_id, event_time, event_id);
