/** How CLI commands call a running Switchboard's admin API: its errors come back as the same SwitchboardError. */
import { ErrorCodes, SwitchboardError, type ErrorCode } from '../errors.ts';

export interface AdminClient {
  /** The service's base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  token: string | undefined;
}

export function defaultAdminUrl(env: Record<string, string | undefined>): string {
  return `http://127.0.0.1:${env.PORT ?? '8080'}`;
}

/** The `results` of a 2xx answer; any other answer throws its errcode and errmesg. */
export async function callAdmin<T>(client: AdminClient, method: 'GET' | 'POST', path: string, body?: object): Promise<T> {
  if (!client.token) throw new SwitchboardError('E_ADMIN_UNAUTHORIZED', 'the admin API needs its token: set ADMIN_TOKEN or pass --admin-token');
  const url = new URL(path, client.url);
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { Authorization: `Bearer ${client.token}`, ...(body && { 'Content-Type': 'application/json' }) },
      body: body && JSON.stringify(body),
    });
  } catch (error) {
    const reason = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new SwitchboardError('E_ADMIN_UNREACHABLE', `could not reach Switchboard at ${client.url} (${reason?.code ?? reason?.message ?? (error as Error).message}); is it running? --url names another`, { cause: error });
  }
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
