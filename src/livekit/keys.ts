/** API key sets: which secret signs the webhooks of which LiveKit API key. */
import { SwitchboardError } from '../errors.ts';

/**
 * Reads `LIVEKIT_KEYS` the way livekit-server writes it: `key: secret` entries, one per line or separated by commas.
 * Blank lines and `#` comments are ignored; surrounding quotes are removed.
 *
 * @example
 * parseKeySet('APIabc: s3cret, APIdef: other'); // Map { 'APIabc' => 's3cret', 'APIdef' => 'other' }
 */
export function parseKeySet(text: string): Map<string, string> {
  const keys = new Map<string, string>();
  text.split(/\r?\n/).forEach((line, index) => {
    for (const entry of withoutComment(line).split(',')) {
      if (entry.trim() === '') continue;
      const { key, secret } = parseEntry(entry, index + 1);
      addKey(keys, key, secret, `LIVEKIT_KEYS lists API key ${JSON.stringify(key)} twice with different secrets`);
    }
  });
  return keys;
}

interface KeySources {
  /** LIVEKIT_API_KEY */
  apiKey?: string;
  /** LIVEKIT_API_SECRET */
  apiSecret?: string;
  /** LIVEKIT_KEYS */
  keys?: string;
}

/** Merges LIVEKIT_API_KEY/LIVEKIT_API_SECRET with LIVEKIT_KEYS. Empty or blank values count as unset. */
export function keySetFrom(sources: KeySources): Map<string, string> {
  const keys = parseKeySet(sources.keys ?? '');
  const apiKey = sources.apiKey?.trim() || undefined;
  const apiSecret = sources.apiSecret?.trim() || undefined;
  if (apiKey !== undefined && apiSecret === undefined) {
    throw invalid('LIVEKIT_API_KEY is set but LIVEKIT_API_SECRET is not: set both, or list the key in LIVEKIT_KEYS');
  }
  if (apiSecret !== undefined && apiKey === undefined) {
    throw invalid('LIVEKIT_API_SECRET is set but LIVEKIT_API_KEY is not: set both, or list the key in LIVEKIT_KEYS');
  }
  if (apiKey !== undefined && apiSecret !== undefined) {
    addKey(keys, apiKey, apiSecret, `API key ${JSON.stringify(apiKey)} has one secret in LIVEKIT_API_SECRET and another in LIVEKIT_KEYS`);
  }
  return keys;
}

// YAML comments: a `#` at the start of the line or after whitespace.
function withoutComment(line: string): string {
  return line.replace(/(^|\s)#.*$/, '');
}

// Errors name the line and the key, never the entry itself: an entry without a colon may be a bare secret.
function parseEntry(entry: string, line: number): { key: string; secret: string } {
  const colon = entry.indexOf(':');
  if (colon === -1) throw invalid(`LIVEKIT_KEYS line ${line}: expected entries of the form "key: secret"`);
  const key = unquote(entry.slice(0, colon).trim());
  const secret = unquote(entry.slice(colon + 1).trim());
  if (key === '') throw invalid(`LIVEKIT_KEYS line ${line}: an entry has an empty API key`);
  if (secret === '') throw invalid(`LIVEKIT_KEYS line ${line}: API key ${JSON.stringify(key)} has an empty secret`);
  return { key, secret };
}

function unquote(text: string): string {
  return /^(["'])(.*)\1$/.exec(text)?.[2] ?? text;
}

function addKey(keys: Map<string, string>, key: string, secret: string, conflict: string): void {
  const existing = keys.get(key);
  if (existing !== undefined && existing !== secret) throw invalid(conflict);
  keys.set(key, secret);
}

function invalid(message: string): SwitchboardError {
  return new SwitchboardError('E_CONFIG_INVALID', message);
}
