-- Batches: N recipients submitted in one call, sent as N messages through the same engine.
-- A batch's messages carry their own variables and are rendered at send time from the batch's
-- content (template sources + revision), so a template fixed while paused reaches everyone not
-- yet sent. Claims go per lane: non-batch (transactional) messages through messages_due, each
-- active batch through messages_batch_due, so a paused batch costs the claim nothing.

CREATE TABLE batches (
  id              TEXT PRIMARY KEY,
  workspace_id    TEXT NOT NULL REFERENCES workspaces(id),
  status          TEXT NOT NULL,
  content_id      TEXT NOT NULL REFERENCES contents(id),
  stream          TEXT NOT NULL,
  options         TEXT NOT NULL DEFAULT '{}',
  total           INTEGER NOT NULL DEFAULT 0,
  rejected        INTEGER NOT NULL DEFAULT 0,
  sample_size     INTEGER NOT NULL DEFAULT 0,
  send_at         TEXT,
  status_reason   TEXT,
  idempotency_key TEXT,
  request_hash    TEXT,
  key_id          TEXT NOT NULL,
  progress_at     TEXT,
  progress_digest TEXT,
  canary_done_at  TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  completed_at    TEXT
);
CREATE INDEX batches_workspace ON batches (workspace_id, id);
CREATE INDEX batches_active ON batches (status) WHERE status NOT IN ('completed', 'cancelled');
-- One live batch per idempotency key (kept while the key is honoured).
CREATE UNIQUE INDEX batches_idempotency ON batches (workspace_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE batch_rejections (
  batch_id  TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  row       INTEGER NOT NULL,
  email     TEXT NOT NULL,
  reason    TEXT NOT NULL,
  detail    TEXT NOT NULL,
  PRIMARY KEY (batch_id, seq)
) WITHOUT ROWID;

ALTER TABLE messages ADD COLUMN variables TEXT;
ALTER TABLE messages ADD COLUMN sample INTEGER NOT NULL DEFAULT 0;

DROP INDEX messages_due;
CREATE INDEX messages_due ON messages (due_at) WHERE status IN ('queued', 'deferred') AND batch_id IS NULL;
CREATE INDEX messages_batch_due ON messages (batch_id, due_at) WHERE status IN ('queued', 'deferred') AND batch_id IS NOT NULL;
CREATE INDEX messages_batch_status ON messages (batch_id, status) WHERE batch_id IS NOT NULL;
-- Duplicates within a batch are refused by the store, so intake memory stays flat.
CREATE UNIQUE INDEX messages_batch_recipient ON messages (batch_id, recipient) WHERE batch_id IS NOT NULL;

-- The batch's own events (progress, state changes) for SSE resume, and its message events by type.
CREATE INDEX events_batch_own ON events (batch_id, seq) WHERE batch_id IS NOT NULL AND message_id IS NULL;
CREATE INDEX events_batch_type ON events (batch_id, type) WHERE batch_id IS NOT NULL;

CREATE TABLE audit_log (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  workspace_id TEXT NOT NULL,
  key_id       TEXT,
  action       TEXT NOT NULL,
  resource     TEXT NOT NULL,
  detail       TEXT NOT NULL DEFAULT '{}',
  created_at   TEXT NOT NULL
);
CREATE INDEX audit_workspace ON audit_log (workspace_id, seq);
