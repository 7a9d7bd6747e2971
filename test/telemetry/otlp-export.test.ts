/** `switchboard serve` with OTEL_EXPORTER_OTLP_ENDPOINT set exports its spans over OTLP/HTTP to that endpoint. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startReceiver, type Receiver } from '../helpers/receivers.ts';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.ts';
import { sampleBody, SHIPPED_STATUS_RULES } from '../helpers/switchboard.ts';

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

function attribute(attributes: OtlpAttribute[], key: string): unknown {
  const found = attributes.find((entry) => entry.key === key)?.value;
  return found?.stringValue ?? found?.intValue ?? found?.boolValue;
}

describe('OTLP export', () => {
  let collector: Receiver;
  let child: ServeProcess | undefined;
  let dir: string;

  beforeAll(async () => {
    collector = await startReceiver();
    dir = mkdtempSync(join(tmpdir(), 'switchboard-otlp-'));
  });
  afterAll(async () => {
    await child?.stop('SIGKILL');
    await collector.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends the spans of a webhook to the endpoint the environment names, as service switchboard', async () => {
    const rulesDir = join(dir, 'rules');
    mkdirSync(rulesDir);
    writeFileSync(join(rulesDir, 'session-status.yaml'), SHIPPED_STATUS_RULES);
    child = await startServeProcess({
      RULES_DIR: rulesDir,
      DATABASE_URL: `file:${join(dir, 'switchboard.db')}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });

    const body = sampleBody('room_started');
    const response = await child.deliver(body);
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
    expect(child.stderr).toBe('');
  }, 30_000);
});
