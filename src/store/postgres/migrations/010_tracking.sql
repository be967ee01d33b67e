-- Open/click tracking and frequency caps (docs/tracking.md); the same tables as SQLite's 010.

-- Which "firsts" of a message happened (`open`, `open:human`, `click`, `click:<link hash>`): the
-- primary key makes claiming one atomic, so one process alone reports `first: true`.
CREATE TABLE engagement_marks (
  workspace_id text NOT NULL,
  message_id   text NOT NULL,
  mark         text NOT NULL,
  created_at   timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, message_id, mark)
);

-- The send ledger: broadcast messages by recipient and when they were allowed to go, what
-- frequency caps count. Read by (workspace, recipient, time) under a per-recipient advisory lock.
CREATE TABLE send_ledger (
  workspace_id text NOT NULL,
  recipient    text NOT NULL,
  message_id   text NOT NULL,
  sent_at      timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, recipient, message_id)
);
CREATE INDEX send_ledger_recipient_time ON send_ledger (workspace_id, recipient, sent_at);
CREATE INDEX send_ledger_time ON send_ledger (sent_at);
