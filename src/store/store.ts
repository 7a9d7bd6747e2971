/**
 * The storage contract. Everything above the store talks to this interface only, so SQLite and PostgreSQL are
 * interchangeable; every method is async even where SQLite would not need it.
 */
import type { SessionTransition, SessionTransitionRequest } from '../plugins/contract.ts';

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
}

export type ActionStatus = 'succeeded' | 'failed';

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

export interface StoreTx {
  /** Records the event under its dedupe key; `duplicate` when that key was recorded before. */
  recordEvent(record: EventRecord): Promise<{ duplicate: false; seq: number } | { duplicate: true }>;
  saveOutcome(eventId: string, outcome: EventOutcome): Promise<void>;
  transitionSession(request: SessionTransitionRequest, event: OrderingEvent): Promise<SessionTransition>;
  /** Runs `work` so that a throw undoes only its own writes, and rethrows. */
  savepoint<T>(work: () => Promise<T>): Promise<T>;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  /** Commits when `work` resolves, rolls back when it throws. */
  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T>;
  getEvent(id: string): Promise<StoredEvent | null>;
  getSession(key: string): Promise<SessionStatus | null>;
  /** Resolves when the store answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
