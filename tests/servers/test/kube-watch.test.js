// Watch as the API server serves it: chunked JSON lines of ADDED / MODIFIED /
// DELETED / BOOKMARK, resourceVersion semantics, 410 Expired, selectors,
// timeoutSeconds, namespace termination, and the /_test controls.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startKube, call, apply, ns, cm, sleep } from './helpers.js';

let srv;
let B;
before(async () => {
  srv = await startKube({ terminationMs: 200 });
  B = srv.url;
});
after(() => srv.close());
beforeEach(async () => {
  await call(B, 'POST', '/_test/reset');
});

// Opens a watch: w.events fills as lines arrive; w.until(n) waits for n events;
// w.done resolves with 'end' (a clean end) or 'error' (a cut connection).
function openWatch(path) {
  return new Promise((resolve, reject) => {
    const req = http.get(B + path, { agent: false }, (res) => {
      const w = { status: res.statusCode, headers: res.headers, events: [], lines: [], req };
      let buf = '';
      w.done = new Promise((done) => {
        res.on('end', () => done('end'));
        res.on('error', () => done('error'));
        res.on('aborted', () => done('error'));
      });
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          w.lines.push(line);
          w.events.push(JSON.parse(line));
        }
      });
      w.until = async (n, ms = 15000) => {
        const end = Date.now() + ms;
        while (w.events.length < n && Date.now() < end) await sleep(10);
        assert.ok(w.events.length >= n, `${w.events.length} of ${n} events: ${JSON.stringify(w.events.map((e) => e.type))}`);
        return w.events;
      };
      w.close = () => req.destroy();
      resolve(w);
    });
    req.on('error', reject);
  });
}

const summary = (events) => events.map((e) => `${e.type} ${e.object.metadata.namespace ? `${e.object.metadata.namespace}/` : ''}${e.object.metadata.name ?? ''}`);
const listRv = async (path) => (await call(B, 'GET', path)).json.metadata.resourceVersion;
const labelled = (name, labels) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data: { a: '1' } });

test('LIST carries the list resourceVersion; WATCH from it streams the changes after it as chunked JSON lines', async () => {
  await apply(B, '/api/v1/namespaces/ws', ns('ws'));
  await apply(B, '/api/v1/namespaces/ws/configmaps/before', cm('before', { a: '1' }));
  const rv = await listRv('/api/v1/namespaces/ws/configmaps');
  assert.match(rv, /^\d+$/);
  const w = await openWatch(`/api/v1/namespaces/ws/configmaps?watch=1&resourceVersion=${rv}`);
  assert.equal(w.status, 200);
  assert.equal(w.headers['transfer-encoding'], 'chunked');
  assert.match(w.headers['content-type'], /^application\/json/);
  const created = await apply(B, '/api/v1/namespaces/ws/configmaps/c', cm('c', { a: '1' }));
  const modified = await apply(B, '/api/v1/namespaces/ws/configmaps/c', cm('c', { a: '2' }));
  await apply(B, '/api/v1/namespaces/ws/configmaps/c', cm('c', { a: '2' })); // no change: no event
  await call(B, 'DELETE', '/api/v1/namespaces/ws/configmaps/c');
  const ev = await w.until(3);
  await sleep(100);
  assert.deepEqual(summary(w.events), ['ADDED ws/c', 'MODIFIED ws/c', 'DELETED ws/c']);
  assert.equal(ev[0].object.kind, 'ConfigMap');
  assert.equal(ev[0].object.apiVersion, 'v1');
  assert.equal(ev[0].object.metadata.resourceVersion, created.json.metadata.resourceVersion);
  assert.deepEqual(ev[1].object.data, { a: '2' });
  assert.equal(ev[1].object.metadata.resourceVersion, modified.json.metadata.resourceVersion);
  assert.ok(Number(ev[2].object.metadata.resourceVersion) > Number(ev[1].object.metadata.resourceVersion));
  assert.ok(ev[1].object.metadata.managedFields.some((f) => f.manager === 'wsflyte'));
  for (const line of w.lines) assert.deepEqual(Object.keys(JSON.parse(line)), ['type', 'object']);
  // The deletion's resourceVersion is the list's now, and a watch from it has nothing to replay.
  assert.equal(await listRv('/api/v1/namespaces/ws/configmaps'), ev[2].object.metadata.resourceVersion);
  w.close();
});

test('resourceVersion absent, "" or "0": ADDED for the current objects first, then the changes', async () => {
  await apply(B, '/api/v1/namespaces/a', ns('a'));
  await apply(B, '/api/v1/namespaces/a/configmaps/one', cm('one', {}));
  for (const q of ['', '&resourceVersion=', '&resourceVersion=0']) {
    const w = await openWatch(`/api/v1/namespaces/a/configmaps?watch=true${q}`);
    await w.until(2);
    assert.deepEqual(summary(w.events), ['ADDED a/kube-root-ca.crt', 'ADDED a/one'], q);
    await apply(B, '/api/v1/namespaces/a/configmaps/two', cm('two', {}));
    await w.until(3);
    assert.equal(summary(w.events)[2], 'ADDED a/two');
    await call(B, 'DELETE', '/api/v1/namespaces/a/configmaps/two');
    await w.until(4);
    w.close();
  }
});

test('a cluster-wide watch sees every namespace; a namespaced one only its own', async () => {
  await apply(B, '/api/v1/namespaces/a', ns('a'));
  await apply(B, '/api/v1/namespaces/b', ns('b'));
  const rv = await listRv('/api/v1/configmaps');
  const all = await openWatch(`/api/v1/configmaps?watch=1&resourceVersion=${rv}`);
  const onlyA = await openWatch(`/api/v1/namespaces/a/configmaps?watch=1&resourceVersion=${rv}`);
  await apply(B, '/api/v1/namespaces/a/configmaps/x', cm('x', {}));
  await apply(B, '/api/v1/namespaces/b/configmaps/y', cm('y', {}));
  await all.until(2);
  await sleep(100);
  assert.deepEqual(summary(all.events), ['ADDED a/x', 'ADDED b/y']);
  assert.deepEqual(summary(onlyA.events), ['ADDED a/x']);
  // Namespaces (cluster-scoped) are watched the same way.
  const nsWatch = await openWatch(`/api/v1/namespaces?watch=1&resourceVersion=${await listRv('/api/v1/namespaces')}`);
  await apply(B, '/api/v1/namespaces/c', ns('c'));
  await nsWatch.until(1);
  assert.deepEqual(summary(nsWatch.events), ['ADDED c']);
  for (const w of [all, onlyA, nsWatch]) w.close();
});

test('every kind the server serves can be watched, with BOOKMARKs of its own kind when allowed', async () => {
  await call(B, 'POST', '/_test/config', { watch_bookmark_ms: 50 });
  const kinds = [
    ['/api/v1', 'namespaces', 'v1', 'Namespace'],
    ['/api/v1', 'resourcequotas', 'v1', 'ResourceQuota'],
    ['/api/v1', 'serviceaccounts', 'v1', 'ServiceAccount'],
    ['/api/v1', 'configmaps', 'v1', 'ConfigMap'],
    ['/apis/networking.k8s.io/v1', 'networkpolicies', 'networking.k8s.io/v1', 'NetworkPolicy'],
    ['/apis/rbac.authorization.k8s.io/v1', 'roles', 'rbac.authorization.k8s.io/v1', 'Role'],
    ['/apis/rbac.authorization.k8s.io/v1', 'rolebindings', 'rbac.authorization.k8s.io/v1', 'RoleBinding'],
    ['/apis/iam.services.k8s.aws/v1alpha1', 'roles', 'iam.services.k8s.aws/v1alpha1', 'Role'],
    ['/apis/iam.services.k8s.aws/v1alpha1', 'policies', 'iam.services.k8s.aws/v1alpha1', 'Policy'],
  ];
  for (const [prefix, plural, apiVersion, kind] of kinds) {
    const rv = await listRv(`${prefix}/${plural}`);
    const w = await openWatch(`${prefix}/${plural}?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`);
    assert.equal(w.status, 200, plural);
    const [ev] = await w.until(1);
    assert.deepEqual(ev, { type: 'BOOKMARK', object: { kind, apiVersion, metadata: { resourceVersion: rv } } }, plural);
    w.close();
  }
  // Without allowWatchBookmarks: none.
  const w = await openWatch(`/api/v1/configmaps?watch=1&resourceVersion=${await listRv('/api/v1/configmaps')}`);
  await sleep(200);
  assert.equal(w.events.length, 0);
  w.close();
});

test('a label selector is applied before and after each change: ADDED when an object starts matching, DELETED when it stops', async () => {
  await apply(B, '/api/v1/namespaces/ws', ns('ws'));
  const rv = await listRv('/api/v1/configmaps');
  const w = await openWatch(`/api/v1/configmaps?watch=1&resourceVersion=${rv}&labelSelector=${encodeURIComponent('app.kubernetes.io/managed-by=wsflyte')}`);
  const path = '/api/v1/namespaces/ws/configmaps/c';
  await apply(B, path, labelled('c', { other: 'x' }));
  await apply(B, path, labelled('c', { 'app.kubernetes.io/managed-by': 'wsflyte' }));
  await apply(B, path, { ...labelled('c', { 'app.kubernetes.io/managed-by': 'wsflyte' }), data: { a: '2' } });
  await apply(B, path, labelled('c', { other: 'y' }));
  await apply(B, path, { ...labelled('c', { other: 'y' }), data: { a: '3' } });
  await w.until(3);
  await sleep(100);
  assert.deepEqual(summary(w.events), ['ADDED ws/c', 'MODIFIED ws/c', 'DELETED ws/c']);
  assert.deepEqual(w.events[2].object.metadata.labels, { other: 'y' });
  w.close();
  const bad = await call(B, 'GET', '/api/v1/configmaps?watch=1&labelSelector=a%3D%3D%3Db');
  assert.equal(bad.status, 400);
});

test('fieldSelector metadata.name and metadata.namespace narrow a watch', async () => {
  await apply(B, '/api/v1/namespaces/ws', ns('ws'));
  const w = await openWatch('/api/v1/configmaps?watch=1&fieldSelector=metadata.name%3Dwanted,metadata.namespace%3Dws');
  await apply(B, '/api/v1/namespaces/ws/configmaps/other', cm('other', {}));
  await apply(B, '/api/v1/namespaces/ws/configmaps/wanted', cm('wanted', {}));
  await w.until(1);
  await sleep(100);
  assert.deepEqual(summary(w.events), ['ADDED ws/wanted']);
  w.close();
  assert.equal((await call(B, 'GET', '/api/v1/configmaps?watch=1&fieldSelector=spec.x%3D1')).status, 400);
});

test('timeoutSeconds ends the stream cleanly', async () => {
  const t0 = Date.now();
  const w = await openWatch('/api/v1/namespaces?watch=1&timeoutSeconds=1');
  assert.equal(await w.done, 'end');
  const took = Date.now() - t0;
  // Ended by the server's timeout, not by the test (a busy machine is slower).
  assert.ok(took >= 900 && took < 30000, `${took} ms`);
  assert.equal(w.events.length, 3); // ADDED default, flyte, kube-system
});

test('a resourceVersion older than the history: one ERROR 410 Expired, then the end; a too-old continue token: HTTP 410', async () => {
  await apply(B, '/api/v1/namespaces/ws', ns('ws'));
  const old = await listRv('/api/v1/configmaps');
  await apply(B, '/api/v1/namespaces/ws/configmaps/two', cm('two', {}));
  const page = await call(B, 'GET', '/api/v1/namespaces/ws/configmaps?limit=1');
  assert.ok(page.json.metadata.continue);
  const cfg = (await call(B, 'POST', '/_test/config', { watch_history: 2 })).json;
  for (let i = 0; i < 4; i++) await apply(B, `/api/v1/namespaces/ws/configmaps/c${i}`, cm(`c${i}`, {}));
  const oldest = Number((await call(B, 'GET', '/_test/config')).json.compacted_resource_version) + 1;
  assert.equal(cfg.watch_history, 2);
  const w = await openWatch(`/api/v1/configmaps?watch=1&resourceVersion=${old}`);
  assert.equal(w.status, 200);
  assert.equal(await w.done, 'end');
  assert.deepEqual(w.events, [{
    type: 'ERROR',
    object: {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `too old resource version: ${old} (${oldest})`, reason: 'Expired', code: 410,
    },
  }]);
  // Within the history a watch still resumes.
  const recent = await openWatch(`/api/v1/configmaps?watch=1&resourceVersion=${oldest}`);
  await recent.until(1);
  assert.deepEqual(summary(recent.events), ['ADDED ws/c3']);
  recent.close();
  const gone = await call(B, 'GET', `/api/v1/namespaces/ws/configmaps?limit=1&continue=${page.json.metadata.continue}`);
  assert.equal(gone.status, 410);
  assert.equal(gone.json.reason, 'Expired');
  assert.equal(gone.json.code, 410);
});

test('deleting a namespace: MODIFIED (terminating), DELETED for its objects, then DELETED for it', async () => {
  await apply(B, '/api/v1/namespaces/ws', ns('ws'));
  await apply(B, '/api/v1/namespaces/ws/configmaps/c', cm('c', {}));
  const nsW = await openWatch(`/api/v1/namespaces?watch=1&resourceVersion=${await listRv('/api/v1/namespaces')}`);
  const cmW = await openWatch(`/api/v1/configmaps?watch=1&resourceVersion=${await listRv('/api/v1/configmaps')}`);
  await call(B, 'DELETE', '/api/v1/namespaces/ws');
  await nsW.until(2);
  await cmW.until(2);
  assert.deepEqual(summary(nsW.events), ['MODIFIED ws', 'DELETED ws']);
  assert.equal(nsW.events[0].object.status.phase, 'Terminating');
  assert.ok(nsW.events[0].object.metadata.deletionTimestamp);
  assert.deepEqual(summary(cmW.events).sort(), ['DELETED ws/c', 'DELETED ws/kube-root-ca.crt']);
  assert.ok(Number(cmW.events[1].object.metadata.resourceVersion) < Number(nsW.events[1].object.metadata.resourceVersion));
  nsW.close();
  cmW.close();
});

test('/_test/watches counts open watches; /_test/watches/cut breaks them (or ends them cleanly)', async () => {
  const a = await openWatch('/api/v1/namespaces?watch=1');
  const b = await openWatch('/api/v1/configmaps?watch=1');
  await a.until(3);
  assert.equal((await call(B, 'GET', '/_test/watches')).json.watches, 2);
  assert.deepEqual((await call(B, 'POST', '/_test/watches/cut')).json, { cut: 2 });
  assert.equal(await a.done, 'error');
  assert.equal(await b.done, 'error');
  assert.equal((await call(B, 'GET', '/_test/watches')).json.watches, 0);
  const c = await openWatch('/api/v1/namespaces?watch=1');
  assert.deepEqual((await call(B, 'POST', '/_test/watches/cut', { how: 'end' })).json, { cut: 1 });
  assert.equal(await c.done, 'end');
  // A client that goes away is no longer counted.
  const d = await openWatch('/api/v1/namespaces?watch=1');
  d.close();
  await sleep(100);
  assert.equal((await call(B, 'GET', '/_test/watches')).json.watches, 0);
});

test('resourceVersionMatch is forbidden for watch; a list needs resourceVersion with it', async () => {
  let r = await call(B, 'GET', '/api/v1/configmaps?watch=1&resourceVersion=1&resourceVersionMatch=NotOlderThan');
  assert.equal(r.status, 422);
  assert.equal(r.json.reason, 'Invalid');
  assert.match(r.json.message, /resourceVersionMatch is forbidden for watch/);
  r = await call(B, 'GET', '/api/v1/configmaps?resourceVersionMatch=NotOlderThan');
  assert.equal(r.status, 422);
  r = await call(B, 'GET', '/api/v1/configmaps?resourceVersion=0&resourceVersionMatch=NotOlderThan');
  assert.equal(r.status, 200);
});
