/** `POST /v1/emails`: Herald's own send call. Answers 202 only once every message is committed. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { sendEmail } from '../../../services/send.js';
import { authenticate } from '../../auth.js';
import type { ApiContext } from '../../context.js';
import { EmailBody, IdempotencyHeaders, SendResponse, type EmailBodyT } from '../../schemas.js';

export async function emailRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.post(
    '/v1/emails',
    {
      schema: {
        tags: ['emails'],
        summary: 'Send an email: one message per distinct recipient in to, cc and bcc',
        security: [{ bearer: [] }],
        headers: IdempotencyHeaders,
        body: EmailBody,
        response: { 202: SendResponse, '4xx': Type.Ref('Error'), '5xx': Type.Ref('Error') },
      },
    },
    async (request, reply) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      const key = request.headers['idempotency-key'];
      const result = await sendEmail(ctx.deps, principal, request.body as EmailBodyT, {
        ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
      });
      return reply.status(202).send({ id: result.id, messages: result.messages, send_at: result.sendAt, ...(result.batchId ? { batch_id: result.batchId } : {}) });
    },
  );
}
