import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, readEnvironment } from '../src/config.ts';

const credentials = { LIVEKIT_API_KEY: 'APIkey', LIVEKIT_API_SECRET: 'a-secret' };

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({ env: credentials });
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      rulesDir: './rules',
      pluginsDir: './plugins',
      databaseUrl: 'file:./data/switchboard.db',
      migrateOnStart: true,
      adminToken: undefined,
      webhookPath: '/api/v1/webhooks/livekit',
      maxBodyBytes: 1024 * 1024,
      clockToleranceSeconds: 60,
      logLevel: 'info',
    });
    expect([...config.keys]).toEqual([['APIkey', 'a-secret']]);
  });

  it('refuses to start without credentials outside dev mode, naming the variables', () => {
    expect(() => loadConfig({ env: {} })).toThrow(/LIVEKIT_API_KEY and LIVEKIT_API_SECRET/);
  });

  it('names the missing half of a key pair', () => {
    expect(() => loadConfig({ env: { LIVEKIT_API_KEY: 'APIkey' } })).toThrow(/LIVEKIT_API_SECRET/);
  });

  it('uses the LiveKit dev credentials in dev mode', () => {
    expect([...loadConfig({ env: {}, dev: true }).keys]).toEqual([['devkey', 'secret']]);
  });

  it('merges LIVEKIT_KEYS with the single pair', () => {
    const config = loadConfig({ env: { ...credentials, LIVEKIT_KEYS: 'APIegress: other-secret' } });
    expect(config.keys.get('APIegress')).toBe('other-secret');
    expect(config.keys.get('APIkey')).toBe('a-secret');
  });

  it('lets flags win over the environment', () => {
    expect(loadConfig({ env: { ...credentials, PORT: '9000' }, flags: { PORT: '9001' } }).port).toBe(9001);
  });

  it.each([
    ['MAX_BODY_BYTES', '512KiB', 'maxBodyBytes', 512 * 1024],
    ['MAX_BODY_BYTES', '2048', 'maxBodyBytes', 2048],
    ['CLOCK_TOLERANCE', '2m', 'clockToleranceSeconds', 120],
    ['CLOCK_TOLERANCE', '30', 'clockToleranceSeconds', 30],
    ['INLINE_ACTION_TIMEOUT', '500ms', 'inlineActionTimeoutMs', 500],
    ['MIGRATE_ON_START', 'false', 'migrateOnStart', false],
    ['MIGRATE_ON_START', '1', 'migrateOnStart', true],
  ])('reads %s=%s', (name, value, field, expected) => {
    expect(loadConfig({ env: { ...credentials, [name]: value } })).toHaveProperty(field, expected);
  });

  it.each([
    ['PORT', 'eighty', /PORT is "eighty"/],
    ['MAX_BODY_BYTES', 'big', /MAX_BODY_BYTES/],
    ['CLOCK_TOLERANCE', 'soon', /CLOCK_TOLERANCE/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL/],
    ['WEBHOOK_PATH', 'webhooks', /WEBHOOK_PATH/],
    ['MIGRATE_ON_START', 'later', /MIGRATE_ON_START is "later": expected true or false/],
  ])('rejects %s=%s with a message naming it', (name, value, message) => {
    expect(() => loadConfig({ env: { ...credentials, [name]: value } })).toThrow(message);
  });

  it('reads .env, with the environment winning over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-env-'));
    try {
      writeFileSync(join(dir, '.env'), 'PORT=9100\nLOG_LEVEL=debug\n');
      expect(readEnvironment({ PORT: '9200' }, dir)).toMatchObject({ PORT: '9200', LOG_LEVEL: 'debug' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
