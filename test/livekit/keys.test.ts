import { describe, expect, it } from 'vitest';
import { isSwitchboardError } from '../../src/errors.ts';
import { keySetFrom, parseKeySet } from '../../src/livekit/keys.ts';

function configError(build: () => unknown): Error {
  try {
    build();
  } catch (error) {
    expect(isSwitchboardError(error, 'E_CONFIG_INVALID')).toBe(true);
    return error as Error;
  }
  throw new Error('expected E_CONFIG_INVALID');
}

describe('parseKeySet', () => {
  it('reads one "key: secret" per line, skipping blank lines and comments', () => {
    const text = '# production\nAPIabc: secret-abc\n\n  APIdef: secret-def   # egress\r\n';
    expect(parseKeySet(text)).toEqual(new Map([['APIabc', 'secret-abc'], ['APIdef', 'secret-def']]));
  });

  it('reads comma-separated entries on one line', () => {
    expect(parseKeySet('APIabc: secret-abc, APIdef: secret-def')).toEqual(
      new Map([['APIabc', 'secret-abc'], ['APIdef', 'secret-def']]),
    );
  });

  it('removes quotes around keys and secrets, as YAML does', () => {
    expect(parseKeySet(`"APIabc": 'secret-abc'`)).toEqual(new Map([['APIabc', 'secret-abc']]));
  });

  it('reads nothing from an empty value', () => {
    expect(parseKeySet('')).toEqual(new Map());
    expect(parseKeySet('# none yet\n')).toEqual(new Map());
  });

  it('accepts the same key twice with the same secret', () => {
    expect(parseKeySet('APIabc: s1\nAPIabc: s1')).toEqual(new Map([['APIabc', 's1']]));
  });

  it('rejects a key listed twice with different secrets, naming the key but not the secrets', () => {
    const error = configError(() => parseKeySet('APIabc: first-secret\nAPIabc: second-secret'));
    expect(error.message).toContain('LIVEKIT_KEYS');
    expect(error.message).toContain('"APIabc"');
    expect(error.message).not.toMatch(/first-secret|second-secret/);
  });

  it('rejects an entry without a colon by line, without echoing it', () => {
    const error = configError(() => parseKeySet('APIabc: s1\nbare-secret-value'));
    expect(error.message).toContain('LIVEKIT_KEYS line 2');
    expect(error.message).not.toContain('bare-secret-value');
  });

  it('rejects "key=secret": only the colon form is livekit-server\'s', () => {
    configError(() => parseKeySet('APIabc=secret'));
  });

  it('rejects an empty key or an empty secret', () => {
    expect(configError(() => parseKeySet(': secret-only')).message).toContain('empty API key');
    expect(configError(() => parseKeySet('APIabc:')).message).toContain('"APIabc" has an empty secret');
  });
});

describe('keySetFrom', () => {
  it('merges LIVEKIT_API_KEY/SECRET with LIVEKIT_KEYS', () => {
    const keys = keySetFrom({ apiKey: 'APIabc', apiSecret: 's-abc', keys: 'APIegress: s-egress' });
    expect(keys).toEqual(new Map([['APIegress', 's-egress'], ['APIabc', 's-abc']]));
  });

  it('treats empty variables as unset', () => {
    expect(keySetFrom({ apiKey: '', apiSecret: ' ', keys: 'APIabc: s' })).toEqual(new Map([['APIabc', 's']]));
  });

  it('names the missing variable when only one of key and secret is set', () => {
    expect(configError(() => keySetFrom({ apiKey: 'APIabc' })).message).toMatch(/^LIVEKIT_API_KEY is set but LIVEKIT_API_SECRET is not/);
    expect(configError(() => keySetFrom({ apiSecret: 's' })).message).toMatch(/^LIVEKIT_API_SECRET is set but LIVEKIT_API_KEY is not/);
  });

  it('rejects a key given different secrets by the two sources', () => {
    const error = configError(() => keySetFrom({ apiKey: 'APIabc', apiSecret: 'env-secret', keys: 'APIabc: list-secret' }));
    expect(error.message).toContain('"APIabc"');
    expect(error.message).not.toMatch(/env-secret|list-secret/);
  });
});
