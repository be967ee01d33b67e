-- Token buckets every process shares (batch rate caps, shaping budgets): core/token-bucket.ts.
CREATE TABLE rate_buckets (
  key TEXT PRIMARY KEY,
  tokens REAL NOT NULL,
  refilled_at INTEGER NOT NULL
) WITHOUT ROWID;
