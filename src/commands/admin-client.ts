/** How CLI commands call a running Switchboard's admin API: its errors come back as the same SwitchboardError. */
import type { ResolvedSettings } from '../config.ts';
import { ErrorCodes, SwitchboardError, type ErrorCode } from '../errors.ts';
import { serviceUrl } from './service-url.ts';

export interface AdminClient {
  /** The service's base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  token: string | undefined;
}

/** The admin API at `--url` (or the default), with ADMIN_TOKEN (or `--admin-token`). */
export function adminClient(settings: ResolvedSettings, url: string | undefined): AdminClient {
  return { url: serviceUrl(settings, url), token: settings.ADMIN_TOKEN };
}

/** The `results` of a 2xx answer; any other answer throws its errcode and errmesg. */
export async function callAdmin<T>(client: AdminClient, method: 'GET' | 'POST', path: string, body?: object): Promise<T> {
  if (!client.token) throw new SwitchboardError('E_ADMIN_UNAUTHORIZED', 'the admin API needs its token: set ADMIN_TOKEN or pass --admin-token');
  const url = new URL(path, client.url);
  const response = await reachSwitchboard('E_ADMIN_UNREACHABLE', client.url, url, {
    method,
    headers: { Authorization: `Bearer ${client.token}`, ...(body && { 'Content-Type': 'application/json' }) },
    body: body && JSON.stringify(body),
  });
  const text = await response.text();
  let answer: { success?: boolean; results?: T; errcode?: string; errmesg?: string } | undefined;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  if (response.ok && answer?.success) return answer.results as T;
  if (answer?.errcode && Object.hasOwn(ErrorCodes, answer.errcode)) {
    throw new SwitchboardError(answer.errcode as ErrorCode, answer.errmesg ?? `HTTP ${response.status}`);
  }
  throw new SwitchboardError('E_INTERNAL', `${method} ${url.pathname} answered HTTP ${response.status}: ${text.slice(0, 200)}`);
}

/** `fetch`, with a refused or failed connection said as `code` naming the service's URL, not as a stack. */
export async function reachSwitchboard(code: 'E_ADMIN_UNREACHABLE' | 'E_SEND_UNREACHABLE', serviceUrl: string | URL, url: string | URL, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    const reason = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new SwitchboardError(code, `could not reach Switchboard at ${serviceUrl} (${reason?.code ?? reason?.message ?? (error as Error).message}); is it running? --url names another`, { cause: error });
  }
}
