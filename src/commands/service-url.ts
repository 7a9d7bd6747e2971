/** Where the commands that talk to a running Switchboard find it: `--url` is its base URL, the same for each. */
import type { ResolvedSettings } from '../config.ts';
import { text } from './command.ts';

export const URL_OPTION = text('URL', "the running Switchboard's base URL (default http://127.0.0.1:$PORT)");

export function serviceUrl(settings: ResolvedSettings, url: string | undefined): string {
  return url ?? `http://127.0.0.1:${settings.PORT}`;
}

/**
 * `--webhook-url` as given, else the service's URL with WEBHOOK_PATH. A `--url` with a path of its own is taken
 * whole, as `send --url` took a webhook URL before it took the base URL.
 */
export function webhookUrl(settings: ResolvedSettings, options: { url?: string; webhookUrl?: string }): string {
  if (options.webhookUrl !== undefined) return options.webhookUrl;
  const base = serviceUrl(settings, options.url);
  return URL.parse(base)?.pathname === '/' ? new URL(settings.WEBHOOK_PATH, base).href : base;
}
