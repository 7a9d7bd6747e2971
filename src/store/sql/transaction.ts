/** StoreTx, written once: the writes of one transaction, over the executor its dialect's store opened it on. */
import { indexedText } from './indexed-text.ts';
import { SwitchboardError } from '../../errors.ts';
import type { SessionTransition, SessionTransitionRequest } from '../../plugins/contract.ts';
import { replayMove } from '../delivery-state.ts';
import type {
  AttemptVerdict,
  AuditEntry,
  ClaimedDelivery,
  ClaimRequest,
  DeliveryAttempt,
  DeliveryFilter,
  DeliveryLease,
  Enqueued,
  EventOutcome,
  EventRecord,
  IngestPlan,
  LatencyCount,
  MinuteStat,
  NewDelivery,
  NewUsage,
  NextOfGroupClaim,
  OrderingEvent,
  RecordedIngest,
  StoreTx,
} from '../store.ts';
import { truncateResponse } from './attempt-response.ts';
import { deliveryConditions } from './conditions.ts';
import type { Executor } from './dialect.ts';
import { recordIngest } from './ingest-plan.ts';
import { applyPictureChange } from './live-picture.ts';
import type { PictureChange } from '../live-picture.ts';
import type { WriteMark } from '../health.ts';
import { movableBy, state } from './moves.ts';
import { byDueTimeThenId, type ClaimedDeliveryRow, type UsageRow } from './rows.ts';
import { addMinuteStats } from './searches.ts';
import { addLatencyCounts } from './target-latency.ts';
import { decideTransition, storableRequest } from './session-transition.ts';
import type { DialectSql } from './dialect-sql.ts';

/** The name of every StoreTx savepoint: they nest, and RELEASE or ROLLBACK TO names the innermost of a name. */
const TX_SAVEPOINT = 'step';

/** JSON parameters go as JSON text: PostgreSQL's driver would send a JS array as an array, SQLite binds no objects. */
export function json(value: unknown): string {
  return JSON.stringify(value);
}

export function jsonOrNull(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** The values of the event's insert, in its `$n` order. */
export function eventValues(record: EventRecord): unknown[] {
  return [
    record.id,
    record.name,
    record.createdAt,
    record.apiKey,
    record.body,
    record.receivedAt,
    indexedText(record.room ?? null),
    indexedText(record.participant ?? null),
  ];
}

/** The name of the delivery's ordering group, which its writers lock (Dialect.lockOrderingGroup); null without one. */
export function orderingGroup(delivery: Pick<NewDelivery, 'ruleId' | 'actionIndex' | 'orderingKey'>): string | null {
  return delivery.orderingKey === null ? null : json([delivery.ruleId, delivery.actionIndex, delivery.orderingKey]);
}

/** The values of a completion's statements (FINISH_ATTEMPT, then the attempt's row), in their `$n` order. */
export function completionValues(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict): unknown[] {
  return [
    verdict.state,
    attempt.number,
    verdict.state === 'failed-waiting-retry' ? verdict.dueAt : null,
    jsonOrNull(attempt.error),
    new Date(),
    attempt.deliveryId,
    owner,
    attempt.startedAt,
    attempt.durationMs,
    attempt.succeeded,
    attempt.statusCode ?? null,
    attempt.response === undefined ? null : truncateResponse(attempt.response),
  ];
}

/** The writes of one transaction. Refuses use once the transaction has ended, so a stray call cannot autocommit. */
export class SqlTx implements StoreTx {
  readonly #executor: Executor;
  readonly #on: DialectSql;
  readonly #mark: WriteMark;
  #ended = false;

  /** `mark`: noted once a write changed something (see StoreHealth). */
  constructor(executor: Executor, on: DialectSql, mark: WriteMark = { wrote: false }) {
    this.#executor = executor;
    this.#on = on;
    this.#mark = mark;
  }

  end(): void {
    this.#ended = true;
  }

  recordIngest(plan: IngestPlan): Promise<RecordedIngest> {
    return recordIngest(this, plan);
  }

  async recordEvent(record: EventRecord): Promise<{ duplicate: false; seq: number } | { duplicate: true }> {
    // A concurrent insert of the same id waits for the first transaction: if it commits, this one does nothing.
    const { sql } = this.#on;
    const seq = await this.#db.insertedKey(sql.insertEvent, eventValues(record));
    if (seq === null) return { duplicate: true };
    this.#mark.wrote = true;
    // An event pruned inside the dedupe window (event-tombstones.ts): a redelivery, so the insert is undone.
    if ((await this.#db.rows(sql.isTombstone, [record.id])).length > 0) {
      await this.#db.run(sql.undoEvent, [seq]);
      return { duplicate: true };
    }
    return { duplicate: false, seq };
  }

  /** Rewrites a row that is always there (the latest migration's record) as it is: a write that needs the disk. */
  async probeWrite(): Promise<void> {
    await this.#db.run(this.#on.sql.probeWrite);
    this.#mark.wrote = true;
  }

  async saveOutcome(eventId: string, outcome: EventOutcome): Promise<void> {
    const values = [json(outcome.matched), json(outcome.actions), eventId];
    const changes = await this.#db.run(this.#on.dialect.outcomes.save, values);
    if (changes === 0) {
      throw new SwitchboardError('E_INTERNAL', `Cannot save the outcome of event ${eventId}: it was never recorded.`);
    }
  }

  async transitionSession(asked: SessionTransitionRequest, event: OrderingEvent): Promise<SessionTransition> {
    const { sessions } = this.#on.dialect;
    const request = storableRequest(asked);
    const current = await sessions.current(this.#db, request.key);
    const transition = decideTransition(current, request, event);
    if (transition.applied) await sessions.save(this.#db, { key: request.key, transition, event, current, at: new Date() });
    return transition;
  }

  applyPictureChange(change: PictureChange, event: OrderingEvent): Promise<{ duplicateOf: string | null }> {
    return applyPictureChange(this.#db, this.#on.picture, change, event);
  }

  async savepoint<T>(work: () => Promise<T>): Promise<T> {
    await this.#db.run(`SAVEPOINT ${TX_SAVEPOINT}`);
    let result: T;
    try {
      result = await work();
    } catch (error) {
      await this.#db.run(`ROLLBACK TO SAVEPOINT ${TX_SAVEPOINT}`);
      await this.#db.run(`RELEASE SAVEPOINT ${TX_SAVEPOINT}`);
      throw error;
    }
    await this.#db.run(`RELEASE SAVEPOINT ${TX_SAVEPOINT}`);
    return result;
  }

  /** See StoreTx.enqueueDelivery; the ordering group's lock keeps its lease decision and insert together. */
  async enqueueDelivery(delivery: NewDelivery, lease?: DeliveryLease): Promise<Enqueued> {
    const { sql, dialect } = this.#on;
    const group = orderingGroup(delivery);
    if (group !== null) await dialect.lockOrderingGroup(this.#db, group);
    const [inserted] = await this.#db.rows<{ id: number; state: string }>(sql.insertDelivery, [
      delivery.eventId,
      delivery.eventSeq,
      delivery.eventName,
      delivery.ruleId,
      delivery.actionIndex,
      delivery.plugin,
      json(delivery.params),
      delivery.target,
      delivery.orderingKey,
      delivery.maxAttempts,
      json(delivery.retrySchedule),
      delivery.timeoutMs,
      delivery.dueAt,
      jsonOrNull(delivery.traceContext),
      new Date(),
      lease?.owner ?? null,
      lease?.expiresAt ?? null,
      delivery.actionKey ?? null,
    ]);
    this.#mark.wrote = true;
    if (inserted) return { id: inserted.id, leased: inserted.state === 'running' };
    const [existing] = await this.#db.rows<{ id: number }>(sql.selectDeliveryId, [
      delivery.eventId,
      delivery.ruleId,
      delivery.actionIndex,
    ]);
    return { id: existing.id, leased: false };
  }

  async claimDueDeliveries(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    const rows = await this.#db.rows<ClaimedDeliveryRow>(this.#on.sql.claimDeliveries, [
      request.owner,
      new Date(request.now.getTime() + request.leaseMs),
      request.now,
      request.skipTargets,
      request.limit,
    ]);
    if (rows.length > 0) this.#mark.wrote = true;
    // RETURNING gives rows in no promised order.
    return rows.map(this.#on.rows.toClaimedDelivery).sort(byDueTimeThenId);
  }

  async claimNextOfGroup(request: NextOfGroupClaim): Promise<ClaimedDelivery | null> {
    const { owner, now, leaseMs, skipTargets, group } = request;
    const [row] = await this.#db.rows<ClaimedDeliveryRow>(this.#on.sql.claimNextOfGroup, [
      owner,
      new Date(now.getTime() + leaseMs),
      now,
      skipTargets,
      group.ruleId,
      group.actionIndex,
      group.orderingKey,
    ]);
    if (row === undefined) return null;
    this.#mark.wrote = true;
    return this.#on.rows.toClaimedDelivery(row);
  }

  async completeAttempt(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict): Promise<boolean> {
    const completed = await this.#on.dialect.completeAttempt(this.#db, completionValues(owner, attempt, verdict));
    if (completed) this.#mark.wrote = true;
    return completed;
  }

  /** Back to pending, or to waiting for a retry when attempts were already spent; the attempt count stays. */
  async deferDelivery(owner: string, deliveryId: number, dueAt: Date): Promise<boolean> {
    return (await this.#db.run(this.#on.sql.deferDelivery, [dueAt, new Date(), deliveryId, owner])) > 0;
  }

  /** Leases `owner` no longer holds (taken over after they expired) stay with their new owner. */
  async extendLeases(owner: string, deliveryIds: number[], until: Date): Promise<void> {
    await this.#db.run(this.#on.sql.extendLeases, [until, new Date(), owner, deliveryIds]);
  }

  async releaseLeases(owner: string): Promise<number> {
    return this.#db.run(this.#on.sql.releaseLeases, [new Date(), owner]);
  }

  async replayDeliveries(
    filter: DeliveryFilter & { ids?: number[] },
    options: { force: boolean; now: Date },
  ): Promise<number[]> {
    const { dialect } = this.#on;
    const values: unknown[] = [options.now];
    const where = [movableBy(replayMove(options.force)), ...deliveryConditions(dialect, filter, values)].join(' AND ');
    const rows = await this.#db.rows<{ id: number }>(
      dialect.statement(
        `UPDATE deliveries
        SET state = ${state('pending')}, attempts = 0, due_at = $1, last_error = NULL,
          lease_owner = NULL, lease_expires_at = NULL, updated_at = $1
        WHERE ${where}
        RETURNING id`,
      ),
      values,
    );
    return rows.map((row) => row.id).sort((a, b) => a - b);
  }

  async cancelDelivery(deliveryId: number): Promise<boolean> {
    return (await this.#db.run(this.#on.sql.cancelDelivery, [new Date(), deliveryId])) > 0;
  }

  async cancelDeliveries(filter: DeliveryFilter): Promise<number[]> {
    const { dialect } = this.#on;
    const values: unknown[] = [new Date()];
    const where = [movableBy('cancel'), ...deliveryConditions(dialect, filter, values)].join(' AND ');
    const rows = await this.#db.rows<{ id: number }>(
      dialect.statement(`UPDATE deliveries SET state = ${state('cancelled')}, updated_at = $1 WHERE ${where} RETURNING id`),
      values,
    );
    return rows.map((row) => row.id).sort((a, b) => a - b);
  }

  async setTargetDisabled(target: string, disabled: boolean, reason: string | null): Promise<void> {
    await this.#db.run(this.#on.sql.upsertTarget, [target, disabled, reason, new Date()]);
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#db.run(this.#on.sql.insertAudit, [new Date(), entry.action, entry.subject, json(entry.details)]);
  }

  async addMinuteStats(stats: readonly MinuteStat[]): Promise<void> {
    await addMinuteStats(this.#db, this.#on.dialect, stats);
  }

  async addLatencyCounts(counts: readonly LatencyCount[]): Promise<void> {
    await addLatencyCounts(this.#db, this.#on.dialect, counts);
  }

  /** A concurrent insert of the same identifier waits for the first transaction: if it commits, this one is a duplicate. */
  async recordUsage(usage: NewUsage): Promise<{ duplicate: false } | { duplicate: true; existing: NewUsage }> {
    const { sql, rows } = this.#on;
    const [inserted] = await this.#db.rows<{ id: number }>(sql.insertUsage, [
      usage.identifier,
      usage.eventId,
      usage.eventName,
      usage.ruleId,
      usage.actionIndex,
      usage.customer,
      usage.meter,
      usage.quantity,
      usage.unit,
      usage.occurredAt,
      new Date(),
    ]);
    if (inserted) return { duplicate: false };
    const [existing] = await this.#db.rows<UsageRow>(sql.selectUsageByIdentifier, [usage.identifier]);
    return { duplicate: true, existing: rows.toUsage(existing) };
  }

  get #db(): Executor {
    if (this.#ended) {
      throw new SwitchboardError(
        'E_INTERNAL',
        'A store transaction was used after it ended: its writes must be awaited inside the transaction callback.',
      );
    }
    return this.#executor;
  }
}
