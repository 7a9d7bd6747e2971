import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.ts';

describe('openStore', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-open-'));
  });

  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function opensSqliteAt(url: string, path: string): Promise<void> {
    const store = await openStore(url);
    expect(store.kind).toBe('sqlite');
    await store.close();
    expect(existsSync(path)).toBe(true);
  }

  it('opens an absolute file: path, creating its parent directories', async () => {
    const path = join(dir, 'nested', 'deeper', 'switchboard.db');
    await opensSqliteAt(`file:${path}`, path);
  });

  it('opens a file: path relative to the working directory', async () => {
    const path = join(dir, 'data', 'switchboard.db');
    await opensSqliteAt(`file:${relative(process.cwd(), path)}`, path);
  });

  it('opens a standard file:/// URL', async () => {
    const path = join(dir, 'switchboard.db');
    await opensSqliteAt(pathToFileURL(path).href, path);
  });

  it('opens an in-memory database for file::memory:', async () => {
    const store = await openStore('file::memory:');
    expect(store.kind).toBe('sqlite');
    await store.close();
  });

  it('does not migrate', async () => {
    const store = await openStore(`file:${join(dir, 'switchboard.db')}`);
    await expect(store.getEvent('EV_1')).rejects.toThrow(/no such table/);
    await store.close();
  });

  it.each(['postgres://user:secret@localhost/switchboard', 'postgresql://localhost/switchboard?schema=tenant_a'])(
    'opens PostgreSQL for %s, connecting only when first used',
    async (url) => {
      const store = await openStore(url);
      expect(store.kind).toBe('postgres');
      await store.close();
    },
  );

  it('refuses a malformed PostgreSQL URL without showing its password', async () => {
    const error = await openStore('postgres://user:secret@local host/switchboard').catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringContaining('postgres://') });
    expect((error as Error).message).not.toContain('secret');
  });

  it.each(['', './data/switchboard.db', 'file:', 'mysql://localhost/db', 'file://host/share/db.sqlite'])(
    'names DATABASE_URL and the accepted forms for %j',
    async (url) => {
      await expect(openStore(url)).rejects.toMatchObject({
        code: 'E_CONFIG_INVALID',
        message: expect.stringMatching(/DATABASE_URL.*file:\.\/data\/switchboard\.db.*file::memory:/),
      });
    },
  );
});
