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

  it('after a failed reload stays ready on the last good rules, and says so in /readyz, /api/v1/rules and /metrics', async () => {
    writeFileSync(join(sb.rulesDir, 'session-status.yaml'), SHIPPED_STATUS_RULES.replace('plugin: status', 'plugin: nope'));
    expect(await sb.rules.reload('test')).toBe(false);

    const ready = await fetch(`${sb.url}/readyz`);
    expect(ready.status).toBe(200);
    const { results } = (await ready.json()) as { results: { checks: Record<string, string> } };
    expect(results.checks.rules).toMatch(/^stale: last reload failed at \d{4}-\d\d-\d\dT[\d:.]+Z: 1 problems$/);

    const { status, json } = await sb.admin('/api/v1/rules');
    expect(status).toBe(200);
    expect(json.results.rules.map((rule: { id: string }) => rule.id)).toEqual(['session-live', 'session-stopped']);
    expect(json.results.last_reload).toMatchObject({
      reason: 'test',
      outcome: 'failure',
      problems: [{ file: expect.stringMatching(/session-status\.yaml$/), line: 5, rule_id: 'session-live', message: expect.stringMatching(/nope/) }],
    });
    expect(Date.parse(json.results.loaded_at)).toBeLessThan(Date.parse(json.results.last_reload.at));

    const metrics = await (await fetch(`${sb.url}/metrics`)).text();
    expect(metrics).toMatch(/^switchboard_rules_reloads_total\{outcome="success"\} 1$/m);
    expect(metrics).toMatch(/^switchboard_rules_reloads_total\{outcome="failure"\} 1$/m);
    const lastSuccess = Number(/^switchboard_rules_last_reload_success_timestamp_seconds (\S+)$/m.exec(metrics)?.[1]);
    expect(lastSuccess * 1000).toBe(Date.parse(json.results.loaded_at));

    writeFileSync(join(sb.rulesDir, 'session-status.yaml'), SHIPPED_STATUS_RULES);
    expect(await sb.rules.reload('fixed')).toBe(true);
    expect(((await (await fetch(`${sb.url}/readyz`)).json()) as any).results.checks.rules).toBe('ok: 2 rules');
    expect((await sb.admin('/api/v1/rules')).json.results.last_reload).toMatchObject({ reason: 'fixed', outcome: 'success', problems: [] });
  });

  it('reloads by itself when a file under RULES_DIR changes', async () => {
    sb.rules.watch(20);
    writeFileSync(join(sb.rulesDir, 'participants.yaml'), EXTRA_RULE);
    await vi.waitFor(() => expect(sb.rules.current().rules.map((r) => r.id)).toContain('participant-in-call'), {
      timeout: 5000,
      interval: 20,
    });
  });

  it('does not reload for a file beside the rules that is not one: a log, an editor\'s swap or backup file', async () => {
    sb.rules.watch(20);
    const loads = () => sb.rules.status().loads;
    const before = loads();
    for (let n = 0; n < 5; n++) {
      writeFileSync(join(sb.rulesDir, 'serve.log'), `line ${n}\n`, { flag: 'a' });
      writeFileSync(join(sb.rulesDir, '.session-status.yaml.swp'), `swap ${n}`);
      writeFileSync(join(sb.rulesDir, 'session-status.yaml~'), `backup ${n}`);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    writeFileSync(join(sb.rulesDir, 'participants.yaml'), EXTRA_RULE);
    await vi.waitFor(() => expect(sb.rules.current().rules.map((r) => r.id)).toContain('participant-in-call'), { timeout: 5000, interval: 20 });
    expect(loads()).toEqual({ ...before, success: before.success + 1 });
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
