/**
 * Reconciliation on an interval: on the one replica holding the store's `reconcile` hold, each pass asks LiveKit
 * what is live (pass.ts), ingests the synthetic events it concludes through the same ingest as webhooks, then
 * watches for silence (silence.ts). Passes never overlap: the next is scheduled when one is over. A replica that
 * does not hold the hold asks for it at each interval, so it takes over within one interval of the holder's death.
 */
import type { LiveKitApi } from '../../livekit/api.ts';
import type { LiveKitEvent } from '../../livekit/event-types.ts';
import { OWN_API_KEY, type Leadership } from '../../store/live-picture.ts';
import type { Store } from '../../store/store.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { context } from '../../telemetry/spans.ts';
import type { IngestResult, Ingestion } from '../ingest/ingestion.ts';
import { FIRST_PASS, type ReconcileLimits, type ReconcileState } from './decide.ts';
import { reconcilePass } from './pass.ts';
import { NOT_SILENT, watchSilence, type SilenceWatch } from './silence.ts';

/** The hold one replica takes to reconcile. */
export const RECONCILE_HOLD = 'switchboard.reconcile';

export interface ReconcileLoopOptions {
  api: LiveKitApi;
  store: Store;
  ingest: Ingestion['ingest'];
  intervalMs: number;
  /** SILENCE_ALERT; 0 turns the watch off. */
  silenceAlertMs: number;
  log: Logger;
  limits?: ReconcileLimits;
}

export interface ReconcileLoop {
  /** The first pass comes one interval after the start. */
  start(): void;
  /** One pass now (if this replica leads), as the interval would run it; resolves when it is over. */
  runOnce(): Promise<void>;
  /** Waits for a pass under way, then gives the hold back. */
  stop(): Promise<void>;
}

export function createReconcileLoop(options: ReconcileLoopOptions): ReconcileLoop {
  const { api, store, log } = options;
  let leadership: Leadership | null = null;
  let state: ReconcileState = FIRST_PASS;
  let watch: SilenceWatch = NOT_SILENT;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  async function lead(): Promise<boolean> {
    if (leadership !== null) {
      if (await leadership.held()) return true;
      log.warn('reconcile: lost the hold (its connection broke); asking for it again at the next interval');
      await leadership.release();
      leadership = null;
    }
    leadership = await store.tryLead(RECONCILE_HOLD);
    if (leadership === null) return false;
    // What an earlier leader observed is not ours to trust: start afresh.
    state = FIRST_PASS;
    watch = NOT_SILENT;
    log.info('reconcile: this replica reconciles');
    return true;
  }

  function ingest(event: LiveKitEvent, at: Date): Promise<IngestResult> {
    return options.ingest({ body: Buffer.from(JSON.stringify(event)), event, apiKey: OWN_API_KEY, receivedAt: at }, context.active());
  }

  async function pass(): Promise<void> {
    if (!(await lead())) return;
    const at = new Date();
    const outcome = await reconcilePass(api, store, state, { at, ...(options.limits && { limits: options.limits }) });
    for (const { method, error } of outcome.failures) {
      log.warn({ method, err: error }, 'reconcile: a call to LiveKit failed; the pass decides without its answer');
    }
    for (const event of outcome.events) {
      const result = await ingest(event, at);
      log.info({ event_id: result.event_id, event: event.event, duplicate: result.duplicate, room: event.room?.name }, 'reconcile: synthetic event');
    }
    state = outcome.state;
    if (options.silenceAlertMs > 0) await watchForSilence();
  }

  async function watchForSilence(): Promise<void> {
    const [{ roomsLive }, lastWebhookAt] = await Promise.all([store.pictureCounts(), store.lastWebhookAt()]);
    const now = new Date();
    const next = watchSilence(watch, { now, lastWebhookAt: lastWebhookAt ?? undefined, roomsLive, silenceAlertMs: options.silenceAlertMs });
    if (next.event !== undefined) {
      await ingest(next.event, now);
      log.warn({ event: next.event.event, rooms_live: roomsLive }, 'reconcile: webhooks silence');
    }
    watch = next.watch;
  }

  async function runOnce(): Promise<void> {
    if (running) return running;
    running = pass()
      .catch((error: unknown) => log.error({ err: error }, 'reconcile: the pass failed; the next interval tries again'))
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => void runOnce().then(schedule), options.intervalMs);
    timer.unref();
  }

  return {
    start() {
      schedule();
    },
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await leadership?.release();
      leadership = null;
    },
  };
}
