import { definePlugin, PermanentError } from 'livekit-switchboard/plugin';

/** The worked example from the README: a plugin that keeps the last announcement per channel. */
export default definePlugin<{ channel: string; text: string }>({
  name: 'announce',
  description: 'Keeps the last announcement of a channel as its session status.',
  inline: true,
  params: {
    type: 'object',
    required: ['channel', 'text'],
    additionalProperties: false,
    properties: { channel: { type: 'string', minLength: 1 }, text: { type: 'string' } },
  },
  async run(params, ctx) {
    if (params.text.length > 200) throw new PermanentError('announcement longer than 200 characters');
    return ctx.sessions.transition({ key: `announce/${params.channel}`, status: params.text });
  },
});
