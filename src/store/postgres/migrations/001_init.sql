-- Herald's first schema on PostgreSQL: the same tables as SQLite's 001_init.sql, in PostgreSQL's
-- types (timestamptz, jsonb, bigserial).

CREATE TABLE workspaces (
  id         text PRIMARY KEY,
  name       text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL
);

CREATE TABLE api_keys (
  id            text PRIMARY KEY,
  workspace_id  text NOT NULL REFERENCES workspaces(id),
  name          text NOT NULL,
  scope         text NOT NULL CHECK (scope IN ('full', 'send', 'read')),
  secret_hash   text NOT NULL UNIQUE,
  smtp_networks jsonb NOT NULL DEFAULT '[]',
  created_at    timestamptz NOT NULL,
  revoked_at    timestamptz
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id);

CREATE TABLE contents (
  id           text PRIMARY KEY,
  workspace_id text NOT NULL,
  body         jsonb NOT NULL,
  created_at   timestamptz NOT NULL
);

CREATE TABLE messages (
  id                text COLLATE "C" PRIMARY KEY,
  workspace_id      text NOT NULL,
  content_id        text NOT NULL REFERENCES contents(id),
  batch_id          text,
  recipient         text NOT NULL,
  sender            text NOT NULL,
  status            text NOT NULL,
  stream            text NOT NULL,
  subject           text NOT NULL,
  message_id_header text NOT NULL,
  tags              jsonb NOT NULL DEFAULT '[]',
  metadata          jsonb NOT NULL DEFAULT '{}',
  attempts          integer NOT NULL DEFAULT 0,
  due_at            timestamptz NOT NULL,
  expires_at        timestamptz NOT NULL,
  lease_owner       text,
  lease_until       timestamptz,
  last_reply        text,
  bounce_class      text,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL
);
CREATE INDEX messages_due ON messages (due_at) WHERE status IN ('queued', 'deferred');
CREATE INDEX messages_leased ON messages (lease_until) WHERE status = 'sending';
CREATE INDEX messages_workspace ON messages (workspace_id, id);
CREATE INDEX messages_workspace_recipient ON messages (workspace_id, recipient, id);
CREATE INDEX messages_workspace_status ON messages (workspace_id, status, id);
CREATE INDEX messages_tags ON messages USING gin (tags jsonb_path_ops);

CREATE TABLE events (
  seq          bigserial PRIMARY KEY,
  id           text NOT NULL UNIQUE,
  workspace_id text NOT NULL,
  type         text NOT NULL,
  message_id   text,
  batch_id     text,
  recipient    text,
  data         jsonb NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL
);
CREATE INDEX events_message ON events (message_id, seq) WHERE message_id IS NOT NULL;
CREATE INDEX events_workspace ON events (workspace_id, seq);

CREATE TABLE idempotency_keys (
  workspace_id text NOT NULL,
  key          text NOT NULL,
  request_hash text NOT NULL,
  response     jsonb NOT NULL,
  created_at   timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, key)
);
CREATE INDEX idempotency_created ON idempotency_keys (created_at);

CREATE TABLE outbox (
  message_id   text COLLATE "C" PRIMARY KEY,
  workspace_id text NOT NULL,
  raw          text NOT NULL,
  captured_at  timestamptz NOT NULL
);
CREATE INDEX outbox_workspace ON outbox (workspace_id, message_id);
