// Request economy: how many FlyteAdmin and Kubernetes requests each kind of
// event costs, counted from the test servers' request logs.  The numbers are
// the minimum the design reaches (see the README, "Request economy"); a
// change that adds requests must change them here on purpose.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack } from './harness.mjs';

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
  const api = (log) => log.filter((r) => r.path !== '/healthcheck' && r.path !== '/version'); // probes
  const [f, k] = [api(await stack.flyteRequests()), api(await stack.kubeRequests())];
  return { result, flyte: count(f), kube: count(k), total: f.length + k.length };
}

test('first apply, same-version re-apply and stale events cost the minimum', async () => {
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
  assert.deepEqual(c.flyte, { GET: 1 });
  assert.deepEqual(c.kube, {});

  c = await cost(event(id, 0, 'MEMBERS_CHANGED'));
  assert.equal(c.result.reason, 'stale');
  assert.equal(c.total, 0, 'a version older than one this process applied costs nothing');

  // Charlie leaves: the project label changes; 3 namespace reads, and one
  // prune LIST per namespace finds his 3 bindings.
  c = await cost(event(id, 2, 'MEMBERS_CHANGED', { members: people.slice(0, 2) }));
  assert.equal(c.result.status, 'SUCCEEDED');
  assert.deepEqual(c.flyte, { GET: 1, PUT: 4 });
  assert.deepEqual(c.kube, { PATCH: 3 + 3 * 7 + 5 + 1, GET: 3 + 3, DELETE: 3 });
});

test('after a restart (empty cache) re-apply converges fully and stale costs one read', async () => {
  const id = 'ws-econ';
  assert.equal(await stack.stopConsumer(consumer), 0);
  consumer = stack.startConsumer('wsflyte-2');
  let c = await cost(event(id, 1, 'WORKSPACE_CREATED', { eventId: 'late-v1' }));
  assert.equal(c.result.reason, 'stale');
  assert.deepEqual(c.flyte, { GET: 1 });
  assert.deepEqual(c.kube, {});
  c = await cost(event(id, 2, 'MEMBERS_CHANGED', { members: people.slice(0, 2), eventId: 'again-v2' }));
  assert.equal(c.result.status, 'SUCCEEDED');
  assert.deepEqual(c.flyte, { GET: 1, PUT: 3 }); // the project already matches
  assert.deepEqual(c.kube, { PATCH: 3 + 3 * 7 + 5 + 1, GET: 3 + 3 });
  c = await cost(event(id, 2, 'MEMBERS_CHANGED', { members: people.slice(0, 2), eventId: 'third-v2' }));
  assert.deepEqual([c.flyte, c.kube], [{ GET: 1 }, {}], 'applied by this process now');
});

test('removal, its replay, deletion and a workspace without Flyte', async () => {
  const id = 'ws-econ';
  let c = await cost(event(id, 3, 'SERVICE_REMOVED', { services: [] }));
  assert.equal(c.result.reason, 'flyte-removed');
  assert.deepEqual(c.flyte, { GET: 1, PUT: 1 });
  assert.deepEqual(c.kube, { GET: 4, DELETE: 4 }); // read 3 namespaces + the ConfigMap by name, delete them
  c = await cost(event(id, 3, 'SERVICE_REMOVED', { services: [], eventId: 'removed-again' }));
  assert.equal(c.result.reason, 'flyte-removed');
  assert.equal(c.total, 1);
  c = await cost(event(id, 2, 'SERVICE_ADDED', { eventId: 'late-add' }));
  assert.equal(c.result.reason, 'stale');
  assert.equal(c.total, 0);
  c = await cost(event(id, 4, 'WORKSPACE_DELETED'));
  assert.equal(c.result.reason, 'workspace-deleted');
  assert.deepEqual(c.flyte, { GET: 1, PUT: 1 }); // the version label moves to 4
  assert.deepEqual(c.kube, { GET: 4 }); // namespaces already terminating or gone
  c = await cost(event('ws-econ-none', 1, 'WORKSPACE_CREATED', { services: ['emr'] }));
  assert.equal(c.result.reason, 'flyte-not-enabled');
  assert.deepEqual(c.flyte, { GET: 1 });
  assert.deepEqual(c.kube, { GET: 4 });
  c = await cost(event('ws-econ-none', 1, 'WORKSPACE_CREATED', { services: ['emr'], eventId: 'none-again' }));
  assert.equal(c.result.reason, 'flyte-not-enabled');
  assert.equal(c.total, 1);
});
