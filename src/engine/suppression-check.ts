/**
 * The suppression check just before a send, at one store query per claimed chunk rather than one
 * per message: the engine hands over each chunk as it claims it; this groups the recipients by
 * workspace and stream, asks the store once per group, and keeps the hits with the messages.
 *
 * The answer is as of the claim: an address suppressed while its message waits in the local queue
 * (under a second at the usual rates) is caught at the next claim, not this one. Acceptance-time
 * checks are the services' (`suppressedAmong`); this one catches what was listed after acceptance.
 * Owns no rules: which scopes hold back which stream is the store's query, from core/suppression.ts.
 */
import { normaliseAddress } from '../core/address.js';
import type { SuppressionHit } from '../core/suppression.js';
import type { Stream } from '../core/types.js';
import type { ClaimedMessage, Store } from '../store/store.js';

interface Group {
  workspaceId: string;
  stream: Stream;
  byEmail: Map<string, ClaimedMessage[]>;
}

export class SuppressionCheck {
  /** Keyed by the claimed message object: an entry goes when the engine lets go of the message. */
  readonly #hits = new WeakMap<ClaimedMessage, SuppressionHit>();

  constructor(private readonly store: Pick<Store, 'findSuppressed'>) {}

  /** Looks up a claimed chunk: one query per workspace and stream among its messages. */
  async load(messages: readonly ClaimedMessage[]): Promise<void> {
    const groups = new Map<string, Group>();
    for (const message of messages) {
      const key = `${message.workspaceId}\n${message.stream}`;
      let group = groups.get(key);
      if (!group) {
        group = { workspaceId: message.workspaceId, stream: message.stream, byEmail: new Map() };
        groups.set(key, group);
      }
      const email = normaliseAddress(message.recipient);
      const same = group.byEmail.get(email);
      if (same) same.push(message);
      else group.byEmail.set(email, [message]);
    }
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const found = await this.store.findSuppressed(group.workspaceId, group.stream, [...group.byEmail.keys()]);
        for (const [email, hit] of found) for (const message of group.byEmail.get(email) ?? []) this.#hits.set(message, hit);
      }),
    );
  }

  /** Why the message must not be sent, when its recipient was suppressed at the claim. */
  hitFor(message: ClaimedMessage): SuppressionHit | undefined {
    return this.#hits.get(message);
  }
}
