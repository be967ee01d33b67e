-- Stats rollups: counters per (workspace, hour, tag, stream, recipient domain), incremented in
-- the same transaction as each event insert (see core/event-rollup.ts for what counts), so
-- /v1/stats sums a few rows per hour instead of scanning the event log. Tag '' is the total over
-- all messages; a message with N tags also adds to N tag rows. Day buckets are sums of hours.
-- `hour` is an ISO 8601 UTC string at the start of the hour, which sorts as text.

CREATE TABLE event_rollups (
  workspace_id TEXT NOT NULL,
  tag          TEXT NOT NULL,
  hour         TEXT NOT NULL,
  stream       TEXT NOT NULL,
  domain       TEXT NOT NULL,
  accepted     INTEGER NOT NULL DEFAULT 0,
  sent         INTEGER NOT NULL DEFAULT 0,
  delivered    INTEGER NOT NULL DEFAULT 0,
  deferred     INTEGER NOT NULL DEFAULT 0,
  bounced_hard INTEGER NOT NULL DEFAULT 0,
  bounced_soft INTEGER NOT NULL DEFAULT 0,
  complained   INTEGER NOT NULL DEFAULT 0,
  opened       INTEGER NOT NULL DEFAULT 0,
  clicked      INTEGER NOT NULL DEFAULT 0,
  unsubscribed INTEGER NOT NULL DEFAULT 0,
  -- A stats query fixes workspace and tag and reads a range of hours.
  PRIMARY KEY (workspace_id, tag, hour, stream, domain)
) WITHOUT ROWID;
