-- Webhook endpoints and their deliveries.
--
-- An endpoint follows its workspace's event log by `seq`: every event at or below `cursor_seq`
-- has been turned into deliveries (or did not match the endpoint's filter). A delivery is one POST
-- of one or more events (`event_ids`, in seq order); its id is the `webhook-id` header, the same on
-- every retry, so receivers can deduplicate. Delivery states:
--   pending ──attempt──> succeeded
--      │                   ^
--      └──> failed ──retry─┘  (next_attempt_at, per the retry schedule)
--             └──> exhausted  (no attempts left)
-- A delivery being attempted holds a lease (lease_owner, lease_until), like a message being sent;
-- an expired lease makes it claimable again by any process.

CREATE TABLE webhooks (
  id                         TEXT PRIMARY KEY,
  workspace_id               TEXT NOT NULL REFERENCES workspaces(id),
  url                        TEXT NOT NULL,
  description                TEXT,
  events                     TEXT NOT NULL,            -- JSON array of event types and wildcards
  enabled                    INTEGER NOT NULL DEFAULT 1,
  batch_max_events           INTEGER NOT NULL DEFAULT 1,
  batch_max_latency_ms       INTEGER NOT NULL DEFAULT 0,
  secret                     TEXT NOT NULL,
  -- The secret before the last rotation: it signs too, until previous_secret_expires_at.
  previous_secret            TEXT,
  previous_secret_expires_at TEXT,
  cursor_seq                 INTEGER NOT NULL,
  -- Start of the current run of failed attempts; NULL while the endpoint succeeds.
  failing_since              TEXT,
  disabled_reason            TEXT,
  created_at                 TEXT NOT NULL,
  updated_at                 TEXT NOT NULL
);
CREATE INDEX webhooks_workspace ON webhooks (workspace_id, id);

CREATE TABLE webhook_deliveries (
  id               TEXT PRIMARY KEY,
  webhook_id       TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  workspace_id     TEXT NOT NULL,
  event_ids        TEXT NOT NULL,                      -- JSON array, in seq order
  replay           INTEGER NOT NULL DEFAULT 0,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'exhausted')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  TEXT,
  lease_owner      TEXT,
  lease_until      TEXT,
  last_attempt_at  TEXT,
  http_status      INTEGER,
  latency_ms       INTEGER,
  response_snippet TEXT,
  error            TEXT,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL
);
-- The delivery log, newest first, with or without a status filter.
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (webhook_id, status, id);
-- The dispatcher's claim, per endpoint: due work only, so finished deliveries cost nothing here.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, next_attempt_at) WHERE status IN ('pending', 'failed');
-- Replay reads a workspace's events created in a window.
CREATE INDEX events_workspace_created ON events (workspace_id, created_at);
