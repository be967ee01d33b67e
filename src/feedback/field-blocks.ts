/**
 * Reads header-like text: the `message/delivery-status` and `message/feedback-report` bodies
 * (blocks of `Name: value` fields separated by blank lines, RFC 3464 §2.1 / RFC 5965 §3) and the
 * header block of a returned original message.
 *
 * Owns: unfolding continuation lines, splitting blocks, typed values (`rfc822; a@b`), pulling a
 * bare address out of a field. Must not: know what any field means for a bounce or a complaint.
 */
import { isValidAddress, normaliseAddress } from '../core/address.js';
import { clip, MAX_FIELD_CHARS } from './feedback-limits.js';

export interface Field {
  /** Lower-cased field name. */
  name: string;
  value: string;
}
export type FieldBlock = Field[];

const FIELD_LINE = /^([!-9;-~]+)[ \t]*:[ \t]*(.*)$/;
/** Raw values are kept up to this length; type prefixes come off before the value is clipped to MAX_FIELD_CHARS. */
const MAX_RAW_CHARS = 4 * MAX_FIELD_CHARS;
/** A header block is cut at this many characters; nothing a parser needs sits further in. */
const MAX_HEADER_CHARS = 256 * 1024;

/**
 * Splits `text` into field blocks. Stops after `maxBlocks` blocks and sets `overflow` when more
 * follow, so a report claiming thousands of recipients costs no more than the limit.
 */
export function parseFieldBlocks(text: string, maxBlocks: number): { blocks: FieldBlock[]; overflow: boolean } {
  const blocks: FieldBlock[] = [];
  let current: FieldBlock = [];
  let last: Field | null = null;
  const close = (): void => {
    if (current.length > 0) blocks.push(current);
    current = [];
    last = null;
  };
  for (const line of text.split(/\r?\n|\r/)) {
    if (line.trim() === '') {
      close();
      if (blocks.length > maxBlocks) return { blocks: blocks.slice(0, maxBlocks), overflow: true };
      continue;
    }
    if (/^[ \t]/.test(line)) {
      const field: Field | null = last;
      if (field !== null && field.value.length <= MAX_RAW_CHARS) field.value = `${field.value} ${line.trim()}`.trim();
      continue;
    }
    const match = FIELD_LINE.exec(line);
    if (!match) continue; // not a field: a stray text line inside a hostile or broken report
    last = { name: (match[1] ?? '').toLowerCase(), value: (match[2] ?? '').trim().slice(0, MAX_RAW_CHARS) };
    current.push(last);
  }
  close();
  return blocks.length > maxBlocks ? { blocks: blocks.slice(0, maxBlocks), overflow: true } : { blocks, overflow: false };
}

/** The header block at the top of a returned message (or of a `text/rfc822-headers` part). */
export function parseHeaderBlock(text: string): FieldBlock {
  const head = text.slice(0, MAX_HEADER_CHARS).replace(/^(\r?\n)+/, '');
  const end = /\r?\n\r?\n/.exec(head);
  return parseFieldBlocks(end ? head.slice(0, end.index) : head, 1).blocks[0] ?? [];
}

/** The first value of `name` in `block`, or null. */
export function fieldValue(block: FieldBlock, name: string): string | null {
  return block.find((field) => field.name === name)?.value ?? null;
}

/** Every value of `name` in `block`, in order. */
export function fieldValues(block: FieldBlock, name: string): string[] {
  return block.filter((field) => field.name === name).map((field) => field.value);
}

/**
 * The registered address, MTA-name and diagnostic types (RFC 3464 §2.1.2, RFC 6533), any `x-`
 * one, and `dsn`, which SES writes where the RFC says `dns`.
 */
const TYPE_PREFIX = /^\s*(?:rfc822|utf-8|x400|unknown|dns|dsn|smtp|x-[\w.-]+)\s*;\s*([\s\S]*)$/i;

/** `rfc822; a@b.org` → `a@b.org`, `dns; mx.example.org` → `mx.example.org`, `smtp; 550 …` → `550 …`. */
export function stripType(value: string): string {
  const typed = TYPE_PREFIX.exec(value);
  return (typed ? (typed[1] ?? '') : value).trim();
}

/** An MTA field (`dns; mx.example.org. (192.0.2.1, the server for …)`) → `mx.example.org`. */
export function mtaName(value: string | null): string | null {
  if (value === null) return null;
  return clip(stripType(value).replace(/\([^)]*\)/g, ' ').trim().replace(/\.$/, ''));
}

/**
 * The bare address in a recipient field or header (`rfc822; <a@b.org>`, `"Ann" <a@b.org>`,
 * `a@b.org (comment)`), domain lower-cased; null when there is no valid address in it.
 */
export function addressIn(value: string | null): string | null {
  if (value === null) return null;
  // Addresses are at most 320 characters; the cut keeps the patterns below cheap on hostile input.
  const bare = stripType(value.slice(0, MAX_FIELD_CHARS));
  const angle = /<([^<>\s]+@[^<>\s]+)>/.exec(bare);
  const candidate = angle ? angle[1] : bare.split(/[\s,;]+/).find((token) => token.includes('@'));
  if (candidate === undefined) return null;
  const address = candidate.replace(/^["'<]+|[>"'.,]+$/g, '');
  return isValidAddress(address) ? normaliseAddress(address) : null;
}
