/**
 * Authentication for the API: `Authorization: Bearer <secret>`, or `Basic base64(id:secret)` (the
 * uSpeedo form). Resolves the calling principal and applies the per-key rate limit.
 */
import type { FastifyRequest } from 'fastify';
import { HeraldError } from '../core/errors.js';
import type { Principal, ServiceDeps } from '../services/deps.js';
import { authenticateIdAndSecret, authenticateSecret } from '../services/keys.js';
import type { RateLimiter } from './rate-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export async function authenticate(deps: ServiceDeps, limiter: RateLimiter, request: FastifyRequest): Promise<Principal> {
  const header = request.headers.authorization;
  if (header === undefined || header.trim() === '') throw new HeraldError('missing_api_key');
  const [scheme = '', credentials = ''] = header.trim().split(/\s+/, 2);
  let principal: Principal;
  if (/^bearer$/i.test(scheme) && credentials !== '') {
    principal = await authenticateSecret(deps, credentials);
  } else if (/^basic$/i.test(scheme) && credentials !== '') {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 1) throw new HeraldError('invalid_api_key');
    principal = await authenticateIdAndSecret(deps, decoded.slice(0, colon), decoded.slice(colon + 1));
  } else {
    throw new HeraldError('invalid_api_key');
  }
  const wait = limiter.take(principal.keyId);
  if (wait > 0) throw new HeraldError('rate_limited', { limit: limiter.perSecond, retry_after: wait });
  return principal;
}
