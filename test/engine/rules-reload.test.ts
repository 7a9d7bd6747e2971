import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sampleBody, SHIPPED_STATUS_RULES, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

const EXTRA_RULE = `rules:
  - id: participant-in-call
    on: participant_joined
    actions:
      - plugin: status
        mode: inline
        with: { key: "{{ room.name }}/{{ participant.identity }}", status: in-call }
`;

describe('rule reload', () => {
  let sb: TestSwitchboard;
  beforeEach(async () => {
    sb = await startTestSwitchboard();
  });
  afterEach(() => sb.stop());

  it('picks up a new rule file on reload', async () => {
    writeFileSync(join(sb.rulesDir, 'participants.yaml'), EXTRA_RULE);
    expect(await sb.rules.reload('test')).toBe(true);
    const { json } = await sb.deliver(sampleBody('participant_joined'));
    expect(json.results.matched).toEqual(['participant-in-call']);
    expect(json.results.actions[0].result).toMatchObject({ key: 'session-42/alice', new_status: 'in-call' });
  });

  it('keeps the previous rules and logs why when the change is invalid', async () => {
    writeFileSync(join(sb.rulesDir, 'session-status.yaml'), SHIPPED_STATUS_RULES.replace('plugin: status', 'plugin: nope'));
    expect(await sb.rules.reload('test')).toBe(false);
    const { json } = await sb.deliver(sampleBody('room_started'));
    expect(json.results.matched).toEqual(['session-live']);
    const failure = sb.logs.find((line) => line.msg === 'rules reload failed; keeping the rules in force');
    expect(JSON.stringify(failure)).toMatch(/session-status\.yaml:\d+:\d+.*nope/);
  });

  it('reloads by itself when a file under RULES_DIR changes', async () => {
    sb.rules.watch(20);
    writeFileSync(join(sb.rulesDir, 'participants.yaml'), EXTRA_RULE);
    await vi.waitFor(() => expect(sb.rules.current().rules.map((r) => r.id)).toContain('participant-in-call'), {
      timeout: 5000,
      interval: 20,
    });
  });

  // Deploys often swap the whole directory (rsync --delete-after, a new checkout moved into place).
  it('keeps watching when RULES_DIR is replaced by another directory', async () => {
    sb.rules.watch(20);
    const next = `${sb.rulesDir}.next`;
    mkdirSync(next);
    writeFileSync(join(next, 'session-status.yaml'), SHIPPED_STATUS_RULES);
    writeFileSync(join(next, 'participants.yaml'), EXTRA_RULE);
    rmSync(sb.rulesDir, { recursive: true });
    await new Promise((resolve) => setTimeout(resolve, 300));
    renameSync(next, sb.rulesDir);
    const ids = () => sb.rules.current().rules.map((r) => r.id);
    await vi.waitFor(() => expect(ids()).toContain('participant-in-call'), { timeout: 5000, interval: 20 });

    // And the watcher now follows the new directory.
    writeFileSync(join(sb.rulesDir, 'participants.yaml'), EXTRA_RULE.replace('participant-in-call', 'participant-joined'));
    await vi.waitFor(() => expect(ids()).toContain('participant-joined'), { timeout: 5000, interval: 20 });
  });
});
