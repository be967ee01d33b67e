-- Stats rollups on PostgreSQL: the same table as SQLite's 005_event_rollups.sql. Counters per
-- (workspace, hour, tag, stream, recipient domain), incremented in the same transaction as each
-- event insert (see core/event-rollup.ts), so /v1/stats never scans the event log. Tag '' is the
-- total over all messages; a message with N tags also adds to N tag rows. `hour` is the UTC hour.

CREATE TABLE event_rollups (
  workspace_id text NOT NULL,
  tag          text NOT NULL,
  hour         timestamptz NOT NULL,
  stream       text NOT NULL,
  domain       text NOT NULL,
  accepted     bigint NOT NULL DEFAULT 0,
  sent         bigint NOT NULL DEFAULT 0,
  delivered    bigint NOT NULL DEFAULT 0,
  deferred     bigint NOT NULL DEFAULT 0,
  bounced_hard bigint NOT NULL DEFAULT 0,
  bounced_soft bigint NOT NULL DEFAULT 0,
  complained   bigint NOT NULL DEFAULT 0,
  opened       bigint NOT NULL DEFAULT 0,
  clicked      bigint NOT NULL DEFAULT 0,
  unsubscribed bigint NOT NULL DEFAULT 0,
  -- A stats query fixes workspace and tag and reads a range of hours.
  PRIMARY KEY (workspace_id, tag, hour, stream, domain)
);
