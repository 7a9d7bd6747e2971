/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core against a real Switchboard.
 * Each page it visits is saved as a screenshot under docs/dashboard/, which the README shows.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, sampleBody, SHIPPED_STATUS_RULES, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';
import { deliveryWhen, emit, probe, resetProbe } from '../server/fixtures/deliveries.ts';

const READ_TOKEN = 'read-token-for-tests';
const SCREENSHOTS = resolve('docs/dashboard');
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

// The probe plugin as an async action with one attempt (a refusal is dead at once), beside the shipped status rules.
const NOTIFY_RULES = `rules:
  - id: notify
    description: Tells the room's backend a room has started
    on: room_started
    actions:
      - plugin: probe
        mode: async
        with: { target: "{{ room.name }}" }
        retry: { attempts: 1, schedule: [0] }
        ordering: none
`;

// A browser under a full parallel test run on two cores needs more than the default 20 s per test.
describe('dashboard in a browser', { timeout: 60_000 }, () => {
  let sb: TestSwitchboard;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  });
  afterAll(() => browser?.close());

  beforeEach(async () => {
    resetProbe();
    sb = await startTestSwitchboard({
      rules: { 'notify.yaml': NOTIFY_RULES, 'session-status.yaml': SHIPPED_STATUS_RULES },
      settings: { PLUGINS_DIR: resolve('test/ui/fixtures/plugins'), WORKER_POLL_INTERVAL: '20ms', ADMIN_READ_TOKEN: READ_TOKEN },
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
  });
  afterEach(async () => {
    await context.close();
    await sb.stop();
  });

  async function logIn(token = ADMIN_TOKEN, path = '/ui'): Promise<void> {
    await page.goto(`${sb.url}${path}`);
    await page.fill('input[name=token]', token);
    await page.click('button:has-text("Log in")');
    await page.waitForURL((url) => !url.pathname.startsWith('/ui/login'));
  }

  async function deadDelivery(target: string): Promise<number> {
    probe.answers.set(target, 'permanent');
    const id = await emit(sb, target);
    await deliveryWhen(sb, id, (delivery) => delivery.state === 'dead');
    return id;
  }

  const shoot = (name: string) => page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });

  it('sends a logged-out visit to the login page, and back where it was going once logged in', async () => {
    await page.goto(`${sb.url}/ui/deliveries?status=dead`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    await expect(page.locator('form[action="/ui/login"] input[name=token]').count()).resolves.toBe(1);
    await shoot('login');

    await page.fill('input[name=token]', 'not-a-token');
    await page.click('button:has-text("Log in")');
    await expect(page.locator('.error').textContent()).resolves.toContain('neither ADMIN_TOKEN nor ADMIN_READ_TOKEN');

    await page.fill('input[name=token]', ADMIN_TOKEN);
    await page.click('button:has-text("Log in")');
    await page.waitForURL(`${sb.url}/ui/deliveries?status=dead`);
    const cookie = (await context.cookies()).find((c) => c.name === 'switchboard_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false, path: '/ui' });

    await page.click('button:has-text("Log out")');
    await page.waitForURL(/\/ui\/login/);
    await page.goto(`${sb.url}/ui/targets`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
  });

  it('finds an event by id and shows its payload, matched rules and deliveries', async () => {
    const eventId = `EV_${randomUUID()}`;
    const { json } = await sb.deliver(sampleBody('room_started', { id: eventId, room: { name: 'standup-42' } }));
    const deliveryId = json.results.actions.find((action: any) => action.status === 'queued').result.delivery_id;
    await deliveryWhen(sb, deliveryId);
    await logIn();
    await shoot('overview');

    await page.click('nav a:has-text("Events")');
    await page.fill('input[name=id]', eventId);
    await page.click('button:has-text("Open")');
    await page.waitForURL(`${sb.url}/ui/events/${eventId}`);
    expect(await page.locator('h1').textContent()).toBe(`Event ${eventId}`);
    expect(await page.locator('pre.json').last().textContent()).toContain('"name": "standup-42"');
    expect(await page.locator('table.facts').textContent()).toContain('session-live');
    await shoot('event');

    await page.click(`a:has-text("delivery ${deliveryId}")`);
    expect(await page.locator('h1').textContent()).toBe(`Delivery ${deliveryId}`);

    await page.goto(`${sb.url}/ui/sessions/standup-42`);
    expect(await page.locator('table.facts').textContent()).toContain('live');
    await shoot('session');
  });

  it('searches events by room, participant and type, and lists the sessions by status', async () => {
    const joined = async (room: string, identity: string) => {
      const id = `EV_${randomUUID()}`;
      await sb.deliver(sampleBody('participant_joined', { id, room: { name: room, sid: `RM_${room}` }, participant: { identity, sid: `PA_${id}` } }));
      return id;
    };
    await sb.deliver(sampleBody('room_started', { id: `EV_${randomUUID()}`, room: { name: 'design-review', sid: 'RM_design-review' } }));
    const ana = await joined('design-review', 'ana');
    const bo = await joined('design-review', 'bo');
    await joined('standup-7', 'ana');
    await sb.deliver(sampleBody('room_started', { id: `EV_${randomUUID()}`, room: { name: 'standup-7', sid: 'RM_standup-7' } }));
    await sb.deliver(sampleBody('room_finished', { id: `EV_${randomUUID()}`, room: { name: 'standup-7', sid: 'RM_standup-7' } }));
    await logIn(ADMIN_TOKEN, '/ui/events');
    expect(await page.locator('#events tbody tr').count()).toBe(6);

    await page.fill('input[name=room]', 'design-review');
    await page.fill('input[name=type]', 'participant_joined');
    await page.fill('input[name=since]', '1h');
    await page.click('button:has-text("Search")');
    await page.waitForURL((url) => url.searchParams.has('room'));
    // The URL holds just the filters set, to share.
    expect(Object.fromEntries(new URL(page.url()).searchParams)).toEqual({ room: 'design-review', type: 'participant_joined', since: '1h' });
    const rows = page.locator('#events tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await rows.locator('td:last-child').allTextContents()).toEqual([bo, ana]);
    await shoot('events');

    await page.click('#events a:has-text("ana")');
    await page.waitForURL((url) => url.searchParams.has('participant'));
    expect(Object.fromEntries(new URL(page.url()).searchParams)).toEqual({ participant: 'ana' });
    expect(await rows.count()).toBe(2);
    await page.click(`a:has-text("${ana}")`);
    expect(await page.locator('h1').textContent()).toBe(`Event ${ana}`);

    await page.goto(`${sb.url}/ui/sessions`);
    expect(await page.locator('#sessions tbody tr td:first-child').allTextContents()).toEqual(['design-review', 'standup-7']);
    await page.fill('input[name=status]', 'stopped');
    await page.click('button:has-text("Filter")');
    await page.waitForURL((url) => url.searchParams.has('status'));
    expect(await page.locator('#sessions tbody tr td:first-child').allTextContents()).toEqual(['standup-7']);
    await page.goto(`${sb.url}/ui/sessions`);
    await shoot('sessions');

    // The overview's charts come from the per-minute rollup, flushed every few seconds.
    const deadline = Date.now() + 15_000;
    const since = new Date(Date.now() - 120_000).toISOString();
    while (Date.now() < deadline) {
      const { json } = await sb.admin(`/api/v1/stats/minutes?from=${since}`);
      if (json.results.minutes.some((stat: { name: string }) => stat.name === 'webhook.accepted')) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await page.goto(`${sb.url}/ui`);
    expect(await page.locator('figure.chart').count()).toBe(4);
    expect(await page.locator('figure.chart').first().locator('.key.accepted strong').textContent()).toBe('6');
    await shoot('overview');
  });

  it('replays a dead delivery and follows it until it succeeds', async () => {
    const id = await deadDelivery('billing-sync');
    probe.answers.clear();
    await logIn(ADMIN_TOKEN, `/ui/deliveries/${id}`);
    expect(await page.locator('#delivery .badge').first().textContent()).toBe('dead');
    expect(await page.locator('#delivery').textContent()).toContain('billing-sync refused the call');

    await page.click('button:has-text("Replay")');
    await expect(page.locator('.notice').textContent()).resolves.toContain('Queued again');
    await page.locator('#delivery .badge.succeeded').first().waitFor();
    // The replay's attempt is the delivery's second, though the first of its fresh attempts.
    expect(await page.locator('#delivery table.attempts tbody tr td:first-child').allTextContents()).toEqual(['1', '2']);
    expect(await page.locator('tr', { hasText: 'Attempts' }).first().textContent()).toMatch(/1 of 1\s+since its last replay; 2 in all/);
    expect((await sb.admin(`/api/v1/deliveries/${id}`)).json.results.attempts_log.map((a: { number: number }) => a.number)).toEqual([1, 2]);
    await shoot('delivery');

    const audit = await sb.admin('/api/v1/audit');
    expect(audit.json.results.entries[0]).toMatchObject({ action: 'delivery.replay', subject: `delivery/${id}`, details: { actor: { id: expect.stringMatching(/^admin:[0-9a-f]{8}$/) } } });
  });

  it('bulk-replays a filter after saying how many deliveries it will touch', async () => {
    const dead = [await deadDelivery('crm-webhook'), await deadDelivery('crm-webhook')];
    await deadDelivery('other-target');
    probe.answers.clear();
    await logIn(ADMIN_TOKEN, '/ui/deliveries?status=dead&target=crm-webhook');
    expect(await page.locator('main table tbody tr').count()).toBe(2);
    await shoot('deliveries');

    await page.click('a:has-text("Replay the deliveries this filter matches")');
    expect(new URL(page.url()).search).toBe('?status=dead&target=crm-webhook');
    expect(await page.locator('.figure').textContent()).toBe('2 deliveries');
    await shoot('bulk-replay');

    await page.click('button:has-text("Replay 2 deliveries")');
    await expect(page.locator('.notice').textContent()).resolves.toBe('Queued 2 deliveries again.');
    for (const id of dead) expect((await deliveryWhen(sb, id)).state).toBe('succeeded');
    expect((await sb.admin('/api/v1/deliveries?status=dead')).json.results.deliveries).toHaveLength(1);
  });

  it('bulk-cancels the waiting deliveries of a filter after saying how many it will touch', async () => {
    await sb.adminPost('/api/v1/targets/paused-crm/disable', { reason: 'maintenance' });
    const waiting = [await emit(sb, 'paused-crm'), await emit(sb, 'paused-crm')];
    await logIn(ADMIN_TOKEN, '/ui/deliveries?target=paused-crm&since=1h');
    await page.click('a:has-text("Cancel the deliveries this filter matches")');
    expect(new URL(page.url()).search).toBe('?target=paused-crm&since=1h');
    expect(await page.locator('.figure').textContent()).toBe('2 deliveries');
    await shoot('bulk-cancel');

    await page.click('button:has-text("Cancel 2 deliveries")');
    await expect(page.locator('.notice').textContent()).resolves.toBe('Cancelled 2 deliveries.');
    for (const id of waiting) expect((await sb.admin(`/api/v1/deliveries/${id}`)).json.results.state).toBe('cancelled');
  });

  it('disables and enables a target, and the audit log names who did', async () => {
    await deliveryWhen(sb, await emit(sb, 'recording-hook'));
    await logIn(ADMIN_TOKEN, '/ui/targets');
    const row = page.locator('tr', { hasText: 'recording-hook' });
    await row.locator('input[name=reason]').fill('vendor maintenance until 04:00');
    await row.locator('button:has-text("Disable")').click();
    await expect(page.locator('.notice').textContent()).resolves.toContain('Target disabled');
    expect(await page.locator('tr', { hasText: 'recording-hook' }).textContent()).toContain('vendor maintenance until 04:00');
    expect((await sb.admin('/api/v1/targets')).json.results.targets[0]).toMatchObject({ target: 'recording-hook', disabled: true });

    await page.locator('tr', { hasText: 'recording-hook' }).locator('button:has-text("Enable")').click();
    await expect(page.locator('.notice').textContent()).resolves.toBe('Target enabled.');
    expect((await sb.admin('/api/v1/targets')).json.results.targets[0]).toMatchObject({ target: 'recording-hook', disabled: false });

    await page.click('nav a:has-text("Audit")');
    expect(await page.locator('main tbody tr').count()).toBe(2);
    expect(await page.locator('main tbody').textContent()).toMatch(/target\.enable[\s\S]*admin:[0-9a-f]{8}[\s\S]*target\.disable/);
    await shoot('audit');

    await page.click('nav a:has-text("Usage")');
    await shoot('usage');
  });

  it("shows each target's attempts and latency over the last hour, and why a delivery waits", async () => {
    probe.delays.set('transcripts-api', 60);
    const quick = [await emit(sb, 'recording-hook'), await emit(sb, 'recording-hook')];
    const slow = [await emit(sb, 'transcripts-api'), await emit(sb, 'transcripts-api'), await emit(sb, 'transcripts-api')];
    for (const id of [...quick, ...slow]) expect((await deliveryWhen(sb, id)).state).toBe('succeeded');
    await sb.adminPost('/api/v1/targets/paused-crm/disable', { reason: 'vendor maintenance until 04:00' });
    const held = await emit(sb, 'paused-crm');

    // The figures come from the per-minute rollup, flushed every few seconds.
    const latencyOf = async (target: string) =>
      (await sb.admin('/api/v1/targets')).json.results.targets.find((t: { target: string }) => t.target === target)?.latency;
    const deadline = Date.now() + 15_000;
    while (!(await latencyOf('transcripts-api')) || !(await latencyOf('recording-hook'))) {
      if (Date.now() > deadline) throw new Error('the rollup never flushed the attempts');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const latency = await latencyOf('transcripts-api');
    // Each took at least 60 ms, in the bucket (50, 70]: the estimates are no lower than its floor.
    expect(latency).toMatchObject({ attempts: 3 });
    expect(latency.p50_ms).toBeGreaterThanOrEqual(50);
    expect(latency.p95_ms).toBeGreaterThanOrEqual(latency.p50_ms);
    expect(await latencyOf('recording-hook')).toMatchObject({ attempts: 2 });
    expect(await latencyOf('paused-crm')).toBeNull();

    await logIn(ADMIN_TOKEN, '/ui/targets');
    const cells = async (target: string) => (await page.locator('#targets tr', { hasText: target }).locator('td').allTextContents()).slice(4, 7);
    expect(await cells('transcripts-api')).toEqual(['3', `${Math.round(latency.p50_ms)} ms`, `${Math.round(latency.p95_ms)} ms`]);
    expect((await cells('recording-hook'))[0]).toBe('2');
    expect(await cells('paused-crm')).toEqual(['0', '—', '—']);
    await shoot('targets');

    await page.goto(`${sb.url}/ui/deliveries?target=paused-crm`);
    expect(await page.locator('main tbody tr td:nth-child(2)').textContent()).toBe('pending held: target-disabled');
    await page.click(`a:has-text("${held}")`);
    expect(await page.locator('tr', { hasText: 'Held' }).textContent()).toContain('held: target-disabled');
    expect(await page.locator('tr', { hasText: 'Held' }).textContent()).toContain('Its target is disabled');
    expect((await sb.admin(`/api/v1/deliveries/${held}`)).json.results.held).toBe('target-disabled');
    await shoot('delivery-held');
  });

  it('shows the last rule reload and its problems on the overview and the rules page', async () => {
    await logIn(ADMIN_TOKEN, '/ui');
    expect(await page.locator('#last-reload').textContent()).toMatch(/Last rule reload\s+success\s+start-up/);

    writeFileSync(join(sb.rulesDir, 'broken.yaml'), `rules:
  - id: notify-crm
    on: room_started
    actions:
      - plugin: probe
        mode: async
        with: { url: "https://crm.example.com/hooks/livekit" }
  - id: archive
    on: room_finished
    actions:
      - plugin: no-such-plugin
`);
    expect(await sb.rules.reload('SIGHUP')).toBe(false);
    const { last_reload: last } = (await sb.admin('/api/v1/rules')).json.results;
    expect(last).toMatchObject({ outcome: 'failure', reason: 'SIGHUP' });
    expect(last.problems).toHaveLength(3);

    for (const path of ['/ui', '/ui/rules']) {
      await page.goto(`${sb.url}${path}`);
      const section = page.locator('#last-reload');
      expect(await section.locator('.badge').textContent()).toBe('failure');
      expect(await section.textContent()).toContain('stay in force');
      const rows = section.locator('table.problems tbody tr');
      expect(await rows.count()).toBe(last.problems.length);
      for (const [index, problem] of last.problems.entries()) {
        const text = await rows.nth(index).textContent();
        expect(text).toContain(problem.message);
        expect(text).toContain(`broken.yaml:${problem.line}`);
      }
    }
    // The rules in force are still the ones loaded at start-up.
    expect(await page.locator('main > table tbody').textContent()).toContain('notify.yaml:2');
    await shoot('rules');
  });

  it('shows a read-only session no action buttons and refuses its forged POSTs', async () => {
    const id = await deadDelivery('analytics');
    await logIn(READ_TOKEN, `/ui/deliveries/${id}`);
    expect(await page.locator('.who .badge').textContent()).toBe('read-only');
    expect(await page.locator('main button').count()).toBe(0);
    await page.goto(`${sb.url}/ui/targets`);
    expect(await page.locator('main button').count()).toBe(0);
    await page.goto(`${sb.url}/ui/deliveries?status=dead`);
    expect(await page.locator('a:has-text("Replay the deliveries")').count()).toBe(0);

    // A valid CSRF token (the logout form's) does not make a read-only session an admin one.
    const csrf = await page.locator('input[name=csrf]').first().inputValue();
    const forged = await page.evaluate(async ([path, token]) => {
      const response = await fetch(path, { method: 'POST', body: new URLSearchParams({ csrf: token }) });
      return { status: response.status, text: await response.text() };
    }, [`/ui/deliveries/${id}/replay`, csrf]);
    expect(forged.status).toBe(403);
    expect(forged.text).toContain('E_READ_ONLY');
    expect((await sb.admin(`/api/v1/deliveries/${id}`)).json.results.state).toBe('dead');
  });

  it('refuses a POST without the CSRF token', async () => {
    await deliveryWhen(sb, await emit(sb, 'recording-hook'));
    await logIn(ADMIN_TOKEN, '/ui/targets');
    const refused = await page.evaluate(async () => {
      const response = await fetch('/ui/targets/disable', { method: 'POST', body: new URLSearchParams({ target: 'recording-hook' }) });
      return { status: response.status, text: await response.text() };
    });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('E_CSRF_INVALID');
    expect((await sb.admin('/api/v1/targets')).json.results.targets[0].disabled).toBe(false);
  });
});
