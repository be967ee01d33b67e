/**
 * The one description of Herald's settings. Each setting is named once here, with its flag,
 * its `HERALD_*` environment variable, its type and its default; the CLI builds its options from
 * this table and `loadConfig` validates every source against it, so a setting cannot exist in
 * one place and not another.
 */
import { DEFAULT_SOFT_BOUNCE_LIMIT, DEFAULT_SOFT_BOUNCE_WINDOW_SECONDS } from '../core/feedback-policy.js';

export type SettingKind = 'string' | 'port' | 'int' | 'seconds' | 'bool' | 'role' | 'url' | 'list' | 'choice';

export interface Setting {
  /** Key in the resolved config object and in a config file. */
  key: keyof HeraldConfig;
  flag: string;
  env: string;
  kind: SettingKind;
  description: string;
  default: string | number | boolean | string[] | undefined;
  /** Smallest accepted value for numeric kinds; the shortest accepted length for `string`. */
  min?: number;
  /** The accepted values of a `choice` setting. */
  choices?: readonly string[];
}

export type DeliveryMode = 'auto' | 'capture' | 'relay' | 'mx';

export type Role = 'all' | 'api' | 'worker';

export interface HeraldConfig {
  data: string;
  host: string;
  httpPort: number;
  smtpPort: number;
  relay: string | undefined;
  databaseUrl: string | undefined;
  role: Role;
  publicUrl: string | undefined;
  logLevel: string;
  maxMessageAge: number;
  retryBase: number;
  retryMaxDelay: number;
  smtpMaxSize: number;
  smtpMaxRecipients: number;
  apiMaxRecipients: number;
  apiBodyLimit: number;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  rateLimit: number;
  leaseSeconds: number;
  claimChunk: number;
  deliveryConcurrency: number;
  pollInterval: number;
  shutdownTimeout: number;
  relayConnections: number;
  relayVerifyTls: boolean;
  smtpAllowInsecureAuth: boolean;
  deliver: DeliveryMode;
  dnsServers: string[] | undefined;
  mxPort: number;
  heloName: string | undefined;
  allowPrivateMx: boolean;
  batchMaxBytes: number;
  batchUploadTimeout: number;
  batchThreshold: number;
  dkimKey: string[] | undefined;
  dkimThreads: number;
  masterKey: string | undefined;
  allowUnverified: boolean;
  returnPathHost: string | undefined;
  webhookAllowlist: string[] | undefined;
  webhookDisableAfter: number;
  metricsToken: string | undefined;
  secretKey: string | undefined;
  unsubscribeFooter: boolean;
  tracking: string[] | undefined;
  frequencyCap: string | undefined;
  frequencyCapPolicy: 'defer' | 'drop';
  bounceDomain: string | undefined;
  bouncePort: number;
  softBounceLimit: number;
  softBounceWindow: number;
}

export const SETTINGS: readonly Setting[] = [
  { key: 'data', flag: '--data <dir>', env: 'HERALD_DATA', kind: 'string', default: './.herald', description: 'data directory (SQLite store, TLS material)' },
  { key: 'host', flag: '--host <addr>', env: 'HERALD_HOST', kind: 'string', default: '127.0.0.1', description: 'address the HTTP API and SMTP relay listen on' },
  { key: 'httpPort', flag: '--http-port <port>', env: 'HERALD_HTTP_PORT', kind: 'port', default: 8080, description: 'HTTP API port (0 picks a free one)' },
  { key: 'smtpPort', flag: '--smtp-port <port>', env: 'HERALD_SMTP_PORT', kind: 'port', default: 2525, description: 'SMTP relay port (0 picks a free one)' },
  { key: 'relay', flag: '--relay <url>', env: 'HERALD_RELAY', kind: 'url', default: undefined, description: 'deliver through this smart host (smtp://user:pass@host:port or smtps://…); default: capture to the outbox' },
  { key: 'databaseUrl', flag: '--database-url <url>', env: 'HERALD_DATABASE_URL', kind: 'url', default: undefined, description: 'PostgreSQL URL for scale-out; default: SQLite in the data directory' },
  { key: 'role', flag: '--role <role>', env: 'HERALD_ROLE', kind: 'role', default: 'all', description: 'all | api (HTTP + SMTP intake) | worker (delivery)' },
  { key: 'publicUrl', flag: '--public-url <url>', env: 'HERALD_PUBLIC_URL', kind: 'url', default: undefined, description: 'URL the world reaches the API at (links in mail, docs)' },
  { key: 'logLevel', flag: '--log-level <level>', env: 'HERALD_LOG_LEVEL', kind: 'string', default: 'info', description: 'fatal | error | warn | info | debug | trace | silent' },
  { key: 'maxMessageAge', flag: '--max-message-age <seconds>', env: 'HERALD_MAX_MESSAGE_AGE', kind: 'seconds', default: 86400, min: 1, description: 'a message not delivered this long after acceptance fails (accepts 30s, 15m, 24h, 3d)' },
  { key: 'retryBase', flag: '--retry-base <seconds>', env: 'HERALD_RETRY_BASE', kind: 'seconds', default: 60, min: 0, description: 'delay before the first retry of a deferred message' },
  { key: 'retryMaxDelay', flag: '--retry-max-delay <seconds>', env: 'HERALD_RETRY_MAX_DELAY', kind: 'seconds', default: 3600, min: 0, description: 'longest delay between two attempts' },
  { key: 'smtpMaxSize', flag: '--smtp-max-size <bytes>', env: 'HERALD_SMTP_MAX_SIZE', kind: 'int', default: 25 * 1024 * 1024, min: 1024, description: 'largest message the SMTP relay accepts' },
  { key: 'smtpMaxRecipients', flag: '--smtp-max-recipients <n>', env: 'HERALD_SMTP_MAX_RECIPIENTS', kind: 'int', default: 1000, min: 1, description: 'most recipients in one SMTP transaction' },
  { key: 'apiMaxRecipients', flag: '--api-max-recipients <n>', env: 'HERALD_API_MAX_RECIPIENTS', kind: 'int', default: 1000, min: 1, description: 'most recipients (to+cc+bcc) in one /v1/emails or SendEmail call' },
  { key: 'apiBodyLimit', flag: '--api-body-limit <bytes>', env: 'HERALD_API_BODY_LIMIT', kind: 'int', default: 40 * 1024 * 1024, min: 1024, description: 'largest JSON request body' },
  { key: 'tlsCert', flag: '--tls-cert <file>', env: 'HERALD_TLS_CERT', kind: 'string', default: undefined, description: 'PEM certificate for SMTP STARTTLS; default: a self-signed one in the data directory' },
  { key: 'tlsKey', flag: '--tls-key <file>', env: 'HERALD_TLS_KEY', kind: 'string', default: undefined, description: 'PEM private key for --tls-cert' },
  { key: 'rateLimit', flag: '--rate-limit <n>', env: 'HERALD_RATE_LIMIT', kind: 'int', default: 1000, min: 0, description: 'API requests per second per key (0: unlimited); bursts of twice that' },
  { key: 'leaseSeconds', flag: '--lease-seconds <seconds>', env: 'HERALD_LEASE_SECONDS', kind: 'seconds', default: 60, min: 1, description: 'how long a worker owns claimed messages before another may take them' },
  { key: 'claimChunk', flag: '--claim-chunk <n>', env: 'HERALD_CLAIM_CHUNK', kind: 'int', default: 500, min: 1, description: 'messages claimed (and outcomes recorded) per store transaction' },
  { key: 'deliveryConcurrency', flag: '--delivery-concurrency <n>', env: 'HERALD_DELIVERY_CONCURRENCY', kind: 'int', default: 128, min: 1, description: 'deliveries in flight at once per worker (pipelined over the relay connections)' },
  { key: 'relayConnections', flag: '--relay-connections <n>', env: 'HERALD_RELAY_CONNECTIONS', kind: 'int', default: 4, min: 1, description: 'open connections to the smart host' },
  { key: 'relayVerifyTls', flag: '--relay-verify-tls <bool>', env: 'HERALD_RELAY_VERIFY_TLS', kind: 'bool', default: true, description: "verify the smart host's TLS certificate" },
  { key: 'deliver', flag: '--deliver <mode>', env: 'HERALD_DELIVER', kind: 'choice', choices: ['auto', 'capture', 'relay', 'mx'], default: 'auto', description: 'capture (outbox) | relay (--relay smart host) | mx (direct to each domain\'s MX hosts, shaped per provider); auto: relay when --relay is set, else capture' },
  { key: 'dnsServers', flag: '--dns-servers <list>', env: 'HERALD_DNS_SERVERS', kind: 'list', default: undefined, description: 'DNS servers for MX lookups (ip or ip:port, comma-separated); default: the system resolver' },
  { key: 'mxPort', flag: '--mx-port <port>', env: 'HERALD_MX_PORT', kind: 'port', default: 25, description: 'SMTP port on MX hosts (25; other values only for tests)' },
  { key: 'heloName', flag: '--helo-name <host>', env: 'HERALD_HELO_NAME', kind: 'string', default: undefined, description: 'EHLO name for outgoing SMTP; default: this host name (should match its reverse DNS)' },
  { key: 'allowPrivateMx', flag: '--allow-private-mx <bool>', env: 'HERALD_ALLOW_PRIVATE_MX', kind: 'bool', default: false, description: 'deliver to MX hosts at loopback or private addresses (closed networks, tests)' },
  { key: 'batchMaxBytes', flag: '--batch-max-bytes <bytes>', env: 'HERALD_BATCH_MAX_BYTES', kind: 'int', default: 1024 * 1024 * 1024, min: 1024, description: 'largest batch submission (JSON, NDJSON or CSV upload)' },
  { key: 'batchUploadTimeout', flag: '--batch-upload-timeout <seconds>', env: 'HERALD_BATCH_UPLOAD_TIMEOUT', kind: 'seconds', default: 600, min: 1, description: 'a batch upload that makes no progress this long (its process died mid-upload) is deleted, never sent' },
  { key: 'batchThreshold', flag: '--batch-threshold <n>', env: 'HERALD_BATCH_THRESHOLD', kind: 'int', default: 100, min: 1, description: 'a /v1/emails, uSpeedo or SMTP submission with more recipients than this becomes a batch' },
  { key: 'dkimKey', flag: '--dkim-key <spec...>', env: 'HERALD_DKIM_KEY', kind: 'list', default: undefined, description: 'sign mail from a domain: domain:selector:/path/key.pem (RSA or Ed25519; repeat for dual signatures or a new selector)' },
  { key: 'dkimThreads', flag: '--dkim-threads <n>', env: 'HERALD_DKIM_THREADS', kind: 'int', default: 0, min: 0, description: 'worker threads that sign (0: one per core)' },
  { key: 'masterKey', flag: '--master-key <key>', env: 'HERALD_MASTER_KEY', kind: 'string', default: undefined, min: 32, description: 'key (at least 32 characters) that encrypts sending domains\' DKIM private keys at rest; default: a random one generated once into <data>/master.key. Give every process the same one, and back it up: keys sealed with a lost master key cannot sign' },
  { key: 'allowUnverified', flag: '--allow-unverified [bool]', env: 'HERALD_ALLOW_UNVERIFIED', kind: 'bool', default: false, description: 'accept mail from From domains that are not verified sending domains (development and tests; capture delivery always does)' },
  { key: 'returnPathHost', flag: '--return-path-host <host>', env: 'HERALD_RETURN_PATH_HOST', kind: 'string', default: undefined, description: 'host that sending domains\' bounces.<domain> records alias and their SPF includes; publish at it an MX to the bounce listener and an SPF record of Herald\'s sending addresses. Set (or --bounce-domain set): mail from verified domains leaves from bounces+<token>@bounces.<domain> (SPF-aligned) and the listener takes their bounces; default: --bounce-domain, else --helo-name, else the host of --public-url' },
  { key: 'webhookAllowlist', flag: '--webhook-allowlist <list>', env: 'HERALD_WEBHOOK_ALLOWLIST', kind: 'list', default: undefined, description: 'internal networks webhook endpoints may resolve to (CIDRs, comma-separated, e.g. 127.0.0.0/8,10.1.0.0/16); default: none, only public addresses' },
  { key: 'webhookDisableAfter', flag: '--webhook-disable-after <seconds>', env: 'HERALD_WEBHOOK_DISABLE_AFTER', kind: 'seconds', default: 3 * 86400, min: 1, description: 'disable a webhook endpoint whose deliveries have failed for this long (accepts 12h, 3d)' },
  { key: 'smtpAllowInsecureAuth', flag: '--smtp-allow-insecure-auth <bool>', env: 'HERALD_SMTP_ALLOW_INSECURE_AUTH', kind: 'bool', default: false, description: 'offer SMTP AUTH before STARTTLS (trusted networks only)' },
  { key: 'pollInterval', flag: '--poll-interval <seconds>', env: 'HERALD_POLL_INTERVAL', kind: 'seconds', default: 1, min: 0.01, description: 'how often an idle worker looks for due messages' },
  { key: 'metricsToken', flag: '--metrics-token <token>', env: 'HERALD_METRICS_TOKEN', kind: 'string', default: undefined, description: 'require Authorization: Bearer <token> at GET /metrics (default: open, for a scraper on a private network)' },
  { key: 'secretKey', flag: '--secret-key <key>', env: 'HERALD_SECRET_KEY', kind: 'string', default: undefined, min: 32, description: 'key (at least 32 characters) that signs unsubscribe links; default: a random one generated once into <data>/secret.key. Give every process the same one' },
  { key: 'tracking', flag: '--tracking <list>', env: 'HERALD_TRACKING', kind: 'list', default: undefined, description: 'track opens and/or clicks of html mail unless a request says otherwise: opens,clicks (needs --public-url); default: none, tracking is opt-in per request' },
  { key: 'frequencyCap', flag: '--frequency-cap <n/window>', env: 'HERALD_FREQUENCY_CAP', kind: 'string', default: undefined, description: 'at most N broadcast messages per recipient per window, e.g. 1/24h or 3/7d (a batch may set its own with frequency_cap); default: no cap' },
  { key: 'frequencyCapPolicy', flag: '--frequency-cap-policy <policy>', env: 'HERALD_FREQUENCY_CAP_POLICY', kind: 'choice', choices: ['defer', 'drop'], default: 'defer', description: 'what --frequency-cap does with a message over the cap: defer (send when the window opens) | drop (suppressed, reason frequency_capped)' },
  { key: 'unsubscribeFooter', flag: '--unsubscribe-footer <bool>', env: 'HERALD_UNSUBSCRIBE_FOOTER', kind: 'bool', default: true, description: 'append an unsubscribe footer to broadcast mail whose html shows no unsubscribe link' },
  { key: 'bounceDomain', flag: '--bounce-domain <domain>', env: 'HERALD_BOUNCE_DOMAIN', kind: 'string', default: undefined, description: 'domain whose MX points at Herald: messages are sent with a VERP return path bounces+<token>@<domain> (mail from verified sending domains: at bounces.<from domain>), and the bounce and feedback listener runs; default: none (no VERP, no listener, unless --return-path-host is set)' },
  { key: 'bouncePort', flag: '--bounce-port <port>', env: 'HERALD_BOUNCE_PORT', kind: 'port', default: 2526, description: 'port of the bounce and feedback listener, with --bounce-domain or --return-path-host (0 picks a free one; put port 25 of the MX host in front of it)' },
  { key: 'softBounceLimit', flag: '--soft-bounce-limit <n>', env: 'HERALD_SOFT_BOUNCE_LIMIT', kind: 'int', default: DEFAULT_SOFT_BOUNCE_LIMIT, min: 1, description: 'suppress an address after this many soft bounces within --soft-bounce-window' },
  { key: 'softBounceWindow', flag: '--soft-bounce-window <seconds>', env: 'HERALD_SOFT_BOUNCE_WINDOW', kind: 'seconds', default: DEFAULT_SOFT_BOUNCE_WINDOW_SECONDS, min: 1, description: 'the window soft bounces are counted in (accepts 12h, 7d)' },
  { key: 'shutdownTimeout', flag: '--shutdown-timeout <seconds>', env: 'HERALD_SHUTDOWN_TIMEOUT', kind: 'seconds', default: 30, min: 0, description: 'how long SIGTERM waits for in-flight work' },
];
