import { afterEach, describe, expect, it, vi } from 'vitest';
import { startReceiver, type Receiver } from '../helpers/receivers.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

/**
 * Event data interpolated into the http plugin's url is percent-encoded for the part it lands in: the partner
 * receives the path and query the rule's author wrote, with the value inside one segment or one query value.
 */
describe('a templated url with hostile event data', () => {
  let sb: TestSwitchboard;
  let partner: Receiver;
  afterEach(async () => {
    await sb?.stop();
    await partner?.close();
  });

  async function forward(url: string, identity: string): Promise<void> {
    partner = await startReceiver();
    const rules = `rules:
  - id: forward
    on: participant_joined
    actions:
      - plugin: http
        with:
          url: "${partner.url}${url}"
          headers: { Authorization: "Bearer \${env:T}" }
`;
    sb = await startTestSwitchboard({ rules: { 'forward.yaml': rules }, env: { T: 'secret' } });
    const body = sampleBody('participant_joined', { id: 'EV_url_1', participant: { identity } });
    expect((await sb.deliver(body)).status).toBe(200);
  }

  it('keeps a path traversal, a query and a fragment inside one path segment', async () => {
    await forward('/hooks/{{ participant.identity }}?token=${env:T}', '../../admin/delete?confirm=yes#');
    await vi.waitFor(() => expect(partner.count).toBe(1), { timeout: 5000, interval: 20 });
    expect(partner.requests[0].path).toBe('/hooks/..%2F..%2Fadmin%2Fdelete%3Fconfirm%3Dyes%23?token=secret');
  });

  it('keeps a query value from adding parameters', async () => {
    await forward('/hooks?who={{ participant.identity }}&token=${env:T}', 'x&token=forged#frag');
    await vi.waitFor(() => expect(partner.count).toBe(1), { timeout: 5000, interval: 20 });
    expect(partner.requests[0].path).toBe('/hooks?who=x%26token%3Dforged%23frag&token=secret');
  });

  it('refuses a value that would be a dot segment, sending nothing', async () => {
    await forward('/hooks/{{ participant.identity }}/delete', '..');
    await vi.waitFor(async () => {
      const { json } = await sb.admin('/api/v1/events/EV_url_1');
      expect(JSON.stringify(json)).toContain('E_RULE_RENDER');
    }, { timeout: 5000, interval: 50 });
    expect(partner.count).toBe(0);
  });
});
