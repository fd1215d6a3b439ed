-- engagement_rollup: the numbers of counted views per window of their view time, and of plays
-- (QoE) per window of their start (minute, hour, day), for each video (dim = 'video', with the retention and stall-exit counters), each
-- creator (dim = 'creator') and each value of a video's breakdown dimensions (dim = 'country',
-- 'device', 'os', 'traffic_source', 'referrer' — the suggesting video of suggested views; id is
-- the video, value the dimension's value) and of a creator's countries and devices
-- (dim = 'creator_country', 'creator_device'; id is the creator). Written by the engagement processor in the scheme of
-- view_counts: seq = 0 holds the source partition's full value while the window is open
-- (replaced by a higher version on each write, is_final = 1 once closed); seq > 0 rows are
-- deltas of later changes (seq = the offset of the record that made them). Always read with
-- FINAL and SUM over partitions and seqs (sumForEach for the arrays). The insights routes read
-- this table, never sessions; the sums equal what sessions FINAL gives (docs/sql.md).
CREATE TABLE IF NOT EXISTS {{db}}.engagement_rollup (
    dim                    Enum8('video' = 1, 'creator' = 2, 'country' = 3, 'device' = 4, 'os' = 5, 'traffic_source' = 6, 'referrer' = 7, 'creator_country' = 8, 'creator_device' = 9),
    id                     String COMMENT 'video_id, or creator_id for dim = creator, creator_country, creator_device',
    value                  String COMMENT 'the breakdown value; empty for video and creator rows',
    grain                  Enum8('minute' = 1, 'hour' = 2, 'day' = 3),
    window_start           DateTime('UTC') COMMENT 'start of the half-open, epoch-aligned window of the view time',
    kafka_partition        UInt16,
    seq                    UInt64,
    version                UInt64,
    views                  Int64 COMMENT 'counted views',
    watch_ms               Int64 COMMENT 'their sessions'' watch time',
    percent_viewed_micros  Int64 COMMENT 'sum of min(1, watch_ms / duration_ms) in millionths, over views of known duration',
    percent_measured_views Int64 COMMENT 'views of known duration (the denominator of percent viewed)',
    completions            Int64 COMMENT 'views whose session completed',
    open_views             Int64 COMMENT 'views whose session is still open (their numbers may change)',
    retention              Array(Int64) COMMENT 'video rows: per percent 0..100, views covering it; empty otherwise',
    stall_exits            Array(Int64) COMMENT 'video rows: per percent 0..100, views that left there after a stall',
    plays                  Int64 COMMENT 'plays (sessions with a play_start) whose first event lies in the window (video and creator rows)',
    startup_measured       Int64 COMMENT 'plays that reported a startup time',
    rebuffer_ms            Int64 COMMENT 'their completed stalls'' time',
    play_watch_ms          Int64 COMMENT 'their watch time',
    rebuffers              Int64 COMMENT 'their rebuffer_end events',
    plays_with_rebuffer    Int64,
    failures               Int64 COMMENT 'plays with an error event',
    open_plays             Int64 COMMENT 'plays whose session is still open',
    startup_buckets        Array(UInt32) COMMENT 'startup-time histogram keys: whole ms below 128, then 1 % buckets (processors/engagement/rollup.ts); sum with sumMap',
    startup_counts         Array(Int64) COMMENT 'plays per startup bucket',
    is_final               UInt8 COMMENT '1 when the window closed (watermark past end + grace, no open session)'
) ENGINE = ReplacingMergeTree(version)
PARTITION BY (grain, toYYYYMM(window_start))
ORDER BY (dim, id, grain, window_start, value, kafka_partition, seq);
