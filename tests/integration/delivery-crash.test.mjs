// Delivery guarantees, part 2: kill -9 during a stream of events, broker
// faults (request errors, broker down/up), SIGTERM with committed offsets.
// Invariant: every event reaches at least one terminal result, duplicates
// only with the same result_id, and the final state is each workspace's
// latest version.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, expectedResultId, waitFor, sleep, healthPort } from './harness.mjs';

const WORKSPACES = Array.from({ length: 30 }, (_, i) => `ws-c-${String(i).padStart(2, '0')}`);
const VERSIONS = 10;
const members = (v) => [
  { user_id: 'owner', email: 'owner@example.com', role: 'OWNER' },
  { user_id: `user-v${v}`, email: `u${v}@example.com`, role: 'CONTRIBUTOR' },
];
// Versions in order per workspace, workspaces interleaved: 300 events.
const events = [];
for (let v = 1; v <= VERSIONS; v++)
  for (const workspace of WORKSPACES)
    events.push(makeEvent({ workspace, version: v, type: v === 1 ? 'WORKSPACE_CREATED' : 'MEMBERS_CHANGED', members: members(v) }));
const batches = [events.slice(0, 100), events.slice(100, 200), events.slice(200)];

let stack, results, sigtermMs, sigtermCode, redone, killedAfter, fourthCaughtUp;
const inFlightAtKill = []; // per kill: workspaces with requests sent but events without a result

// Every result on the topic so far.
const readResults = () => stack.allResults();
const unanswered = (rs) => {
  const seen = new Set(rs.map((r) => r.event_id));
  return events.filter((e) => !seen.has(e.event_id));
};
const covered = (rs) => unanswered(rs).length === 0;
// The fourth consumer's view of the events topic: lag per partition.
const lagOf = async (port) => (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
  .split('\n').filter((l) => l.startsWith('wsflyte_consumer_lag{topic="workspace.lifecycle.v1",'))
  .map((l) => Number(l.split(' ').pop()));
const workRequests = async () => (await stack.flyteRequests()).filter((r) => r.path.includes('ws-c-'));
// After a kill: the workspaces that had requests sent for them but still
// have published events without a result, i.e. work the kill interrupted
// or never reached.
async function unfinished(published) {
  const done = new Set((await readResults()).map((r) => r.event_id));
  const touched = new Set((await workRequests()).map((r) => r.path.match(/ws-c-\d+/)[0]));
  return [...touched].filter((ws) => published.some((e) => e.workspace.workspace_id === ws && !done.has(e.event_id)));
}

before(async () => {
  // One Produce request in flight per connection: librdkafka 2.0.2's mock
  // brokers do not check an idempotent producer's sequence numbers, so when
  // an injected REQUEST_TIMED_OUT (possibly persisted) fails one batch and a
  // later batch of the same partition, already in flight, is appended, the
  // producer takes the earlier one as persisted and reports it delivered
  // though it never was (a real broker refuses the later batch as
  // OUT_OF_ORDER_SEQUENCE_NUMBER).  That lost test events, not wsflyte's.
  stack = await new Stack({
    config: { concurrency: 8, kafkaProperties: { 'max.in.flight.requests.per.connection': '1' } },
  }).start();
  // Every API call takes a little while, so that a crash hits work in flight.
  await stack.fault('flyte', { latency_ms: 5, count: -1 });
  await stack.fault('kube', { latency_ms: 5, count: -1 });

  // 1. kill -9 in the middle of the first batch.
  let consumer = stack.startNamedConsumer('first');
  await stack.produceEvents(batches[0]);
  // A workspace's waiting events are coalesced (only its newest waiting one
  // is applied), so a batch costs fewer requests than one apply per event.
  await waitFor(async () => (await workRequests()).length > 100, 30000, 100);
  assert.equal(await stack.stopConsumer(consumer, 'SIGKILL'), 'SIGKILL');
  killedAfter = (await workRequests()).length;
  inFlightAtKill.push(await unfinished(batches[0]));

  // 2. Published while nobody consumes; a new process is killed again while
  //    it catches up (redoing the first crash's work and starting the new).
  await stack.produceEvents(batches[1]);
  consumer = stack.startNamedConsumer('second');
  // With the restored state records a member change costs 2 FlyteAdmin
  // requests (GET, PUT of the project), so 50 is about 25 applies in.
  await waitFor(async () => (await workRequests()).length > killedAfter + 50, 40000, 100);
  assert.equal(await stack.stopConsumer(consumer, 'SIGKILL'), 'SIGKILL');
  inFlightAtKill.push(await unfinished([...batches[0], ...batches[1]]));

  // 3. Another process, with broker faults while it works.
  consumer = stack.startNamedConsumer('third');
  await waitFor(() => /assigned \d+ partition/.test(stack.consumerLogs.third.join('')), 20000);
  stack.kafkaCommand('errors 0 5 7');   // Produce: REQUEST_TIMED_OUT x5
  stack.kafkaCommand('errors 1 3 6');   // Fetch: NOT_LEADER_FOR_PARTITION x3
  stack.kafkaCommand('errors 8 3 15');  // OffsetCommit: COORDINATOR_NOT_AVAILABLE x3
  await stack.produceEvents(batches[2].slice(0, 50));
  stack.kafkaCommand('down 1');
  await sleep(3000);
  stack.kafkaCommand('up 1');
  await stack.produceEvents(batches[2].slice(50));
  // The broker outage can cost a rejoin: librdkafka's commit of the revoked
  // partitions waits for the coordinator up to socket.timeout.ms (60 s)
  // before the group is joined again, so leave room for that on a loaded
  // machine.
  results = await waitFor(async () => { const rs = await readResults(); return covered(rs) && rs; }, 300000, 0)
    || await readResults();

  // 3. SIGTERM: exit 0 within 10 s, offsets committed.
  await sleep(6000); // let the auto-commit and the last outputs land
  const t0 = Date.now();
  sigtermCode = await stack.stopConsumer(consumer, 'SIGTERM');
  sigtermMs = Date.now() - t0;

  // 4. A restarted consumer finds nothing left to do.
  await fetch(`${stack.flyteUrl}/_test/requests`, { method: 'DELETE' });
  const from = stack.logs.length;
  consumer = stack.startNamedConsumer('fourth');
  await waitFor(() => /assigned \d+ partition/.test(stack.consumerLogs.fourth.join('')), 20000);
  // Caught up: every partition's lag known and zero (librdkafka reports it
  // every few seconds), so an event left unanswered would have been handled.
  const port = await healthPort(stack, 15000, from);
  fourthCaughtUp = await waitFor(async () => { const lag = await lagOf(port); return lag.length === stack.opts.partitions && lag.every((n) => n === 0); }, 60000, 500);
  await sleep(1000);
  redone = await workRequests();
  assert.equal(await stack.stopConsumer(consumer, 'SIGTERM'), 0);
});

after(async () => { await stack?.stop(); });

test('both kills hit work in flight', (t) => {
  assert.ok(killedAfter > 100);
  assert.equal(inFlightAtKill.length, 2);
  for (const [i, ws] of inFlightAtKill.entries())
    assert.ok(ws.length > 0, `kill ${i + 1}: some workspace had requests sent and events unanswered`);
  t.diagnostic(`${results.length} results for ${events.length} events; killed after ${killedAfter} API ` +
    `requests; unfinished workspaces at the kills: ${inFlightAtKill.map((w) => w.length).join(', ')}`);
});

test('every event reaches a terminal result; duplicates carry the same result_id', async () => {
  const missing = unanswered(results);
  const about = missing.map((e) => `${e.workspace.workspace_id} v${e.workspace_version} ${e.event_id}`);
  const theirLogs = stack.logs.join('').split('\n')
    .filter((l) => missing.some((e) => l.includes(e.workspace.workspace_id) || l.includes(e.event_id)));
  assert.ok(missing.length === 0, `no result for ${about.join(', ')}\n${theirLogs.slice(-60).join('\n')}`);
  for (const e of events) {
    const rs = results.filter((r) => r.event_id === e.event_id);
    const want = await expectedResultId(e.event_id);
    for (const r of rs) {
      assert.equal(r.result_id, want);
      assert.ok(['SUCCEEDED', 'SKIPPED'].includes(r.status), JSON.stringify(r));
    }
  }
  // Duplicates come only from redelivery: a kill redoes what finished after
  // the last commit, and so may a broker outage.  Two kills and one outage:
  // no event is answered more than 1 + 3 times.
  const perEvent = new Map();
  for (const r of results) perEvent.set(r.event_id, (perEvent.get(r.event_id) || 0) + 1);
  const most = Math.max(...perEvent.values());
  assert.ok(most <= 4, `an event was answered ${most} times`);
});

test('the final state is the latest version of every workspace', async () => {
  const flyte = await stack.flyteState();
  const kube = await stack.kubeState();
  for (const ws of WORKSPACES) {
    const p = flyte.projects.find((x) => x.id === ws);
    assert.equal(p?.labels.values['wsflyte-workspace-version'], String(VERSIONS), ws);
    assert.equal(p.state, 'ACTIVE');
    const ns = kube.objects.find((o) => o.kind === 'Namespace' && o.metadata.name === `${ws}-development`);
    assert.equal(ns.metadata.annotations['wsflyte.io/workspace-version'], String(VERSIONS), ws);
    const bound = kube.objects.filter((o) => o.kind === 'RoleBinding' && o.metadata.namespace === `${ws}-development`)
      .map((b) => b.subjects[0].name).sort();
    assert.deepEqual(bound, ['owner', `user-v${VERSIONS}`], `${ws}: former members pruned`);
  }
});

test('SIGTERM exits 0 promptly and a restarted consumer redoes nothing', () => {
  assert.equal(sigtermCode, 0);
  // Prompt: well under a session timeout or socket.timeout.ms (60 s), what
  // a stop that waited on the brokers would take; ~1 s on a quiet machine.
  assert.ok(sigtermMs < 30000, `exit took ${sigtermMs} ms`);
  assert.ok(fourthCaughtUp, 'the restarted consumer reported zero lag on every partition');
  assert.deepEqual(redone.map((r) => `${r.method} ${r.path}`), [], 'offsets were committed');
});
