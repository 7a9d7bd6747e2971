import { definePlugin, type SessionTransition, type SessionTransitionRequest } from 'livekit-switchboard/plugin';

/**
 * Keyed session status. Monotonic: an event older than the one that set the current status never overwrites it,
 * so a late `room_started` cannot revive a stopped session.
 * Inline, the store applies the declared transition with the event's own writes.
 */
export default definePlugin<SessionTransitionRequest, SessionTransition>({
  name: 'status',
  description: 'Sets a keyed session status (sessions start as "ready"); older events never overwrite newer ones.',
  inline: true,
  params: {
    type: 'object',
    required: ['key', 'status'],
    additionalProperties: false,
    properties: {
      key: { type: 'string', minLength: 1, description: 'The session key, e.g. "{{ room.name }}".' },
      status: { type: 'string', minLength: 1, description: 'The status to set, e.g. "live".' },
      from: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        description: 'Apply only when the current status is one of these.',
      },
    },
  },
  transition: (params) => params,
  // Async actions: the same transition, made in a transaction of its own.
  run: (params, ctx) => ctx.sessions.transition(params),
});
