/**
 * Decodes RFC 2047 encoded words (`=?UTF-8?Q?=C3=9Cber?=`) in a header value read from relayed
 * mail, so that subjects are stored and listed as people wrote them. Unknown charsets and
 * malformed words are left as they are rather than guessed at.
 */
const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;
/** Whitespace between two adjacent encoded words is not part of the text (RFC 2047 §6.2). */
const BETWEEN_WORDS = /(\?=)\s+(=\?)/g;

function decodeQ(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '_') bytes.push(0x20);
    else if (ch === '=' && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(ch.charCodeAt(0) & 0xff);
  }
  return Buffer.from(bytes);
}

export function decodeEncodedWords(value: string): string {
  if (!value.includes('=?')) return value;
  return value.replace(BETWEEN_WORDS, '$1$2').replace(ENCODED_WORD, (word, charset: string, encoding: string, text: string) => {
    try {
      const bytes = encoding.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : decodeQ(text);
      // RFC 2231 allows a language suffix: `UTF-8*en`.
      return new TextDecoder(charset.split('*')[0], { fatal: true }).decode(bytes);
    } catch {
      return word;
    }
  });
}
