/**
 * LiveKit's server API, as Switchboard asks it what is live: livekit-server-sdk's clients, created once per process,
 * every call bounded by a timeout and counted by method and outcome.
 */
import type { EgressClient, EgressInfo, ParticipantInfo, Room, RoomServiceClient } from 'livekit-server-sdk';
import { SwitchboardError } from '../errors.ts';
import { liveKitSdk } from './sdk.ts';

export interface LiveKitApiSettings {
  /** The server's HTTP(S) URL (a ws(s):// LIVEKIT_URL is mapped to it). */
  url: string;
  apiKey: string;
  apiSecret: string;
}

export type LiveKitApiMethod = 'ListRooms' | 'ListParticipants' | 'ListEgress';

/** `ok`, `timeout`, `unreachable` (no answer), the Twirp error code LiveKit answered, or `error`. */
type LiveKitApiOutcome = string;

interface EgressFilter {
  active?: boolean;
  egressId?: string;
  roomName?: string;
}

export interface LiveKitApi {
  listRooms(): Promise<Room[]>;
  listParticipants(room: string): Promise<ParticipantInfo[]>;
  listEgress(filter: EgressFilter): Promise<EgressInfo[]>;
}

interface LiveKitApiOptions {
  /** The deadline of each call. */
  timeoutMs?: number;
  /** Told of every call once it is over, e.g. to count it in a metric. */
  onCall?(method: LiveKitApiMethod, outcome: LiveKitApiOutcome): void;
}

const DEFAULT_TIMEOUT_MS = 10_000;

interface Clients {
  rooms: RoomServiceClient;
  egress: EgressClient;
  outcomeOf(error: unknown): LiveKitApiOutcome;
}

/**
 * The client set of this process. Create it once: each client signs a short-lived token per call. The SDK is loaded
 * at the first call.
 *
 * @example
 * const api = createLiveKitApi(config.liveKitApi, { onCall: (method, outcome) => metrics.liveKitApiCall(method, outcome) });
 * const rooms = await api.listRooms();
 */
export function createLiveKitApi(settings: LiveKitApiSettings, options: LiveKitApiOptions = {}): LiveKitApi {
  const clientOptions = {
    // The SDK aborts the request (and the reading of its answer) at this deadline; it takes seconds.
    requestTimeout: (options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000,
    // A failed call is asked again at the next pass; region failover would add calls the pass does not count.
    failover: false,
  };
  let clients: Promise<Clients> | undefined;
  const ready = () =>
    (clients ??= liveKitSdk().then(({ RoomServiceClient, EgressClient, ServerError }) => ({
      rooms: new RoomServiceClient(settings.url, settings.apiKey, settings.apiSecret, clientOptions),
      egress: new EgressClient(settings.url, settings.apiKey, settings.apiSecret, clientOptions),
      outcomeOf: (error) => (error instanceof ServerError ? (error.code ?? `http_${error.status}`) : callOutcome(error)),
    })));

  async function counted<T>(method: LiveKitApiMethod, call: (clients: Clients) => Promise<T>): Promise<T> {
    const loaded = await ready();
    try {
      const answer = await call(loaded);
      options.onCall?.(method, 'ok');
      return answer;
    } catch (error) {
      options.onCall?.(method, loaded.outcomeOf(error));
      throw error;
    }
  }

  return {
    listRooms: () => counted('ListRooms', ({ rooms }) => rooms.listRooms()),
    listParticipants: (room) => counted('ListParticipants', ({ rooms }) => rooms.listParticipants(room)),
    listEgress: (filter) => counted('ListEgress', ({ egress }) => egress.listEgress(filter)),
  };
}

/** The outcome label of a failed call that LiveKit did not answer with an error of its own. */
function callOutcome(error: unknown): LiveKitApiOutcome {
  if (error instanceof DOMException && error.name === 'TimeoutError') return 'timeout';
  // fetch rejects with a TypeError when no answer came: refused, reset, DNS.
  if (error instanceof TypeError) return 'unreachable';
  return 'error';
}

/**
 * The API settings from LIVEKIT_URL and the key set. The key is LIVEKIT_API_KEY_ID (one of the keys), else
 * LIVEKIT_API_KEY, else the only key there is. Throws `E_CONFIG_INVALID`.
 */
export function liveKitApiSettings(url: string, keys: ReadonlyMap<string, string>, keyId: string | undefined): LiveKitApiSettings {
  const httpUrl = liveKitHttpUrl(url);
  if (httpUrl === undefined) {
    throw invalid(`LIVEKIT_URL is "${url}": expected the LiveKit server's URL, such as https://my-project.livekit.cloud or ws://localhost:7880`);
  }
  const apiKey = keyId ?? (keys.size === 1 ? [...keys.keys()][0] : undefined);
  if (apiKey === undefined) {
    throw invalid(`LIVEKIT_KEYS lists ${keys.size} keys: set LIVEKIT_API_KEY_ID to the one Switchboard calls LiveKit's API with`);
  }
  const apiSecret = keys.get(apiKey);
  if (apiSecret === undefined) {
    throw invalid(`LIVEKIT_API_KEY_ID is "${apiKey}", which is not among the API keys of LIVEKIT_KEYS`);
  }
  return { url: httpUrl, apiKey, apiSecret };
}

/** The origin to call: ws(s) URLs map to http(s) on the same host; undefined for anything but those four schemes. */
export function liveKitHttpUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const protocol = { 'http:': 'http:', 'https:': 'https:', 'ws:': 'http:', 'wss:': 'https:' }[parsed.protocol];
  if (protocol === undefined || parsed.hostname === '') return undefined;
  // The SDK puts its routes at the server's root, so a path would be ignored: leave it out.
  return `${protocol}//${parsed.host}`;
}

function invalid(message: string): SwitchboardError {
  return new SwitchboardError('E_CONFIG_INVALID', message);
}
