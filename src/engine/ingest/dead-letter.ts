/**
 * Dead letters as events: a delivery that died is announced as `switchboard.delivery_dead` through the rules, in
 * the transaction that made it dead, so rules can notify someone with the plugins they already use.
 */
import { randomUUID } from 'node:crypto';
import type { LiveKitEvent } from '../../livekit/event-types.ts';
import type { AnnounceDead } from '../delivery/attempt.ts';
import type { Ingestion } from './ingestion.ts';

const DELIVERY_DEAD_EVENT = 'switchboard.delivery_dead';

/** The worker's AnnounceDead, ingesting the event with `ingestion`; true when the rules queued deliveries for it. */
export function deadLetterAnnouncer(ingestion: Pick<Ingestion, 'ingestWithin'>): AnnounceDead {
  return async (tx, { delivery, event: original, attempts, lastError }, parent) => {
    // A notification about a dead notification would chase itself.
    if (delivery.eventName.startsWith('switchboard.')) return false;
    const event: LiveKitEvent = {
      event: DELIVERY_DEAD_EVENT,
      id: `SB_${randomUUID()}`,
      createdAt: String(Math.floor(Date.now() / 1000)),
      ...(original?.room && { room: original.room }),
      ...(original?.participant && { participant: original.participant }),
      delivery: {
        id: delivery.id,
        ruleId: delivery.ruleId,
        actionIndex: delivery.actionIndex,
        plugin: delivery.plugin,
        target: delivery.target,
        attempts,
        lastError: lastError ?? null,
        eventId: delivery.eventId,
        eventName: delivery.eventName,
      },
    };
    const result = await ingestion.ingestWithin(tx, {
      body: Buffer.from(JSON.stringify(event)),
      event,
      apiKey: 'switchboard',
      receivedAt: new Date(),
    }, parent);
    return result.actions.some((action) => action.status === 'queued');
  };
}
