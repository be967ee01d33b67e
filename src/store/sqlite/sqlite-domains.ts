/**
 * Sending-domain queries on SQLite, one function per query with the database passed in (the store
 * delegates to these and runs writes in an IMMEDIATE transaction). Every query of one workspace's
 * data is scoped by workspace_id; the signers' reads span workspaces on purpose.
 */
import type { Database } from 'better-sqlite3';
import {
  UniqueViolation,
  type DomainCheckUpdate,
  type DomainKey,
  type DomainKeyAlgorithm,
  type DomainKeyState,
  type DomainStatus,
  type NewDomainKey,
  type SendingDomain,
  type SigningKeyRecord,
} from '../store.js';
import { prepared } from './sqlite-statements.js';

interface DomainRow {
  id: string;
  workspace_id: string;
  name: string;
  status: DomainStatus;
  verified_at: string | null;
  last_checked_at: string | null;
  last_check: string | null;
  created_at: string;
  updated_at: string;
}

interface KeyRow {
  id: string;
  domain_id: string;
  selector: string;
  algorithm: DomainKeyAlgorithm;
  public_key: string;
  state: DomainKeyState;
  created_at: string;
  activated_at: string | null;
  retired_at: string | null;
}

const KEY_COLUMNS = 'id, domain_id, selector, algorithm, public_key, state, created_at, activated_at, retired_at';
/** Active first, then pending, then retired ones newest first. */
const KEY_ORDER = "CASE state WHEN 'active' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, created_at DESC, id DESC";

function toKey(row: KeyRow): DomainKey {
  return {
    id: row.id,
    domainId: row.domain_id,
    selector: row.selector,
    algorithm: row.algorithm,
    publicKey: row.public_key,
    state: row.state,
    createdAt: row.created_at,
    activatedAt: row.activated_at,
    retiredAt: row.retired_at,
  };
}

function toDomain(row: DomainRow, keys: DomainKey[]): SendingDomain {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    status: row.status,
    verifiedAt: row.verified_at,
    lastCheckedAt: row.last_checked_at,
    lastCheck: row.last_check === null ? null : (JSON.parse(row.last_check) as Record<string, unknown>),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    keys,
  };
}

/** The domains of `rows` with their keys: one query for all of them. */
function withKeys(db: Database, rows: DomainRow[]): SendingDomain[] {
  if (rows.length === 0) return [];
  const keyRows = prepared(
    db,
    `SELECT ${KEY_COLUMNS} FROM domain_keys WHERE domain_id IN (SELECT value FROM json_each(?)) ORDER BY ${KEY_ORDER}`,
  ).all(JSON.stringify(rows.map((row) => row.id))) as KeyRow[];
  const byDomain = new Map<string, DomainKey[]>();
  for (const row of keyRows) byDomain.set(row.domain_id, [...(byDomain.get(row.domain_id) ?? []), toKey(row)]);
  return rows.map((row) => toDomain(row, byDomain.get(row.id) ?? []));
}

function insertKey(db: Database, key: NewDomainKey): void {
  prepared(
    db,
    `INSERT INTO domain_keys (id, domain_id, workspace_id, selector, algorithm, public_key, state, private_key_ciphertext, private_key_iv,
       private_key_tag, master_key_id, created_at, activated_at, retired_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    key.id, key.domainId, key.workspaceId, key.selector, key.algorithm, key.publicKey, key.state, key.sealed.ciphertext, key.sealed.iv,
    key.sealed.tag, key.sealed.masterKeyId, key.createdAt, key.activatedAt, key.retiredAt, key.createdAt,
  );
}

/** Run inside a transaction. */
export function createDomain(db: Database, domain: Omit<SendingDomain, 'keys'>, key: NewDomainKey): void {
  const taken = prepared(db, 'SELECT 1 FROM domains WHERE workspace_id = ? AND name = ?').get(domain.workspaceId, domain.name);
  if (taken) throw new UniqueViolation('domains.name');
  prepared(
    db,
    `INSERT INTO domains (id, workspace_id, name, status, verified_at, last_checked_at, last_check, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    domain.id, domain.workspaceId, domain.name, domain.status, domain.verifiedAt, domain.lastCheckedAt,
    domain.lastCheck === null ? null : JSON.stringify(domain.lastCheck), domain.createdAt, domain.updatedAt,
  );
  insertKey(db, key);
}

export function findDomain(db: Database, workspaceId: string, id: string): SendingDomain | null {
  const row = prepared(db, 'SELECT * FROM domains WHERE workspace_id = ? AND id = ?').get(workspaceId, id) as DomainRow | undefined;
  return row ? (withKeys(db, [row])[0] ?? null) : null;
}

export function findDomainByName(db: Database, workspaceId: string, name: string): SendingDomain | null {
  const row = prepared(db, 'SELECT * FROM domains WHERE workspace_id = ? AND name = ?').get(workspaceId, name) as DomainRow | undefined;
  return row ? (withKeys(db, [row])[0] ?? null) : null;
}

export function listDomains(db: Database, workspaceId: string, options: { before?: string; limit: number }): SendingDomain[] {
  const rows = prepared(
    db,
    `SELECT * FROM domains WHERE workspace_id = @workspaceId AND (@before IS NULL OR id < @before) ORDER BY id DESC LIMIT @limit`,
  ).all({ workspaceId, before: options.before ?? null, limit: options.limit }) as DomainRow[];
  return withKeys(db, rows);
}

/** Run inside a transaction. */
export function activateDomainKey(db: Database, workspaceId: string, domainId: string, keyId: string, now: string): boolean {
  const pending = prepared(db, "SELECT 1 FROM domain_keys WHERE workspace_id = ? AND domain_id = ? AND id = ? AND state = 'pending'").get(
    workspaceId,
    domainId,
    keyId,
  );
  if (!pending) return false;
  // Retire first: at most one active key per domain (a unique index holds it).
  prepared(
    db,
    `UPDATE domain_keys SET state = 'retired', retired_at = ?, updated_at = ?,
       private_key_ciphertext = NULL, private_key_iv = NULL, private_key_tag = NULL, master_key_id = NULL
     WHERE domain_id = ? AND state = 'active'`,
  ).run(now, now, domainId);
  prepared(db, "UPDATE domain_keys SET state = 'active', activated_at = ?, updated_at = ? WHERE id = ?").run(now, now, keyId);
  prepared(db, 'UPDATE domains SET updated_at = ? WHERE id = ?').run(now, domainId);
  return true;
}

/** Run inside a transaction. */
export function recordDomainCheck(db: Database, workspaceId: string, id: string, update: DomainCheckUpdate): SendingDomain | null {
  const changed = prepared(
    db,
    `UPDATE domains SET status = ?, verified_at = ?, last_checked_at = ?, last_check = ?, updated_at = ?
     WHERE workspace_id = ? AND id = ?`,
  ).run(update.status, update.verifiedAt, update.now, JSON.stringify(update.lastCheck), update.now, workspaceId, id).changes;
  if (changed !== 1) return null;
  if (update.activateKeyId !== undefined) activateDomainKey(db, workspaceId, id, update.activateKeyId, update.now);
  return findDomain(db, workspaceId, id);
}

/** Run inside a transaction. */
export function addDomainKey(db: Database, key: NewDomainKey): void {
  const pending = prepared(db, "SELECT 1 FROM domain_keys WHERE domain_id = ? AND state = 'pending'").get(key.domainId);
  if (pending) throw new UniqueViolation('domain_keys.pending');
  const taken = prepared(db, 'SELECT 1 FROM domain_keys WHERE domain_id = ? AND selector = ?').get(key.domainId, key.selector);
  if (taken) throw new UniqueViolation('domain_keys.selector');
  insertKey(db, key);
  prepared(db, 'UPDATE domains SET updated_at = ? WHERE workspace_id = ? AND id = ?').run(key.createdAt, key.workspaceId, key.domainId);
}

export function removePendingDomainKey(db: Database, workspaceId: string, domainId: string, keyId: string): boolean {
  return (
    prepared(db, "DELETE FROM domain_keys WHERE workspace_id = ? AND domain_id = ? AND id = ? AND state = 'pending'").run(workspaceId, domainId, keyId)
      .changes === 1
  );
}

export function deleteDomain(db: Database, workspaceId: string, id: string): boolean {
  // Keys go with it (ON DELETE CASCADE).
  return prepared(db, 'DELETE FROM domains WHERE workspace_id = ? AND id = ?').run(workspaceId, id).changes === 1;
}

export function listSigningKeys(db: Database): SigningKeyRecord[] {
  const rows = prepared(
    db,
    `SELECT k.id, k.domain_id, k.workspace_id, d.name, k.selector, k.algorithm, k.private_key_ciphertext, k.private_key_iv,
       k.private_key_tag, k.master_key_id
     FROM domain_keys k JOIN domains d ON d.id = k.domain_id
     WHERE k.state = 'active' AND d.status = 'verified' AND k.private_key_ciphertext IS NOT NULL
     ORDER BY d.name, k.id`,
  ).all() as {
    id: string;
    domain_id: string;
    workspace_id: string;
    name: string;
    selector: string;
    algorithm: DomainKeyAlgorithm;
    private_key_ciphertext: string;
    private_key_iv: string;
    private_key_tag: string;
    master_key_id: string;
  }[];
  return rows.map((row) => ({
    keyId: row.id,
    domainId: row.domain_id,
    workspaceId: row.workspace_id,
    domain: row.name,
    selector: row.selector,
    algorithm: row.algorithm,
    sealed: { ciphertext: row.private_key_ciphertext, iv: row.private_key_iv, tag: row.private_key_tag, masterKeyId: row.master_key_id },
  }));
}

export function signingKeysVersion(db: Database): string {
  const domains = prepared(db, 'SELECT count(*) AS n, max(updated_at) AS at FROM domains').get() as { n: number; at: string | null };
  const keys = prepared(db, 'SELECT count(*) AS n, max(updated_at) AS at FROM domain_keys').get() as { n: number; at: string | null };
  return `${domains.n}:${domains.at ?? ''}:${keys.n}:${keys.at ?? ''}`;
}
