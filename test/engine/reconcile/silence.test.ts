import { describe, expect, it } from 'vitest';
import { NOT_SILENT, watchSilence, type SilenceWatch } from '../../../src/engine/reconcile/silence.ts';

const start = Date.parse('2025-11-23T00:00:00Z');
const at = (seconds: number) => new Date(start + seconds * 1000);
const silenceAlertMs = 300_000;

/** Watches once a minute; `webhooks` are the seconds at which one arrived. */
function watchMinutes(minutes: number, webhooks: number[], roomsLive = 1, alertMs = silenceAlertMs) {
  let watch: SilenceWatch = NOT_SILENT;
  const events: Array<{ minute: number; event: string; id: string }> = [];
  for (let minute = 1; minute <= minutes; minute += 1) {
    const now = minute * 60;
    const arrived = webhooks.filter((second) => second <= now);
    const lastWebhookAt = arrived.length > 0 ? at(Math.max(...arrived)) : undefined;
    const outcome = watchSilence(watch, { now: at(now), lastWebhookAt, roomsLive, silenceAlertMs: alertMs });
    watch = outcome.watch;
    if (outcome.event) events.push({ minute, event: outcome.event.event, id: outcome.event.id! });
  }
  return events;
}

describe('the silence watch', () => {
  it('announces a silence once, and its end once, when webhooks come back', () => {
    expect(watchMinutes(20, [30, 60 * 15 + 10])).toEqual([
      { minute: 6, event: 'switchboard.source_silent', id: `SB_source_silent_${start + 30_000}` },
      { minute: 16, event: 'switchboard.source_resumed', id: `SB_source_resumed_${start + 30_000}` },
    ]);
  });

  it('says when the silence began, how long it lasted and how many rooms are live', () => {
    const silent = watchSilence(NOT_SILENT, { now: at(400), lastWebhookAt: at(30), roomsLive: 3, silenceAlertMs });
    expect(silent.event).toEqual({
      event: 'switchboard.source_silent',
      id: `SB_source_silent_${start + 30_000}`,
      createdAt: String(start / 1000 + 400),
      silence: { since: '2025-11-23T00:00:30.000Z', seconds: 370, roomsLive: 3 },
    });
    const resumed = watchSilence(silent.watch, { now: at(1000), lastWebhookAt: at(990), roomsLive: 2, silenceAlertMs });
    expect(resumed.event?.silence).toEqual({
      since: '2025-11-23T00:00:30.000Z',
      seconds: 970,
      roomsLive: 2,
      resumedAt: '2025-11-23T00:16:30.000Z',
    });
  });

  it('stays quiet while no room is live, when SILENCE_ALERT is 0, and before any webhook ever came', () => {
    expect(watchMinutes(20, [30], 0)).toEqual([]);
    expect(watchMinutes(20, [30], 1, 0)).toEqual([]);
    expect(watchMinutes(20, [])).toEqual([]);
  });

  it('does not announce a silence shorter than SILENCE_ALERT', () => {
    expect(watchMinutes(20, [30, 240, 480, 720, 960, 1140])).toEqual([]);
  });
});
