/**
 * Shared token buckets on PostgreSQL: every worker takes from the same row, locked for the
 * read-refill-take, so a batch's rate cap or a destination's budget holds across all processes.
 */
import type pg from 'pg';
import { freshBucket, takeFromBucket, type BucketRate } from '../../core/token-bucket.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

/** Runs inside the caller's transaction. */
export async function takeTokens(client: Queryable, key: string, want: number, rate: BucketRate, now: number): Promise<number> {
  const fresh = freshBucket(rate, now);
  // One statement creates the bucket if it is new and locks its row either way, returning it.
  const { rows } = await client.query<{ tokens: number; refilled_at: string; held_per_second: number | null; held_at: string | null }>(
    `INSERT INTO rate_buckets (key, tokens, refilled_at, held_per_second, held_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (key) DO UPDATE SET key = excluded.key
     RETURNING tokens, refilled_at, held_per_second, held_at`,
    [key, fresh.tokens, fresh.refilledAt, fresh.heldPerSecond, fresh.heldAt],
  );
  const row = rows[0];
  if (!row) throw new Error(`rate bucket ${key} was not returned`);
  const current = { tokens: Number(row.tokens), refilledAt: Number(row.refilled_at), heldPerSecond: row.held_per_second === null ? null : Number(row.held_per_second), heldAt: row.held_at === null ? null : Number(row.held_at) };
  const { granted, state } = takeFromBucket(current, want, rate, now);
  await client.query('UPDATE rate_buckets SET tokens = $2, refilled_at = $3, held_per_second = $4, held_at = $5 WHERE key = $1', [
    key,
    state.tokens,
    state.refilledAt,
    state.heldPerSecond,
    state.heldAt,
  ]);
  return granted;
}
