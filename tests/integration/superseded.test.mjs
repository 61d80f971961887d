// Reconciliation acts only on what is current and owned (README "State
// record", "Continuous reconciliation"; runbook "Scale the group"):
//   - a workspace's key moved to another partition leaves its old state
//     record behind; the replica owning the old partition never repairs
//     from it: before its first write a repair reads the version records
//     on the objects, finds the record superseded, drops it and tombstones
//     it on its partition (a deleted workspace stays deleted; a removed
//     member stays removed, and the two replicas do not fight);
//   - a restore keeps the highest version of a key across partitions;
//   - an event's state record reaches the topic before the next event's
//     write-ahead mark;
//   - a record whose event is of another workspace is refused;
//   - a state record too large to produce is written in a small
//     incomplete form, and the partition goes on.
// Records are placed on chosen partitions with kcat (a platform whose
// partitioner changed, or partitions added).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, waitFor, run } from './harness.mjs';

const EVENTS = 'workspace.lifecycle.v1';
const STATE = 'workspace.lifecycle.v1.wsflyte.state';
const MAX_BYTES = 60000; // message.max.bytes of wsflyte's clients here
const alice = { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' };
const bob = { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' };
let stack, replicas = {}, produced = 0;

const logsOf = (name) => (stack.consumerLogs[name] || []).join('');
const allLogs = () => Object.keys(replicas).map(logsOf).join('');
const repairsOf = (ws) => allLogs().split('\n').filter((l) => /drift repaired/.test(l) && l.includes(`workspace=${ws}`));
const retiredOf = (ws) => allLogs().split('\n').filter((l) => /record retired from state partition/.test(l) &&
  l.includes(`workspace=${ws}`));

// Publishes events (objects) to one partition of the events topic.
async function toPartition(partition, events, maxBytes = 2000000) {
  const r = await run('kcat', ['-P', '-b', stack.bootstrap, '-t', EVENTS, '-p', String(partition), '-K', '\t',
    '-X', `message.max.bytes=${maxBytes}`, '-H', 'content-type=application/json'],
  { input: events.map((e) => `${e.workspace.workspace_id}\t${JSON.stringify(e)}`).join('\n') + '\n' });
  assert.equal(r.code, 0, r.stderr);
  produced += events.length;
}

// Waits for the result of every event (by event id).
async function resultsOf(events) {
  const ids = new Set(events.map((e) => e.event_id));
  const found = await waitFor(async () => {
    const rs = (await stack.allResults()).filter((r) => ids.has(r.event_id));
    return rs.length >= ids.size && rs;
  }, 90000, 500);
  assert.ok(found, `results of ${[...ids]}\n${stack.logs.join('').slice(-4000)}`);
  return events.map((e) => found.find((r) => r.event_id === e.event_id));
}

async function applied(partition, events) {
  await toPartition(partition, events);
  return resultsOf(events);
}

const ofKind = (snap, kind) => snap.objects.filter((o) => o.kind === kind);
const namespacesOf = (snap, ws) => ofKind(snap, 'Namespace').filter((o) => o.metadata.name.startsWith(`${ws}-`));
const bindingsOf = (snap, ws, user) => ofKind(snap, 'RoleBinding')
  .filter((b) => b.metadata.namespace.startsWith(`${ws}-`) && b.subjects?.[0]?.name === user);
const authz = (snap, ws) => {
  const cm = ofKind(snap, 'ConfigMap').find((o) => o.metadata.name === `wsflyte-authz-${ws}`);
  return cm ? JSON.parse(cm.data['workspace.json']) : null;
};
const stateRecords = async (ws) => (await stack.readTopic(STATE)).filter((r) => r.key === ws);

// Starts a replica; answers once it has as many partitions as wanted.
async function startReplica(name) {
  replicas[name] = stack.startNamedConsumer(name);
  return replicas[name];
}
const assignedNow = (name) => Number([...logsOf(name).matchAll(/assigned (\d+) partition/g)].at(-1)?.[1] ?? -1);

// Waits until the replica's watch listed every kind (after its restore).
async function watching(name) {
  const ok = await waitFor(() => {
    const kinds = Number(logsOf(name).match(/watching (\d+) kinds for drift/)?.[1] ?? 0);
    const listed = (logsOf(name).match(/watching from resourceVersion/g) || []).length;
    return kinds > 0 && listed >= kinds;
  }, 60000, 200);
  assert.ok(ok, `${name} watches\n${logsOf(name).slice(-3000)}`);
}

async function stopReplica(name) {
  assert.equal(await stack.stopConsumer(replicas[name]), 0, `${name} exits 0`);
  delete replicas[name];
}

before(async () => {
  stack = await new Stack({ partitions: 2,
    config: { concurrency: 4, kafkaProperties: { 'message.max.bytes': String(MAX_BYTES) } } }).start();
  // Each replica's assignment counts the events topic's and every retry
  // tier's partitions: with two replicas, each gets half.
  await startReplica('a');
  await waitFor(() => assignedNow('a') > 0, 30000, 100);
  const all = assignedNow('a');
  await startReplica('b');
  const split = await waitFor(() => assignedNow('a') === all / 2 && assignedNow('b') === all / 2, 60000, 100);
  assert.ok(split, `one partition each\n${stack.logs.join('').slice(-3000)}`);
});

after(async () => {
  for (const name of Object.keys(replicas)) await stopReplica(name);
  await stack?.stop();
});

test('a record left on another partition does not bring a deleted workspace back; it is retired', async () => {
  const ws = 'ws-moved-gone';
  const [created] = await applied(0, [makeEvent({ workspace: ws, version: 1, members: [alice, bob] })]);
  assert.equal(created.status, 'SUCCEEDED', JSON.stringify(created));
  const [deleted] = await applied(1, [makeEvent({ workspace: ws, version: 2, type: 'WORKSPACE_DELETED', members: [alice, bob] })]);
  assert.equal(deleted.status, 'SUCCEEDED', JSON.stringify(deleted));
  // The owner of partition 0 sees the deletions through its watch, with
  // the version-1 record in its store: it retires the record instead.
  const retired = await waitFor(() => retiredOf(ws).length > 0, 60000, 200);
  assert.ok(retired, `the partition-0 record is retired\n${allLogs().slice(-4000)}`);
  assert.match(retiredOf(ws)[0], /at version 1 is superseded: the (Flyte project|namespace) \S+ holds version 2/);
  assert.match(retiredOf(ws)[0], /state partition 0/);
  // The deleted namespaces finish terminating, and none comes back.
  const gone = await waitFor(async () => namespacesOf(await stack.kubeState(), ws).length === 0, 60000, 250);
  assert.ok(gone, `no namespace re-created: ${namespacesOf(await stack.kubeState(), ws).map((n) => n.metadata.name)}`);
  const kube = await stack.kubeState();
  assert.deepEqual(bindingsOf(kube, ws, 'bob'), []);
  assert.equal(authz(kube, ws), null, 'no authz ConfigMap re-created');
  assert.deepEqual(repairsOf(ws), [], 'nothing repaired from the superseded record');
  // The tombstone on partition 0 keeps any replica from restoring it again;
  // it is produced after the retirement is logged.
  const newest0 = async () => (await stateRecords(ws)).filter((r) => r.partition === 0).at(-1);
  assert.ok(await waitFor(async () => (await newest0())?.payload === null, 20000, 200),
    `a tombstone is the newest record of partition 0: ${JSON.stringify(await newest0())}`);
});

test('a record left on another partition does not give a removed member back; the replicas do not fight', async () => {
  const ws = 'ws-moved-team';
  const [v1] = await applied(0, [makeEvent({ workspace: ws, version: 1, members: [alice, bob] })]);
  assert.equal(v1.status, 'SUCCEEDED', JSON.stringify(v1));
  const [v2] = await applied(1, [makeEvent({ workspace: ws, version: 2, type: 'MEMBERS_CHANGED', members: [alice] })]);
  assert.equal(v2.status, 'SUCCEEDED', JSON.stringify(v2));
  const retired = await waitFor(() => retiredOf(ws).length > 0, 60000, 200);
  assert.ok(retired, `the partition-0 record is retired\n${allLogs().slice(-4000)}`);
  const kube = await stack.kubeState();
  assert.deepEqual(bindingsOf(kube, ws, 'bob'), [], 'bob has no binding');
  for (const ns of namespacesOf(kube, ws))
    assert.equal(ns.metadata.annotations['wsflyte.io/workspace-version'], '2', ns.metadata.name);
  assert.deepEqual(Object.keys(authz(kube, ws).members), ['alice']);
  assert.deepEqual(repairsOf(ws), [], 'no repair from either replica');
});

test('a restore keeps the highest version of a key across partitions', async () => {
  const half = assignedNow('a');
  await stopReplica('b');
  await waitFor(() => assignedNow('a') === 2 * half, 60000, 100);
  // One replica owns both partitions: the second event replaces the first
  // in its store, and nothing retires the partition-0 record.
  const ws = 'ws-moved-solo';
  // The older record last on a long partition 1 (3 MB of records of
  // workspaces without Flyte before it), the newer one on a short
  // partition 0: a restore reads the older one last.
  const filler = Array.from({ length: 3000 }, (_, i) => `filler-${i}\t${JSON.stringify({
    format: 1, workspace_id: `filler-${i}`, version: 1, status: 'SKIPPED', reason: 'x'.repeat(1000),
    project: false, flyte: false, complete: true, digest: '0000000000000001', objects: {},
    event: { workspace_version: 1, workspace: { workspace_id: `filler-${i}` } } })}`);
  const f = await run('kcat', ['-P', '-b', stack.bootstrap, '-t', STATE, '-p', '1', '-K', '\t'],
    { input: filler.join('\n') + '\n' });
  assert.equal(f.code, 0, f.stderr);
  await applied(1, [makeEvent({ workspace: ws, version: 1, members: [alice, bob] })]);
  const [v2] = await applied(0, [makeEvent({ workspace: ws, version: 2, type: 'MEMBERS_CHANGED', members: [alice] })]);
  assert.equal(v2.status, 'SUCCEEDED', JSON.stringify(v2));
  const parts = new Set((await stateRecords(ws)).map((r) => r.partition));
  assert.deepEqual([...parts].sort(), [0, 1], 'records on both partitions');
  // A restart restores both partitions, in whatever order they arrive.
  await stopReplica('a');
  await startReplica('c');
  await watching('c');
  // Drift on the workspace: repaired from the version-2 record.
  const np = `/apis/networking.k8s.io/v1/namespaces/${ws}-development/networkpolicies/workspace-isolation`;
  const del = await fetch(`${stack.kubeUrl}${np}`, { method: 'DELETE' });
  assert.ok(del.ok, `DELETE ${np}: ${del.status}`);
  const repaired = await waitFor(() => repairsOf(ws).some((l) => /NetworkPolicy/.test(l)), 60000, 200);
  assert.ok(repaired, `the NetworkPolicy is repaired\n${logsOf('c').slice(-3000)}`);
  const kube = await stack.kubeState();
  assert.deepEqual(bindingsOf(kube, ws, 'bob'), [], 'bob has no binding');
  for (const ns of namespacesOf(kube, ws))
    assert.equal(ns.metadata.annotations['wsflyte.io/workspace-version'], '2', ns.metadata.name);
  assert.deepEqual(repairsOf(ws).filter((l) => !/NetworkPolicy/.test(l)), [], 'nothing else repaired');
  assert.deepEqual(retiredOf(ws), [], 'the newer record was restored: nothing to retire');
});

test("an event's state record reaches the topic before the next event's write-ahead mark", async () => {
  const ws = 'ws-ordered';
  let v = 0;
  for (let round = 0; round < 4; round++) {
    // Two events at once: the second waits for the first, then runs at once.
    const pair = [makeEvent({ workspace: ws, version: ++v, members: v % 2 ? [alice, bob] : [alice] }),
      makeEvent({ workspace: ws, version: ++v, members: v % 2 ? [alice, bob] : [alice] })];
    const rs = await applied(0, pair);
    assert.ok(rs.every((r) => r.status === 'SUCCEEDED' || r.reason === 'stale'), JSON.stringify(rs));
  }
  const recs = (await stateRecords(ws)).sort((x, y) => x.offset - y.offset).map((r) => JSON.parse(r.payload));
  const seq = recs.map((r) => `${r.version}${r.complete ? 'C' : 'i'}`).join(' ');
  // A mark is the newest record marked incomplete: its version's complete
  // record comes first, and versions never go back.
  for (let i = 0; i < recs.length; i++) {
    if (i > 0) assert.ok(recs[i].version >= recs[i - 1].version, seq);
    if (!recs[i].complete)
      assert.ok(recs.slice(0, i).some((r) => r.complete && r.version === recs[i].version), seq);
  }
  assert.ok(recs.at(-1).complete && recs.at(-1).version === v, seq);
});

test('a record whose event is of another workspace is refused', async () => {
  const [b1] = await applied(1, [makeEvent({ workspace: 'ws-real-b', version: 1, members: [alice] })]);
  assert.equal(b1.status, 'SUCCEEDED', JSON.stringify(b1));
  // ws-forged's record, at version 5, keeping ws-real-b's event.
  const rec = JSON.parse((await stateRecords('ws-real-b')).at(-1).payload);
  const forged = JSON.stringify({ ...rec, workspace_id: 'ws-forged', version: 5 });
  const w = await run('kcat', ['-P', '-b', stack.bootstrap, '-t', STATE, '-p', '1', '-k', 'ws-forged', '-D', '\u0001'],
    { input: forged });
  assert.equal(w.code, 0, w.stderr);
  const [b2] = await applied(1, [makeEvent({ workspace: 'ws-real-b', version: 2, type: 'WORKSPACE_DELETED', members: [alice] })]);
  assert.equal(b2.status, 'SUCCEEDED', JSON.stringify(b2));
  await stopReplica('c');
  await startReplica('d');
  const refused = await waitFor(() => /state record ignored \(state\.event\): state record of ws-forged keeps an event of workspace ws-real-b/.test(logsOf('d')), 60000, 200);
  assert.ok(refused, `the forged record is refused\n${logsOf('d').slice(-3000)}`);
  await watching('d');
  // ws-forged has no record: its first event is applied, not "stale".
  const [f1] = await applied(1, [makeEvent({ workspace: 'ws-forged', version: 1, members: [alice] })]);
  assert.equal(f1.status, 'SUCCEEDED', JSON.stringify(f1));
  const kube = await stack.kubeState();
  assert.deepEqual(namespacesOf(kube, 'ws-real-b'), [], "ws-real-b's namespaces are not re-created");
  assert.deepEqual(repairsOf('ws-forged'), []);
});

test('a state record too large to produce is written small and incomplete; the partition goes on', async () => {
  // An event just under wsflyte's message.max.bytes: its state record
  // (the event plus the objects' hashes) is over it.
  const big = makeEvent({ workspace: 'ws-huge', version: 2,
    members: Array.from({ length: 60 }, (_, i) => ({ user_id: `user-${i}`, email: `user-${i}@company.com`, role: 'VIEWER' })) });
  big.actor = '';
  big.actor = 'a'.repeat(MAX_BYTES - 4000 - Buffer.byteLength(JSON.stringify(big)));
  const next = makeEvent({ workspace: 'ws-after-huge', version: 1, members: [alice] });
  await toPartition(1, [big, next]);
  const [rb, rn] = await resultsOf([big, next]);
  assert.equal(rb.status, 'SUCCEEDED', JSON.stringify(rb));
  assert.equal(rn.status, 'SUCCEEDED', JSON.stringify(rn));
  for (const [name, child] of Object.entries(replicas)) assert.equal(child.exitCode, null, `${name} still running`);
  assert.doesNotMatch(allLogs(), /stopping/);
  assert.match(allLogs(), /state record of \d+ bytes is too large for \S+\[1\]: writing a small incomplete one instead/);
  const rec = (await stateRecords('ws-huge')).at(-1);
  assert.ok(Buffer.byteLength(rec.payload) <= 1024, `${Buffer.byteLength(rec.payload)} bytes`);
  const small = JSON.parse(rec.payload);
  assert.deepEqual([small.workspace_id, small.version, small.complete, small.flyte], ['ws-huge', 2, false, true]);
  // The small record still decides staleness.
  const [old] = await applied(1, [makeEvent({ workspace: 'ws-huge', version: 1, members: [alice] })]);
  assert.equal(old.status, 'SKIPPED', JSON.stringify(old));
  assert.equal(old.reason, 'stale');
});
