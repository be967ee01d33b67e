/**
 * Whether an open or a click was made by a machine rather than by the recipient: a privacy proxy
 * that fetches every image as mail arrives, a security scanner that follows every link, a chat
 * app's link preview. Such events are still recorded, flagged `machine: true` with the rule that
 * matched, so reports can leave them out. The rules (docs/tracking.md explains each):
 *
 * - `apple_mpp`: an open from 17.0.0.0/8, Apple's own network, where Apple Mail Privacy
 *   Protection fetches remote content through Apple's servers whether or not the mail is read.
 * - `scanner`: a user agent naming a scanner, bot or HTTP library (Barracuda, Mimecast,
 *   Proofpoint, Microsoft's link checks, curl, python-requests, headless browsers, previews).
 * - `prefetch`: an open through a mail provider's image proxy (Google, Yahoo, a bare
 *   `Mozilla/5.0`) within `PREFETCH_SECONDS` of the message being sent: people do not read that fast.
 *
 * Pure: times and addresses are passed in.
 */

/** An open this soon after the message was sent, through a proxy, is taken for a prefetch. */
export const PREFETCH_SECONDS = 10;

export type MachineReason = 'apple_mpp' | 'scanner' | 'prefetch';

const SCANNER =
  /(bot\b|bot\/|crawler|spider|scanner|barracuda|mimecast|proofpoint|symantec|messagelabs|trend ?micro|forcepoint|fireeye|sophos|safelinks|microsoft office existence|ms-office|python-requests|python-urllib|aiohttp|curl\/|wget\/|go-http-client|java\/|okhttp|axios|node-fetch|undici|libwww|headlesschrome|phantomjs|slackbot|facebookexternalhit|whatsapp|telegrambot|discordbot|linkedinbot|twitterbot|skypeuripreview|preview)/i;
const PROXY = /(googleimageproxy|ggpht\.com|yahoomailproxy|^mozilla\/5\.0$)/i;

/** Whether `ip` (IPv4, or IPv4-mapped IPv6) is in 17.0.0.0/8. */
function inAppleNetwork(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return /^17\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

export interface EngagementRequest {
  userAgent: string;
  ip: string;
  /** When the request came. */
  at: Date;
}

/** Why an open looks like a machine's, or null. `sentAt`: when the message was sent, when known. */
export function machineOpenReason(request: EngagementRequest, sentAt: Date | null): MachineReason | null {
  if (inAppleNetwork(request.ip)) return 'apple_mpp';
  const agent = request.userAgent.trim();
  if (agent === '' || SCANNER.test(agent)) return 'scanner';
  if (sentAt !== null && PROXY.test(agent) && request.at.getTime() - sentAt.getTime() < PREFETCH_SECONDS * 1000) return 'prefetch';
  return null;
}

/** Why a click looks like a machine's (a scanner or a preview following the link), or null. */
export function machineClickReason(request: EngagementRequest): MachineReason | null {
  const agent = request.userAgent.trim();
  return agent === '' || SCANNER.test(agent) ? 'scanner' : null;
}
