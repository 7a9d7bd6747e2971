import { afterEach, describe, expect, it } from 'vitest';
import type { TestSwitchboard } from '../helpers/switchboard.ts';
import { deliveryWhen, emit, probe, resetProbe, startDeliverySwitchboard } from './fixtures/deliveries.ts';

describe('admin API: targets', () => {
  let sb: TestSwitchboard;
  afterEach(() => sb.stop());

  async function start(settings = {}) {
    resetProbe();
    sb = await startDeliverySwitchboard(settings);
  }
  const targets = async () => (await sb.admin('/api/v1/targets')).json.results.targets;
  const targetNamed = async (name: string) => (await targets()).find((target: any) => target.target === name);

  it('lists each target with its switch and this process’s circuit', async () => {
    await start({ CIRCUIT_FAILURES: '1' });
    probe.answers.set('room-down', 'retryable');
    await deliveryWhen(sb, await emit(sb, 'room-down'));
    await deliveryWhen(sb, await emit(sb, 'room-up'));
    const disabled = await sb.adminPost('/api/v1/targets/room-off/disable', { reason: 'vendor maintenance' });
    expect(disabled.status).toBe(200);

    expect(await targets()).toEqual([
      {
        target: 'room-down',
        disabled: false,
        reason: null,
        changed_at: null,
        circuit: 'open',
        consecutive_failures: 1,
        probe_at: expect.any(String),
        rate_limit: null,
        running: 0,
        // From the per-minute rollup, once it has flushed its attempt.
        latency: expect.toBeOneOf([null, { attempts: 1, p50_ms: expect.any(Number), p95_ms: expect.any(Number) }]),
      },
      {
        target: 'room-off',
        disabled: true,
        reason: 'vendor maintenance',
        changed_at: expect.any(String),
        circuit: 'closed',
        consecutive_failures: 0,
        probe_at: null,
        rate_limit: null,
        running: 0,
        latency: null,
      },
      expect.objectContaining({ target: 'room-up', disabled: false, circuit: 'closed' }),
    ]);
    expect(disabled.json.results).toMatchObject({ target: 'room-off', disabled: true, reason: 'vendor maintenance' });
  });

  it('attempts nothing for a disabled target, and runs its deliveries once it is enabled', async () => {
    await start();
    await sb.adminPost('/api/v1/targets/room-d/disable');
    const id = await emit(sb, 'room-d');
    const other = await emit(sb, 'room-e');
    await deliveryWhen(sb, other);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await sb.admin(`/api/v1/deliveries/${id}`)).json.results).toMatchObject({ state: 'pending', attempts: 0 });
    expect(probe.calls).toEqual(['room-e']);

    const enabled = await sb.adminPost('/api/v1/targets/room-d/enable', {});
    expect(enabled.json.results).toMatchObject({ target: 'room-d', disabled: false });
    expect(await deliveryWhen(sb, id)).toMatchObject({ state: 'succeeded' });
    expect(probe.calls).toEqual(['room-e', 'room-d']);
  });

  it('closes an open circuit when the target is enabled', async () => {
    await start({ CIRCUIT_FAILURES: '1' });
    probe.answers.set('room-down', 'retryable');
    await deliveryWhen(sb, await emit(sb, 'room-down'));
    expect(await targetNamed('room-down')).toMatchObject({ circuit: 'open' });
    await sb.adminPost('/api/v1/targets/room-down/enable');
    expect(await targetNamed('room-down')).toMatchObject({ circuit: 'closed', consecutive_failures: 0, probe_at: null });
  });

  it('takes the target URL-encoded in the path', async () => {
    await start();
    const target = 'https://hooks.example.com';
    const { status, json } = await sb.adminPost(`/api/v1/targets/${encodeURIComponent(target)}/disable`, { reason: 'gone' });
    expect(status).toBe(200);
    expect(json.results).toMatchObject({ target, disabled: true, reason: 'gone' });
    expect(await targetNamed(target)).toMatchObject({ disabled: true });
  });

  it('answers 400 for a body with anything but a reason, and 401 without the token', async () => {
    await start();
    const bad = await sb.adminPost('/api/v1/targets/room-d/disable', { reason: 'x', until: 'tomorrow' });
    expect(bad).toMatchObject({ status: 400, json: { errcode: 'E_INVALID_REQUEST' } });
    expect(bad.json.errmesg).toMatch(/unknown key "until"/);
    expect((await fetch(`${sb.url}/api/v1/targets`)).status).toBe(401);
    expect((await sb.adminPost('/api/v1/targets/room-d/enable', undefined, 'wrong')).status).toBe(401);
  });

  it('gives probe_at as when the open circuit lets its probe through, however long ago the target was first seen', async () => {
    await start({ CIRCUIT_FAILURES: '1', CIRCUIT_RESET: '2s' });
    await deliveryWhen(sb, await emit(sb, 'room-flaky'));
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    probe.answers.set('room-flaky', 'retryable');
    const dead = await deliveryWhen(sb, await emit(sb, 'room-flaky'));
    const target = await targetNamed('room-flaky');
    expect(target).toMatchObject({ circuit: 'open' });
    // The circuit opened just before the attempt was recorded, and waits CIRCUIT_RESET from then.
    expect(Date.parse(target.probe_at)).toBeGreaterThan(Date.parse(dead.updated_at));
    expect(Date.parse(target.probe_at)).toBeLessThanOrEqual(Date.parse(dead.updated_at) + 2_000);
  });

  it('says why a waiting delivery is held, in the list and in the delivery, and exports each target switch', async () => {
    await start({ CIRCUIT_FAILURES: '1', CIRCUIT_RESET: '60s' });
    probe.answers.set('room-down', 'retryable');
    const dead = await deliveryWhen(sb, await emit(sb, 'room-down'));
    const behindCircuit = await emit(sb, 'room-down');
    await sb.adminPost('/api/v1/targets/room-off/disable', { reason: 'vendor maintenance' });
    const behindSwitch = await emit(sb, 'room-off');
    const running = await deliveryWhen(sb, await emit(sb, 'room-up'));

    const listed = (await sb.admin('/api/v1/deliveries')).json.results.deliveries;
    const heldOf = (id: number) => listed.find((delivery: { id: number }) => delivery.id === id).held;
    expect([heldOf(behindCircuit), heldOf(behindSwitch), heldOf(dead.id), heldOf(running.id)]).toEqual([
      'circuit-open',
      'target-disabled',
      null,
      null,
    ]);
    expect((await sb.admin(`/api/v1/deliveries/${behindSwitch}`)).json.results).toMatchObject({ state: 'pending', held: 'target-disabled' });
    expect((await sb.admin(`/api/v1/deliveries/${behindCircuit}`)).json.results).toMatchObject({ state: 'pending', held: 'circuit-open' });

    const metrics = async () => (await fetch(`${sb.url}/metrics`)).text();
    expect(await metrics()).toMatch(/^switchboard_target_disabled\{target="room-off"\} 1$/m);
    expect(await metrics()).toMatch(/^switchboard_target_disabled\{target="room-up"\} 0$/m);
    await sb.adminPost('/api/v1/targets/room-off/enable');
    expect(await metrics()).toMatch(/^switchboard_target_disabled\{target="room-off"\} 0$/m);
  });
});
