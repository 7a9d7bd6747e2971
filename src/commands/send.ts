/** `switchboard send`: posts a sample or a file as LiveKit would, signed with the given key. */
import { readFileSync } from 'node:fs';
import { SwitchboardError } from '../errors.ts';
import { sampleEvent, sampleEventNames } from '../livekit/samples.ts';
import { signWebhook } from '../livekit/sign.ts';
import { reachSwitchboard } from './admin-client.ts';

interface SendOptions {
  what: string;
  /** The whole webhook URL. */
  url: string;
  apiKey: string;
  apiSecret: string;
  room?: string;
  participant?: string;
}

/** The body to send: a sample by event name, or a file's bytes as they are. */
function bodyToSend(options: Pick<SendOptions, 'what' | 'room' | 'participant'>): string {
  if (/\.json$/i.test(options.what)) {
    if (options.room || options.participant) {
      throw new SwitchboardError('E_CONFIG_INVALID', '--room and --participant apply to samples, not to a file sent as it is');
    }
    return readFileSync(options.what, 'utf8');
  }
  const event = sampleEvent(options.what, { room: options.room, participant: options.participant });
  if (!event) {
    throw new SwitchboardError(
      'E_CONFIG_INVALID',
      `no sample for "${options.what}": name a file.json or one of ${sampleEventNames().join(', ')}`,
    );
  }
  return JSON.stringify(event);
}

/** Prints the answer's status and body; the exit code says whether it was a 2xx. */
export async function send(options: SendOptions): Promise<number> {
  const body = bodyToSend(options);
  const token = await signWebhook({ body, apiKey: options.apiKey, apiSecret: options.apiSecret });
  const response = await reachSwitchboard('E_SEND_UNREACHABLE', options.url, options.url, {
    method: 'POST',
    headers: { Authorization: token, 'Content-Type': 'application/webhook+json' },
    body,
  });
  console.log(`${response.status} ${await response.text()}`);
  return response.ok ? 0 : 1;
}
