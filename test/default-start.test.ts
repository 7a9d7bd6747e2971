/**
 * What a start loads: a default one (SQLite, tracing off, no LiveKit API) leaves out livekit-server-sdk and the
 * OpenTelemetry SDK, each tens of MiB of resident memory (docs/performance.md, memory), and Node's own fetch
 * (undici); a start that uses the SDKs loads them.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startServeProcess, type ServeProcess } from './helpers/serve-process.ts';
import { sampleBody } from './helpers/switchboard.ts';

const HOOK = pathToFileURL(resolve('test/helpers/loaded-packages.ts')).href;
const OPTIONAL = (name: string) => name === 'livekit-server-sdk' || (name.startsWith('@opentelemetry/') && name !== '@opentelemetry/api');

describe('packages a start loads', () => {
  let dir: string;
  let served: ServeProcess | undefined;
  afterEach(async () => {
    await served?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function serveAndList(env: Record<string, string>, use: (served: ServeProcess) => Promise<void>): Promise<string[]> {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-loaded-'));
    const list = join(dir, 'packages.txt');
    served = await startServeProcess({
      RULES_DIR: resolve('rules'),
      DATABASE_URL: `file:${join(dir, 'switchboard.db')}`,
      NODE_OPTIONS: `--import=${HOOK}`,
      LOADED_PACKAGES_FILE: list,
      ...env,
    });
    await use(served);
    await served.stop();
    return readFileSync(list, 'utf8').trim().split('\n');
  }

  it('a default start, ingesting and shutting down, loads neither livekit-server-sdk nor the OpenTelemetry SDK', async () => {
    const loaded = await serveAndList({}, async (served) => {
      const answer = await served.deliver(sampleBody('room_started', { room: { sid: 'RM_loaded_packages' } }));
      expect(answer.status).toBe(200);
    });
    expect(loaded).toEqual(expect.arrayContaining(['express', '@opentelemetry/api', 'node:amaro'])); // the lists are being kept
    expect(loaded.filter(OPTIONAL)).toEqual([]);
    expect(loaded).not.toContain('node:undici'); // Node's fetch, which an ES module import of node:http loads
  });

  it('a start with tracing and reconciliation on loads both', async () => {
    const loaded = await serveAndList(
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', LIVEKIT_URL: 'http://127.0.0.1:9', RECONCILE_INTERVAL: '1h' },
      async () => undefined,
    );
    expect(loaded).toEqual(expect.arrayContaining(['livekit-server-sdk', '@opentelemetry/sdk-trace', '@opentelemetry/resources']));
  });
});
