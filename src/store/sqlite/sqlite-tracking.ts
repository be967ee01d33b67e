/**
 * Tracking and frequency-cap queries on SQLite, one function per unit of work with the database
 * passed in (the store runs each in an IMMEDIATE transaction, which is also what makes them
 * atomic across processes sharing the file: SQLite has one writer at a time).
 */
import type { Database } from 'better-sqlite3';
import { decideFrequency, ledgerKey, lookbackSeconds, type FrequencyVerdict, type LedgerRow } from '../../core/frequency-cap.js';
import type { EngagementWrite, SendReservation } from '../store.js';
import { insertEvent } from './sqlite-events.js';
import { prepared } from './sqlite-statements.js';

/** Claims the write's marks (a mark already there stays unclaimed) and appends its event. Run inside a transaction. */
export function recordEngagement(db: Database, write: EngagementWrite): Set<string> {
  const claim = prepared(db, 'INSERT OR IGNORE INTO engagement_marks (workspace_id, message_id, mark, created_at) VALUES (?, ?, ?, ?)');
  const fresh = new Set<string>();
  for (const mark of write.marks) if (claim.run(write.workspaceId, write.messageId, mark, write.now).changes === 1) fresh.add(mark);
  const event = write.event(fresh);
  if (event !== null) insertEvent(db, event);
  return fresh;
}

/** Reads the ledger rows of the chunk's recipients in their longest window, decides, writes the allowed. Run inside a transaction. */
export function reserveSends(db: Database, reservation: SendReservation): Map<string, FrequencyVerdict> {
  const now = new Date(reservation.now);
  const history = new Map<string, LedgerRow[]>();
  const lookback = lookbackSeconds(reservation.requests);
  if (lookback > 0) {
    const pairs = [...new Map(reservation.requests.map((r) => [ledgerKey(r.workspaceId, r.recipient), [r.workspaceId, r.recipient]])).values()];
    const rows = prepared(
      db,
      `SELECT l.workspace_id, l.recipient, l.message_id, l.sent_at FROM json_each(?) AS p
       JOIN send_ledger l ON l.workspace_id = json_extract(p.value, '$[0]') AND l.recipient = json_extract(p.value, '$[1]') AND l.sent_at > ?`,
    ).all(JSON.stringify(pairs), new Date(now.getTime() - lookback * 1000).toISOString()) as {
      workspace_id: string;
      recipient: string;
      message_id: string;
      sent_at: string;
    }[];
    for (const row of rows) {
      const key = ledgerKey(row.workspace_id, row.recipient);
      const list = history.get(key) ?? [];
      list.push({ messageId: row.message_id, at: row.sent_at });
      history.set(key, list);
    }
  }
  const { verdicts, allowed } = decideFrequency(reservation.requests, history, now);
  const write = prepared(
    db,
    `INSERT INTO send_ledger (workspace_id, recipient, message_id, sent_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (workspace_id, recipient, message_id) DO UPDATE SET sent_at = excluded.sent_at`,
  );
  for (const request of allowed) write.run(request.workspaceId, request.recipient, request.messageId, reservation.now);
  return verdicts;
}

export function pruneSendLedger(db: Database, before: string): number {
  return prepared(db, 'DELETE FROM send_ledger WHERE sent_at < ?').run(before).changes;
}
