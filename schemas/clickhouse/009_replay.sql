-- processor_generations: which consumer group (and with it which changelog state and which
-- rule parameters) a processor runs as. A processor with no row runs as its default group.
-- `viewpulse replay --swap` appends a 'draining' row (live instances stop and wait), swaps the
-- rebuilt tables in, then an 'active' row naming the replay's group (live instances go on as
-- that group, from the rebuilt state). The newest generation wins; 'active' after 'draining'.
CREATE TABLE IF NOT EXISTS {{db}}.processor_generations (
    processor   String,
    generation  UInt32,
    state       Enum8('draining' = 1, 'active' = 2),
    group_id    String COMMENT 'the consumer group of this generation',
    rules       String COMMENT 'JSON of the rule parameters the tables were built with',
    replay_id   String,
    at          DateTime('UTC') DEFAULT now()
) ENGINE = MergeTree
ORDER BY (processor, generation, state);

-- replays: one row per step of a `viewpulse replay` run, so a killed replay resumes where it
-- stopped: running → done (rebuilt up to its end) or → swapping → swapped (tables exchanged) →
-- handed over; abandoned when a fresh replay replaced it. A run's state is its highest.
CREATE TABLE IF NOT EXISTS {{db}}.replays (
    replay_id       String,
    processor       String,
    state           Enum8('running' = 1, 'done' = 2, 'swapping' = 3, 'swapped' = 4, 'handed_over' = 5, 'abandoned' = 6),
    group_id        String,
    shadow_database String,
    from_spec       String COMMENT 'what --from said: empty (the log start), a time or offsets',
    to_ms           UInt64 COMMENT '--to as epoch ms, 0: none',
    rules           String COMMENT 'JSON of the rule parameters of the rebuild',
    at              DateTime('UTC') DEFAULT now()
) ENGINE = MergeTree
ORDER BY (processor, replay_id, at);
