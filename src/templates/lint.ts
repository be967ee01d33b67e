/**
 * Template lint, run when a template is saved and when a batch is submitted. Errors stop the
 * save (a template that does not compile); warnings are returned beside the saved template:
 * links that are not absolute http(s) URLs, and a missing text part (with a generated one
 * offered). Also reports the variables each part uses.
 */
import Handlebars from 'handlebars';
import { htmlToText } from './html-to-text.js';
import { variablesOf } from './variables.js';

export interface TemplateParts {
  subject: string;
  html?: string | undefined;
  text?: string | undefined;
}

/** Stable codes, so API clients can act on an issue without parsing its message. */
export type LintCode = 'compile_error' | 'no_body' | 'link_not_absolute' | 'missing_text';

export interface LintIssue {
  code: LintCode;
  field: 'subject' | 'html' | 'text';
  line?: number;
  message: string;
}

export interface LintReport {
  errors: LintIssue[];
  warnings: LintIssue[];
  /** Root variables any part uses, sorted. */
  variables: string[];
  /** Offered when there is html but no text: a plain-text part generated from the html. */
  suggestedText?: string;
}

const LINK = /\b(href|src)\s*=\s*(["'])(.*?)\2/gi;
const ALLOWED_SCHEMES = /^(https?:\/\/[^\s/]+|mailto:|tel:|cid:|#)/i;

function lineOf(source: string, index: number): number {
  return source.slice(0, index).split('\n').length;
}

/** The first partial or decorator in a template: Herald registers none, so each would fail every render. */
function firstUnsupported(node: hbs.AST.Node | null | undefined): hbs.AST.Node | null {
  if (!node) return null;
  switch (node.type) {
    case 'PartialStatement':
    case 'PartialBlockStatement':
    case 'Decorator':
    case 'DecoratorBlock':
      return node;
    case 'Program':
      for (const statement of (node as hbs.AST.Program).body) {
        const found = firstUnsupported(statement);
        if (found) return found;
      }
      return null;
    case 'BlockStatement': {
      const block = node as hbs.AST.BlockStatement;
      return firstUnsupported(block.program) ?? firstUnsupported(block.inverse);
    }
    default:
      return null;
  }
}

function compileError(field: LintIssue['field'], source: string): LintIssue | null {
  try {
    // Herald registers no helpers of its own, so an unknown helper would fail every render;
    // knownHelpersOnly makes it a save-time error instead.
    Handlebars.precompile(source, { knownHelpersOnly: true });
    const unsupported = firstUnsupported(Handlebars.parse(source));
    if (!unsupported) return null;
    const line = unsupported.loc.start.line;
    return { code: 'compile_error', field, line, message: `partials and decorators are not supported (line ${line})` };
  } catch (error) {
    // The parser's caret line points into a snippet that loses its meaning once whitespace is folded.
    const message = (error as Error).message.replace(/\n-*\^/, '').replace(/\s+/g, ' ').trim();
    const line = /line (\d+)/.exec(message)?.[1] ?? / - (\d+):\d+/.exec(message)?.[1];
    const code = 'compile_error';
    return line === undefined ? { code, field, message } : { code, field, line: Number(line), message };
  }
}

export function lintTemplate(parts: TemplateParts): LintReport {
  const errors: LintIssue[] = [];
  const warnings: LintIssue[] = [];
  const variables = new Set<string>();
  const sources: [LintIssue['field'], string | undefined][] = [
    ['subject', parts.subject],
    ['html', parts.html],
    ['text', parts.text],
  ];
  for (const [field, source] of sources) {
    if (source === undefined) continue;
    const error = compileError(field, source);
    if (error) {
      errors.push(error);
      continue;
    }
    for (const name of variablesOf(source)) variables.add(name);
  }
  if (parts.html !== undefined) {
    for (const match of parts.html.matchAll(LINK)) {
      const url = (match[3] ?? '').trim();
      if (url.includes('{{')) continue; // a link built from variables is checked when rendered
      if (!ALLOWED_SCHEMES.test(url)) {
        warnings.push({ code: 'link_not_absolute', field: 'html', line: lineOf(parts.html, match.index ?? 0), message: `${match[1]}="${url}" is not an absolute http(s) URL` });
      }
    }
  }
  if (!parts.html && !parts.text) errors.push({ code: 'no_body', field: 'html', message: 'a template needs an html or a text part' });
  const report: LintReport = { errors, warnings, variables: [...variables].sort() };
  if (parts.html && !parts.text && errors.length === 0) {
    warnings.push({ code: 'missing_text', field: 'text', message: 'no text part: many spam filters penalise html-only mail; suggested_text has one generated from the html' });
    report.suggestedText = htmlToText(parts.html);
  }
  return report;
}
