-- sessions: where a session left, and whether it left right after a stall (docs/semantics.md,
-- "Left after a stall"). Rows written before this migration read the DEFAULTs: not after a
-- stall, exit point unknown (-1). ADD COLUMN IF NOT EXISTS: safe to run again.
ALTER TABLE {{db}}.sessions ADD COLUMN IF NOT EXISTS exit_after_stall UInt8 DEFAULT 0 COMMENT '1 if the session left right after a stall (last event not complete, stalled at the end or at most 10 s after a rebuffer_end)' AFTER errors;

ALTER TABLE {{db}}.sessions ADD COLUMN IF NOT EXISTS exit_percent Int16 DEFAULT -1 COMMENT 'percent bucket 0..100 of the last event position; -1 when the duration is unknown' AFTER exit_after_stall;
