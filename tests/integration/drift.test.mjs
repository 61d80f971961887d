// Continuous reconciliation (CONTRACT §3): with reconcile.watch on and a
// 5 s resync interval, drift made by another writer is repaired without an
// event:
//   - Kubernetes (through the watch, within 10 s): the development
//     namespace's NetworkPolicy deleted, a member's RoleBinding deleted,
//     the ResourceQuota's pods raised, workspace-viewer widened to */*/*;
//   - FlyteAdmin (by the first pass whose listing shows it, within two
//     intervals: the next pass begins within 1.1, and feeds the workspace
//     within 0.9 more): the project
//     archived and renamed, a domain's attributes replaced;
// each repair is counted (wsflyte_drift_repairs_total), logged with the
// object and the other writer, and produces no result event.  A pass reads
// FlyteAdmin by the page: at rest (10 workspaces, 3 passes) nothing is
// written and FlyteAdmin sees at most ceil(N/100) + 2 list requests per
// pass; only a workspace whose listed copy differs is read on its own (all
// of them when the listing fails).  A watch stream cut in the middle and a
// forced 410 relist miss no change; objects of workspaces this replica does
// not own are never touched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, waitFor, sleep, healthPort } from './harness.mjs';

const RESYNC_MS = 5000;
// A change to FlyteAdmin made just after a pass listed it shows in the next
// pass's listing, and is repaired at the workspace's turn in that pass.
const FLYTE_REPAIR_MS = 2 * RESYNC_MS * 1.1 + 2000;
const WATCH = process.env.WSFLYTE_DRIFT_WATCH !== '0';
const WS = 'ws-drift';
// The kinds wsflyte watches (reconcile.watch, ACK off): one stream each.
const KINDS = 8;
const OTHERS = Array.from({ length: 9 }, (_, i) => `ws-rest-${i}`);
const people = [
  { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' },
  { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' },
  { user_id: 'charlie', email: 'charlie@company.com', role: 'VIEWER' },
];
const MANAGER = 'drift-test';
let stack, consumer, port, resultsBefore;

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const paths = {
  netpol: `/apis/networking.k8s.io/v1/namespaces/${WS}-development/networkpolicies/workspace-isolation`,
  quota: `/api/v1/namespaces/${WS}-staging/resourcequotas/workspace-quota`,
  viewer: `${RBAC}/namespaces/${WS}-production/roles/workspace-viewer`,
};

async function kube(method, path, body, contentType = 'application/merge-patch+json') {
  const q = method === 'PATCH' || method === 'PUT' ? `?fieldManager=${MANAGER}` : '';
  const r = await fetch(`${stack.kubeUrl}${path}${q}`, {
    method, headers: { 'X-Request-Id': MANAGER, ...(body ? { 'Content-Type': contentType } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
const get = async (path) => {
  const r = await fetch(`${stack.kubeUrl}${path}`);
  return r.status === 404 ? null : r.json();
};
const project = async () => (await (await fetch(`${stack.flyteUrl}/api/v1/projects/${WS}`,
  { headers: { Accept: 'application/json' } })).json());

async function metric(name, labels) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

const logText = () => stack.logs.join('');

// Polls until ok(); answers the milliseconds it took.
async function repairedWithin(what, ok, limitMs) {
  const t0 = Date.now();
  const done = await waitFor(ok, limitMs, 50);
  const ms = Date.now() - t0;
  assert.ok(done, `${what} not repaired within ${limitMs} ms\n${logText().slice(-4000)}`);
  return ms;
}

const passCount = () => (logText().match(/resync: pass over/g) || []).length;

// Waits until a resync pass has begun and ended since now: two more begin.
async function fullPass() {
  const from = passCount();
  assert.ok(await waitFor(() => passCount() - from >= 2, 2 * RESYNC_MS + 5000, 100),
    `no full resync pass\n${logText().slice(-3000)}`);
}

async function resetLogs() {
  await Promise.all([stack.flyteUrl, stack.kubeUrl].map((u) => fetch(`${u}/_test/requests`, { method: 'DELETE' })));
}

// API requests since resetLogs, per server and method (health probes left out).
async function requestCounts() {
  const count = (log) => log.filter((r) => r.path !== '/healthcheck' && r.path !== '/version')
    .reduce((m, r) => ({ ...m, [r.method]: (m[r.method] || 0) + 1 }), {});
  const [f, k] = [await stack.flyteRequests(), await stack.kubeRequests()];
  return { flyte: count(f), kube: count(k), kubeLog: k, flyteLog: f };
}

before(async () => {
  stack = await new Stack({
    partitions: 2, config: { concurrency: 4 },
    editConfig: (doc) => { doc.reconcile = { watch: WATCH, resync_interval: `${RESYNC_MS / 1000}s` }; },
  }).start();
  consumer = stack.startNamedConsumer('c0');
  port = await healthPort(stack);
  const events = [makeEvent({ workspace: WS, members: people }),
    ...OTHERS.map((w) => makeEvent({ workspace: w }))];
  await stack.produceEvents(events, 'json');
  const results = await stack.results(events.length, 60);
  for (const e of events) assert.equal(results.find((r) => r.event_id === e.event_id)?.status, 'SUCCEEDED', e.event_id);
  resultsBefore = (await stack.readTopic('workspace.provisioning.v1')).length;
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0);
  await stack?.stop();
});

// FlyteAdmin requests that list (ListProjects pages, ListMatchableAttributes).
const isList = (r) => r.method === 'GET' && (r.path === '/api/v1/projects' || r.path === '/api/v1/matchable_attributes');
// At most per pass for N owned workspaces at rest: the project pages (100
// a page, one more, empty, after a full last page) and the attributes.
const listBound = (n) => Math.ceil(n / 100) + 2;

test('at rest nothing is written and FlyteAdmin sees at most ceil(N/100)+2 requests per pass', async (t) => {
  await sleep(1000); // the first pass after provisioning may still run
  await resetLogs();
  const passesBefore = passCount();
  // Three passes begin (timers: about 3 * RESYNC_MS on any machine).
  await waitFor(() => passCount() - passesBefore >= 3, 3 * RESYNC_MS + 5000, 100);
  const c = await requestCounts();
  const passes = passCount() - passesBefore;
  t.diagnostic(`over ${passes} passes: flyte ${JSON.stringify(c.flyte)}, kube ${JSON.stringify(c.kube)}`);
  assert.ok(passes >= 2, `passes: ${passes}`);
  for (const m of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    assert.equal(c.flyte[m] || 0, 0, `flyte ${m}`);
    assert.equal(c.kube[m] || 0, 0, `kube ${m}`);
  }
  const n = 1 + OTHERS.length;
  assert.ok((c.flyte.GET || 0) <= listBound(n) * (passes + 1), `flyte reads ${c.flyte.GET} over ${passes} passes`);
  // Every pass lists (projects and attributes); no workspace is read on its own.
  assert.ok((c.flyte.GET || 0) >= 2 * (passes - 1), `flyte reads ${c.flyte.GET}: every pass lists`);
  assert.deepEqual(c.flyteLog.filter((r) => r.path !== '/healthcheck' && !isList(r)).map((r) => `${r.method} ${r.path}`), []);
  if (WATCH) {
    // Kubernetes: no read per workspace, only LISTs (a relist per pass) and watches.
    const perObject = c.kubeLog.filter((r) => r.method === 'GET' && !r.query.labelSelector && r.path !== '/version');
    assert.deepEqual(perObject.map((r) => r.path), []);
  }
});

test('drift made by another writer is repaired without an event', async (t) => {
  const repairsLogged = () => logText().split('\n').filter((l) => l.includes('drift repaired'));
  const bindings = (await stack.kubeState()).objects
    .filter((o) => o.kind === 'RoleBinding' && o.metadata.namespace === `${WS}-development`);
  const bob = bindings.find((b) => b.subjects?.some((s) => s.name === 'bob'));
  assert.ok(bob, 'bob has a binding in development');
  const bobPath = `${RBAC}/namespaces/${WS}-development/rolebindings/${bob.metadata.name}`;

  await kube('DELETE', paths.netpol);
  let ms = await repairedWithin('NetworkPolicy', async () => (await get(paths.netpol)) !== null, 10000);
  t.diagnostic(`NetworkPolicy deleted -> re-created in ${ms} ms`);

  await kube('DELETE', bobPath);
  ms = await repairedWithin('RoleBinding', async () => (await get(bobPath)) !== null, 10000);
  t.diagnostic(`member RoleBinding deleted -> re-created in ${ms} ms`);

  await kube('PATCH', paths.quota, { spec: { hard: { pods: '100000' } } });
  ms = await repairedWithin('ResourceQuota', async () => (await get(paths.quota))?.spec.hard.pods === '100', 10000);
  t.diagnostic(`ResourceQuota pods raised -> restored in ${ms} ms`);

  await kube('PATCH', paths.viewer, { rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] });
  ms = await repairedWithin('Role', async () => {
    const r = await get(paths.viewer);
    return r && !r.rules.some((x) => x.verbs.includes('*'));
  }, 10000);
  t.diagnostic(`workspace-viewer widened -> restored in ${ms} ms`);

  const p = await project();
  const put = await fetch(`${stack.flyteUrl}/api/v1/projects/${WS}`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ id: p.id, description: p.description, labels: p.labels, name: 'Renamed by someone', state: 'ARCHIVED' }),
  });
  assert.ok(put.ok, await put.text());
  ms = await repairedWithin('Flyte project', async () => {
    const now = await project();
    return now.name === `Flyte - Workspace ${WS}` && (now.state ?? 'ACTIVE') === 'ACTIVE';
  }, FLYTE_REPAIR_MS);
  t.diagnostic(`Flyte project archived and renamed -> restored in ${ms} ms`);

  // The project is written before its repair is logged and counted.
  const projectLogged = new RegExp(`drift repaired: Project ${WS}: .*ARCHIVED`);
  assert.ok(await waitFor(async () => projectLogged.test(logText()) &&
    await metric('wsflyte_drift_repairs_total', { api: 'flyte', kind: 'Project' }) >= 1, 10000, 50),
  `project repair not logged and counted\n${logText().slice(-3000)}`);
  for (const [api, kind] of [['k8s', 'NetworkPolicy'], ['k8s', 'RoleBinding'], ['k8s', 'ResourceQuota'],
    ['k8s', 'Role'], ['flyte', 'Project']])
    assert.ok(await metric('wsflyte_drift_repairs_total', { api, kind }) >= 1, `${api} ${kind} counted`);
  const lines = repairsLogged();
  const line = (s) => lines.find((l) => l.includes(s)) || '';
  assert.match(line(`NetworkPolicy ${WS}-development/workspace-isolation`), /deleted \(changed by unknown\)/);
  assert.match(line(`ResourceQuota ${WS}-staging/workspace-quota`), new RegExp(`pods: "100(000|k)" -> "100" \\(changed by ${MANAGER}\\)`));
  assert.match(line(`Role ${WS}-production/workspace-viewer`), new RegExp(`rules.*changed by ${MANAGER}`));
  assert.match(line(`Project ${WS}`), /ARCHIVED/);
  // Repairs answer nobody: no result event.
  assert.equal((await stack.readTopic('workspace.provisioning.v1')).length, resultsBefore);
});

test("a domain's attributes replaced by another writer are repaired by the next pass; an unchanged fleet is only listed", async (t) => {
  const attrsPath = `/api/v1/project_domain_attributes/${WS}/staging`;
  const attrs = async () => (await (await fetch(`${stack.flyteUrl}${attrsPath}?resource_type=WORKFLOW_EXECUTION_CONFIG`,
    { headers: { Accept: 'application/json', 'X-Request-Id': MANAGER } })).json()).attributes.matching_attributes;
  const want = await attrs();
  await resetLogs();
  const put = await fetch(`${stack.flyteUrl}${attrsPath}`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-Request-Id': MANAGER },
    body: JSON.stringify({ attributes: { project: WS, domain: 'staging',
      matching_attributes: { workflow_execution_config: { max_parallelism: 99 } } } }),
  });
  assert.ok(put.ok, await put.text());
  const ms = await repairedWithin('attributes', async () => JSON.stringify(await attrs()) === JSON.stringify(want),
    FLYTE_REPAIR_MS);
  t.diagnostic(`staging attributes replaced -> restored in ${ms} ms`);
  // The attributes are written before the repair is counted and logged.
  const logged = new RegExp(`drift repaired: ProjectDomainAttributes ${WS}/staging: matching_attributes\\.workflow_execution_config`);
  assert.ok(await waitFor(async () => logged.test(logText()) &&
    await metric('wsflyte_drift_repairs_total', { api: 'flyte', kind: 'ProjectDomainAttributes' }) >= 1, 10000, 50),
  `attributes repair not counted and logged\n${logText().slice(-3000)}`);
  // Only the workspace that differs was read on its own (before its write).
  const own = (await stack.flyteRequests()).filter((r) => r.headers.request_id !== MANAGER &&
    r.path !== '/healthcheck' && !isList(r) && r.method === 'GET');
  assert.ok(own.length > 0);
  assert.deepEqual([...new Set(own.map((r) => r.path.split('/')[4]))], [WS]);

  await fullPass();
  await resetLogs();
  await fullPass();
  const c = await requestCounts();
  t.diagnostic(`a pass over the unchanged fleet: flyte ${JSON.stringify(c.flyte)}`);
  const log = c.flyteLog.filter((r) => r.path !== '/healthcheck');
  assert.deepEqual(log.filter((r) => !isList(r)).map((r) => `${r.method} ${r.path}`), []);
  assert.ok(log.some((r) => r.path === '/api/v1/projects' && r.query.filters === 'value_in(state,0;1;2;3)'
    && r.query['sort_by.key'] === 'identifier' && r.query['sort_by.direction'] === 'ASCENDING'));
  assert.ok(log.some((r) => r.path === '/api/v1/matchable_attributes' && r.query.resource_type === 'WORKFLOW_EXECUTION_CONFIG'));
});

test('a pass whose listing fails reads each workspace on its own, as before', async () => {
  await stack.fault('flyte', { path: '^/api/v1/matchable_attributes$', method: 'GET', status: 503, count: 1 });
  await resetLogs();
  await fullPass();
  assert.match(logText(), /resync: listing FlyteAdmin failed: .*503.*; this pass reads each workspace's project and attributes/);
  const c = await requestCounts();
  const read = new Set(c.flyteLog.filter((r) => r.method === 'GET' && /^\/api\/v1\/projects\/[^/]+$/.test(r.path))
    .map((r) => r.path.split('/')[4]));
  assert.deepEqual([...read].sort(), [WS, ...OTHERS].sort());
  for (const m of ['POST', 'PUT', 'DELETE']) assert.equal(c.flyte[m] || 0, 0, `flyte ${m}`);
});

test("wsflyte's own writes cause no repair", async () => {
  const total = async () => (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).split('\n')
    .filter((l) => l.startsWith('wsflyte_drift_repairs_total{')).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  const repairs = await total(), lines = logText().split('drift repaired').length;
  // bob leaves and the quota changes: bindings deleted, quotas and the authz ConfigMap rewritten.
  const e = makeEvent({ workspace: WS, version: 2, type: 'MEMBERS_CHANGED', members: people.filter((m) => m.user_id !== 'bob') });
  e.workspace.quota = { requests_cpu: '8', requests_memory: '16Gi', limits_cpu: '16', limits_memory: '32Gi', pods: 50, persistent_volume_claims: 5 };
  await stack.produceEvents([e], 'json');
  assert.equal((await stack.resultOf(e.event_id, 1000)).status, 'SUCCEEDED');
  assert.equal((await get(paths.quota)).spec.hard.pods, '50');
  await fullPass(); // after the watch events of those writes
  assert.equal(await total(), repairs, 'no repair counted');
  assert.equal(logText().split('drift repaired').length, lines, 'no repair logged');
});

test('a change right after a watch stream is cut is still repaired', { skip: !WATCH && 'needs the watch' }, async (t) => {
  // Every kind's stream is open (one may be between two streams: a
  // timeout, or the previous test's cut), then all of them are cut.
  const open = async () => (await (await fetch(`${stack.kubeUrl}/_test/watches`)).json()).watches;
  const all = await waitFor(async () => (await open()) >= KINDS, 30000, 50);
  assert.ok(all, `watch streams open: ${await open()} of ${KINDS}`);
  const cut = await (await fetch(`${stack.kubeUrl}/_test/watches/cut`, { method: 'POST', body: JSON.stringify({ how: 'reset' }) })).json();
  assert.ok(cut.cut >= 1, `streams cut: ${cut.cut}`);
  await kube('PATCH', paths.quota, { spec: { hard: { pods: '7777' } } });
  const ms = await repairedWithin('ResourceQuota after a cut', async () => (await get(paths.quota))?.spec.hard.pods === '50', 10000);
  t.diagnostic(`watch cut, quota changed at once -> restored in ${ms} ms`);
});

test('a change made while the watch was gone is repaired by the next relist', { skip: !WATCH && 'needs the watch' }, async (t) => {
  const count = (re) => (logText().match(re) || []).length;
  const gone = /NetworkPolicy: .*is gone \(410\): relisting/g, listed = /watch NetworkPolicy: listed /g;
  const before = { gone: count(gone), listed: count(listed) };
  // No history: every resume point is too old.  The NetworkPolicy watch
  // (and its list) fail for a moment, so the deletion happens while no
  // NetworkPolicy watch runs.
  await fetch(`${stack.kubeUrl}/_test/config`, { method: 'POST', body: JSON.stringify({ watch_history: 0 }) });
  await stack.fault('kube', { path: '/apis/networking.k8s.io/v1/networkpolicies', method: 'GET', status: 503, count: 2 });
  await fetch(`${stack.kubeUrl}/_test/watches/cut`, { method: 'POST', body: JSON.stringify({ how: 'reset' }) });
  await kube('DELETE', paths.netpol);
  const ms = await repairedWithin('NetworkPolicy after a 410', async () => (await get(paths.netpol)) !== null, 10000);
  // The stream comes back with a resume point the server no longer has
  // (410), unless the next resync pass relisted first; either way the
  // deletion is found by a LIST, not by a watch event.  (test_kwatch
  // covers the 410 path alone.)
  const by = count(gone) > before.gone ? 'a 410 relist' : 'a resync relist';
  t.diagnostic(`deleted while the watch was gone -> re-created in ${ms} ms, by ${by}`);
  assert.ok(count(listed) > before.listed, 'the NetworkPolicies were listed again');
  await fetch(`${stack.kubeUrl}/_test/config`, { method: 'POST', body: JSON.stringify({ watch_history: 10000 }) });
  await stack.clearFaults();
});

test('objects of workspaces this replica does not own, or not rendered for a workspace, are never touched', async () => {
  const labels = (ws) => ({ 'app.kubernetes.io/managed-by': 'wsflyte', 'wsflyte.io/workspace': ws });
  const cm = (ns, name, ws) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels: labels(ws) }, data: { a: '1' } });
  const apply = (path, body) => kube('PATCH', path, body, 'application/apply-patch+yaml');
  // A namespace and ConfigMap labelled for a workspace with no record here,
  // and a ConfigMap labelled for an owned workspace under a name wsflyte
  // does not render.
  await apply('/api/v1/namespaces/ws-nobody-development', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ws-nobody-development', labels: labels('ws-nobody') } });
  const foreign = [
    ['/api/v1/namespaces/ws-nobody-development/configmaps/extra', cm('ws-nobody-development', 'extra', 'ws-nobody')],
    [`/api/v1/namespaces/${WS}-development/configmaps/extra`, cm(`${WS}-development`, 'extra', WS)],
  ];
  for (const [path, body] of foreign) await apply(path, body);
  await resetLogs();
  for (const [path] of foreign) await kube('PATCH', path, { data: { a: '2' } });
  await kube('DELETE', foreign[0][0]);
  await fullPass(); // after a watch event each
  const log = await stack.kubeRequests();
  const touched = log.filter((r) => (r.path.includes('ws-nobody') || r.path.endsWith('/configmaps/extra')) &&
    r.headers.request_id !== MANAGER && r.method !== 'GET');
  assert.deepEqual(touched.map((r) => `${r.method} ${r.path}`), []);
  assert.equal(await get(foreign[0][0]), null, 'the deleted one stays deleted');
  assert.equal((await get(foreign[1][0])).data.a, '2', 'the other keeps its change');
});
