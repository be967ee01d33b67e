-- Workspace settings (docs/api.md, GET/PATCH /v1/workspace); the same column as SQLite's 011.
-- A JSON object; '{}' follows the server in everything. Adding a column with a constant default
-- rewrites no rows (PostgreSQL 11+).
ALTER TABLE workspaces ADD COLUMN settings jsonb NOT NULL DEFAULT '{}';
