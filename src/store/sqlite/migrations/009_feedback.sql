-- Reports about sent messages (bounce, complaint, delivery), from the bounce listener and the
-- provider webhooks: at most one per (message, kind), so a report that arrives twice is recorded
-- once. Soft bounces are counted per recipient from here (the partial index) to apply
-- --soft-bounce-limit within --soft-bounce-window. No foreign key to messages: a deleted batch
-- upload takes its messages, and its reports may stay.

CREATE TABLE message_feedback (
  message_id   TEXT NOT NULL,
  kind         TEXT NOT NULL CHECK (kind IN ('bounce', 'complaint', 'delivered')),
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  recipient    TEXT NOT NULL,
  bounce_class TEXT CHECK (bounce_class IN ('hard', 'soft')),
  source       TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  PRIMARY KEY (message_id, kind)
) WITHOUT ROWID;
CREATE INDEX message_feedback_soft_bounces ON message_feedback (workspace_id, recipient, created_at)
  WHERE kind = 'bounce' AND bounce_class = 'soft';
