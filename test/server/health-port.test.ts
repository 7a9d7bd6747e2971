/**
 * HEALTH_PORT: /healthz keeps answering, and /readyz says why not, while the main thread is blocked in a store call
 * (node:sqlite is synchronous): another process holding the database's write lock, and a frozen filesystem.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startServeProcess, type ServeProcess } from '../helpers/serve-process.ts';
import { ROOM_LIVE_RULE as RULES, sampleBody } from '../helpers/switchboard.ts';

/** Long enough for a loaded machine; each wait ends as soon as what it waits for is seen. */
const WITHIN_MS = 30_000;

function roomStarted(n: number): string {
  return sampleBody('room_started', { id: `EV_health_${n}`, room: { sid: `RM_health_${n}`, name: `health-${n}` } });
}

async function get(url: string): Promise<{ status: number; json: any } | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return { status: response.status, json: await response.json() };
  } catch {
    return undefined;
  }
}

/** Polls `url` until `seen` holds for its answer; returns that answer. */
async function waitFor(url: string, seen: (answer: { status: number; json: any }) => boolean): Promise<{ status: number; json: any }> {
  const deadline = Date.now() + WITHIN_MS;
  for (;;) {
    const answer = await get(url);
    if (answer !== undefined && seen(answer)) return answer;
    if (Date.now() > deadline) throw new Error(`${url} did not answer as expected within ${WITHIN_MS} ms: ${JSON.stringify(answer)}`);
    await sleep(100);
  }
}

interface Started {
  serve: ServeProcess;
  health: string;
}

describe('the health port while the main thread is stuck in the store', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(databaseFile: string): Promise<Started> {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-health-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'live.yaml'), RULES);
    const healthPort = await freePort();
    const serve = await startServeProcess({
      RULES_DIR: dir,
      DATABASE_URL: `file:${databaseFile}`,
      HEALTH_PORT: String(healthPort),
      WORKER_CONCURRENCY: '0',
    });
    cleanups.push(() => serve.stop('SIGKILL'));
    const health = `http://127.0.0.1:${healthPort}`;
    expect(await get(`${health}/healthz`)).toMatchObject({ status: 200, json: { status: 'ok' } });
    expect(await get(`${health}/readyz`)).toMatchObject({ status: 200, json: { success: true, results: { ready: true, checks: { store: 'ok' } } } });
    return { serve, health };
  }

  /** Keeps a webhook waiting on the store until `stop` resolves; returns every answer's status. */
  async function keepWriting(serve: ServeProcess, stop: Promise<unknown>): Promise<number[]> {
    const statuses: number[] = [];
    let stopped = false;
    void stop.then(() => (stopped = true));
    for (let n = 1; !stopped; n += 1) {
      const response = await serve.deliver(roomStarted(n));
      statuses.push(response.status);
    }
    return statuses;
  }

  async function expectStuckThenBack(started: Started, hold: { release(): void }): Promise<void> {
    const { serve, health } = started;
    let released!: () => void;
    const release = new Promise<void>((resolve) => (released = resolve));
    const writes = keepWriting(serve, release);

    const notReady = await waitFor(`${health}/readyz`, (answer) => answer.status === 503);
    expect(notReady.json).toMatchObject({ success: false, errcode: 'E_NOT_READY' });
    expect(notReady.json.errmesg).toMatch(/main thread: has not turned for \d+ ms/);
    const alive = await get(`${health}/healthz`);
    expect(alive).toMatchObject({ status: 200, json: { status: 'ok' } });
    expect(alive!.json.main_thread_stalled_ms).toBeGreaterThanOrEqual(1_000);

    hold.release();
    released();
    const statuses = await writes;
    // The main port answers again, a webhook is recorded, and with that commit the store is ready again.
    expect((await get(`${serve.url}/healthz`))?.status).toBe(200);
    expect((await serve.deliver(roomStarted(10_000))).status).toBe(200);
    await waitFor(`${health}/readyz`, (answer) => answer.status === 200);
    // A webhook answered while the lock was held is 200 (recorded once it was free) or 503 (LiveKit retries it).
    expect(statuses.every((status) => status === 200 || status === 503)).toBe(true);
  }

  it('while another process holds the database write lock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-health-db-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'switchboard.db');
    const started = await start(file);

    const holder = new DatabaseSync(file);
    cleanups.push(() => holder.isOpen && holder.close());
    holder.exec('BEGIN IMMEDIATE');
    await expectStuckThenBack(started, {
      release() {
        holder.exec('COMMIT');
        holder.close();
      },
    });
  });

  // fsfreeze needs root and a filesystem that freezes (ext4 in a loop device); a tmpfs does not.
  it.skipIf(process.getuid?.() !== 0)('while its filesystem is frozen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-frozen-'));
    const image = join(dir, 'fs.img');
    const mount = join(dir, 'mnt');
    execFileSync('truncate', ['-s', '64M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', image]);
    execFileSync('mkdir', [mount]);
    execFileSync('mount', ['-o', 'loop', image, mount]);
    let frozen = false;
    const thaw = () => {
      if (frozen) execFileSync('fsfreeze', ['-u', mount]);
      frozen = false;
    };
    cleanups.push(() => {
      thaw();
      execFileSync('umount', [mount]);
      rmSync(dir, { recursive: true, force: true });
    });
    const started = await start(join(mount, 'switchboard.db'));

    execFileSync('fsfreeze', ['-f', mount]);
    frozen = true;
    // The last cleanup to run: whatever failed, the filesystem is thawed before the process is killed.
    cleanups.push(thaw);
    await expectStuckThenBack(started, { release: thaw });
  });
});
