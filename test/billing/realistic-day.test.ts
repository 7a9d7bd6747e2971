import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomly, seededRandom, startBillingReceiver, type BillingReceiver } from '../helpers/billing-receiver.ts';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.ts';
import { expectedTotals, generateDay, type DayEvent } from './day.ts';

/**
 * The money path end to end: a generated day of LiveKit traffic, with redeliveries, sent to a real `switchboard
 * serve` that is SIGKILLed midway and restarted on the same database, billing to a provider that fails, times out
 * after charging and answers 500 after charging. What the provider applied, what the ledger holds and what the
 * events should cost (worked out independently in day.ts) must be the same, to the unit.
 */
const SECRET = 'sk_test_realistic_day';
const ADMIN_TOKEN = 'admin-token-for-the-day';
/** Stripe-like ids, all 18 characters: the egress rule reads them off the start of the room name. */
const CUSTOMERS = ['cus_AcmeCorp000001', 'cus_Globex00000002', 'cus_Initech0000003', 'cus_Umbrella000004'];
const DUPLICATE_SHARE = 0.07;
const KILL_AT_SHARE = 0.45;
const IN_FLIGHT = 16;

function rules(receiver: BillingReceiver): string {
  const delivery = `retry: { attempts: 20, schedule: [0, 50ms, 100ms] }
        ordering: none`;
  return `rules:
  - id: bill-participants
    on: [participant_left, participant_connection_aborted]
    actions:
      - plugin: billing
        ${delivery}
        with:
          measure: participant_minutes
          unit: minutes
          round: up
          customer: "{{ room.metadataJson.customer }}"
          provider: stripe
          secretKey: "\${env:STRIPE_SECRET_KEY}"
          baseUrl: ${receiver.url}
          timeout: 300ms
  - id: bill-rooms
    on: room_finished
    actions:
      - plugin: billing
        ${delivery}
        with:
          measure: room_minutes
          unit: seconds
          round: nearest
          customer: "{{ room.metadataJson.customer }}"
          provider: http
          url: ${receiver.url}/usage
          cloudevents: true
          timeout: 300ms
  - id: bill-egress
    on: egress_ended
    actions:
      - plugin: billing
        ${delivery}
        with:
          measure: egress_minutes
          # Egress events carry no room: the customer is the start of the room's name, when it is one.
          customer:
            $logic:
              if:
                - { "===": [{ substr: [{ var: egressInfo.roomName }, 0, 4] }, "cus_"] }
                - { substr: [{ var: egressInfo.roomName }, 0, 18] }
                - ""
          provider: stripe
          secretKey: "\${env:STRIPE_SECRET_KEY}"
          baseUrl: ${receiver.url}
          timeout: 300ms
`;
}

/** The day as LiveKit sends it: a share of events delivered twice, the copy a little later. */
function withRedeliveries(events: DayEvent[], seed: number): DayEvent[] {
  const random = seededRandom(seed);
  const sent = [...events];
  for (const event of events) {
    if (random() >= DUPLICATE_SHARE) continue;
    const at = Math.min(sent.length, sent.indexOf(event) + 1 + Math.floor(random() * 50));
    sent.splice(at, 0, event);
  }
  return sent;
}

describe('a realistic day of billing', () => {
  let dir: string;
  let receiver: BillingReceiver;
  let serve: ServeProcess | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-billing-day-'));
    receiver = await startBillingReceiver({ secretKey: SECRET });
  });
  afterAll(async () => {
    await serve?.stop('SIGKILL');
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('bills exactly what happened: provider totals = ledger totals = the events’ own arithmetic', async () => {
    const day = generateDay({ rooms: 250, customers: CUSTOMERS, unbilledRooms: 0.03, egressRooms: 0.3, seed: 2025 });
    const sent = withRedeliveries(day, 7);
    const billable = day.filter((event) => event.charge !== undefined);
    const expected = expectedTotals(day);

    const rulesDir = join(dir, 'rules');
    mkdirSync(rulesDir);
    writeFileSync(join(rulesDir, 'billing.yaml'), rules(receiver));
    const env = {
      RULES_DIR: rulesDir,
      DATABASE_URL: `file:${join(dir, 'switchboard.db')}`,
      ADMIN_TOKEN,
      STRIPE_SECRET_KEY: SECRET,
      DELIVERY_LEASE: '1s',
      WORKER_POLL_INTERVAL: '20ms',
      // Failures come in runs here; a circuit that opens must not stall the day for long.
      CIRCUIT_RESET: '250ms',
    };
    receiver.behave(randomly({ fail: 0.08, hangAfterApply: 0.04, failAfterApply: 0.06 }, 11));

    let acked = 0;
    let killed: Promise<void> | undefined;
    const killAt = Math.floor(sent.length * KILL_AT_SHARE);
    async function post(event: DayEvent): Promise<boolean> {
      const target = serve!;
      try {
        const response = await target.deliver(event.body);
        if (response.status !== 200) return false;
        acked += 1;
        if (!killed && acked >= killAt) killed = target.stop('SIGKILL');
        return true;
      } catch {
        return false;
      }
    }
    /** Sends with a few in flight; what got no 200 is what LiveKit would send again. */
    async function sendAll(events: DayEvent[]): Promise<DayEvent[]> {
      const unanswered: DayEvent[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next < events.length) {
            const event = events[next++];
            if (!(await post(event))) unanswered.push(event);
          }
        }),
      );
      return unanswered;
    }
    const admin = async (path: string) => {
      const response = await fetch(`${serve!.url}${path}`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
      const answer = (await response.json()) as { success: boolean; results: any };
      if (!answer.success) throw new Error(`${path}: ${JSON.stringify(answer)}`);
      return answer.results;
    };

    serve = await startServeProcess(env);
    const unanswered = await sendAll(sent);
    await killed;
    expect(killed).toBeDefined();
    const appliedAtKill = receiver.applied.size;

    serve = await startServeProcess(env);
    const told = () => `; serve said: ${serve!.stdout.slice(-1500)}${serve!.stderr.slice(-1500)}`;
    expect((await sendAll(unanswered)).length, `events refused after the restart${told()}`).toBe(0);
    expect(acked).toBe(sent.length);

    const deadline = Date.now() + 60_000;
    // One snapshot of the queue (the metrics gauge is a single count by state): three separate listings could miss
    // a delivery moving between states while they run.
    const unfinished = async () => {
      const metrics = await (await fetch(`${serve!.url}/metrics`)).text();
      let count = 0;
      for (const match of metrics.matchAll(/^switchboard_deliveries\{state="(pending|running|failed-waiting-retry)"\} (\d+)$/gm)) {
        count += Number(match[2]);
      }
      return count;
    };
    while ((await unfinished()) > 0 && Date.now() < deadline) await sleep(100);
    expect(await unfinished(), `deliveries unfinished${told()}`).toBe(0);
    expect((await admin('/api/v1/deliveries?status=dead')).deliveries).toEqual([]);

    const usage = await admin('/api/v1/usage');
    const ledger: Record<string, Record<string, number>> = {};
    for (const total of usage.totals) {
      ledger[total.customer] ??= {};
      ledger[total.customer][total.meter] = total.quantity;
    }
    const ledgerRows = usage.totals.reduce((sum: number, total: { records: number }) => sum + total.records, 0);
    const misbehaved = receiver.requests.filter((request) => request.outcome !== 'ok').length;
    console.log(
      `billing day: ${day.length} events (${sent.length - day.length} redelivered), ${billable.length} billable, ` +
        `killed after ${killAt} acks with ${appliedAtKill} usages applied, ${unanswered.length} resent; ` +
        `provider saw ${receiver.requests.length} requests (${misbehaved} misbehaved, ${receiver.repeats} repeats), ` +
        `applied ${receiver.applied.size}; ledger ${ledgerRows} rows`,
    );

    expect(Object.keys(expected).sort()).toEqual(CUSTOMERS);
    expect(receiver.totals()).toEqual(expected);
    expect(ledger).toEqual(expected);
    expect(ledgerRows).toBe(billable.length);
    expect(receiver.applied.size).toBe(billable.length);
    expect(receiver.repeats).toBeGreaterThan(0);
    const unbilled = day.find((event) => event.name === 'participant_left' && event.charge === undefined)!;
    expect((await admin(`/api/v1/events/${unbilled.id}`)).actions).toEqual([
      expect.objectContaining({ status: 'failed', error: expect.objectContaining({ code: 'E_BILLING_CUSTOMER' }) }),
    ]);
    expect(usage.totals.filter((total: { meter: string }) => total.meter === 'room_minutes').map((total: { unit: string }) => total.unit)).toEqual(
      CUSTOMERS.map(() => 'seconds'),
    );
  }, 120_000);
});
