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
  await client.query('INSERT INTO rate_buckets (key, tokens, refilled_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING', [
    key,
    fresh.tokens,
    fresh.refilledAt,
  ]);
  const { rows } = await client.query<{ tokens: number; refilled_at: string }>('SELECT tokens, refilled_at FROM rate_buckets WHERE key = $1 FOR UPDATE', [key]);
  const row = rows[0];
  const current = row ? { tokens: Number(row.tokens), refilledAt: Number(row.refilled_at) } : fresh;
  const { granted, state } = takeFromBucket(current, want, rate, now);
  await client.query('UPDATE rate_buckets SET tokens = $2, refilled_at = $3 WHERE key = $1', [key, state.tokens, state.refilledAt]);
  return granted;
}
