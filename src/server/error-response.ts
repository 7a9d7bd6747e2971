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

/** Answers with the error and writes its log line; returns what was answered. */
export function sendError(
  res: ServerResponse,
  log: Logger,
  error: unknown,
  fields: object = {},
): { status: number; errcode: string; erresid: string } {
  const known = error instanceof SwitchboardError ? error : undefined;
  const body: ErrorBody = {
    success: false,
    errcode: known?.code ?? 'E_INTERNAL',
    erresid: randomUUID(),
    errmesg: known === undefined ? 'internal error; the log line with this erresid has the details' : publicMessage(known),
  };
  const status = known?.status ?? 500;
  const logFields = { ...fields, errcode: body.errcode, erresid: body.erresid, status, err: error };
  if (status >= 500) log.error(logFields, body.errmesg);
  else log.warn(logFields, body.errmesg);
  sendJson(res, status, body);
  return { status, errcode: body.errcode, erresid: body.erresid };
}

function publicMessage(error: SwitchboardError): string {
  const general = LOGGED_ONLY[error.code];
  return general === undefined ? error.message : `${general}; the log line with this erresid has the details`;
}
