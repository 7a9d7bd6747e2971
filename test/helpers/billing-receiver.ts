/**
 * A billing provider on loopback for tests: it takes Stripe meter events (form-encoded) and JSON usage, plain or as
 * CloudEvents, honours idempotency keys as real providers do (each identifier is applied once; a repeat gets the
 * first answer again), and misbehaves on demand: it fails before applying, or applies the charge and then never
 * answers or answers 500.
 *
 * ```ts
 * const receiver = await startBillingReceiver();
 * receiver.behave(randomly({ fail: 0.1, hangAfterApply: 0.05, failAfterApply: 0.05 }, 42));
 * expect(receiver.totals()).toEqual({ cus_a: { participant_minutes: 12 } });
 * ```
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AppliedUsage {
  identifier: string;
  customer: string;
  meter: string;
  quantity: number;
  /** Seconds (Stripe's `timestamp`) or ISO text, as sent. */
  time: string;
  format: 'stripe' | 'json' | 'cloudevents';
}

export interface BillingRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The usage read from the request, or why it could not be read. */
  usage: AppliedUsage | { invalid: string };
  /** What the receiver did with it. */
  outcome: Outcome;
}

/** `ok`: apply (once) and answer 200. The others misbehave. */
export type Outcome = 'ok' | 'fail' | 'hang-after-apply' | 'fail-after-apply';
export type Decide = (usage: AppliedUsage, index: number) => Outcome;

export interface BillingReceiver {
  url: string;
  requests: BillingRequest[];
  /** Each identifier applied, once. */
  applied: Map<string, AppliedUsage>;
  /** Requests for an identifier that had already been applied. */
  readonly repeats: number;
  /** Quantities applied, by customer then meter. */
  totals(): Record<string, Record<string, number>>;
  behave(decide: Decide): void;
  close(): Promise<void>;
}

export const always =
  (outcome: Outcome): Decide =>
  () =>
    outcome;

/** Each request misbehaves with these probabilities (from a seeded generator, so a run can be repeated). */
export function randomly(rates: { fail?: number; hangAfterApply?: number; failAfterApply?: number }, seed = 1): Decide {
  const random = seededRandom(seed);
  return () => {
    let roll = random();
    for (const [outcome, rate] of [
      ['fail', rates.fail ?? 0],
      ['hang-after-apply', rates.hangAfterApply ?? 0],
      ['fail-after-apply', rates.failAfterApply ?? 0],
    ] as const) {
      if (roll < rate) return outcome;
      roll -= rate;
    }
    return 'ok';
  };
}

/** The outcomes in order, then `ok`. */
export function inTurn(...outcomes: Outcome[]): Decide {
  let next = 0;
  return () => outcomes[next++] ?? 'ok';
}

export async function startBillingReceiver(options: { secretKey?: string } = {}): Promise<BillingReceiver> {
  let decide: Decide = always('ok');
  const requests: BillingRequest[] = [];
  const applied = new Map<string, AppliedUsage>();
  /** The answer each applied identifier got first, replayed to repeats. */
  const answers = new Map<string, string>();
  let repeats = 0;

  const server = createServer((incoming, response) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const usage = readUsage(incoming.headers, body, options.secretKey);
      const request: BillingRequest = { path: incoming.url ?? '', headers: incoming.headers, body, usage, outcome: 'ok' };
      requests.push(request);
      if ('invalid' in usage) {
        answer(response, 400, { error: { message: usage.invalid } });
        return;
      }
      request.outcome = decide(usage, requests.length - 1);
      if (request.outcome === 'fail') {
        answer(response, 500, { error: { message: 'failed before applying' } });
        return;
      }
      if (applied.has(usage.identifier)) {
        repeats += 1;
      } else {
        applied.set(usage.identifier, usage);
        answers.set(usage.identifier, JSON.stringify({ applied: usage }));
      }
      if (request.outcome === 'hang-after-apply') return; // the client's timeout ends it
      if (request.outcome === 'fail-after-apply') {
        answer(response, 500, { error: { message: 'applied, then failed' } });
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(answers.get(usage.identifier));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    applied,
    get repeats() {
      return repeats;
    },
    totals() {
      const totals: Record<string, Record<string, number>> = {};
      for (const usage of applied.values()) {
        totals[usage.customer] ??= {};
        totals[usage.customer][usage.meter] = (totals[usage.customer][usage.meter] ?? 0) + usage.quantity;
      }
      return totals;
    },
    behave(next) {
      decide = next;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function readUsage(headers: IncomingHttpHeaders, body: string, secretKey: string | undefined): AppliedUsage | { invalid: string } {
  const contentType = headers['content-type'] ?? '';
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    if (secretKey !== undefined && headers.authorization !== `Bearer ${secretKey}`) return { invalid: 'bad secret key' };
    const form = new URLSearchParams(body);
    const usage = {
      identifier: form.get('identifier') ?? '',
      customer: form.get('payload[stripe_customer_id]') ?? '',
      meter: form.get('event_name') ?? '',
      quantity: Number(form.get('payload[value]')),
      time: form.get('timestamp') ?? '',
      format: 'stripe' as const,
    };
    return checked(usage, headers);
  }
  let document: any;
  try {
    document = JSON.parse(body);
  } catch {
    return { invalid: 'not JSON' };
  }
  const cloudEvent = contentType.startsWith('application/cloudevents+json');
  const data = cloudEvent ? document.data : document;
  if (cloudEvent && (document.specversion !== '1.0' || document.id !== data?.identifier)) return { invalid: 'not a CloudEvent of a usage' };
  return checked(
    {
      identifier: data?.identifier ?? '',
      customer: data?.customer ?? '',
      meter: data?.meter ?? '',
      quantity: data?.quantity,
      time: cloudEvent ? document.time : data?.occurred_at,
      format: cloudEvent ? 'cloudevents' : 'json',
    },
    headers,
  );
}

function checked(usage: AppliedUsage, headers: IncomingHttpHeaders): AppliedUsage | { invalid: string } {
  if (usage.identifier === '' || headers['idempotency-key'] !== usage.identifier) return { invalid: 'the idempotency key must be the identifier' };
  if (usage.customer === '' || usage.meter === '') return { invalid: 'customer and meter are required' };
  if (!Number.isSafeInteger(usage.quantity) || usage.quantity < 0) return { invalid: `bad quantity ${usage.quantity}` };
  return usage;
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** mulberry32: small, fast, and the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
