import { describe, expect, it } from 'vitest';
import { recipientDomain, rollupCounterOf, rollupHour, rollupTags } from '../../src/core/event-rollup.js';
import { EVENT_TYPES } from '../../src/core/event-types.js';
import { parseTypeFilter } from '../../src/services/events.js';

describe('event rollups', () => {
  it.each([
    ['message.accepted', {}, 'accepted'],
    ['message.sent', {}, 'sent'],
    ['message.deferred', {}, 'deferred'],
    ['message.bounced', { bounce_class: 'hard' }, 'bounced_hard'],
    ['message.bounced', { bounce_class: 'soft' }, 'bounced_soft'],
    ['message.bounced', {}, 'bounced_hard'],
    ['message.opened', { first: true }, 'opened'],
    ['message.opened', { first: false }, null],
    ['message.clicked', {}, null],
    ['message.clicked', { first: true }, 'clicked'],
    ['message.complained', {}, 'complained'],
    ['message.failed', {}, null],
    ['batch.completed', {}, null],
  ])('counts %s with %j as %s', (type, data, counter) => expect(rollupCounterOf(type, data)).toBe(counter));

  it('buckets by UTC hour, keys the domain lower-case after the last @, and adds the total row to the tags', () => {
    expect(rollupHour('2026-03-01T14:59:59.999Z')).toBe('2026-03-01T14:00:00.000Z');
    expect(recipientDomain('"a@b"@Example.ORG')).toBe('example.org');
    expect(rollupTags(['promo', 'promo', 'spring'])).toEqual(['', 'promo', 'spring']);
  });

  it('maps every stats counter to a known event type', () => {
    for (const type of ['message.accepted', 'message.sent', 'message.delivered', 'message.deferred', 'message.bounced', 'message.complained', 'message.opened', 'message.clicked', 'message.unsubscribed']) {
      expect(EVENT_TYPES).toContain(type);
    }
    expect(new Set(EVENT_TYPES).size).toBe(EVENT_TYPES.length);
  });
});

describe('the type filter of /v1/events', () => {
  it('splits exact types from families, and reads "*" or nothing as every type', () => {
    expect(parseTypeFilter('message.*, batch.completed')).toEqual({ types: ['batch.completed'], prefixes: ['message.'] });
    expect(parseTypeFilter('*')).toEqual({});
    expect(parseTypeFilter(undefined)).toEqual({});
  });

  it('names the field and the entry of an unknown type', () => {
    expect(() => parseTypeFilter('message.sent,message.sen')).toThrow(/type: entry 2: unknown event type "message.sen"/);
  });
});
