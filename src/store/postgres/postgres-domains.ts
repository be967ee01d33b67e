/**
 * Sending-domain queries on PostgreSQL, one function per query with the client passed in (the store
 * delegates to these and runs writes in a transaction). Every query of one workspace's data is
 * scoped by workspace_id; the signers' reads span workspaces on purpose.
 */
import type pg from 'pg';
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
import { iso, isoOrNull } from './postgres-rows.js';

type Queryable = Pick<pg.Pool, 'query'>;

interface DomainRow {
  id: string;
  workspace_id: string;
  name: string;
  status: DomainStatus;
  verified_at: Date | null;
  last_checked_at: Date | null;
  last_check: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
}

interface KeyRow {
  id: string;
  domain_id: string;
  selector: string;
  algorithm: DomainKeyAlgorithm;
  public_key: string;
  state: DomainKeyState;
  created_at: Date;
  activated_at: Date | null;
  retired_at: Date | null;
}

const KEY_COLUMNS = 'id, domain_id, selector, algorithm, public_key, state, created_at, activated_at, retired_at';
/** Active first, then pending, then retired ones newest first. */
const KEY_ORDER = "CASE state WHEN 'active' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, created_at DESC, id DESC";

/** The unique indexes of 008_domains.sql, as the port names their violations. */
const CONSTRAINTS: Readonly<Record<string, string>> = {
  domains_workspace_name: 'domains.name',
  domain_keys_one_pending: 'domain_keys.pending',
  domain_keys_selector: 'domain_keys.selector',
};

function uniqueViolation(error: unknown): UniqueViolation | null {
  if (!(error instanceof Error) || !('code' in error) || error.code !== '23505') return null;
  const constraint = 'constraint' in error ? String(error.constraint) : '';
  return new UniqueViolation(CONSTRAINTS[constraint] ?? constraint);
}

function toKey(row: KeyRow): DomainKey {
  return {
    id: row.id,
    domainId: row.domain_id,
    selector: row.selector,
    algorithm: row.algorithm,
    publicKey: row.public_key,
    state: row.state,
    createdAt: iso(row.created_at),
    activatedAt: isoOrNull(row.activated_at),
    retiredAt: isoOrNull(row.retired_at),
  };
}

function toDomain(row: DomainRow, keys: DomainKey[]): SendingDomain {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    status: row.status,
    verifiedAt: isoOrNull(row.verified_at),
    lastCheckedAt: isoOrNull(row.last_checked_at),
    lastCheck: row.last_check,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    keys,
  };
}

/** The domains of `rows` with their keys: one query for all of them. */
async function withKeys(client: Queryable, rows: DomainRow[]): Promise<SendingDomain[]> {
  if (rows.length === 0) return [];
  const keys = await client.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM domain_keys WHERE domain_id = ANY($1::text[]) ORDER BY ${KEY_ORDER}`, [
    rows.map((row) => row.id),
  ]);
  const byDomain = new Map<string, DomainKey[]>();
  for (const row of keys.rows) byDomain.set(row.domain_id, [...(byDomain.get(row.domain_id) ?? []), toKey(row)]);
  return rows.map((row) => toDomain(row, byDomain.get(row.id) ?? []));
}

async function insertKey(client: Queryable, key: NewDomainKey): Promise<void> {
  await client.query(
    `INSERT INTO domain_keys (id, domain_id, workspace_id, selector, algorithm, public_key, state, private_key_ciphertext, private_key_iv,
       private_key_tag, master_key_id, created_at, activated_at, retired_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $12)`,
    [
      key.id, key.domainId, key.workspaceId, key.selector, key.algorithm, key.publicKey, key.state, key.sealed.ciphertext, key.sealed.iv,
      key.sealed.tag, key.sealed.masterKeyId, key.createdAt, key.activatedAt, key.retiredAt,
    ],
  );
}

/** Run inside a transaction. */
export async function createDomain(client: Queryable, domain: Omit<SendingDomain, 'keys'>, key: NewDomainKey): Promise<void> {
  try {
    await client.query(
      `INSERT INTO domains (id, workspace_id, name, status, verified_at, last_checked_at, last_check, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        domain.id, domain.workspaceId, domain.name, domain.status, domain.verifiedAt, domain.lastCheckedAt,
        domain.lastCheck === null ? null : JSON.stringify(domain.lastCheck), domain.createdAt, domain.updatedAt,
      ],
    );
    await insertKey(client, key);
  } catch (error) {
    throw uniqueViolation(error) ?? error;
  }
}

export async function findDomain(client: Queryable, workspaceId: string, id: string): Promise<SendingDomain | null> {
  const { rows } = await client.query<DomainRow>('SELECT * FROM domains WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
  return (await withKeys(client, rows))[0] ?? null;
}

export async function findDomainByName(client: Queryable, workspaceId: string, name: string): Promise<SendingDomain | null> {
  const { rows } = await client.query<DomainRow>('SELECT * FROM domains WHERE workspace_id = $1 AND name = $2', [workspaceId, name]);
  return (await withKeys(client, rows))[0] ?? null;
}

export async function listDomains(client: Queryable, workspaceId: string, options: { before?: string; limit: number }): Promise<SendingDomain[]> {
  const { rows } = await client.query<DomainRow>(
    'SELECT * FROM domains WHERE workspace_id = $1 AND ($2::text IS NULL OR id < $2) ORDER BY id DESC LIMIT $3',
    [workspaceId, options.before ?? null, options.limit],
  );
  return withKeys(client, rows);
}

/** Run inside a transaction. */
export async function activateDomainKey(client: Queryable, workspaceId: string, domainId: string, keyId: string, now: string): Promise<boolean> {
  // Lock the domain's keys, so two activations of one domain run one after the other.
  const { rows } = await client.query<{ id: string; state: DomainKeyState }>(
    'SELECT id, state FROM domain_keys WHERE workspace_id = $1 AND domain_id = $2 FOR UPDATE',
    [workspaceId, domainId],
  );
  if (!rows.some((row) => row.id === keyId && row.state === 'pending')) return false;
  // Retire first: at most one active key per domain (a unique index holds it).
  await client.query(
    `UPDATE domain_keys SET state = 'retired', retired_at = $1, updated_at = $1,
       private_key_ciphertext = NULL, private_key_iv = NULL, private_key_tag = NULL, master_key_id = NULL
     WHERE domain_id = $2 AND state = 'active'`,
    [now, domainId],
  );
  await client.query("UPDATE domain_keys SET state = 'active', activated_at = $1, updated_at = $1 WHERE id = $2", [now, keyId]);
  await client.query('UPDATE domains SET updated_at = $1 WHERE id = $2', [now, domainId]);
  return true;
}

/** Run inside a transaction. */
export async function recordDomainCheck(client: Queryable, workspaceId: string, id: string, update: DomainCheckUpdate): Promise<SendingDomain | null> {
  const changed = await client.query(
    `UPDATE domains SET status = $1, verified_at = $2, last_checked_at = $3, last_check = $4, updated_at = $3
     WHERE workspace_id = $5 AND id = $6`,
    [update.status, update.verifiedAt, update.now, JSON.stringify(update.lastCheck), workspaceId, id],
  );
  if (changed.rowCount !== 1) return null;
  if (update.activateKeyId !== undefined) await activateDomainKey(client, workspaceId, id, update.activateKeyId, update.now);
  return findDomain(client, workspaceId, id);
}

/** Run inside a transaction. */
export async function addDomainKey(client: Queryable, key: NewDomainKey): Promise<void> {
  try {
    await insertKey(client, key);
  } catch (error) {
    throw uniqueViolation(error) ?? error;
  }
  await client.query('UPDATE domains SET updated_at = $1 WHERE workspace_id = $2 AND id = $3', [key.createdAt, key.workspaceId, key.domainId]);
}

export async function removePendingDomainKey(client: Queryable, workspaceId: string, domainId: string, keyId: string): Promise<boolean> {
  const result = await client.query("DELETE FROM domain_keys WHERE workspace_id = $1 AND domain_id = $2 AND id = $3 AND state = 'pending'", [
    workspaceId,
    domainId,
    keyId,
  ]);
  return result.rowCount === 1;
}

export async function deleteDomain(client: Queryable, workspaceId: string, id: string): Promise<boolean> {
  // Keys go with it (ON DELETE CASCADE).
  const result = await client.query('DELETE FROM domains WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
  return result.rowCount === 1;
}

export async function listSigningKeys(client: Queryable): Promise<SigningKeyRecord[]> {
  const { rows } = await client.query<{
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
  }>(
    `SELECT k.id, k.domain_id, k.workspace_id, d.name, k.selector, k.algorithm, k.private_key_ciphertext, k.private_key_iv,
       k.private_key_tag, k.master_key_id
     FROM domain_keys k JOIN domains d ON d.id = k.domain_id
     WHERE k.state = 'active' AND d.status = 'verified' AND k.private_key_ciphertext IS NOT NULL
     ORDER BY d.name, k.id`,
  );
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

export async function signingKeysVersion(client: Queryable): Promise<string> {
  const { rows } = await client.query<{ version: string }>(
    `SELECT concat_ws(':', (SELECT count(*) FROM domains), (SELECT max(updated_at) FROM domains),
       (SELECT count(*) FROM domain_keys), (SELECT max(updated_at) FROM domain_keys)) AS version`,
  );
  return rows[0]?.version ?? '';
}
