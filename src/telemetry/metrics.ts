/**
 * Prometheus metrics on a registry of Switchboard's own (with Node's default process metrics), served at
 * `GET /metrics`. Counters and histograms move as work happens; the queue and circuit gauges are read from their
 * sources when scraped, so they are as fresh as the scrape and cost nothing in between.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from './logger.ts';
import type { ActionMode } from '../plugins/contract.ts';
import type { RulesStatus } from '../engine/rules-holder.ts';

interface MetricSources {
  /** Deliveries by state, across every process sharing the store. */
  deliveryCounts(): Promise<Record<string, number>>;
  /** When the delivery that has waited longest past its due time became due; null when none is due. */
  oldestDueAt(now: Date): Promise<Date | null>;
  /** When the oldest event kept was received; null when none is (absent: the gauge is not exported). */
  oldestEventAt?(): Promise<Date | null>;
  /** Each target's circuit in this process, with the attempts it admitted (its traffic). */
  circuits(): TargetCircuit[];
  /** Each target's stored on/off switch (all processes sharing the store). */
  targetSwitches(): Promise<Array<{ target: string; disabled: boolean }>>;
  /** The rules' loads: how many by outcome, when the last one that succeeded ran. */
  rulesStatus(): Pick<RulesStatus, 'loads' | 'lastSuccess'>;
  /** Rooms live and participants present in them, as the store's live picture has them. */
  pictureCounts?(): Promise<{ roomsLive: number; participantsPresent: number }>;
  log: Logger;
}

export interface Metrics {
  /** One webhook request answered: `outcome` is accepted, duplicate, or the errcode of the answer. */
  webhook(event: string | undefined, outcome: string, seconds: number): void;
  verificationFailed(reason: string): void;
  ruleMatched(rule: string): void;
  /** An action run inline (succeeded, failed) or queued (queued, or failed when its params did not render). */
  action(rule: string, plugin: string, mode: ActionMode, outcome: string): void;
  /**
   * One delivery attempt finished: outcome is the state it left the delivery in. `target` is not a label here (see
   * TARGET_SERIES_LIMIT); the per-minute rollup keeps latency by target.
   */
  attempt(rule: string, plugin: string, outcome: string, seconds: number, target: string): void;
  deadLetter(rule: string, plugin: string): void;
  /** One call to LiveKit's server API finished: outcome is ok, timeout, unreachable, or LiveKit's error code. */
  liveKitApiCall(method: string, outcome: string): void;
  /** Rows the pruner removed from `table` (retention). */
  pruned(table: string, rows: number): void;
  /** A pruning run finished. */
  pruneRan(at: Date): void;
  readonly contentType: string;
  /** The Prometheus text exposition of every metric. */
  render(): Promise<string>;
}

/** A webhook that never got as far as a verified event name. */
const UNKNOWN_EVENT = 'unknown';

const CIRCUIT_VALUES = { closed: 0, 'half-open': 1, open: 2 } as const;

export interface TargetCircuit {
  target: string;
  circuit: keyof typeof CIRCUIT_VALUES;
  admitted: number;
}

/** Targets with a series of their own; the others share OTHER_TARGETS. */
export const TARGET_SERIES_LIMIT = 50;
export const OTHER_TARGETS = 'other';

/**
 * The circuit gauge's series: targets with a circuit not closed first, then the busiest, up to `limit`; the rest as
 * one `other` series holding the worst state among them. Templated URLs can name targets without end, and each
 * series costs every scrape and the time-series database.
 */
export function circuitSeries(circuits: readonly TargetCircuit[], limit = TARGET_SERIES_LIMIT): Array<{ target: string; value: number }> {
  const ranked = [...circuits].sort(
    (a, b) => CIRCUIT_VALUES[b.circuit] - CIRCUIT_VALUES[a.circuit] || b.admitted - a.admitted || a.target.localeCompare(b.target),
  );
  const series = ranked.slice(0, limit).map(({ target, circuit }): { target: string; value: number } => ({ target, value: CIRCUIT_VALUES[circuit] }));
  const rest = ranked.slice(limit);
  if (rest.length > 0) series.push({ target: OTHER_TARGETS, value: Math.max(...rest.map(({ circuit }) => CIRCUIT_VALUES[circuit])) });
  return series;
}
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const ATTEMPT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createMetrics(sources: MetricSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters, which `promtool check metrics` rejects; each is the sum of the gauge without _total.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
  const registers = [registry];

  const webhooks = new Counter({
    name: 'switchboard_webhooks_received_total',
    help: 'Webhook requests answered, by event name (unknown before verification) and outcome (accepted, duplicate, or the errcode).',
    labelNames: ['event', 'outcome'],
    registers,
  });
  const ingestLatency = new Histogram({
    name: 'switchboard_ingest_duration_seconds',
    help: 'Time from a webhook request\'s arrival to its answer (read, verify, record, match, inline actions, commit), by outcome.',
    labelNames: ['outcome'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const verificationFailures = new Counter({
    name: 'switchboard_webhook_verification_failures_total',
    help: 'Webhooks refused with 401, by the check that failed.',
    labelNames: ['reason'],
    registers,
  });
  const ruleMatches = new Counter({
    name: 'switchboard_rule_matches_total',
    help: 'Events a rule matched.',
    labelNames: ['rule'],
    registers,
  });
  const actions = new Counter({
    name: 'switchboard_actions_total',
    help: 'Actions of matched rules: inline ones run (succeeded, failed), async ones queued (queued, or failed when they could not be).',
    labelNames: ['rule', 'plugin', 'mode', 'outcome'],
    registers,
  });
  const attempts = new Counter({
    name: 'switchboard_delivery_attempts_total',
    help: 'Delivery attempts, by the state each left its delivery in (succeeded, failed-waiting-retry, dead).',
    labelNames: ['rule', 'plugin', 'outcome'],
    registers,
  });
  const attemptDuration = new Histogram({
    name: 'switchboard_delivery_attempt_duration_seconds',
    help: 'Duration of delivery attempts, by plugin and outcome.',
    labelNames: ['plugin', 'outcome'],
    buckets: ATTEMPT_BUCKETS,
    registers,
  });
  const deadLetters = new Counter({
    name: 'switchboard_dead_letters_total',
    help: 'Deliveries that became dead (attempts exhausted or a permanent failure) in this process.',
    labelNames: ['rule', 'plugin'],
    registers,
  });

  const liveKitApiCalls = new Counter({
    name: 'switchboard_livekit_api_calls_total',
    help: 'Calls to LiveKit\'s server API (reconciliation), by method and outcome (ok, timeout, unreachable, or LiveKit\'s error code).',
    labelNames: ['method', 'outcome'],
    registers,
  });

  const prunedRows = new Counter({
    name: 'switchboard_pruned_rows_total',
    help: 'Rows the pruner removed, by table (event_tombstones: ids of pruned events, past the dedupe window).',
    labelNames: ['table'],
    registers,
  });
  const pruneLastRun = new Gauge({
    name: 'switchboard_prune_last_run_timestamp_seconds',
    help: 'When this process last finished a pruning run (Unix time); 0 before its first.',
    registers,
  });

  const { log } = sources;
  const { oldestEventAt } = sources;
  if (oldestEventAt) {
    new Gauge({
      name: 'switchboard_oldest_event_age_seconds',
      help: 'How long ago the oldest event kept in the store was received; 0 when none is.',
      registers,
      async collect() {
        try {
          const at = await oldestEventAt();
          this.set(at === null ? 0 : Math.max(0, (Date.now() - at.getTime()) / 1000));
        } catch (error) {
          this.reset();
          log.warn({ err: error }, 'metrics: could not read the oldest event');
        }
      },
    });
  }
  new Gauge({
    name: 'switchboard_deliveries',
    help: 'Deliveries in the store by state (all processes sharing it).',
    labelNames: ['state'],
    registers,
    async collect() {
      try {
        const counts = await sources.deliveryCounts();
        for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
      } catch (error) {
        this.reset();
        log.warn({ err: error }, 'metrics: could not count deliveries');
      }
    },
  });
  new Gauge({
    name: 'switchboard_oldest_due_delivery_age_seconds',
    help: 'How long the delivery that has waited longest past its due time has been due; 0 when none is waiting.',
    registers,
    async collect() {
      try {
        const now = new Date();
        const dueAt = await sources.oldestDueAt(now);
        this.set(dueAt === null ? 0 : Math.max(0, (now.getTime() - dueAt.getTime()) / 1000));
      } catch (error) {
        this.reset();
        log.warn({ err: error }, 'metrics: could not read the oldest due delivery');
      }
    },
  });
  new Gauge({
    name: 'switchboard_circuit_state',
    help: `Circuit breaker of each target in this process: 0 closed, 1 half-open, 2 open; past ${TARGET_SERIES_LIMIT} targets, the quietest closed ones as target="${OTHER_TARGETS}" (their worst state).`,
    labelNames: ['target'],
    registers,
    collect() {
      this.reset();
      for (const { target, value } of circuitSeries(sources.circuits())) this.set({ target }, value);
    },
  });

  new Gauge({
    name: 'switchboard_target_disabled',
    help: 'Whether each target is disabled (1) or enabled (0), by an operator or by its plugin; read from the store.',
    labelNames: ['target'],
    registers,
    async collect() {
      this.reset();
      try {
        for (const { target, disabled } of await sources.targetSwitches()) this.set({ target }, disabled ? 1 : 0);
      } catch (error) {
        log.warn({ err: error }, 'metrics: could not read the targets');
      }
    },
  });
  // Read from the rules holder when scraped: it counts its loads, so a reload need not know about metrics.
  new Counter({
    name: 'switchboard_rules_reloads_total',
    help: 'Loads of the rules (start-up included), by outcome: success, or failure (the last good rules stay in force).',
    labelNames: ['outcome'],
    registers,
    collect() {
      this.reset();
      for (const [outcome, count] of Object.entries(sources.rulesStatus().loads)) this.inc({ outcome }, count);
    },
  });
  new Gauge({
    name: 'switchboard_rules_last_reload_success_timestamp_seconds',
    help: 'When the rules in force were loaded (Unix time, seconds).',
    registers,
    collect() {
      this.set(sources.rulesStatus().lastSuccess.at.getTime() / 1000);
    },
  });
  const pictureGauge = (name: string, help: string, count: 'roomsLive' | 'participantsPresent') =>
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        try {
          this.set((await sources.pictureCounts!())[count]);
        } catch (error) {
          this.reset();
          log.warn({ err: error }, 'metrics: could not read the live picture');
        }
      },
    });
  if (sources.pictureCounts) {
    pictureGauge('switchboard_rooms_live', 'Rooms live, as the events recorded (and reconciliation) draw them.', 'roomsLive');
    pictureGauge('switchboard_participants_present', 'Participants present in live rooms, as the events recorded draw them.', 'participantsPresent');
  }

  return {
    webhook(event, outcome, seconds) {
      webhooks.inc({ event: event ?? UNKNOWN_EVENT, outcome });
      ingestLatency.observe({ outcome }, seconds);
    },
    verificationFailed(reason) {
      verificationFailures.inc({ reason });
    },
    ruleMatched(rule) {
      ruleMatches.inc({ rule });
    },
    action(rule, plugin, mode, outcome) {
      actions.inc({ rule, plugin, mode, outcome });
    },
    attempt(rule, plugin, outcome, seconds) {
      attempts.inc({ rule, plugin, outcome });
      attemptDuration.observe({ plugin, outcome }, seconds);
    },
    deadLetter(rule, plugin) {
      deadLetters.inc({ rule, plugin });
    },
    liveKitApiCall(method, outcome) {
      liveKitApiCalls.inc({ method, outcome });
    },
    pruned(table, rows) {
      prunedRows.inc({ table }, rows);
    },
    pruneRan(at) {
      pruneLastRun.set(at.getTime() / 1000);
    },
    contentType: registry.contentType,
    render: () => registry.metrics(),
  };
}
