import { resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../../helpers/switchboard.ts';

/** A plugin's declared `transition`: applied by the store with an inline action's event; `run` serves async ones. */
describe('a declared session transition', () => {
  let sb: TestSwitchboard;
  afterEach(() => sb?.stop());

  async function start(actions: string) {
    sb = await startTestSwitchboard({
      rules: { 'phase.yaml': `rules:\n  - id: phase\n    on: room_started\n    actions:\n${actions}` },
      settings: { PLUGINS_DIR: resolve('test/engine/fixtures/plugins'), WORKER_POLL_INTERVAL: '20ms' },
    });
  }

  it('is applied inline with the event, without calling run, its result the transition', async () => {
    await start(`      - plugin: phase
        mode: inline
        with: { session: "{{ room.name }}", phase: live }
`);
    const { json } = await sb.deliver(sampleBody('room_started'));
    const transition = { key: 'session-42', old_status: 'ready', new_status: 'live', applied: true };
    expect(json.results.actions).toEqual([{ rule: 'phase', plugin: 'phase', status: 'succeeded', result: transition }]);
    expect(await sb.store.getSession('session-42')).toMatchObject({ status: 'live', eventId: json.results.event_id });
    const metrics = await (await fetch(`${sb.url}/metrics`)).text();
    expect(metrics).toContain('switchboard_actions_total{rule="phase",plugin="phase",mode="inline",outcome="succeeded"} 1');
  });

  it('fails its action alone when the plugin declares something that is not a transition', async () => {
    await start(`      - plugin: phase
        mode: inline
        with: { session: "{{ room.name }}", phase: live, declare: broken }
      - plugin: status
        with: { key: "{{ room.name }}", status: started }
`);
    const { status, json } = await sb.deliver(sampleBody('room_started'));
    expect(status).toBe(200);
    expect(json.results.actions).toEqual([
      {
        rule: 'phase',
        plugin: 'phase',
        status: 'failed',
        error: { code: 'E_PLUGIN_INVALID', message: 'plugin "phase": transition must return { key, status, from? } of non-empty strings' },
      },
      expect.objectContaining({ plugin: 'status', status: 'succeeded' }),
    ]);
    expect(await sb.store.getSession('session-42')).toMatchObject({ status: 'started' });
  });

  it('leaves an async action of the plugin to run', async () => {
    await start(`      - plugin: phase
        mode: async
        with: { session: "{{ room.name }}", phase: live }
`);
    const { json } = await sb.deliver(sampleBody('room_started'));
    expect(json.results.actions).toEqual([expect.objectContaining({ status: 'queued' })]);
    await vi.waitFor(async () => expect(await sb.store.getSession('session-42')).toMatchObject({ status: 'live (run)' }), { interval: 20 });
  });
});
