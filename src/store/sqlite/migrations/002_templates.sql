-- Versioned templates. A version row is written once and never changed or deleted: batches pin
-- (template_id, version), so deleting a template only hides it (deleted_at) and its versions
-- stay readable for as long as a batch may need them.

CREATE TABLE templates (
  id             TEXT PRIMARY KEY,
  workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
  name           TEXT NOT NULL,
  description    TEXT,
  latest_version INTEGER NOT NULL,
  created_at     TEXT NOT NULL,
  updated_at     TEXT NOT NULL,
  deleted_at     TEXT
);
-- Unique among live templates only, so the name of a deleted template can be taken again.
CREATE UNIQUE INDEX templates_live_name ON templates (workspace_id, name) WHERE deleted_at IS NULL;
-- The list: newest first (ids sort by creation time), live templates only.
CREATE INDEX templates_live ON templates (workspace_id, id) WHERE deleted_at IS NULL;

CREATE TABLE template_versions (
  template_id  TEXT NOT NULL REFERENCES templates(id),
  version      INTEGER NOT NULL,
  workspace_id TEXT NOT NULL,
  subject      TEXT NOT NULL,
  html         TEXT,
  text         TEXT,
  -- Root variables the parts use (lint's list), kept so that render and batch validation need
  -- not parse the sources again.
  variables    TEXT NOT NULL DEFAULT '[]',
  created_at   TEXT NOT NULL,
  PRIMARY KEY (template_id, version)
) WITHOUT ROWID;
