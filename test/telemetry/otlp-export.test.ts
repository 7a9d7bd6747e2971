/** `switchboard serve` with OTEL_EXPORTER_OTLP_ENDPOINT set exports its spans over OTLP/HTTP to that endpoint. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startReceiver, type Receiver } from '../helpers/receivers.ts';
import { sampleBody, SHIPPED_STATUS_RULES } from '../helpers/switchboard.ts';
import { livekitToken, TEST_KEY, TEST_SECRET } from '../helpers/tokens.ts';

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; boolValue?: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: OtlpAttribute[];
}
interface OtlpExport {
  resourceSpans: Array<{ resource: { attributes: OtlpAttribute[] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
    probe.on('error', reject);
  });
}

function attribute(attributes: OtlpAttribute[], key: string): unknown {
  const found = attributes.find((entry) => entry.key === key)?.value;
  return found?.stringValue ?? found?.intValue ?? found?.boolValue;
}

describe('OTLP export', () => {
  let collector: Receiver;
  let child: ChildProcess | undefined;
  let dir: string;

  beforeAll(async () => {
    collector = await startReceiver();
    dir = mkdtempSync(join(tmpdir(), 'switchboard-otlp-'));
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await collector.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends the spans of a webhook to the endpoint the environment names, as service switchboard', async () => {
    const rulesDir = join(dir, 'rules');
    mkdirSync(rulesDir);
    writeFileSync(join(rulesDir, 'session-status.yaml'), SHIPPED_STATUS_RULES);
    const port = await freePort();
    let errors = '';
    child = spawn(process.execPath, ['src/cli.ts', 'serve'], {
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        HOST: '127.0.0.1',
        LIVEKIT_KEYS: `${TEST_KEY}: ${TEST_SECRET}`,
        RULES_DIR: rulesDir,
        PLUGINS_DIR: resolve('plugins'),
        DATABASE_URL: `file:${join(dir, 'switchboard.db')}`,
        LOG_LEVEL: 'warn',
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_BSP_SCHEDULE_DELAY: '50',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (chunk) => (errors += chunk));
    const base = `http://127.0.0.1:${port}`;
    await vi.waitFor(
      async () => {
        if (child!.exitCode !== null) throw new Error(`serve exited with ${child!.exitCode}: ${errors}`);
        expect((await fetch(`${base}/healthz`).catch(() => undefined))?.ok).toBe(true);
      },
      { timeout: 15_000, interval: 50 },
    );

    const body = sampleBody('room_started');
    const response = await fetch(`${base}/api/v1/webhooks/livekit`, {
      method: 'POST',
      headers: { Authorization: await livekitToken(body), 'Content-Type': 'application/webhook+json' },
      body,
    });
    expect(response.status).toBe(200);

    const exported = await vi.waitFor(
      () => {
        const spans = collector.requests
          .filter((request) => request.method === 'POST' && request.path === '/v1/traces')
          .flatMap((request) => (JSON.parse(request.body) as OtlpExport).resourceSpans);
        const server = spans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans)).find((span) => span.name === 'POST /api/v1/webhooks/livekit');
        expect(server).toBeDefined();
        return { resources: spans, server: server! };
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(attribute(exported.resources[0].resource.attributes, 'service.name')).toBe('switchboard');
    expect(attribute(exported.server.attributes, 'livekit.event.name')).toBe('room_started');
    expect(attribute(exported.server.attributes, 'switchboard.verification')).toBe('ok');
    const children = exported.resources.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans)).filter((span) => span.parentSpanId === exported.server.spanId);
    expect(children.map((span) => span.name).sort()).toEqual(['action status', 'match rules']);
    expect(errors).toBe('');
  }, 30_000);
});
