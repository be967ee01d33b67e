import { describe, expect, it } from 'vitest';
import { checkEventFilter, eventMatches } from '../../src/events/webhooks/event-filter.js';

const KNOWN = ['message.accepted', 'message.sent', 'message.delivered', 'message.bounced', 'message.delivery.delayed', 'batch.completed'];

describe('checkEventFilter', () => {
  it.each([
    [['message.sent'], ['message.sent']],
    [['message.*', 'batch.completed'], ['message.*', 'batch.completed']],
    [['*'], ['*']],
    [['message.delivery.*'], ['message.delivery.*']],
    [['message.sent', 'message.sent', 'batch.*'], ['message.sent', 'batch.*']],
  ])('accepts %j', (input, events) => expect(checkEventFilter(input, KNOWN)).toEqual({ ok: true, events }));

  it.each([
    ['not an array', 'message.sent', 'events', 'must be an array'],
    ['an empty list', [], 'events', 'at least one'],
    ['an unknown type', ['message.sent', 'message.sen'], 'events[1]', 'unknown event type "message.sen"'],
    ['a non-string', ['message.sent', 42], 'events[1]', 'must be a string'],
    ['an empty string', [''], 'events[0]', 'must be 1 to'],
    ['a leading wildcard', ['*.sent'], 'events[0]', 'a wildcard may only be'],
    ['a partial wildcard', ['message.s*'], 'events[0]', 'a wildcard may only be'],
    ['a bare family name', ['message'], 'events[0]', 'unknown event type'],
    ['a family with no known type', ['contact.*'], 'events[0]', 'no known event type matches'],
    ['a wildcard with no family', ['.*'], 'events[0]', 'a wildcard may only be'],
    ['too many entries', Array.from({ length: 101 }, () => '*'), 'events', 'at most 100'],
  ])('refuses %s', (_, input, field, reason) => {
    const result = checkEventFilter(input, KNOWN);
    expect(result).toMatchObject({ ok: false, field });
    if (!result.ok) expect(result.reason).toContain(reason);
  });
});

describe('eventMatches', () => {
  it.each([
    [['*'], 'message.sent', true],
    [['*'], 'anything.new', true],
    [['message.*'], 'message.sent', true],
    [['message.*'], 'message.delivery.delayed', true],
    [['message.*'], 'batch.completed', false],
    [['message.*'], 'messages.sent', false],
    [['message.delivery.*'], 'message.delivered', false],
    [['message.sent'], 'message.sent', true],
    [['message.sent'], 'message.sent.extra', false],
    [['batch.completed', 'message.bounced'], 'message.bounced', true],
    [[], 'message.sent', false],
  ])('%j matches %s: %s', (patterns, type, expected) => expect(eventMatches(patterns, type)).toBe(expected));
});
