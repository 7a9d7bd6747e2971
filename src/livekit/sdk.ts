/**
 * livekit-server-sdk, loaded at first use: it costs about 30 MiB of resident memory, and a configuration that calls
 * no LiveKit API and signs nothing (verification does without it) should not pay for it.
 */
type LiveKitSdk = typeof import('livekit-server-sdk');

let loading: Promise<LiveKitSdk> | undefined;

export function liveKitSdk(): Promise<LiveKitSdk> {
  return (loading ??= import('livekit-server-sdk'));
}
