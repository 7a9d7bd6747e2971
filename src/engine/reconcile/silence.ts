/**
 * Silence: rooms are live yet no webhook has come for SILENCE_ALERT, so LiveKit's deliveries may have stopped.
 * Announced once per silence as `switchboard.source_silent`, and once more as `switchboard.source_resumed` when a
 * webhook arrives again. Both ids derive from when the silence began, so two replicas announcing it record it once.
 */
import type { LiveKitEvent } from '../../livekit/event-types.ts';

const SOURCE_SILENT_EVENT = 'switchboard.source_silent';
const SOURCE_RESUMED_EVENT = 'switchboard.source_resumed';

export interface SilenceWatch {
  /** The last webhook before the silence announced; undefined while none is. */
  silentSince: Date | undefined;
}

export const NOT_SILENT: SilenceWatch = { silentSince: undefined };

interface SilenceObservation {
  now: Date;
  /** When the latest real webhook was received (synthetic events do not count); undefined when none ever was. */
  lastWebhookAt: Date | undefined;
  roomsLive: number;
  /** SILENCE_ALERT; 0 turns the watch off. */
  silenceAlertMs: number;
}

export function watchSilence(watch: SilenceWatch, observed: SilenceObservation): { watch: SilenceWatch; event?: LiveKitEvent } {
  const { now, lastWebhookAt, roomsLive, silenceAlertMs } = observed;
  if (watch.silentSince !== undefined) {
    if (lastWebhookAt === undefined || lastWebhookAt <= watch.silentSince) return { watch };
    return {
      watch: NOT_SILENT,
      event: silenceEvent(SOURCE_RESUMED_EVENT, watch.silentSince, now, { roomsLive, resumedAt: lastWebhookAt.toISOString() }),
    };
  }
  if (silenceAlertMs === 0 || roomsLive === 0 || lastWebhookAt === undefined) return { watch };
  if (now.getTime() - lastWebhookAt.getTime() < silenceAlertMs) return { watch };
  return { watch: { silentSince: lastWebhookAt }, event: silenceEvent(SOURCE_SILENT_EVENT, lastWebhookAt, now, { roomsLive }) };
}

function silenceEvent(event: string, since: Date, now: Date, details: Record<string, unknown>): LiveKitEvent {
  return {
    event,
    id: `SB_${event.slice('switchboard.'.length)}_${since.getTime()}`,
    createdAt: String(Math.floor(now.getTime() / 1000)),
    silence: { since: since.toISOString(), seconds: Math.floor((now.getTime() - since.getTime()) / 1000), ...details },
  };
}
