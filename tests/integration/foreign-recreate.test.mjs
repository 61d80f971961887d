// A namespace re-created by someone else under a name wsflyte renders
// (issue 18, item 2; contract §3 "Only its own"): the state record lists
// the namespace, but a record never stands in for ownership.
//
//   ws-fr    recorded; wsflyte stopped; <id>-development deleted and   -> the relist's repair leaves the whole
//            re-created by another team (its labels, its ConfigMap);      domain alone; MEMBERS_CHANGED and
//            wsflyte started                                              WORKSPACE_DELETED fail
//                                                                         k8s.foreign-namespace with nothing
//                                                                         written into it; render --diff agrees
//   ws-fr2   the same while wsflyte runs without a watch (the event     -> MEMBERS_CHANGED fails
//            path alone)                                                  k8s.foreign-namespace, untouched
//   ws-fr3   <id>-staging deleted and re-created with wsflyte's labels  -> the next event finds another uid than
//            (a restore from a backup), nothing in it                     the record's and writes every object
//                                                                         into it again
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, makeEvent, waitFor, run, bin } from './harness.mjs';

const DLT = 'workspace.lifecycle.v1.wsflyte.dlt';
const MANAGED = 'app.kubernetes.io/managed-by';
const WS = 'wsflyte.io/workspace';
const alice = { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' };
const bob = { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' };
const carol = { user_id: 'carol', email: 'carol@company.com', role: 'VIEWER' };
let stack, consumer, n = 0, noWatchConfig, watching = true;

before(async () => {
  // The watch on (the default), no periodic pass: the relist at start-up
  // is what finds the recorded objects missing.
  stack = new Stack({ kubeArgs: ['--termination-ms', '200'],
    editConfig: (doc) => { doc.reconcile = { watch: true, resync_interval: '0' }; } });
  await stack.start();
  const doc = JSON.parse(stack.configYaml());
  doc.reconcile = { watch: false, resync_interval: '0' };
  noWatchConfig = join(stack.dir, 'no-watch.yaml');
  writeFileSync(noWatchConfig, JSON.stringify(doc));
  consumer = stack.startNamedConsumer(`c${n++}`);
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0);
  await stack?.stop();
});

const logText = () => stack.logs.join('');

async function kube(method, path, body) {
  const r = await fetch(`${stack.kubeUrl}${path}`, {
    method, headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

// Deletes namespace ns as another client would and waits until it is gone.
async function deleteNamespace(ns) {
  assert.ok([200, 202].includes((await kube('DELETE', `/api/v1/namespaces/${ns}`)).status));
  const gone = await waitFor(async () => (await kube('GET', `/api/v1/namespaces/${ns}`)).status === 404, 30000, 100);
  assert.ok(gone, `${ns} not gone`);
}

async function kubeCreate(collection, obj) {
  const r = await kube('POST', collection, obj);
  assert.equal(r.status, 201, `create ${collection}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

// Another team's namespace of that name, with its own labels and ConfigMap.
async function foreignNamespace(ns) {
  await kubeCreate('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { team: 'payments' } } });
  await kubeCreate(`/api/v1/namespaces/${ns}/configmaps`, {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'payments-config', namespace: ns }, data: { db: 'payments-db' },
  });
}

// Everything in or of namespace ns, as the server holds it.
async function inNamespace(ns) {
  const objs = (await stack.kubeState()).objects;
  return objs.filter((o) => o.metadata.namespace === ns || (o.kind === 'Namespace' && o.metadata.name === ns));
}

async function resetRequests() {
  for (const url of [stack.flyteUrl, stack.kubeUrl]) await fetch(`${url}/_test/requests`, { method: 'DELETE' });
}

// Requests other than reads that touched namespace ns or anything in it.
async function writesInto(ns) {
  return (await stack.kubeRequests()).filter((r) => r.method !== 'GET' &&
    (r.path === `/api/v1/namespaces/${ns}` || r.path.includes(`/namespaces/${ns}/`)));
}

async function send(event) {
  await stack.produceEvents([event], 'json');
  return stack.resultOf(event.event_id, 300);
}

function assertForeignFailure(r, ns) {
  assert.equal(r.status, 'FAILED', JSON.stringify(r));
  assert.equal(r.error.class, 'PERMANENT');
  assert.equal(r.error.code, 'k8s.foreign-namespace');
  assert.match(r.error.message, new RegExp(`namespace ${ns} `));
}

async function assertDeadLetter(eventId) {
  const dead = await waitFor(async () => (await stack.readTopic(DLT))
    .find((d) => d.payload && d.payload.includes(eventId)), 30000, 250);
  assert.ok(dead, `no dead letter for ${eventId}`);
  assert.equal(dead.headers['x-error-code'], 'k8s.foreign-namespace');
  assert.equal(dead.headers['x-error-class'], 'PERMANENT');
}

// wsflyte-render --diff on one event: {code, stdout, stderr, lines}.
async function diff(event) {
  const file = join(stack.dir, `${event.event_id}.json`);
  writeFileSync(file, JSON.stringify(event));
  const r = await run(bin('wsflyte-render'), ['--diff', '--config', stack.configPath, file]);
  return { ...r, lines: r.stdout.split('\n').filter(Boolean) };
}

function assertDiffForeign(r, ns) {
  assert.equal(r.code, 1, r.stderr);
  const fail = r.lines.filter((l) => l.startsWith('fail:'));
  assert.equal(fail.length, 1, r.stdout);
  assert.match(fail[0], new RegExp(`^fail: the event would FAIL \\(PERMANENT k8s\\.foreign-namespace\\): namespace ${ns} exists but is not wsflyte's`));
}

const projectOf = async (id) => (await stack.flyteState()).projects.find((p) => p.id === id);
const versionOf = (project) => project.labels?.values?.['wsflyte-workspace-version'] ??
  project.labels?.['wsflyte-workspace-version'];

// Stops the running consumer and starts one on configPath; waits until it
// restored its state records (and, with the watch, listed every kind).
async function restart(configPath = stack.configPath) {
  assert.equal(await stack.stopConsumer(consumer), 0);
  const name = `c${n++}`;
  consumer = stack.startNamedConsumer(name, {}, configPath);
  watching = configPath !== noWatchConfig;
  const restored = await waitFor(() => (stack.consumerLogs[name].join('').match(/restored \d+ state record/g) || []).length >= 3, 60000, 100);
  assert.ok(restored, `${name} did not restore its state\n${logText().slice(-3000)}`);
  return name;
}

test('a namespace another team re-created while wsflyte was stopped: the repair, a member change and the deletion leave it and its ConfigMap untouched', async () => {
  const id = 'ws-fr', ns = `${id}-development`;
  const created = makeEvent({ workspace: id, version: 1, members: [alice, bob] });
  assert.equal((await send(created)).status, 'SUCCEEDED');

  assert.equal(await stack.stopConsumer(consumer), 0);
  consumer = null;
  await deleteNamespace(ns);
  await foreignNamespace(ns);
  const untouched = await inNamespace(ns);
  await resetRequests();

  const name = `c${n++}`;
  consumer = stack.startNamedConsumer(name);
  const mine = () => stack.consumerLogs[name].join('');
  const leftAlone = await waitFor(() => mine().includes(`namespace ${ns} of workspace ${id} is not wsflyte's any more: left alone`), 60000, 100);
  assert.ok(leftAlone, `the relist's repair did not find ${ns}\n${mine().slice(-4000)}`);

  const changed = makeEvent({ workspace: id, version: 2, type: 'MEMBERS_CHANGED', members: [alice, carol] });
  assertDiffForeign(await diff(changed), ns);
  assertForeignFailure(await send(changed), ns);
  await assertDeadLetter(changed.event_id);
  // Nothing at all is written for that event: the project keeps version 1.
  assert.equal(String(versionOf(await projectOf(id))), '1');

  const deleted = makeEvent({ workspace: id, version: 3, type: 'WORKSPACE_DELETED', services: [] });
  assertDiffForeign(await diff(deleted), ns);
  assertForeignFailure(await send(deleted), ns);
  await assertDeadLetter(deleted.event_id);

  assert.deepEqual(await inNamespace(ns), untouched);
  assert.deepEqual(await writesInto(ns), []);
  // The rest of the workspace is still removed.
  const objs = (await stack.kubeState()).objects;
  for (const d of ['staging', 'production']) {
    const other = objs.find((o) => o.kind === 'Namespace' && o.metadata.name === `${id}-${d}`);
    assert.ok(!other || other.metadata.deletionTimestamp, `${id}-${d} is being deleted`);
  }
  assert.equal((await projectOf(id)).state, 'ARCHIVED');
});

test('without a watch, the event path reads the recorded namespace: one re-created by another team fails the event and stays untouched', async () => {
  const id = 'ws-fr2', ns = `${id}-production`;
  if (watching) await restart(noWatchConfig);
  const created = makeEvent({ workspace: id, version: 1, members: [alice, bob] });
  assert.equal((await send(created)).status, 'SUCCEEDED');
  await deleteNamespace(ns);
  await foreignNamespace(ns);
  const untouched = await inNamespace(ns);
  await resetRequests();

  const changed = makeEvent({ workspace: id, version: 2, type: 'MEMBERS_CHANGED', members: [alice, carol] });
  assertDiffForeign(await diff(changed), ns);
  assertForeignFailure(await send(changed), ns);
  await assertDeadLetter(changed.event_id);
  assert.deepEqual(await inNamespace(ns), untouched);
  assert.deepEqual(await writesInto(ns), []);
  assert.equal(String(versionOf(await projectOf(id))), '1');
});

test('a namespace re-created with wsflyte\'s labels (another uid than the record\'s) gets every object again at the next event', async () => {
  const id = 'ws-fr3', ns = `${id}-staging`;
  // Without a watch, so that no repair re-creates the namespace first.
  if (watching) await restart(noWatchConfig);
  const created = makeEvent({ workspace: id, version: 1, members: [alice, bob] });
  assert.equal((await send(created)).status, 'SUCCEEDED');
  const before = (await inNamespace(ns)).map((o) => `${o.kind}/${o.metadata.name}`).sort();
  await deleteNamespace(ns);
  await kubeCreate('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [MANAGED]: 'wsflyte', [WS]: id } } });

  const changed = makeEvent({ workspace: id, version: 2, type: 'MEMBERS_CHANGED', members: [alice, bob] });
  assert.equal((await send(changed)).status, 'SUCCEEDED');
  // The state record keeps a uid per namespace (README, "State record").
  const records = (await stack.readTopic('workspace.lifecycle.v1.wsflyte.state')).filter((r) => r.key === id && r.payload);
  const uids = JSON.parse(records.at(-1).payload).namespace_uids;
  assert.equal(Object.keys(uids).length, 3, JSON.stringify(uids));
  assert.ok(Object.entries(uids).every(([k, v]) => /^[0-9a-f]{16}$/.test(k) && /^[0-9a-f]{16}$/.test(v)));
  const after = (await inNamespace(ns)).map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.deepEqual(after, before);
  assert.ok(after.includes('ResourceQuota/workspace-quota'), after.join('\n'));
});
