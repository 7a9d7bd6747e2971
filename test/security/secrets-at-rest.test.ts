/**
 * A delivery's params are stored without its action's `${env:…}` secrets: each attempt takes them from the action
 * in force, found by a stable identity, so a rotated secret reaches dead deliveries that are replayed, and a
 * delivery whose action cannot be found with certainty fails with E_RULE_GONE instead of sending a secret elsewhere.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Delivery } from '../../src/store/store.ts';
import { createTestSchema, requirePostgres, SKIP_POSTGRES, type TestSchema } from '../helpers/postgres.ts';
import { ok, startReceiver, status, type Receiver } from '../helpers/receivers.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

const TOKEN = 'partner-token-0001';
const ROTATED = 'partner-token-0002';
const SIGNING = 'signing-secret-0001';

function partnerRule(url: string, options: { id?: string; before?: string } = {}): string {
  return `rules:
  - id: partner
    on: room_started
    actions:
${options.before ?? ''}      - plugin: http
${options.id === undefined ? '' : `        id: ${options.id}\n`}        retry: { attempts: 1 }
        with:
          url: "${url}/hook?token=\${env:PARTNER_TOKEN}"
          headers: { Authorization: "Bearer \${env:PARTNER_TOKEN}" }
          sign: { scheme: hmac-sha256, secret: "\${env:SIGNING_SECRET}" }
`;
}

describe.each([
  ['SQLite', false],
  ['PostgreSQL', true],
] as const)('secrets at rest on %s', (_name, postgres) => {
  let sb: TestSwitchboard;
  let receiver: Receiver;
  let other: Receiver | undefined;
  let schema: TestSchema | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    if (postgres && !SKIP_POSTGRES) await requirePostgres();
  });
  afterEach(async () => {
    await sb?.stop();
    await receiver?.close();
    await other?.close();
    await schema?.drop();
    other = undefined;
    schema = undefined;
  });

  async function start(rule: (url: string) => string) {
    receiver = await startReceiver(status(500));
    env = { PARTNER_TOKEN: TOKEN, SIGNING_SECRET: SIGNING };
    schema = postgres ? await createTestSchema() : undefined;
    sb = await startTestSwitchboard({
      rules: { 'partner.yaml': rule(receiver.url) },
      env,
      settings: { WORKER_POLL_INTERVAL: '20ms', ...(schema && { DATABASE_URL: schema.url }) },
    });
  }

  async function dead(): Promise<Delivery> {
    const { json } = await sb.deliver(sampleBody('room_started'));
    const id = json.results.actions[0].result.delivery_id;
    return settled(id, 'dead');
  }

  async function settled(id: number, state: Delivery['state']): Promise<Delivery> {
    return vi.waitFor(async () => {
      const delivery = await sb.store.getDelivery(id);
      expect(delivery?.state).toBe(state);
      return delivery!;
    });
  }

  async function rewrite(text: string) {
    writeFileSync(join(sb.rulesDir, 'partner.yaml'), text);
    expect(await sb.rules.reload('test')).toBe(true);
  }

  it.skipIf(postgres && SKIP_POSTGRES)('stores no secret and sends the secrets in force, rotated ones to a replayed dead delivery too', async () => {
    await start((url) => partnerRule(url));
    const delivery = await dead();
    const stored = JSON.stringify(delivery.params);
    expect(stored).not.toContain(TOKEN);
    expect(stored).not.toContain(SIGNING);
    expect(stored).toContain('${env:PARTNER_TOKEN}');
    expect(receiver.requests[0].headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(receiver.requests[0].path).toBe(`/hook?token=${TOKEN}`);
    if (!postgres) {
      // Not in the database file nor in its write-ahead log.
      for (const file of readdirSync(sb.dir).filter((name) => name.startsWith('switchboard.db'))) {
        expect(readFileSync(join(sb.dir, file)).includes(TOKEN), file).toBe(false);
      }
    }

    env.PARTNER_TOKEN = ROTATED;
    expect(await sb.rules.reload('rotation')).toBe(true);
    receiver.behave(ok());
    await sb.adminPost(`/api/v1/deliveries/${delivery.id}/replay`);
    await settled(delivery.id, 'succeeded');
    expect(receiver.requests[1].headers.authorization).toBe(`Bearer ${ROTATED}`);
    expect(receiver.requests[1].path).toBe(`/hook?token=${ROTATED}`);
  });

  it.skipIf(postgres && SKIP_POSTGRES)('finds an action with an id after the rule is reordered', async () => {
    await start((url) => partnerRule(url, { id: 'notify' }));
    const delivery = await dead();
    other = await startReceiver(ok());
    const before = `      - plugin: http\n        with: { url: "${other.url}/first", headers: { Authorization: "Bearer \${env:PARTNER_TOKEN}" } }\n`;
    await rewrite(partnerRule(receiver.url, { id: 'notify', before }));
    receiver.behave(ok());
    await sb.adminPost(`/api/v1/deliveries/${delivery.id}/replay`);
    await settled(delivery.id, 'succeeded');
    expect(receiver.requests[1].headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it.skipIf(postgres && SKIP_POSTGRES)('fails with E_RULE_GONE when the action now sends its secrets to another target', async () => {
    await start((url) => partnerRule(url));
    const delivery = await dead();
    other = await startReceiver(ok());
    // The same plugin and secrets at the same position, but another host: the secret was not written for it.
    await rewrite(partnerRule(other.url));
    receiver.behave(ok());
    await sb.adminPost(`/api/v1/deliveries/${delivery.id}/replay`);
    const gone = await vi.waitFor(async () => {
      const found = await sb.store.getDelivery(delivery.id);
      expect(found?.lastError?.code).toBe('E_RULE_GONE');
      return found!;
    });
    expect(gone.state).toBe('dead');
    expect(gone.lastError?.message).toMatch(/no action of rule "partner"/);
    expect(receiver.count).toBe(1);
    expect(other.count).toBe(0);
  });
});
