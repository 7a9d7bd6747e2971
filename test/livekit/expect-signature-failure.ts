/** Assertions for the verification tests. */
import { expect } from 'vitest';
import { isSwitchboardError } from '../../src/errors.ts';
import type { SignatureFailure } from '../../src/livekit/verify.ts';

export function expectSignatureFailure(check: () => unknown, reason: SignatureFailure): Error {
  let caught: unknown;
  try {
    check();
  } catch (error) {
    caught = error;
  }
  expect(isSwitchboardError(caught, 'E_WEBHOOK_INVALID_SIGNATURE'), `expected a ${reason} rejection`).toBe(true);
  const error = caught as Error & { details: unknown };
  expect(error.details).toEqual({ reason });
  expect(error.message).toMatch(/^webhook signature check failed: /);
  return error;
}
