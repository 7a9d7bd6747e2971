/**
 * Every error leaves the service in one shape: `{success:false, errcode, erresid, errmesg}`. `erresid` is a fresh
 * reference written to the same log line, so an operator can find what a client saw. No stack trace leaves.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { SwitchboardError, type ErrorCode } from '../errors.ts';
import type { Logger } from '../telemetry/logger.ts';

interface ErrorBody {
  success: false;
  errcode: string;
  erresid: string;
  errmesg: string;
}

/**
 * Errors whose messages can name what only operators should see (a database's address, a file's path): the answer
 * says what failed, and its log line says how.
 */
const LOGGED_ONLY: Partial<Record<ErrorCode, string>> = {
  E_STORE_UNAVAILABLE: 'the store is unavailable; retry shortly',
  E_CONFIG_INVALID: 'the configuration is invalid',
  E_RULES_INVALID: 'the rules are invalid',
  E_PLUGIN_INVALID: 'a plugin is invalid',
};

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export interface Answered {
  status: number;
  errcode: string;
  erresid: string;
  errmesg: string;
}

/**
 * 5xx answers that describe the service's state rather than a failure of ours (switched off, starting, draining): the
 * client is told to come back, and the log needs no stack trace.
 */
const STATE_ANSWERS: ReadonlySet<ErrorCode> = new Set(['E_ADMIN_DISABLED', 'E_NOT_READY', 'E_SHUTTING_DOWN']);

/** Answers with the error and writes its log line; returns what was answered. */
export function sendError(res: ServerResponse, log: Logger, error: unknown, fields: object = {}): Answered {
  const answered = answerError(res, error);
  logError(log, error, answered, fields);
  return answered;
}

/** Answers with the error, without a log line: for a caller that limits its lines (failed verifications). */
export function answerError(res: ServerResponse, error: unknown): Answered {
  const known = error instanceof SwitchboardError ? error : undefined;
  const body: ErrorBody = {
    success: false,
    errcode: known?.code ?? 'E_INTERNAL',
    erresid: randomUUID(),
    errmesg: known === undefined ? 'internal error; the log line with this erresid has the details' : publicMessage(known),
  };
  const status = known?.status ?? 500;
  sendJson(res, status, body);
  return { status, errcode: body.errcode, erresid: body.erresid, errmesg: body.errmesg };
}

/**
 * The log line of an error answer. A 5xx we caused is an `error` with the stack; a client's mistake (4xx) or a
 * state answer is a `warn` with the message alone: its stack would only point at the line that refused it.
 */
export function logError(log: Logger, error: unknown, answered: Answered, fields: object = {}): void {
  const known = error instanceof SwitchboardError ? error : undefined;
  const caused = answered.status >= 500 && !(known && STATE_ANSWERS.has(known.code));
  const { errcode, erresid, status, errmesg } = answered;
  if (caused) log.error({ ...fields, errcode, erresid, status, err: error }, errmesg);
  else log.warn({ ...fields, errcode, erresid, status }, errmesg);
}

function publicMessage(error: SwitchboardError): string {
  const general = LOGGED_ONLY[error.code];
  return general === undefined ? error.message : `${general}; the log line with this erresid has the details`;
}
