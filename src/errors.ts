/**
 * The one exception type Switchboard raises. Every error carries a stable `code` that users, tests and tools can
 * match on, an HTTP status for the edge, and a message a user can act on.
 */
export const ErrorCodes = {
  E_WEBHOOK_INVALID_SIGNATURE: 401,
  E_WEBHOOK_INVALID_PAYLOAD: 400,
  E_WEBHOOK_TOO_LARGE: 413,
  E_WEBHOOK_TIMEOUT: 408,
  E_RATE_LIMITED: 429,
  E_METHOD_NOT_ALLOWED: 405,
  E_NOT_FOUND: 404,
  E_INVALID_REQUEST: 400,
  E_DELIVERY_SUCCEEDED: 409,
  E_DELIVERY_RUNNING: 409,
  E_DELIVERY_NOT_CANCELLABLE: 409,
  E_ADMIN_UNAUTHORIZED: 401,
  E_READ_ONLY: 403,
  E_CSRF_INVALID: 403,
  E_METRICS_UNAUTHORIZED: 401,
  E_ADMIN_DISABLED: 503,
  E_ADMIN_UNREACHABLE: 503,
  E_SEND_UNREACHABLE: 503,
  E_STORE_UNAVAILABLE: 503,
  E_SHUTTING_DOWN: 503,
  E_NOT_READY: 503,
  E_CONFIG_INVALID: 500,
  E_RULES_INVALID: 500,
  E_PLUGIN_INVALID: 500,
  E_PLUGIN_FAILED: 500,
  E_PLUGIN_TIMEOUT: 500,
  E_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'SwitchboardError';
    this.code = code;
    this.status = ErrorCodes[code];
    this.details = options.details;
  }
}

export function isSwitchboardError(error: unknown, code?: ErrorCode): error is SwitchboardError {
  return error instanceof SwitchboardError && (code === undefined || error.code === code);
}
