// Repairs yield to events (CONTRACT §3 "Resync and repairs yield to events";
// README "Continuous reconciliation", repair jobs).  kubernetes.qps 5 and a
// flood of creates: a drift repair of workspace X waits for the API server's
// pacer at background priority, which it gets only once no event request
// waits, i.e. after the flood.  X's next event (a member removal) must not
// wait behind it: the repair gives way (it comes back later), so the
// removal's writes come before the flood's last requests rather than after
// them.  Fails on a build whose repair held X's key until it had run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, waitFor } from './harness.mjs';

const X = 'ws-yield';
const FLOOD = ['ws-flood-0', 'ws-flood-1', 'ws-flood-2'];
const people = [
  { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' },
  { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' },
  { user_id: 'carol', email: 'carol@company.com', role: 'VIEWER' },
];
const NETPOL = `/apis/networking.k8s.io/v1/namespaces/${X}-development/networkpolicies/workspace-isolation`;
let stack, produced = 0;

before(async () => {
  stack = await new Stack({
    partitions: 2,
    config: { concurrency: 4, qps: 5, burst: 10 },
    editConfig: (doc) => {
      doc.flyte.qps = 0; // only the API server is paced
      doc.reconcile = { watch: true, resync_interval: '0s' };
      doc.observability.log_level = 'debug';
    },
  }).start();
  stack.startConsumer();
});

after(async () => {
  await stack?.stop();
});

async function produce(events) {
  produced += events.length;
  await stack.produceEvents(events, 'json');
}

async function resultsOf(events, timeoutMs = 120000) {
  const found = await waitFor(async () => {
    const rs = await stack.results(produced, 3);
    const mine = events.map((e) => rs.find((r) => r.event_id === e.event_id));
    return mine.every(Boolean) && mine;
  }, timeoutMs, 500);
  assert.ok(found, `no results for ${events.map((e) => e.event_id)}\n${stack.logs.join('').slice(-3000)}`);
  return found;
}

test('a member removal behind a repair of its workspace does not wait for the flood', async (t) => {
  const v1 = makeEvent({ workspace: X, members: people });
  await produce([v1]);
  assert.equal((await resultsOf([v1]))[0].status, 'SUCCEEDED');

  // The watch's LISTs wait for the pacer at background priority too: let
  // every kind's stream open before the flood starves them.
  assert.ok(await waitFor(async () => (await (await fetch(`${stack.kubeUrl}/_test/watches`)).json())
    .watches >= 8, 60000, 200), 'the watch never opened its 8 streams');

  // The flood: three creates of about 33 Kubernetes requests each, at 5 a second.
  const flood = FLOOD.map((w) => makeEvent({ workspace: w, members: people }));
  await produce(flood);
  assert.ok(await waitFor(async () => (await stack.kubeRequests())
    .some((r) => FLOOD.some((w) => r.path.includes(`/${w}-`))), 30000, 100), 'the flood never started');

  // Another writer deletes X's NetworkPolicy: the repair starts and waits.
  const del = await fetch(`${stack.kubeUrl}${NETPOL}`, { method: 'DELETE' });
  assert.ok(del.ok, `DELETE ${NETPOL}: ${del.status}`);
  assert.ok(await waitFor(() => stack.logs.join('').includes(`repair of workspace ${X}:`), 30000, 100),
    `no repair started\n${stack.logs.join('').slice(-3000)}`);

  const v2 = makeEvent({ workspace: X, version: 2, type: 'MEMBERS_CHANGED', members: [people[0], people[2]] });
  const sent = Date.now();
  await produce([v2]);
  const [r2] = await resultsOf([v2]);
  t.diagnostic(`member removal answered ${Date.now() - sent} ms after it was published (duration_ms ${r2.duration_ms})`);
  assert.equal(r2.status, 'SUCCEEDED');
  const rf = await resultsOf(flood);
  assert.ok(rf.every((r) => r.status === 'SUCCEEDED'), JSON.stringify(rf.map((r) => r.status)));

  const log = await stack.kubeRequests();
  const removal = log.filter((r) => r.method === 'DELETE' && r.path.includes(`/namespaces/${X}-`)
    && r.path.includes('/rolebindings/workspace-contributor-bob'));
  const floodLast = Math.max(...log.filter((r) => FLOOD.some((w) => r.path.includes(`/${w}-`)))
    .map((r) => r.seq));
  assert.equal(removal.length, 2, 'bob\'s two bindings deleted by name');
  assert.ok(Math.max(...removal.map((r) => r.seq)) < floodLast,
    `the removal's writes (seq ${removal.map((r) => r.seq)}) came after the flood's last request (seq ${floodLast})`);

  // The repair came back and restored the NetworkPolicy.
  assert.ok(await waitFor(async () => (await fetch(`${stack.kubeUrl}${NETPOL}`)).ok, 60000, 500),
    'the NetworkPolicy was never repaired');
});
