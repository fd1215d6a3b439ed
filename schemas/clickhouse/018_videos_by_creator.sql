-- videos_by_creator: the catalog's (creator, video) pairs, ordered by creator, so "the videos
-- of a creator" reads the creator's rows instead of the whole catalog. `videos` is ordered by
-- video_id: a creator filter on it read every video with FINAL (20,000 rows per use in the
-- bench; a platform has millions), once or more per creator route.
--
-- A pair is only a candidate: a video that moved to another creator keeps its old pair here.
-- The API takes the candidates and keeps those whose latest `videos` row (FINAL, by video_id:
-- the index finds them) still has that creator and is not deleted. Exact, since every video a
-- creator owns now was inserted with that creator, so its pair is here. Tombstones carry no
-- creator and are left out. A migration that rebuilds `videos` must create the view again.
--
-- The view is created before the copy, so a video loaded meanwhile is in both: the same
-- (creator, video, version), which the ReplacingMergeTree folds into one; for the same reason
-- the file can run again after a crash.
CREATE TABLE IF NOT EXISTS {{db}}.videos_by_creator (
    creator_id String,
    video_id   String,
    version    UInt64 COMMENT 'Kafka offset of the newest catalog record with this pair'
) ENGINE = ReplacingMergeTree(version)
ORDER BY (creator_id, video_id)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.videos_by_creator_mv TO {{db}}.videos_by_creator AS
SELECT creator_id, video_id, version FROM {{db}}.videos WHERE creator_id != '';

INSERT INTO {{db}}.videos_by_creator
SELECT creator_id, video_id, version FROM {{db}}.videos WHERE creator_id != '';
