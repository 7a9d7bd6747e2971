/** Signing a webhook body exactly as LiveKit does, for `switchboard send` and tests. */
import { createHash } from 'node:crypto';
import { liveKitSdk } from './sdk.ts';

interface WebhookSigning {
  body: string | Uint8Array;
  apiKey: string;
  apiSecret: string;
  /** LiveKit's own deliveries are valid for five minutes. */
  ttlSeconds?: number;
}

/**
 * The `Authorization` header value for a delivery of `body`: an HS256 JWT with `iss` = API key and `sha256` = the
 * standard base64 SHA-256 of the body's bytes. Sign the exact bytes you send.
 *
 * @example
 * const body = JSON.stringify(event);
 * await fetch(url, { method: 'POST', body, headers: { authorization: await signWebhook({ body, apiKey, apiSecret }) } });
 */
export async function signWebhook({ body, apiKey, apiSecret, ttlSeconds = 300 }: WebhookSigning): Promise<string> {
  const { AccessToken } = await liveKitSdk();
  const token = new AccessToken(apiKey, apiSecret, { ttl: ttlSeconds });
  token.sha256 = createHash('sha256').update(body).digest('base64');
  return token.toJwt();
}
