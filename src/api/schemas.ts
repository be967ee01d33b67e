/**
 * Request and response schemas (TypeBox → JSON Schema). The same objects validate requests and
 * generate `/openapi.json`, so the documentation cannot drift from what the API enforces.
 */
import { Type, type Static } from '@sinclair/typebox';

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable error code, e.g. validation_failed, invalid_api_key' }),
      message: Type.String(),
      field: Type.Optional(Type.String({ description: 'The request field the error is about' })),
    }),
  },
  { $id: 'Error', description: 'Every error response' },
);

const AddressObject = Type.Object(
  { email: Type.String({ maxLength: 320 }), name: Type.Optional(Type.String({ maxLength: 300 })) },
  { additionalProperties: false },
);
const Address = Type.Union([Type.String({ maxLength: 700, description: '"a@x.org" or "Name <a@x.org>"' }), AddressObject]);
const AddressList = Type.Union([Address, Type.Array(Address, { maxItems: 10000 })]);

export const EmailBody = Type.Object(
  {
    from: Address,
    to: Type.Optional(AddressList),
    cc: Type.Optional(AddressList),
    bcc: Type.Optional(AddressList),
    reply_to: Type.Optional(AddressList),
    subject: Type.Optional(Type.String({ maxLength: 998 })),
    html: Type.Optional(Type.String()),
    text: Type.Optional(Type.String()),
    template_id: Type.Optional(Type.String({ maxLength: 200 })),
    variables: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    headers: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 998 }))),
    tags: Type.Optional(Type.Array(Type.String(), { maxItems: 20 })),
    metadata: Type.Optional(Type.Record(Type.String({ maxLength: 100 }), Type.String({ maxLength: 1000 }))),
    attachments: Type.Optional(
      Type.Array(
        Type.Object(
          {
            filename: Type.String({ maxLength: 255 }),
            content: Type.String({ description: 'base64' }),
            content_type: Type.Optional(Type.String({ maxLength: 255 })),
            content_id: Type.Optional(Type.String({ maxLength: 255 })),
            disposition: Type.Optional(Type.Union([Type.Literal('attachment'), Type.Literal('inline')])),
          },
          { additionalProperties: false },
        ),
        { maxItems: 100 },
      ),
    ),
    send_at: Type.Optional(Type.String({ description: 'ISO 8601 date-time, at most 30 days ahead' })),
    stream: Type.Optional(Type.Union([Type.Literal('transactional'), Type.Literal('broadcast')])),
  },
  { additionalProperties: false, $id: 'EmailRequest' },
);
export type EmailBodyT = Static<typeof EmailBody>;

export const SendResponse = Type.Object(
  {
    id: Type.String({ description: 'Id of this submission' }),
    messages: Type.Array(Type.Object({ id: Type.String(), to: Type.String() }), { description: 'One message per recipient' }),
    send_at: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'SendResponse' },
);

const MessageStatus = Type.Union(
  ['queued', 'sending', 'sent', 'delivered', 'deferred', 'bounced', 'failed', 'suppressed', 'cancelled'].map((s) => Type.Literal(s)),
);

export const EventView = Type.Object({
  id: Type.String(),
  type: Type.String(),
  created_at: Type.String(),
  data: Type.Record(Type.String(), Type.Unknown()),
});

export const MessageView = Type.Object(
  {
    id: Type.String(),
    status: MessageStatus,
    from: Type.String({ description: 'Envelope sender' }),
    to: Type.String({ description: 'The recipient' }),
    subject: Type.String(),
    stream: Type.String(),
    message_id_header: Type.String(),
    batch_id: Type.Union([Type.String(), Type.Null()]),
    tags: Type.Array(Type.String()),
    metadata: Type.Record(Type.String(), Type.String()),
    attempts: Type.Integer(),
    next_attempt_at: Type.Union([Type.String(), Type.Null()]),
    expires_at: Type.String(),
    last_reply: Type.Union([Type.String(), Type.Null()]),
    bounce_class: Type.Union([Type.Literal('hard'), Type.Literal('soft'), Type.Null()]),
    created_at: Type.String(),
    updated_at: Type.String(),
    events: Type.Optional(Type.Array(EventView)),
  },
  { $id: 'Message' },
);

const Limit = Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000, default 50' });

export const MessageListQuery = Type.Object(
  {
    status: Type.Optional(MessageStatus),
    to: Type.Optional(Type.String()),
    tag: Type.Optional(Type.String()),
    since: Type.Optional(Type.String({ description: 'created at or after (ISO 8601)' })),
    until: Type.Optional(Type.String({ description: 'created before (ISO 8601)' })),
    cursor: Type.Optional(Type.String()),
    limit: Type.Optional(Limit),
  },
  { additionalProperties: false },
);
export type MessageListQueryT = Static<typeof MessageListQuery>;

export const PageQuery = Type.Object({ cursor: Type.Optional(Type.String()), limit: Type.Optional(Limit) }, { additionalProperties: false });
export type PageQueryT = Static<typeof PageQuery>;

export const IdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });
export type IdParamsT = Static<typeof IdParams>;

export const OutboxEntryView = Type.Object({
  message_id: Type.String(),
  to: Type.String(),
  subject: Type.String(),
  size: Type.Integer(),
  captured_at: Type.String(),
});

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ description: 'Same key + same body within 24 h returns the original response' })),
});

/** Parses the `limit` query parameter (validated as 1-4 digits by the schema). */
export function parseLimit(limit: string | undefined): number {
  if (limit === undefined) return 50;
  const n = Number(limit);
  return Math.min(1000, Math.max(1, n));
}
