/**
 * Dev mode's admin token: without one, `serve --dev` makes one and appends it to `.env` in the working directory,
 * where every command reads its settings, so `switchboard deliveries ls` (and the next `serve --dev`) run in
 * the same directory use it without being told.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DevAdminToken {
  token: string;
  /** Where it was written; undefined when the settings already held one. */
  writtenTo: string | undefined;
}

export function devAdminToken(configured: string | undefined, cwd: string): DevAdminToken {
  if (configured !== undefined) return { token: configured, writtenTo: undefined };
  const token = randomBytes(24).toString('base64url');
  const dotenvPath = join(cwd, '.env');
  const text = existsSync(dotenvPath) ? readFileSync(dotenvPath, 'utf8') : '';
  const separator = text === '' || text.endsWith('\n') ? '' : '\n';
  appendFileSync(dotenvPath, `${separator}# made by \`switchboard serve --dev\` for its admin API and dashboard\nADMIN_TOKEN=${token}\n`, { mode: 0o600 });
  return { token, writtenTo: dotenvPath };
}
