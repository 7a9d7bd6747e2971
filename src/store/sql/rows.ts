/** Rows as the database returns them, decoded into the store's records through the dialect's decoders. */
import type { DeliveryState } from '../delivery-state.ts';
import type { ClaimedDelivery, Delivery, DeliveryAttempt, UsageEntry } from '../store.ts';
import type { Dialect } from './dialect.ts';

type Encoded = 'dueAt' | 'createdAt' | 'updatedAt' | 'leaseExpiresAt' | 'params' | 'retrySchedule' | 'traceContext' | 'lastError' | 'state';

export interface DeliveryRow extends Omit<Delivery, Encoded | 'actionKey'> {
  state: string;
  actionKey: string | null;
  params: unknown;
  retrySchedule: unknown;
  traceContext: unknown;
  lastError: unknown;
  dueAt: unknown;
  createdAt: unknown;
  updatedAt: unknown;
  leaseExpiresAt: unknown;
}

export interface ClaimedDeliveryRow extends DeliveryRow {
  eventBody: string | null;
  eventCreatedAt: number | null;
}

export interface AttemptRow {
  deliveryId: number;
  number: number;
  startedAt: unknown;
  durationMs: number;
  succeeded: unknown;
  statusCode: number | null;
  error: unknown;
  response: string | null;
}

export interface UsageRow extends Omit<UsageEntry, 'occurredAt' | 'recordedAt' | 'delivery'> {
  occurredAt: unknown;
  recordedAt: unknown;
  deliveryId?: number | null;
  deliveryState?: string | null;
}

/** The decoders of one dialect. */
export function rowDecoders({ readDate, readJson, readBool }: Dialect) {
  const dateOrNull = (value: unknown) => (value === null ? null : readDate(value));

  function toDelivery(row: DeliveryRow): Delivery {
    const { traceContext, actionKey, ...columns } = row;
    return {
      ...columns,
      state: row.state as DeliveryState,
      params: readJson(row.params),
      retrySchedule: readJson(row.retrySchedule),
      lastError: row.lastError === null ? null : readJson(row.lastError),
      dueAt: readDate(row.dueAt),
      createdAt: readDate(row.createdAt),
      updatedAt: readDate(row.updatedAt),
      leaseExpiresAt: dateOrNull(row.leaseExpiresAt),
      ...(traceContext === null ? {} : { traceContext: readJson<Record<string, string>>(traceContext) }),
      ...(actionKey === null ? {} : { actionKey }),
    };
  }

  return {
    dateOrNull,
    toDelivery,

    toClaimedDelivery(row: ClaimedDeliveryRow): ClaimedDelivery {
      const { eventBody, eventCreatedAt, ...delivery } = row;
      const event = eventBody === null ? null : { body: eventBody, createdAt: eventCreatedAt };
      return { ...toDelivery(delivery), event };
    },

    toAttempt(row: AttemptRow): DeliveryAttempt {
      return {
        deliveryId: row.deliveryId,
        number: row.number,
        startedAt: readDate(row.startedAt),
        durationMs: row.durationMs,
        succeeded: readBool(row.succeeded),
        ...(row.statusCode === null ? {} : { statusCode: row.statusCode }),
        ...(row.error === null ? {} : { error: readJson<{ code: string; message: string }>(row.error) }),
        ...(row.response === null ? {} : { response: row.response }),
      };
    },

    toUsage(row: UsageRow): UsageEntry {
      const { deliveryId, deliveryState, ...columns } = row;
      return {
        ...columns,
        occurredAt: readDate(row.occurredAt),
        recordedAt: readDate(row.recordedAt),
        delivery: deliveryId == null ? null : { id: deliveryId, state: deliveryState as DeliveryState },
      };
    },
  };
}

export type RowDecoders = ReturnType<typeof rowDecoders>;

/** The order claimed deliveries are run in: earliest due first, then by id. */
export function byDueTimeThenId(a: Delivery, b: Delivery): number {
  return a.dueAt.getTime() - b.dueAt.getTime() || a.id - b.id;
}
