import { describe, expect, it } from 'vitest';
import { timingSafeEqualBytes, timingSafeEqualStrings } from '../../src/livekit/constant-time.ts';

describe('timingSafeEqualStrings', () => {
  it('is true only for identical strings, whatever their lengths', () => {
    expect(timingSafeEqualStrings('admin-token', 'admin-token')).toBe(true);
    expect(timingSafeEqualStrings('admin-token', 'admin-tokem')).toBe(false);
    expect(timingSafeEqualStrings('admin', 'admin-token')).toBe(false);
    expect(timingSafeEqualStrings('', 'admin-token')).toBe(false);
  });
});

describe('timingSafeEqualBytes', () => {
  it('is false for different lengths instead of throwing', () => {
    expect(timingSafeEqualBytes(Buffer.from([1, 2]), Buffer.from([1, 2]))).toBe(true);
    expect(timingSafeEqualBytes(Buffer.from([1, 2]), Buffer.from([1, 3]))).toBe(false);
    expect(timingSafeEqualBytes(Buffer.from([1, 2]), Buffer.from([1, 2, 3]))).toBe(false);
  });
});
