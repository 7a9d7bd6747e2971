/**
 * Names from end users (room names, participant identities) stored in indexed columns. A PostgreSQL index entry
 * holds at most about 2.7 kB, so a longer name is kept as its digest: still equal for equal names, and a search for
 * the name looks up the same digest.
 */
import { createHash } from 'node:crypto';

const INDEXED_TEXT_MAX_CHARS = 256;

export function indexedText(value: string): string;
export function indexedText(value: string | null): string | null;
export function indexedText(value: string | null): string | null {
  if (value === null || value.length <= INDEXED_TEXT_MAX_CHARS) return value;
  return `sha256:${createHash('sha256').update(value).digest('hex')}`;
}
