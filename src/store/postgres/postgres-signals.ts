/**
 * Signals across processes on PostgreSQL: writers `NOTIFY` in the transaction that appends events
 * (delivered at commit, dropped on rollback), and each process keeps one dedicated connection
 * that `LISTEN`s and hands notifications to its listeners. Notifications carry the schema they
 * were raised in, so processes on other schemas of the same database (tests) ignore them.
 *
 * The listening connection is opened on the first listener and reopened with backoff when it
 * drops (database restart); on reopening every listener is woken once, since signals raised
 * while it was down were lost.
 */
import pg from 'pg';
import { SignalListeners, type SignalListener, type SignalTopic } from '../signals.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

const CHANNELS: Record<SignalTopic, string> = { events: 'herald_events', due: 'herald_due' };
const TOPIC_OF = new Map<string, SignalTopic>(Object.entries(CHANNELS).map(([topic, channel]) => [channel, topic as SignalTopic]));

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

/** Raises the topics in the caller's transaction: heard by every process once it commits. */
export async function notify(client: Queryable, topics: readonly SignalTopic[]): Promise<void> {
  if (topics.length === 0) return;
  await client.query('SELECT pg_notify(c, current_schema()) FROM unnest($1::text[]) AS c', [topics.map((t) => CHANNELS[t])]);
}

export class PostgresSignals {
  readonly #listeners = new SignalListeners();
  readonly #config: pg.ClientConfig;
  #client: pg.Client | null = null;
  #schema: string | null = null;
  #opening = false;
  #closed = false;
  #backoffMs = BACKOFF_MIN_MS;
  #retry: NodeJS.Timeout | null = null;

  constructor(config: pg.ClientConfig) {
    this.#config = config;
  }

  listen(topic: SignalTopic, listener: SignalListener): () => void {
    const remove = this.#listeners.add(topic, listener);
    if (!this.#client && !this.#opening && !this.#retry) void this.#open(false);
    return remove;
  }

  /** True while the listening connection is up (for tests and readiness). */
  get listening(): boolean {
    return this.#client !== null;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => undefined);
  }

  async #open(reopened: boolean): Promise<void> {
    if (this.#closed) return;
    this.#opening = true;
    const client = new pg.Client(this.#config);
    const lost = () => {
      if (this.#client !== client) return;
      this.#client = null;
      client.end().catch(() => undefined);
      this.#schedule(true);
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (message) => {
      const topic = TOPIC_OF.get(message.channel);
      if (topic && (message.payload ?? '') === this.#schema) this.#listeners.fire(topic);
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ schema: string }>('SELECT current_schema() AS schema');
      this.#schema = rows[0]?.schema ?? 'public';
      await client.query(Object.values(CHANNELS).map((channel) => `LISTEN ${channel}`).join('; '));
      if (this.#closed) {
        await client.end().catch(() => undefined);
        return;
      }
      this.#client = client;
      this.#backoffMs = BACKOFF_MIN_MS;
      if (reopened) this.#listeners.fireAll();
    } catch {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      // Signals raised while no connection listened are lost: wake everyone once it is back.
      this.#schedule(true);
    } finally {
      this.#opening = false;
    }
  }

  #schedule(reopened: boolean): void {
    if (this.#closed || this.#retry) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(BACKOFF_MAX_MS, this.#backoffMs * 2);
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.#open(reopened);
    }, delay);
    this.#retry.unref();
  }
}
