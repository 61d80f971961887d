// Only its own (contract §3): wsflyte writes into, labels, prunes and deletes
// only objects it created for a workspace under the names it renders.  Each
// case sets up what another team, another installation or another workspace
// left in the cluster through the Kubernetes test server's own API, then
// checks that wsflyte's events leave it untouched.  A gateway's 404 on the
// Flyte project is no proof that the project is gone.
//
//   ws-own-foreign  <id>-production exists, someone else's      -> FAILED k8s.foreign-namespace, DLT,
//                                                                  untouched by create and delete
//   ws-own-decoy    a labelled namespace outside the template    -> deletion not stale, decoy kept
//                   with a huge version
//   ws-own-twin     a RoleBinding of another installation, and   -> neither pruned
//                   one with a name wsflyte does not render
//   a-pre / a       custom domains prod + pre-prod both render   -> the second workspace fails,
//                   a-pre-prod                                      the first one's namespace kept
//   ws-own-gw       grpc-gateway 404 on GET project during       -> retried (TRANSIENT), nothing
//                   SERVICE_REMOVED                                 deleted; archived after the fault
//   ws-own-kgw      an ingress's HTML 404 on GET namespace       -> retried (TRANSIENT), nothing
//                   during WORKSPACE_DELETED                        deleted; all deleted after the fault
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, waitFor } from './harness.mjs';

const DOMAINS = ['development', 'staging', 'production', 'prod', 'pre-prod'];
const DLT = 'workspace.lifecycle.v1.wsflyte.dlt';
const RETRY2 = 'workspace.lifecycle.v1.wsflyte.retry-2s';
const MANAGED = 'app.kubernetes.io/managed-by';
const WS = 'wsflyte.io/workspace';
const alice = { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' };
const bob = { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' };
let stack, consumer;

before(async () => {
  stack = new Stack({
    flyteArgs: ['--domains', DOMAINS.join(',')],
    editConfig: (doc) => { doc.flyte.domains = DOMAINS; },
  });
  await stack.start();
  consumer = stack.startConsumer();
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0);
  await stack?.stop();
});

// Creates an object through the test server's API, as another client would.
async function kubeCreate(collection, obj) {
  const r = await fetch(`${stack.kubeUrl}${collection}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(obj),
  });
  assert.equal(r.status, 201, `create ${collection}: ${r.status} ${await r.text()}`);
}

// Everything in or of namespace ns, as the server holds it.
async function inNamespace(ns) {
  const objs = (await stack.kubeState()).objects;
  return objs.filter((o) => o.metadata.namespace === ns || (o.kind === 'Namespace' && o.metadata.name === ns));
}

const send = (events) => stack.produceEvents(events, 'json');

const resultOf = (eventId) => stack.resultOf(eventId, 200);

// Requests other than reads that touched namespace ns or anything in it.
async function writesInto(ns) {
  return (await stack.kubeRequests()).filter((r) => r.method !== 'GET' &&
    (r.path === `/api/v1/namespaces/${ns}` || r.path.includes(`/namespaces/${ns}/`)));
}

async function foreignNamespace(ns) {
  await kubeCreate('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { team: 'payments' } } });
  await kubeCreate(`/api/v1/namespaces/${ns}/configmaps`, {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'payments-config', namespace: ns }, data: { db: 'payments-db' },
  });
}

function assertForeignFailure(r, ns) {
  assert.equal(r.status, 'FAILED', JSON.stringify(r));
  assert.equal(r.error.class, 'PERMANENT');
  assert.equal(r.error.code, 'k8s.foreign-namespace');
  assert.match(r.error.message, new RegExp(`namespace ${ns} `));
}

test('a foreign <id>-production fails the event, gets a dead letter and is never written, labelled or deleted', async () => {
  const id = 'ws-own-foreign', ns = `${id}-production`;
  await foreignNamespace(ns);
  const untouched = await inNamespace(ns);
  await fetch(`${stack.kubeUrl}/_test/requests`, { method: 'DELETE' });
  const created = makeEvent({ workspace: id, version: 1, members: [alice, bob] });
  await send([created]);
  assertForeignFailure(await resultOf(created.event_id), ns);
  const dead = (await stack.readTopic(DLT)).filter((d) => d.key === id);
  assert.equal(dead.length, 1);
  assert.equal(dead[0].headers['x-error-code'], 'k8s.foreign-namespace');
  assert.equal(dead[0].headers['x-error-class'], 'PERMANENT');
  // Read before any write: no project, no namespace of the workspace.
  assert.equal((await stack.flyteState()).projects.find((p) => p.id === id), undefined);
  assert.deepEqual((await stack.kubeState()).objects.filter((o) => o.metadata.labels?.[WS] === id), []);

  const deleted = makeEvent({ workspace: id, version: 2, type: 'WORKSPACE_DELETED', services: [] });
  await send([deleted]);
  assertForeignFailure(await resultOf(deleted.event_id), ns);
  assert.deepEqual(await inNamespace(ns), untouched);
  assert.deepEqual(await writesInto(ns), []);
});

test('a labelled namespace outside the template with a huge version neither makes the deletion stale nor is deleted', async () => {
  const id = 'ws-own-decoy', decoy = `decoy-${id}`;
  const created = makeEvent({ workspace: id, version: 1, members: [alice] });
  await send([created]);
  assert.equal((await resultOf(created.event_id)).status, 'SUCCEEDED');
  await kubeCreate('/api/v1/namespaces', {
    apiVersion: 'v1', kind: 'Namespace',
    metadata: { name: decoy, labels: { [MANAGED]: 'wsflyte', [WS]: id }, annotations: { 'wsflyte.io/workspace-version': '999999999' } },
  });
  const deleted = makeEvent({ workspace: id, version: 2, type: 'WORKSPACE_DELETED', services: [] });
  await send([deleted]);
  const r = await resultOf(deleted.event_id);
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.equal(r.reason, 'workspace-deleted');
  const objs = (await stack.kubeState()).objects;
  for (const d of DOMAINS) {
    const ns = objs.find((o) => o.kind === 'Namespace' && o.metadata.name === `${id}-${d}`);
    assert.ok(!ns || ns.metadata.deletionTimestamp, `${id}-${d} is being deleted`);
  }
  const kept = objs.find((o) => o.kind === 'Namespace' && o.metadata.name === decoy);
  assert.ok(kept && !kept.metadata.deletionTimestamp, 'the decoy is not wsflyte\'s to delete');
  assert.equal((await stack.flyteState()).projects.find((p) => p.id === id).state, 'ARCHIVED');
});

test('bindings of another installation, or with names wsflyte does not render, are not pruned', async () => {
  const id = 'ws-own-twin', other = `flyte2-${id}-development`;
  const created = makeEvent({ workspace: id, version: 1, members: [alice, bob] });
  await send([created]);
  assert.equal((await resultOf(created.event_id)).status, 'SUCCEEDED');
  const labels = { [MANAGED]: 'wsflyte', [WS]: id, 'wsflyte.io/member': 'feedbeeffeedbeef', 'wsflyte.io/role': 'OWNER' };
  const binding = (name, ns) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace: ns, labels },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'dave' }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
  });
  // Another installation renders its namespaces differently, with the same labels.
  await kubeCreate('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: other, labels: { [MANAGED]: 'wsflyte', [WS]: id } } });
  await kubeCreate(`/apis/rbac.authorization.k8s.io/v1/namespaces/${other}/rolebindings`, binding('workspace-owner-dave-0123456789', other));
  // Someone binds by hand in the workspace's namespace, copying the labels.
  await kubeCreate(`/apis/rbac.authorization.k8s.io/v1/namespaces/${id}-development/rolebindings`, binding('ci-deployer', `${id}-development`));

  const changed = makeEvent({ workspace: id, version: 2, type: 'MEMBERS_CHANGED', members: [alice] });
  await send([changed]);
  assert.equal((await resultOf(changed.event_id)).status, 'SUCCEEDED');
  const rbs = (await stack.kubeState()).objects.filter((o) => o.kind === 'RoleBinding' && o.metadata.labels?.[WS] === id);
  const names = rbs.map((o) => `${o.metadata.namespace}/${o.metadata.name}`);
  assert.ok(names.includes(`${other}/workspace-owner-dave-0123456789`), 'the other installation\'s binding survives');
  assert.ok(names.includes(`${id}-development/ci-deployer`), 'a binding of a name wsflyte never renders survives');
  assert.ok(!names.some((n) => n.includes('contributor-bob')), `bob's bindings are pruned: ${names}`);
  assert.equal(names.filter((n) => n.includes('owner-alice')).length, DOMAINS.length);
});

test('custom domains rendering one name for two workspaces: the second one fails, the first one keeps its namespace', async () => {
  const first = makeEvent({ workspace: 'a-pre', version: 1, members: [alice] });
  await send([first]);
  assert.equal((await resultOf(first.event_id)).status, 'SUCCEEDED');
  const shared = 'a-pre-prod'; // a-pre + prod, and a + pre-prod
  const before = await inNamespace(shared);
  assert.equal(before.find((o) => o.kind === 'Namespace').metadata.labels[WS], 'a-pre');

  const second = makeEvent({ workspace: 'a', version: 1, members: [bob] });
  await send([second]);
  assertForeignFailure(await resultOf(second.event_id), shared);
  assert.deepEqual(await inNamespace(shared), before);
  assert.equal((await stack.flyteState()).projects.find((p) => p.id === 'a'), undefined);
  assert.equal((await stack.kubeState()).objects.find((o) => o.metadata.name === 'a-prod'), undefined);
});

test('a gateway 404 on GET project during SERVICE_REMOVED is retried, deletes nothing, and the project is archived after', async () => {
  const id = 'ws-own-gw';
  const created = makeEvent({ workspace: id, version: 1, members: [alice] });
  await send([created]);
  assert.equal((await resultOf(created.event_id)).status, 'SUCCEEDED');
  const fault = await stack.fault('flyte', {
    path: `^/api/v1/projects/${id}$`, method: 'GET', status: 404, count: -1, body: '{"code":5,"message":"Not Found"}',
  });
  const removed = makeEvent({ workspace: id, version: 2, type: 'SERVICE_REMOVED', services: [] });
  await send([removed]);
  const forwarded = await waitFor(async () => {
    const mine = (await stack.readTopic(RETRY2)).filter((d) => d.key === id);
    return mine.length ? mine : null;
  }, 30000, 500);
  assert.ok(forwarded, `not forwarded to retry-2s\n${stack.logs.join('').slice(-3000)}`);
  assert.equal(forwarded.length, 1, 'forwarded to the first retry tier');
  assert.equal(forwarded[0].headers['x-error-class'], 'TRANSIENT');
  assert.equal(forwarded[0].headers['x-error-code'], 'flyte.404');
  // --to-end returns at the topic's end: the fault must go before the tiers run out.
  assert.equal((await stack.allResults()).find((x) => x.event_id === removed.event_id), undefined, 'no result yet');
  let objs = (await stack.kubeState()).objects.filter((o) => o.kind === 'Namespace' && o.metadata.labels?.[WS] === id);
  assert.equal(objs.length, DOMAINS.length);
  assert.ok(objs.every((o) => !o.metadata.deletionTimestamp), 'no namespace deleted while FlyteAdmin is not readable');
  assert.equal((await stack.flyteState()).projects.find((p) => p.id === id).state, 'ACTIVE');

  await fetch(`${stack.flyteUrl}/_test/faults/${fault}`, { method: 'DELETE' });
  const r = await resultOf(removed.event_id);
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.equal(r.reason, 'flyte-removed');
  const project = (await stack.flyteState()).projects.find((p) => p.id === id);
  assert.equal(project.state, 'ARCHIVED');
  assert.equal(project.labels.values['wsflyte-workspace-version'], '2');
  objs = (await stack.kubeState()).objects.filter((o) => o.kind === 'Namespace' && o.metadata.labels?.[WS] === id);
  assert.ok(objs.every((o) => o.metadata.deletionTimestamp), 'namespaces deleted once the project was archived');
});

test('a 404 from something in front of the API server on GET namespace is retried, not read as "already gone"', async () => {
  const id = 'ws-own-kgw';
  const created = makeEvent({ workspace: id, version: 1, members: [alice] });
  await send([created]);
  assert.equal((await resultOf(created.event_id)).status, 'SUCCEEDED');
  const fault = await stack.fault('kube', {
    path: `^/api/v1/namespaces/${id}-staging$`, method: 'GET', status: 404, count: -1,
    body: '<html><body><h1>404 Not Found</h1>nginx</body></html>',
  });
  const deleted = makeEvent({ workspace: id, version: 2, type: 'WORKSPACE_DELETED', services: [] });
  await send([deleted]);
  const forwarded = await waitFor(async () => {
    const mine = (await stack.readTopic(RETRY2)).filter((d) => d.key === id);
    return mine.length ? mine : null;
  }, 30000, 500);
  assert.ok(forwarded, `not forwarded to retry-2s\n${stack.logs.join('').slice(-3000)}`);
  assert.equal(forwarded[0].headers['x-error-class'], 'TRANSIENT');
  assert.equal(forwarded[0].headers['x-error-code'], 'k8s.404');
  let objs = (await stack.kubeState()).objects.filter((o) => o.kind === 'Namespace' && o.metadata.labels?.[WS] === id);
  assert.equal(objs.length, DOMAINS.length);
  assert.ok(objs.every((o) => !o.metadata.deletionTimestamp), 'nothing deleted while a namespace is not readable');

  await fetch(`${stack.kubeUrl}/_test/faults/${fault}`, { method: 'DELETE' });
  const r = await resultOf(deleted.event_id);
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.equal(r.reason, 'workspace-deleted');
  objs = (await stack.kubeState()).objects.filter((o) => o.kind === 'Namespace' && o.metadata.labels?.[WS] === id);
  assert.ok(objs.every((o) => o.metadata.deletionTimestamp), 'every namespace deleted, staging included');
});
