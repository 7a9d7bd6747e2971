import {
  checkTimeout,
  CLIENT_HEADERS,
  definePlugin,
  destination,
  failureFor,
  HEADER_NAME,
  isTemplated,
  PermanentError,
  sendRequest,
  TIMEOUT_PARAM,
  timeoutMs,
} from 'livekit-switchboard/plugin';
import {
  DURATION_UNITS,
  durationQuantity,
  eventTime,
  givenQuantity,
  measuredDuration,
  MEASURES,
  ROUNDINGS,
  type Measure,
  type Rounding,
} from './billing/measure.ts';
import { providerUrl, usageRequest, type Provider, type ReportedUsage } from './billing/providers.ts';

/** An action's `with:`, rendered. */
export interface BillingParams {
  measure?: Measure;
  quantity?: unknown;
  meter?: string;
  unit?: string;
  round?: Rounding;
  customer?: string;
  provider: Provider['provider'];
  secretKey?: string;
  baseUrl?: string;
  url?: string;
  headers?: Record<string, string>;
  cloudevents?: boolean;
  source?: string;
  type?: string;
  timeout?: number | string;
}

/** What a billing delivery carries: the usage as recorded in the ledger, and where to report it. */
export interface UsageReport {
  provider: Provider;
  timeout?: number | string;
  usage: ReportedUsage;
}

interface BillingResult {
  status: number;
  identifier: string;
  durationMs: number;
}

const STRIPE_ONLY = ['secretKey', 'baseUrl'] as const;
const HTTP_ONLY = ['url', 'headers', 'cloudevents', 'source', 'type'] as const;
/** Say where the usage goes and who pays for it: event data must not choose either's destination or credentials. */
const LITERAL = ['measure', 'meter', 'unit', 'round', 'provider', ...STRIPE_ONLY, ...HTTP_ONLY, 'timeout'] as const;

/**
 * Usage metering: measures a LiveKit event (participant, room, egress or ingress minutes, or a quantity the rule
 * computes), writes the usage to the ledger in the event's transaction, then reports it to Stripe's meter events API
 * or any HTTP endpoint from the delivery queue. The usage's identifier (from the rule, the event and the meter) is
 * the provider's idempotency key, so nothing is billed twice and nothing recorded is lost.
 *
 * ```yaml
 * actions:
 *   - plugin: billing
 *     with:
 *       measure: participant_minutes
 *       customer: "{{ room.metadataJson.customer }}"
 *       provider: stripe
 *       secretKey: "${env:STRIPE_SECRET_KEY}"
 * ```
 */
export default definePlugin<BillingParams, BillingResult, UsageReport>({
  name: 'billing',
  description: 'Meters usage from events into the usage ledger and reports it to Stripe or an HTTP endpoint, idempotently.',
  modes: ['async'],
  params: {
    type: 'object',
    required: ['provider'],
    additionalProperties: false,
    properties: {
      measure: { enum: MEASURES, description: 'What to measure; or give quantity.' },
      quantity: { description: 'A number the rule computes ({ $logic: … } or a template), rounded to a whole number.' },
      meter: {
        type: 'string',
        minLength: 1,
        maxLength: 100,
        description: 'The meter (Stripe event_name); default: the measure. Names the usage with the rule and the event.',
      },
      unit: { type: 'string', minLength: 1, description: 'seconds or minutes (default) for a measure; any label for a quantity.' },
      round: { enum: ROUNDINGS, description: 'To a whole number of units: up (default), nearest or down.' },
      customer: { type: 'string', description: 'Who is billed, e.g. "{{ room.metadataJson.customer }}".' },
      provider: { enum: ['stripe', 'http'] },
      secretKey: { type: 'string', minLength: 1, description: 'stripe: the secret key, from ${env:NAME}.' },
      baseUrl: { type: 'string', minLength: 1, description: 'stripe: default https://api.stripe.com.' },
      url: { type: 'string', minLength: 1, description: 'http: where the usage is POSTed as JSON.' },
      headers: {
        type: 'object',
        propertyNames: { pattern: HEADER_NAME },
        additionalProperties: { type: 'string' },
        description: 'http: extra request headers, e.g. Authorization from ${env:NAME}.',
      },
      cloudevents: { type: 'boolean', description: 'http: send a CloudEvents 1.0 structured event.' },
      source: { type: 'string', minLength: 1, description: 'http with cloudevents: the CloudEvents source.' },
      type: { type: 'string', minLength: 1, description: 'http with cloudevents: the CloudEvents type.' },
      timeout: TIMEOUT_PARAM,
    },
    allOf: [
      { if: { properties: { provider: { const: 'stripe' } } }, then: { required: ['secretKey'] } },
      { if: { properties: { provider: { const: 'http' } } }, then: { required: ['url'] } },
    ],
  },

  check(params) {
    return [...checkMeasure(params), ...checkProvider(params)];
  },

  async prepare(params, ctx) {
    const customer = typeof params.customer === 'string' ? params.customer.trim() : '';
    if (customer === '') {
      throw new PermanentError('customer rendered empty: the event does not say who to bill', { code: 'E_BILLING_CUSTOMER' });
    }
    const round = params.round ?? 'up';
    const unit = params.unit ?? 'minutes';
    const quantity =
      params.measure === undefined
        ? givenQuantity(params.quantity, round)
        : durationQuantity(measuredDuration(params.measure, ctx.event), unit as 'seconds' | 'minutes', round);
    const meter = params.meter ?? params.measure!;
    const occurredAt = eventTime(ctx.event);
    const { identifier } = await ctx.usage.record({ customer, meter, quantity, unit, occurredAt });
    return {
      provider: providerOf(params),
      ...(params.timeout !== undefined && { timeout: params.timeout }),
      usage: {
        identifier,
        customer,
        meter,
        quantity,
        unit,
        occurredAt: occurredAt.toISOString(),
        eventId: ctx.eventId,
        eventName: ctx.eventName,
        ruleId: ctx.rule.id,
        // A synthetic event's createdAt is its reconciliation pass: the bill ends there, and says so.
        ...(ctx.event.synthetic === true && { reconciledAt: String(ctx.event.reconciledAt) }),
      },
    };
  },

  target(report) {
    return new URL(providerUrl(report.provider)).origin;
  },

  async run(report, ctx) {
    const started = performance.now();
    const request = usageRequest(report.provider, report.usage);
    const timeout = timeoutMs(report.timeout);
    const answer = await sendRequest(
      request.url,
      { method: 'POST', headers: request.headers, body: request.body },
      { timeoutMs: timeout, outer: ctx.signal },
    );
    ctx.recordResponse({ status: answer.status, body: answer.excerpt });
    const failure = failureFor(request.url.origin, answer);
    if (failure !== undefined) throw failure;
    return { status: answer.status, identifier: report.usage.identifier, durationMs: Math.round(performance.now() - started) };
  },
});

function providerOf(params: BillingParams): Provider {
  if (params.provider === 'stripe') {
    return { provider: 'stripe', secretKey: params.secretKey!, ...(params.baseUrl !== undefined && { baseUrl: params.baseUrl }) };
  }
  const { url, headers, cloudevents, source, type } = params;
  return { provider: 'http', url: url!, ...definedOnly({ headers, cloudevents, source, type }) };
}

function definedOnly<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** What to measure, in which unit, named by which meter: as written in the rule. */
function checkMeasure(params: Record<string, unknown>): string[] {
  const { measure, quantity, meter, unit, customer } = params;
  const problems = LITERAL.filter((key) => isTemplated(params[key])).map(
    (key) => `${key} must be written literally: event data cannot choose what is billed where`,
  );
  if ((measure === undefined) === (quantity === undefined)) {
    problems.push(`give either measure (${MEASURES.join(', ')}) or quantity (a number the rule computes), not ${measure === undefined ? 'neither' : 'both'}`);
  }
  if (quantity !== undefined && meter === undefined) problems.push('meter is required with quantity: it names what is billed');
  if (quantity !== undefined && unit === undefined) problems.push('unit is required with quantity: it labels the number in the ledger');
  if (measure !== undefined && unit !== undefined && !(DURATION_UNITS as readonly unknown[]).includes(unit)) {
    problems.push(`unit of a measure must be ${DURATION_UNITS.join(' or ')}, not "${unit}"`);
  }
  if (customer === undefined || customer === '') {
    problems.push('customer is required: who is billed, e.g. "{{ room.metadataJson.customer }}"');
  }
  return problems;
}

/** Where the usage is reported, with the settings of that provider only. */
function checkProvider(params: Record<string, unknown>): string[] {
  const { provider, timeout } = params;
  const foreign = provider === 'stripe' ? HTTP_ONLY : STRIPE_ONLY;
  const problems = foreign.filter((key) => params[key] !== undefined).map((key) => `${key} is not a setting of provider ${provider}`);
  for (const key of ['baseUrl', 'url'] as const) {
    const value = params[key];
    if (typeof value !== 'string' || isTemplated(value)) continue;
    try {
      destination(value);
    } catch (error) {
      problems.push(`${key}: ${(error as Error).message}`);
    }
  }
  const headers = params.headers;
  if (typeof headers === 'object' && headers !== null) {
    for (const name of Object.keys(headers)) {
      if (Object.hasOwn(CLIENT_HEADERS, name.toLowerCase())) problems.push(`headers.${name} cannot be set: the billing plugin writes it`);
    }
  }
  if (params.source !== undefined || params.type !== undefined) {
    if (params.cloudevents !== true) problems.push('source and type are CloudEvents attributes: set cloudevents: true');
  }
  problems.push(...checkTimeout(timeout));
  return problems;
}
