/**
 * The storage contract. Everything above the store talks to this interface only, so SQLite and PostgreSQL are
 * interchangeable; every method is async even where SQLite would not need it.
 */
import type { StoreHealth } from './health.ts';
import type { SessionTransition, SessionTransitionRequest } from '../plugins/contract.ts';
import type { DeliveryState } from './delivery-state.ts';
import type { LivePictureSource } from '../engine/reconcile/picture.ts';
import type { Leadership, PictureChange, PictureCounts, RoomDetail, RoomRecord } from './live-picture.ts';
import type { Migration } from './sql/migration.ts';

export interface EventRecord {
  /** LiveKit's event id (`EV_…`), or `sha256:<hex of the body>` when the body carried none. */
  id: string;
  name: string;
  /** LiveKit's `createdAt`, in seconds; null when absent. */
  createdAt: number | null;
  /** The API key (`iss`) that signed the delivery. */
  apiKey: string;
  /** The body exactly as received. */
  body: string;
  receivedAt: Date;
  /** The room's name and the participant's identity, when the event names them: what events are searched by. */
  room?: string | null;
  participant?: string | null;
}

/** `queued`: an async action written to the delivery queue; its delivery carries on from there. */
export type ActionStatus = 'succeeded' | 'failed' | 'queued';

export interface ActionOutcome {
  rule: string;
  plugin: string;
  status: ActionStatus;
  result?: unknown;
  error?: { code: string; message: string };
}

export interface EventOutcome {
  matched: string[];
  actions: ActionOutcome[];
}

export interface StoredEvent extends EventRecord, EventOutcome {
  /** Arrival order: increases with every recorded event. */
  seq: number;
}

/** The event a session transition is ordered by. */
export interface OrderingEvent {
  id: string;
  name: string;
  createdAt: number | null;
  seq: number;
}

export interface SessionHistoryEntry {
  status: string;
  oldStatus: string;
  eventId: string;
  eventName: string;
  eventCreatedAt: number | null;
  at: Date;
}

export interface SessionStatus {
  key: string;
  status: string;
  updatedAt: Date;
  eventId: string;
  history: SessionHistoryEntry[];
}

/** An async action waiting to run: written with its event, run by a worker. */
export interface NewDelivery {
  eventId: string;
  /** The event's arrival order: deliveries of one ordering group run in this order. */
  eventSeq: number;
  eventName: string;
  ruleId: string;
  actionIndex: number;
  plugin: string;
  /** Rendered at ingest, so every attempt and replay sends the same thing. */
  params: Record<string, unknown>;
  /** The system called: circuit breaking, rate limits and the disable switch work per target. */
  target: string;
  /** Deliveries with the same non-null ordering key, rule and action run one at a time, in event order. */
  orderingKey: string | null;
  maxAttempts: number;
  /** Delays before each attempt in ms, jitter not yet applied; the last repeats. */
  retrySchedule: number[];
  timeoutMs: number;
  dueAt: Date;
  /** W3C trace context of the ingest, so attempts continue its trace. */
  traceContext?: Record<string, string>;
  /**
   * Names the rule's action whose `${env:…}` secrets `params` leaves out (see engine/sealed-params.ts): an attempt
   * takes them from that action as the rules have it then. Absent when params hold no secret placeholder.
   */
  actionKey?: string;
}

export interface DeliveryLease {
  owner: string;
  expiresAt: Date;
}

export interface Enqueued {
  id: number;
  /** Written running under the lease asked for. */
  leased: boolean;
}

/** An async action's delivery, queued with its event (IngestPlan): its `eventSeq` is the event's, once recorded. */
export interface QueuedAction {
  delivery: Omit<NewDelivery, 'eventSeq'>;
  /** See StoreTx.enqueueDelivery. */
  lease?: DeliveryLease;
}

/** An action that runs in the event's transaction once the event is recorded: an inline action, a plugin's `prepare`. */
export interface ActionStep {
  run(tx: StoreTx, event: OrderingEvent): Promise<ActionOutcome | QueuedAction>;
}

/**
 * An inline action whose whole effect is a session transition its plugin declared (PluginDefinition.transition): the
 * store applies it with the event's other writes, and its outcome is the transition.
 */
export interface PlannedTransition {
  transition: { rule: string; plugin: string; request: SessionTransitionRequest };
}

export type PlannedAction = ActionOutcome | QueuedAction | ActionStep | PlannedTransition;

/**
 * What ingesting one event writes: the event, what it changes in the live picture, and its outcome, whose actions are
 * each settled already (a failed render), a delivery to queue, a declared transition, or a step to run in the
 * transaction.
 */
export interface IngestPlan {
  event: EventRecord;
  change: PictureChange | null;
  matched: string[];
  actions: readonly PlannedAction[];
}

/** What StoreTx.recordIngest wrote. */
export type RecordedIngest =
  /** The event's id was recorded before: nothing was written. */
  | { recorded: false }
  /** Recorded as a duplicate of the event that already started or ended the same resource: no action ran. */
  | { recorded: true; seq: number; duplicateOf: string }
  | {
      recorded: true;
      seq: number;
      duplicateOf: null;
      /** The outcome saved, in the plan's order: a queued action's names its delivery. */
      actions: ActionOutcome[];
      queued: Array<{ action: QueuedAction; enqueued: Enqueued }>;
    };

export interface Delivery extends NewDelivery {
  id: number;
  state: DeliveryState;
  /** Attempts made (consumed) so far. */
  attempts: number;
  lastError: { code: string; message: string } | null;
  createdAt: Date;
  updatedAt: Date;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
}

/** A claimed delivery, with what its attempt needs of its event read in the same statement. */
export interface ClaimedDelivery extends Delivery {
  /** The event's body as received and LiveKit's createdAt; null if the event is not in the store. */
  event: Pick<EventRecord, 'body' | 'createdAt'> | null;
}

export interface DeliveryAttempt {
  deliveryId: number;
  /**
   * Given to completeAttempt: the attempt's number since the delivery was queued or last replayed, its `attempts`
   * after it. As read back: its place among all the delivery's attempts, counting on across replays.
   */
  number: number;
  startedAt: Date;
  durationMs: number;
  succeeded: boolean;
  statusCode?: number;
  error?: { code: string; message: string };
  /** The first KiB of what the target answered. */
  response?: string;
}

export interface DeliveryWithAttempts extends Delivery {
  attemptLog: DeliveryAttempt[];
}

/** Where an attempt leaves its delivery. */
export type AttemptVerdict =
  | { state: 'succeeded' }
  | { state: 'failed-waiting-retry'; dueAt: Date }
  | { state: 'dead' };

export interface ClaimRequest {
  owner: string;
  now: Date;
  limit: number;
  leaseMs: number;
  /** Targets whose circuit is open or whose rate is used up here: their deliveries stay where they are. */
  skipTargets: readonly string[];
}

/** The next delivery of an ordering group, claimed by the completion that frees it (Store.completeAttemptClaimingNext). */
export interface NextOfGroupClaim extends Omit<ClaimRequest, 'limit'> {
  group: { ruleId: string; actionIndex: number; orderingKey: string };
}

/** What completeAttemptClaimingNext did: whether the attempt was recorded, and the group's next, now leased, if any. */
export interface CompletedClaimingNext {
  recorded: boolean;
  next: ClaimedDelivery | null;
}

export interface DeliveryFilter {
  state?: DeliveryState;
  rule?: string;
  target?: string;
  eventId?: string;
  /** On when the delivery was created: `since` inclusive, `until` exclusive. */
  since?: Date;
  until?: Date;
}

/** `since` is inclusive and `until` exclusive, on when the event was received. */
export interface EventSearch {
  room?: string;
  participant?: string;
  /** The event's name (`room_started`). */
  type?: string;
  since?: Date;
  until?: Date;
}

/** A recorded event without its body and outcome, as a search lists it. */
export interface EventSummary {
  seq: number;
  id: string;
  name: string;
  createdAt: number | null;
  receivedAt: Date;
  room: string | null;
  participant: string | null;
}

/** A session's current status, without its history. */
export type SessionSummary = Omit<SessionStatus, 'history'>;

export interface TargetRecord {
  target: string;
  disabled: boolean;
  reason: string | null;
  changedAt: Date | null;
}

export interface AuditEntry {
  action: string;
  subject: string;
  details: Record<string, unknown>;
}

export interface AuditRecord extends AuditEntry {
  id: number;
  at: Date;
}

/** One usage for the ledger, named by its identifier (unique: a second record of it writes nothing). */
export interface NewUsage {
  identifier: string;
  eventId: string;
  eventName: string;
  ruleId: string;
  actionIndex: number;
  customer: string;
  meter: string;
  /** A whole number of `unit`s. */
  quantity: number;
  unit: string;
  /** When the usage happened (the event's time). */
  occurredAt: Date;
}

export interface UsageEntry extends NewUsage {
  /** Ledger order: increases with every row. */
  id: number;
  recordedAt: Date;
  /**
   * The delivery that reports it to the provider (the action's delivery, of the same event, rule and action):
   * its state is the usage's report status. Null when the action queued none.
   */
  delivery: { id: number; state: DeliveryState } | null;
}

/** `from` is inclusive and `to` exclusive, on when the usage happened. */
export interface UsageFilter {
  customer?: string;
  meter?: string;
  from?: Date;
  to?: Date;
}

export interface UsageTotal {
  customer: string;
  meter: string;
  unit: string;
  quantity: number;
  /** Ledger rows summed. */
  records: number;
}

/** A count of one thing (`webhook.accepted`, `rule.notify`) in one minute, as the per-minute rollup keeps it. */
export interface MinuteStat {
  /** The minute's start. */
  minute: Date;
  name: string;
  count: number;
}

/** Attempts to one target in one minute that took at most `leMs` (and more than the bucket below), as the rollup keeps them. */
export interface LatencyCount {
  /** The minute's start. */
  minute: Date;
  /** A target, or `other` for those past the rollup's cap on targets per minute. */
  target: string;
  leMs: number;
  count: number;
}

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** The kinds of rows retention removes (src/store/sql/retention.ts), in the order a run takes them. */
export type PruneStepName =
  | 'deliveries.finished'
  | 'deliveries.dead'
  | 'events'
  | 'event_tombstones'
  | 'session_history'
  | 'usage_ledger'
  | 'rooms'
  | 'minute_stats'
  | 'minute_latency';

/** Rows removed by table. */
export type PrunedRows = Record<string, number>;

/** What one prune batch did; see Store.pruneBatch. */
export interface PruneBatchResult {
  /** Rows removed by table; empty when the step found nothing left to remove. */
  pruned: PrunedRows;
  /** Where the next batch starts (after this key); null for a step not scanned by key, or once it is done. */
  last: number | null;
  /** Nothing older than the cutoff is left to look at. */
  done: boolean;
  /**
   * How long the batch's transaction kept the database from others (SQLite's writer, PostgreSQL's row locks): its
   * statements, not its waits for a turn or for the disk. Its find reads a bounded window of keys, before it.
   */
  heldMs: number;
}

/** Whose data an erasure removes. */
export type ErasureSubject = { participantIdentity: string } | { room: string };

/** Rows an erasure rewrote or cancelled, by what they hold. */
export interface ErasureCounts {
  events: number;
  outcomes: number;
  deliveries: number;
  attempts: number;
  /** Deliveries still queued for the subject, cancelled with E_ERASED. */
  cancelled: number;
}

export interface StoreTx {
  /**
   * Records the event, applies its picture change, runs or queues its actions in order and saves its outcome; a
   * redelivery, or a duplicate start or end of a resource, runs nothing.
   */
  recordIngest(plan: IngestPlan): Promise<RecordedIngest>;
  /** Records the event under its dedupe key; `duplicate` when that key was recorded before. */
  recordEvent(record: EventRecord): Promise<{ duplicate: false; seq: number } | { duplicate: true }>;
  saveOutcome(eventId: string, outcome: EventOutcome): Promise<void>;
  transitionSession(request: SessionTransitionRequest, event: OrderingEvent): Promise<SessionTransition>;
  /** Draws the event into the live picture; `duplicateOf` names the event that already started or ended the resource. */
  applyPictureChange(change: PictureChange, event: OrderingEvent): Promise<{ duplicateOf: string | null }>;
  /** Runs `work` so that a throw undoes only its own writes, and rethrows. */
  savepoint<T>(work: () => Promise<T>): Promise<T>;

  /**
   * Queues a delivery. With a `lease`, it is written already `running` and leased (its worker starts it after the
   * commit, with no claim) if it could be claimed now: its target is enabled and no earlier delivery of its ordering
   * group is unfinished; else it is written `pending`. Queueing the same action of the same event again changes
   * nothing and returns the first delivery, not leased.
   */
  enqueueDelivery(delivery: NewDelivery, lease?: DeliveryLease): Promise<Enqueued>;
  /**
   * Leases up to `limit` due deliveries (pending or waiting for a retry with `dueAt <= now`, or running with an
   * expired lease) of enabled targets not in `skipTargets`, skipping any whose ordering group has an earlier
   * unfinished delivery. Claimed deliveries are `running`, leased to `owner` until now + leaseMs.
   */
  claimDueDeliveries(request: ClaimRequest): Promise<ClaimedDelivery[]>;
  /** Records the attempt and moves the delivery on; false (and nothing written) when `owner` lost the lease. */
  completeAttempt(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict): Promise<boolean>;
  /**
   * Leases the first unfinished delivery of the group when it is due and may run (as claimDueDeliveries would);
   * null when there is none, or it may not run yet.
   */
  claimNextOfGroup(request: NextOfGroupClaim): Promise<ClaimedDelivery | null>;
  /** Gives a claimed delivery back without consuming an attempt, due again at `dueAt`. */
  deferDelivery(owner: string, deliveryId: number, dueAt: Date): Promise<boolean>;
  /** Keeps `owner`'s leases on these running deliveries until `until` (a heartbeat while attempts run). */
  extendLeases(owner: string, deliveryIds: number[], until: Date): Promise<void>;
  /** Gives back every lease `owner` holds (shutdown); returns how many. */
  releaseLeases(owner: string): Promise<number>;
  /** Re-queues with fresh attempts; a succeeded delivery only when `force`. Returns the ids re-queued. */
  replayDeliveries(filter: DeliveryFilter & { ids?: number[] }, options: { force: boolean; now: Date }): Promise<number[]>;
  cancelDelivery(deliveryId: number): Promise<boolean>;
  /** Cancels every delivery the filter matches that may still be cancelled; returns their ids. */
  cancelDeliveries(filter: DeliveryFilter): Promise<number[]>;
  setTargetDisabled(target: string, disabled: boolean, reason: string | null): Promise<void>;
  appendAudit(entry: AuditEntry): Promise<void>;

  /** Adds these counts to the per-minute rollup (replicas add to the same rows). */
  addMinuteStats(stats: readonly MinuteStat[]): Promise<void>;
  /** Adds these attempts to the rollup's per-target latency histograms. */
  addLatencyCounts(counts: readonly LatencyCount[]): Promise<void>;

  /** Writes a usage ledger row; `duplicate` (and nothing written) when its identifier is in the ledger already. */
  recordUsage(usage: NewUsage): Promise<{ duplicate: false } | { duplicate: true; existing: NewUsage }>;
}

export interface Store extends LivePictureSource {
  readonly kind: 'sqlite' | 'postgres';
  /** Applies the migrations the database lacks; returns those it applied (none when it was up to date). */
  migrate(): Promise<Migration[]>;
  /** Commits when `work` resolves, rolls back when it throws. */
  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T>;
  /**
   * StoreTx.recordIngest in a transaction of its own: on PostgreSQL one statement when every write is known beforehand
   * (no step, no lease).
   */
  recordIngest(plan: IngestPlan): Promise<RecordedIngest>;
  /**
   * StoreTx.completeAttempt in a transaction of its own, for a completion that writes nothing else: on PostgreSQL
   * one statement, with no BEGIN and COMMIT around it.
   */
  completeAttempt(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict): Promise<boolean>;
  /**
   * completeAttempt for a delivery of an ordering group that the attempt finished, then claimNextOfGroup, so that
   * the next starts without a claim loop's turn: on SQLite in the same commit; on PostgreSQL a second statement,
   * sent only when the completion saw a next waiting, with no transaction around either (decision 0012).
   */
  completeAttemptClaimingNext(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict, next: NextOfGroupClaim): Promise<CompletedClaimingNext>;
  /**
   * StoreTx.claimDueDeliveries in a transaction of its own: on PostgreSQL the claim's one statement, with no BEGIN
   * and COMMIT around it.
   */
  claimDueDeliveries(request: ClaimRequest): Promise<ClaimedDelivery[]>;
  /**
   * Calls `wake` when a worker other than `owner` (another replica) finishes a delivery of an ordering group, so that
   * the group's next is claimed now rather than at the next poll; `onError` hears of a broken watch, which recovers
   * by itself. Returns the function that stops watching. On SQLite one process holds the queue: nothing to watch.
   */
  watchFinishedGroups(owner: string, wake: () => void, onError: (error: unknown) => void): () => Promise<void>;
  getEvent(id: string): Promise<StoredEvent | null>;
  getSession(key: string): Promise<SessionStatus | null>;
  /** Recorded events matching the search, newest first. */
  searchEvents(search: EventSearch, page: { limit: number; cursor?: string }): Promise<Page<EventSummary>>;
  /** Sessions by key, of one status when given. */
  listSessions(filter: { status?: string }, page: { limit: number; cursor?: string }): Promise<Page<SessionSummary>>;
  listDeliveries(filter: DeliveryFilter, page: { limit: number; cursor?: string }): Promise<Page<Delivery>>;
  getDelivery(id: number): Promise<DeliveryWithAttempts | null>;
  /** Delivery counts by state (for metrics and the admin API), of those the filter matches when one is given. */
  countDeliveries(filter?: DeliveryFilter): Promise<Record<DeliveryState, number>>;
  /**
   * The earliest due time among deliveries waiting to be claimed (pending or waiting for a retry) that are due at
   * `now`; null when none is. Metrics turn it into the age of the oldest due delivery: how far the workers lag.
   */
  oldestDueAt(now: Date): Promise<Date | null>;
  /**
   * Those of `ids` that wait to be claimed while an earlier delivery of their ordering group is unfinished: the claim
   * passes them over until it finishes.
   */
  listBehindTheirGroup(ids: readonly number[]): Promise<number[]>;
  /** Every target that has deliveries or a disabled flag. */
  listTargets(): Promise<TargetRecord[]>;
  listAudit(page: { limit: number; cursor?: string }): Promise<Page<AuditRecord>>;
  /** Usage ledger rows matching the filter, newest first. */
  listUsage(filter: UsageFilter, page: { limit: number; cursor?: string }): Promise<Page<UsageEntry>>;
  /** Quantities summed by customer, meter and unit (in that order), over the rows matching the filter. */
  sumUsage(filter: UsageFilter): Promise<UsageTotal[]>;
  /** Rooms newest first. */
  listRooms(filter: { status?: RoomRecord['status'] }, page: { limit: number; cursor?: string }): Promise<Page<RoomRecord>>;
  /** The latest room of that name, with who is present, its egress and ingress, and its last starts and ends. */
  getRoom(name: string): Promise<RoomDetail | null>;
  pictureCounts(): Promise<PictureCounts>;
  /** When the latest webhook (not Switchboard's own event) was received; null when none was. */
  lastWebhookAt(): Promise<Date | null>;
  /** Takes the hold named `name` if no other replica has it; null when one does. */
  tryLead(name: string): Promise<Leadership | null>;
  /** The per-minute rollup's counts of minutes from `from` (inclusive) to `to` (exclusive), by minute then name. */
  listMinuteStats(range: { from: Date; to: Date }): Promise<MinuteStat[]>;
  /** Each target's latency buckets summed over the minutes from `from` (inclusive) to `to` (exclusive). */
  sumLatencies(range: { from: Date; to: Date }): Promise<Array<Omit<LatencyCount, 'minute'>>>;
  /** Resolves when the store answers a trivial query. */
  ping(): Promise<void>;

  /**
   * One batch of a prune step: up to `limit` of its rows older than `cutoff` (with keys above `after`, where the
   * step is scanned by key), removed in one short transaction. Rows kept for a reason (an event a delivery still
   * needs) are passed over: starting the next batch after `last` keeps them from being looked at again and again.
   */
  pruneBatch(step: PruneStepName, cutoff: Date, limit: number, after?: number): Promise<PruneBatchResult>;
  /** What the step would remove now, by table (a dry run). */
  countPrunable(step: PruneStepName, cutoff: Date): Promise<PrunedRows>;
  /**
   * One step giving back at most `pages` of the space pruning freed, where the database does not by itself
   * (SQLite's incremental vacuum); true while there is more to give back.
   */
  reclaimSpace(pages: number): Promise<boolean>;
  /**
   * After a prune run that removed `pruned` (rows by table): where deleted rows wait for a vacuum (PostgreSQL), a
   * plain vacuum of each table with many of them, outside any transaction; the tables vacuumed.
   */
  vacuumPruned(pruned: PrunedRows): Promise<string[]>;
  /**
   * How long one prune batch may hold the database, ms. SQLite runs a batch's statements on the event loop, where
   * every webhook arriving meanwhile waits out the whole batch: its budget is small. PostgreSQL's batches hold
   * only their rows' locks.
   */
  readonly pruneBudgetMs: number;
  /**
   * Resolves once the writes that queued while a prune batch ran have had their turn: SQLite, those transactions
   * committed; PostgreSQL, at once (its writers never queue behind the pruner's).
   */
  yieldToWrites(): Promise<void>;
  /**
   * Resolves once what has been committed is where it stays (SQLite: a checkpoint has copied the write-ahead log into
   * the database file), so that a run of prune batches never outpaces the checkpoints; at once elsewhere.
   */
  letDiskCatchUp(): Promise<void>;
  /** When the oldest event kept was received; null when there is none. */
  oldestEventAt(): Promise<Date | null>;
  /**
   * Runs `work` unless another process sharing the store is running work under the same name (PostgreSQL: an
   * advisory lock); false when it was skipped.
   */
  runAlone(name: string, work: () => Promise<void>): Promise<boolean>;
  /**
   * Replaces the subject's data in event bodies, outcomes, delivery params and attempt answers with `marker`, and
   * cancels (E_ERASED) the deliveries still queued for it. In batches, each its own transaction.
   */
  erase(subject: ErasureSubject, marker: string): Promise<ErasureCounts>;
  /** Whether the last commit that wrote succeeded (StoreHealth); readiness reads it. */
  readonly health: Pick<StoreHealth, 'failure'>;
  /** Commits a transaction that rewrites one row as it is: readiness's test that commits succeed again. */
  probeWrite(): Promise<void>;
  close(): Promise<void>;
}
