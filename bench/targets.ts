/**
 * `npm run bench:targets`: does Switchboard's memory grow with the number of distinct targets it delivers to (each
 * target's circuit breaker and rate limit, its `switchboard_circuit_state` series)? The packed package installed and
 * started with `switchboard serve` on SQLite, with `--targets` rules (4,000), each forwarding the events of its room
 * (async, the `http` plugin) to a loopback address of its own, `http://127.1.x.y:<port>/hook`, where one receiver
 * listens on 0.0.0.0 and answers 200. Two fresh servers in turn get `--targets` participant joins at `--rate`
 * events/s (500): first all to ONE target (the baseline), then one to each target. For each: RSS from /proc, V8's heap
 * and the circuit series from /metrics when idle, once every delivery succeeded, once the circuit window
 * (CIRCUIT_WINDOW, `--window` s: 10) has passed and the guards are forgotten, and after a full garbage collection
 * (through the server's inspector, on loopback); the peak from /proc every 250 ms. Fails when a delivery is lost or
 * fails.
 *
 * A rule per target, not one rule with a templated host: a templated host must be listed in `allowHosts`, whose
 * entries cannot be wildcards of IP addresses, and the rendered list would be stored with every delivery.
 * Flags: --targets <n> --rate <events/s> --window <s>.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sampleEvent } from '../src/livekit/samples.ts';
import { checkSettledStates } from './delivery-run.ts';
import { readFlags } from './flags.ts';
import { installPackage, startInstalled, type InstalledServer, type Resident } from './installed-switchboard.ts';
import { checkAnswers, loadProblems, runAtFixedRate } from './load.ts';
import { describeRun, failOn, formatNumber, printReport } from './report.ts';
import { writeRuleFiles } from './rule-corpus.ts';
import { freshDatabase, prepareRun, startCountingReceiver } from './setup.ts';
import { signBeforeRun } from './webhook-events.ts';

const IDLE_SETTLE_MS = 5_000;
const SAMPLE_EVERY_MS = 250;
const POLL_METRICS_MS = 1_000;
const DRAIN_LIMIT_MS = 60_000;
/** 127.1.0.0/16: the loopback addresses the targets are named by. */
const MAX_TARGETS = 65_536;

const flags = readFlags(['targets', 'rate', 'window']);
const targets = flags.number('targets', 4000, true);
const rate = flags.number('rate', 500);
const windowSeconds = flags.number('window', 10);
if (targets > MAX_TARGETS) throw new Error(`--targets is ${targets}: at most ${MAX_TARGETS}, the addresses of 127.1.0.0/16`);

const address = (n: number) => `127.1.${n >> 8}.${n & 255}`;
const { workDir, credentials } = prepareRun('targets');
const receiver = await startCountingReceiver('0.0.0.0');
const rulesDir = join(workDir, 'rules');
writeRuleFiles(rulesDir, Array.from({ length: targets }, (_, n) => forwardingRule(address(n), new URL(receiver.url).port)));
const bin = installPackage(join(workDir, 'app'));
const problems: string[] = [];
const workloads = [await measure('one target', () => address(0)), await measure(`${formatNumber(targets)} targets`, address)];
await receiver.stop();

/** A tenant's rule: the events of room `room` forwarded to its own endpoint, unordered. */
function forwardingRule(room: string, port: string) {
  const action = { plugin: 'http', mode: 'async', ordering: 'none', with: { url: `http://${room}:${port}/hook` } };
  return { id: `forward-${room.replaceAll('.', '-')}`, on: '*', filter: { 'room.name': room }, actions: [action] };
}

/** A fresh server through the workload `name`: `targets` events, the n-th of room `roomOf(n)`. */
async function measure(name: string, roomOf: (n: number) => string) {
  const database = await freshDatabase('sqlite', workDir);
  const server = await startInstalled(bin, workDir, {
    LIVEKIT_API_KEY: credentials.apiKey,
    LIVEKIT_API_SECRET: credentials.apiSecret,
    RULES_DIR: rulesDir,
    DATABASE_URL: database.url,
    CIRCUIT_WINDOW: `${windowSeconds}s`,
  }, { inspector: true });
  let peak = 0;
  const track = <Memory extends Resident>(memory: Memory) => {
    peak = Math.max(peak, memory.total);
    return memory;
  };
  const sampler = setInterval(() => track(server.resident()), SAMPLE_EVERY_MS);
  const observe = async () => track(await observeServer(server));
  await sleep(IDLE_SETTLE_MS);
  const idle = await observe();

  let n = 0;
  const joins = { next: () => sampleEvent('participant_joined', { room: roomOf(n), participant: `attendee-${n++}` })! };
  const deliveries = await signBeforeRun(joins, targets, credentials);
  const posted = new Set(deliveries.map((delivery) => delivery.id));
  const answers = checkAnswers('queued');
  await receiver.arrivals();
  const before = await receiver.counts();
  const load = await runAtFixedRate({ servers: [server], rate, deliveries, inspect: answers.inspect });
  const queued = answers.ackedAt.length;
  const arrived = (await receiver.arrivals(queued, DRAIN_LIMIT_MS)).ids.filter((id) => posted.has(id)).length;
  const after = await receiver.counts();
  problems.push(
    ...[...answers.problems(), ...loadProblems(load, 'webhooks'), ...(await checkSettledStates(server, queued))].map((problem) => `${name}: ${problem}`),
  );
  if (arrived < targets) problems.push(`${name}: ${formatNumber(targets - arrived)} of ${formatNumber(targets)} events never reached the receiver`);
  const delivered = await observe();

  // The guards are forgotten at a claim once idle for a window; the series go with them.
  const deliveredAt = performance.now();
  let forgotten = delivered;
  while (forgotten.circuitSeries > 0 && performance.now() - deliveredAt < 3 * windowSeconds * 1000) {
    await sleep(POLL_METRICS_MS);
    forgotten = await observe();
  }
  const forgottenAfter = (performance.now() - deliveredAt) / 1000;
  // V8 keeps pages it freed for reuse; after a full collection, which gives them back, what stays resident is held.
  await server.collectGarbage();
  const collected = await observe();
  clearInterval(sampler);
  await server.stop();
  await database.drop();
  const redelivered = after.requests - before.requests - (after.unique - before.unique);
  return { name, idle, delivered, forgotten, forgottenAfter, collected, peak, queued, arrived, redelivered };
}

/** The server's RSS, with its V8 heap and its `switchboard_circuit_state` series as /metrics has them. */
async function observeServer(server: InstalledServer) {
  const text = await (await fetch(new URL('/metrics', server.url))).text();
  const mebibytes = (metric: string) => Number(new RegExp(`^${metric} (\\S+)$`, 'm').exec(text)?.[1]) / 2 ** 20;
  return {
    ...server.resident(),
    heap: { used: mebibytes('nodejs_heap_size_used_bytes'), committed: mebibytes('nodejs_heap_size_total_bytes') },
    circuitSeries: text.match(/^switchboard_circuit_state\{/gm)?.length ?? 0,
  };
}

const mib = (value: number) => formatNumber(value, 1);
const mb = (mebibytes: number) => formatNumber(mebibytes * 1.048576, 1);
type Observed = Pick<Resident, 'total'> & Partial<Awaited<ReturnType<typeof observeServer>>>;
const row = (workload: string, moment: string, memory: Observed) => [
  workload,
  moment,
  mib(memory.total),
  mb(memory.total),
  memory.heap === undefined ? '–' : `${mib(memory.heap.used)} / ${mib(memory.heap.committed)}`,
  memory.circuitSeries === undefined ? '–' : formatNumber(memory.circuitSeries),
];
const growth = (pick: (workload: (typeof workloads)[number]) => number) => {
  const [one, distinct] = workloads.map((workload) => pick(workload) - workload.idle.total);
  return [mb(one), mb(distinct), mb(distinct - one)];
};
printReport(
  [
    describeRun('bench:targets'),
    `Setup: the packed package installed and started with \`switchboard serve\`; SQLite; ${formatNumber(targets)} rules, each forwarding its room's ` +
      `events (async, http plugin, unordered) to its own loopback address, 127.1.x.y; CIRCUIT_WINDOW=${windowSeconds}s; a fresh server per workload, ` +
      `${formatNumber(targets)} participant joins at ${formatNumber(rate)} events/s; RSS from /proc, V8's heap and the series from /metrics; the full ` +
      'garbage collection through the inspector (SIGUSR1).',
  ],
  [
    [
      ['workload', 'moment', 'RSS MiB', 'RSS MB', 'V8 heap used / committed MiB', '`switchboard_circuit_state` series'],
      ...workloads.flatMap((workload) => [
        row(workload.name, 'idle after start', workload.idle),
        row(workload.name, 'all delivered', workload.delivered),
        row(workload.name, `circuit window passed (${formatNumber(workload.forgottenAfter, 1)} s after)`, workload.forgotten),
        row(workload.name, 'then a full garbage collection', workload.collected),
        row(workload.name, 'peak', { total: workload.peak }),
      ]),
    ],
    [
      ['RSS growth over idle, MB', 'one target', `${formatNumber(targets)} targets`, 'due to distinct targets'],
      ['all delivered', ...growth((workload) => workload.delivered.total)],
      ['circuit window passed', ...growth((workload) => workload.forgotten.total)],
      ['then a full garbage collection', ...growth((workload) => workload.collected.total)],
      ['peak', ...growth((workload) => workload.peak)],
    ],
    [
      ['workload', 'events acknowledged', 'delivered', 'redelivered'],
      ...workloads.map((workload) => [workload.name, formatNumber(workload.queued), formatNumber(workload.arrived), formatNumber(workload.redelivered)]),
    ],
  ],
);
failOn(problems);
