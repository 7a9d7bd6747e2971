/**
 * LiveKit's server API on loopback for tests: the Twirp JSON routes livekit-server-sdk's RoomServiceClient and
 * EgressClient call for reconciliation (ListRooms, ListParticipants, ListEgress). Like livekit-server, it checks
 * the bearer token (HS256, signed with the API secret, `iss` = the API key) and the video grant each method needs,
 * answers Twirp errors as JSON, and misbehaves on demand: it drops the connection, delays or fails (503) answers.
 *
 * ```ts
 * const livekit = await startLiveKitApiServer({ apiKey: 'APIkey', apiSecret: 'secret' });
 * livekit.rooms.push(new Room({ sid: 'RM_1', name: 'demo', numParticipants: 1 }));
 * livekit.participants.set('demo', [new ParticipantInfo({ sid: 'PA_1', identity: 'alice' })]);
 * livekit.misbehave('ListRooms', { kind: 'fail' }, 1);
 * const rooms = await new RoomServiceClient(livekit.url, 'APIkey', 'secret').listRooms();
 * ```
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { EgressInfo, EgressStatus, ParticipantInfo, Room, TokenVerifier, type VideoGrant } from 'livekit-server-sdk';

export type ApiMethod = 'ListRooms' | 'ListParticipants' | 'ListEgress';

const ROUTES: Record<string, ApiMethod> = {
  '/twirp/livekit.RoomService/ListRooms': 'ListRooms',
  '/twirp/livekit.RoomService/ListParticipants': 'ListParticipants',
  '/twirp/livekit.Egress/ListEgress': 'ListEgress',
};

/** `drop`: close the connection without answering; `delay`: answer after `ms`; `fail`: answer 503 `unavailable`. */
export type Misbehaviour = { kind: 'drop' } | { kind: 'delay'; ms: number } | { kind: 'fail' };

export interface ApiCall {
  method: ApiMethod | 'unknown';
  /** The request body as the SDK sent it. */
  request: Record<string, unknown>;
  /** The video grant of the token, when it verified. */
  grant: VideoGrant | undefined;
  /** 200, a Twirp error's status, or `dropped`. */
  answer: number | 'dropped';
}

export interface LiveKitApiServer {
  /** `http://127.0.0.1:<port>`, as LIVEKIT_URL. */
  url: string;
  /** The rooms LiveKit has open. */
  rooms: Room[];
  /** Participants by room name. */
  participants: Map<string, ParticipantInfo[]>;
  /** Every egress LiveKit remembers, active or ended. */
  egress: EgressInfo[];
  /** Every request, in order of arrival. */
  calls: ApiCall[];
  /** Misbehave on the next `times` calls of `method` (`*`: any method); later instructions queue behind earlier ones. */
  misbehave(method: ApiMethod | '*', misbehaviour: Misbehaviour, times?: number): void;
  /** Stops answering: calls then find no server. Closing twice is harmless. */
  close(): Promise<void>;
}

/** Twirp's error codes and their HTTP statuses (twitchtv/twirp's spec), for the ones this server answers. */
const TWIRP_STATUS = { unauthenticated: 401, permission_denied: 403, not_found: 404, malformed: 400, bad_route: 404, unavailable: 503 };
type TwirpCode = keyof typeof TWIRP_STATUS;

class TwirpError extends Error {
  readonly code: TwirpCode;
  constructor(code: TwirpCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Egress statuses `active: true` lists: the ones before an end. */
const ACTIVE_EGRESS = new Set([EgressStatus.EGRESS_STARTING, EgressStatus.EGRESS_ACTIVE, EgressStatus.EGRESS_ENDING]);

export interface LiveKitApiServerOptions {
  apiKey: string;
  apiSecret: string;
  /**
   * Answer as a Twirp server with its defaults writes protojson: proto field names (`num_participants`) and zero
   * values included. By default answers use JSON names (`numParticipants`) and omit zero values. The SDK reads both.
   */
  protoNames?: boolean;
}

export async function startLiveKitApiServer(options: LiveKitApiServerOptions): Promise<LiveKitApiServer> {
  const verifier = new TokenVerifier(options.apiKey, options.apiSecret);
  const writeOptions = { useProtoFieldName: options.protoNames, emitDefaultValues: options.protoNames };
  const queue: Array<{ method: ApiMethod | '*'; misbehaviour: Misbehaviour; left: number }> = [];
  const sockets = new Set<Socket>();

  const state: Omit<LiveKitApiServer, 'url' | 'close' | 'misbehave'> = {
    rooms: [],
    participants: new Map(),
    egress: [],
    calls: [],
  };

  function nextMisbehaviour(method: ApiMethod | 'unknown'): Misbehaviour | undefined {
    const index = queue.findIndex((entry) => entry.method === '*' || entry.method === method);
    if (index === -1) return undefined;
    const entry = queue[index];
    entry.left -= 1;
    if (entry.left <= 0) queue.splice(index, 1);
    return entry.misbehaviour;
  }

  async function answer(call: ApiCall, authorization: string | undefined) {
    const { method, request } = call;
    if (method === 'unknown') throw new TwirpError('bad_route', 'no such method');
    const grant = await grantOf(authorization);
    call.grant = grant;
    switch (method) {
      case 'ListRooms': {
        if (!grant.roomList) throw new TwirpError('permission_denied', 'permissions denied: roomList required');
        const names = request.names as string[] | undefined;
        const rooms = names?.length ? state.rooms.filter((room) => names.includes(room.name)) : state.rooms;
        return { rooms: rooms.map((room) => room.toJson(writeOptions)) };
      }
      case 'ListParticipants': {
        const room = request.room as string | undefined;
        if (!grant.roomAdmin || !room || grant.room !== room) {
          throw new TwirpError('permission_denied', 'permissions denied: roomAdmin for this room required');
        }
        if (!state.rooms.some((open) => open.name === room)) throw new TwirpError('not_found', 'requested room does not exist');
        return { participants: (state.participants.get(room) ?? []).map((participant) => participant.toJson(writeOptions)) };
      }
      case 'ListEgress': {
        if (!grant.roomRecord) throw new TwirpError('permission_denied', 'permissions denied: roomRecord required');
        const items = state.egress.filter(
          (info) =>
            (!request.roomName || info.roomName === request.roomName) &&
            (!request.egressId || info.egressId === request.egressId) &&
            (!request.active || ACTIVE_EGRESS.has(info.status)),
        );
        return { items: items.map((info) => info.toJson(writeOptions)) };
      }
    }
  }

  async function grantOf(authorization: string | undefined): Promise<VideoGrant> {
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    if (token === undefined) throw new TwirpError('unauthenticated', 'authorization header missing or not a bearer token');
    try {
      const claims = await verifier.verify(token);
      return (claims.video ?? {}) as VideoGrant;
    } catch (error) {
      throw new TwirpError('unauthenticated', `invalid token: ${(error as Error).message}`);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const method = req.method === 'POST' ? ROUTES[req.url ?? ''] : undefined;
    let request: Record<string, unknown> | undefined;
    try {
      request = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch {
      // Answered as malformed below, once the call is on record.
    }
    const call: ApiCall = { method: method ?? 'unknown', request: request ?? {}, grant: undefined, answer: 200 };
    state.calls.push(call);

    const misbehaviour = nextMisbehaviour(call.method);
    if (misbehaviour?.kind === 'drop') {
      call.answer = 'dropped';
      req.socket.destroy();
      return;
    }
    if (misbehaviour?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, misbehaviour.ms));
    try {
      if (misbehaviour?.kind === 'fail') throw new TwirpError('unavailable', 'service unavailable');
      if (request === undefined) throw new TwirpError('malformed', 'the body is not JSON');
      const body = await answer(call, req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } catch (error) {
      if (!(error instanceof TwirpError)) throw error;
      call.answer = TWIRP_STATUS[error.code];
      res
        .writeHead(call.answer, { 'content-type': 'application/json' })
        .end(JSON.stringify({ code: error.code, msg: error.message }));
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'internal', msg: String(error) }));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    misbehave(method: ApiMethod | '*', misbehaviour: Misbehaviour, times = 1) {
      queue.push({ method, misbehaviour, left: times });
    },
    close() {
      if (!server.listening) return Promise.resolve();
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  });
}
