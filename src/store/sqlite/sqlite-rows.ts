/** Maps SQLite rows to domain records. JSON columns are parsed here and nowhere else. */
import type { MessageStatus } from '../../core/message-state.js';
import type { ApiKey, KeyScope, Message, MessageEvent, Stream, Workspace } from '../../core/types.js';
import type { ApiKeyRecord } from '../store.js';

export interface WorkspaceRow {
  id: string;
  name: string;
  created_at: string;
}

export interface ApiKeyRow {
  id: string;
  workspace_id: string;
  name: string;
  scope: string;
  secret_hash: string;
  smtp_networks: string;
  created_at: string;
  revoked_at: string | null;
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
  tags: string;
  metadata: string;
  attempts: number;
  due_at: string;
  expires_at: string;
  last_reply: string | null;
  bounce_class: string | null;
  variables: string | null;
  sample: number;
  created_at: string;
  updated_at: string;
}

export interface EventRow {
  seq: number;
  id: string;
  workspace_id: string;
  type: string;
  message_id: string | null;
  batch_id: string | null;
  recipient: string | null;
  data: string;
  created_at: string;
}

export function toWorkspace(row: WorkspaceRow): Workspace {
  return { id: row.id, name: row.name, createdAt: row.created_at };
}

export function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    scope: row.scope as KeyScope,
    smtpNetworks: JSON.parse(row.smtp_networks) as string[],
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
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
    tags: JSON.parse(row.tags) as string[],
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    attempts: row.attempts,
    dueAt: row.due_at,
    expiresAt: row.expires_at,
    lastReply: row.last_reply,
    bounceClass: row.bounce_class as Message['bounceClass'],
    variables: row.variables === null ? null : (JSON.parse(row.variables) as Record<string, unknown>),
    sample: row.sample === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toEvent(row: EventRow): MessageEvent {
  return {
    id: row.id,
    seq: row.seq,
    workspaceId: row.workspace_id,
    type: row.type,
    messageId: row.message_id,
    batchId: row.batch_id,
    recipient: row.recipient,
    data: JSON.parse(row.data) as Record<string, unknown>,
    createdAt: row.created_at,
  };
}
