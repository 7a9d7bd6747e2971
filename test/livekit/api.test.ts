import {
  AccessToken,
  EgressClient,
  EgressInfo,
  EgressStatus,
  ParticipantInfo,
  Room,
  RoomServiceClient,
  TwirpError,
} from 'livekit-server-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLiveKitApi, liveKitHttpUrl, type LiveKitApiMethod } from '../../src/livekit/api.ts';
import { startLiveKitApiServer, type LiveKitApiServer } from '../helpers/livekit-api-server.ts';

const apiKey = 'APIreconcile';
const apiSecret = 'reconcile-secret-of-enough-length';

let livekit: LiveKitApiServer;
beforeEach(async () => {
  livekit = await startLiveKitApiServer({ apiKey, apiSecret });
  livekit.rooms.push(new Room({ sid: 'RM_a', name: 'session-a', numParticipants: 1, creationTime: 1763856000n }));
  livekit.participants.set('session-a', [new ParticipantInfo({ sid: 'PA_a', identity: 'alice', joinedAt: 1763856005n })]);
  livekit.egress.push(
    new EgressInfo({ egressId: 'EG_live', roomName: 'session-a', status: EgressStatus.EGRESS_ACTIVE }),
    new EgressInfo({ egressId: 'EG_done', roomName: 'session-a', status: EgressStatus.EGRESS_COMPLETE, endedAt: 1763856610000000000n }),
  );
});
afterEach(() => livekit.close());

describe('the loopback LiveKit API server, through livekit-server-sdk', () => {
  it('lists rooms, participants and egress as the SDK decodes them, int64 values included', async () => {
    const rooms = new RoomServiceClient(livekit.url, apiKey, apiSecret);
    const egress = new EgressClient(livekit.url, apiKey, apiSecret);

    const [room] = await rooms.listRooms();
    expect(room).toMatchObject({ sid: 'RM_a', name: 'session-a', numParticipants: 1, creationTime: 1763856000n });
    expect(await rooms.listParticipants('session-a')).toMatchObject([{ sid: 'PA_a', identity: 'alice', joinedAt: 1763856005n }]);
    expect((await egress.listEgress({ active: true })).map((info) => info.egressId)).toEqual(['EG_live']);
    expect(await egress.listEgress({ egressId: 'EG_done' })).toMatchObject([
      { status: EgressStatus.EGRESS_COMPLETE, endedAt: 1763856610000000000n },
    ]);
    expect(livekit.calls.map((call) => [call.method, call.request])).toEqual([
      ['ListRooms', {}],
      ['ListParticipants', { room: 'session-a' }],
      ['ListEgress', { active: true }],
      ['ListEgress', { egressId: 'EG_done' }],
    ]);
  });

  it('can answer with proto field names and zero values, as Twirp writes by default, which the SDK reads alike', async () => {
    const twirpStyle = await startLiveKitApiServer({ apiKey, apiSecret, protoNames: true });
    try {
      twirpStyle.rooms.push(new Room({ sid: 'RM_a', name: 'session-a', numParticipants: 2 }));
      const answer = await post(await token({ roomList: true }), 'livekit.RoomService/ListRooms', {}, twirpStyle.url);
      const { rooms } = (await answer.json()) as { rooms: unknown[] };
      expect(rooms[0]).toMatchObject({ sid: 'RM_a', num_participants: 2, max_participants: 0 });
      const api = createLiveKitApi({ url: twirpStyle.url, apiKey, apiSecret });
      expect(await api.listRooms()).toMatchObject([{ sid: 'RM_a', numParticipants: 2 }]);
    } finally {
      await twirpStyle.close();
    }
  });

  it('checks the grant each method needs, as livekit-server does', async () => {
    const calls: Record<LiveKitApiMethod, (token: string) => Promise<Response>> = {
      ListRooms: (token) => post(token, 'livekit.RoomService/ListRooms', {}),
      ListParticipants: (token) => post(token, 'livekit.RoomService/ListParticipants', { room: 'session-a' }),
      ListEgress: (token) => post(token, 'livekit.Egress/ListEgress', {}),
    };
    const adminOfAnotherRoom = await token({ roomAdmin: true, room: 'elsewhere' });
    for (const [method, call] of Object.entries(calls)) {
      const answer = await call(adminOfAnotherRoom);
      expect({ method, status: answer.status, body: await answer.json() }).toEqual({
        method,
        status: 403,
        body: { code: 'permission_denied', msg: expect.any(String) },
      });
    }
    expect((await calls.ListRooms(await token({ roomList: true }))).status).toBe(200);
    expect((await calls.ListParticipants(await token({ roomAdmin: true, room: 'session-a' }))).status).toBe(200);
    expect((await calls.ListEgress(await token({ roomRecord: true }))).status).toBe(200);
  });

  it('refuses a token signed with another secret as unauthenticated', async () => {
    const error = await new RoomServiceClient(livekit.url, apiKey, 'not-the-secret-at-all').listRooms().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TwirpError);
    expect(error).toMatchObject({ status: 401, code: 'unauthenticated' });
  });

  it('answers not_found for the participants of a room it does not have', async () => {
    const error = await new RoomServiceClient(livekit.url, apiKey, apiSecret).listParticipants('gone').catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('drops, delays and fails answers on demand, then behaves again', async () => {
    const rooms = new RoomServiceClient(livekit.url, apiKey, apiSecret, { failover: false });
    livekit.misbehave('ListRooms', { kind: 'fail' });
    livekit.misbehave('ListRooms', { kind: 'drop' });
    livekit.misbehave('*', { kind: 'delay', ms: 50 });

    await expect(rooms.listRooms()).rejects.toMatchObject({ status: 503, code: 'unavailable' });
    await expect(rooms.listRooms()).rejects.toThrow(TypeError);
    expect(await rooms.listRooms()).toHaveLength(1);
    expect(await rooms.listRooms()).toHaveLength(1);
    expect(livekit.calls.map((call) => call.answer)).toEqual([503, 'dropped', 200, 200]);
  });
});

async function token(grant: Record<string, unknown>): Promise<string> {
  const at = new AccessToken(apiKey, apiSecret, { ttl: 60 });
  at.addGrant(grant);
  return at.toJwt();
}

function post(token: string, route: string, body: unknown, url = livekit.url): Promise<Response> {
  return fetch(`${url}/twirp/${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('createLiveKitApi', () => {
  it('calls LiveKit with the key pair and counts each call by method and outcome', async () => {
    const counted: string[] = [];
    const api = createLiveKitApi({ url: livekit.url, apiKey, apiSecret }, { onCall: (method, outcome) => counted.push(`${method} ${outcome}`) });

    expect((await api.listRooms()).map((room) => room.sid)).toEqual(['RM_a']);
    expect((await api.listParticipants('session-a')).map((participant) => participant.sid)).toEqual(['PA_a']);
    expect((await api.listEgress({ active: true })).map((info) => info.egressId)).toEqual(['EG_live']);
    livekit.misbehave('ListParticipants', { kind: 'fail' });
    await expect(api.listParticipants('session-a')).rejects.toThrow();
    await expect(api.listParticipants('gone')).rejects.toThrow();
    expect(counted).toEqual([
      'ListRooms ok',
      'ListParticipants ok',
      'ListEgress ok',
      'ListParticipants unavailable',
      'ListParticipants not_found',
    ]);
    expect(livekit.calls.map((call) => call.grant)).toMatchObject([
      { roomList: true },
      { roomAdmin: true, room: 'session-a' },
      { roomRecord: true },
      undefined,
      { roomAdmin: true, room: 'gone' },
    ]);
  });

  it('gives up on a call at its deadline, and counts a timeout apart from an unreachable server', async () => {
    const counted: string[] = [];
    const onCall = (method: string, outcome: string) => counted.push(`${method} ${outcome}`);
    const api = createLiveKitApi({ url: livekit.url, apiKey, apiSecret }, { timeoutMs: 100, onCall });
    livekit.misbehave('ListRooms', { kind: 'delay', ms: 1_000 });
    await expect(api.listRooms()).rejects.toThrow();

    const closed = await startLiveKitApiServer({ apiKey, apiSecret });
    await closed.close();
    await expect(createLiveKitApi({ url: closed.url, apiKey, apiSecret }, { onCall }).listRooms()).rejects.toThrow();
    livekit.misbehave('ListRooms', { kind: 'drop' });
    await expect(api.listRooms()).rejects.toThrow();
    expect(counted).toEqual(['ListRooms timeout', 'ListRooms unreachable', 'ListRooms unreachable']);
  });
});

describe('LIVEKIT_URL and the API key', () => {
  const env = { LIVEKIT_API_KEY: apiKey, LIVEKIT_API_SECRET: apiSecret };

  it('maps ws(s):// to http(s):// and refuses anything else', () => {
    expect(liveKitHttpUrl('wss://my-project.livekit.cloud')).toBe('https://my-project.livekit.cloud');
    expect(liveKitHttpUrl('ws://localhost:7880/')).toBe('http://localhost:7880');
    expect(liveKitHttpUrl('https://livekit.example.com')).toBe('https://livekit.example.com');
    expect(liveKitHttpUrl('ftp://livekit.example.com')).toBeUndefined();
    expect(liveKitHttpUrl('livekit.example.com')).toBeUndefined();
    expect(() => loadConfig({ env: { ...env, LIVEKIT_URL: 'localhost:7880' } })).toThrow(/LIVEKIT_URL is "localhost:7880"/);
  });

  it('calls with LIVEKIT_API_KEY, or the key LIVEKIT_API_KEY_ID names among LIVEKIT_KEYS', () => {
    expect(loadConfig({ env: { ...env, LIVEKIT_URL: 'ws://localhost:7880' } }).liveKitApi).toEqual({
      url: 'http://localhost:7880',
      apiKey,
      apiSecret,
    });
    const keys = { LIVEKIT_KEYS: 'APIone: secret-one, APItwo: secret-two', LIVEKIT_URL: 'https://lk.example.com' };
    expect(loadConfig({ env: { ...keys, LIVEKIT_API_KEY_ID: 'APItwo' } }).liveKitApi).toMatchObject({
      apiKey: 'APItwo',
      apiSecret: 'secret-two',
    });
    expect(() => loadConfig({ env: keys })).toThrow(/lists 2 keys: set LIVEKIT_API_KEY_ID/);
    expect(() => loadConfig({ env: { ...keys, LIVEKIT_API_KEY_ID: 'APIthree' } })).toThrow(/"APIthree", which is not among/);
  });

  it('reconciles every 60s when LIVEKIT_URL is set and not at all without it; silence alerts after 5m', () => {
    expect(loadConfig({ env })).toMatchObject({ liveKitApi: undefined, reconcileIntervalMs: 0, silenceAlertMs: 300_000 });
    expect(loadConfig({ env: { ...env, LIVEKIT_URL: 'http://localhost:7880' } })).toMatchObject({ reconcileIntervalMs: 60_000 });
  });

  it('takes any duration from 1s, or 0 for off, for RECONCILE_INTERVAL and SILENCE_ALERT', () => {
    const withUrl = { ...env, LIVEKIT_URL: 'http://localhost:7880' };
    expect(loadConfig({ env: { ...withUrl, RECONCILE_INTERVAL: '1s', SILENCE_ALERT: '0' } })).toMatchObject({
      reconcileIntervalMs: 1_000,
      silenceAlertMs: 0,
    });
    expect(loadConfig({ env: { ...withUrl, RECONCILE_INTERVAL: '0' } }).reconcileIntervalMs).toBe(0);
    expect(() => loadConfig({ env: { ...withUrl, RECONCILE_INTERVAL: '500ms' } })).toThrow(/RECONCILE_INTERVAL is "500ms": expected a duration of at least 1s, or 0/);
    expect(() => loadConfig({ env: { ...env, SILENCE_ALERT: 'soon' } })).toThrow(/SILENCE_ALERT is "soon"/);
    expect(() => loadConfig({ env: { ...env, RECONCILE_INTERVAL: '30s' } })).toThrow(/RECONCILE_INTERVAL is "30s": expected 0 unless LIVEKIT_URL is set/);
  });
});
