/**
 * What every Store must do with the live picture: rooms, participants present and egress drawn from events in their
 * transaction, ordered by createdAt, keyed by sid, with one start and one end per resource. Part of the store
 * contract suite.
 */
import { expect, it } from 'vitest';
import type { PictureChange } from '../../src/store/live-picture.ts';
import type { Store } from '../../src/store/store.ts';
import { eventRecord } from './store-contract.ts';

const T0 = 1_800_000_000;
const ROOM = { sid: 'RM_a', name: 'standup' };

function change(kind: PictureChange['kind'], id: string, edge: PictureChange['edge'], status: string, extra: Partial<PictureChange> = {}): PictureChange {
  return { kind, id, edge, once: kind !== 'ingress' && edge !== null, status, at: new Date(T0 * 1000), room: ROOM, ...extra };
}

const started = (extra: Partial<PictureChange> = {}) => change('room', 'RM_a', 'start', 'live', { info: { sid: 'RM_a', name: 'standup', metadata: 'm' }, ...extra });
const finished = (extra: Partial<PictureChange> = {}) => change('room', 'RM_a', 'end', 'finished', extra);
const joined = (sid: string, identity = 'alice') => change('participant', sid, 'start', 'present', { identity, info: { sid, identity, joinedAt: String(T0) } });
const left = (sid: string, identity = 'alice') => change('participant', sid, 'end', 'left', { identity });

export function describeLivePictureContract(current: () => Store): void {
  let seconds = 0;

  /** Records an event (createdAt T0 + `offset`) and applies its change, in one transaction. */
  async function apply(id: string, pictureChange: PictureChange, offset = ++seconds, apiKey = 'APIkey') {
    const at = new Date((T0 + offset) * 1000);
    return current().transaction(async (tx) => {
      const recorded = await tx.recordEvent(eventRecord(id, { createdAt: T0 + offset, apiKey, receivedAt: at, name: id }));
      if (recorded.duplicate) throw new Error(`event ${id} was already recorded`);
      return tx.applyPictureChange({ ...pictureChange, at }, { id, name: id, createdAt: T0 + offset, seq: recorded.seq });
    });
  }

  it('draws live rooms with the participants present and the active egress', async () => {
    await apply('EV_start', started());
    await apply('EV_join_a', joined('PA_a'));
    await apply('EV_join_b', joined('PA_b', 'bob'));
    await apply('EV_left_b', left('PA_b', 'bob'));
    await apply('EV_egress', change('egress', 'EG_1', 'start', 'EGRESS_ACTIVE'));
    const picture = await current().livePicture();
    expect(picture.rooms).toEqual([
      {
        sid: 'RM_a',
        name: 'standup',
        info: { sid: 'RM_a', name: 'standup', metadata: 'm' },
        participants: [{ sid: 'PA_a', identity: 'alice', info: { sid: 'PA_a', identity: 'alice', joinedAt: String(T0) } }],
      },
    ]);
    expect(picture.egress).toEqual([{ egressId: 'EG_1', roomName: 'standup' }]);
    expect(await current().pictureCounts()).toEqual({ roomsLive: 1, participantsPresent: 1 });

    await apply('EV_egress_end', change('egress', 'EG_1', 'end', 'EGRESS_COMPLETE'));
    await apply('EV_finish', finished());
    expect(await current().livePicture()).toEqual({ rooms: [], egress: [] });
    expect(await current().pictureCounts()).toEqual({ roomsLive: 0, participantsPresent: 0 });
    expect(await current().recordedRoomSids(['RM_a', 'RM_other'])).toEqual(new Set(['RM_a']));
  });

  it('keeps a participant who reconnected with a new sid when the old sid leaves late', async () => {
    await apply('EV_start', started());
    await apply('EV_join_old', joined('PA_old'));
    await apply('EV_join_new', joined('PA_new'));
    await apply('EV_left_old', left('PA_old'));
    const [room] = (await current().livePicture()).rooms;
    expect(room.participants.map((participant) => participant.sid)).toEqual(['PA_new']);
  });

  it('orders by createdAt: an older event arriving late changes no status but fills in its time', async () => {
    await apply('EV_finish', finished(), 100);
    await apply('EV_start', started(), 50);
    const { items } = await current().listRooms({}, { limit: 10 });
    expect(items).toMatchObject([
      { sid: 'RM_a', status: 'finished', startedAt: new Date((T0 + 50) * 1000), finishedAt: new Date((T0 + 100) * 1000) },
    ]);
    // A participant_left before its participant_joined: not present.
    await apply('EV_start_b', started({ id: 'RM_b', room: { sid: 'RM_b', name: 'b' } }), 10);
    await apply('EV_left', { ...left('PA_x'), room: { sid: 'RM_b', name: 'b' } }, 30);
    await apply('EV_join', { ...joined('PA_x'), room: { sid: 'RM_b', name: 'b' } }, 20);
    expect((await current().livePicture()).rooms[0].participants).toEqual([]);
  });

  it('has one start and one end per resource: a later one names the first', async () => {
    expect(await apply('EV_synthetic_room_finished_RM_a', finished())).toEqual({ duplicateOf: null });
    expect(await apply('EV_real_finish', finished())).toEqual({ duplicateOf: 'EV_synthetic_room_finished_RM_a' });
    expect(await apply('EV_join', joined('PA_a'))).toEqual({ duplicateOf: null });
    expect(await apply('EV_join_again', joined('PA_a'))).toEqual({ duplicateOf: 'EV_join' });
    // An ingress starts again and again under one id.
    const ingress = change('ingress', 'IN_1', 'start', 'ENDPOINT_PUBLISHING');
    expect(await apply('EV_ingress_1', ingress)).toEqual({ duplicateOf: null });
    expect(await apply('EV_ingress_2', ingress)).toEqual({ duplicateOf: null });
  });

  it('lists rooms newest first by status, page by page, and shows one by name', async () => {
    await apply('EV_start', started());
    await apply('EV_finish', finished());
    await apply('EV_start_2', started({ id: 'RM_a2', room: { sid: 'RM_a2', name: 'standup' } }));
    await apply('EV_start_3', started({ id: 'RM_c', room: { sid: 'RM_c', name: 'c' } }));
    await apply('EV_join', { ...joined('PA_a'), room: { sid: 'RM_a2', name: 'standup' } });
    await apply('EV_egress', { ...change('egress', 'EG_1', 'start', 'EGRESS_ACTIVE'), room: { sid: 'RM_a2', name: 'standup' } });

    const first = await current().listRooms({ status: 'live' }, { limit: 1 });
    expect(first.items.map((room) => room.sid)).toEqual(['RM_c']);
    const second = await current().listRooms({ status: 'live' }, { limit: 1, cursor: first.nextCursor! });
    expect(second).toMatchObject({ items: [{ sid: 'RM_a2', status: 'live' }], nextCursor: null });
    expect((await current().listRooms({ status: 'finished' }, { limit: 10 })).items.map((room) => room.sid)).toEqual(['RM_a']);

    const room = await current().getRoom('standup');
    expect(room).toMatchObject({
      sid: 'RM_a2',
      status: 'live',
      participants: [{ sid: 'PA_a', identity: 'alice', roomSid: 'RM_a2' }],
      egress: [{ kind: 'egress', id: 'EG_1', status: 'EGRESS_ACTIVE', endedAt: null }],
      ingress: [],
    });
    expect(room!.events.map((event) => event.id)).toEqual(['EV_egress', 'EV_join', 'EV_start_2']);
    expect(room!.events[0]).toMatchObject({ name: 'EV_egress', synthetic: false });
    expect(await current().getRoom('nowhere')).toBeNull();
  });

  it('knows when the last webhook came, leaving out Switchboard\'s own events', async () => {
    expect(await current().lastWebhookAt()).toBeNull();
    await apply('EV_start', started(), 5);
    await apply('EV_synthetic_room_finished_RM_a', finished(), 9, 'switchboard');
    expect(await current().lastWebhookAt()).toEqual(new Date((T0 + 5) * 1000));
  });

  it('writes nothing when its transaction rolls back', async () => {
    await expect(
      current().transaction(async (tx) => {
        const recorded = await tx.recordEvent(eventRecord('EV_start'));
        await tx.applyPictureChange(started(), { id: 'EV_start', name: 'room_started', createdAt: T0, seq: (recorded as { seq: number }).seq });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await current().livePicture()).toEqual({ rooms: [], egress: [] });
    expect(await current().recordedRoomSids(['RM_a'])).toEqual(new Set());
  });
}
