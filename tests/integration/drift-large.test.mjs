// Drift repair in a large workspace (2,000 members: 5,333 RoleBindings,
// 5,373 Kubernetes objects in all).  The RoleBinding watch is gone for a
// moment (its requests fail, the server keeps no watch history), and
// meanwhile one member's binding is deleted and another's subjects are
// changed.  The watch comes back with a resume point the server no longer
// has (410) and lists every RoleBinding again: the relist compares each
// listed object with the rendering (work per object that does not grow with
// the workspace) and finds both, and only those two objects are written.
// The relist time is printed (tools/bench-relist.mjs measures it by size).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, waitFor } from './harness.mjs';

const WS = 'ws-large';
const MEMBERS = 2000;
const ROLES = ['OWNER', 'CONTRIBUTOR', 'VIEWER'];
const RB = '/apis/rbac.authorization.k8s.io/v1';
const MANAGER = 'drift-large-test';
let stack, consumer;

const logText = () => stack.logs.join('');
const count = (re) => (logText().match(re) || []).length;

async function kube(method, path, body) {
  const r = await fetch(`${stack.kubeUrl}${path}?fieldManager=${MANAGER}`, {
    method, headers: { 'X-Request-Id': MANAGER, ...(body ? { 'Content-Type': 'application/merge-patch+json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${await r.text()}`);
}
const get = async (path) => {
  const r = await fetch(`${stack.kubeUrl}${path}`);
  return r.status === 404 ? null : r.json();
};

before(async () => {
  stack = await new Stack({
    partitions: 1, config: { concurrency: 8, qps: 0 },
    editConfig: (doc) => { doc.reconcile = { watch: true, resync_interval: '0s' }; },
  }).start();
  consumer = stack.startNamedConsumer('c0');
  const e = makeEvent({
    workspace: WS,
    members: Array.from({ length: MEMBERS }, (_, i) => ({ user_id: `user-${i}`, email: `user-${i}@company.com`, role: ROLES[i % 3] })),
  });
  await stack.produceEvents([e], 'json');
  const [r] = await stack.results(1, 600);
  assert.equal(r?.status, 'SUCCEEDED', JSON.stringify(r));
  assert.ok(await waitFor(() => /watch RoleBinding: watching from/.test(logText()), 60000), 'the watch runs');
});

after(async () => {
  await fetch(`${stack.kubeUrl}/_test/config`, { method: 'POST', body: JSON.stringify({ watch_history: 10000 }) });
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0);
  await stack?.stop();
});

test('drift of a large workspace made while its watch was gone is repaired after the relist, and only it', async (t) => {
  const bindings = (await stack.kubeState()).objects
    .filter((o) => o.kind === 'RoleBinding' && o.metadata.namespace === `${WS}-development`);
  assert.ok(bindings.length > 1000, `bindings in development: ${bindings.length}`);
  const [gone, changed] = [bindings[17], bindings[1234]].map((b) =>
    `${RB}/namespaces/${WS}-development/rolebindings/${b.metadata.name}`);
  const subjects = (await get(changed)).subjects;
  const listed = /watch RoleBinding: listed (\d+) objects/g;
  const listedBefore = count(listed);

  // The RoleBinding watch fails for a few seconds after the cut; without
  // history its resume point is too old by the time it comes back.
  await fetch(`${stack.kubeUrl}/_test/config`, { method: 'POST', body: JSON.stringify({ watch_history: 0 }) });
  await stack.fault('kube', { path: `${RB}/rolebindings`, method: 'GET', status: 503, count: 3 });
  await fetch(`${stack.kubeUrl}/_test/requests`, { method: 'DELETE' });
  await fetch(`${stack.kubeUrl}/_test/watches/cut`, { method: 'POST', body: JSON.stringify({ how: 'reset' }) });
  await kube('DELETE', gone);
  await kube('PATCH', changed, { subjects: [{ kind: 'User', name: 'mallory@company.com', apiGroup: 'rbac.authorization.k8s.io' }] });

  const t0 = Date.now();
  const repaired = async () => (await get(gone)) !== null &&
    JSON.stringify((await get(changed))?.subjects) === JSON.stringify(subjects);
  assert.ok(await waitFor(repaired, 300000, 500), `not repaired\n${logText().slice(-4000)}`);
  t.diagnostic(`both repaired ${Date.now() - t0} ms after the changes`);
  assert.ok(count(listed) > listedBefore, 'the RoleBindings were listed again');
  const n = [...logText().matchAll(listed)].map((m) => Number(m[1])).at(-1);
  assert.ok(n >= 5000, `listed ${n} RoleBindings`);

  // What the relist took, from the server's log: its first LIST page to the WATCH after it.
  const log = await stack.kubeRequests();
  const rb = log.filter((r) => r.method === 'GET' && r.path === `${RB}/rolebindings` && r.status === 200);
  const first = rb.find((r) => r.query.watch === undefined);
  const end = first && rb.find((r) => r.seq > first.seq && r.query.watch !== undefined);
  if (end) t.diagnostic(`relist of ${n} RoleBindings (${MEMBERS} members): ${Date.parse(end.time) - Date.parse(first.time)} ms`);
  // Only the two drifted objects were written; nothing else of the workspace.
  const writes = log.filter((r) => r.method !== 'GET' && r.headers.request_id !== MANAGER);
  assert.deepEqual(writes.map((r) => `${r.method} ${r.path}`).sort(), [`PATCH ${gone}`, `PATCH ${changed}`].sort());
  await stack.clearFaults();
});
