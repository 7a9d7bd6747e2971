import { afterEach, describe, expect, it } from 'vitest';
import { startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

describe('health and readiness', () => {
  let sb: TestSwitchboard;
  afterEach(async () => {
    await sb?.stop();
  });

  async function get(path: string): Promise<{ status: number; json: any }> {
    const response = await fetch(`${sb.url}${path}`);
    return { status: response.status, json: await response.json() };
  }

  it('is alive and ready when the store answers, rules are loaded and the worker runs', async () => {
    sb = await startTestSwitchboard();
    expect(await get('/healthz')).toEqual({ status: 200, json: { status: 'ok' } });
    expect(await get('/readyz')).toEqual({
      status: 200,
      json: { success: true, results: { ready: true, checks: { store: 'ok', rules: 'ok: 2 rules', worker: 'ok', webhooks: 'ok' } } },
    });
  });

  it('is ready without a worker when WORKER_CONCURRENCY=0 says this process runs none', async () => {
    sb = await startTestSwitchboard({ settings: { WORKER_CONCURRENCY: '0' } });
    const { status, json } = await get('/readyz');
    expect(status).toBe(200);
    expect(json.results.checks.worker).toBe('off (WORKER_CONCURRENCY=0)');
  });

  it('answers 503 E_NOT_READY naming the store when the store is closed, while still alive', async () => {
    sb = await startTestSwitchboard();
    await sb.store.close();
    const { status, json } = await get('/readyz');
    expect(status).toBe(503);
    expect(json).toMatchObject({ success: false, errcode: 'E_NOT_READY', erresid: expect.any(String) });
    expect(json.errmesg).toBe('not ready: store: unavailable (the log says why)');
    expect(JSON.stringify(sb.logs)).toContain('The store is closed.');
    expect((await get('/healthz')).status).toBe(200);
  });

  it('names the worker when it has stopped', async () => {
    sb = await startTestSwitchboard();
    await sb.worker.stop(1000);
    const { status, json } = await get('/readyz');
    expect(status).toBe(503);
    expect(json.errmesg).toBe('not ready: worker: the delivery worker is not running');
  });
});
