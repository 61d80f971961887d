// The harness's execution clusters (Stack option `clusters`): one Kubernetes
// test server per cluster besides the control plane's, faults and request
// logs per server, a cluster made unreachable and brought back with its
// objects, per-cluster snapshots of a workspace, and kubernetes.clusters in
// the generated configuration (contract §5).  No wsflyte runs here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Stack, ROOT } from './harness.mjs';

const YAML = createRequire(join(ROOT, 'tests/servers/package.json'))('yaml');
const WS_LABELS = (id) => ({ 'app.kubernetes.io/managed-by': 'wsflyte', 'wsflyte.io/workspace': id });
let stack;

before(async () => {
  stack = await new Stack({
    clusters: ['east', { name: 'west', weight: 3 }],
    placement: { default: 'east' },
  }).start();
});

after(async () => {
  await stack?.stop();
});

async function create(server, path, obj) {
  const r = await fetch(`${stack.serverUrl(server)}${path}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(obj),
  });
  assert.equal(r.status, 201, `${server} POST ${path}: ${await r.text()}`);
}
const namespace = (name, labels) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const configMap = (name, labels) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data: { a: '1' } });
const status = (server, path = '/api/v1/namespaces') => fetch(`${stack.serverUrl(server)}${path}`).then((r) => r.status);
const refused = (url) => fetch(`${url}/api/v1/namespaces`).then(() => false, (e) => e.cause?.code === 'ECONNREFUSED');

test('one Kubernetes test server per cluster, apart from the control plane', async () => {
  assert.deepEqual(stack.clusterNames, ['east', 'west']);
  const urls = [stack.kubeUrl, stack.clusters.east.url, stack.clusters.west.url];
  assert.equal(new Set(urls).size, 3);
  for (const url of urls) assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  for (const server of ['kube', 'east', 'west']) {
    const r = await fetch(`${stack.serverUrl(server)}/api/v1/namespaces`);
    assert.equal(r.status, 200);
    assert.deepEqual((await r.json()).items.map((n) => n.metadata.name), ['default', 'flyte', 'kube-system']);
  }
  await create('east', '/api/v1/namespaces', namespace('only-east'));
  assert.equal(await status('east', '/api/v1/namespaces/only-east'), 200);
  assert.equal(await status('west', '/api/v1/namespaces/only-east'), 404);
  assert.equal(await status('kube', '/api/v1/namespaces/only-east'), 404);
  assert.throws(() => stack.serverUrl('north'), /no server "north"/);
});

test('the generated configuration has kubernetes.clusters and placement as in the contract', () => {
  const doc = YAML.parse(readFileSync(stack.configPath, 'utf8'));
  assert.equal(doc.kubernetes.api_url, stack.kubeUrl, 'api_url stays the control plane');
  assert.deepEqual(doc.kubernetes.clusters, [
    { name: 'east', api_url: stack.clusters.east.url, token_file: '', ca_file: '', qps: 2000, burst: 4000, weight: 1, oidc_provider: '' },
    { name: 'west', api_url: stack.clusters.west.url, token_file: '', ca_file: '', qps: 2000, burst: 4000, weight: 3, oidc_provider: '' },
  ]);
  assert.deepEqual(doc.kubernetes.placement, { label: 'flyte-cluster', default: 'east' });
  // an unpaced stack (config.qps 0) leaves every cluster unpaced too
  const saved = stack.opts.config;
  stack.opts.config = { qps: 0 };
  try {
    const unpaced = YAML.parse(stack.configYaml());
    assert.deepEqual(unpaced.kubernetes.clusters.map((c) => [c.name, c.qps]), [['east', 0], ['west', 0]]);
    assert.equal(unpaced.kubernetes.qps, 0);
  } finally {
    stack.opts.config = saved;
    stack.configYaml();
  }
});

test('a stack without clusters writes neither clusters nor placement; bad cluster names are refused', async () => {
  const plain = new Stack();
  try {
    const doc = YAML.parse(plain.configYaml());
    assert.equal(doc.kubernetes.clusters, undefined);
    assert.equal(doc.kubernetes.placement, undefined);
    assert.deepEqual(plain.clusterNames, []);
  } finally {
    await plain.stop();
  }
  assert.throws(() => new Stack({ clusters: ['kube'] }), /taken by the stack's own server/);
  assert.throws(() => new Stack({ clusters: ['east', 'east'] }), /given twice/);
  assert.throws(() => new Stack({ clusters: ['East_1'] }), /not a DNS label/);
});

test('faults and request logs are per cluster', async () => {
  await stack.clearRequests();
  const id = await stack.fault('east', { path: '/api/v1/namespaces', status: 503 });
  assert.equal(typeof id, 'number');
  assert.equal(await status('east'), 503);
  assert.equal(await status('west'), 200);
  assert.equal(await status('kube'), 200);
  await stack.fault('kube', { path: '/api/v1/namespaces', status: 429, retry_after: 1 });
  assert.equal(await status('kube'), 429);
  assert.equal(await status('west'), 200);
  await stack.clearFaults('east');
  assert.equal(await status('east'), 200);
  assert.equal(await status('kube'), 429, 'clearing one server leaves the others');
  await stack.clearFaults();
  assert.equal(await status('kube'), 200);
  await assert.rejects(stack.fault('north', { status: 500 }), /no server "north"/);
  const east = await stack.clusterRequests('east');
  assert.deepEqual(east.map((r) => r.status), [503, 200]);
  assert.deepEqual((await stack.clusterRequests('west')).map((r) => r.status), [200, 200]);
  assert.deepEqual((await stack.kubeRequests()).map((r) => r.status), [200, 429, 429, 200]);
  await stack.clearRequests('east');
  assert.deepEqual(await stack.clusterRequests('east'), []);
  assert.equal((await stack.clusterRequests('west')).length, 2);
});

test('a stopped cluster refuses connections; started again, it is back on its port with its objects', async () => {
  await create('west', '/api/v1/namespaces', namespace('kept-west'));
  const url = stack.clusters.west.url;
  await stack.stopCluster('west');
  assert.equal(stack.clusters.west.up, false);
  assert.ok(await refused(url), 'west refuses connections while stopped');
  assert.equal(await status('east'), 200, 'east goes on');
  assert.equal(await status('kube'), 200);
  await stack.startCluster('west');
  assert.equal(stack.clusters.west.up, true);
  assert.equal(stack.clusters.west.url, url);
  assert.equal(await status('west', '/api/v1/namespaces/kept-west'), 200);
  await assert.rejects(stack.stopCluster('north'), /no cluster north/);
});

// The test server, like a cluster's controllers, adds a ServiceAccount
// "default" and a ConfigMap "kube-root-ca.crt" to every namespace: they are in
// the snapshot too, as everything in the workspace's namespaces is.
test('snapshotCluster: a workspace\'s objects on one cluster, none of a workspace whose id it prefixes', async () => {
  const domains = ['development', 'staging', 'production'];
  for (const d of domains) {
    await create('east', '/api/v1/namespaces', namespace(`ws-a-${d}`, WS_LABELS('ws-a')));
    await create('east', `/api/v1/namespaces/ws-a-${d}/configmaps`, configMap('settings', WS_LABELS('ws-a')));
  }
  await create('east', '/api/v1/namespaces/ws-a-development/configmaps', configMap('unlabelled'));
  // ws-a-b's namespaces begin with "ws-a-": they are not ws-a's
  await create('east', '/api/v1/namespaces', namespace('ws-a-b-development', WS_LABELS('ws-a-b')));
  await create('west', '/api/v1/namespaces', namespace('ws-a-b-staging', WS_LABELS('ws-a-b')));
  // the authz ConfigMap lives on the control plane, whatever the workspace's cluster
  await create('kube', '/api/v1/namespaces/flyte/configmaps', configMap('wsflyte-authz-ws-a', WS_LABELS('ws-a')));

  const east = await stack.snapshotCluster('east', 'ws-a');
  assert.equal(east.cluster, 'east');
  assert.deepEqual(east.namespaces, domains.map((d) => `ws-a-${d}`).sort());
  assert.deepEqual(east.objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort(), [
    ...domains.flatMap((d) => [`ConfigMap/ws-a-${d}/settings`, `ConfigMap/ws-a-${d}/kube-root-ca.crt`,
      `ServiceAccount/ws-a-${d}/default`, `Namespace//ws-a-${d}`]),
    'ConfigMap/ws-a-development/unlabelled'].sort());
  const west = await stack.snapshotCluster('west', 'ws-a');
  assert.deepEqual(west, { cluster: 'west', namespaces: [], objects: [] });
  const control = await stack.snapshotCluster('kube', 'ws-a');
  assert.deepEqual(control.objects.map((o) => o.metadata.name), ['wsflyte-authz-ws-a']);
  assert.deepEqual(control.namespaces, []);
  assert.deepEqual(await stack.clustersOf('ws-a'), ['east']);
  assert.deepEqual(await stack.clustersOf('ws-a-b'), ['east', 'west']);
  assert.deepEqual(await stack.clustersOf('ws-none'), []);
  // a stopped cluster is skipped by clustersOf and fails a snapshot
  await stack.stopCluster('east');
  try {
    assert.deepEqual(await stack.clustersOf('ws-a-b'), ['west']);
    await assert.rejects(stack.snapshotCluster('east', 'ws-a'));
  } finally {
    await stack.startCluster('east');
  }
  assert.equal((await stack.snapshotCluster('east', 'ws-a')).objects.length, 13);
});

test('snapshotCluster follows the configuration\'s namespace template and domains', async () => {
  const saved = stack.opts.editConfig;
  stack.opts.editConfig = (doc) => {
    doc.kubernetes.namespace_template = 'team-{{ project }}-{{ domain }}';
    doc.flyte.domains = ['dev'];
  };
  try {
    stack.configYaml();
    assert.deepEqual(stack.workspaceNamespaces('ws-t'), ['team-ws-t-dev']);
    await create('west', '/api/v1/namespaces', namespace('team-ws-t-dev'));
    await create('west', '/api/v1/namespaces/team-ws-t-dev/configmaps', configMap('c'));
    const s = await stack.snapshotCluster('west', 'ws-t');
    assert.deepEqual(s.namespaces, ['team-ws-t-dev']);
    assert.deepEqual(s.objects.map((o) => o.metadata.name).sort(), ['c', 'default', 'kube-root-ca.crt', 'team-ws-t-dev']);
  } finally {
    stack.opts.editConfig = saved;
    stack.configYaml();
  }
});
