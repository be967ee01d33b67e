/**
 * The direct-to-MX transport against a real DNS server (dns2 on a random UDP port of 127.0.0.1,
 * answering from the scripted zones below) and real SMTP servers standing in for MX hosts. MX
 * records carry no port, so every host of a test listens on one shared port, each on its own
 * loopback address (127.0.0.2, 127.0.0.3, …), which makes preference order and failover visible.
 * Every test has its own transport (so its own DNS cache) and its own domain, so the queries the
 * DNS server counts belong to one test.
 */
import dns2, { type DnsPacket, type DnsResource, type DnsServer } from 'dns2';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verdictForReply } from '../../src/core/delivery-outcome.js';
import { MxTransport, type MxTransportOptions } from '../../src/transports/mx/mx-transport.js';
import type { OutgoingMessage } from '../../src/transports/transport.js';
import { SinkReply } from '../helpers/smtp-sink.js';

const { Packet } = dns2;

interface Zone {
  mx?: [preference: number, exchange: string][];
  a?: string[];
  cname?: string;
  rcode?: 'SERVFAIL';
  /** Never answer: the resolver has to time out. */
  silent?: boolean;
}

/**
 * `domain` with MX hosts mx-a (preference 10, 127.0.0.2) and mx-b (20, 127.0.0.3), listed worst
 * first so that the order of the answer cannot pass for preference order.
 */
function twoMxHosts(domain: string): Record<string, Zone> {
  return {
    [domain]: { mx: [[20, `mx-b.${domain}`], [10, `mx-a.${domain}`]] },
    [`mx-a.${domain}`]: { a: ['127.0.0.2'] },
    [`mx-b.${domain}`]: { a: ['127.0.0.3'] },
  };
}

/** `domain` with the single MX host mx.`domain` at 127.0.0.2. */
function oneMxHost(domain: string): Record<string, Zone> {
  return { [domain]: { mx: [[10, `mx.${domain}`]] }, [`mx.${domain}`]: { a: ['127.0.0.2'] } };
}

/** Names not listed here are NXDOMAIN. */
const ZONES: Record<string, Zone> = {
  ...twoMxHosts('pref.test'),
  ...twoMxHosts('refused.test'),
  ...twoMxHosts('busy.test'),
  ...twoMxHosts('rejects.test'),
  ...oneMxHost('private.test'),
  ...oneMxHost('cached.test'),
  ...oneMxHost('reuse.test'),
  'implicit.test': { a: ['127.0.0.2'] },
  'nullmx.test': { mx: [[0, '.']] },
  'servfail.test': { rcode: 'SERVFAIL' },
  'silent.test': { silent: true },
  'alias.test': { mx: [[10, 'mx.alias.test']] },
  'mx.alias.test': { cname: 'real.alias.test' },
  'real.alias.test': { a: ['127.0.0.2'] },
};

/** Every question the DNS server was asked, as `name TYPE`. */
const queries: string[] = [];

function answersFor(name: string, type: number): DnsResource[] {
  const zone = ZONES[name];
  if (zone === undefined) return [];
  const base = { name, class: Packet.CLASS.IN, ttl: 300 };
  if (zone.cname !== undefined) {
    const alias: DnsResource = { ...base, type: Packet.TYPE.CNAME, domain: zone.cname };
    // A recursive server follows the alias for any other type and returns the chain.
    return type === Packet.TYPE.CNAME ? [alias] : [alias, ...answersFor(zone.cname, type)];
  }
  if (type === Packet.TYPE.MX) return (zone.mx ?? []).map(([priority, exchange]) => ({ ...base, type, priority, exchange }));
  if (type === Packet.TYPE.A) return (zone.a ?? []).map((address) => ({ ...base, type, address }));
  return [];
}

function answer(request: DnsPacket, send: (response: DnsPacket) => Promise<unknown>): void {
  const question = request.questions[0];
  if (question === undefined) return;
  const name = question.name.toLowerCase();
  queries.push(`${name} ${question.type}`);
  const zone = ZONES[name];
  if (zone?.silent === true) return;
  const response = Packet.createResponseFromRequest(request);
  if (zone === undefined) response.header.rcode = 3;
  else if (zone.rcode === 'SERVFAIL') response.header.rcode = 2;
  else response.answers.push(...answersFor(name, question.type));
  void send(response);
}

interface MxServer {
  received: { recipient: string; secure: boolean }[];
  connections: number;
}

/** How a scripted MX host behaves: take mail, greet with a code, or refuse every recipient. */
type Behaviour = { accept: true } | { greeting: SinkReply } | { recipient: SinkReply };

/** Listens on `address:port` (port 0: any free one) and returns the port. */
async function listen(server: SMTPServer, port: number, address: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, address, resolve);
  });
  const bound = server.server.address();
  return typeof bound === 'object' && bound !== null ? bound.port : port;
}

function mxServer(behaviour: Behaviour, record: MxServer): SMTPServer {
  const options: SMTPServerOptions = {
    authOptional: true,
    logger: false,
    // STARTTLS stays on (smtp-server's built-in self-signed certificate) to exercise opportunistic TLS.
    onConnect(_session, callback) {
      record.connections += 1;
      callback('greeting' in behaviour ? behaviour.greeting : null);
    },
    onRcptTo(_address, _session, callback) {
      callback('recipient' in behaviour ? behaviour.recipient : null);
    },
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        for (const rcpt of session.envelope.rcptTo) record.received.push({ recipient: rcpt.address, secure: session.secure });
        callback();
      });
    },
  };
  return new SMTPServer(options);
}

interface MxHosts {
  port: number;
  at: (address: string) => MxServer;
  close: () => Promise<void>;
}

/** One SMTP server per loopback address, all on the same free port. */
async function startMxHosts(behaviours: Record<string, Behaviour>): Promise<MxHosts> {
  const records = new Map<string, MxServer>();
  const servers: SMTPServer[] = [];
  let port = 0;
  for (const [address, behaviour] of Object.entries(behaviours)) {
    const record: MxServer = { received: [], connections: 0 };
    const server = mxServer(behaviour, record);
    port = await listen(server, port, address);
    records.set(address, record);
    servers.push(server);
  }
  return {
    port,
    at: (address) => {
      const record = records.get(address);
      if (record === undefined) throw new Error(`no MX server at ${address}`);
      return record;
    },
    close: async () => {
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}

function message(recipient: string): OutgoingMessage {
  return {
    id: `msg_${recipient}`,
    sender: 'app@herald.test',
    recipient,
    raw: `From: app@herald.test\r\nTo: ${recipient}\r\nSubject: direct\r\n\r\nHello over MX.\r\n`,
  };
}

describe('MX transport', () => {
  let dns: DnsServer;
  let dnsPort = 0;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    dns = dns2.createServer({ udp: true, handle: answer });
    await dns.listen({ udp: { port: 0, address: '127.0.0.1', type: 'udp4' } });
    dnsPort = dns.addresses().udp?.port ?? 0;
  });
  afterAll(async () => {
    await dns.close();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setUp(behaviours: Record<string, Behaviour>, overrides: Partial<MxTransportOptions> = {}) {
    const hosts = await startMxHosts(behaviours);
    cleanups.push(hosts.close);
    const transport = new MxTransport({
      resolver: { servers: [`127.0.0.1:${dnsPort}`], timeoutMs: 300, tries: 1 },
      // Tests that end at DNS start no MX host, and keep the default port they never reach.
      ...(hosts.port === 0 ? {} : { port: hosts.port }),
      clientName: 'herald.test',
      allowPrivate: true,
      timeouts: { connect: 2000, greeting: 2000, command: 2000, data: 5000 },
      ...overrides,
    });
    cleanups.push(() => transport.close());
    return { hosts, transport };
  }

  it('delivers to the lowest-preference MX, over opportunistic STARTTLS', async () => {
    const { hosts, transport } = await setUp({ '127.0.0.2': { accept: true }, '127.0.0.3': { accept: true } });
    const result = await transport.send(message('ann@pref.test'));
    expect(result.code).toBe(250);
    expect(result.reply).toMatch(/via mx-a\.pref\.test/);
    expect(hosts.at('127.0.0.2').received).toEqual([{ recipient: 'ann@pref.test', secure: true }]);
    expect(hosts.at('127.0.0.3').connections).toBe(0);
  });

  it('fails over to the next MX when the first refuses connections', async () => {
    // Nothing listens on 127.0.0.2.
    const { hosts, transport } = await setUp({ '127.0.0.3': { accept: true } });
    const result = await transport.send(message('ann@refused.test'));
    expect(result.code).toBe(250);
    expect(result.reply).toMatch(/via mx-b\.refused\.test/);
    expect(hosts.at('127.0.0.3').received).toHaveLength(1);
  });

  it('fails over to the next MX when the first answers 421', async () => {
    const { hosts, transport } = await setUp({
      '127.0.0.2': { greeting: new SinkReply(421, '4.3.2 too busy, try another host') },
      '127.0.0.3': { accept: true },
    });
    const result = await transport.send(message('ann@busy.test'));
    expect(result.code).toBe(250);
    expect(hosts.at('127.0.0.2').connections).toBe(1);
    expect(hosts.at('127.0.0.3').received).toHaveLength(1);
  });

  it('takes a 5xx from the first MX as final and does not try the second', async () => {
    const { hosts, transport } = await setUp({
      '127.0.0.2': { recipient: new SinkReply(550, '5.1.1 no such user here') },
      '127.0.0.3': { accept: true },
    });
    const result = await transport.send(message('nobody@rejects.test'));
    expect(result.code).toBe(550);
    expect(verdictForReply(result.code, result.reply)).toMatchObject({ status: 'bounced', bounceClass: 'hard', enhancedStatus: '5.1.1' });
    expect(hosts.at('127.0.0.3').connections).toBe(0);
  });

  it('returns the last temporary failure when no MX takes the message', async () => {
    const { transport } = await setUp({ '127.0.0.4': { accept: true } });
    const result = await transport.send(message('ann@refused.test'));
    expect(result.code).toBe(0);
    expect(result.reply).toMatch(/127\.0\.0\.3.*via mx-b\.refused\.test; 2 MX addresses tried/);
    expect(verdictForReply(result.code, result.reply).status).toBe('deferred');
  });

  it('delivers to the implicit MX when the domain has only an A record', async () => {
    const { hosts, transport } = await setUp({ '127.0.0.2': { accept: true } });
    const result = await transport.send(message('ann@implicit.test'));
    expect(result.code).toBe(250);
    expect(result.reply).toMatch(/via implicit\.test/);
    expect(hosts.at('127.0.0.2').received).toHaveLength(1);
  });

  it('bounces a domain with a null MX as permanent', async () => {
    const { transport } = await setUp({});
    const result = await transport.send(message('ann@nullmx.test'));
    expect(result).toEqual({ code: 556, reply: '5.1.10 recipient domain nullmx.test has a null MX (RFC 7505)' });
    expect(verdictForReply(result.code, result.reply)).toMatchObject({ status: 'bounced', bounceClass: 'hard', enhancedStatus: '5.1.10' });
  });

  it('bounces a domain that does not exist (NXDOMAIN) as permanent', async () => {
    const { transport } = await setUp({});
    const result = await transport.send(message('ann@no-such-domain.test'));
    expect(result.code).toBe(550);
    expect(result.reply).toMatch(/^5\.1\.2 domain no-such-domain\.test does not exist/);
    expect(verdictForReply(result.code, result.reply)).toMatchObject({ status: 'bounced', bounceClass: 'hard' });
  });

  it('defers on SERVFAIL with no reply code', async () => {
    const { transport } = await setUp({});
    const result = await transport.send(message('ann@servfail.test'));
    expect(result).toEqual({ code: 0, reply: '4.4.3 DNS lookup of MX for servfail.test failed: SERVFAIL' });
    expect(verdictForReply(result.code, result.reply).status).toBe('deferred');
  });

  it('defers after the timeout when the DNS server never answers', async () => {
    const { transport } = await setUp({});
    const started = Date.now();
    const result = await transport.send(message('ann@silent.test'));
    expect(result.code).toBe(0);
    expect(result.reply).toMatch(/^4\.4\.3 .*timed out/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses an MX that resolves to loopback when private addresses are not allowed', async () => {
    const { hosts, transport } = await setUp({ '127.0.0.2': { accept: true } }, { allowPrivate: false });
    const result = await transport.send(message('ann@private.test'));
    expect(result.code).toBe(550);
    expect(result.reply).toMatch(/^5\.4\.4 the MX of private\.test is misconfigured: .*loopback, private or reserved addresses \(127\.0\.0\.2\)/);
    expect(verdictForReply(result.code, result.reply).status).toBe('bounced');
    expect(hosts.at('127.0.0.2').connections).toBe(0);
  });

  it('follows an MX that is a CNAME and notes it in the reply', async () => {
    const { hosts, transport } = await setUp({ '127.0.0.2': { accept: true } });
    const result = await transport.send(message('ann@alias.test'));
    expect(result.code).toBe(250);
    expect(result.reply).toMatch(/via mx\.alias\.test, a CNAME for real\.alias\.test/);
    expect(hosts.at('127.0.0.2').received).toHaveLength(1);
  });

  it('caches DNS answers, so a second send to the domain asks nothing', async () => {
    const { hosts, transport } = await setUp({ '127.0.0.2': { accept: true } });
    const asked = () => queries.filter((query) => query.split(' ')[0]?.endsWith('cached.test')).length;
    expect((await transport.send(message('ann@cached.test'))).code).toBe(250);
    const afterFirst = asked();
    expect(afterFirst).toBeGreaterThan(0);
    expect((await transport.send(message('bob@cached.test'))).code).toBe(250);
    expect(asked()).toBe(afterFirst);
    expect(hosts.at('127.0.0.2').received).toHaveLength(2);
  });

  it('reuses the connection to the same MX host across messages', async () => {
    const { hosts, transport } = await setUp({ '127.0.0.2': { accept: true } });
    for (const name of ['ann', 'bob', 'cy']) expect((await transport.send(message(`${name}@reuse.test`))).code).toBe(250);
    expect(hosts.at('127.0.0.2').received.map((mail) => mail.recipient)).toEqual(['ann@reuse.test', 'bob@reuse.test', 'cy@reuse.test']);
    expect(hosts.at('127.0.0.2').connections).toBe(1);
    expect(transport.stats()).toEqual({ connections: 1, queued: 0, inFlight: 0 });
  });
});
