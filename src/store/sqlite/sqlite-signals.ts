/**
 * Signals on SQLite: one process owns the database, so "every process sharing the store" is this
 * one. Each database gets its in-process fan-out (../signals.ts), raised by every event append
 * inside its transaction and heard after the commit. The PostgreSQL twin is LISTEN/NOTIFY.
 */
import type { Database } from 'better-sqlite3';
import { LocalSignals, raisesDue } from '../signals.js';

const SIGNALS = new WeakMap<Database, LocalSignals>();

/** The signals of a database, made on first use (the store's `listen`). */
export function signalsOf(db: Database): LocalSignals {
  let signals = SIGNALS.get(db);
  if (!signals) SIGNALS.set(db, (signals = new LocalSignals()));
  return signals;
}

/** Raises what appending an event of this type means: `events`, and `due` when mail may be claimable. Free when nobody listens. */
export function raiseForEvent(db: Database, type: string): void {
  const signals = SIGNALS.get(db);
  if (!signals) return;
  signals.raise('events');
  if (raisesDue(type)) signals.raise('due');
}
