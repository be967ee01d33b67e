/**
 * `/v1/domains` end to end over the real app (inject) on each backend, with a real DNS server on
 * loopback as the world's DNS: adding a domain (records to publish, sealed keys), bad input,
 * workspace isolation and scopes, verification (missing, wrong, published, DNS down), key
 * rotation, the refusal of mail from unverified domains (and its exceptions), and DKIM signatures
 * made with the domain's key that verify against the key published in DNS: only for the From
 * domain acceptance approved, only with the sending workspace's own key, and none for queued mail
 * of a domain that lapsed since (it fails instead).
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeraldError } from '../../src/core/errors.js';
import { MessageSigner } from '../../src/engine/message-signer.js';
import { DkimSignerPool } from '../../src/mime/dkim-pool.js';
import { createKey } from '../../src/services/keys.js';
import { createKeySealer } from '../../src/services/domain-keys.js';
import { recordTargets, txtStrings } from '../../src/services/domain-records.js';
import { StoreDkimKeys } from '../../src/services/domain-signing-keys.js';
import { getMessage } from '../../src/services/messages.js';
import { getOutboxRaw } from '../../src/services/outbox.js';
import { acceptRaw, sendEmail } from '../../src/services/send.js';
import { replyForHeraldError } from '../../src/smtp/smtp-reply-error.js';
import type { DomainSettings, Principal } from '../../src/services/deps.js';
import { bearer, buildTestApp } from '../helpers/api.js';
import { verifyDkimWithDns } from '../helpers/dkim-verify.js';
import { startDnsServer, type TestDnsServer, type ZoneEntry } from '../helpers/dns-server.js';
import { backends, createOtherWorkspace, createTestContext, type TestContext } from '../helpers/harness.js';
import { startPipeline } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/wait.js';

interface RecordJson {
  purpose: string;
  type: string;
  name: string;
  value: string;
  zone: string;
  required: boolean;
  state: string;
  found: string[];
  detail: string | null;
}

interface DomainJson {
  id: string;
  name: string;
  status: string;
  dkim: { selector: string; algorithm: string } | null;
  keys: { selector: string; algorithm: string; state: string; activated_at: string | null; retired_at: string | null }[];
  records: RecordJson[];
  verified_at: string | null;
  last_checked_at: string | null;
  activated?: string | null;
}

const TARGETS = recordTargets({ heloName: 'mta.herald.test', publicUrl: 'https://api.herald.test', hostname: 'unused' });

/** A UDP port on loopback nothing answers on: lookups there fail at once (ECONNREFUSED) or time out. */
async function deadDnsServer(): Promise<string> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

for (const backend of backends()) {
  describe(`/v1/domains (${backend})`, () => {
    let ctx: TestContext;
    let app: FastifyInstance;
    let dns: TestDnsServer;
    const zones: Record<string, ZoneEntry> = {};
    let auth: Record<string, string>;
    let dnsSettings: DomainSettings['dns'];

    beforeAll(async () => {
      dns = await startDnsServer(zones);
      dnsSettings = { servers: [dns.address], timeoutMs: 2000, tries: 1 };
      ctx = await createTestContext({ backend, domains: { dns: dnsSettings, targets: TARGETS } });
      app = await buildTestApp(ctx);
      auth = bearer(ctx.adminSecret);
    });
    afterAll(async () => {
      await app.close();
      await ctx.close();
      await dns.close();
    });

    const call = (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown, headers = auth) =>
      app.inject({ method, url, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
    const add = async (body: Record<string, unknown>): Promise<DomainJson> => {
      const res = await call('POST', '/v1/domains', body);
      expect(res.statusCode, res.body).toBe(201);
      return res.json();
    };
    const verify = async (id: string): Promise<DomainJson> => {
      const res = await call('POST', `/v1/domains/${id}/verify`);
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    const record = (domain: DomainJson, purpose: string) => domain.records.find((r) => r.purpose === purpose)!;
    /** Publishes the domain's records of these purposes in the loopback DNS, as its owner would. */
    const publish = (domain: DomainJson, purposes = ['dkim', 'spf', 'return_path', 'dmarc', 'tracking']) => {
      for (const r of domain.records.filter((x) => purposes.includes(x.purpose))) {
        const name = r.name.toLowerCase();
        if (r.type === 'CNAME') zones[name] = { cname: r.value };
        else zones[name] = { ...zones[name], txt: [...(zones[name]?.txt ?? []), txtStrings(r.value)] };
      }
    };

    it('adds a domain with an RSA-2048 key and answers with the records to publish, never a private key', async () => {
      const domain = await add({ name: 'Mail-One.Example.COM.' });
      expect(domain).toMatchObject({ name: 'mail-one.example.com', status: 'pending', verified_at: null, last_checked_at: null });
      expect(domain.id).toMatch(/^dom_/);
      expect(domain.dkim).toEqual({ selector: expect.stringMatching(/^herald\d{6}$/), algorithm: 'rsa' });
      expect(domain.keys).toEqual([expect.objectContaining({ state: 'active', algorithm: 'rsa', selector: domain.dkim!.selector })]);
      expect(domain.records.map((r) => [r.purpose, r.type, r.name, r.required, r.state])).toEqual([
        ['dkim', 'TXT', `${domain.dkim!.selector}._domainkey.mail-one.example.com`, true, 'unchecked'],
        ['spf', 'TXT', 'mail-one.example.com', true, 'unchecked'],
        ['return_path', 'CNAME', 'bounces.mail-one.example.com', true, 'unchecked'],
        ['dmarc', 'TXT', '_dmarc.mail-one.example.com', false, 'unchecked'],
        ['tracking', 'CNAME', 'track.mail-one.example.com', false, 'unchecked'],
      ]);
      expect(record(domain, 'dkim').value).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/]{392}$/);
      expect(record(domain, 'dkim').zone).toMatch(/IN TXT \( "v=DKIM1; k=rsa; p=[^"]+" "[^"]+" \)$/);
      expect(record(domain, 'spf').value).toBe('v=spf1 include:mta.herald.test ~all');
      expect(record(domain, 'return_path').value).toBe('mta.herald.test');
      expect(record(domain, 'tracking').value).toBe('api.herald.test');
      expect(record(domain, 'dmarc').value).toBe('v=DMARC1; p=none; rua=mailto:dmarc-reports@mail-one.example.com');
      const shown = await call('GET', `/v1/domains/${domain.id}`);
      for (const body of [JSON.stringify(domain), shown.body]) {
        expect(body).not.toMatch(/PRIVATE KEY|ciphertext|sealed|private/i);
      }
    });

    it('documents every route in the OpenAPI document', async () => {
      const paths = Object.keys((await app.inject({ method: 'GET', url: '/openapi.json' })).json().paths as Record<string, unknown>);
      for (const path of ['/v1/domains', '/v1/domains/{id}', '/v1/domains/{id}/verify', '/v1/domains/{id}/rotate', '/v1/domains/{id}/rotate/complete']) {
        expect(paths).toContain(path);
      }
    });

    it('adds an Ed25519 key under a chosen selector', async () => {
      const domain = await add({ name: 'ed.example.com', algorithm: 'ed25519', selector: 'S2025_A' });
      expect(domain.dkim).toEqual({ selector: 's2025_a', algorithm: 'ed25519' });
      expect(record(domain, 'dkim')).toMatchObject({ name: 's2025_a._domainkey.ed.example.com', value: expect.stringMatching(/^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/) });
    });

    it.each([
      [{ name: 'not a domain' }, 400, 'validation_failed', 'name'],
      [{ name: 'localhost' }, 400, 'validation_failed', 'name'],
      [{ name: 'a@example.com' }, 400, 'validation_failed', 'name'],
      [{ name: '192.168.1.1' }, 400, 'validation_failed', 'name'],
      [{ name: '' }, 400, 'validation_failed', 'name'],
      [{ name: 'ok.example.com', algorithm: 'dsa' }, 400, 'validation_failed', 'algorithm'],
      [{ name: 'ok.example.com', selector: 'bad selector' }, 400, 'validation_failed', 'selector'],
      [{ name: 'ok.example.com', extra: 1 }, 400, 'validation_failed', 'extra'],
      [{ algorithm: 'rsa' }, 400, 'validation_failed', 'name'],
      [{ name: 42 }, 400, 'validation_failed', 'name'],
    ])('refuses %j with %i %s naming %s', async (body, status, code, field) => {
      const res = await call('POST', '/v1/domains', body);
      expect(res.statusCode, res.body).toBe(status);
      expect(res.json().error).toMatchObject({ code, field });
      expect(res.json().error.message).toContain(field);
    });

    it('refuses a name the workspace has already with 409 conflict, whatever its case; another workspace may add it', async () => {
      await add({ name: 'dup.example.com' });
      const again = await call('POST', '/v1/domains', { name: 'DUP.example.com' });
      expect(again.statusCode).toBe(409);
      expect(again.json().error).toMatchObject({ code: 'conflict', message: 'domain dup.example.com already exists' });
      const other = await createOtherWorkspace(ctx.deps, 'dup-owner');
      expect((await call('POST', '/v1/domains', { name: 'dup.example.com' }, bearer(other.secret))).statusCode).toBe(201);
    });

    it('lists newest first with a cursor, reads by id or name, deletes; another workspace sees 404; a read key only reads', async () => {
      const a = await add({ name: 'list-a.example.com', algorithm: 'ed25519' });
      const b = await add({ name: 'list-b.example.com', algorithm: 'ed25519' });
      const page = (await call('GET', '/v1/domains?limit=1')).json();
      expect(page.data.map((d: DomainJson) => d.id)).toEqual([b.id]);
      const next = (await call('GET', `/v1/domains?limit=1&cursor=${page.next_cursor}`)).json();
      expect(next.data.map((d: DomainJson) => d.id)).toEqual([a.id]);
      expect((await call('GET', '/v1/domains/list-a.example.com')).json().id).toBe(a.id);
      expect((await call('GET', '/v1/domains/LIST-A.example.com.')).json().id).toBe(a.id);

      const other = await createOtherWorkspace(ctx.deps, 'outsiders');
      const them = bearer(other.secret);
      for (const [method, url] of [['GET', `/v1/domains/${a.id}`], ['GET', '/v1/domains/list-a.example.com'], ['POST', `/v1/domains/${a.id}/verify`], ['POST', `/v1/domains/${a.id}/rotate`], ['DELETE', `/v1/domains/${a.id}`]] as const) {
        const res = await call(method, url, undefined, them);
        expect(res.statusCode, `${method} ${url}`).toBe(404);
        expect(res.json().error.code).toBe('not_found');
      }
      expect((await call('GET', '/v1/domains', undefined, them)).json().data.map((d: DomainJson) => d.name)).not.toContain('list-a.example.com');

      const reader = await createKey(ctx.deps, { workspace: 'default', name: 'reader', scope: 'read' });
      expect((await call('GET', `/v1/domains/${a.id}`, undefined, bearer(reader.secret))).statusCode).toBe(200);
      const refused = await call('POST', '/v1/domains', { name: 'reader.example.com' }, bearer(reader.secret));
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error.code).toBe('insufficient_scope');

      expect((await call('DELETE', `/v1/domains/${a.id}`)).statusCode).toBe(204);
      expect((await call('GET', `/v1/domains/${a.id}`)).statusCode).toBe(404);
      expect((await call('DELETE', `/v1/domains/${a.id}`)).statusCode).toBe(404);
      expect((await call('GET', '/v1/domains/dom_nope')).json().error).toMatchObject({ code: 'not_found', message: 'domain dom_nope not found' });
    });

    it('verifies against DNS: missing, then wrong, then verified; DMARC and tracking are advisory', async () => {
      const domain = await add({ name: 'verify.example.com' });
      const none = await verify(domain.id);
      expect(none.status).toBe('pending');
      expect(none.last_checked_at).not.toBeNull();
      expect(Object.fromEntries(none.records.map((r) => [r.purpose, r.state]))).toEqual({
        dkim: 'missing', spf: 'missing', return_path: 'missing', dmarc: 'missing', tracking: 'missing',
      });
      expect(record(none, 'dkim').detail).toMatch(/NXDOMAIN/);

      // Wrong content at every name.
      const dkimName = record(domain, 'dkim').name;
      zones[dkimName] = { txt: [['v=DKIM1; k=rsa; p=', 'AAAAwrongkey']] };
      zones['verify.example.com'] = { txt: ['v=spf1 include:_spf.google.com ~all', 'google-site-verification=abc'] };
      zones['bounces.verify.example.com'] = { cname: 'elsewhere.example.net' };
      zones['_dmarc.verify.example.com'] = { txt: ['v=DMARC1; rua=mailto:x@verify.example.com'] };
      const wrong = await verify(domain.id);
      expect(wrong.status).toBe('pending');
      expect(record(wrong, 'dkim')).toMatchObject({ state: 'mismatch', found: ['v=DKIM1; k=rsa; p=AAAAwrongkey'], detail: expect.stringMatching(/another key/) });
      expect(record(wrong, 'spf')).toMatchObject({ state: 'mismatch', found: ['v=spf1 include:_spf.google.com ~all'], detail: expect.stringMatching(/include:mta\.herald\.test/) });
      expect(record(wrong, 'return_path')).toMatchObject({ state: 'mismatch', found: ['elsewhere.example.net'] });
      expect(record(wrong, 'dmarc')).toMatchObject({ state: 'mismatch', detail: expect.stringMatching(/p= policy/) });

      // Two SPF records are an error for receivers, even if one is right.
      zones['verify.example.com'] = { txt: ['v=spf1 include:_spf.google.com ~all', 'v=spf1 include:mta.herald.test ~all'] };
      expect(record(await verify(domain.id), 'spf')).toMatchObject({ state: 'mismatch', detail: expect.stringMatching(/2 SPF records/) });

      // The owner publishes what Herald asked for (the SPF include merged into their own record).
      delete zones[dkimName];
      delete zones['bounces.verify.example.com'];
      delete zones['_dmarc.verify.example.com'];
      zones['verify.example.com'] = { txt: ['v=spf1 include:_spf.google.com include:MTA.herald.test ~all'] };
      publish(domain, ['dkim', 'return_path']);
      const done = await verify(domain.id);
      expect(done.status).toBe('verified');
      expect(done.verified_at).not.toBeNull();
      expect(Object.fromEntries(done.records.map((r) => [r.purpose, r.state]))).toEqual({
        dkim: 'verified', spf: 'verified', return_path: 'verified', dmarc: 'missing', tracking: 'missing',
      });
      expect(record(done, 'dmarc').detail).toMatch(/advisory/);
      // What the check found is kept: a read shows it without asking DNS.
      const shown = (await call('GET', `/v1/domains/${domain.id}`)).json() as DomainJson;
      expect(Object.fromEntries(shown.records.map((r) => [r.purpose, r.state]))).toMatchObject({ dkim: 'verified', dmarc: 'missing' });

      publish(done, ['dmarc', 'tracking']);
      const full = await verify(domain.id);
      expect(record(full, 'dmarc')).toMatchObject({ state: 'verified', detail: expect.stringMatching(/monitoring only/) });
      expect(record(full, 'tracking').state).toBe('verified');
      expect(full.verified_at).toBe(done.verified_at);

      // The record gone again: back to pending, and sending stops.
      delete zones[dkimName];
      const lost = await verify(domain.id);
      expect(lost).toMatchObject({ status: 'pending', verified_at: null });
      expect(record(lost, 'dkim').state).toBe('missing');
      publish(domain, ['dkim']);
      expect((await verify(domain.id)).status).toBe('verified');
    });

    it('accepts a return path published as an MX to the same host instead of an alias', async () => {
      const domain = await add({ name: 'mx-form.example.com', algorithm: 'ed25519' });
      publish(domain, ['dkim', 'spf']);
      zones['bounces.mx-form.example.com'] = { mx: [[10, 'mta.herald.test']] };
      const checked = await verify(domain.id);
      expect(record(checked, 'return_path')).toMatchObject({ state: 'verified', found: ['MX mta.herald.test'] });
      expect(checked.status).toBe('verified');
    });

    it('keeps the status when DNS cannot be asked, and says the lookups failed', async () => {
      const domain = await add({ name: 'flaky.example.com', algorithm: 'ed25519' });
      publish(domain);
      expect((await verify(domain.id)).status).toBe('verified');
      const settings = ctx.deps.domains!;
      ctx.deps.domains = { ...settings, dns: { servers: [await deadDnsServer()], timeoutMs: 300, tries: 1 } };
      try {
        const down = await verify(domain.id);
        expect(down.status).toBe('verified');
        expect(down.records.every((r) => r.state === 'error')).toBe(true);
        expect(record(down, 'dkim').detail).toMatch(/refused|did not answer|failed/);
      } finally {
        ctx.deps.domains = settings;
      }
    });

    it('rotates: a new selector is published beside the old one, then verify switches to it and retires the old', async () => {
      const domain = await add({ name: 'rotate.example.com', selector: 'old' });
      publish(domain);
      expect((await verify(domain.id)).status).toBe('verified');

      const res = await call('POST', `/v1/domains/${domain.id}/rotate`, { selector: 'new', algorithm: 'ed25519' });
      expect(res.statusCode, res.body).toBe(200);
      const rotating = res.json() as DomainJson;
      expect(rotating.dkim).toEqual({ selector: 'old', algorithm: 'rsa' });
      expect(rotating.keys.map((k) => [k.selector, k.state])).toEqual([['old', 'active'], ['new', 'pending']]);
      expect(rotating.records.filter((r) => r.purpose.startsWith('dkim')).map((r) => [r.purpose, r.name, r.required])).toEqual([
        ['dkim', 'old._domainkey.rotate.example.com', true],
        ['dkim_next', 'new._domainkey.rotate.example.com', false],
      ]);
      const again = await call('POST', `/v1/domains/${domain.id}/rotate`);
      expect(again.statusCode).toBe(409);
      expect(again.json().error).toMatchObject({ code: 'domain_state_conflict', message: expect.stringContaining('selector new is already pending') });
      // Two rotations at once: one starts, the other is refused.
      const racing = await add({ name: 'race.example.com', algorithm: 'ed25519' });
      const both = await Promise.all([1, 2].map((n) => call('POST', `/v1/domains/${racing.id}/rotate`, { selector: `r${n}` })));
      expect(both.map((r) => r.statusCode).sort()).toEqual([200, 409]);

      // Not yet in DNS: verify keeps signing with the old key.
      const early = await verify(domain.id);
      expect(early).toMatchObject({ status: 'verified', activated: null, dkim: { selector: 'old' } });
      expect(record(early, 'dkim_next').state).toBe('missing');

      publish(rotating, ['dkim_next']);
      const switched = await verify(domain.id);
      expect(switched).toMatchObject({ status: 'verified', activated: 'new', dkim: { selector: 'new', algorithm: 'ed25519' } });
      expect(switched.keys.map((k) => [k.selector, k.state])).toEqual([['new', 'active'], ['old', 'retired']]);
      expect(switched.keys[1]?.retired_at).not.toBeNull();
      expect(switched.records.filter((r) => r.purpose.startsWith('dkim')).map((r) => [r.purpose, r.name, r.state])).toEqual([
        ['dkim', 'new._domainkey.rotate.example.com', 'verified'],
      ]);
      // The old selector cannot be taken again.
      const reuse = await call('POST', `/v1/domains/${domain.id}/rotate`, { selector: 'old' });
      expect(reuse.statusCode).toBe(400);
      expect(reuse.json().error).toMatchObject({ code: 'validation_failed', field: 'selector' });
    });

    it('completes a rotation explicitly once DNS shows the key (or with force), and cancels one', async () => {
      const domain = await add({ name: 'complete.example.com', algorithm: 'ed25519', selector: 'one' });
      publish(domain);
      await verify(domain.id);
      const none = await call('POST', `/v1/domains/${domain.id}/rotate/complete`);
      expect(none.statusCode).toBe(409);
      expect(none.json().error.code).toBe('domain_state_conflict');

      const rotating = (await call('POST', `/v1/domains/${domain.id}/rotate`, { selector: 'two' })).json() as DomainJson;
      expect(rotating.keys.find((k) => k.state === 'pending')).toMatchObject({ selector: 'two', algorithm: 'ed25519' });
      const early = await call('POST', `/v1/domains/${domain.id}/rotate/complete`, {});
      expect(early.statusCode).toBe(409);
      expect(early.json().error).toMatchObject({ code: 'domain_key_not_published', message: expect.stringMatching(/^selector two: no matching DKIM record at two\._domainkey\.complete\.example\.com \(missing/) });
      publish(rotating, ['dkim_next']);
      const done = await call('POST', `/v1/domains/${domain.id}/rotate/complete`);
      expect(done.statusCode, done.body).toBe(200);
      expect(done.json().keys.map((k: { selector: string; state: string }) => [k.selector, k.state])).toEqual([['two', 'active'], ['one', 'retired']]);

      // Cancel: the pending key goes, the active one stays.
      await call('POST', `/v1/domains/${domain.id}/rotate`, { selector: 'three' });
      const cancelled = await call('DELETE', `/v1/domains/${domain.id}/rotate`);
      expect(cancelled.statusCode).toBe(200);
      expect(cancelled.json().keys.map((k: { selector: string; state: string }) => [k.selector, k.state])).toEqual([['two', 'active'], ['one', 'retired']]);
      expect((await call('DELETE', `/v1/domains/${domain.id}/rotate`)).statusCode).toBe(409);

      // Force: switch before DNS shows it (the operator knows better).
      await call('POST', `/v1/domains/${domain.id}/rotate`, { selector: 'four' });
      const forced = await call('POST', `/v1/domains/${domain.id}/rotate/complete`, { force: true });
      expect(forced.statusCode).toBe(200);
      expect(forced.json().dkim.selector).toBe('four');
      const bad = await call('POST', `/v1/domains/${domain.id}/rotate/complete`, { force: 'yes' });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error).toMatchObject({ code: 'validation_failed', field: 'force' });
    });

    it('refuses mail from a From domain that is not a verified sending domain (API, batch, SMTP), unless exempt', async () => {
      const settings = ctx.deps.domains!;
      ctx.deps.domains = { ...settings, allowUnverified: false };
      try {
        const email = (from: string) => ({ from, to: 'someone@example.org', subject: 'hi', text: 'hello' });
        const unknown = await call('POST', '/v1/emails', email('News <news@unknown.example.com>'));
        expect(unknown.statusCode).toBe(422);
        expect(unknown.json().error).toMatchObject({
          code: 'domain_not_verified',
          field: 'from',
          message: expect.stringMatching(/^from: unknown\.example\.com is not a sending domain of this workspace/),
        });

        const domain = await add({ name: 'gate.example.com', algorithm: 'ed25519' });
        const pending = await call('POST', '/v1/emails', email('news@Gate.Example.com'));
        expect(pending.statusCode).toBe(422);
        expect(pending.json().error.message).toContain(`is not verified yet`);
        expect(pending.json().error.message).toContain(`/v1/domains/${domain.id}/verify`);

        const batch = await call('POST', '/v1/batches', { from: 'news@gate.example.com', subject: 'Hi', text: 'Hi', recipients: [{ email: 'r@example.org' }] });
        expect(batch.statusCode).toBe(422);
        expect(batch.json().error).toMatchObject({ code: 'domain_not_verified', field: 'from' });

        const raw = Buffer.from('From: News <news@gate.example.com>\r\nTo: r@example.org\r\nSubject: hi\r\n\r\nhello\r\n');
        const relayed = await acceptRaw(ctx.deps, ctx.admin, { mailFrom: 'bounce@other.example.net', recipients: ['r@example.org'], raw }).catch((e: unknown) => e);
        expect(relayed).toBeInstanceOf(HeraldError);
        expect((relayed as HeraldError).code).toBe('domain_not_verified');
        expect(replyForHeraldError(relayed as HeraldError)).toMatchObject({ responseCode: 550, enhancedStatus: '5.7.1' });

        publish(domain);
        expect((await verify(domain.id)).status).toBe('verified');
        expect((await call('POST', '/v1/emails', email('News <news@gate.example.com>'))).statusCode).toBe(202);
        expect((await call('POST', '/v1/batches', { from: 'news@gate.example.com', subject: 'Hi', text: 'Hi', recipients: [{ email: 'r@example.org' }] })).statusCode).toBe(202);
        await expect(acceptRaw(ctx.deps, ctx.admin, { mailFrom: 'bounce@other.example.net', recipients: ['r@example.org'], raw })).resolves.toMatchObject({ messages: [{ to: 'r@example.org' }] });
        // Subdomains are domains of their own.
        expect((await call('POST', '/v1/emails', email('news@sub.gate.example.com'))).statusCode).toBe(422);
        // Another workspace's verified domain is not this workspace's.
        const other = await createOtherWorkspace(ctx.deps, 'gate-other');
        expect((await call('POST', '/v1/emails', email('news@gate.example.com'), bearer(other.secret))).json().error.code).toBe('domain_not_verified');

        // Exceptions: operator-configured keys (--dkim-key) vouch for their domain; --allow-unverified (or capture) for all.
        ctx.deps.domains = { ...settings, allowUnverified: false, operatorDomains: ['operator.example.com'] };
        expect((await call('POST', '/v1/emails', email('a@operator.example.com'))).statusCode).toBe(202);
        ctx.deps.domains = { ...settings, allowUnverified: true };
        expect((await call('POST', '/v1/emails', email('a@anything.example.com'))).statusCode).toBe(202);

        // Removing the domain stops its mail.
        ctx.deps.domains = { ...settings, allowUnverified: false };
        expect((await call('DELETE', `/v1/domains/${domain.id}`)).statusCode).toBe(204);
        expect((await call('POST', '/v1/emails', email('news@gate.example.com'))).statusCode).toBe(422);
      } finally {
        ctx.deps.domains = settings;
      }
    });

    it('signs mail from a verified domain with its current key, verifiable against the key in DNS, and follows a rotation', async () => {
      const keys = new StoreDkimKeys({ store: ctx.store, sealer: ctx.deps.domains!.sealer!, intervalMs: 60_000 });
      const settings = ctx.deps.domains!;
      ctx.deps.domains = { ...settings, allowUnverified: false, keysChanged: () => keys.refresh() };
      await keys.refresh();
      const pipeline = startPipeline(ctx, { signer: new MessageSigner(new DkimSignerPool({ threads: 1 }), keys) });
      try {
        const domain = await add({ name: 'signed.example.com', selector: 'first' });
        publish(domain);
        expect((await verify(domain.id)).status).toBe('verified');
        // The verify refreshed this process's signer: the very next message is signed.
        expect(keys.keysFor('SIGNED.example.com', ctx.admin.workspaceId).map((k) => k.selector)).toEqual(['first']);

        const sendOne = async (subject: string) => {
          const sent = await sendEmail(ctx.deps, ctx.admin, { from: 'News <news@signed.example.com>', to: 'r@example.org', subject, text: 'signed body' });
          const id = sent.messages[0]!.id;
          return waitFor(`the outbox copy of ${subject}`, async () => (await getOutboxRaw(ctx.deps, ctx.admin, id).catch(() => undefined)) ?? undefined, 15_000);
        };
        const raw = await sendOne('first key');
        expect(raw).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256;[^]*d=signed\.example\.com;[^]*s=first;/);
        const verdicts = await verifyDkimWithDns(raw, [dns.address]);
        expect(verdicts).toEqual([expect.objectContaining({ signingDomain: 'signed.example.com', selector: 'first', status: expect.objectContaining({ result: 'pass' }) })]);

        const rotating = (await call('POST', `/v1/domains/${domain.id}/rotate`, { selector: 'second', algorithm: 'ed25519' })).json() as DomainJson;
        // Pending keys do not sign.
        expect(keys.keysFor('signed.example.com', ctx.admin.workspaceId).map((k) => k.selector)).toEqual(['first']);
        publish(rotating, ['dkim_next']);
        expect((await verify(domain.id)).activated).toBe('second');
        const rotated = await sendOne('second key');
        const after = await verifyDkimWithDns(rotated, [dns.address]);
        expect(after).toEqual([expect.objectContaining({ selector: 'second', algo: 'ed25519-sha256', status: expect.objectContaining({ result: 'pass' }) })]);

        // Unverified domains have nothing to sign with.
        expect(keys.keysFor('unverified.example.com', ctx.admin.workspaceId)).toEqual([]);

        // At rest the private key is sealed; another master key cannot open it (and says so once).
        const stored = (await ctx.store.listSigningKeys()).find((k) => k.domain === 'signed.example.com')!;
        expect(stored).toMatchObject({ selector: 'second', algorithm: 'ed25519' });
        expect(Buffer.from(stored.sealed.ciphertext, 'base64').toString('latin1')).not.toContain('PRIVATE KEY');
        const errors: string[] = [];
        const stranger = new StoreDkimKeys({ store: ctx.store, sealer: createKeySealer(randomBytes(32)), log: { error: (_details, message) => errors.push(message) } });
        await stranger.refresh();
        expect(stranger.keysFor('signed.example.com', ctx.admin.workspaceId)).toEqual([]);
        const opened = errors.length;
        expect(opened).toBeGreaterThan(0);
        await ctx.store.recordDomainCheck(ctx.admin.workspaceId, domain.id, { status: 'verified', verifiedAt: new Date().toISOString(), lastCheck: {}, now: new Date().toISOString() });
        await stranger.refresh();
        expect(errors).toHaveLength(opened);
      } finally {
        await pipeline.stop();
        ctx.deps.domains = settings;
      }
    });

    /** A signer over the store's keys that also refuses mail of domains no longer verified, as `herald serve` runs it. */
    const signingPipeline = async () => {
      const keys = new StoreDkimKeys({ store: ctx.store, sealer: ctx.deps.domains!.sealer!, intervalMs: 60_000 });
      const settings = ctx.deps.domains!;
      ctx.deps.domains = { ...settings, allowUnverified: false, keysChanged: () => keys.refresh() };
      await keys.refresh();
      const pipeline = startPipeline(ctx, { signer: new MessageSigner(new DkimSignerPool({ threads: 1 }), keys, { senders: keys }) });
      return {
        keys,
        stop: async () => {
          await pipeline.stop();
          ctx.deps.domains = settings;
        },
      };
    };
    const outboxCopy = (principal: Principal, id: string) =>
      waitFor(`the outbox copy of ${id}`, async () => (await getOutboxRaw(ctx.deps, principal, id).catch(() => undefined)) ?? undefined, 15_000);
    const addAs = async (secret: string, body: Record<string, unknown>): Promise<DomainJson> => {
      const res = await call('POST', '/v1/domains', body, bearer(secret));
      expect(res.statusCode, res.body).toBe(201);
      return res.json();
    };
    const verifyAs = async (secret: string, id: string): Promise<string> => ((await call('POST', `/v1/domains/${id}/verify`, undefined, bearer(secret))).json() as DomainJson).status;

    it('signs relayed mail only for the From domain acceptance approved: a forged display name is refused, a quoted one signs for the real address', async () => {
      const signing = await signingPipeline();
      try {
        // bank.example.com is verified by its owner's workspace: its key is in the signers' view.
        const owner = await createOtherWorkspace(ctx.deps, 'bank-owner');
        const bank = await addAs(owner.secret, { name: 'bank.example.com', selector: 'bank' });
        publish(bank);
        expect(await verifyAs(owner.secret, bank.id)).toBe('verified');
        const mine = await add({ name: 'mine.example.com', selector: 'mine' });
        publish(mine);
        expect((await verify(mine.id)).status).toBe('verified');

        const relay = (from: string) =>
          acceptRaw(ctx.deps, ctx.admin, { mailFrom: 'me@mine.example.com', recipients: ['r@example.org'], raw: Buffer.from(`From: ${from}\r\nTo: r@example.org\r\nSubject: hi\r\n\r\nhello\r\n`) });
        for (const forged of ['victim@bank.example.com <me@mine.example.com>', 'me@mine.example.com, victim@bank.example.com', 'me@mine.example.com\r\nFrom: victim@bank.example.com']) {
          const refused = await relay(forged).catch((e: unknown) => e);
          expect(refused, forged).toBeInstanceOf(HeraldError);
          expect((refused as HeraldError).message).toMatch(/^from: (the From header|the message has 2 From headers)/);
          expect(replyForHeraldError(refused as HeraldError)).toMatchObject({ responseCode: 550, enhancedStatus: '5.6.0' });
        }

        // Quoted, the display name is only a name: accepted as mine.example.com and signed for it alone.
        const sent = await relay('"victim@bank.example.com" <me@mine.example.com>');
        const raw = await outboxCopy(ctx.admin, sent.messages[0]!.id);
        const verdicts = await verifyDkimWithDns(raw, [dns.address]);
        expect(verdicts).toEqual([expect.objectContaining({ signingDomain: 'mine.example.com', selector: 'mine', status: expect.objectContaining({ result: 'pass' }) })]);
        expect(verdicts.filter((v) => v.signingDomain === 'bank.example.com')).toEqual([]);
      } finally {
        await signing.stop();
      }
    });

    it('signs the mail of each workspace that verified the same domain with its own key only', async () => {
      const signing = await signingPipeline();
      try {
        const other = await createOtherWorkspace(ctx.deps, 'shared-other');
        const ours = await add({ name: 'shared.example.com', selector: 'ours' });
        const theirs = await addAs(other.secret, { name: 'shared.example.com', selector: 'theirs' });
        publish(ours);
        publish(theirs, ['dkim']);
        expect((await verify(ours.id)).status).toBe('verified');
        expect(await verifyAs(other.secret, theirs.id)).toBe('verified');
        expect(signing.keys.keysFor('shared.example.com', ctx.admin.workspaceId).map((k) => k.selector)).toEqual(['ours']);
        expect(signing.keys.keysFor('shared.example.com', other.principal.workspaceId).map((k) => k.selector)).toEqual(['theirs']);
        expect(signing.keys.keysFor('shared.example.com', 'ws_nobody')).toEqual([]);

        for (const [principal, selector] of [[ctx.admin, 'ours'], [other.principal, 'theirs']] as const) {
          const sent = await sendEmail(ctx.deps, principal, { from: 'news@shared.example.com', to: 'r@example.org', subject: selector, text: 'hi' });
          const raw = await outboxCopy(principal, sent.messages[0]!.id);
          expect(await verifyDkimWithDns(raw, [dns.address])).toEqual([
            expect.objectContaining({ signingDomain: 'shared.example.com', selector, status: expect.objectContaining({ result: 'pass' }) }),
          ]);
        }
      } finally {
        await signing.stop();
      }
    });

    it('fails mail queued for a domain deleted or back to pending since acceptance, instead of sending it unsigned', async () => {
      const gone = await add({ name: 'gone.example.com' });
      const lapsed = await add({ name: 'lapsed.example.com' });
      const kept = await add({ name: 'kept.example.com' });
      for (const domain of [gone, lapsed, kept]) {
        publish(domain);
        expect((await verify(domain.id)).status).toBe('verified');
      }
      // Accepted while verified, with no worker running: queued.
      const queued = await Promise.all(
        ['gone', 'lapsed', 'kept'].map(async (name) => (await sendEmail(ctx.deps, ctx.admin, { from: `news@${name}.example.com`, to: 'r@example.org', subject: name, text: 'hi' })).messages[0]!.id),
      );
      expect((await call('DELETE', `/v1/domains/${gone.id}`)).statusCode).toBe(204);
      zones[record(lapsed, 'dkim').name.toLowerCase()] = { txt: ['v=DKIM1; k=rsa; p=AAAA'] };
      expect((await verify(lapsed.id)).status).toBe('pending');

      const signing = await signingPipeline();
      try {
        const settled = (id: string, status: string) =>
          waitFor(`message ${id} to be ${status}`, async () => {
            const found = await getMessage(ctx.deps, ctx.admin, id);
            return found.message.status === status ? found.message : undefined;
          }, 15_000);
        for (const [id, domain] of [[queued[0]!, 'gone.example.com'], [queued[1]!, 'lapsed.example.com']] as const) {
          const failed = await settled(id, 'failed');
          expect(failed.lastReply).toContain(`the From domain ${domain} is no longer a verified sending domain of this workspace`);
        }
        await settled(queued[2]!, 'sent');
        expect(await verifyDkimWithDns(await outboxCopy(ctx.admin, queued[2]!), [dns.address])).toEqual([
          expect.objectContaining({ signingDomain: 'kept.example.com', status: expect.objectContaining({ result: 'pass' }) }),
        ]);
      } finally {
        await signing.stop();
      }
    });
  });
}
