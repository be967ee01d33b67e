-- The lowest rate a taker of a shared bucket reported lately (core/token-bucket.ts): a provider's
-- throttling seen by one worker slows every worker.
ALTER TABLE rate_buckets ADD COLUMN held_per_second REAL;
ALTER TABLE rate_buckets ADD COLUMN held_at INTEGER;
