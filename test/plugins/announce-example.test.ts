import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

/**
 * The README's worked plugin example, tested the way a user tests a plugin: dropped into a plugins directory next
 * to the built-ins, used by a rule, driven by a signed event through the real server.
 */
const RULE = `rules:
  - id: announce-start
    on: room_started
    actions:
      - plugin: announce
        with: { channel: "{{ room.name }}", text: "{{ room.name }} has started" }
`;

function pluginsDirWithExample(root: string): string {
  const dir = join(root, 'plugins');
  mkdirSync(dir);
  // As if the package were linked into the user's project: their plugins import `livekit-switchboard/plugin`.
  mkdirSync(join(root, 'node_modules'));
  symlinkSync(resolve('.'), join(root, 'node_modules', 'livekit-switchboard'), 'dir');
  copyFileSync('docs/examples/announce.ts', join(dir, 'announce.ts'));
  return dir;
}

describe('the announce example plugin', () => {
  let sb: TestSwitchboard;
  let root: string;
  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'switchboard-plugins-'));
    sb = await startTestSwitchboard({
      rules: { 'announce.yaml': RULE },
      settings: { PLUGINS_DIR: pluginsDirWithExample(root) },
    });
  });
  afterEach(async () => {
    await sb.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('loads beside the built-ins and runs inline from a rule', async () => {
    const { json } = await sb.deliver(sampleBody('room_started'));
    expect(json.results.actions).toEqual([
      {
        rule: 'announce-start',
        plugin: 'announce',
        status: 'succeeded',
        result: { key: 'announce/session-42', old_status: 'ready', new_status: 'session-42 has started', applied: true },
      },
    ]);
  });

  it('reports a PermanentError as a failed action with its message', async () => {
    const { json } = await sb.deliver(sampleBody('room_started', { room: { name: 'x'.repeat(200) } }));
    expect(json.results.actions[0]).toMatchObject({
      status: 'failed',
      error: { code: 'E_PLUGIN_PERMANENT', message: 'announcement longer than 200 characters' },
    });
  });
});
