-- Token buckets every worker shares (batch rate caps, shaping budgets): core/token-bucket.ts.
CREATE TABLE rate_buckets (
  key text PRIMARY KEY,
  tokens double precision NOT NULL,
  refilled_at bigint NOT NULL
);
