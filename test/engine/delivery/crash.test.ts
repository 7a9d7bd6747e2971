import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../../src/store/open.ts';
import { startReceiver, type Receiver } from '../../helpers/receivers.ts';
import { startServeProcess, type ServeProcess } from '../../helpers/serve-process.ts';
import { sampleBody } from '../../helpers/switchboard.ts';

const EVENTS = 1000;
const KILL_AFTER_ACKS = 400;

describe('a SIGKILL in the middle of a run', () => {
  let dir: string;
  let receiver: Receiver;
  let child: ServeProcess | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-crash-'));
    receiver = await startReceiver((_request, response) => {
      setTimeout(() => response.writeHead(200).end('{}'), 5);
    });
  });
  afterAll(async () => {
    await child?.stop('SIGKILL');
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses no acknowledged action, and duplicates stay within the leases in flight', async () => {
    const rulesDir = join(dir, 'rules');
    mkdirSync(rulesDir);
    writeFileSync(
      join(rulesDir, 'forward.yaml'),
      `rules:
  - id: forward
    on: "*"
    actions:
      - plugin: http
        mode: async
        ordering: none
        retry: { attempts: 10, schedule: [0, 100ms] }
        with: { url: "${receiver.url}/hook" }
`,
    );
    const databaseUrl = `file:${join(dir, 'switchboard.db')}`;
    const env = { RULES_DIR: rulesDir, DATABASE_URL: databaseUrl, DELIVERY_LEASE: '1s', WORKER_POLL_INTERVAL: '20ms' };
    const bodies = Array.from({ length: EVENTS }, (_, i) =>
      sampleBody('participant_joined', {
        id: `EV_crash${String(i).padStart(4, '0')}`,
        room: { name: `session-${i % 50}` },
        // Each a participant of its own: a participant joins once.
        participant: { sid: `PA_crash${i}` },
      }),
    );

    const acked = new Set<string>();
    let killed: Promise<void> | undefined;
    async function post(body: string): Promise<boolean> {
      try {
        const response = await child!.deliver(body);
        if (response.status !== 200) return false;
        acked.add(JSON.parse(body).id);
        if (!killed && acked.size >= KILL_AFTER_ACKS) killed = child!.stop('SIGKILL');
        return true;
      } catch {
        return false;
      }
    }
    /** Sends with a few in flight at once; what did not get a 200 is what LiveKit would send again. */
    async function sendAll(pending: string[]): Promise<string[]> {
      const unanswered: string[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < pending.length) {
            const body = pending[next++];
            if (!(await post(body))) unanswered.push(body);
          }
        }),
      );
      return unanswered;
    }

    child = await startServeProcess(env);
    const unanswered = await sendAll(bodies);
    expect(killed).toBeDefined();
    await killed;

    const store = await openStore(databaseUrl);
    const inFlightAtKill = (await store.countDeliveries()).running;
    await store.close();

    child = await startServeProcess(env);
    expect(await sendAll(unanswered)).toEqual([]);
    expect(acked.size).toBe(EVENTS);

    const deadline = Date.now() + 60_000;
    const delivered = () => new Set(receiver.requests.map((request) => JSON.parse(request.body).id));
    while (delivered().size < EVENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const duplicates = receiver.requests.length - delivered().size;
    console.log(
      `crash run: ${EVENTS} events, killed after ${KILL_AFTER_ACKS} acks, ${unanswered.length} resent by the client, ` +
        `${inFlightAtKill} deliveries in flight at the kill, ${delivered().size} delivered, ${duplicates} duplicates`,
    );
    expect(delivered().size).toBe(EVENTS);
    expect(duplicates).toBeLessThanOrEqual(inFlightAtKill);
  }, 120_000);
});
