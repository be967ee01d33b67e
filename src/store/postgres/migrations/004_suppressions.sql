-- The workspace suppression list on PostgreSQL: the same table as SQLite's 004_suppressions.sql.
-- One row per (address, scope): `all` holds back every stream, `broadcast` only broadcast mail.
-- Emails are stored with the domain lower-cased and sorted bytewise (COLLATE "C"), so list
-- cursors page in the same order on both backends.

CREATE TABLE suppressions (
  workspace_id text NOT NULL REFERENCES workspaces(id),
  email        text COLLATE "C" NOT NULL,
  scope        text COLLATE "C" NOT NULL CHECK (scope IN ('all', 'broadcast')),
  reason       text NOT NULL CHECK (reason IN ('hard_bounce', 'complaint', 'unsubscribe', 'manual')),
  source       text NOT NULL,
  created_at   timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, email, scope)
);
-- The list filtered by reason, in the same (email, scope) order as the unfiltered list.
CREATE INDEX suppressions_reason ON suppressions (workspace_id, reason, email, scope);
