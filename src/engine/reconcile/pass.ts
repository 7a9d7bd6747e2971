/**
 * One reconciliation pass: read the store's live picture, ask LiveKit what is live with a bounded number of calls,
 * and return the synthetic events the pure core decides on. Recording them (through ingest, like real ones) is the
 * caller's job, as is running passes on an interval on the one replica holding the lock.
 */
import type { EgressInfo, ParticipantInfo } from 'livekit-server-sdk';
import type { LiveKitApi, LiveKitApiMethod } from '../../livekit/api.ts';
import {
  decidePass,
  DEFAULT_LIMITS,
  planEgressLookups,
  planParticipantLists,
  roomsNotLive,
  type PassDecision,
  type ReconcileLimits,
  type ReconcileState,
} from './decide.ts';
import type { LivePictureSource } from './picture.ts';

interface PassOutcome extends PassDecision {
  /** The calls that failed; without ListRooms' answer nothing is decided and the state stays as it was. */
  failures: Array<{ method: LiveKitApiMethod; error: unknown }>;
}

export interface PassOptions {
  at?: Date;
  limits?: ReconcileLimits;
  /** ListParticipants and single-egress look-ups in flight at once. */
  concurrency?: number;
}

/**
 * @example
 * let state = FIRST_PASS;
 * const { events, state: next, failures } = await reconcilePass(api, store, state);
 * for (const event of events) await ingestSynthetic(event);
 * state = next;
 */
export async function reconcilePass(
  api: LiveKitApi,
  store: LivePictureSource,
  state: ReconcileState,
  options: PassOptions = {},
): Promise<PassOutcome> {
  const at = options.at ?? new Date();
  const limits = options.limits ?? DEFAULT_LIMITS;
  const concurrency = options.concurrency ?? 4;
  const failures: PassOutcome['failures'] = [];
  const attempt = async <T>(method: LiveKitApiMethod, call: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await call();
    } catch (error) {
      failures.push({ method, error });
      return undefined;
    }
  };

  // The store first: a room that starts meanwhile is then merely unknown for a pass, never absent.
  const picture = await store.livePicture();
  const liveKitRooms = await attempt('ListRooms', () => api.listRooms());
  if (liveKitRooms === undefined) return { events: [], state, failures };

  const plan = planParticipantLists(picture, liveKitRooms, state, limits);
  const participants = new Map<string, ParticipantInfo[]>();
  await eachWithin(concurrency, plan.rooms, async (room) => {
    const answer = await attempt('ListParticipants', () => api.listParticipants(room.name));
    if (answer !== undefined) participants.set(room.sid, answer);
  });

  const egressLookedUp: EgressInfo[] = [];
  const liveKitActive = picture.egress.length > 0 ? await attempt('ListEgress', () => api.listEgress({ active: true })) : [];
  if (liveKitActive !== undefined) {
    await eachWithin(concurrency, planEgressLookups(picture.egress, liveKitActive, limits), async (egressId) => {
      egressLookedUp.push(...((await attempt('ListEgress', () => api.listEgress({ egressId }))) ?? []));
    });
  }

  const notLive = roomsNotLive(picture, liveKitRooms);
  const recordedRoomSids = notLive.length > 0 ? await store.recordedRoomSids(notLive) : new Set<string>();
  const decision = decidePass(
    { at, picture, liveKitRooms, participants, recordedRoomSids, egressLookedUp, fullCheckLeft: plan.fullCheckLeft },
    state,
  );
  return { ...decision, failures };
}

/** Runs `work` on every item, at most `limit` at a time. */
async function eachWithin<T>(limit: number, items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
