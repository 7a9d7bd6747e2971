/** Child process for the durability test: commits one event, says so, then waits to be killed. */
import { openStore } from '../../src/store/open.ts';

const [url, eventId] = process.argv.slice(2);
const store = await openStore(url);
await store.migrate();
await store.transaction((tx) =>
  tx.recordEvent({
    id: eventId,
    name: 'room_started',
    createdAt: 1_700_000_000,
    apiKey: 'APIkey',
    body: '{}',
    receivedAt: new Date(),
  }),
);
process.stdout.write('committed\n');
setInterval(() => undefined, 60_000);
