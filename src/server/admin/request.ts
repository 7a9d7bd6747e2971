/**
 * One way to declare an admin route: JSON Schemas for its path params, query and body, validated by ajv once here
 * (a violation is 400 E_INVALID_REQUEST naming the field), then a handler that trusts its typed input and returns
 * the `results` of `{success:true, results}`.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import express, { type Request, type Response, type Router } from 'express';
import { SwitchboardError } from '../../errors.ts';
import { describeSchemaErrors, formatNodePath } from '../../schema-issues.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { sendError } from '../error-response.ts';
import type { Actor } from './auth.ts';
import type { JsonSchema } from '../../plugins/contract.ts';


interface RouteSchemas {
  params?: JsonSchema;
  query?: JsonSchema;
  /** A route with a body schema parses any body as JSON; an empty body is `{}`. */
  body?: JsonSchema;
}

interface RouteInput<Params, Query, Body> {
  params: Params;
  query: Query;
  body: Body;
  actor: Actor;
}

export interface RouteContext {
  log: Logger;
  actor: (req: Request) => Actor;
}

type Source = keyof RouteSchemas;

// Path params and query strings arrive as text: their schemas say `integer` and ajv converts. Bodies are JSON, so
// a `"true"` where true belongs is a mistake to report, not to guess at.
const textInput = new Ajv({ allErrors: true, verbose: true, coerceTypes: true, useDefaults: true });
const jsonInput = new Ajv({ allErrors: true, verbose: true, useDefaults: true });
const BODY_LIMIT = '64kb';

export function route<Params = Record<string, never>, Query = Record<string, never>, Body = Record<string, never>>(
  router: Router,
  context: RouteContext,
  method: 'get' | 'post',
  path: string,
  schemas: RouteSchemas,
  handle: (input: RouteInput<Params, Query, Body>) => Promise<unknown>,
): void {
  const validators = {
    params: schemas.params && textInput.compile(schemas.params),
    query: schemas.query && textInput.compile(schemas.query),
    body: schemas.body && jsonInput.compile(schemas.body),
  };
  const respond = async (req: Request, res: Response): Promise<void> => {
    try {
      refuseNul(req.params, req.query, req.body);
      const input = {
        params: validated('params', validators.params, { ...req.params }),
        query: validated('query', validators.query, { ...(req.query as object) }),
        body: validated('body', validators.body, req.body ?? {}),
        actor: context.actor(req),
      } as RouteInput<Params, Query, Body>;
      res.json({ success: true, results: await handle(input) });
    } catch (error) {
      sendError(res, context.log, error, { path: req.path });
    }
  };
  if (!schemas.body) {
    router[method](path, respond);
    return;
  }
  const parseJson = express.json({ type: () => true, limit: BODY_LIMIT });
  router[method](path, (req, res, next) => {
    parseJson(req, res, (error?: unknown) => {
      if (error) sendError(res, context.log, bodyError(error), { path: req.path });
      else next();
    });
  }, respond);
}

/**
 * A NUL character has no place in any admin input, and PostgreSQL cannot store or compare text holding one: it is
 * refused here rather than failing in the store as a 500.
 */
function refuseNul(...inputs: unknown[]): void {
  const holdsNul = (value: unknown): boolean =>
    typeof value === 'string' ? value.includes('\0') : typeof value === 'object' && value !== null && Object.values(value).some(holdsNul);
  if (inputs.some(holdsNul)) throw new SwitchboardError('E_INVALID_REQUEST', 'the request holds a NUL character (%00 or \\u0000)');
}

function validated(source: Source, validate: ValidateFunction | undefined, value: unknown): unknown {
  if (!validate) return value;
  if (validate(value)) return value;
  const problems = describeRequestErrors(source, validate.errors ?? []);
  throw new SwitchboardError('E_INVALID_REQUEST', problems.join('; '), { details: validate.errors });
}

/** Messages such as `query.limit must be <= 500` or `unknown key "forse" in body (expected one of: force)`. */
function describeRequestErrors(source: Source, errors: readonly ErrorObject[]): string[] {
  // An `anyOf` of alternatives is said once ("needs at least one of …"), without each branch's complaint.
  const alternatives = errors.filter((error) => error.keyword === 'anyOf');
  const described = errors
    .filter((error) => !alternatives.some((anyOf) => error.schemaPath.startsWith(`${anyOf.schemaPath}/`)))
    .map((error) => (error.keyword === 'anyOf' ? { ...error, message: alternativesOf(error) } : error));
  const name = (path: readonly (string | number)[]) => (path.length === 0 ? source : `${source}.${formatNodePath(path)}`);
  return describeSchemaErrors(described, name).map((issue) => issue.message);
}

/** For an `anyOf` whose branches each require one key: which keys would do. */
function alternativesOf(error: ErrorObject): string | undefined {
  const branches = error.schema as JsonSchema[];
  const keys = branches.flatMap((branch) => (Array.isArray(branch.required) ? (branch.required as string[]) : []));
  return keys.length === branches.length ? `needs at least one of: ${keys.join(', ')}` : error.message;
}

function bodyError(error: unknown): SwitchboardError {
  const type = (error as { type?: string }).type;
  const message =
    type === 'entity.too.large'
      ? `the body is larger than ${BODY_LIMIT}`
      : type === 'entity.parse.failed'
        ? `the body is not valid JSON: ${(error as Error).message}`
        : `the body could not be read: ${(error as Error).message}`;
  return new SwitchboardError('E_INVALID_REQUEST', message, { cause: error });
}

/** The `limit` and `cursor` of every paged list. */
export const PAGE_QUERY = {
  limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  cursor: { type: 'string', minLength: 1 },
} as const;

export interface PageQuery {
  limit: number;
  cursor?: string;
}

export const NO_BODY: JsonSchema = { type: 'object', additionalProperties: false, properties: {} };

/** A date (midnight UTC) or a date and time with a zone, as ISO 8601 writes them. */
export const ISO_TIME = {
  type: 'string',
  pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2}))?$',
} as const;

/** A time query parameter (ISO_TIME) as a Date; undefined when absent. */
export function queryTime(name: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new SwitchboardError('E_INVALID_REQUEST', `query.${name} "${text}" is not a valid time`);
  return date;
}
