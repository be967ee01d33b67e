/**
 * Appending to the event log on SQLite: shared by every write that reports what it did. Each
 * insert also counts the event in the stats rollups (sqlite-rollups.ts), in the same transaction.
 */
import type { Database } from 'better-sqlite3';
import type { AuditEntry, NewEvent } from '../store.js';
import { rollUpEvent } from './sqlite-rollups.js';
import { raiseForEvent } from './sqlite-signals.js';
import { prepared } from './sqlite-statements.js';

export function insertEvent(db: Database, event: NewEvent): void {
  prepared(
    db,
    `INSERT INTO events (id, workspace_id, type, message_id, batch_id, recipient, data, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(event.id, event.workspaceId, event.type, event.messageId, event.batchId, event.recipient, JSON.stringify(event.data), event.createdAt);
  rollUpEvent(db, event);
  raiseForEvent(db, event.type);
}

export function insertAudit(db: Database, entry: AuditEntry): void {
  prepared(
    db,
    'INSERT INTO audit_log (id, workspace_id, key_id, action, resource, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  ).run(entry.id, entry.workspaceId, entry.keyId, entry.action, entry.resource, JSON.stringify(entry.detail), entry.createdAt);
}
