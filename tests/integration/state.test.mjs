// The state topic (CONTRACT §1, §3 "Durable state, no database"): wsflyte
// writes each workspace's state record before it commits the event, and
// reads its partitions' records back when they are assigned, so that
//   - a workspace deleted while nothing existed stays deleted across a
//     restart (SIGTERM and kill -9): a late WORKSPACE_CREATED v1 is
//     SKIPPED/stale and creates nothing;
//   - a member change after a restart writes only what changed;
//   - with two consumers the state moves with a partition on a rebalance
//     (a duplicate on the new owner costs no request);
//   - a record of a newer format, or a corrupt one, is logged and ignored
//     (the workspace takes the full path);
//   - without the state topic wsflyte refuses to start, naming it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, waitFor, run, bin } from './harness.mjs';

const STATE = 'workspace.lifecycle.v1.wsflyte.state';
const people = [
  { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' },
  { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' },
  { user_id: 'charlie', email: 'charlie@company.com', role: 'VIEWER' },
];
let stack, consumer, n = 0, produced = 0, restartLog = '';

const ev = (workspace, version, type, opts = {}) =>
  makeEvent({ workspace, version, type, members: people, ...opts });

// Stops the consumer and starts another, which restores both partitions'
// state before it handles events; answers its name.
async function restart(signal) {
  const code = await stack.stopConsumer(consumer, signal);
  assert.equal(code, signal === 'SIGKILL' ? 'SIGKILL' : 0);
  const name = `c${n++}`;
  consumer = stack.startNamedConsumer(name);
  await waitFor(() => (stack.consumerLogs[name].join('').match(/restored \d+ state record/g) || []).length >= 2, 30000, 100);
  return name;
}

// Publishes events and answers their results and the API requests they
// caused (per API and method).
async function cost(events) {
  await Promise.all([stack.flyteUrl, stack.kubeUrl].map((u) => fetch(`${u}/_test/requests`, { method: 'DELETE' })));
  await stack.produceEvents(events, 'json');
  produced += events.length;
  // Every event has exactly one result (a redelivery after kill -9 may add one).
  const all = await stack.results(produced, 60);
  const results = await Promise.all(events.map((e) => all.find((r) => r.event_id === e.event_id) ||
    stack.resultOf(e.event_id, 1000)));
  // Only the requests about these events' workspaces: a watch relisting or
  // a resync pass after a restart may fall into the same window.
  const ids = events.map((e) => e.workspace.workspace_id);
  const about = (r) => ids.some((id) => r.path.includes(id) || JSON.stringify(r.body ?? null).includes(`"${id}"`));
  const count = (log) => log.filter((r) => r.path !== '/healthcheck' && r.path !== '/version' && about(r))
    .reduce((m, r) => ({ ...m, [r.method]: (m[r.method] || 0) + 1 }), {});
  const [flyte, kube] = [count(await stack.flyteRequests()), count(await stack.kubeRequests())];
  const total = Object.values(flyte).concat(Object.values(kube)).reduce((a, b) => a + b, 0);
  return { results, flyte, kube, total };
}

async function nothingExists(ws) {
  const flyte = await stack.flyteState();
  assert.equal(flyte.projects.find((p) => p.id === ws), undefined, `no project ${ws}`);
  const kube = await stack.kubeState();
  assert.deepEqual(kube.objects.filter((o) => o.metadata.namespace?.startsWith(`${ws}-`) ||
    (o.kind === 'Namespace' && o.metadata.name.startsWith(`${ws}-`))).map((o) => o.metadata.name), [], `nothing of ${ws}`);
}

async function stateRecords(ws) {
  return (await stack.readTopic(STATE)).filter((r) => r.key === ws);
}

// Writes a raw value to the state topic on the partition of ws's records.
async function kcatState(ws, value) {
  const [first] = await stateRecords(ws);
  const r = await run('kcat', ['-P', '-b', stack.bootstrap, '-t', STATE, '-p', String(first.partition), '-k', ws, '-D', '\u0001'],
    { input: value });
  assert.equal(r.code, 0, r.stderr);
}

// Before the first restart: a workspace deleted while nothing existed, one
// with three members, and two whose state records are then overwritten
// with a newer format's and a corrupt one.
let first;
before(async () => {
  // Events alone: the drift watch would re-create the namespace deleted
  // below at once (drift.test.mjs tests that).
  stack = await new Stack({ partitions: 2, config: { concurrency: 4 },
    editConfig: (doc) => { doc.reconcile = { watch: false }; } }).start();
  consumer = stack.startNamedConsumer(`c${n++}`);
  first = await cost([ev('ws-gone-sigterm', 2, 'WORKSPACE_DELETED'), ev('ws-members', 1, 'WORKSPACE_CREATED'),
    ev('ws-future', 1, 'WORKSPACE_CREATED'), ev('ws-corrupt', 1, 'WORKSPACE_CREATED'),
    ev('ws-crash', 1, 'WORKSPACE_CREATED', { members: people.slice(0, 2) })]);
  const rec = JSON.parse((await stateRecords('ws-future')).at(-1).payload);
  await kcatState('ws-future', JSON.stringify({ ...rec, format: 99 }));
  await kcatState('ws-corrupt', '{"format": 1, "workspace_id": ');
  restartLog = await restart('SIGTERM');
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0);
  await stack?.stop();
});

async function staysDeleted(ws, deleted) {
  assert.equal(deleted.status, 'SKIPPED');
  assert.equal(deleted.reason, 'flyte-not-enabled');
  // The tombstone is on the state topic, on the event's partition.
  const events = (await stack.readTopic('workspace.lifecycle.v1')).filter((r) => r.key === ws);
  const records = await stateRecords(ws);
  assert.ok(records.length, 'a state record was written');
  assert.equal(records.at(-1).partition, events[0].partition);
  const rec = JSON.parse(records.at(-1).payload);
  assert.deepEqual([rec.format, rec.version, rec.flyte], [1, 2, false]);
  const c = await cost([ev(ws, 1, 'WORKSPACE_CREATED')]);
  assert.equal(c.results[0].status, 'SKIPPED');
  assert.equal(c.results[0].reason, 'stale');
  assert.equal(c.total, 0, 'decided from the restored record, without a request');
  await nothingExists(ws);
}

test('a workspace deleted while nothing existed stays deleted across a restart (SIGTERM)', async () => {
  await staysDeleted('ws-gone-sigterm', first.results[0]);
});

test('after a restart a member change writes only what changed', async () => {
  const ws = 'ws-members';
  assert.equal(first.results[1].status, 'SUCCEEDED');
  // Charlie leaves: the version records (project label, 3 namespaces), the
  // authz ConfigMap and his 3 bindings (deleted by name, no LIST); one read
  // of the project and one of each namespace (still the workspace's?).
  const c = await cost([ev(ws, 2, 'MEMBERS_CHANGED', { members: people.slice(0, 2) })]);
  assert.equal(c.results[0].status, 'SUCCEEDED');
  assert.deepEqual(c.flyte, { GET: 1, PUT: 1 });
  assert.deepEqual(c.kube, { GET: 3, PATCH: 4, DELETE: 3 });
  const left = (await stack.kubeState()).objects.filter((o) => o.kind === 'RoleBinding' &&
    o.metadata.namespace.startsWith(`${ws}-`) && o.metadata.name.includes('charlie'));
  assert.deepEqual(left, []);
});

test('a namespace someone deleted is created again with all its objects, though the record lists them', async () => {
  const ws = 'ws-members', ns = `${ws}-staging`;
  const r = await fetch(`${stack.kubeUrl}/api/v1/namespaces/${ns}`, { method: 'DELETE' });
  assert.ok(r.ok, await r.text());
  assert.ok(await waitFor(async () => (await fetch(`${stack.kubeUrl}/api/v1/namespaces/${ns}`)).status === 404, 15000, 200),
    'the namespace is gone');
  const c = await cost([ev(ws, 3, 'MEMBERS_CHANGED')]);
  assert.equal(c.results[0].status, 'SUCCEEDED');
  const kinds = (await stack.kubeState()).objects.filter((o) => o.metadata.namespace === ns &&
    o.metadata.labels?.['wsflyte.io/workspace'] === ws).map((o) => o.kind).sort();
  assert.deepEqual(kinds, ['LimitRange', 'NetworkPolicy', 'ResourceQuota', 'Role', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'RoleBinding',
    'ServiceAccount']);
});

test('a state record of a newer format or a corrupt one is logged and ignored: the full path', async () => {
  const log = stack.consumerLogs[restartLog].join('');
  assert.match(log, /state record ignored \(state\.format\): state record format 99 .*workspace=ws-future/);
  assert.match(log, /state record ignored \(state\.json\): .*workspace=ws-corrupt/);
  // A duplicate of v1 would cost nothing with a record; without one it
  // takes the full path: the project read, 3 namespace reads, every
  // apply, a LIST of bindings per namespace.
  for (const ws of ['ws-future', 'ws-corrupt']) {
    const c = await cost([ev(ws, 1, 'WORKSPACE_CREATED')]);
    assert.equal(c.results[0].status, 'SUCCEEDED');
    assert.equal(c.kube.GET, 3 + 3, `${ws}: the namespaces are read and listed again`);
    assert.ok(c.total >= 30, `${ws}: ${c.total} requests`);
  }
});

test('a workspace deleted while nothing existed stays deleted across a restart (kill -9)', async () => {
  const ws = 'ws-gone-sigkill';
  const c = await cost([ev(ws, 2, 'WORKSPACE_DELETED')]);
  // The same kill interrupts ws-crash's v2 (charlie joins): his binding in
  // development is written, the one in staging hangs.
  await stack.fault('kube', { path: '^/apis/rbac.authorization.k8s.io/v1/namespaces/ws-crash-staging/rolebindings/workspace-viewer-charlie',
    hang: true });
  await stack.produceEvents([ev('ws-crash', 2, 'MEMBERS_CHANGED')], 'json');
  produced++;
  assert.ok(await waitFor(async () => (await stack.kubeState()).objects.some((o) => o.metadata.namespace === 'ws-crash-development' &&
    o.metadata.name.startsWith('workspace-viewer-charlie-')), 20000, 100), 'the apply of v2 has begun');
  await restart('SIGKILL');
  await stack.clearFaults();
  await staysDeleted(ws, c.results[0]);
});

test('an apply interrupted by kill -9 left its workspace\'s record incomplete, and its redelivery converges', async () => {
  const ws = 'ws-crash';
  // Before writing, the apply of v2 marked v1's record incomplete on the
  // state topic: the hashes no longer describe what the objects hold.
  const records = (await stateRecords(ws)).map((r) => JSON.parse(r.payload));
  const marked = records.findIndex((r) => r.version === 1 && r.complete === false);
  assert.ok(marked > 0, JSON.stringify(records.map((r) => [r.version, r.complete])));
  // v2 comes again (never committed) and is applied on the full path.
  const done = await waitFor(async () => (await stack.results(produced + 20, 3)).find((x) => x.workspace_id === ws && x.workspace_version === 2),
    30000, 200);
  assert.equal(done?.status, 'SUCCEEDED', 'v2 is answered after the restart');
  const charlie = (await stack.kubeState()).objects.filter((o) => o.kind === 'RoleBinding' &&
    o.metadata.namespace.startsWith(`${ws}-`) && o.metadata.name.startsWith('workspace-viewer-charlie-'));
  assert.equal(charlie.length, 3, 'charlie is bound in every domain');
  const last = JSON.parse((await stateRecords(ws)).at(-1).payload);
  assert.deepEqual([last.version, last.complete], [2, true]);
});

test('two consumers: the state moves with a partition on a rebalance', async () => {
  const workspaces = Array.from({ length: 6 }, (_, i) => `ws-move-${i}`);
  let c = await cost(workspaces.map((ws) => ev(ws, 1, 'WORKSPACE_CREATED')));
  assert.ok(c.results.every((r) => r.status === 'SUCCEEDED'));
  const b = stack.startNamedConsumer('b');
  // b gets a share of the partitions and restores their records first.
  await waitFor(() => /restored \d+ state record/.test(stack.consumerLogs.b.join('')), 30000, 100);
  const restored = [...stack.consumerLogs.b.join('').matchAll(/restored (\d+) state record/g)]
    .reduce((s, m) => s + Number(m[1]), 0);
  assert.ok(restored > 0, stack.consumerLogs.b.join(''));
  // Each restore is timed into wsflyte_state_restore_seconds.
  const port = stack.consumerLogs.b.join('').match(/metrics and health on \S+ \(port (\d+)\)/)[1];
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /# TYPE wsflyte_state_restore_seconds histogram/);
  assert.ok(Number(metrics.match(/^wsflyte_state_restore_seconds_count (\d+)/m)[1]) >= 1, metrics);
  c = await cost(workspaces.map((ws) => ev(ws, 1, 'WORKSPACE_CREATED')));
  assert.ok(c.results.every((r) => r.status === 'SUCCEEDED'));
  assert.ok(c.total <= workspaces.length, `duplicates cost ${c.total} requests for ${workspaces.length} events`);
  assert.match(stack.consumerLogs.b.join(''), /WORKSPACE_CREATED SUCCEEDED/, 'b handled some of them');
  assert.equal(await stack.stopConsumer(b), 0);
});

test('without the state topic wsflyte refuses to start and names it', async () => {
  const other = await new Stack({ partitions: 2, topics: { [STATE]: 0 } }).start();
  try {
    const r = await run(bin('wsflyte'), ['--config', other.configPath], { timeoutMs: 30000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /topic workspace\.lifecycle\.v1\.wsflyte\.state does not exist; create it with 2 partitions/);
  } finally {
    await other.stop();
  }
});
