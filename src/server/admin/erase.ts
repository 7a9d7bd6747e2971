/**
 * Erasure of a person's or a room's data (`POST /api/v1/erase`): the store rewrites what holds it (sql/erasure.ts),
 * then the audit log records what was erased and how many rows. The audit names the subject by its SHA-256, not in
 * clear, so the log does not keep what was just erased; an operator can still check a name against it.
 */
import { createHash } from 'node:crypto';
import type { Router } from 'express';
import type { ErasureCounts, ErasureSubject } from '../../store/store.ts';
import type { Actor } from './auth.ts';
import { route, type RouteContext } from './request.ts';
import type { AdminRouteOptions } from './route-options.ts';

/** What erased data reads as afterwards. */
export const ERASED_MARKER = '[erased]';

const SUBJECT = { type: 'string', minLength: 1, maxLength: 1000 };
const ERASE_BODY = {
  type: 'object',
  additionalProperties: false,
  properties: { participant_identity: SUBJECT, room: SUBJECT },
  oneOf: [{ required: ['participant_identity'] }, { required: ['room'] }],
};

interface EraseBody {
  participant_identity?: string;
  room?: string;
}

export function eraseRoutes(router: Router, context: RouteContext, options: AdminRouteOptions): void {
  route<Record<string, never>, Record<string, never>, EraseBody>(
    router, context, 'post', '/api/v1/erase', { body: ERASE_BODY },
    async ({ body, actor }) => ({ erased: await eraseData(options, body, actor) }),
  );
}

export async function eraseData({ store }: Pick<AdminRouteOptions, 'store'>, body: EraseBody, actor: Actor): Promise<ErasureCounts> {
  const subject: ErasureSubject =
    body.participant_identity !== undefined ? { participantIdentity: body.participant_identity } : { room: body.room! };
  const [kind, name] = 'room' in subject ? ['room', subject.room] : ['participant', subject.participantIdentity];
  const erased = await store.erase(subject, ERASED_MARKER);
  const digest = `sha256:${createHash('sha256').update(name).digest('hex')}`;
  await store.transaction((tx) => tx.appendAudit({ action: 'erase', subject: `${kind}/${digest}`, details: { kind, erased, actor } }));
  return erased;
}
