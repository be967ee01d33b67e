/**
 * Shared token buckets on SQLite (one process, so the bucket lives in the database only to keep
 * one behaviour across backends): read, refill and take in one immediate transaction.
 */
import type { Database } from 'better-sqlite3';
import { freshBucket, takeFromBucket, type BucketRate, type BucketState } from '../../core/token-bucket.js';
import { prepared } from './sqlite-statements.js';

export function takeTokens(db: Database, key: string, want: number, rate: BucketRate, now: number): number {
  const row = prepared(db, 'SELECT tokens, refilled_at AS refilledAt, held_per_second AS heldPerSecond, held_at AS heldAt FROM rate_buckets WHERE key = ?').get(key) as
    | BucketState
    | undefined;
  const { granted, state } = takeFromBucket(row ?? freshBucket(rate, now), want, rate, now);
  prepared(
    db,
    `INSERT INTO rate_buckets (key, tokens, refilled_at, held_per_second, held_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, refilled_at = excluded.refilled_at,
       held_per_second = excluded.held_per_second, held_at = excluded.held_at`,
  ).run(key, state.tokens, state.refilledAt, state.heldPerSecond, state.heldAt);
  return granted;
}
