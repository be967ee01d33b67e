/** Domain records shared by services, the store and the edges. Plain data, no behaviour. */
import type { MessageStatus } from './message-state.js';

export type KeyScope = 'full' | 'send' | 'read';
export const KEY_SCOPES: readonly KeyScope[] = ['full', 'send', 'read'];

export type Stream = 'transactional' | 'broadcast';

/** Open and click tracking for a content's html (resolved at acceptance; see docs/tracking.md). */
export interface TrackingOptions {
  opens: boolean;
  clicks: boolean;
}

export interface Workspace {
  id: string;
  name: string;
  createdAt: string;
}

export interface ApiKey {
  id: string;
  workspaceId: string;
  name: string;
  scope: KeyScope;
  /** CIDR networks whose SMTP clients are accepted without AUTH as this key. */
  smtpNetworks: string[];
  createdAt: string;
  revokedAt: string | null;
}

export interface Address {
  email: string;
  name?: string;
}

export interface Attachment {
  filename: string;
  /** Base64 content. */
  content: string;
  contentType?: string;
  contentId?: string;
  disposition?: 'attachment' | 'inline';
}

/**
 * What every recipient of one submission shares: either a structured email that the engine
 * composes per recipient, or raw MIME taken in by the SMTP relay and delivered as it came.
 */
export type Content =
  | {
      kind: 'structured';
      from: Address;
      to: Address[];
      cc: Address[];
      replyTo: Address[];
      subject: string;
      html?: string;
      text?: string;
      headers: Record<string, string>;
      attachments: Attachment[];
      /** Rewrite links and add an open pixel to the html, per recipient at send time; absent: off. */
      tracking?: TrackingOptions;
    }
  | {
      /**
       * A batch's content: Handlebars sources rendered per recipient at send time with the
       * message's variables. `revision` changes when the batch is pointed at another template
       * version, so caches keyed by it never serve the old text.
       */
      kind: 'template';
      from: Address;
      replyTo: Address[];
      subject: string;
      html?: string;
      text?: string;
      headers: Record<string, string>;
      templateId: string | null;
      templateVersion: number | null;
      revision: number;
      /** Rewrite links and add an open pixel to the rendered html; absent: off. */
      tracking?: TrackingOptions;
    }
  | {
      kind: 'raw';
      mailFrom: string;
      /** The message as received; base64 when it was not valid UTF-8, so no byte is lost. */
      raw: string;
      encoding?: 'utf8' | 'base64';
      /**
       * The From header's domain (A-labels) as acceptance read and approved it: DKIM signs for
       * exactly this domain. Absent without a From header, and in content accepted before it was kept.
       */
      fromDomain?: string;
    };

export interface Message {
  id: string;
  workspaceId: string;
  contentId: string;
  batchId: string | null;
  /** The envelope recipient: the one address this message is delivered to. */
  recipient: string;
  /** The envelope sender (MAIL FROM). */
  sender: string;
  status: MessageStatus;
  stream: Stream;
  subject: string;
  messageIdHeader: string;
  tags: string[];
  metadata: Record<string, string>;
  attempts: number;
  /** When the next delivery attempt is due (ISO time). */
  dueAt: string;
  /** After this time, a deferred message fails instead of retrying. */
  expiresAt: string;
  lastReply: string | null;
  bounceClass: 'hard' | 'soft' | null;
  /** Per-recipient template variables (batch messages); null otherwise. */
  variables: Record<string, unknown> | null;
  /** Whether the message is in its batch's canary sample. */
  sample: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface MessageEvent {
  id: string;
  seq: number;
  workspaceId: string;
  type: string;
  messageId: string | null;
  batchId: string | null;
  recipient: string | null;
  data: Record<string, unknown>;
  createdAt: string;
}
