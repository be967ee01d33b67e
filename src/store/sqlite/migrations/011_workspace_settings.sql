-- Workspace settings (docs/api.md, GET/PATCH /v1/workspace): defaults a workspace sets for its own
-- mail, between a request's options and the server's flags. A JSON object; '{}' follows the server
-- in everything. Read back through core/workspace-settings.ts, which drops keys it does not know.
ALTER TABLE workspaces ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
