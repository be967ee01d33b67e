/**
 * The hosted unsubscribe pages: confirm (a form that posts the RFC 8058 one-click body back to the
 * page's own URL, so it works without JavaScript), done, and "this link is not valid". Plain HTML
 * with inline styles and nothing loaded from elsewhere; every value shown is escaped.
 */

/** The hidden form field that tells a page's POST from a mailbox provider's one-click POST. */
export const PAGE_FIELD = 'via';
export const PAGE_FIELD_VALUE = 'page';

/**
 * Headers for every answer of the unsubscribe endpoints: never cached or indexed, no referrer
 * (the URL holds the token), nothing but inline style, and forms may post only to this origin.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-robots-tag': 'noindex, nofollow',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
});

export function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const STYLE =
  'body{margin:0;padding:48px 16px;background:#f6f6f6;font:16px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,sans-serif;color:#222}' +
  'main{max-width:28rem;margin:0 auto;padding:32px;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.1)}' +
  'h1{margin:0 0 16px;font-size:1.4rem}button{padding:10px 20px;font:inherit;color:#fff;background:#222;border:0;border-radius:6px;cursor:pointer}';

function page(title: string, body: string): string {
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex, nofollow">' +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
    `<body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>\n`
  );
}

/** Asks to confirm; the button posts `List-Unsubscribe=One-Click` to this same URL (no action attribute). */
export function confirmPage(recipient: string): string {
  return page(
    'Unsubscribe',
    `<p>Stop sending these emails to <strong>${escapeHtml(recipient)}</strong>?</p>` +
      '<form method="post">' +
      '<input type="hidden" name="List-Unsubscribe" value="One-Click">' +
      `<input type="hidden" name="${PAGE_FIELD}" value="${PAGE_FIELD_VALUE}">` +
      '<button type="submit">Unsubscribe</button></form>',
  );
}

export function donePage(recipient: string): string {
  return page(
    'You are unsubscribed',
    `<p><strong>${escapeHtml(recipient)}</strong> will no longer receive these emails. ` +
      'Messages about your account or orders may still be sent.</p>',
  );
}

export function invalidPage(): string {
  return page('This link is not valid', '<p>The unsubscribe link is incomplete or was changed. Please use the link from the email again.</p>');
}
