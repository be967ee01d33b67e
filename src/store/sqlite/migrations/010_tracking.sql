-- Open/click tracking and frequency caps (docs/tracking.md).

-- Which "firsts" of a message happened (`open`, `open:human`, `click`, `click:<link hash>`): the
-- primary key makes claiming one atomic, so one process alone reports `first: true`.
CREATE TABLE engagement_marks (
  workspace_id TEXT NOT NULL,
  message_id   TEXT NOT NULL,
  mark         TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  PRIMARY KEY (workspace_id, message_id, mark)
) WITHOUT ROWID;

-- The send ledger: broadcast messages by recipient and when they were allowed to go, what
-- frequency caps count. Read by (workspace, recipient, time); pruned by time.
CREATE TABLE send_ledger (
  workspace_id TEXT NOT NULL,
  recipient    TEXT NOT NULL,
  message_id   TEXT NOT NULL,
  sent_at      TEXT NOT NULL,
  PRIMARY KEY (workspace_id, recipient, message_id)
) WITHOUT ROWID;
CREATE INDEX send_ledger_recipient_time ON send_ledger (workspace_id, recipient, sent_at);
CREATE INDEX send_ledger_time ON send_ledger (sent_at);
