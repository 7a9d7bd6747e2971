/**
 * An async action's ordering key (`ordering:`): deliveries that share a key run in event order. By default the
 * thing the event is about: the egress for egress events, the ingress for ingress events, else the room.
 */
import type { EventContext } from '../livekit/event-types.ts';
import type { ReportIssue } from './issues.ts';
import { compileTemplate } from './template.ts';
import type { NodePath } from '../schema-issues.ts';

type OrderingKey = (context: EventContext) => string | null;

/** What `ordering:` says for "no ordering at all". */
const UNORDERED = 'none';

/** Absent: the default key; `none`: never ordered; anything else: a template rendered to the key. */
export function compileOrdering(ordering: string | undefined, report: ReportIssue, at: NodePath): OrderingKey {
  if (ordering === undefined) return defaultOrderingKey;
  if (ordering === UNORDERED) return () => null;
  const template = compileTemplate(ordering, report, at);
  return (context) => asKey(template.render(context));
}

/** egressInfo.egressId for `egress_*` events, ingressInfo.ingressId for `ingress_*` events, else room.name. */
function defaultOrderingKey(context: EventContext): string | null {
  if (context.event.startsWith('egress_')) return asKey(context.egressInfo?.egressId);
  if (context.event.startsWith('ingress_')) return asKey(context.ingressInfo?.ingressId);
  return asKey(context.room?.name);
}

/** An empty or missing value leaves the delivery unordered rather than ordering it behind every other such one. */
function asKey(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}
