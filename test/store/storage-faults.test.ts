/**
 * Readiness under storage faults: a store that answers reads while its commits fail is not ready, and an SQLite
 * file that an I/O error left corrupt ends the process (non-zero) so that its supervisor restarts it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync, unlinkSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.ts';
import { ROOM_LIVE_RULE as RULES, sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

/** A room_started of its own, so that each is a new event to record. */
function roomStarted(n: number): string {
  const body = JSON.parse(sampleBody('room_started'));
  body.id = `EV_fault_${n}`;
  body.room.name = `session-${n}-${'x'.repeat(2_000)}`;
  return JSON.stringify(body);
}

const isRoot = process.getuid?.() === 0;

describe('readiness under storage faults', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  // Mounting a size-limited tmpfs needs root: the disk fills for real, SQLite reports SQLITE_FULL.
  it.skipIf(!isRoot)('turns /readyz to 503 naming the store while commits fail on a full disk, and back once one succeeds', async () => {
    const mount = mkdtempSync(join(tmpdir(), 'switchboard-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount]);
    cleanups.push(() => {
      execFileSync('umount', [mount]);
      rmSync(mount, { recursive: true, force: true });
    });
    const sb: TestSwitchboard = await startTestSwitchboard({
      rules: { 'live.yaml': RULES },
      settings: { DATABASE_URL: `file:${join(mount, 'switchboard.db')}`, WORKER_CONCURRENCY: '0' },
    });
    cleanups.push(() => sb.stop().catch(() => undefined));
    expect((await fetch(`${sb.url}/readyz`)).status).toBe(200);

    // Fill the disk, leaving no room for the log to grow.
    const filler = join(mount, 'filler');
    const fd = openSync(filler, 'w');
    try {
      for (;;) writeSync(fd, Buffer.alloc(4096));
    } catch {
      // ENOSPC: full.
    } finally {
      closeSync(fd);
    }
    let n = 0;
    let answer: { status: number; json: any };
    do {
      answer = await sb.deliver(roomStarted((n += 1)));
    } while (answer.status === 200 && n < 200);
    expect(answer.status).toBe(503);
    expect(answer.json.errcode).toBe('E_STORE_UNAVAILABLE');

    const notReady = await fetch(`${sb.url}/readyz`);
    const text = await notReady.text();
    expect(notReady.status).toBe(503);
    expect(JSON.parse(text).errmesg).toMatch(/store: commits fail/);
    expect(text).not.toContain(mount);
    expect(sb.logs.some((line) => line.msg === "readiness: the store's commits fail")).toBe(true);

    // Space again: still not ready until a commit that writes succeeds (here a webhook's; out of the load balancer,
    // /readyz tries one itself once the failure is 10 s old).
    unlinkSync(filler);
    expect((await fetch(`${sb.url}/readyz`)).status).toBe(503);
    expect((await sb.deliver(roomStarted((n += 1)))).status).toBe(200);
    expect((await fetch(`${sb.url}/readyz`)).status).toBe(200);
  }, 60_000);

  it('exits non-zero when SQLite finds its file corrupt, so that a supervisor restarts it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-corrupt-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const rulesDir = join(dir, 'rules');
    mkdirSync(rulesDir);
    writeFileSync(join(rulesDir, 'live.yaml'), RULES);
    const env = { RULES_DIR: rulesDir, DATABASE_URL: `file:${join(dir, 'switchboard.db')}`, WORKER_CONCURRENCY: '0' };

    const first = await startServeProcess(env);
    cleanups.push(() => first.stop('SIGKILL'));
    for (let n = 1; n <= 20; n += 1) expect((await first.deliver(roomStarted(n))).status).toBe(200);
    await first.stop();

    // An I/O error's aftermath: the events table's pages overwritten with garbage (the schema left readable).
    const path = join(dir, 'switchboard.db');
    const db = new DatabaseSync(path);
    const { page_size: pageSize } = db.prepare('PRAGMA page_size').get() as { page_size: number };
    const pages = (db.prepare("SELECT pageno FROM dbstat WHERE name = 'events'").all() as { pageno: number }[]).map((row) => row.pageno);
    db.close();
    const file = openSync(path, 'r+');
    for (const page of pages) writeSync(file, Buffer.alloc(pageSize, 0xa5), 0, pageSize, (page - 1) * pageSize);
    closeSync(file);

    const second: ServeProcess = await startServeProcess(env);
    cleanups.push(() => second.stop('SIGKILL'));
    const answer = await second.deliver(roomStarted(21)).catch(() => null);
    expect(answer?.status ?? 503).toBe(503);
    expect(await second.exited()).toBe(1);
    expect(second.stdout).toMatch(/the store failed beyond repair/);
    // Two processes start on a machine that may be busy.
  }, 120_000);
});
