-- Versioned templates on PostgreSQL: the same tables as SQLite's 002_templates.sql. A version row
-- is written once and never changed or deleted: batches pin (template_id, version), so deleting
-- a template only hides it (deleted_at).

CREATE TABLE templates (
  id             text COLLATE "C" PRIMARY KEY,
  workspace_id   text NOT NULL REFERENCES workspaces(id),
  name           text NOT NULL,
  description    text,
  latest_version integer NOT NULL,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  deleted_at     timestamptz
);
-- Unique among live templates only, so the name of a deleted template can be taken again.
CREATE UNIQUE INDEX templates_live_name ON templates (workspace_id, name) WHERE deleted_at IS NULL;
CREATE INDEX templates_live ON templates (workspace_id, id) WHERE deleted_at IS NULL;

CREATE TABLE template_versions (
  template_id  text COLLATE "C" NOT NULL REFERENCES templates(id),
  version      integer NOT NULL,
  workspace_id text NOT NULL,
  subject      text NOT NULL,
  html         text,
  text         text,
  -- Root variables the parts use (lint's list), so render and batch validation need not parse again.
  variables    jsonb NOT NULL DEFAULT '[]',
  created_at   timestamptz NOT NULL,
  PRIMARY KEY (template_id, version)
);
