import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startSwitchboard } from '../../src/app.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

const ECHO_RULE = `rules:
  - id: echo-room
    on: room_started
    actions:
      - plugin: echo
        mode: inline
        with: { room: "{{ room.name }}" }
`;

/** A user's plugin answering `said`, so a test sees which version of the file is in force. */
function echoPlugin(said: string): string {
  return `export default { name: 'echo', inline: true, params: { type: 'object' }, run: (params) => ({ said: '${said}', room: params.room }) };\n`;
}

describe('plugins reload with the rules', () => {
  let sb: TestSwitchboard;
  let pluginsDir: string;
  let root: string;
  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'switchboard-plugins-reload-'));
    pluginsDir = join(root, 'plugins');
    mkdirSync(pluginsDir);
    writeFileSync(join(pluginsDir, 'echo.ts'), echoPlugin('first'));
    sb = await startTestSwitchboard({ rules: { 'echo.yaml': ECHO_RULE }, settings: { PLUGINS_DIR: pluginsDir } });
  });
  afterEach(async () => {
    await sb.stop();
    rmSync(root, { recursive: true, force: true });
  });

  let events = 0;
  const said = async () => {
    const { json } = await sb.deliver(sampleBody('room_started', { id: `EV_plugins_reload_${++events}`, room: { sid: `RM_plugins_reload_${events}` } }));
    expect(json.results.actions, JSON.stringify(json)).toHaveLength(1);
    return json.results.actions[0].result.said;
  };

  it('puts a changed plugin file in force on reload (SIGHUP), beside the built-ins', async () => {
    expect(await said()).toBe('first');
    writeFileSync(join(pluginsDir, 'echo.ts'), echoPlugin('second'));
    expect(await sb.rules.reload('SIGHUP')).toBe(true);
    expect(await said()).toBe('second');
    expect(sb.plugins.get('status')).toBeDefined();
  });

  it('reloads by itself when a file under a PLUGINS_DIR directory changes', async () => {
    sb.rules.watch(20);
    writeFileSync(join(pluginsDir, 'echo.ts'), echoPlugin('watched'));
    await vi.waitFor(async () => expect(await said()).toBe('watched'), { timeout: 5000, interval: 50 });
  });

  it('keeps the plugins and rules in force when a plugin breaks, and reports the file', async () => {
    writeFileSync(join(pluginsDir, 'echo.ts'), 'export default { name: "echo", params: {}, run: ( };\n');
    expect(await sb.rules.reload('SIGHUP')).toBe(false);
    expect(await said()).toBe('first');
    const { json } = await sb.admin('/api/v1/rules');
    expect(json.results.last_reload).toMatchObject({
      reason: 'SIGHUP',
      outcome: 'failure',
      problems: [{ message: expect.stringContaining(`${join(pluginsDir, 'echo.ts')}: could not load plugin`) }],
    });
    const failure = sb.logs.find((line) => line.msg === 'rules reload failed; keeping the rules in force');
    expect(JSON.stringify(failure)).toContain('echo.ts');

    writeFileSync(join(pluginsDir, 'echo.ts'), echoPlugin('fixed'));
    expect(await sb.rules.reload('SIGHUP')).toBe(true);
    expect(await said()).toBe('fixed');
  });

  it('keeps the plugins in force when the new ones leave a rule without its plugin', async () => {
    writeFileSync(join(pluginsDir, 'echo.ts'), echoPlugin('first').replace("name: 'echo'", "name: 'renamed'"));
    expect(await sb.rules.reload('SIGHUP')).toBe(false);
    expect(sb.plugins.get('renamed')).toBeUndefined();
    expect(await said()).toBe('first');
  });
});

describe('a broken plugin at start-up', () => {
  it('stops start-up, naming the file', async () => {
    const root = mkdtempSync(join(tmpdir(), 'switchboard-plugins-broken-'));
    try {
      writeFileSync(join(root, 'broken.ts'), 'export default { name: "broken", params: {}, run: ( };\n');
      const config = { pluginsDir: root, rulesDir: root } as Parameters<typeof startSwitchboard>[0];
      await expect(startSwitchboard(config, console as never)).rejects.toMatchObject({
        code: 'E_PLUGIN_INVALID',
        message: expect.stringContaining(`${join(root, 'broken.ts')}: could not load plugin`),
      });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
