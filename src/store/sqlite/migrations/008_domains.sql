-- Sending domains and their DKIM keys (services/domains.ts).
--
-- A domain is `pending` until a DNS check finds its required records (DKIM at the active key's
-- selector, SPF, the return-path CNAME), then `verified`; mail is accepted only from verified
-- domains unless the process allows unverified ones. `last_check` keeps the last check's
-- per-record report (JSON) so reads show it without asking DNS again.
--
-- A domain has one `active` key (it signs), at most one `pending` key (a rotation published
-- beside the active one; verification or an explicit completion makes it active) and any number
-- of `retired` keys, which keep only their public half. Private keys are sealed with AES-256-GCM
-- under a key derived from the master key (`master_key_id` names which); never stored in clear.

CREATE TABLE domains (
  id              TEXT PRIMARY KEY,
  workspace_id    TEXT NOT NULL REFERENCES workspaces(id),
  name            TEXT NOT NULL,                -- lower-case A-label form, no trailing dot
  status          TEXT NOT NULL CHECK (status IN ('pending', 'verified')),
  verified_at     TEXT,
  last_checked_at TEXT,
  last_check      TEXT,                         -- JSON: the last check's report
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX domains_workspace_name ON domains (workspace_id, name);
CREATE INDEX domains_workspace ON domains (workspace_id, id);

CREATE TABLE domain_keys (
  id                     TEXT PRIMARY KEY,
  domain_id              TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  workspace_id           TEXT NOT NULL,
  selector               TEXT NOT NULL,
  algorithm              TEXT NOT NULL CHECK (algorithm IN ('rsa', 'ed25519')),
  public_key             TEXT NOT NULL,         -- base64, the p= value of the DKIM record
  state                  TEXT NOT NULL CHECK (state IN ('active', 'pending', 'retired')),
  -- AES-256-GCM, base64; NULL once retired.
  private_key_ciphertext TEXT,
  private_key_iv         TEXT,
  private_key_tag        TEXT,
  master_key_id          TEXT,
  created_at             TEXT NOT NULL,
  activated_at           TEXT,
  retired_at             TEXT,
  updated_at             TEXT NOT NULL
);
CREATE UNIQUE INDEX domain_keys_selector ON domain_keys (domain_id, selector);
CREATE UNIQUE INDEX domain_keys_one_active ON domain_keys (domain_id) WHERE state = 'active';
CREATE UNIQUE INDEX domain_keys_one_pending ON domain_keys (domain_id) WHERE state = 'pending';
-- The signers' refresh reads the active keys of verified domains.
CREATE INDEX domain_keys_state ON domain_keys (state, domain_id);
