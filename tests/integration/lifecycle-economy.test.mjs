// Request economy: how many FlyteAdmin and Kubernetes requests each kind of
// event costs, counted from the test servers' request logs.  The numbers are
// the minimum the design reaches (see the README, "Request economy"); a
// change that adds requests must change them here on purpose.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, isWatchRequest } from './harness.mjs';

const people = [
  { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' },
  { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' },
  { user_id: 'charlie', email: 'charlie@company.com', role: 'VIEWER' },
];
let stack, consumer, produced = 0;

before(async () => {
  stack = await new Stack().start();
  consumer = stack.startConsumer();
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0);
  await stack?.stop();
});

function event(id, v, type, { members = people, services = ['flyte'], eventId } = {}) {
  return {
    event_id: eventId || `${id}-v${v}-${type}`, event_type: type, occurred_at: 1764316800000 + v,
    workspace_version: v, actor: null, service: null,
    workspace: { workspace_id: id, workspace_name: id, services, members, data_bucket: `${id}-data`, quota: null, labels: {} },
  };
}

// Sends one event and answers its result and the requests it caused, as
// counts per API and method: {flyte: {GET: 1, ...}, kube: {...}, total}.
async function cost(e) {
  await Promise.all([stack.flyteUrl, stack.kubeUrl].map((u) => fetch(`${u}/_test/requests`, { method: 'DELETE' })));
  const file = join(stack.dir, `e-${produced}.jsonl`);
  writeFileSync(file, JSON.stringify(e) + '\n');
  assert.equal((await stack.produce(file, 'json')).code, 0);
  produced++;
  const results = await stack.results(produced, 60);
  const result = results.filter((r) => r.event_id === e.event_id).pop();
  assert.ok(result, stack.logs.join(''));
  const count = (log) => log.reduce((m, r) => ({ ...m, [r.method]: (m[r.method] || 0) + 1 }), {});
  const api = (log) => log.filter((r) => r.path !== '/healthcheck' && r.path !== '/version' && // probes
    !isWatchRequest(r));
  const [f, k] = [api(await stack.flyteRequests()), api(await stack.kubeRequests())];
  return { result, flyte: count(f), kube: count(k), total: f.length + k.length };
}

// With the workspace's state record (in memory, or restored from the state
// topic after a restart): a member leaving or joining rewrites the version
// records (project label, 3 namespace annotations), the authz ConfigMap and
// only that member's bindings, after one read of the project (the guard
// against other writers) and one of each namespace (a record never stands in
// for ownership: someone may have re-created one since); nothing else
// changed, so nothing else is written.
async function membersChange(id, v, { tag = '' } = {}) {
  // Charlie leaves: his 3 bindings are deleted by name (no LIST).
  let c = await cost(event(id, v, 'MEMBERS_CHANGED', { members: people.slice(0, 2), eventId: `${id}-leave-${v}${tag}` }));
  assert.equal(c.result.status, 'SUCCEEDED');
  assert.deepEqual(c.flyte, { GET: 1, PUT: 1 });
  assert.deepEqual(c.kube, { GET: 3, PATCH: 3 + 1, DELETE: 3 });
  assert.ok(c.total <= 13, `member removed: ${c.total} requests`);
  // Charlie comes back: his 3 bindings are applied.
  c = await cost(event(id, v + 1, 'MEMBERS_CHANGED', { eventId: `${id}-join-${v + 1}${tag}` }));
  assert.equal(c.result.status, 'SUCCEEDED');
  assert.deepEqual(c.flyte, { GET: 1, PUT: 1 });
  assert.deepEqual(c.kube, { GET: 3, PATCH: 3 + 3 + 1 });
  assert.ok(c.total <= 13, `member added: ${c.total} requests`);
  const bindings = (await stack.kubeState()).objects.filter((o) => o.kind === 'RoleBinding' &&
    o.metadata.namespace.startsWith(`${id}-`) && o.metadata.name.startsWith('workspace-viewer-charlie-'));
  assert.equal(bindings.length, 3, 'charlie is bound again in every domain');
}

test('first apply, same-version re-apply, stale events and member changes cost the minimum', async () => {
  const id = 'ws-econ';
  // 3 namespaces read first (none may be someone else's), then applied;
  // per domain attributes + quota, LimitRange, policy, SA, 3 roles; 8 bindings (owner
  // 3, contributor 2, viewer 3); the authz ConfigMap.
  let c = await cost(event(id, 1, 'WORKSPACE_CREATED'));
  assert.equal(c.result.status, 'SUCCEEDED');
  assert.deepEqual(c.flyte, { GET: 1, POST: 1, PUT: 3 });
  assert.deepEqual(c.kube, { GET: 3, PATCH: 3 + 3 * 7 + 8 + 1 }); // no prune LIST: all namespaces new
  assert.equal(c.total, 41);

  c = await cost(event(id, 1, 'WORKSPACE_CREATED', { eventId: 'duplicate-of-v1' }));
  assert.equal(c.result.status, 'SUCCEEDED');
  assert.deepEqual(c.result.namespaces.length, 3);
  assert.equal(c.total, 0, 'a duplicate is answered from the state record');

  c = await cost(event(id, 0, 'MEMBERS_CHANGED'));
  assert.equal(c.result.reason, 'stale');
  assert.equal(c.total, 0, 'a version older than the recorded one costs nothing');

  await membersChange(id, 2);
});

test('after a restart the restored state records keep the same costs', async () => {
  const id = 'ws-econ';
  assert.equal(await stack.stopConsumer(consumer), 0);
  consumer = stack.startConsumer('wsflyte-2');
  let c = await cost(event(id, 1, 'WORKSPACE_CREATED', { eventId: 'late-v1' }));
  assert.equal(c.result.reason, 'stale');
  assert.equal(c.total, 0);
  c = await cost(event(id, 3, 'MEMBERS_CHANGED', { eventId: 'again-v3' }));
  assert.equal(c.result.status, 'SUCCEEDED');
  assert.equal(c.total, 0, 'a duplicate after a restart is answered from the restored record');
  await membersChange(id, 4, { tag: '-restarted' });
  // A new workspace after the restart costs what it did before.
  c = await cost(event('ws-econ-2', 1, 'WORKSPACE_CREATED'));
  assert.equal(c.total, 41);
});

test('removal, its replay, deletion and a workspace without Flyte', async () => {
  const id = 'ws-econ';
  let c = await cost(event(id, 6, 'SERVICE_REMOVED', { services: [] }));
  assert.equal(c.result.reason, 'flyte-removed');
  assert.deepEqual(c.flyte, { GET: 1, PUT: 1 });
  assert.deepEqual(c.kube, { GET: 4, DELETE: 4 }); // read 3 namespaces + the ConfigMap by name, delete them
  c = await cost(event(id, 6, 'SERVICE_REMOVED', { services: [], eventId: 'removed-again' }));
  assert.equal(c.result.reason, 'flyte-removed');
  assert.equal(c.total, 0);
  c = await cost(event(id, 5, 'SERVICE_ADDED', { eventId: 'late-add' }));
  assert.equal(c.result.reason, 'stale');
  assert.equal(c.total, 0);
  c = await cost(event(id, 7, 'WORKSPACE_DELETED'));
  assert.equal(c.result.reason, 'workspace-deleted');
  assert.deepEqual(c.flyte, { GET: 1, PUT: 1 }); // the version label moves to 7
  assert.deepEqual(c.kube, { GET: 4 }); // namespaces already terminating or gone
  c = await cost(event('ws-econ-none', 1, 'WORKSPACE_CREATED', { services: ['emr'] }));
  assert.equal(c.result.reason, 'flyte-not-enabled');
  assert.deepEqual(c.flyte, { GET: 1 });
  assert.deepEqual(c.kube, { GET: 4 });
  c = await cost(event('ws-econ-none', 1, 'WORKSPACE_CREATED', { services: ['emr'], eventId: 'none-again' }));
  assert.equal(c.result.reason, 'flyte-not-enabled');
  assert.equal(c.total, 0);
});
