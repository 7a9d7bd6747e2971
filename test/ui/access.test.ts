/** Who reaches the dashboard and the admin API, over plain HTTP: tokens, the read-only token, headers, off switch. */
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

const READ_TOKEN = 'read-token-for-tests';

describe('dashboard and admin API access', () => {
  let sb: TestSwitchboard;
  afterEach(() => sb.stop());

  async function logIn(token: string): Promise<{ status: number; cookie: string | null }> {
    const response = await fetch(`${sb.url}/ui/login`, { method: 'POST', body: new URLSearchParams({ token }), redirect: 'manual' });
    return { status: response.status, cookie: response.headers.get('set-cookie') };
  }

  it('lets ADMIN_READ_TOKEN read the admin API and refuses its changes with 403 E_READ_ONLY', async () => {
    sb = await startTestSwitchboard({ settings: { ADMIN_READ_TOKEN: READ_TOKEN } });
    expect((await sb.admin('/api/v1/deliveries', READ_TOKEN)).status).toBe(200);
    const change = await sb.adminPost('/api/v1/targets/crm/disable', {}, READ_TOKEN);
    expect(change.status).toBe(403);
    expect(change.json.errcode).toBe('E_READ_ONLY');
    expect((await sb.admin('/api/v1/targets')).json.results.targets).toEqual([]);
    expect((await sb.adminPost('/api/v1/targets/crm/disable', {})).status).toBe(200);
  });

  it('sets an HttpOnly, SameSite=Strict session cookie that lasts UI_SESSION_TTL', async () => {
    sb = await startTestSwitchboard({ settings: { UI_SESSION_TTL: '30m' } });
    const { status, cookie } = await logIn(ADMIN_TOKEN);
    expect(status).toBe(303);
    expect(cookie).toMatch(/^switchboard_session=[\w-]+\.[\w-]+; Max-Age=1800; Path=\/ui; Expires=.+; HttpOnly; SameSite=Strict$/);
    expect((await logIn('wrong')).status).toBe(401);
  });

  it('serves pages with a Content-Security-Policy that allows no inline or third-party script', async () => {
    sb = await startTestSwitchboard();
    const { cookie } = await logIn(ADMIN_TOKEN);
    for (const path of ['/ui', '/ui/login', '/ui/deliveries', '/ui/assets/dashboard.js']) {
      const response = await fetch(`${sb.url}${path}`, { headers: { cookie: cookie!.split(';')[0] } });
      expect(response.status).toBe(200);
      const policy = response.headers.get('content-security-policy');
      expect(policy).toContain("script-src 'self'");
      expect(policy).toContain("style-src 'self'");
      expect(policy).not.toContain('unsafe-inline');
    }
    const page = await (await fetch(`${sb.url}/ui`, { headers: { cookie: cookie!.split(';')[0] } })).text();
    expect(page).not.toMatch(/<script>|<style|style="/);
  });

  it('refuses a login posted from another site, and logs out at GET /ui/logout', async () => {
    sb = await startTestSwitchboard();
    const crossSite = await fetch(`${sb.url}/ui/login`, {
      method: 'POST',
      headers: { origin: 'https://elsewhere.example' },
      body: new URLSearchParams({ token: ADMIN_TOKEN }),
      redirect: 'manual',
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.headers.get('set-cookie')).toBeNull();

    const logout = await fetch(`${sb.url}/ui/logout`, { redirect: 'manual' });
    expect(logout.status).toBe(303);
    expect(logout.headers.get('location')).toBe('/ui/login');
    expect(logout.headers.get('set-cookie')).toMatch(/^switchboard_session=; Path=\/ui; Expires=Thu, 01 Jan 1970/);
  });

  it('is off without ADMIN_TOKEN, as the admin API is', async () => {
    sb = await startTestSwitchboard({ settings: { ADMIN_TOKEN: undefined } });
    for (const path of ['/ui', '/ui/login']) expect((await fetch(`${sb.url}${path}`)).status).toBe(503);
    expect((await logIn(ADMIN_TOKEN)).status).toBe(503);
  });

  it('refuses a POST with no session', async () => {
    sb = await startTestSwitchboard();
    const response = await fetch(`${sb.url}/ui/targets/disable`, { method: 'POST', body: new URLSearchParams({ target: 'crm' }), redirect: 'manual' });
    expect(response.status).toBe(401);
    expect((await sb.admin('/api/v1/targets')).json.results.targets).toEqual([]);
  });
});
