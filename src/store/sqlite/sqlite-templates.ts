/**
 * Template queries on SQLite, one function per query with the database passed in (the store
 * delegates to these). Versions are insert-only; deletion sets `deleted_at` and nothing else.
 */
import type { Database } from 'better-sqlite3';
import {
  UniqueViolation,
  type Template,
  type TemplateRevision,
  type TemplateSummary,
  type TemplateVersion,
  type TemplateVersionSummary,
} from '../store.js';

interface TemplateRow {
  id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  latest_version: number;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

interface VersionRow {
  template_id: string;
  workspace_id: string;
  version: number;
  subject: string;
  html: string | null;
  text: string | null;
  variables: string;
  created_at: string;
}

const VERSION_SUMMARY_COLUMNS = 'template_id, workspace_id, version, subject, variables, created_at';

function toTemplate(row: TemplateRow): Template {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    description: row.description,
    latestVersion: row.latest_version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
  };
}

function toVersionSummary(row: Omit<VersionRow, 'html' | 'text'>): TemplateVersionSummary {
  return {
    templateId: row.template_id,
    workspaceId: row.workspace_id,
    version: row.version,
    subject: row.subject,
    variables: JSON.parse(row.variables) as string[],
    createdAt: row.created_at,
  };
}

/** Runs a write, turning the live-name index's violation into the port's `UniqueViolation`. */
function guardName<T>(write: () => T): T {
  try {
    return write();
  } catch (error) {
    if (error instanceof Error && 'code' in error && String(error.code).startsWith('SQLITE_CONSTRAINT_UNIQUE')) {
      throw new UniqueViolation('templates.name');
    }
    throw error;
  }
}

function insertVersion(db: Database, version: TemplateVersion): void {
  db.prepare(
    `INSERT INTO template_versions (template_id, workspace_id, version, subject, html, text, variables, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    version.templateId,
    version.workspaceId,
    version.version,
    version.subject,
    version.html,
    version.text,
    JSON.stringify(version.variables),
    version.createdAt,
  );
}

export function createTemplate(db: Database, template: Template, first: TemplateVersion): void {
  const write = db.transaction(() => {
    db.prepare(
      `INSERT INTO templates (id, workspace_id, name, description, latest_version, created_at, updated_at, deleted_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
    ).run(template.id, template.workspaceId, template.name, template.description, first.version, template.createdAt, template.updatedAt);
    insertVersion(db, first);
  });
  guardName(() => write.immediate());
}

export function reviseTemplate(db: Database, revision: TemplateRevision): Template | null {
  const write = db.transaction((): Template | null => {
    const row = db
      .prepare(
        `UPDATE templates SET latest_version = latest_version + 1, name = ?, description = ?, updated_at = ?
         WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL RETURNING *`,
      )
      .get(revision.name, revision.description, revision.now, revision.workspaceId, revision.templateId) as TemplateRow | undefined;
    if (!row) return null;
    insertVersion(db, {
      ...revision.parts,
      templateId: row.id,
      workspaceId: row.workspace_id,
      version: row.latest_version,
      createdAt: revision.now,
    });
    return toTemplate(row);
  });
  return guardName(() => write.immediate());
}

export function findTemplate(db: Database, workspaceId: string, id: string): Template | null {
  const row = db.prepare('SELECT * FROM templates WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL').get(workspaceId, id) as
    | TemplateRow
    | undefined;
  return row ? toTemplate(row) : null;
}

export function listTemplates(db: Database, workspaceId: string, options: { before?: string; limit: number }): TemplateSummary[] {
  const rows = db
    .prepare(
      `SELECT t.*, v.subject, v.variables FROM templates t
       JOIN template_versions v ON v.template_id = t.id AND v.version = t.latest_version
       WHERE t.workspace_id = @workspaceId AND t.deleted_at IS NULL AND (@before IS NULL OR t.id < @before)
       ORDER BY t.id DESC LIMIT @limit`,
    )
    .all({ workspaceId, before: options.before ?? null, limit: options.limit }) as (TemplateRow & { subject: string; variables: string })[];
  return rows.map((row) => ({ ...toTemplate(row), subject: row.subject, variables: JSON.parse(row.variables) as string[] }));
}

export function getTemplateVersion(db: Database, workspaceId: string, templateId: string, version: number): TemplateVersion | null {
  const row = db
    .prepare('SELECT * FROM template_versions WHERE template_id = ? AND version = ? AND workspace_id = ?')
    .get(templateId, version, workspaceId) as VersionRow | undefined;
  return row ? { ...toVersionSummary(row), html: row.html, text: row.text } : null;
}

export function listTemplateVersions(
  db: Database,
  workspaceId: string,
  templateId: string,
  options: { before?: number; limit: number },
): TemplateVersionSummary[] {
  const rows = db
    .prepare(
      `SELECT ${VERSION_SUMMARY_COLUMNS} FROM template_versions
       WHERE template_id = @templateId AND workspace_id = @workspaceId AND (@before IS NULL OR version < @before)
       ORDER BY version DESC LIMIT @limit`,
    )
    .all({ templateId, workspaceId, before: options.before ?? null, limit: options.limit }) as Omit<VersionRow, 'html' | 'text'>[];
  return rows.map(toVersionSummary);
}

export function deleteTemplate(db: Database, workspaceId: string, id: string, at: string): boolean {
  return (
    db.prepare('UPDATE templates SET deleted_at = ? WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL').run(at, workspaceId, id)
      .changes === 1
  );
}
