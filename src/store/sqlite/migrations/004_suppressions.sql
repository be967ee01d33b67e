-- The workspace suppression list: addresses Herald must not send to. One row per (address,
-- scope): `all` holds back every stream (hard bounces, complaints, manual by default), `broadcast`
-- only broadcast mail (unsubscribes). Emails are stored with the domain lower-cased. A repeated
-- add updates reason and source but keeps the first created_at.

CREATE TABLE suppressions (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  email        TEXT NOT NULL,
  scope        TEXT NOT NULL CHECK (scope IN ('all', 'broadcast')),
  reason       TEXT NOT NULL CHECK (reason IN ('hard_bounce', 'complaint', 'unsubscribe', 'manual')),
  source       TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  PRIMARY KEY (workspace_id, email, scope)
) WITHOUT ROWID;
-- The list filtered by reason, in the same (email, scope) order as the unfiltered list.
CREATE INDEX suppressions_reason ON suppressions (workspace_id, reason, email, scope);
