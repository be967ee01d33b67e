-- Herald's first schema: tenants, keys, content, messages, events, idempotency, outbox.
-- Times are ISO-8601 UTC strings, which sort as text.

CREATE TABLE workspaces (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);

CREATE TABLE api_keys (
  id            TEXT PRIMARY KEY,
  workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
  name          TEXT NOT NULL,
  scope         TEXT NOT NULL CHECK (scope IN ('full', 'send', 'read')),
  secret_hash   TEXT NOT NULL UNIQUE,
  smtp_networks TEXT NOT NULL DEFAULT '[]',
  created_at    TEXT NOT NULL,
  revoked_at    TEXT
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id);

CREATE TABLE contents (
  id           TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL,
  body         TEXT NOT NULL,
  created_at   TEXT NOT NULL
);

CREATE TABLE messages (
  id                TEXT PRIMARY KEY,
  workspace_id      TEXT NOT NULL,
  content_id        TEXT NOT NULL REFERENCES contents(id),
  batch_id          TEXT,
  recipient         TEXT NOT NULL,
  sender            TEXT NOT NULL,
  status            TEXT NOT NULL,
  stream            TEXT NOT NULL,
  subject           TEXT NOT NULL,
  message_id_header TEXT NOT NULL,
  tags              TEXT NOT NULL DEFAULT '[]',
  metadata          TEXT NOT NULL DEFAULT '{}',
  attempts          INTEGER NOT NULL DEFAULT 0,
  due_at            TEXT NOT NULL,
  expires_at        TEXT NOT NULL,
  lease_owner       TEXT,
  lease_until       TEXT,
  last_reply        TEXT,
  bounce_class      TEXT,
  created_at        TEXT NOT NULL,
  updated_at        TEXT NOT NULL
);
-- The engine's claim: due work first. Partial, so finished messages cost nothing here.
CREATE INDEX messages_due ON messages (due_at) WHERE status IN ('queued', 'deferred');
CREATE INDEX messages_leased ON messages (lease_until) WHERE status = 'sending';
CREATE INDEX messages_workspace ON messages (workspace_id, id);
CREATE INDEX messages_workspace_recipient ON messages (workspace_id, recipient, id);
CREATE INDEX messages_workspace_status ON messages (workspace_id, status, id);

CREATE TABLE message_tags (
  message_id   TEXT NOT NULL,
  workspace_id TEXT NOT NULL,
  tag          TEXT NOT NULL,
  PRIMARY KEY (workspace_id, tag, message_id)
) WITHOUT ROWID;

CREATE TABLE events (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  workspace_id TEXT NOT NULL,
  type         TEXT NOT NULL,
  message_id   TEXT,
  batch_id     TEXT,
  recipient    TEXT,
  data         TEXT NOT NULL DEFAULT '{}',
  created_at   TEXT NOT NULL
);
CREATE INDEX events_message ON events (message_id, seq) WHERE message_id IS NOT NULL;
CREATE INDEX events_workspace ON events (workspace_id, seq);

CREATE TABLE idempotency_keys (
  workspace_id  TEXT NOT NULL,
  key           TEXT NOT NULL,
  request_hash  TEXT NOT NULL,
  response      TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  PRIMARY KEY (workspace_id, key)
);
CREATE INDEX idempotency_created ON idempotency_keys (created_at);

CREATE TABLE outbox (
  message_id   TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL,
  raw          TEXT NOT NULL,
  captured_at  TEXT NOT NULL
);
CREATE INDEX outbox_workspace ON outbox (workspace_id, message_id);
