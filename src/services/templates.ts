/**
 * Versioned templates: save (lint first; every save writes a new version), read, list, delete
 * and render, always within the caller's workspace.
 *
 * Versions are immutable and outlive their template: batches pin a (template, version), so a
 * delete only hides the template from these calls. `getTemplateVersion` and
 * `resolveTemplateVersion` are the entry points for the batch engine and batch intake, which act
 * for a workspace rather than for a request's principal.
 */
import { HeraldError, invalid } from '../core/errors.js';
import { templateCacheKey, type TemplateCache } from '../templates/compile-cache.js';
import { lintTemplate, type LintCode, type LintIssue, type TemplateParts } from '../templates/lint.js';
import type { RenderedParts } from '../templates/render.js';
import {
  UniqueViolation,
  type Template,
  type TemplateSummary,
  type TemplateVersion,
  type TemplateVersionSummary,
} from '../store/store.js';
import type { Principal, ServiceDeps } from './deps.js';
import { requireScope } from './keys.js';
import { decodeCursor, encodeCursor, type Page } from './messages.js';

export interface TemplateInput {
  name: string;
  subject: string;
  html?: string | undefined;
  text?: string | undefined;
  description?: string | undefined;
}

export interface TemplateWarning {
  code: LintCode;
  part: LintIssue['field'];
  message: string;
  line?: number;
}

/** What lint found in a saved version: it was saved anyway. */
export interface TemplateLint {
  variables: string[];
  warnings: TemplateWarning[];
  /** A text part generated from the html, offered when the template has none. */
  suggestedText?: string;
}

export interface TemplateAtVersion {
  template: Template;
  version: TemplateVersion;
}

export interface SavedTemplate extends TemplateAtVersion {
  lint: TemplateLint;
}

export interface RenderedTemplate {
  subject: string;
  html: string | null;
  text: string | null;
  /** Variables the template uses that `variables` does not provide (platform variables aside). */
  missingVariables: string[];
}

export const TEMPLATE_LIMITS = Object.freeze({ nameLength: 200, descriptionLength: 1000, subjectLength: 998, bodyBytes: 1024 * 1024 });

interface CheckedInput {
  name: string;
  description: string | null;
  parts: Pick<TemplateVersion, 'subject' | 'html' | 'text' | 'variables'>;
  lint: TemplateLint;
}

function body(field: 'html' | 'text', value: string | undefined): string | null {
  // An empty part is no part: it would only render as an empty MIME body.
  if (value === undefined || value === '') return null;
  if (Buffer.byteLength(value, 'utf8') > TEMPLATE_LIMITS.bodyBytes) throw invalid(field, 'must be at most 1 MiB');
  return value;
}

/** Validates the fields and lints the parts; throws on the first error, returns the warnings. */
function check(input: TemplateInput): CheckedInput {
  const name = input.name.trim();
  if (name === '' || name.length > TEMPLATE_LIMITS.nameLength) throw invalid('name', 'must be 1 to 200 characters');
  const description = input.description?.trim() || null;
  if (description !== null && description.length > TEMPLATE_LIMITS.descriptionLength) {
    throw invalid('description', 'must be at most 1000 characters');
  }
  if (input.subject.trim() === '') throw invalid('subject', 'must not be blank');
  if (input.subject.length > TEMPLATE_LIMITS.subjectLength) throw invalid('subject', 'must be at most 998 characters');
  if (/[\r\n]/.test(input.subject)) throw new HeraldError('header_injection', { field: 'subject' });
  const html = body('html', input.html);
  const text = body('text', input.text);
  const report = lintTemplate({ subject: input.subject, html: html ?? undefined, text: text ?? undefined });
  const error = report.errors[0];
  if (error) {
    const reason = error.code === 'compile_error' ? `does not compile: ${error.message}` : error.message;
    throw new HeraldError('template_invalid', { field: error.field, reason, ...(error.line !== undefined ? { line: error.line } : {}) });
  }
  const lint: TemplateLint = {
    variables: report.variables,
    warnings: report.warnings.map((w) => ({
      code: w.code,
      part: w.field,
      message: w.message,
      ...(w.line !== undefined ? { line: w.line } : {}),
    })),
  };
  if (report.suggestedText !== undefined) lint.suggestedText = report.suggestedText;
  return { name, description, parts: { subject: input.subject, html, text, variables: report.variables }, lint };
}

function nameTaken(error: unknown, name: string): unknown {
  return error instanceof UniqueViolation ? new HeraldError('conflict', { resource: 'template', id: name }) : error;
}

function notFound(id: string): HeraldError {
  return new HeraldError('not_found', { resource: 'template', id });
}

async function liveTemplate(deps: ServiceDeps, workspaceId: string, id: string): Promise<Template> {
  const template = await deps.store.findTemplate(workspaceId, id);
  if (!template) throw notFound(id);
  return template;
}

export async function createTemplate(deps: ServiceDeps, principal: Principal, input: TemplateInput): Promise<SavedTemplate> {
  requireScope(principal, 'send');
  const checked = check(input);
  const now = deps.clock.now().toISOString();
  const id = deps.ids.next('template');
  const template: Template = {
    id,
    workspaceId: principal.workspaceId,
    name: checked.name,
    description: checked.description,
    latestVersion: 1,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
  };
  const version: TemplateVersion = { ...checked.parts, templateId: id, workspaceId: principal.workspaceId, version: 1, createdAt: now };
  try {
    await deps.store.createTemplate(template, version);
  } catch (error) {
    throw nameTaken(error, checked.name);
  }
  return { template, version, lint: checked.lint };
}

/** Saves the input as the template's next version; earlier versions stay as they were. */
export async function updateTemplate(deps: ServiceDeps, principal: Principal, id: string, input: TemplateInput): Promise<SavedTemplate> {
  requireScope(principal, 'send');
  const checked = check(input);
  const now = deps.clock.now().toISOString();
  let template: Template | null;
  try {
    template = await deps.store.reviseTemplate({
      workspaceId: principal.workspaceId,
      templateId: id,
      name: checked.name,
      description: checked.description,
      parts: checked.parts,
      now,
    });
  } catch (error) {
    throw nameTaken(error, checked.name);
  }
  if (!template) throw notFound(id);
  const version: TemplateVersion = {
    ...checked.parts,
    templateId: id,
    workspaceId: principal.workspaceId,
    version: template.latestVersion,
    createdAt: now,
  };
  return { template, version, lint: checked.lint };
}

/** A live template at its latest version, or at `version`. */
export async function getTemplate(deps: ServiceDeps, principal: Principal, id: string, version?: number): Promise<TemplateAtVersion> {
  requireScope(principal, 'read');
  const template = await liveTemplate(deps, principal.workspaceId, id);
  const found = await deps.store.getTemplateVersion(principal.workspaceId, id, version ?? template.latestVersion);
  if (!found) throw new HeraldError('not_found', { resource: 'template version', id: `${id}?version=${version}` });
  return { template, version: found };
}

export async function listTemplates(
  deps: ServiceDeps,
  principal: Principal,
  query: { cursor?: string; limit?: number },
): Promise<Page<TemplateSummary>> {
  requireScope(principal, 'read');
  const limit = query.limit ?? 50;
  const rows = await deps.store.listTemplates(principal.workspaceId, {
    limit: limit + 1,
    ...(query.cursor !== undefined ? { before: decodeCursor(query.cursor) } : {}),
  });
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
}

export async function listTemplateVersions(
  deps: ServiceDeps,
  principal: Principal,
  id: string,
  query: { cursor?: string; limit?: number },
): Promise<Page<TemplateVersionSummary>> {
  requireScope(principal, 'read');
  await liveTemplate(deps, principal.workspaceId, id);
  const limit = query.limit ?? 50;
  let before: number | undefined;
  if (query.cursor !== undefined) {
    const text = decodeCursor(query.cursor);
    if (!/^[1-9]\d{0,9}$/.test(text)) throw new HeraldError('invalid_cursor');
    before = Number(text);
  }
  const rows = await deps.store.listTemplateVersions(principal.workspaceId, id, {
    limit: limit + 1,
    ...(before !== undefined ? { before } : {}),
  });
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(String(last.version)) : null };
}

/** Hides the template from the API; its versions stay for the batches that pinned them. */
export async function deleteTemplate(deps: ServiceDeps, principal: Principal, id: string): Promise<void> {
  requireScope(principal, 'send');
  const deleted = await deps.store.deleteTemplate(principal.workspaceId, id, deps.clock.now().toISOString());
  if (!deleted) throw notFound(id);
}

/** Renders one version with `variables`, compiling it at most once per cache. */
export function renderVersion(cache: TemplateCache, version: TemplateVersion, variables: Record<string, unknown>): RenderedTemplate {
  const parts: TemplateParts = { subject: version.subject, html: version.html ?? undefined, text: version.text ?? undefined };
  let rendered: RenderedParts;
  try {
    rendered = cache.get(templateCacheKey(version.templateId, version.version), parts)(variables);
  } catch (error) {
    // Lint stops what it can at save time; a missing partial, say, only shows when rendering.
    throw new HeraldError('template_invalid', { field: 'template', reason: `does not render: ${(error as Error).message}` });
  }
  return {
    subject: rendered.subject,
    html: rendered.html ?? null,
    text: rendered.text ?? null,
    missingVariables: version.variables.filter((name) => !Object.hasOwn(variables, name)),
  };
}

/** Previews a live template (latest version, or `version`) with the given variables. */
export async function renderTemplate(
  deps: ServiceDeps,
  principal: Principal,
  id: string,
  input: { variables: Record<string, unknown>; version?: number },
  cache: TemplateCache,
): Promise<RenderedTemplate> {
  const { version } = await getTemplate(deps, principal, id, input.version);
  return renderVersion(cache, version, input.variables);
}

/**
 * One version of a template, found even after the template was deleted: what the batch engine
 * uses to render a batch that pinned it. Null when the workspace has no such version.
 */
export function getTemplateVersion(deps: ServiceDeps, workspaceId: string, id: string, version: number): Promise<TemplateVersion | null> {
  return deps.store.getTemplateVersion(workspaceId, id, version);
}

/**
 * The version a new batch (or a send by `template_id`) should pin: `version`, or the latest, of
 * a live template. Throws `unknown_template`, the intake error, when there is none.
 */
export async function resolveTemplateVersion(
  deps: ServiceDeps,
  workspaceId: string,
  id: string,
  version?: number,
): Promise<TemplateVersion> {
  const template = await deps.store.findTemplate(workspaceId, id);
  const found = template ? await deps.store.getTemplateVersion(workspaceId, id, version ?? template.latestVersion) : null;
  if (!found) throw new HeraldError('unknown_template', { field: 'template_id', id: version === undefined ? id : `${id} (version ${version})` });
  return found;
}
