/**
 * `herald serve`: starts the roles this process plays (api: HTTP API + SMTP relay; worker:
 * delivery engine; all: both) over one store, prints where everything listens (and, on the very
 * first start, the admin key), and shuts down gracefully on SIGTERM/SIGINT: stop accepting, finish
 * in-flight SMTP transactions and deliveries, release leases, close the store.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildApp } from '../api/app.js';
import { API_VERSION } from '../version.js';
import { BatchGate } from '../engine/batch-gate.js';
import { BatchSupervisor } from '../engine/batch-supervisor.js';
import { Engine } from '../engine/engine.js';
import { WebhookDispatcher } from '../events/webhooks/dispatcher.js';
import { MessageSigner } from '../engine/message-signer.js';
import { composeKeySources, loadDkimKeys } from '../mime/dkim-keys.js';
import { DkimSignerPool } from '../mime/dkim-pool.js';
import { createLogger } from '../lib/logger.js';
import { MetricsRegistry } from '../lib/metrics.js';
import type { CreatedKey } from '../services/keys.js';
import { webhookBacklogGauge } from '../services/metrics.js';
import { sharedShapingBudget } from '../services/shaping.js';
import { IDEMPOTENCY_WINDOW_MS } from '../services/send.js';
import { bootstrap } from '../services/workspaces.js';
import { startRelayServer, type RelayServer } from '../smtp/relay-server.js';
import { loadTlsMaterial } from '../smtp/tls.js';
import { createTransport } from '../transports/select.js';
import { addSettingOptions, sourcesFrom } from './options.js';
import { openRuntime } from './runtime.js';
import { localApiUrl, setUpUnsubscribe } from './unsubscribe-setup.js';
import { setUpDomainKeys } from './domain-setup.js';
import { startBounceServer, type BounceServer } from '../smtp/bounce-server.js';
import type { FeedbackSettings } from '../services/feedback.js';
import { frequencyCapOf, sendLedgerHorizon, trackingLinksOf } from './tracking-setup.js';

function banner(lines: { api?: string; smtp?: string; bounces?: string; store: string; delivery?: string; admin: CreatedKey | null }): string {
  const out = [`Herald ${API_VERSION} is running (pid ${process.pid})`];
  if (lines.api) out.push(`  API       ${lines.api}`, `  Docs      ${lines.api}/docs   (OpenAPI: ${lines.api}/openapi.json)`);
  if (lines.smtp) out.push(`  SMTP      ${lines.smtp}`);
  if (lines.bounces) out.push(`  Bounces   ${lines.bounces}`);
  out.push(`  Store     ${lines.store}`);
  if (lines.delivery) out.push(`  Delivery  ${lines.delivery}`);
  if (lines.admin) {
    out.push(
      '',
      'First start: created workspace "default" and an admin API key. The secret is shown only once:',
      `  Key id:     ${lines.admin.key.id}`,
      `  Key secret: ${lines.admin.secret}`,
      `  Try: curl -H "Authorization: Bearer ${lines.admin.secret}" ${lines.api ?? 'http://HOST:PORT'}/v1/messages`,
    );
  }
  return out.join('\n');
}

export function registerServe(program: Command): void {
  addSettingOptions(program.command('serve').description('run Herald: HTTP API, SMTP relay and delivery engine')).action(
    async (options: Record<string, unknown>) => {
      const runtime = await openRuntime(sourcesFrom(options));
      const { config, deps } = runtime;
      const logger = createLogger(config.logLevel);
      // One registry for the process: the engine records into it, GET /metrics renders it.
      const metrics = new MetricsRegistry();
      const admin = await bootstrap(deps);
      const unsubscribe = setUpUnsubscribe(config, logger);
      // Herald takes bounces back when it was told where they arrive: the bounce domain, or the
      // return-path host that sending domains' `bounces.<domain>` records alias (its MX is the listener).
      const receivesBounces = config.bounceDomain !== undefined || config.returnPathHost !== undefined;
      const domainKeys = await setUpDomainKeys(config, deps, logger, {
        delivery: config.role === 'all' || config.role === 'worker',
        returnPaths: receivesBounces && config.role !== 'worker',
      });
      // Bounces, complaints and provider webhooks close the loop into the suppression list.
      const feedback: FeedbackSettings = {
        key: unsubscribe.settings.key,
        bounceDomain: config.bounceDomain ?? null,
        returnPathDomains: receivesBounces ? domainKeys.keys : null,
        softBounceLimit: config.softBounceLimit,
        softBounceWindowSeconds: config.softBounceWindow,
      };
      // Signal handlers go in before anything listens: a SIGTERM that arrives while starting (or
      // the instant the banner is out) must stop Herald gracefully, not kill it mid-write.
      let started = false;
      let requested: string | null = null;
      let stopping = false;
      const shutdown = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down');
        const timeoutMs = config.shutdownTimeout * 1000;
        clearInterval(pruner);
        domainKeys.stop();
        for (const stop of stopListening) stop();
        await Promise.allSettled([app?.close(), relay?.close(timeoutMs), bounces?.close(timeoutMs)]);
        await supervisor?.stop();
        await engine?.stop(timeoutMs);
        await webhooks?.stop(timeoutMs);
        await runtime.close();
        logger.info('stopped');
      };
      const onSignal = (signal: string) => {
        if (started) void shutdown(signal);
        else requested ??= signal;
      };
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      process.once('SIGINT', () => onSignal('SIGINT'));
      const intake = config.role === 'all' || config.role === 'api';
      const delivery = config.role === 'all' || config.role === 'worker';

      const stopListening: (() => void)[] = [];
      let engine: Engine | null = null;
      let supervisor: BatchSupervisor | null = null;
      let webhooks: WebhookDispatcher | null = null;
      // Shaping budgets are shared through the store, so several workers keep one provider limit.
      const way = delivery ? createTransport(config, { shared: sharedShapingBudget(deps.store) }) : null;
      const signingPool = () => new DkimSignerPool(config.dkimThreads > 0 ? { threads: config.dkimThreads } : {});
      if (delivery && way) {
        engine = new Engine({
          store: deps.store,
          transport: way.transport,
          clock: deps.clock,
          ids: deps.ids,
          retry: deps.retry,
          logger: logger.child({ component: 'engine' }),
          owner: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
          leaseSeconds: config.leaseSeconds,
          claimChunk: config.claimChunk,
          concurrency: config.deliveryConcurrency,
          pollIntervalSeconds: config.pollInterval,
          batches: new BatchGate(deps.store),
          metrics,
          unsubscribe: unsubscribe.links,
          ...(receivesBounces ? { returnPath: { key: unsubscribe.settings.key, domain: config.bounceDomain, domains: domainKeys.keys } } : {}),
          tracking: trackingLinksOf(config, unsubscribe.settings.key),
          frequencyCap: frequencyCapOf(config),
          // Bounces in SMTP replies count toward the same limit as reported ones.
          softBounces: { limit: feedback.softBounceLimit, windowSeconds: feedback.softBounceWindowSeconds },
          // Configured keys (--dkim-key) and verified sending domains' keys sign side by side. Without
          // configured keys the signing threads start with the first message that has a key. Where
          // From domains are checked, mail whose domain was deleted (or fell back to pending) after
          // acceptance fails instead of leaving unsigned.
          signer: new MessageSigner(
            config.dkimKey && config.dkimKey.length > 0 ? signingPool() : signingPool,
            composeKeySources(loadDkimKeys(config.dkimKey ?? []), ...(domainKeys.keys ? [domainKeys.keys] : [])),
            { senders: deps.domains?.allowUnverified === true ? null : domainKeys.keys },
          ),
        });
        const running = engine;
        deps.wake = () => running.wake();
        // Mail accepted by any process (an API node, another worker's batch start) wakes this one.
        stopListening.push(deps.store.listen('due', () => running.wake()));
        engine.start();
        supervisor = new BatchSupervisor({
          store: deps.store,
          ids: deps.ids,
          clock: deps.clock,
          logger: logger.child({ component: 'batches' }),
          staleAfterMs: config.batchUploadTimeout * 1000,
          ...(config.publicUrl !== undefined ? { publicUrl: config.publicUrl } : {}),
        });
        supervisor.start();
        webhooks = new WebhookDispatcher({
          store: deps.store,
          ids: deps.ids,
          clock: deps.clock,
          logger: logger.child({ component: 'webhooks' }),
          owner: `${hostname()}:${process.pid}:webhooks:${randomBytes(3).toString('hex')}`,
          allowlist: config.webhookAllowlist ?? [],
          disableAfterSeconds: config.webhookDisableAfter,
          backlog: webhookBacklogGauge(metrics),
        });
        const dispatcher = webhooks;
        stopListening.push(deps.store.listen('events', () => dispatcher.wake()));
        webhooks.start();
      }

      let relay: RelayServer | null = null;
      let bounces: BounceServer | null = null;
      let apiUrl: string | undefined;
      const app = intake
        ? await buildApp({
            deps,
            logger,
            bodyLimit: config.apiBodyLimit,
            rateLimit: config.rateLimit,
            publicUrl: config.publicUrl,
            shaping: way?.shaper ?? null,
            batchMaxBytes: config.batchMaxBytes,
            metrics,
            metricsToken: config.metricsToken,
            unsubscribe: unsubscribe.settings,
            feedback,
            tracking: { key: unsubscribe.settings.key },
          })
        : null;
      let tlsNote = '';
      if (app) {
        const tls = loadTlsMaterial({
          dataDir: config.data,
          ...(config.tlsCert !== undefined ? { certFile: config.tlsCert } : {}),
          ...(config.tlsKey !== undefined ? { keyFile: config.tlsKey } : {}),
        });
        tlsNote = tls.selfSigned ? 'STARTTLS, self-signed certificate' : 'STARTTLS';
        relay = await startRelayServer({
          deps,
          host: config.host,
          port: config.smtpPort,
          maxSize: config.smtpMaxSize,
          maxRecipients: config.smtpMaxRecipients,
          tls,
          allowInsecureAuth: config.smtpAllowInsecureAuth,
          logger: logger.child({ component: 'smtp' }),
        });
        if (receivesBounces) {
          bounces = await startBounceServer({
            deps,
            settings: feedback,
            host: config.host,
            port: config.bouncePort,
            tls,
            logger: logger.child({ component: 'bounces' }),
          });
        }
        await app.listen({ host: config.host, port: config.httpPort });
        const address = app.server.address();
        const port = typeof address === 'object' && address ? address.port : config.httpPort;
        apiUrl = localApiUrl(config.host, port);
        unsubscribe.listening(apiUrl);
      }

      const pruner = setInterval(() => {
        deps.store.pruneIdempotency(new Date(Date.now() - IDEMPOTENCY_WINDOW_MS).toISOString()).catch((error: unknown) =>
          logger.warn({ err: error }, 'pruning idempotency records failed'),
        );
        deps.store.pruneSendLedger(sendLedgerHorizon(new Date())).catch((error: unknown) =>
          logger.warn({ err: error }, 'pruning the send ledger failed'),
        );
      }, 3600_000);
      pruner.unref();

      console.log(
        banner({
          ...(apiUrl ? { api: apiUrl } : {}),
          ...(relay ? { smtp: `${config.host}:${relay.port} (${tlsNote}; AUTH with key id / secret)` } : {}),
          ...(bounces
            ? { bounces: `${config.host}:${bounces.port} (mail for ${[config.bounceDomain, 'bounces.<verified domain>'].filter(Boolean).join(', ')}: VERP bounces, unsubscribe${config.bounceDomain ? ', fbl@' : ''})` }
            : {}),
          store: config.databaseUrl ? 'postgresql' : `sqlite ${join(config.data, 'herald.db')}`,
          ...(way ? { delivery: way.description } : {}),
          admin,
        }),
      );
      logger.info({ role: config.role, api: apiUrl, smtpPort: relay?.port, bouncePort: bounces?.port }, 'herald started');

      started = true;
      if (requested) void shutdown(requested);
    },
  );
}
