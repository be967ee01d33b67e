/**
 * Stats rollups on PostgreSQL, written inside the caller's transaction: `rollUpEvents` from every
 * event insert (postgres-events.ts), `rollUpBatchAccepted` when a batch is finalized (its messages
 * have no `message.accepted` events of their own). One statement each: events (or the batch's
 * messages) joined to their messages for stream and tags, grouped per rollup row, upserted.
 *
 * What counts is core/event-rollup.ts (the counter and the hour come from there); the domain is
 * the text after the recipient's last `@`, lower-cased, as `recipientDomain` computes it.
 * Callers hold the event-order lock of every workspace concerned (postgres-events.ts), so two
 * transactions never upsert the same rollup rows at once.
 */
import type pg from 'pg';
import { ROLLUP_COUNTERS, rollupCounterOf, rollupHour } from '../../core/event-rollup.js';
import type { NewEvent } from '../store.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

const COLUMNS = ROLLUP_COUNTERS.join(', ');
const ADD = ROLLUP_COUNTERS.map((c) => `${c} = r.${c} + excluded.${c}`).join(', ');
const DOMAIN = "lower(substring(m.recipient from '[^@]*$'))";
/** The message's rollup rows: the total ('') and one per distinct non-empty tag. */
const TAGS = "CROSS JOIN LATERAL (SELECT '' UNION SELECT x FROM jsonb_array_elements_text(m.tags) AS x WHERE x <> '') AS t(tag)";

export async function rollUpEvents(client: Queryable, events: NewEvent[]): Promise<void> {
  const counted = events.flatMap((event) => {
    const counter = event.messageId === null ? null : rollupCounterOf(event.type, event.data);
    return counter === null ? [] : [{ messageId: event.messageId, hour: rollupHour(event.createdAt), counter }];
  });
  if (counted.length === 0) return;
  await client.query(
    `INSERT INTO event_rollups AS r (workspace_id, tag, hour, stream, domain, ${COLUMNS})
     SELECT m.workspace_id, t.tag, e.hour, m.stream, ${DOMAIN},
       ${ROLLUP_COUNTERS.map((c) => `count(*) FILTER (WHERE e.counter = '${c}')`).join(', ')}
     FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS e(message_id, hour, counter)
     JOIN messages m ON m.id = e.message_id
     ${TAGS}
     GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
     ON CONFLICT (workspace_id, tag, hour, stream, domain) DO UPDATE SET ${ADD}`,
    [counted.map((c) => c.messageId), counted.map((c) => c.hour), counted.map((c) => c.counter)],
  );
}

/** Counts every message of a finalized batch as accepted at `at`. */
export async function rollUpBatchAccepted(client: Queryable, batchId: string, at: string): Promise<void> {
  await client.query(
    `INSERT INTO event_rollups AS r (workspace_id, tag, hour, stream, domain, accepted)
     SELECT m.workspace_id, t.tag, $2::timestamptz, m.stream, ${DOMAIN}, count(*)
     FROM messages m
     ${TAGS}
     WHERE m.batch_id = $1
     GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
     ON CONFLICT (workspace_id, tag, hour, stream, domain) DO UPDATE SET accepted = r.accepted + excluded.accepted`,
    [batchId, rollupHour(at)],
  );
}
