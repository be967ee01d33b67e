-- Sending domains and their DKIM keys on PostgreSQL: the same tables as SQLite's 008_domains.sql
-- (states and sealing explained there). Ids sort bytewise (COLLATE "C") so cursor paging is the
-- same on both backends.

CREATE TABLE domains (
  id              text COLLATE "C" PRIMARY KEY,
  workspace_id    text NOT NULL REFERENCES workspaces(id),
  name            text COLLATE "C" NOT NULL,
  status          text NOT NULL CHECK (status IN ('pending', 'verified')),
  verified_at     timestamptz,
  last_checked_at timestamptz,
  last_check      jsonb,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX domains_workspace_name ON domains (workspace_id, name);
CREATE INDEX domains_workspace ON domains (workspace_id, id);

CREATE TABLE domain_keys (
  id                     text COLLATE "C" PRIMARY KEY,
  domain_id              text COLLATE "C" NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  workspace_id           text NOT NULL,
  selector               text NOT NULL,
  algorithm              text NOT NULL CHECK (algorithm IN ('rsa', 'ed25519')),
  public_key             text NOT NULL,
  state                  text NOT NULL CHECK (state IN ('active', 'pending', 'retired')),
  private_key_ciphertext text,
  private_key_iv         text,
  private_key_tag        text,
  master_key_id          text,
  created_at             timestamptz NOT NULL,
  activated_at           timestamptz,
  retired_at             timestamptz,
  updated_at             timestamptz NOT NULL
);
CREATE UNIQUE INDEX domain_keys_selector ON domain_keys (domain_id, selector);
CREATE UNIQUE INDEX domain_keys_one_active ON domain_keys (domain_id) WHERE state = 'active';
CREATE UNIQUE INDEX domain_keys_one_pending ON domain_keys (domain_id) WHERE state = 'pending';
CREATE INDEX domain_keys_state ON domain_keys (state, domain_id);
