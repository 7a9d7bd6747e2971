import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPlugins } from '../../src/plugins/registry.ts';

const BUILT_INS = ['billing', 'http', 'status'];

/** A plugin file with no imports, so it loads from any directory. */
function plugin(name: string, extra = ''): string {
  return `export default { name: '${name}', params: { type: 'object' }, run: () => ({ ran: '${name}' }) ${extra} };\n`;
}

describe('loading plugins', () => {
  let root: string;
  const dir = (name: string, files: Record<string, string>) => {
    const path = join(root, name);
    mkdirSync(path);
    for (const [file, text] of Object.entries(files)) writeFileSync(join(path, file), text);
    return path;
  };
  const names = (registry: Awaited<ReturnType<typeof loadPlugins>>) => registry.list().map(({ definition }) => definition.name).sort();
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'switchboard-registry-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('always loads the built-in plugins, with no PLUGINS_DIR too', async () => {
    expect(names(await loadPlugins(''))).toEqual(BUILT_INS);
  });

  it('adds the plugins of each PLUGINS_DIR directory, separated by ":", to the built-ins', async () => {
    const one = dir('one', { 'alpha.ts': plugin('alpha') });
    const two = dir('two', { 'beta.mjs': plugin('beta') });
    expect(names(await loadPlugins(`${one}:${two}`))).toEqual(['alpha', 'beta', ...BUILT_INS].sort());
  });

  it('does not load the built-ins twice when PLUGINS_DIR names their directory (a checkout\'s ./plugins)', async () => {
    const one = dir('one', { 'alpha.ts': plugin('alpha') });
    expect(names(await loadPlugins(`${resolve('plugins')}:${one}`))).toEqual(['alpha', ...BUILT_INS].sort());
  });

  it('refuses two plugins of one name, naming both files', async () => {
    const one = dir('one', { 'first.ts': plugin('twin') });
    const two = dir('two', { 'second.ts': plugin('twin') });
    await expect(loadPlugins(`${one}:${two}`)).rejects.toMatchObject({
      code: 'E_PLUGIN_INVALID',
      message: `${join(two, 'second.ts')}: plugin name "twin" is already taken by ${join(one, 'first.ts')}`,
    });
  });

  it('refuses a user plugin that takes a built-in name, naming the built-in file', async () => {
    const one = dir('one', { 'mine.ts': plugin('status') });
    await expect(loadPlugins(one)).rejects.toMatchObject({
      code: 'E_PLUGIN_INVALID',
      message: expect.stringMatching(new RegExp(`^${join(one, 'mine.ts')}: plugin name "status" is already taken by .*plugins/status\\.ts$`)),
    });
  });

  it('takes a plugin without a description, and refuses one that is not a string', async () => {
    const plain = dir('plain', { 'quiet.ts': plugin('quiet') });
    expect((await loadPlugins(plain)).get('quiet')?.definition.description).toBeUndefined();
    const odd = dir('odd', { 'odd.ts': plugin('odd', ', description: 42') });
    await expect(loadPlugins(odd)).rejects.toMatchObject({ code: 'E_PLUGIN_INVALID', message: `${join(odd, 'odd.ts')}: "description" must be a string` });
  });

  it('takes a plugin that declares its session transition, and refuses a transition that is not a function', async () => {
    const declared = dir('declared', { 'phase.ts': plugin('phase', ', transition: (params) => params') });
    expect((await loadPlugins(declared)).get('phase')?.definition.transition).toEqual(expect.any(Function));
    const odd = dir('odd', { 'odd.ts': plugin('odd', ", transition: 'live'") });
    await expect(loadPlugins(odd)).rejects.toMatchObject({
      code: 'E_PLUGIN_INVALID',
      message: `${join(odd, 'odd.ts')}: "transition" must be a function (params) => ({ key, status, from })`,
    });
  });

  it("runs with the built-ins alone where the default ./plugins does not exist (a project with no plugins)", async () => {
    const cwd = process.cwd();
    process.chdir(root);
    try {
      expect(names(await loadPlugins('./plugins'))).toEqual(BUILT_INS);
    } finally {
      process.chdir(cwd);
    }
  });

  it('names a PLUGINS_DIR directory that does not exist', async () => {
    await expect(loadPlugins(join(root, 'missing'))).rejects.toMatchObject({
      code: 'E_PLUGIN_INVALID',
      message: `PLUGINS_DIR ${join(root, 'missing')} does not exist or is not a directory`,
    });
  });
});

describe('livekit-switchboard/plugin', () => {
  it('gives Node everything the contract module exports (plugin.js lists them for installed copies)', async () => {
    const published = await import('livekit-switchboard/plugin');
    const contract = await import('../../src/plugins/index.ts');
    expect(Object.keys(published).sort()).toEqual(Object.keys(contract).sort());
    expect(published.PermanentError).toBe(contract.PermanentError);
  });
});
