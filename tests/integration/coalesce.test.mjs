// Coalescing never loses a valid change (README "Processing one event", step 4).
// v2 of a workspace runs slowly (latency on its Kubernetes requests); v3 (bob
// removed, valid) and v4 arrive while it runs:
//   invalid   v4 carries a label under kubernetes.io/: it is refused before it
//             can supersede anything (FAILED/VALIDATION), and v3 is applied
//   failing   v4 is valid but fails for good at FlyteAdmin (403): v3, which it
//             superseded, is applied after all
//   partial   v4 fails for good after writing part of itself (the API server
//             refuses the authz ConfigMap): v3 is applied after all, the
//             version 4 v4 left on the project and namespaces notwithstanding
// Both fail on a build that answered v3 SKIPPED/stale as soon as v4 arrived.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, waitFor } from './harness.mjs';

// Per request into the workspace's namespaces: v2 takes about 5 s, in which
// v3 and v4 are produced and fetched even on a loaded machine (below the
// clients' 5-s timeout).
const LATENCY_MS = 2500;
const alice = { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' };
const bob = { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' };
const carol = { user_id: 'carol', email: 'carol@company.com', role: 'VIEWER' };
const dave = { user_id: 'dave', email: 'dave@company.com', role: 'VIEWER' };
let stack, produced = 0;

before(async () => {
  stack = await new Stack({ partitions: 2 }).start();
  stack.startConsumer();
});

after(async () => {
  await stack?.stop();
});

function event(ws, version, members, labels = {}) {
  return {
    event_id: `${ws}-v${version}`, event_type: version === 1 ? 'WORKSPACE_CREATED' : 'MEMBERS_CHANGED',
    occurred_at: Date.now(), workspace_version: version, actor: 'test', service: null,
    workspace: {
      workspace_id: ws, workspace_name: `Workspace ${ws}`, services: ['flyte'], members,
      data_bucket: `${ws}-data`, quota: null, labels,
    },
  };
}

async function produce(events) {
  produced += events.length;
  await stack.produceEvents(events);
}

async function resultsOf(events) {
  const found = await waitFor(async () => {
    const rs = await stack.results(produced, 3);
    const mine = events.map((e) => rs.find((r) => r.event_id === e.event_id));
    return mine.every(Boolean) && mine;
  }, 90000, 500);
  assert.ok(found, `no results for ${events.map((e) => e.event_id)}\n${stack.logs.join('').slice(-3000)}`);
  return found;
}

const projectGets = async (ws) => (await stack.flyteRequests())
  .filter((r) => r.method === 'GET' && r.path === `/api/v1/projects/${ws}`).length;

const bindingsOf = async (ws, user) => (await stack.kubeState()).objects
  .filter((o) => o.kind === 'RoleBinding' && o.metadata.namespace.startsWith(`${ws}-`)
    && o.subjects?.some((s) => s.name === user));

// v1 applied; then v2 (dave joins) starts and runs slowly.  Returns once
// v2 has read the project, i.e. runs.
async function slowV2(ws) {
  const v1 = event(ws, 1, [alice, bob, carol]);
  await produce([v1]);
  assert.equal((await resultsOf([v1]))[0].status, 'SUCCEEDED');
  assert.equal((await bindingsOf(ws, 'bob')).length, 2);
  const gets = await projectGets(ws);
  // v2's six requests into the workspace's namespaces (3 namespaces, dave's
  // 3 bindings) are slow; what follows runs at full speed.
  await stack.fault('kube', { path: `${ws}-`, latency_ms: LATENCY_MS, count: 6 });
  const v2 = event(ws, 2, [alice, bob, carol, dave]);
  await produce([v2]);
  assert.ok(await waitFor(async () => (await projectGets(ws)) > gets, 30000, 100), 'v2 never started');
  return v2;
}

test('an event refused by validation does not supersede the valid one waiting before it', async () => {
  const ws = 'ws-co-invalid';
  const v2 = await slowV2(ws);
  const v3 = event(ws, 3, [alice, carol, dave]);
  const v4 = event(ws, 4, [alice, carol, dave], { 'kubernetes.io/team': 'x' });
  await produce([v3, v4]);
  const [r2, r3, r4] = await resultsOf([v2, v3, v4]);
  await stack.clearFaults();
  assert.equal(r2.status, 'SUCCEEDED');
  assert.equal(r4.status, 'FAILED');
  assert.equal(r4.error.class, 'VALIDATION');
  assert.equal(r4.error.code, 'event.label');
  assert.equal(r3.status, 'SUCCEEDED', `v3: ${JSON.stringify(r3)}`);
  assert.deepEqual(await bindingsOf(ws, 'bob'), [], 'bob keeps bindings');
  assert.equal((await bindingsOf(ws, 'dave')).length, 3);
});

test('a waiting event superseded by one that then fails for good is still applied', async () => {
  const ws = 'ws-co-failing';
  const v2 = await slowV2(ws);
  // v2 has read the project: the next read (v4's) is refused for good.
  await stack.fault('flyte', { path: `/api/v1/projects/${ws}`, method: 'GET', status: 403, count: 1 });
  const v3 = event(ws, 3, [alice, carol, dave]);
  const v4 = event(ws, 4, [alice, dave]);
  await produce([v3, v4]);
  const [r2, r3, r4] = await resultsOf([v2, v3, v4]);
  await stack.clearFaults();
  assert.equal(r2.status, 'SUCCEEDED');
  assert.equal(r4.status, 'FAILED');
  assert.equal(r4.error.code, 'flyte.403');
  assert.equal(r3.status, 'SUCCEEDED', `v3: ${JSON.stringify(r3)}`);
  assert.deepEqual(await bindingsOf(ws, 'bob'), [], 'bob keeps bindings');
  assert.equal((await bindingsOf(ws, 'carol')).length, 3);
  // Applied after v4 failed: v3's writes come after v4's one (refused) read.
  const flyte = await stack.flyteRequests();
  const refused = flyte.find((r) => r.path === `/api/v1/projects/${ws}` && r.status === 403);
  const labelled = flyte.filter((r) => r.method === 'PUT' && r.path === `/api/v1/projects/${ws}`
    && r.body?.labels?.values?.['wsflyte-workspace-version'] === '3');
  assert.ok(refused && labelled.length === 1 && labelled[0].seq > refused.seq,
    'v3 was not applied after v4 failed');
});

test('a waiting event is applied after the one that superseded it failed part way', async () => {
  const ws = 'ws-co-partial';
  const v2 = await slowV2(ws);
  // v4 has written its version on the namespaces and the project when
  // deleting carol's first binding is refused for good.
  await stack.fault('kube', { method: 'DELETE', status: 403, count: 1,
    path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ws}-development/rolebindings/workspace-viewer-carol` });
  const v3 = event(ws, 3, [alice, carol, dave]);
  const v4 = event(ws, 4, [alice, dave]);
  await produce([v3, v4]);
  const [r2, r3, r4] = await resultsOf([v2, v3, v4]);
  await stack.clearFaults();
  assert.equal(r2.status, 'SUCCEEDED');
  assert.equal(r4.status, 'FAILED');
  assert.equal(r4.error.code, 'k8s.403');
  assert.equal(r3.status, 'SUCCEEDED', `v3: ${JSON.stringify(r3)}`);
  assert.deepEqual(await bindingsOf(ws, 'bob'), [], 'bob keeps bindings');
  assert.equal((await bindingsOf(ws, 'carol')).length, 3, 'carol lost bindings to the failed v4');
  const prj = (await stack.flyteState()).projects.find((p) => p.id === ws);
  assert.equal(prj.labels.values['wsflyte-workspace-version'], '3');
});
