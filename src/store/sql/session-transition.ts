/** The rule every store applies to a session status change: newer events win, `from` guards hold. */
import type { SessionTransition, SessionTransitionRequest } from '../../plugins/contract.ts';
import type { OrderingEvent } from '../store.ts';

export const INITIAL_SESSION_STATUS = 'ready';

/**
 * A transition as every store applies it: keys and statuses come from end users' names, and PostgreSQL's text holds
 * no NUL, so a NUL becomes U+FFFD on both stores, in what is written, compared and answered alike.
 */
export function storableRequest({ key, status, from }: SessionTransitionRequest): SessionTransitionRequest {
  const text = (value: string) => value.replaceAll('\0', '\uFFFD');
  return from === undefined ? { key: text(key), status: text(status) } : { key: text(key), status: text(status), from: from.map(text) };
}

export interface CurrentSession {
  status: string;
  eventCreatedAt: number | null;
  eventSeq: number;
}

/** Negative when `a` happened before `b`: by LiveKit's `createdAt` when both have one, then by arrival. */
export function compareEventOrder(
  a: { createdAt: number | null; seq: number },
  b: { createdAt: number | null; seq: number },
): number {
  if (a.createdAt !== null && b.createdAt !== null && a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.seq - b.seq;
}

export function decideTransition(
  current: CurrentSession | null,
  request: SessionTransitionRequest,
  event: OrderingEvent,
): SessionTransition {
  const oldStatus = current?.status ?? INITIAL_SESSION_STATUS;
  const decision = { key: request.key, old_status: oldStatus };
  if (current && compareEventOrder(event, { createdAt: current.eventCreatedAt, seq: current.eventSeq }) < 0) {
    return { ...decision, new_status: oldStatus, applied: false, reason: 'stale' };
  }
  if (request.from && !request.from.includes(oldStatus)) {
    return { ...decision, new_status: oldStatus, applied: false, reason: 'guard' };
  }
  return { ...decision, new_status: request.status, applied: true };
}
