/**
 * Template queries on PostgreSQL, one function per query with the client passed in (the store
 * delegates to these). Each write is a single statement (data-modifying CTEs), so it is atomic
 * without an explicit transaction; the UPDATE's row lock orders concurrent revisions of a template.
 */
import type pg from 'pg';
import {
  UniqueViolation,
  type Template,
  type TemplateRevision,
  type TemplateSummary,
  type TemplateVersion,
  type TemplateVersionSummary,
} from '../store.js';

type Queryable = Pick<pg.Pool, 'query'>;

interface TemplateRow {
  id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  latest_version: number;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

interface VersionSummaryRow {
  template_id: string;
  workspace_id: string;
  version: number;
  subject: string;
  variables: string[];
  created_at: Date;
}

interface VersionRow extends VersionSummaryRow {
  html: string | null;
  text: string | null;
}

const VERSION_SUMMARY_COLUMNS = 'template_id, workspace_id, version, subject, variables, created_at';

function toTemplate(row: TemplateRow): Template {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    description: row.description,
    latestVersion: row.latest_version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    deletedAt: row.deleted_at === null ? null : row.deleted_at.toISOString(),
  };
}

function toVersionSummary(row: VersionSummaryRow): TemplateVersionSummary {
  return {
    templateId: row.template_id,
    workspaceId: row.workspace_id,
    version: row.version,
    subject: row.subject,
    variables: row.variables,
    createdAt: row.created_at.toISOString(),
  };
}

/** Runs a write, turning the live-name index's violation into the port's `UniqueViolation`. */
async function guardName<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === '23505') throw new UniqueViolation('templates.name');
    throw error;
  }
}

export async function createTemplate(client: Queryable, template: Template, first: TemplateVersion): Promise<void> {
  await guardName(() =>
    client.query(
      `WITH t AS (
         INSERT INTO templates (id, workspace_id, name, description, latest_version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
       )
       INSERT INTO template_versions (template_id, workspace_id, version, subject, html, text, variables, created_at)
       SELECT t.id, $2, $5, $8, $9, $10, $11::jsonb, $12 FROM t`,
      [
        template.id,
        template.workspaceId,
        template.name,
        template.description,
        first.version,
        template.createdAt,
        template.updatedAt,
        first.subject,
        first.html,
        first.text,
        JSON.stringify(first.variables),
        first.createdAt,
      ],
    ),
  );
}

export async function reviseTemplate(client: Queryable, revision: TemplateRevision): Promise<Template | null> {
  const { rows } = await guardName(() =>
    client.query<TemplateRow>(
      `WITH t AS (
         UPDATE templates SET latest_version = latest_version + 1, name = $3, description = $4, updated_at = $5
         WHERE workspace_id = $1 AND id = $2 AND deleted_at IS NULL
         RETURNING *
       ), v AS (
         INSERT INTO template_versions (template_id, workspace_id, version, subject, html, text, variables, created_at)
         SELECT t.id, t.workspace_id, t.latest_version, $6, $7, $8, $9::jsonb, $5 FROM t
       )
       SELECT * FROM t`,
      [
        revision.workspaceId,
        revision.templateId,
        revision.name,
        revision.description,
        revision.now,
        revision.parts.subject,
        revision.parts.html,
        revision.parts.text,
        JSON.stringify(revision.parts.variables),
      ],
    ),
  );
  return rows[0] ? toTemplate(rows[0]) : null;
}

export async function findTemplate(client: Queryable, workspaceId: string, id: string): Promise<Template | null> {
  const { rows } = await client.query<TemplateRow>(
    'SELECT * FROM templates WHERE workspace_id = $1 AND id = $2 AND deleted_at IS NULL',
    [workspaceId, id],
  );
  return rows[0] ? toTemplate(rows[0]) : null;
}

export async function listTemplates(
  client: Queryable,
  workspaceId: string,
  options: { before?: string; limit: number },
): Promise<TemplateSummary[]> {
  const { rows } = await client.query<TemplateRow & { subject: string; variables: string[] }>(
    `SELECT t.*, v.subject, v.variables FROM templates t
     JOIN template_versions v ON v.template_id = t.id AND v.version = t.latest_version
     WHERE t.workspace_id = $1 AND t.deleted_at IS NULL AND ($2::text IS NULL OR t.id < $2)
     ORDER BY t.id DESC LIMIT $3`,
    [workspaceId, options.before ?? null, options.limit],
  );
  return rows.map((row) => ({ ...toTemplate(row), subject: row.subject, variables: row.variables }));
}

export async function getTemplateVersion(
  client: Queryable,
  workspaceId: string,
  templateId: string,
  version: number,
): Promise<TemplateVersion | null> {
  const { rows } = await client.query<VersionRow>(
    'SELECT * FROM template_versions WHERE template_id = $1 AND version = $2 AND workspace_id = $3',
    [templateId, version, workspaceId],
  );
  const row = rows[0];
  return row ? { ...toVersionSummary(row), html: row.html, text: row.text } : null;
}

export async function listTemplateVersions(
  client: Queryable,
  workspaceId: string,
  templateId: string,
  options: { before?: number; limit: number },
): Promise<TemplateVersionSummary[]> {
  const { rows } = await client.query<VersionSummaryRow>(
    `SELECT ${VERSION_SUMMARY_COLUMNS} FROM template_versions
     WHERE template_id = $1 AND workspace_id = $2 AND ($3::int IS NULL OR version < $3)
     ORDER BY version DESC LIMIT $4`,
    [templateId, workspaceId, options.before ?? null, options.limit],
  );
  return rows.map(toVersionSummary);
}

export async function deleteTemplate(client: Queryable, workspaceId: string, id: string, at: string): Promise<boolean> {
  const result = await client.query(
    'UPDATE templates SET deleted_at = $3 WHERE workspace_id = $1 AND id = $2 AND deleted_at IS NULL',
    [workspaceId, id, at],
  );
  return result.rowCount === 1;
}
