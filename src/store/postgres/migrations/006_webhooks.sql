-- Webhook endpoints and their deliveries on PostgreSQL: the same tables as SQLite's
-- 006_webhooks.sql (states and cursor explained there). Ids sort bytewise (COLLATE "C") so
-- cursor paging is the same on both backends.

CREATE TABLE webhooks (
  id                         text COLLATE "C" PRIMARY KEY,
  workspace_id               text NOT NULL REFERENCES workspaces(id),
  url                        text NOT NULL,
  description                text,
  events                     jsonb NOT NULL,
  enabled                    boolean NOT NULL DEFAULT true,
  batch_max_events           integer NOT NULL DEFAULT 1,
  batch_max_latency_ms       integer NOT NULL DEFAULT 0,
  secret                     text NOT NULL,
  previous_secret            text,
  previous_secret_expires_at timestamptz,
  cursor_seq                 bigint NOT NULL,
  failing_since              timestamptz,
  disabled_reason            text,
  created_at                 timestamptz NOT NULL,
  updated_at                 timestamptz NOT NULL
);
CREATE INDEX webhooks_workspace ON webhooks (workspace_id, id);

CREATE TABLE webhook_deliveries (
  id               text COLLATE "C" PRIMARY KEY,
  webhook_id       text COLLATE "C" NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  workspace_id     text NOT NULL,
  event_ids        text[] NOT NULL,
  replay           boolean NOT NULL DEFAULT false,
  status           text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'exhausted')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz,
  lease_owner      text,
  lease_until      timestamptz,
  last_attempt_at  timestamptz,
  http_status      integer,
  latency_ms       integer,
  response_snippet text,
  error            text,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL
);
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (webhook_id, status, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX events_workspace_created ON events (workspace_id, created_at);
