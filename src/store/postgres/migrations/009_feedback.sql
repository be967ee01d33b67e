-- Reports about sent messages on PostgreSQL: the same table as SQLite's 009_feedback.sql. At most
-- one per (message, kind); soft bounces are counted per recipient through the partial index.

CREATE TABLE message_feedback (
  message_id   text NOT NULL,
  kind         text NOT NULL CHECK (kind IN ('bounce', 'complaint', 'delivered')),
  workspace_id text NOT NULL REFERENCES workspaces(id),
  recipient    text NOT NULL,
  bounce_class text CHECK (bounce_class IN ('hard', 'soft')),
  source       text NOT NULL,
  created_at   timestamptz NOT NULL,
  PRIMARY KEY (message_id, kind)
);
CREATE INDEX message_feedback_soft_bounces ON message_feedback (workspace_id, recipient, created_at)
  WHERE kind = 'bounce' AND bounce_class = 'soft';
