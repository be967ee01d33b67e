/**
 * DKIM "relaxed" canonicalisation (RFC 6376 §3.4.2 header, §3.4.4 body) and the choice of which
 * header fields a signature covers (§5.4.2). Pure string work: it owns the exact bytes a
 * signature is computed over and nothing else — it does no hashing, no key handling, and must
 * never change the message itself.
 *
 * Messages are JS strings that go on the wire as UTF-8, so every function here works on the
 * string and the caller hashes its UTF-8 encoding. Line ends are CRLF; a bare LF is read as a
 * line end too, as verifiers do, so a message with a stray LF still signs the way it will verify.
 *
 * Speed matters because every outgoing message passes through here once: the body, which can be
 * megabytes, is inspected with native substring searches and only rewritten when it actually
 * holds something relaxed canonicalisation changes; every rewrite is a single linear pass.
 */

/** One header field as it appears in the message. */
export interface HeaderField {
  /** The field name, lower-cased, without the whitespace allowed before the colon. */
  readonly name: string;
  /** The whole field, folding included, without its final line break. */
  readonly text: string;
}

/** A message split into its header fields and where its body starts. */
export interface ParsedMessage {
  readonly fields: readonly HeaderField[];
  /** Index in the raw message of the first body character (the length when there is no body). */
  readonly bodyStart: number;
}

const CR = 13;
const SP = 32;
const TAB = 9;
const LF = 10;

/**
 * Splits the header block into fields. Continuation lines (starting with SP or HTAB) belong to
 * the field above them; the first empty line ends the header block. Without an empty line the
 * whole message is header and the body is empty.
 */
export function parseMessage(raw: string): ParsedMessage {
  const fields: HeaderField[] = [];
  let fieldStart = -1;
  let fieldEnd = -1;
  let position = 0;
  let bodyStart = raw.length;

  const closeField = (): void => {
    if (fieldStart < 0) return;
    const text = raw.slice(fieldStart, fieldEnd);
    const colon = text.indexOf(':');
    const name = colon < 0 ? '' : trimWsp(text.slice(0, colon)).toLowerCase();
    fields.push({ name, text });
  };

  while (position < raw.length) {
    const lineFeed = raw.indexOf('\n', position);
    const lineEnd = lineFeed < 0 ? raw.length : lineFeed;
    const contentEnd = lineEnd > position && raw.charCodeAt(lineEnd - 1) === CR ? lineEnd - 1 : lineEnd;
    if (contentEnd === position) {
      bodyStart = lineFeed < 0 ? raw.length : lineFeed + 1;
      break;
    }
    const first = raw.charCodeAt(position);
    if ((first === SP || first === TAB) && fieldStart >= 0) {
      fieldEnd = contentEnd;
    } else {
      closeField();
      fieldStart = position;
      fieldEnd = contentEnd;
    }
    position = lineFeed < 0 ? raw.length : lineFeed + 1;
  }
  closeField();
  return { fields, bodyStart };
}

/**
 * The relaxed form of one header field, without the trailing CRLF: lower-case name, unfolded,
 * WSP runs reduced to one SP, and no WSP around the colon or at the end. Only SP and HTAB count
 * as WSP here — other whitespace (NBSP, form feed) is content and must survive untouched.
 */
export function relaxedHeader(field: HeaderField): string {
  let value = field.text.slice(field.text.indexOf(':') + 1);
  if (value.includes('\n')) value = value.replace(/\r?\n/g, '');
  if (value.includes('\t') || value.includes('  ')) value = value.replace(/\t[\t ]*| [\t ]+/g, ' ');
  return `${field.name}:${trimWsp(value)}`;
}

/** Strips SP and HTAB (only) from both ends. */
function trimWsp(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isWsp(text.charCodeAt(start))) start += 1;
  while (end > start && isWsp(text.charCodeAt(end - 1))) end -= 1;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

function isWsp(code: number): boolean {
  return code === SP || code === TAB;
}

/**
 * The relaxed form of a body: WSP runs reduced to one SP, WSP at line ends removed, trailing
 * empty lines removed, and a final CRLF when anything is left. A body that is empty, or only
 * empty or blank lines, canonicalises to the empty string — not to CRLF: RFC 6376 §3.4.4 adds
 * the CRLF only "if the body is non-empty", unlike the simple algorithm (§3.4.3), so its hash is
 * SHA-256("") = 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=.
 */
export function relaxedBody(body: string): string {
  let text = body;
  const lineEnds = inspectLineEnds(text);
  if (lineEnds.bareLineFeed) text = text.replace(/\r?\n/g, '\r\n');
  // The pattern only matches what must change, so a body of single spaces is not copied, and it
  // is linear: each match is one greedy run with no backtracking.
  if (text.includes('\t') || text.includes('  ')) text = text.replace(/\t[\t ]*| [\t ]+/g, ' ');
  // WSP runs are single SPs by now, so one SP is all there is to drop before a line end.
  if (lineEnds.wspBefore) text = text.replaceAll(' \r\n', '\r\n');

  let end = text.length;
  // The only WSP still touching a line end is a single SP ending a body that lacks a final CRLF.
  if (end > 0 && text.charCodeAt(end - 1) === SP) end -= 1;
  // Trailing CR and LF characters are all empty-line material; verifiers drop any run of them.
  while (end > 0) {
    const code = text.charCodeAt(end - 1);
    if (code !== CR && code !== LF) break;
    end -= 1;
  }
  if (end === 0) return '';
  return `${end === text.length ? text : text.slice(0, end)}\r\n`;
}

/**
 * One native indexOf per line and no copying: finds whether an LF lacks its CR and whether WSP
 * ends a line — both rare in composed mail, so the rewrites they need are usually skipped.
 */
function inspectLineEnds(text: string): { bareLineFeed: boolean; wspBefore: boolean } {
  let wspBefore = false;
  let lineFeed = text.indexOf('\n');
  while (lineFeed >= 0) {
    if (lineFeed === 0 || text.charCodeAt(lineFeed - 1) !== CR) return { bareLineFeed: true, wspBefore: true };
    if (lineFeed >= 2 && isWsp(text.charCodeAt(lineFeed - 2))) wspBefore = true;
    lineFeed = text.indexOf('\n', lineFeed + 1);
  }
  return { bareLineFeed: false, wspBefore };
}

/** The fields a signature covers, in signing order, and the matching h= tag names. */
export interface HeaderSelection {
  /** The h= names in order; a name appears once per instance signed, plus once if oversigned. */
  readonly names: readonly string[];
  /** The fields to canonicalise, in h= order (an oversigned name has no field of its own). */
  readonly fields: readonly HeaderField[];
}

/**
 * Chooses the header fields to sign. Every instance of each wanted name that is present is
 * signed, the last instance first, since that is the order in which a verifier consumes them
 * (§5.4.2). An oversigned name is listed once more than it occurs — even when it does not occur
 * at all — so that a verifier runs out of instances there and any field of that name added later
 * breaks the signature.
 *
 * @param wanted lower-case names, without duplicates, in the order they should appear in h=
 * @param oversigned lower-case names to list once beyond their instances
 */
export function selectHeaders(
  fields: readonly HeaderField[],
  wanted: readonly string[],
  oversigned: ReadonlySet<string>,
): HeaderSelection {
  const instances = new Map<string, HeaderField[]>();
  for (const name of wanted) instances.set(name, []);
  for (const field of fields) instances.get(field.name)?.push(field);

  const names: string[] = [];
  const selected: HeaderField[] = [];
  for (const name of wanted) {
    const found = instances.get(name) ?? [];
    for (let index = found.length - 1; index >= 0; index -= 1) {
      names.push(name);
      selected.push(found[index] as HeaderField);
    }
    if (oversigned.has(name)) names.push(name);
  }
  return { names, fields: selected };
}
