/**
 * The SMTP relay over a real socket, driven by nodemailer as the client: AUTH after STARTTLS,
 * SMTP-IP keys, no relaying without a principal, size and recipient limits, and every envelope
 * recipient becoming a message in the same pipeline as the HTTP API.
 */
import net from 'node:net';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { createKey } from '../../src/services/keys.js';
import { getMessage, listMessages } from '../../src/services/messages.js';
import { startRelayServer, type RelayServer } from '../../src/smtp/relay-server.js';
import { loadTlsMaterial } from '../../src/smtp/tls.js';
import { backends, createTestContext, type TestContext } from '../helpers/harness.js';

/** Speaks raw SMTP, for commands a well-behaved client would never send. */
async function rawSession(port: number, lines: string[]): Promise<string[]> {
  const socket = net.connect(port, '127.0.0.1');
  const replies: string[] = [];
  let buffer = '';
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = /(^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(buffer);
        if (!match) return;
        const end = (match.index ?? 0) + match[0].length;
        const reply = buffer.slice(0, end);
        buffer = buffer.slice(end);
        socket.off('data', onData);
        resolve(reply.trim());
      };
      const onData = (chunk: Buffer) => {
        buffer += chunk.toString();
        check();
      };
      socket.on('data', onData);
      socket.once('error', reject);
      check();
    });
  replies.push(await next());
  for (const line of lines) {
    socket.write(`${line}\r\n`);
    replies.push(await next());
  }
  socket.end();
  return replies;
}

for (const backend of backends()) {
  describe(`SMTP relay (${backend})`, () => {
    let ctx: TestContext;
    let relay: RelayServer;
    const client = (auth?: { user: string; pass: string }) =>
      nodemailer.createTransport({
        host: '127.0.0.1',
        port: relay.port,
        secure: false,
        requireTLS: true,
        tls: { rejectUnauthorized: false },
        ...(auth ? { auth } : {}),
      });

    beforeAll(async () => {
      ctx = await createTestContext({ backend });
      relay = await startRelayServer({
        deps: ctx.deps,
        host: '127.0.0.1',
        port: 0,
        maxSize: 64 * 1024,
        maxRecipients: 5,
        tls: loadTlsMaterial({ dataDir: ctx.dataDir }),
        logger: createLogger('silent'),
      });
    });
    afterAll(async () => {
      await relay.close(1000);
      await ctx.close();
    });

    it('accepts mail after STARTTLS + AUTH PLAIN and makes a message per envelope recipient', async () => {
      const info = await client({ user: ctx.adminKeyId, pass: ctx.adminSecret }).sendMail({
        from: 'App <app@example.com>',
        to: ['ann@example.org', 'bob@example.org'],
        bcc: 'audit@example.net',
        subject: 'Über relay',
        text: 'Hello from SMTP',
      });
      expect(info.accepted).toHaveLength(3);
      expect(info.response).toMatch(/^250 2\.0\.0 accepted as cnt_/);
      const page = await listMessages(ctx.deps, ctx.admin, {});
      const mine = page.data.filter((m) => m.subject === 'Über relay');
      expect(mine.map((m) => m.recipient).sort()).toEqual(['ann@example.org', 'audit@example.net', 'bob@example.org']);
      expect(new Set(mine.map((m) => m.messageIdHeader)).size).toBe(1);
      const { events } = await getMessage(ctx.deps, ctx.admin, mine[0]!.id);
      expect(events.map((e) => e.type)).toEqual(['message.accepted']);
    });

    it('accepts AUTH LOGIN as well', async () => {
      const transport = nodemailer.createTransport({
        host: '127.0.0.1', port: relay.port, requireTLS: true, tls: { rejectUnauthorized: false },
        auth: { user: ctx.adminKeyId, pass: ctx.adminSecret, method: 'LOGIN' },
      });
      const info = await transport.sendMail({ from: 'app@example.com', to: 'login@example.org', subject: 'login', text: 'x' });
      expect(info.accepted).toEqual(['login@example.org']);
    });

    it('refuses wrong credentials with 535 and a revoked-looking key id', async () => {
      await expect(
        client({ user: ctx.adminKeyId, pass: 'hrld_wrong' }).sendMail({ from: 'a@example.com', to: 'b@example.org', text: 'x' }),
      ).rejects.toMatchObject({ responseCode: 535 });
    });

    it('does not relay for a client that neither authenticated nor comes from an SMTP-IP network', async () => {
      await expect(client().sendMail({ from: 'a@example.com', to: 'b@example.org', text: 'x' })).rejects.toMatchObject({
        responseCode: 530,
      });
    });

    it('refuses AUTH before STARTTLS with 538, so no secret crosses the wire in clear', async () => {
      const replies = await rawSession(relay.port, ['EHLO test', 'AUTH PLAIN AGFhAGI=', 'QUIT']);
      expect(replies[1]).toMatch(/STARTTLS/);
      expect(replies[2]).toMatch(/^538 /);
    });

    it('answers commands out of order with 503 and keeps the session usable', async () => {
      const replies = await rawSession(relay.port, ['EHLO test', 'RCPT TO:<b@example.org>', 'DATA', 'NOOP', 'QUIT']);
      expect(replies[2]).toMatch(/^503 /);
      expect(replies[3]).toMatch(/^503 /);
      expect(replies[4]).toMatch(/^250 /);
    });

    it('refuses a message over the size limit with 552 and accepts nothing', async () => {
      const before = (await listMessages(ctx.deps, ctx.admin, { limit: 200 })).data.length;
      await expect(
        client({ user: ctx.adminKeyId, pass: ctx.adminSecret }).sendMail({
          from: 'a@example.com', to: 'big@example.org', subject: 'big', text: 'x'.repeat(100 * 1024),
        }),
      ).rejects.toMatchObject({ responseCode: 552 });
      expect((await listMessages(ctx.deps, ctx.admin, { limit: 200 })).data.length).toBe(before);
    });

    it('refuses recipients past the limit with 452', async () => {
      const to = Array.from({ length: 7 }, (_, i) => `r${i}@example.org`);
      const info = await client({ user: ctx.adminKeyId, pass: ctx.adminSecret }).sendMail({ from: 'a@example.com', to, subject: 'many', text: 'x' });
      expect(info.accepted).toHaveLength(5);
      expect(info.rejected).toHaveLength(2);
      expect((info as { rejectedErrors?: { responseCode?: number }[] }).rejectedErrors?.[0]).toMatchObject({ responseCode: 452 });
    });

    it('refuses MAIL FROM without a principal before looking at any address', async () => {
      const replies = await rawSession(relay.port, ['EHLO test', 'MAIL FROM:<a@example.com>', 'QUIT']);
      expect(replies[2]).toMatch(/^530 5\.7\.0 /);
    });

    it('accepts legacy senders from an SMTP-IP network without AUTH, as that key', async () => {
      const legacy = await createKey(ctx.deps, { name: 'legacy', scope: 'send', smtpNetworks: ['127.0.0.0/8'] });
      const info = await client().sendMail({ from: 'printer@example.com', to: 'ops@example.org', subject: 'scan', text: 'x' });
      expect(info.accepted).toEqual(['ops@example.org']);
      const replies = await rawSession(relay.port, ['EHLO test', 'MAIL FROM:<a@example.com>', 'RCPT TO:<user@localhost>', 'RCPT TO:<bad address>', 'QUIT']);
      expect(replies[3]).toMatch(/^553 5\.1\.3 /);
      expect(replies[4]).toMatch(/^501 /);
      const events = (await listMessages(ctx.deps, ctx.admin, { to: 'ops@example.org' })).data;
      const timeline = await getMessage(ctx.deps, ctx.admin, events[0]!.id);
      expect(timeline.events[0]!.data).toMatchObject({ key_id: legacy.key.id });
    });

    it('keeps 8-bit bytes that are not UTF-8 exactly as they came', async () => {
      const latin1 = Buffer.concat([
        Buffer.from('From: a@example.com\r\nTo: l1@example.org\r\nSubject: latin1\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
        Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65, 0x0d, 0x0a]),
      ]);
      const transport = client({ user: ctx.adminKeyId, pass: ctx.adminSecret });
      await transport.sendMail({ envelope: { from: 'a@example.com', to: ['l1@example.org'] }, raw: latin1 });
      const [message] = (await listMessages(ctx.deps, ctx.admin, { to: 'l1@example.org' })).data;
      const claimed = await ctx.store.claimDue({ now: new Date(Date.now() + 1000).toISOString(), limit: 1000, owner: 't', leaseUntil: new Date(Date.now() + 60_000).toISOString() });
      const content = claimed.find((m) => m.id === message!.id)!.content;
      expect(content).toMatchObject({ kind: 'raw', encoding: 'base64' });
      const bytes = Buffer.from((content as { raw: string }).raw, 'base64');
      expect(bytes.subarray(bytes.length - 7)).toEqual(Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65, 0x0d, 0x0a]));
      expect(bytes.toString('latin1')).toMatch(/^Received: from /m);
    });
  });
}
