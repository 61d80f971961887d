import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startKube, call, apply, ns, cm, sleep } from './helpers.js';

let srv;
let B;
before(async () => {
  srv = await startKube({ terminationMs: 300 });
  B = srv.url;
});
after(() => srv.close());
beforeEach(async () => {
  await call(B, 'POST', '/_test/reset');
});

async function waitGone(path, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await call(B, 'GET', path)).status === 404) return true;
    await sleep(25);
  }
  return false;
}

test('DELETE namespace -> 200 Terminating with deletionTimestamp; repeat DELETE 200 unchanged; then gone with its content', async () => {
  // Held until the test ends it: on a busy machine 300 ms pass between two requests.
  await call(B, 'POST', '/_test/config', { termination_ms: 3600000 });
  await apply(B, '/api/v1/namespaces/ws', ns('ws'));
  await apply(B, '/api/v1/namespaces/ws/configmaps/c', cm('c', { a: '1' }));
  const d = await call(B, 'DELETE', '/api/v1/namespaces/ws');
  assert.equal(d.status, 200);
  assert.equal(d.json.kind, 'Namespace');
  assert.equal(d.json.status.phase, 'Terminating');
  assert.ok(d.json.metadata.deletionTimestamp);
  assert.deepEqual(d.json.spec.finalizers, ['kubernetes']);
  const again = await call(B, 'DELETE', '/api/v1/namespaces/ws');
  assert.equal(again.status, 200);
  assert.equal(again.json.metadata.resourceVersion, d.json.metadata.resourceVersion);
  // existing content can still be read and updated
  assert.equal((await call(B, 'GET', '/api/v1/namespaces/ws/configmaps/c')).status, 200);
  assert.equal((await apply(B, '/api/v1/namespaces/ws/configmaps/c', cm('c', { a: '2' }))).status, 200);
  assert.deepEqual((await call(B, 'POST', '/_test/namespaces/finish')).json, { finished: ['ws'] });
  assert.ok(await waitGone('/api/v1/namespaces/ws'));
  assert.equal((await call(B, 'GET', '/api/v1/namespaces/ws/configmaps/c')).status, 404);
  assert.equal((await call(B, 'GET', '/api/v1/namespaces/ws/serviceaccounts/default')).status, 404);
});

test('while terminating: new content -> 403 NamespaceTerminating, POST namespace -> 409 being deleted, SSA namespace -> 200', async () => {
  // Held until the test ends it: on a busy machine 300 ms pass between two requests.
  await call(B, 'POST', '/_test/config', { termination_ms: 3600000 });
  await apply(B, '/api/v1/namespaces/ws', ns('ws'));
  await call(B, 'DELETE', '/api/v1/namespaces/ws');
  let r = await apply(B, '/api/v1/namespaces/ws/configmaps/new', cm('new', {}));
  assert.equal(r.status, 403);
  assert.deepEqual(r.json, {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
    message: 'configmaps "new" is forbidden: unable to create new content in namespace ws because it is being terminated',
    reason: 'Forbidden',
    details: { name: 'new', kind: 'configmaps', causes: [{ reason: 'NamespaceTerminating', message: 'namespace ws is being terminated', field: 'metadata.namespace' }] },
    code: 403,
  });
  r = await call(B, 'POST', '/api/v1/namespaces/ws/configmaps', cm('new2', {}));
  assert.equal(r.status, 403);
  r = await call(B, 'POST', '/api/v1/namespaces', ns('ws'));
  assert.equal(r.status, 409);
  assert.equal(r.json.reason, 'AlreadyExists');
  assert.equal(r.json.message, 'object is being deleted: namespaces "ws" already exists');
  r = await apply(B, '/api/v1/namespaces/ws', ns('ws', { a: 'b' }));
  assert.equal(r.status, 200);
  assert.equal(r.json.status.phase, 'Terminating');
  assert.deepEqual((await call(B, 'POST', '/_test/namespaces/finish')).json, { finished: ['ws'] });
  assert.ok(await waitGone('/api/v1/namespaces/ws'));
  // afterwards the namespace can be created again
  r = await apply(B, '/api/v1/namespaces/ws', ns('ws'));
  assert.equal(r.status, 201);
  assert.equal(r.json.status.phase, 'Active');
});

test('termination time is configurable at runtime', async () => {
  await call(B, 'POST', '/_test/config', { termination_ms: 0 });
  await apply(B, '/api/v1/namespaces/quick', ns('quick'));
  await call(B, 'DELETE', '/api/v1/namespaces/quick');
  assert.equal((await call(B, 'GET', '/api/v1/namespaces/quick')).status, 404);
  await call(B, 'POST', '/_test/config', { termination_ms: 30000 });
  await apply(B, '/api/v1/namespaces/slow', ns('slow'));
  await call(B, 'DELETE', '/api/v1/namespaces/slow');
  await sleep(400);
  assert.equal((await call(B, 'GET', '/api/v1/namespaces/slow')).json.status.phase, 'Terminating');
});

test('a held termination ends when the test says so', async () => {
  await call(B, 'POST', '/_test/config', { termination_ms: 3600000 });
  await apply(B, '/api/v1/namespaces/held', ns('held'));
  await apply(B, '/api/v1/namespaces/held/configmaps/c', cm('c', { a: '1' }));
  await call(B, 'DELETE', '/api/v1/namespaces/held');
  assert.equal((await call(B, 'GET', '/api/v1/namespaces/held')).json.status.phase, 'Terminating');
  const f = await call(B, 'POST', '/_test/namespaces/finish');
  assert.equal(f.status, 200);
  assert.deepEqual(f.json, { finished: ['held'] });
  assert.equal((await call(B, 'GET', '/api/v1/namespaces/held')).status, 404);
  assert.equal((await call(B, 'GET', '/api/v1/namespaces/held/configmaps/c')).status, 404);
});

test('default, kube-system and kube-public cannot be deleted (403)', async () => {
  const r = await call(B, 'DELETE', '/api/v1/namespaces/default');
  assert.equal(r.status, 403);
  assert.deepEqual(r.json, {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
    message: 'namespaces "default" is forbidden: this namespace may not be deleted',
    reason: 'Forbidden', details: { name: 'default', kind: 'namespaces' }, code: 403,
  });
  assert.equal((await call(B, 'DELETE', '/api/v1/namespaces/kube-system')).status, 403);
});

test('namespace label kubernetes.io/metadata.name is always set to the name', async () => {
  const r = await apply(B, '/api/v1/namespaces/ws', ns('ws', { 'kubernetes.io/metadata.name': 'spoof' }));
  assert.equal(r.json.metadata.labels['kubernetes.io/metadata.name'], 'ws');
});
