/**
 * The engine's last suppression check: a message accepted before its address was suppressed is
 * not handed to the transport and ends `suppressed` with a `message.suppressed` event; an
 * unsubscribe (broadcast scope) holds back broadcast mail and lets transactional mail through.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { getMessage } from '../../src/services/messages.js';
import { sendEmail } from '../../src/services/send.js';
import { addSuppressions } from '../../src/services/suppressions.js';
import { CaptureTransport } from '../../src/transports/capture.js';
import type { OutgoingMessage, TransportResult } from '../../src/transports/transport.js';
import { backends, createTestContext, type TestContext } from '../helpers/harness.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/wait.js';

/** The capture transport, noting who it was asked to send to. */
class RecordingTransport extends CaptureTransport {
  readonly recipients: string[] = [];
  override async send(message: OutgoingMessage): Promise<TransportResult> {
    this.recipients.push(message.recipient);
    return super.send(message);
  }
}

for (const backend of backends()) {
  describe(`engine suppression check (${backend})`, () => {
    let ctx: TestContext;
    let pipeline: Pipeline | null = null;
    afterEach(async () => {
      await pipeline?.stop();
      pipeline = null;
      await ctx.close();
    });

    async function accept(to: string, stream: 'transactional' | 'broadcast' = 'transactional'): Promise<string> {
      const sent = await sendEmail(ctx.deps, ctx.admin, { from: 'shop@example.com', to, subject: `Hello ${to}`, text: 'Hi', stream });
      return sent.messages[0]!.id;
    }

    async function settled(id: string, status: string) {
      return waitFor(`message ${id} to be ${status}`, async () => {
        const found = await getMessage(ctx.deps, ctx.admin, id);
        return found.message.status === status ? found : undefined;
      });
    }

    it('does not send a message whose address was suppressed after acceptance', async () => {
      ctx = await createTestContext({ backend });
      const held = await accept('gone@Example.ORG');
      const fine = await accept('here@example.org');
      await addSuppressions(ctx.deps, ctx.admin, { email: 'gone@EXAMPLE.org', reason: 'complaint' });
      const transport = new RecordingTransport();
      pipeline = startPipeline(ctx, { transport });
      await settled(fine, 'sent');
      const { message, events } = await settled(held, 'suppressed');
      expect(message.attempts).toBe(0);
      expect(transport.recipients).toEqual(['here@example.org']);
      const suppressed = events.filter((e) => e.type === 'message.suppressed');
      expect(suppressed).toHaveLength(1);
      expect(suppressed[0]!.data).toMatchObject({ reason: 'complaint', scope: 'all', checked: 'before_send' });
      expect(events.map((e) => e.type)).not.toContain('message.sent');
    });

    it('holds back broadcast mail to an unsubscribed address and sends its transactional mail', async () => {
      ctx = await createTestContext({ backend });
      const receipt = await accept('reader@example.org', 'transactional');
      const newsletter = await accept('reader@example.org', 'broadcast');
      const other = await accept('fan@example.org', 'broadcast');
      await addSuppressions(ctx.deps, ctx.admin, { email: 'reader@example.org', reason: 'unsubscribe' });
      const transport = new RecordingTransport();
      pipeline = startPipeline(ctx, { transport });
      await settled(receipt, 'sent');
      await settled(other, 'sent');
      const { events } = await settled(newsletter, 'suppressed');
      expect(events.find((e) => e.type === 'message.suppressed')?.data).toMatchObject({
        reason: 'unsubscribe',
        scope: 'broadcast',
        checked: 'before_send',
      });
      expect(transport.recipients.sort()).toEqual(['fan@example.org', 'reader@example.org']);
    });
  });
}
