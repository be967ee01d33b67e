/** Maps PostgreSQL rows (timestamptz → Date, jsonb → parsed) to domain records. */
import type { MessageStatus } from '../../core/message-state.js';
import type { ApiKey, KeyScope, Message, MessageEvent, Stream, Workspace } from '../../core/types.js';
import type { ApiKeyRecord } from '../store.js';

export interface WorkspaceRow {
  id: string;
  name: string;
  created_at: Date;
}

export interface ApiKeyRow {
  id: string;
  workspace_id: string;
  name: string;
  scope: string;
  secret_hash: string;
  smtp_networks: string[];
  created_at: Date;
  revoked_at: Date | null;
}

export interface MessageRow {
  id: string;
  workspace_id: string;
  content_id: string;
  batch_id: string | null;
  recipient: string;
  sender: string;
  status: string;
  stream: string;
  subject: string;
  message_id_header: string;
  tags: string[];
  metadata: Record<string, string>;
  attempts: number;
  due_at: Date;
  expires_at: Date;
  last_reply: string | null;
  bounce_class: string | null;
  variables: Record<string, unknown> | null;
  sample: number;
  created_at: Date;
  updated_at: Date;
}

export interface EventRow {
  seq: string;
  id: string;
  workspace_id: string;
  type: string;
  message_id: string | null;
  batch_id: string | null;
  recipient: string | null;
  data: Record<string, unknown>;
  created_at: Date;
}

export const iso = (date: Date): string => date.toISOString();
export const isoOrNull = (date: Date | null): string | null => (date === null ? null : date.toISOString());

/** The messages columns every query reads and writes, in the order of `messageArrays`. */
export const MESSAGE_COLUMNS = `id, workspace_id, content_id, batch_id, recipient, sender, status, stream, subject,
  message_id_header, tags, metadata, attempts, due_at, expires_at, last_reply, bounce_class, variables, sample, created_at, updated_at`;

/** The element types of `messageArrays`, as `unnest` casts them ($1 … $21). */
export const MESSAGE_ARRAY_TYPES = [
  'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'jsonb', 'int', 'timestamptz',
  'timestamptz', 'text', 'text', 'jsonb', 'int', 'timestamptz', 'timestamptz',
] as const;

/** Messages as one array per column (MESSAGE_COLUMNS order), for a bulk insert through `unnest`. */
export function messageArrays(messages: Message[]): unknown[][] {
  const column = <K extends keyof Message>(key: K, map: (v: Message[K]) => unknown = (v) => v) => messages.map((m) => map(m[key]));
  const json = (v: unknown) => JSON.stringify(v);
  return [
    column('id'), column('workspaceId'), column('contentId'), column('batchId'), column('recipient'), column('sender'),
    column('status'), column('stream'), column('subject'), column('messageIdHeader'), column('tags', json), column('metadata', json),
    column('attempts'), column('dueAt'), column('expiresAt'), column('lastReply'), column('bounceClass'),
    column('variables', (v) => (v === null ? null : JSON.stringify(v))), column('sample', (v) => (v ? 1 : 0)),
    column('createdAt'), column('updatedAt'),
  ];
}

export function toWorkspace(row: WorkspaceRow): Workspace {
  return { id: row.id, name: row.name, createdAt: iso(row.created_at) };
}

export function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    scope: row.scope as KeyScope,
    smtpNetworks: row.smtp_networks,
    createdAt: iso(row.created_at),
    revokedAt: isoOrNull(row.revoked_at),
  };
}

export function toApiKeyRecord(row: ApiKeyRow): ApiKeyRecord {
  return { ...toApiKey(row), secretHash: row.secret_hash };
}

export function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    contentId: row.content_id,
    batchId: row.batch_id,
    recipient: row.recipient,
    sender: row.sender,
    status: row.status as MessageStatus,
    stream: row.stream as Stream,
    subject: row.subject,
    messageIdHeader: row.message_id_header,
    tags: row.tags,
    metadata: row.metadata,
    attempts: row.attempts,
    dueAt: iso(row.due_at),
    expiresAt: iso(row.expires_at),
    lastReply: row.last_reply,
    bounceClass: row.bounce_class as Message['bounceClass'],
    variables: row.variables,
    sample: row.sample === 1,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export function toEvent(row: EventRow): MessageEvent {
  return {
    id: row.id,
    seq: Number(row.seq),
    workspaceId: row.workspace_id,
    type: row.type,
    messageId: row.message_id,
    batchId: row.batch_id,
    recipient: row.recipient,
    data: row.data,
    createdAt: iso(row.created_at),
  };
}
