/**
 * Default sending limits of the big mailbox providers, and how to tell from an MX host name
 * which provider runs it. Destinations are grouped by MX provider rather than by recipient
 * domain because thousands of domains are hosted by Google Workspace or Microsoft 365 and share
 * that provider's limits.
 *
 * Owns: the data table and the host → provider lookup. Must not: do I/O (no DNS lookups: the
 * transport resolves MX hosts and passes them in), hold state, or know about the adaptive rate.
 *
 * The numbers are deliberately conservative starting points; the adaptive rate lowers them when
 * a provider pushes back, and operators raise them through overrides once their IP has a
 * reputation. None is a published hard limit.
 */

/** How hard Herald may push one destination. */
export interface DestinationLimits {
  /** Concurrent SMTP sessions (and, without pipelining across sessions, concurrent sends). */
  maxConnections: number;
  /** Messages sent over one session before it is closed and a new one opened. */
  messagesPerConnection: number;
  /** Sustained sending rate the adaptive controller starts from and recovers to. */
  messagesPerMinute: number;
}

/**
 * One row per provider. `mxSuffixes` match a whole host name or a trailing run of its labels
 * (`google.com` matches `aspmx.l.google.com`, never `notgoogle.com`). `default` has none and
 * must stay last: it is what every other host gets.
 */
export const PROVIDER_LIMITS = [
  // Gmail / Google Workspace: postmaster guidance (ramp slowly, back off on 4.7.x) and common MTA defaults.
  { provider: 'google', mxSuffixes: ['google.com', 'googlemail.com'], limits: { maxConnections: 10, messagesPerConnection: 50, messagesPerMinute: 300 } },
  // Outlook.com / Microsoft 365: consumer hosts (olc) defer aggressively; common MTA defaults keep sessions few.
  { provider: 'microsoft', mxSuffixes: ['mail.protection.outlook.com', 'olc.protection.outlook.com', 'hotmail.com'], limits: { maxConnections: 5, messagesPerConnection: 20, messagesPerMinute: 120 } },
  // Yahoo and AOL (same MX farm): sender guidance on TSS04 deferrals and common MTA defaults.
  { provider: 'yahoo', mxSuffixes: ['yahoodns.net', 'mx.aol.com'], limits: { maxConnections: 5, messagesPerConnection: 20, messagesPerMinute: 120 } },
  // iCloud: postmaster guidance is qualitative; common MTA defaults for mid-size providers.
  { provider: 'apple', mxSuffixes: ['icloud.com'], limits: { maxConnections: 5, messagesPerConnection: 20, messagesPerMinute: 60 } },
  // GMX and WEB.DE (United Internet): postmaster guidance on connection limits and common MTA defaults.
  { provider: 'united-internet', mxSuffixes: ['gmx.net', 'web.de'], limits: { maxConnections: 5, messagesPerConnection: 20, messagesPerMinute: 60 } },
  // IONOS hosting (also United Internet, but separate MX farm for hosted domains): common MTA defaults.
  { provider: 'ionos', mxSuffixes: ['kundenserver.de', 'ionos.de', 'ionos.com', 'ionos.co.uk'], limits: { maxConnections: 3, messagesPerConnection: 20, messagesPerMinute: 60 } },
  // Mail.ru: postmaster guidance is qualitative; common MTA defaults.
  { provider: 'mail-ru', mxSuffixes: ['mail.ru'], limits: { maxConnections: 5, messagesPerConnection: 20, messagesPerMinute: 60 } },
  // Yandex: postmaster guidance is qualitative; common MTA defaults.
  { provider: 'yandex', mxSuffixes: ['yandex.net', 'yandex.ru'], limits: { maxConnections: 5, messagesPerConnection: 20, messagesPerMinute: 60 } },
  // Comcast (Xfinity): known for strict per-IP connection limits; conservative MTA defaults.
  { provider: 'comcast', mxSuffixes: ['comcast.net'], limits: { maxConnections: 2, messagesPerConnection: 10, messagesPerMinute: 30 } },
  // AT&T (att.net, sbcglobal, bellsouth on prodigy.net MX hosts): strict; conservative MTA defaults.
  { provider: 'att', mxSuffixes: ['att.net', 'prodigy.net'], limits: { maxConnections: 2, messagesPerConnection: 10, messagesPerMinute: 30 } },
  // Orange / Wanadoo: known to refuse many parallel sessions; conservative MTA defaults.
  { provider: 'orange', mxSuffixes: ['orange.fr'], limits: { maxConnections: 2, messagesPerConnection: 10, messagesPerMinute: 30 } },
  // Free (free.fr): known to refuse many parallel sessions; conservative MTA defaults.
  { provider: 'free-fr', mxSuffixes: ['free.fr'], limits: { maxConnections: 2, messagesPerConnection: 10, messagesPerMinute: 30 } },
  // Deutsche Telekom (t-online.de): postmaster guidance is strict about new senders; conservative MTA defaults.
  { provider: 't-online', mxSuffixes: ['t-online.de'], limits: { maxConnections: 2, messagesPerConnection: 10, messagesPerMinute: 30 } },
  // Zoho Mail (all regions): common MTA defaults for mid-size providers.
  { provider: 'zoho', mxSuffixes: ['zoho.com', 'zoho.eu', 'zoho.in', 'zoho.com.au'], limits: { maxConnections: 5, messagesPerConnection: 20, messagesPerMinute: 60 } },
  // Proton Mail: common MTA defaults for mid-size providers.
  { provider: 'protonmail', mxSuffixes: ['protonmail.ch'], limits: { maxConnections: 5, messagesPerConnection: 20, messagesPerMinute: 60 } },
  // Fastmail: common MTA defaults for mid-size providers.
  { provider: 'fastmail', mxSuffixes: ['messagingengine.com'], limits: { maxConnections: 5, messagesPerConnection: 20, messagesPerMinute: 60 } },
  // Everything else, one budget per MX host: small servers, so few sessions (common MTA defaults).
  { provider: 'default', mxSuffixes: [], limits: { maxConnections: 2, messagesPerConnection: 20, messagesPerMinute: 30 } },
] as const satisfies readonly { provider: string; mxSuffixes: readonly string[]; limits: DestinationLimits }[];

export type ProviderId = (typeof PROVIDER_LIMITS)[number]['provider'];

const BY_PROVIDER: ReadonlyMap<string, DestinationLimits> = new Map(
  PROVIDER_LIMITS.map((row) => [row.provider, row.limits]),
);

/** Whether `id` names a provider in the table (including `default`). */
export function isProviderId(id: string): id is ProviderId {
  return BY_PROVIDER.has(id);
}

/** The built-in limits of a provider; `default`'s for an id not in the table. */
export function defaultLimitsOf(provider: string): DestinationLimits {
  // `default` is in the table by construction, so the fallback never yields undefined.
  return BY_PROVIDER.get(provider) ?? (BY_PROVIDER.get('default') as DestinationLimits);
}

/** An MX host name as compared: lower case, without the trailing dot of a fully qualified name. */
export function normalizeMxHost(mxHost: string): string {
  return mxHost.trim().toLowerCase().replace(/\.+$/, '');
}

/**
 * The provider running an MX host, or `default` when none matches.
 *
 * @example providerOf('ASPMX.L.GOOGLE.COM.') // 'google'
 */
export function providerOf(mxHost: string): ProviderId {
  const host = normalizeMxHost(mxHost);
  for (const row of PROVIDER_LIMITS) {
    for (const suffix of row.mxSuffixes) {
      if (host === suffix || host.endsWith(`.${suffix}`)) return row.provider;
    }
  }
  return 'default';
}
