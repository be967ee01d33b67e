import { describe, expect, it } from 'vitest';
import { HeraldError } from '../../src/core/errors.js';
import { isThrottlingReply } from '../../src/transports/shaping/adaptive-rate.js';
import { PROVIDER_LIMITS, defaultLimitsOf, providerOf } from '../../src/transports/shaping/provider-limits.js';
import { type Admission, type ShapingOptions, TrafficShaper } from '../../src/transports/shaping/traffic-shaper.js';

const START = Date.UTC(2025, 0, 1);
const OK = { code: 250, reply: '250 2.0.0 OK' };
const THROTTLED = { code: 421, reply: '421 4.7.0 Try again later, closing connection.' };

/** A shaper on a hand-driven clock. */
function shaperAt(options: Omit<ShapingOptions, 'now'> = {}) {
  const clock = { t: START };
  const shaper = new TrafficShaper({ ...options, now: () => clock.t });
  return { shaper, clock, advance: (ms: number) => (clock.t += ms) };
}

function rowOf(shaper: TrafficShaper, destination: string) {
  const row = shaper.snapshot().find((r) => r.destination === destination);
  if (!row) throw new Error(`no snapshot row for ${destination}`);
  return row;
}

function admitted(admission: Admission) {
  if (!admission.ok) throw new Error(`refused: ${admission.reason}, retry after ${admission.retryAfterMs} ms`);
  return admission;
}

/** Sends one message to `destination` that ends with `result`. */
function sendOnce(shaper: TrafficShaper, destination: string, result: { code: number; reply: string }) {
  admitted(shaper.admit(destination)).release(result);
}

describe('recognising providers from MX hosts', () => {
  it.each([
    ['aspmx.l.google.com', 'google'],
    ['alt4.aspmx.l.google.com', 'google'],
    ['smtp.google.com', 'google'],
    ['ASPMX2.GOOGLEMAIL.COM.', 'google'],
    ['example-com.mail.protection.outlook.com', 'microsoft'],
    ['hotmail-com.olc.protection.outlook.com', 'microsoft'],
    ['outlook-com.olc.protection.outlook.com', 'microsoft'],
    ['mta5.am0.yahoodns.net', 'yahoo'],
    ['mx-aol.mail.gm0.yahoodns.net', 'yahoo'],
    ['mx01.mail.icloud.com', 'apple'],
    ['mx00.gmx.net', 'united-internet'],
    ['mx-ha03.web.de', 'united-internet'],
    ['mx00.kundenserver.de', 'ionos'],
    ['mx00.ionos.de', 'ionos'],
    ['mxs.mail.ru', 'mail-ru'],
    ['mx.yandex.net', 'yandex'],
    ['mx.yandex.ru', 'yandex'],
    ['mx1a1.comcast.net', 'comcast'],
    ['al-ip4-mx-vip1.prodigy.net', 'att'],
    ['smtp-in.orange.fr', 'orange'],
    ['mx1.free.fr', 'free-fr'],
    ['mx00.t-online.de', 't-online'],
    ['mx.zoho.com', 'zoho'],
    ['mx2.zoho.eu', 'zoho'],
    ['mail.protonmail.ch', 'protonmail'],
    ['in1-smtp.messagingengine.com', 'fastmail'],
  ])('maps %s to %s', (host, provider) => {
    expect(providerOf(host)).toBe(provider);
    expect(new TrafficShaper().destinationOf(host)).toBe(provider);
  });

  it('gives every provider in the table its own limits and ends the table with default', () => {
    const ids = PROVIDER_LIMITS.map((row) => row.provider);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.at(-1)).toBe('default');
  });

  it.each(['mx.example.org', 'notgoogle.com', 'aspmx.l.google.com.evil.example', 'mail.example.de'])(
    'treats the unknown host %s as default',
    (host) => expect(providerOf(host)).toBe('default'),
  );

  it('gives each unknown MX host its own destination key, so small domains do not share a budget', () => {
    const shaper = new TrafficShaper();
    expect(shaper.destinationOf('MX.Example.ORG.')).toBe('mx.example.org');
    expect(shaper.destinationOf('mx.other.example')).toBe('mx.other.example');
    expect(shaper.limitsOf('mx.example.org')).toEqual(defaultLimitsOf('default'));
  });
});

describe('admission', () => {
  it('admits a burst of five seconds of the rate, then asks to wait until the next token', () => {
    const { shaper, advance } = shaperAt({ overrides: { google: { messagesPerMinute: 60, maxConnections: 100 } } });
    for (let i = 0; i < 5; i++) sendOnce(shaper, 'google', OK);
    expect(shaper.admit('google')).toEqual({ ok: false, reason: 'rate', retryAfterMs: 1000 });
    advance(999);
    expect(shaper.admit('google')).toEqual({ ok: false, reason: 'rate', retryAfterMs: 1 });
    advance(1);
    expect(shaper.admit('google').ok).toBe(true);
  });

  it('allows a burst of at least one message even at a very low rate', () => {
    const { shaper } = shaperAt({ overrides: { default: { messagesPerMinute: 2 } } });
    expect(shaper.admit('mx.example.org').ok).toBe(true);
    expect(shaper.admit('mx.example.org')).toEqual({ ok: false, reason: 'rate', retryAfterMs: 30_000 });
  });

  it('refuses sends beyond maxConnections until one is released', () => {
    const { shaper } = shaperAt({ overrides: { default: { maxConnections: 2, messagesPerMinute: 600 } } });
    const first = admitted(shaper.admit('mx.example.org'));
    admitted(shaper.admit('mx.example.org'));
    const refused = shaper.admit('mx.example.org');
    expect(refused).toMatchObject({ ok: false, reason: 'connections' });
    expect(refused.ok === false && refused.retryAfterMs).toBeGreaterThan(0);
    first.release(OK);
    expect(shaper.admit('mx.example.org').ok).toBe(true);
  });

  it('shapes unrelated small destinations independently', () => {
    const { shaper } = shaperAt({ overrides: { default: { maxConnections: 1 } } });
    admitted(shaper.admit('mx.a.example'));
    expect(shaper.admit('mx.a.example').ok).toBe(false);
    expect(shaper.admit('mx.b.example').ok).toBe(true);
  });
});

describe('throttling replies', () => {
  it.each([
    [421, '421 4.7.0 Try again later, closing connection.'],
    [421, '421-4.7.28 Gmail has detected an unusual rate of unsolicited mail.\n421 4.7.28 To protect our users, mail has been temporarily rate limited.'],
    [450, '450 4.7.28 Gmail has detected an unusual rate of unsolicited mail'],
    [451, '451 4.7.500 Server busy. Please try again later from [192.0.2.1].'],
    [421, 'mta.example.com Service not available, too many connections'],
    [450, '450 Too many messages from your IP, slow down'],
    [451, '451 Rate limit exceeded'],
  ])('counts %i %j as throttling', (code, reply) => expect(isThrottlingReply(code, reply)).toBe(true));

  it.each([
    [250, '250 2.0.0 OK'],
    [550, '550 5.7.1 Message rejected: too many complaints, try again later'],
    [451, '451 4.3.0 Temporary failure, try again later'],
    [450, '450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages'],
    [452, '452 4.5.3 Too many recipients'],
    [452, '452 Too many recipients'],
    [0, 'ECONNREFUSED'],
  ])('does not count %i %j as throttling', (code, reply) => expect(isThrottlingReply(code, reply)).toBe(false));

  it('halves the rate on a 421', () => {
    const { shaper } = shaperAt();
    sendOnce(shaper, 'google', THROTTLED);
    expect(rowOf(shaper, 'google').ratePerMinute).toBe(150);
  });

  it('halves only once for a burst of 421s within the cooldown, and again after it', () => {
    const { shaper, advance } = shaperAt();
    sendOnce(shaper, 'google', THROTTLED);
    advance(9_999);
    sendOnce(shaper, 'google', THROTTLED);
    expect(rowOf(shaper, 'google').ratePerMinute).toBe(150);
    advance(1);
    sendOnce(shaper, 'google', THROTTLED);
    expect(rowOf(shaper, 'google').ratePerMinute).toBe(75);
  });

  it('counts a Gmail 4.7.28 rate-limit reply', () => {
    const { shaper } = shaperAt();
    sendOnce(shaper, 'google', { code: 450, reply: '450-4.7.28 Our system has detected an unusual rate\n450 4.7.28 of unsolicited mail.' });
    expect(rowOf(shaper, 'google')).toMatchObject({ ratePerMinute: 150, lastThrottleReason: '450-4.7.28 Our system has detected an unusual rate 450 4.7.28 of unsolicited mail.' });
  });

  it('leaves the rate alone on a 550 or a 451 4.3.0', () => {
    const { shaper } = shaperAt();
    sendOnce(shaper, 'google', { code: 550, reply: '550 5.1.1 The email account that you tried to reach does not exist.' });
    sendOnce(shaper, 'google', { code: 451, reply: '451 4.3.0 Mail server temporarily rejected message.' });
    expect(rowOf(shaper, 'google')).toMatchObject({ ratePerMinute: 300, lastThrottleAt: null, deferredLastMinute: 1 });
  });

  it('never cuts below one message per minute', () => {
    const { shaper, advance } = shaperAt({ overrides: { default: { messagesPerMinute: 3, maxConnections: 10 } } });
    // At 3/min a token comes every 20 s; take four first, then answer them one cooldown apart.
    const held: Extract<Admission, { ok: true }>[] = [];
    for (let i = 0; i < 4; i++, advance(20_000)) held.push(admitted(shaper.admit('mx.example.org')));
    for (const admission of held) {
      admission.release(THROTTLED);
      advance(10_000);
    }
    expect(rowOf(shaper, 'mx.example.org').ratePerMinute).toBe(1);
  });

  it('shrinks the burst with the rate, so tokens saved at the old rate are not spent at once', () => {
    const { shaper } = shaperAt({ overrides: { google: { messagesPerMinute: 120, maxConnections: 100 } } });
    sendOnce(shaper, 'google', THROTTLED);
    // 120/min leaves 9 of 10 tokens; at 60/min the bucket holds 5.
    for (let i = 0; i < 5; i++) sendOnce(shaper, 'google', OK);
    expect(shaper.admit('google')).toMatchObject({ ok: false, reason: 'rate' });
  });
});

describe('recovery', () => {
  it('recovers by a tenth of the limit per quiet minute, up to the limit and not beyond', () => {
    const { shaper, advance } = shaperAt();
    sendOnce(shaper, 'google', THROTTLED);
    sendOnce(shaper, 'google', THROTTLED);
    expect(rowOf(shaper, 'google').ratePerMinute).toBe(150);
    advance(59_999);
    expect(rowOf(shaper, 'google').ratePerMinute).toBe(150);
    advance(1);
    expect(rowOf(shaper, 'google').ratePerMinute).toBe(180);
    advance(60_000);
    expect(rowOf(shaper, 'google').ratePerMinute).toBe(210);
    advance(3 * 60_000);
    expect(rowOf(shaper, 'google')).toMatchObject({ ratePerMinute: 300, throttledUntil: null });
    advance(10 * 60_000);
    expect(rowOf(shaper, 'google').ratePerMinute).toBe(300);
  });

  it('restarts the quiet minute on every throttling reply, even one inside the cooldown', () => {
    const { shaper, advance } = shaperAt();
    sendOnce(shaper, 'google', THROTTLED);
    advance(5_000);
    sendOnce(shaper, 'google', THROTTLED);
    advance(59_000);
    expect(rowOf(shaper, 'google').ratePerMinute).toBe(150);
    advance(1_000);
    expect(rowOf(shaper, 'google').ratePerMinute).toBe(180);
  });
});

describe('overrides', () => {
  it('replace the defaults of a provider field by field', () => {
    const shaper = new TrafficShaper({ overrides: { google: { maxConnections: 3 } } });
    expect(shaper.limitsOf('google')).toEqual({ ...defaultLimitsOf('google'), maxConnections: 3 });
    expect(shaper.limitsOf('microsoft')).toEqual(defaultLimitsOf('microsoft'));
  });

  it('apply to unknown hosts through default, and to one host by its name', () => {
    const shaper = new TrafficShaper({
      overrides: { default: { messagesPerMinute: 10 }, 'MX.Big.Example.': { maxConnections: 8 } },
    });
    expect(shaper.limitsOf('mx.small.example')).toMatchObject({ messagesPerMinute: 10, maxConnections: defaultLimitsOf('default').maxConnections });
    expect(shaper.limitsOf('mx.big.example')).toMatchObject({ messagesPerMinute: 10, maxConnections: 8 });
  });

  it('are refused when a value is not a positive number or the name is not a limit', () => {
    expect(() => new TrafficShaper({ overrides: { google: { maxConnections: 0 } } })).toThrow(HeraldError);
    expect(() => new TrafficShaper({ overrides: { google: { messagesPerConnection: 2.5 } } })).toThrow(/positive integer/);
    const typo = { google: { maxConnection: 4 } } as unknown as ShapingOptions['overrides'];
    expect(() => new TrafficShaper({ overrides: typo })).toThrow(/shaping\.overrides\.google\.maxConnection: unknown limit/);
  });
});

describe('snapshot', () => {
  it('shows limits, rate, in-flight sends, last-minute counts and the last throttle', () => {
    const { shaper, advance } = shaperAt();
    const held = admitted(shaper.admit('google'));
    sendOnce(shaper, 'google', OK);
    sendOnce(shaper, 'google', OK);
    advance(1_000);
    sendOnce(shaper, 'google', { code: 421, reply: '421 4.7.0 Try again later' });
    expect(shaper.snapshot()).toEqual([
      {
        destination: 'google',
        provider: 'google',
        limits: defaultLimitsOf('google'),
        ratePerMinute: 150,
        inFlight: 1,
        sentLastMinute: 2,
        deferredLastMinute: 1,
        // 150 back to 300 in steps of 30 per quiet minute: five minutes after the 421.
        throttledUntil: new Date(START + 1_000 + 5 * 60_000).toISOString(),
        lastThrottleAt: new Date(START + 1_000).toISOString(),
        lastThrottleReason: '421 4.7.0 Try again later',
      },
    ]);
    held.release(OK);
    advance(60_000);
    expect(rowOf(shaper, 'google')).toMatchObject({ inFlight: 0, sentLastMinute: 0, deferredLastMinute: 0 });
  });

  it('lists unknown hosts as their own destination under provider default', () => {
    const { shaper } = shaperAt();
    sendOnce(shaper, shaper.destinationOf('mx.example.org'), OK);
    expect(rowOf(shaper, 'mx.example.org')).toMatchObject({ provider: 'default', limits: defaultLimitsOf('default') });
  });
});

describe('memory', () => {
  it('forgets a destination idle for an hour', () => {
    const { shaper, advance } = shaperAt();
    sendOnce(shaper, 'mx.example.org', OK);
    advance(60 * 60_000 - 1);
    expect(shaper.snapshot().map((r) => r.destination)).toEqual(['mx.example.org']);
    advance(1);
    expect(shaper.snapshot()).toEqual([]);
  });

  it('forgets idle destinations lazily on admit too, keeping the active ones', () => {
    const { shaper, advance } = shaperAt();
    sendOnce(shaper, 'mx.old.example', OK);
    advance(60 * 60_000);
    sendOnce(shaper, 'mx.new.example', OK);
    expect(shaper.snapshot().map((r) => r.destination)).toEqual(['mx.new.example']);
  });

  it('keeps a destination with a send still in flight, however long it takes', () => {
    const { shaper, advance } = shaperAt();
    const held = admitted(shaper.admit('mx.slow.example'));
    advance(2 * 60 * 60_000);
    expect(rowOf(shaper, 'mx.slow.example').inFlight).toBe(1);
    held.release(OK);
    expect(rowOf(shaper, 'mx.slow.example')).toMatchObject({ inFlight: 0, sentLastMinute: 1 });
  });

  it('starts a forgotten destination afresh at its provider limit', () => {
    const { shaper, advance } = shaperAt();
    sendOnce(shaper, 'google', THROTTLED);
    advance(2 * 60 * 60_000);
    expect(shaper.snapshot()).toEqual([]);
    sendOnce(shaper, 'google', OK);
    expect(rowOf(shaper, 'google')).toMatchObject({ ratePerMinute: 300, lastThrottleAt: null });
  });
});

describe('release', () => {
  it('counts a double release once', () => {
    const { shaper } = shaperAt({ overrides: { default: { maxConnections: 2, messagesPerMinute: 600 } } });
    const first = admitted(shaper.admit('mx.example.org'));
    admitted(shaper.admit('mx.example.org'));
    first.release(OK);
    first.release(OK);
    expect(rowOf(shaper, 'mx.example.org')).toMatchObject({ inFlight: 1, sentLastMinute: 1 });
    expect(shaper.admit('mx.example.org').ok).toBe(true);
    expect(shaper.admit('mx.example.org')).toMatchObject({ ok: false, reason: 'connections' });
  });

  it('feeds a throttling reply to the rate once, however often it is released', () => {
    const { shaper, advance } = shaperAt();
    const admission = admitted(shaper.admit('google'));
    admission.release(THROTTLED);
    advance(20_000);
    admission.release(THROTTLED);
    expect(rowOf(shaper, 'google')).toMatchObject({ ratePerMinute: 150, deferredLastMinute: 1 });
  });
});
