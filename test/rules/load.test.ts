import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isSwitchboardError } from '../../src/errors.ts';
import type { EventContext, LiveKitEvent } from '../../src/livekit/event-types.ts';
import { loadRules } from '../../src/rules/load.ts';
import { loadRuleTests, runRuleTests } from '../../src/rules/rule-tests.ts';
import { plugins, renderActions, roomStarted } from './helpers.ts';

const rule = (id: string) => `rules:\n  - id: ${id}\n    on: room_started\n    actions: [{ plugin: status, with: { key: k, status: live } }]\n`;

describe('loadRules', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-rules-'));
    dirs.push(dir);
    return dir;
  };
  const write = (dir: string, file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads every .yaml and .yml file below the directory, in sorted path order', async () => {
    const dir = tempDir();
    write(dir, 'b.yml', rule('from-b'));
    write(dir, 'a/z.yaml', rule('from-a-z'));
    write(dir, 'a.yaml', rule('from-a'));
    write(dir, 'notes.txt', 'not a rule file');
    const ruleSet = await loadRules({ dir, plugins, env: {} });
    expect(ruleSet.rules.map((r) => [r.id, path.relative(dir, r.location.file)])).toEqual([
      ['from-a', 'a.yaml'],
      ['from-a-z', path.join('a', 'z.yaml')],
      ['from-b', 'b.yml'],
    ]);
    expect(ruleSet.match(roomStarted()).map((r) => r.id)).toEqual(['from-a', 'from-a-z', 'from-b']);
  });

  it('skips the top-level tests/ folder and hidden entries, but not a nested tests/ folder', async () => {
    const dir = tempDir();
    write(dir, 'tests/rules.yaml', 'tests: []\n');
    write(dir, '..data/copy.yaml', rule('hidden-copy'));
    write(dir, 'team/tests/rule.yaml', rule('nested'));
    const ruleSet = await loadRules({ dir, plugins, env: {} });
    expect(ruleSet.rules.map((r) => r.id)).toEqual(['nested']);
  });

  it('accepts a directory with no rule files', async () => {
    const ruleSet = await loadRules({ dir: tempDir(), plugins, env: {} });
    expect(ruleSet.rules).toEqual([]);
    expect(ruleSet.match(roomStarted())).toEqual([]);
  });

  it('says when the directory does not exist', async () => {
    const dir = path.join(tempDir(), 'missing');
    const error = await loadRules({ dir, plugins, env: {} }).catch((caught: unknown) => caught);
    expect(isSwitchboardError(error, 'E_RULES_INVALID')).toBe(true);
    expect((error as Error).message).toBe(`rules directory ${dir} does not exist or is not a directory`);
  });

  it('reports problems with the path of the file they are in', async () => {
    const dir = tempDir();
    write(dir, 'a.yaml', rule('same'));
    write(dir, 'b.yaml', rule('same'));
    const error = await loadRules({ dir, plugins, env: {} }).catch((caught: unknown) => caught);
    expect((error as Error).message).toBe(
      `${path.join(dir, 'b.yaml')}:2:9: [same] duplicate rule id "same" (first defined at ${path.join(dir, 'a.yaml')}:2)`,
    );
  });
});

describe('the shipped rules', () => {
  const rulesDir = path.join(import.meta.dirname, '../../rules');
  const samplesDir = path.join(import.meta.dirname, '../../src/livekit/samples');
  const sampleFor = (name: string): LiveKitEvent | undefined => {
    const file = path.join(samplesDir, `${name}.json`);
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined;
  };
  const buildContext = (event: LiveKitEvent): EventContext => {
    const context = structuredClone(event);
    if (context.room?.metadata) context.room.metadataJson = JSON.parse(context.room.metadata);
    return context;
  };

  it('load', async () => {
    const ruleSet = await loadRules({ dir: rulesDir, plugins, env: {} });
    expect(ruleSet.rules.map((r) => [r.id, r.on, r.actions.map((action) => [action.plugin, action.mode])])).toEqual([
      ['session-live', ['room_started'], [['status', 'inline']]],
      ['session-stopped', ['room_finished'], [['status', 'inline']]],
    ]);
  });

  it('pass their own tests', async () => {
    const ruleSet = await loadRules({ dir: rulesDir, plugins, env: {} });
    const results = await runRuleTests(ruleSet, await loadRuleTests(rulesDir), { sampleFor, buildContext, preview: renderActions });
    expect(results.length).toBeGreaterThan(0);
    expect(results.filter((result) => !result.passed)).toEqual([]);
  });
});
