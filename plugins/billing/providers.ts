/**
 * The requests that report one usage to a billing provider, built without sending anything: Stripe's meter events
 * API, or JSON (optionally a CloudEvents 1.0 structured event) to any URL. Both carry the usage's identifier as
 * their idempotency key, so a provider that honours it applies each usage once however often it is sent.
 */
import { USER_AGENT } from 'livekit-switchboard/plugin';

const DEFAULT_STRIPE_BASE_URL = 'https://api.stripe.com';
const STRIPE_METER_EVENTS_PATH = '/v1/billing/meter_events';
const DEFAULT_CLOUDEVENTS_SOURCE = 'livekit-switchboard';
const DEFAULT_CLOUDEVENTS_TYPE = 'switchboard.usage';

export type Provider =
  | { provider: 'stripe'; secretKey: string; baseUrl?: string }
  | {
      provider: 'http';
      url: string;
      headers?: Record<string, string>;
      cloudevents?: boolean;
      /** CloudEvents `source`; default "livekit-switchboard". */
      source?: string;
      /** CloudEvents `type`; default "switchboard.usage". */
      type?: string;
    };

/** One usage as it is reported: what the ledger holds, and where it came from. */
export interface ReportedUsage {
  identifier: string;
  customer: string;
  meter: string;
  quantity: number;
  unit: string;
  /** ISO 8601. */
  occurredAt: string;
  eventId: string;
  eventName: string;
  ruleId: string;
  /**
   * Set when the event was synthetic (reconciliation found the participant or room gone, its webhook lost): the
   * usage then ends at that pass's time (ISO 8601), not when it truly ended.
   */
  reconciledAt?: string;
}

interface UsageRequest {
  url: URL;
  headers: Record<string, string>;
  body: string;
}

/** Where the provider's requests go; its origin is the action's target. */
export function providerUrl(provider: Provider): string {
  if (provider.provider === 'http') return provider.url;
  return `${(provider.baseUrl ?? DEFAULT_STRIPE_BASE_URL).replace(/\/+$/, '')}${STRIPE_METER_EVENTS_PATH}`;
}

export function usageRequest(provider: Provider, usage: ReportedUsage): UsageRequest {
  const url = new URL(providerUrl(provider));
  const common = { 'user-agent': USER_AGENT, 'idempotency-key': usage.identifier };
  if (provider.provider === 'stripe') {
    return {
      url,
      headers: { ...common, authorization: `Bearer ${provider.secretKey}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: stripeMeterEvent(usage),
    };
  }
  const data = usageDocument(usage);
  if (!provider.cloudevents) {
    return { url, headers: { ...provider.headers, ...common, 'content-type': 'application/json' }, body: JSON.stringify(data) };
  }
  const cloudEvent = {
    specversion: '1.0',
    id: usage.identifier,
    source: provider.source ?? DEFAULT_CLOUDEVENTS_SOURCE,
    type: provider.type ?? DEFAULT_CLOUDEVENTS_TYPE,
    subject: usage.customer,
    time: usage.occurredAt,
    datacontenttype: 'application/json',
    data,
  };
  return {
    url,
    headers: { ...provider.headers, ...common, 'content-type': 'application/cloudevents+json; charset=utf-8' },
    body: JSON.stringify(cloudEvent),
  };
}

/** Stripe's form fields: `payload[value]` must be a whole number, `timestamp` seconds since the epoch. */
function stripeMeterEvent(usage: ReportedUsage): string {
  return new URLSearchParams([
    ['event_name', usage.meter],
    ['payload[stripe_customer_id]', usage.customer],
    ['payload[value]', String(usage.quantity)],
    ['identifier', usage.identifier],
    ['timestamp', String(Math.floor(Date.parse(usage.occurredAt) / 1000))],
  ]).toString();
}

/** The JSON an http provider receives (as CloudEvents `data` in structured mode). */
function usageDocument(usage: ReportedUsage) {
  return {
    identifier: usage.identifier,
    customer: usage.customer,
    meter: usage.meter,
    quantity: usage.quantity,
    unit: usage.unit,
    occurred_at: usage.occurredAt,
    event: { id: usage.eventId, type: usage.eventName },
    rule: usage.ruleId,
    ...(usage.reconciledAt !== undefined && { ends: 'reconciled', reconciled_at: usage.reconciledAt }),
  };
}
