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
    tracking: Type.Optional(
      Type.Object(
        {
          opens: Type.Optional(Type.Boolean({ description: 'Add an open pixel to the html (needs --public-url)' })),
          clicks: Type.Optional(Type.Boolean({ description: 'Send http(s) links of the html through /t/c/… (needs --public-url)' })),
        },
        { additionalProperties: false, description: 'Open/click tracking; absent fields take the server default (--tracking)' },
      ),
    ),
  },
  { additionalProperties: false, $id: 'EmailRequest' },
);
export type EmailBodyT = Static<typeof EmailBody>;

export const SendResponse = Type.Object(
  {
    id: Type.String({ description: 'Id of this submission' }),
    messages: Type.Array(
      Type.Object({
        id: Type.String(),
        to: Type.String(),
        suppressed: Type.Optional(Type.String({ description: 'The suppression reason: recorded, never sent' })),
      }),
      { description: 'One message per recipient' },
    ),
    send_at: Type.Union([Type.String(), Type.Null()]),
    batch_id: Type.Optional(Type.String({ description: 'Set when the submission had more recipients than --batch-threshold: follow it at /v1/batches/:id' })),
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

// ---- Templates (routes/v1/templates.ts) ----------------------------------------------------

export const TemplateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, description: 'Unique among the workspace’s templates' }),
    subject: Type.String({ minLength: 1, maxLength: 998, description: 'Handlebars; not HTML-escaped' }),
    html: Type.Optional(Type.String({ maxLength: 1024 * 1024, description: 'Handlebars; {{x}} is HTML-escaped, {{{x}}} is not' })),
    text: Type.Optional(Type.String({ maxLength: 1024 * 1024, description: 'Handlebars; not escaped' })),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false, $id: 'TemplateRequest', description: 'At least one of html and text is required' },
);
export type TemplateBodyT = Static<typeof TemplateBody>;

const TemplateFields = {
  id: Type.String(),
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  version: Type.Integer({ description: 'The version shown (the latest unless ?version= asked for another)' }),
  latest_version: Type.Integer(),
  subject: Type.String(),
  variables: Type.Array(Type.String(), { description: 'Root variables the parts use, platform variables aside' }),
  created_at: Type.String(),
  updated_at: Type.String({ description: 'When the latest version was saved' }),
};

export const TemplateView = Type.Object(
  {
    ...TemplateFields,
    html: Type.Union([Type.String(), Type.Null()]),
    text: Type.Union([Type.String(), Type.Null()]),
    version_created_at: Type.String({ description: 'When the version shown was saved' }),
  },
  { $id: 'Template' },
);

export const TemplateSummaryView = Type.Object(TemplateFields, { $id: 'TemplateSummary', description: 'A template without its bodies' });

export const TemplateLintView = Type.Object(
  {
    variables: Type.Array(Type.String()),
    warnings: Type.Array(
      Type.Object({
        code: Type.String({ description: 'link_not_absolute or missing_text' }),
        part: Type.Union([Type.Literal('subject'), Type.Literal('html'), Type.Literal('text')]),
        message: Type.String(),
        line: Type.Optional(Type.Integer()),
      }),
    ),
    suggested_text: Type.Optional(Type.String({ description: 'A text part generated from the html, when there is none' })),
  },
  { $id: 'TemplateLint', description: 'What lint found; the template was saved anyway' },
);

export const TemplateSavedView = Type.Object({ ...TemplateView.properties, lint: TemplateLintView }, { $id: 'TemplateSaved' });

export const TemplateVersionView = Type.Object(
  { version: Type.Integer(), subject: Type.String(), variables: Type.Array(Type.String()), created_at: Type.String() },
  { $id: 'TemplateVersion' },
);

const Version = Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: 'A version number; default: the latest' });

export const TemplateGetQuery = Type.Object({ version: Type.Optional(Version) }, { additionalProperties: false });
export type TemplateGetQueryT = Static<typeof TemplateGetQuery>;

export const TemplateRenderBody = Type.Object(
  {
    variables: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Values for the template’s variables' })),
    version: Type.Optional(Type.Integer({ minimum: 1, description: 'Default: the latest' })),
  },
  { additionalProperties: false, $id: 'TemplateRenderRequest' },
);
export type TemplateRenderBodyT = Static<typeof TemplateRenderBody>;

export const TemplateRenderedView = Type.Object(
  {
    subject: Type.String(),
    html: Type.Union([Type.String(), Type.Null()]),
    text: Type.Union([Type.String(), Type.Null()]),
    missing_variables: Type.Array(Type.String(), { description: 'Used by the template, absent from variables' }),
  },
  { $id: 'TemplateRendered' },
);

// ---- Events out (routes/v1/events.ts, routes/v1/stats.ts) ------------------------------------

const EventTypeParam = Type.String({
  maxLength: 2000,
  description: 'Comma-separated event types or families: message.sent,message.bounced or message.* (default: every type)',
});

export const EventLogView = Type.Object(
  {
    id: Type.String(),
    type: Type.String(),
    created_at: Type.String(),
    message_id: Type.Union([Type.String(), Type.Null()]),
    batch_id: Type.Union([Type.String(), Type.Null()]),
    recipient: Type.Union([Type.String(), Type.Null()]),
    data: Type.Record(Type.String(), Type.Unknown(), { description: 'What the type reports; message events carry tags and metadata' }),
  },
  { $id: 'LogEvent' },
);

export const EventListQuery = Type.Object(
  {
    type: Type.Optional(EventTypeParam),
    after: Type.Optional(Type.String({ description: 'A next_cursor from an earlier page; default: the start of the log' })),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000, default 100' })),
  },
  { additionalProperties: false },
);
export type EventListQueryT = Static<typeof EventListQuery>;

export const EventStreamQuery = Type.Object(
  {
    type: Type.Optional(EventTypeParam),
    after: Type.Optional(Type.String({ description: 'Start after this next_cursor of GET /v1/events (Last-Event-ID wins); default: only new events' })),
  },
  { additionalProperties: false },
);
export type EventStreamQueryT = Static<typeof EventStreamQuery>;

export const StatsQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ description: 'ISO 8601; default: 24 hours (hour) or 30 days (day) before to' })),
    to: Type.Optional(Type.String({ description: 'ISO 8601, exclusive; default: now' })),
    interval: Type.Optional(Type.String({ description: 'hour (at most 31 days) or day (at most 366 days); default hour' })),
    tag: Type.Optional(Type.String({ description: 'Only messages with this tag' })),
    stream: Type.Optional(Type.String({ description: 'transactional or broadcast' })),
    domain: Type.Optional(Type.String({ description: 'Only recipients at this domain' })),
  },
  { additionalProperties: false },
);
export type StatsQueryT = Static<typeof StatsQuery>;

const StatsCounts = {
  accepted: Type.Integer(),
  sent: Type.Integer(),
  delivered: Type.Integer(),
  deferred: Type.Integer({ description: 'Deferrals (a message deferred twice counts twice)' }),
  bounced: Type.Integer({ description: 'bounced_hard + bounced_soft' }),
  bounced_hard: Type.Integer(),
  bounced_soft: Type.Integer(),
  complained: Type.Integer(),
  opened: Type.Integer({ description: 'Unique: first opens only' }),
  clicked: Type.Integer({ description: 'Unique: first clicks only' }),
  unsubscribed: Type.Integer(),
};

export const StatsView = Type.Object(
  {
    from: Type.String({ description: 'The range covered, widened to whole buckets' }),
    to: Type.String({ description: 'Exclusive' }),
    interval: Type.Union([Type.Literal('hour'), Type.Literal('day')]),
    tag: Type.Union([Type.String(), Type.Null()]),
    stream: Type.Union([Type.String(), Type.Null()]),
    domain: Type.Union([Type.String(), Type.Null()]),
    buckets: Type.Array(Type.Object({ start: Type.String(), ...StatsCounts })),
    totals: Type.Object(StatsCounts),
  },
  { $id: 'Stats' },
);
