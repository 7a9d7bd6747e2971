/** Comparisons of secret-derived values that take the same time wherever the inputs differ. */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * True when both byte strings are equal. Only for values of public, fixed length (MACs, digests): a length
 * mismatch returns early.
 */
export function timingSafeEqualBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

/**
 * True when both strings are equal, without revealing their content or length: each is hashed first, as Hono's
 * `timingSafeEqual` does, so the comparison always runs over two 32-byte digests.
 *
 * @example
 * if (!timingSafeEqualStrings(presentedToken, adminToken)) throw new SwitchboardError('E_ADMIN_UNAUTHORIZED', '…');
 */
export function timingSafeEqualStrings(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
