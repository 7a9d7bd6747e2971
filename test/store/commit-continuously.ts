/** Child process for the group-commit durability test: keeps 100 transactions in flight, naming each once it resolves. */
import { openStore } from '../../src/store/open.ts';

const [url] = process.argv.slice(2);
const store = await openStore(url);
await store.migrate();

let next = 0;
function commitNext(): void {
  const id = `EV_${next++}`;
  const record = { id, name: 'room_started', createdAt: 1_700_000_000, apiKey: 'APIkey', body: '{}' };
  void store.transaction((tx) => tx.recordEvent({ ...record, receivedAt: new Date() })).then(() => {
    process.stdout.write(`${id}\n`);
    commitNext();
  });
}
for (let index = 0; index < 100; index += 1) commitNext();
