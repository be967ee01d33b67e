/**
 * Wake-ups across processes: a store raises `events` when events are appended and `due` when
 * messages may have become claimable (accepted, or a batch started or resumed), and every process
 * sharing the store hears it. On PostgreSQL that is `LISTEN/NOTIFY` (postgres-signals.ts); on
 * SQLite, one process, it is this in-process fan-out.
 *
 * A signal carries no data: it only says "look now". Listeners still poll, more slowly, so a
 * missed signal (a dropped listening connection) costs latency, never correctness.
 */

export type SignalTopic = 'events' | 'due';

export type SignalListener = () => void;

/** The event types after which messages may be claimable now. */
const DUE_AFTER = new Set(['message.accepted', 'batch.sending', 'batch.canary_started', 'batch.resumed', 'batch.approved']);

/** Whether appending an event of this type should raise `due` as well as `events`. */
export function raisesDue(type: string): boolean {
  return DUE_AFTER.has(type);
}

/** Listeners per topic; what both backends' signal sources hand notifications to. */
export class SignalListeners {
  readonly #listeners = new Map<SignalTopic, Set<SignalListener>>();

  add(topic: SignalTopic, listener: SignalListener): () => void {
    let set = this.#listeners.get(topic);
    if (!set) this.#listeners.set(topic, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  get size(): number {
    let n = 0;
    for (const set of this.#listeners.values()) n += set.size;
    return n;
  }

  fire(topic: SignalTopic): void {
    for (const listener of this.#listeners.get(topic) ?? []) {
      try {
        listener();
      } catch {
        // A listener's failure is its own; the others still hear the signal.
      }
    }
  }

  fireAll(): void {
    this.fire('events');
    this.fire('due');
  }
}

/**
 * In-process signals for the SQLite store. Raised inside a synchronous transaction, they are
 * delivered on the next turn of the event loop, after the commit; several raises before then
 * coalesce into one.
 */
export class LocalSignals {
  readonly listeners = new SignalListeners();
  readonly #pending = new Set<SignalTopic>();
  #scheduled = false;

  raise(topic: SignalTopic): void {
    if (this.listeners.size === 0) return;
    this.#pending.add(topic);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const topics = [...this.#pending];
      this.#pending.clear();
      for (const topic of topics) this.listeners.fire(topic);
    });
  }
}

/**
 * Resolves at the next signal on the topic or after `ms`, whichever comes first: the wait of a
 * live stream between two reads of the log.
 */
export function nextSignal(listen: (topic: SignalTopic, listener: SignalListener) => () => void, topic: SignalTopic, ms: number): Promise<void> {
  return new Promise((resolve) => {
    let stop: () => void = () => undefined;
    const timer = setTimeout(() => {
      stop();
      resolve();
    }, ms);
    stop = listen(topic, () => {
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}
