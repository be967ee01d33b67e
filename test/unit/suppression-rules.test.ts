/** The suppression rules (reasons, scopes, streams) and the engine's one-query-per-chunk check. */
import { describe, expect, it } from 'vitest';
import { scopeFor, scopesBlocking, strongerHit } from '../../src/core/suppression.js';
import type { Stream } from '../../src/core/types.js';
import { SuppressionCheck } from '../../src/engine/suppression-check.js';
import type { ClaimedMessage } from '../../src/store/store.js';

function claimed(id: string, workspaceId: string, recipient: string, stream: Stream): ClaimedMessage {
  return { id, workspaceId, recipient, stream } as ClaimedMessage;
}

describe('suppression rules', () => {
  it('gives each reason its scope, and lets only manual entries choose', () => {
    expect(scopeFor('hard_bounce')).toBe('all');
    expect(scopeFor('complaint')).toBe('all');
    expect(scopeFor('unsubscribe')).toBe('broadcast');
    expect(scopeFor('manual')).toBe('all');
    expect(scopeFor('manual', 'broadcast')).toBe('broadcast');
    expect(scopeFor('complaint', 'broadcast')).toBeNull();
    expect(scopeFor('unsubscribe', 'all')).toBeNull();
  });

  it('holds back transactional mail for all-scope entries only, broadcast mail for both', () => {
    expect(scopesBlocking('transactional')).toEqual(['all']);
    expect(scopesBlocking('broadcast')).toEqual(['all', 'broadcast']);
  });

  it('reports the all-scope entry when an address has both', () => {
    const unsubscribed = { reason: 'unsubscribe', scope: 'broadcast' } as const;
    const bounced = { reason: 'hard_bounce', scope: 'all' } as const;
    expect(strongerHit(unsubscribed, bounced)).toBe(bounced);
    expect(strongerHit(bounced, unsubscribed)).toBe(bounced);
    expect(strongerHit(undefined, unsubscribed)).toBe(unsubscribed);
  });
});

describe('the engine’s suppression check', () => {
  it('asks the store once per workspace and stream of a chunk, and answers per message', async () => {
    const calls: [string, Stream, string[]][] = [];
    const check = new SuppressionCheck({
      findSuppressed: async (workspaceId, stream, emails) => {
        calls.push([workspaceId, stream, emails]);
        return new Map(emails.filter((e) => e.startsWith('gone')).map((e) => [e, { reason: 'complaint' as const, scope: 'all' as const }]));
      },
    });
    const chunk = [
      claimed('m1', 'ws_a', 'gone@Example.org', 'transactional'),
      claimed('m2', 'ws_a', 'here@example.org', 'transactional'),
      claimed('m3', 'ws_a', 'gone@example.org', 'transactional'),
      claimed('m4', 'ws_a', 'gone@example.org', 'broadcast'),
      claimed('m5', 'ws_b', 'here@example.org', 'transactional'),
    ];
    await check.load(chunk);
    expect(calls).toEqual([
      ['ws_a', 'transactional', ['gone@example.org', 'here@example.org']],
      ['ws_a', 'broadcast', ['gone@example.org']],
      ['ws_b', 'transactional', ['here@example.org']],
    ]);
    expect(chunk.map((m) => check.hitFor(m)?.reason ?? null)).toEqual(['complaint', null, 'complaint', 'complaint', null]);
  });
});
