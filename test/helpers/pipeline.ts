/**
 * The delivering half of Herald in-process for tests: the engine with its batch gate and the
 * batch supervisor, over a test context's store, with short intervals so tests run fast.
 */
import { BatchGate } from '../../src/engine/batch-gate.js';
import { BatchSupervisor } from '../../src/engine/batch-supervisor.js';
import { Engine } from '../../src/engine/engine.js';
import { createLogger } from '../../src/lib/logger.js';
import type { MetricsRegistry } from '../../src/lib/metrics.js';
import type { MessageSigner } from '../../src/engine/message-signer.js';
import type { UnsubscribeLinkSettings } from '../../src/tracking/unsubscribe-links.js';
import type { ReturnPathSettings } from '../../src/engine/message-builder.js';
import type { TrackingLinkSettings } from '../../src/tracking/tracking-links.js';
import type { FrequencyCap } from '../../src/core/frequency-cap.js';
import { CaptureTransport } from '../../src/transports/capture.js';
import type { Transport } from '../../src/transports/transport.js';
import type { TestContext } from './harness.js';

export interface Pipeline {
  engine: Engine;
  supervisor: BatchSupervisor;
  stop: () => Promise<void>;
}

export interface PipelineOptions {
  transport?: Transport;
  concurrency?: number;
  chunk?: number;
  metrics?: MetricsRegistry;
  signer?: MessageSigner;
  unsubscribe?: UnsubscribeLinkSettings;
  returnPath?: ReturnPathSettings;
  tracking?: TrackingLinkSettings;
  frequencyCap?: FrequencyCap | null;
}

export function startPipeline(ctx: TestContext, options: PipelineOptions = {}): Pipeline {
  const logger = createLogger('silent');
  const engine = new Engine({
    store: ctx.store,
    transport: options.transport ?? new CaptureTransport(),
    clock: ctx.deps.clock,
    ids: ctx.deps.ids,
    retry: ctx.deps.retry,
    logger,
    owner: `test-${Math.random().toString(36).slice(2)}`,
    leaseSeconds: 30,
    claimChunk: options.chunk ?? 50,
    concurrency: options.concurrency ?? 16,
    pollIntervalSeconds: 0.05,
    batches: new BatchGate(ctx.store, Date.now, 50),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.signer ? { signer: options.signer } : {}),
    ...(options.unsubscribe ? { unsubscribe: options.unsubscribe } : {}),
    ...(options.returnPath ? { returnPath: options.returnPath } : {}),
    ...(options.tracking ? { tracking: options.tracking } : {}),
    ...(options.frequencyCap ? { frequencyCap: options.frequencyCap } : {}),
  });
  const supervisor = new BatchSupervisor({ store: ctx.store, ids: ctx.deps.ids, clock: ctx.deps.clock, logger, intervalMs: 50, progressIntervalMs: 200 });
  ctx.deps.wake = () => engine.wake();
  engine.start();
  supervisor.start();
  return {
    engine,
    supervisor,
    stop: async () => {
      await supervisor.stop();
      await engine.stop(2000);
    },
  };
}
