/** Starts a real Switchboard on loopback with its own SQLite file and rules directory. */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { startSwitchboard, type Switchboard } from '../../src/app.ts';
import { loadConfig, type Settings } from '../../src/config.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { livekitToken, TEST_KEY, TEST_SECRET } from './tokens.ts';

export interface TestSwitchboard extends Switchboard {
  dir: string;
  rulesDir: string;
  webhookUrl: string;
  databaseUrl: string;
  /** Every log line written, parsed. */
  logs: Record<string, unknown>[];
  /** Posts a body signed as LiveKit signs it (unless a token is given). */
  deliver(body: string, options?: { token?: string | null; headers?: Record<string, string> }): Promise<{ status: number; json: any }>;
  admin(path: string, token?: string): Promise<{ status: number; json: any }>;
  /** POSTs to the admin API: an object is sent as JSON, a string as it is, undefined as no body. */
  adminPost(path: string, body?: unknown, token?: string): Promise<{ status: number; json: any }>;
  stop(): Promise<void>;
}

export const ADMIN_TOKEN = 'admin-token-for-tests';

export async function startTestSwitchboard(
  options: { rules?: Record<string, string>; settings?: Settings; env?: Record<string, string> } = {},
): Promise<TestSwitchboard> {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-test-'));
  const rulesDir = join(dir, 'rules');
  mkdirSync(rulesDir);
  const rules = options.rules ?? { 'session-status.yaml': SHIPPED_STATUS_RULES };
  for (const [file, text] of Object.entries(rules)) writeFileSync(join(rulesDir, file), text);

  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const config = loadConfig({
    env: {
      PORT: '0',
      HOST: '127.0.0.1',
      LIVEKIT_KEYS: `${TEST_KEY}: ${TEST_SECRET}`,
      RULES_DIR: rulesDir,
      PLUGINS_DIR: resolve('plugins'),
      DATABASE_URL: `file:${join(dir, 'switchboard.db')}`,
      ADMIN_TOKEN,
      LOG_LEVEL: 'debug',
      ...options.settings,
    },
  });
  const switchboard = await startSwitchboard(config, createLogger({ level: config.logLevel, destination }), {
    env: options.env ?? {},
  });
  const webhookUrl = `${switchboard.url}${config.webhookPath}`;

  return {
    ...switchboard,
    dir,
    rulesDir,
    webhookUrl,
    databaseUrl: config.databaseUrl,
    logs,
    async deliver(body, deliverOptions = {}) {
      const token = deliverOptions.token === undefined ? await livekitToken(body) : deliverOptions.token;
      const headers: Record<string, string> = { 'Content-Type': 'application/webhook+json', ...deliverOptions.headers };
      if (token !== null) headers.Authorization = token;
      const response = await fetch(webhookUrl, { method: 'POST', headers, body });
      return { status: response.status, json: await response.json() };
    },
    async admin(path, token = ADMIN_TOKEN) {
      const response = await fetch(`${switchboard.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
      return { status: response.status, json: await response.json() };
    },
    async adminPost(path, body, token = ADMIN_TOKEN) {
      const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const response = await fetch(`${switchboard.url}${path}`, {
        method: 'POST',
        headers,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: response.status, json: await response.json() };
    },
    async stop() {
      await switchboard.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One rule: every room_started sets its room's session live. */
export const ROOM_LIVE_RULE = `rules:
  - id: live
    on: room_started
    actions:
      - plugin: status
        with: { key: "{{ room.name }}", status: live }
`;

export const SHIPPED_STATUS_RULES = `rules:
  - id: session-live
    on: room_started
    actions:
      - plugin: status
        mode: inline
        with: { key: "{{ room.name }}", status: live }
  - id: session-stopped
    on: room_finished
    actions:
      - plugin: status
        mode: inline
        with: { key: "{{ room.name }}", status: stopped }
`;

/** A sample body with fields replaced; kept as text so tests control the exact bytes. */
export function sampleBody(name: string, patch: Record<string, unknown> = {}): string {
  const sample = JSON.parse(readFileSync(resolve('src/livekit/samples', `${name}.json`), 'utf8'));
  return JSON.stringify(deepMerge(sample, patch));
}

function deepMerge(base: any, patch: any): any {
  if (typeof base !== 'object' || base === null || typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const merged = { ...base };
  for (const [key, value] of Object.entries(patch)) merged[key] = deepMerge(base[key], value);
  return merged;
}
