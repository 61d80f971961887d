// Workspaces across execution clusters (CONTRACT §3-5): two execution
// clusters, east (weight 1) and west (weight 3), besides the control plane.
//   - placement by the workspace label flyte-cluster, by placement.default
//     and by weight: the namespaces on one cluster only, the
//     EXECUTION_CLUSTER_LABEL attributes naming it in every domain, the authz
//     ConfigMap on the control plane; weights 1:0 put every workspace on the
//     first cluster;
//   - a move (the label changed): everything on the new cluster, the
//     attributes switched, the old cluster's namespaces deleted after the new
//     ones were created;
//   - no state record: a label naming another cluster than the Flyte
//     project's moves the workspace (as the diff shows);
//   - a move refused part way, then set back: what it made on the new
//     cluster is deleted (the write-ahead mark names the new cluster);
//   - a label naming no cluster: FAILED VALIDATION placement.unknown-cluster,
//     dead-lettered, nothing written;
//   - drift on either cluster (and on the control plane) repaired by the
//     watch of that API server; a resync pass at rest asks FlyteAdmin only
//     for its lists (EXECUTION_CLUSTER_LABEL's too);
//   - metrics: wsflyte_api_requests_total, wsflyte_api_throttled_total and
//     wsflyte_drift_repairs_total with a cluster label per API server;
//   - the tools per cluster: wsflyte-render --diff reads each object where
//     the service would (and shows a move), wsflyte-status shows and reads
//     the record's cluster, wsflyte-audit lists every cluster (a workspace's
//     namespace on the other cluster is an orphan there);
//   - a move with the old cluster down keeps moving_from (wsflyte-status
//     shows it); a deletion then also deletes the namespaces left there;
//   - west unreachable: its workspace retried while an east one succeeds;
//     west back, it converges.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, run, bin, waitFor, healthPort } from './harness.mjs';

const DLT = 'workspace.lifecycle.v1.wsflyte.dlt';
const RETRY2 = 'workspace.lifecycle.v1.wsflyte.retry-2s';
const STATE = 'workspace.lifecycle.v1.wsflyte.state';
const DOMAINS = ['development', 'staging', 'production'];
const CLUSTERS = ['east', 'west'];
const LABEL = 'flyte-cluster';
let stack, consumer;
// Where the running consumer's log starts in stack.logs (its health port is
// the first one logged from there): a test restarts it.
let consumerLogsFrom = 0;

before(async () => {
  stack = await new Stack({ clusters: ['east', { name: 'west', weight: 3 }] }).start();
  consumer = stack.startConsumer();
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0, 'wsflyte exits 0 on SIGTERM');
  await stack?.stop();
});

// A WORKSPACE_CREATED (or type) event of workspace id at version v, with
// workspace labels.
function event(id, v, labels = {}, type = 'WORKSPACE_CREATED') {
  return {
    event_id: `${id}-v${v}-${type}`, event_type: type, occurred_at: 1764316800000 + v,
    workspace_version: v, actor: 'platform', service: null,
    workspace: {
      workspace_id: id, workspace_name: `Workspace ${id}`, services: ['flyte'],
      members: [{ user_id: 'alice', email: 'alice@company.com', role: 'OWNER' }],
      data_bucket: `${id}-data`, quota: null, labels,
    },
  };
}

// The result of eventId, once it is on the results topic.
async function resultOf(s, eventId, limitMs = 60000) {
  const r = await waitFor(async () => (await s.allResults()).find((x) => x.event_id === eventId), limitMs, 300);
  assert.ok(r, `no result for ${eventId}\n${s.logs.join('').slice(-4000)}`);
  return r;
}

// Publishes events and answers their results, in order.
async function send(s, events) {
  await s.produceEvents(events, 'json');
  const out = [];
  for (const e of events) out.push(await resultOf(s, e.event_id));
  return out;
}

// The EXECUTION_CLUSTER_LABEL value per domain of project id.
async function clusterLabels(s, id) {
  const { attributes } = await s.flyteState();
  return DOMAINS.map((d) => attributes.find((a) => a.project === id && a.domain === d &&
    a.resource_type === 'EXECUTION_CLUSTER_LABEL')?.attributes.execution_cluster_label?.value ?? null);
}

// Asserts workspace id provisioned on cluster `on` only: its namespaces there
// (live), nothing of it on the other clusters or among the control plane's
// namespaces, the attributes naming `on`, the authz ConfigMap on the control
// plane.  A stopped cluster is not looked at.
async function assertPlaced(s, id, on) {
  const here = await s.snapshotCluster(on, id);
  assert.deepEqual(here.namespaces, s.workspaceNamespaces(id).sort(), `${id}: namespaces on ${on}`);
  for (const ns of here.objects.filter((o) => o.kind === 'Namespace')) {
    assert.equal(ns.metadata.deletionTimestamp, undefined, `${ns.metadata.name} on ${on} is live`);
  }
  for (const kind of ['ResourceQuota', 'NetworkPolicy', 'RoleBinding', 'Role', 'ServiceAccount']) {
    assert.ok(here.objects.some((o) => o.kind === kind && o.metadata.labels?.['wsflyte.io/workspace'] === id),
      `${id}: a ${kind} on ${on}`);
  }
  for (const other of s.clusterNames.filter((c) => c !== on && s.clusters[c].up)) {
    assert.deepEqual((await s.snapshotCluster(other, id)).objects, [], `${id}: nothing on ${other}`);
  }
  const cp = await s.snapshotCluster('kube', id);
  assert.deepEqual(cp.namespaces, [], `${id}: no namespace on the control plane`);
  assert.deepEqual(cp.objects.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`),
    [`ConfigMap flyte/wsflyte-authz-${id}`], `${id}: the authz ConfigMap on the control plane`);
  assert.deepEqual(await clusterLabels(s, id), DOMAINS.map(() => on), `${id}: EXECUTION_CLUSTER_LABEL`);
}

// The clusters holding workspace id's namespaces.
async function namespacesOn(s, id) {
  const out = [];
  for (const c of s.clusterNames) if ((await s.snapshotCluster(c, id)).namespaces.length) out.push(c);
  return out;
}

test('placement by label: the namespaces only on the labelled cluster, attributes naming it', async () => {
  const [e, w] = await send(stack, [event('ws-lab-east', 1, { [LABEL]: 'east' }),
    event('ws-lab-west', 1, { [LABEL]: 'west' })]);
  assert.equal(e.status, 'SUCCEEDED', JSON.stringify(e));
  assert.equal(w.status, 'SUCCEEDED', JSON.stringify(w));
  assert.deepEqual([...e.namespaces].sort(), stack.workspaceNamespaces('ws-lab-east').sort());
  await assertPlaced(stack, 'ws-lab-east', 'east');
  await assertPlaced(stack, 'ws-lab-west', 'west');
  const p = (await stack.flyteState()).projects.find((x) => x.id === 'ws-lab-west');
  assert.equal(p.labels.values['wsflyte-cluster'], 'west');
  // Placing a workspace without a record reads its project: the event's
  // guard takes that read over instead of asking again.
  const gets = (await stack.flyteRequests()).filter((q) => q.method === 'GET' && q.path === '/api/v1/projects/ws-lab-west');
  assert.equal(gets.length, 1, JSON.stringify(gets.map((q) => q.path)));
});

test('placement by weight: each workspace on exactly one cluster, the attributes naming it', async (t) => {
  const ids = Array.from({ length: 6 }, (_, i) => `ws-weight-${i}`);
  const rs = await send(stack, ids.map((id) => event(id, 1)));
  for (const r of rs) assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  const seen = {};
  for (const id of ids) {
    const on = await namespacesOn(stack, id);
    assert.equal(on.length, 1, `${id} on ${on}`);
    await assertPlaced(stack, id, on[0]);
    seen[on[0]] = (seen[on[0]] || 0) + 1;
  }
  // Placement is sticky: the next event keeps each where it is.
  const again = await send(stack, ids.map((id) => event(id, 2, {}, 'MEMBERS_CHANGED')));
  for (const r of again) assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  for (const id of ids) assert.equal((await namespacesOn(stack, id)).length, 1, id);
  t.diagnostic(`by weight: ${JSON.stringify(seen)}`);
});

test('a move: everything on the new cluster before the old namespaces are deleted', async () => {
  const id = 'ws-move';
  assert.equal((await send(stack, [event(id, 1, { [LABEL]: 'east' })]))[0].status, 'SUCCEEDED');
  await assertPlaced(stack, id, 'east');
  await stack.clearRequests();
  const [r] = await send(stack, [event(id, 2, { [LABEL]: 'west' }, 'MEMBERS_CHANGED')]);
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.deepEqual([...r.namespaces].sort(), stack.workspaceNamespaces(id).sort());

  // Nothing of it left on east but terminating namespaces and their content.
  const east = await stack.snapshotCluster('east', id);
  const terminating = new Set(east.objects.filter((o) => o.kind === 'Namespace' && o.metadata.deletionTimestamp)
    .map((o) => o.metadata.name));
  for (const o of east.objects) {
    assert.ok(terminating.has(o.kind === 'Namespace' ? o.metadata.name : o.metadata.namespace),
      `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name} left on east`);
  }
  // No moment without namespaces: each created on west before any delete on east.
  const names = new Set(stack.workspaceNamespaces(id));
  const created = (await stack.clusterRequests('west')).filter((q) => q.method !== 'GET' && q.status < 300 &&
    /^\/api\/v1\/namespaces\/[^/]+$|^\/api\/v1\/namespaces$/.test(q.path) &&
    names.has(q.path.split('/')[4] ?? q.body?.metadata?.name));
  const deleted = (await stack.clusterRequests('east')).filter((q) => q.method === 'DELETE' &&
    names.has(q.path.split('/')[4]) && q.path.split('/').length === 5);
  assert.deepEqual(new Set(created.map((q) => q.path.split('/')[4] ?? q.body.metadata.name)), names,
    `namespaces created on west: ${JSON.stringify(created.map((q) => [q.method, q.path]))}`);
  assert.deepEqual(new Set(deleted.map((q) => q.path.split('/')[4])), names, 'namespaces deleted on east');
  const lastCreate = Math.max(...created.map((q) => Date.parse(q.time)));
  const firstDelete = Math.min(...deleted.map((q) => Date.parse(q.time)));
  assert.ok(lastCreate <= firstDelete, `created ${new Date(lastCreate).toISOString()}, deleted ${new Date(firstDelete).toISOString()}`);
  const puts = (await stack.flyteRequests()).filter((q) => q.method === 'PUT' &&
    q.path.startsWith(`/api/v1/project_domain_attributes/${id}/`) &&
    q.body?.attributes?.matching_attributes?.execution_cluster_label);
  for (const q of puts) assert.ok(Date.parse(q.time) <= firstDelete, 'attributes switched before the deletes');

  // Once the namespaces have terminated, east holds nothing of it.
  assert.ok(await waitFor(async () => (await stack.snapshotCluster('east', id)).objects.length === 0, 20000, 200),
    'east still holds the workspace');
  await assertPlaced(stack, id, 'west');
});

// Without a state record (lost, or compacted away) the Flyte project's
// cluster label says where the workspace is: a placement label naming
// another cluster moves it, as wsflyte-render --diff shows, instead of
// provisioning a second copy.
test('no record, a label naming another cluster than the project\'s: a move, nothing left on the old one', async () => {
  const id = 'ws-norecord';
  assert.equal((await send(stack, [event(id, 1, { [LABEL]: 'east' })]))[0].status, 'SUCCEEDED');
  assert.equal(await stack.stopConsumer(consumer), 0);
  consumer = null;
  // Tombstones on every partition holding one of its records.
  const held = (await run('kcat', ['-C', '-b', stack.bootstrap, '-t', STATE, '-e', '-q', '-f', '%p %k\n'])).stdout
    .split('\n').filter((l) => l.endsWith(` ${id}`)).map((l) => Number(l.split(' ')[0]));
  assert.ok(held.length > 0, 'a state record');
  for (const p of new Set(held)) {
    const r = await run('kcat', ['-P', '-b', stack.bootstrap, '-t', STATE, '-p', String(p), '-K', '\u0002',
      '-D', '\u0001', '-Z'], { input: `${id}\u0002\u0001` });
    assert.equal(r.code, 0, r.stderr);
  }
  consumerLogsFrom = stack.logs.length;
  consumer = stack.startConsumer();
  const shown = await diff(stack, event(id, 2, { [LABEL]: 'west' }, 'MEMBERS_CHANGED'));
  assert.equal(shown.lines[0], 'cluster west (by label), moving from east', shown.stdout + shown.stderr);
  const [r] = await send(stack, [event(id, 2, { [LABEL]: 'west' }, 'MEMBERS_CHANGED')]);
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.ok(await waitFor(async () => (await stack.snapshotCluster('east', id)).objects.length === 0, 20000, 200),
    `east still holds ${JSON.stringify((await stack.snapshotCluster('east', id)).namespaces)}`);
  await assertPlaced(stack, id, 'west');
});

// A move refused part way (a permanent 403 on west's RoleBindings) leaves
// the record on east, naming west as a cluster that may hold namespaces;
// the label set back to east deletes what the move made on west.
test('a move that fails part way, then set back: what it made on the new cluster is deleted', async () => {
  const id = 'ws-setback';
  assert.equal((await send(stack, [event(id, 1, { [LABEL]: 'east' })]))[0].status, 'SUCCEEDED');
  await stack.fault('west', { path: '/rolebindings/', method: 'PATCH', status: 403 });
  let failed;
  try {
    [failed] = await send(stack, [event(id, 2, { [LABEL]: 'west' }, 'MEMBERS_CHANGED')]);
  } finally {
    await stack.clearFaults('west');
  }
  assert.equal(failed.status, 'FAILED', JSON.stringify(failed));
  assert.deepEqual((await stack.snapshotCluster('west', id)).namespaces, stack.workspaceNamespaces(id).sort(),
    'the move made the namespaces on west before it was refused');
  const st = JSON.parse((await run(bin('wsflyte-status'), ['--config', stack.configPath, '--json', id])).stdout.trim());
  assert.equal(st.cluster, 'east');
  assert.equal(st.moving_from, 'west');
  assert.equal(st.complete, false);

  const [back] = await send(stack, [event(id, 3, { [LABEL]: 'east' }, 'MEMBERS_CHANGED')]);
  assert.equal(back.status, 'SUCCEEDED', JSON.stringify(back));
  assert.ok(await waitFor(async () => (await stack.snapshotCluster('west', id)).objects.length === 0, 20000, 200),
    `west still holds ${JSON.stringify((await stack.snapshotCluster('west', id)).namespaces)}`);
  await assertPlaced(stack, id, 'east');
  const after = JSON.parse((await run(bin('wsflyte-status'), ['--config', stack.configPath, '--json', id])).stdout.trim());
  assert.equal(after.moving_from, undefined);
  assert.equal(after.complete, true);
});

// Another writer on either cluster, and on the control plane: each API
// server is watched, and each object repaired where its workspace has it.
test('drift on either cluster is repaired where the workspace is', async () => {
  const rbac = '/apis/rbac.authorization.k8s.io/v1';
  const call = async (server, method, path, body) => {
    const r = await fetch(`${stack.serverUrl(server)}${path}${body ? '?fieldManager=drift-test' : ''}`, {
      method, headers: body ? { 'Content-Type': 'application/merge-patch+json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    assert.ok(r.ok, `${server} ${method} ${path}: ${r.status} ${await r.text()}`);
  };
  const get = async (server, path) => {
    const r = await fetch(`${stack.serverUrl(server)}${path}`);
    return r.status === 404 ? null : r.json();
  };
  // Every watch has listed: the stack has been up since the first tests.
  const binding = (await stack.snapshotCluster('east', 'ws-lab-east')).objects
    .find((o) => o.kind === 'RoleBinding' && o.metadata.namespace === 'ws-lab-east-development');
  assert.ok(binding, 'a RoleBinding of ws-lab-east on east');
  const bindingPath = `${rbac}/namespaces/ws-lab-east-development/rolebindings/${binding.metadata.name}`;
  const quotaPath = '/api/v1/namespaces/ws-lab-west-staging/resourcequotas/workspace-quota';
  const authzPath = '/api/v1/namespaces/flyte/configmaps/wsflyte-authz-ws-lab-west';
  const pods = (await get('west', quotaPath)).spec.hard.pods;
  await call('east', 'DELETE', bindingPath);
  await call('west', 'PATCH', quotaPath, { spec: { hard: { pods: '999' } } });
  await call('kube', 'DELETE', authzPath);
  assert.ok(await waitFor(async () => (await get('east', bindingPath)) !== null, 20000, 100),
    `RoleBinding on east not repaired\n${stack.logs.join('').slice(-3000)}`);
  assert.ok(await waitFor(async () => (await get('west', quotaPath))?.spec.hard.pods === pods, 20000, 100),
    `quota on west not repaired\n${stack.logs.join('').slice(-3000)}`);
  assert.ok(await waitFor(async () => (await get('kube', authzPath)) !== null, 20000, 100),
    'authz ConfigMap on the control plane not repaired');
  // The object is written before its repair is logged: wait for the lines.
  const repairs = [/drift repaired: RoleBinding ws-lab-east-development\//,
    /drift repaired: ResourceQuota ws-lab-west-staging\/workspace-quota/];
  assert.ok(await waitFor(() => repairs.every((re) => re.test(stack.logs.join(''))), 20000, 100),
    `repairs not logged\n${stack.logs.join('').slice(-3000)}`);
  const logs = stack.logs.join('');
  assert.match(logs, /watching \d+ kinds for drift on cluster east/);
  assert.match(logs, /watching \d+ kinds for drift on cluster west/);
  // Nothing was written where the workspaces are not.
  await assertPlaced(stack, 'ws-lab-east', 'east');
  await assertPlaced(stack, 'ws-lab-west', 'west');
});

// wsflyte-render --diff on event: {code, stdout, stderr, lines}.
async function diff(s, ev) {
  const file = join(s.dir, `${ev.event_id}-diff.json`);
  writeFileSync(file, JSON.stringify(ev));
  const r = await run(bin('wsflyte-render'), ['--diff', '--config', s.configPath, file]);
  return { ...r, lines: r.stdout.split('\n').filter(Boolean) };
}

test('render --diff: placed as the service would, each object read and shown on its cluster', async () => {
  await stack.clearRequests();
  // The event as applied: placed by its label, nothing differs.
  let r = await diff(stack, event('ws-lab-west', 1, { [LABEL]: 'west' }));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.lines[0], 'cluster west (by label)');
  for (const d of DOMAINS) assert.ok(r.lines.includes(`unchanged Namespace ws-lab-west-${d} on west`), r.stdout);
  assert.ok(r.lines.includes('unchanged ConfigMap flyte/wsflyte-authz-ws-lab-west on control-plane'), r.stdout);
  assert.ok(r.lines.some((l) => /^unchanged ProjectDomainAttributes .*development$/.test(l)), r.stdout);
  assert.match(r.lines.at(-1), /^0 to create, 0 to update, 0 to delete, \d+ unchanged$/);
  // The namespaced reads went to west only.
  const paths = async (server) => (await stack.clusterRequests(server)).map((q) => q.path);
  assert.ok((await paths('west')).some((p) => p === '/api/v1/namespaces/ws-lab-west-development'));
  assert.ok(!(await paths('east')).some((p) => p.includes('ws-lab-west')), 'nothing of ws-lab-west read on east');
  assert.ok(!(await paths('kube')).some((p) => p.startsWith('/api/v1/namespaces/ws-lab-west')), 'no namespace read on the control plane');

  // No label: the cluster the project names (placed by weight before).
  const [on] = await namespacesOn(stack, 'ws-weight-0');
  r = await diff(stack, event('ws-weight-0', 2, {}, 'MEMBERS_CHANGED'));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.lines[0], `cluster ${on} (current)`);
  assert.ok(r.lines.includes(`unchanged Namespace ws-weight-0-development on ${on}`), r.stdout);

  // A label naming the other cluster: a move, shown with the old cluster's deletes.
  r = await diff(stack, event('ws-lab-east', 2, { [LABEL]: 'west' }, 'MEMBERS_CHANGED'));
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.lines[0], 'cluster west (by label), moving from east');
  for (const d of DOMAINS) {
    assert.ok(r.lines.includes(`create Namespace ws-lab-east-${d} on west`), r.stdout);
    assert.ok(r.lines.some((l) => l.startsWith(`delete Namespace ws-lab-east-${d} on east`)), r.stdout);
  }
  // Nothing was written anywhere.
  for (const server of ['kube', ...CLUSTERS]) {
    assert.deepEqual((await stack.clusterRequests(server)).filter((q) => q.method !== 'GET').map((q) => q.path), [], server);
  }
  await assertPlaced(stack, 'ws-lab-east', 'east');
});

test('status: the record\'s cluster, and --live reads its objects there', async () => {
  const r = await run(bin('wsflyte-status'), ['--config', stack.configPath, '--json', '--live', 'ws-lab-east', 'ws-move']);
  assert.equal(r.code, 0, r.stderr);
  const [e, m] = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.equal(e.cluster, 'east');
  assert.equal(m.cluster, 'west');
  assert.equal(e.moving_from, undefined);
  for (const d of [e, m]) {
    assert.deepEqual(d.live, { unchanged: d.objects.length, differs: 0, missing: 0, foreign: 0 }, JSON.stringify(d.objects.filter((o) => o.live.state !== 'unchanged')));
    assert.equal(d.objects.filter((o) => o.resource_type === 'EXECUTION_CLUSTER_LABEL').length, DOMAINS.length);
  }
  const human = await run(bin('wsflyte-status'), ['--config', stack.configPath, 'ws-lab-west']);
  assert.equal(human.code, 0, human.stderr);
  assert.ok(human.stdout.split('\n').includes('  cluster: west'), human.stdout);
});

test('audit: every cluster listed; a workspace\'s namespace on the other cluster is an orphan there', async () => {
  const audit = () => run(bin('wsflyte-audit'), ['--config', stack.configPath, '--json']);
  // ws-move's old namespaces have terminated by now (the move test waited).
  let r = await audit();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  await stack.clearRequests();
  const ns = 'ws-lab-west-development';
  const created = await fetch(`${stack.serverUrl('east')}/api/v1/namespaces?fieldManager=audit-test`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns,
      labels: { 'app.kubernetes.io/managed-by': 'wsflyte', 'wsflyte.io/workspace': 'ws-lab-west' } } }),
  });
  assert.ok(created.ok, await created.text());
  try {
    r = await audit();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const findings = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(findings.map((f) => [f.finding, f.kind, f.name, f.cluster]), [['orphan', 'Namespace', ns, 'east']]);
    // Lists only, on each API server.
    for (const server of ['kube', ...CLUSTERS]) {
      const log = (await stack.clusterRequests(server)).filter((q) => q.query?.labelSelector);
      assert.ok(log.length > 0 && log.every((q) => q.method === 'GET'), `${server}: ${JSON.stringify(log.map((q) => q.path))}`);
    }
    assert.ok((await stack.flyteRequests()).some((q) => q.path === '/api/v1/matchable_attributes' &&
      q.query.resource_type === 'EXECUTION_CLUSTER_LABEL'), 'EXECUTION_CLUSTER_LABEL listed');
  } finally {
    await fetch(`${stack.serverUrl('east')}/api/v1/namespaces/${ns}`, { method: 'DELETE' });
  }
});

test('metrics: each API server\'s requests and pauses count apart, with a cluster label', async () => {
  const port = await healthPort(stack, 15000, consumerLogsFrom);
  await stack.fault('west', { path: '^/api/v1/namespaces/ws-metrics-west', status: 429, retry_after: 1, count: 1 });
  const [r] = await send(stack, [event('ws-metrics-west', 1, { [LABEL]: 'west' })]);
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const lines = (name) => text.split('\n').filter((l) => l.startsWith(`${name}{`));
  const requests = lines('wsflyte_api_requests_total');
  for (const c of ['east', 'west', 'control-plane']) {
    assert.ok(requests.some((l) => l.includes('api="k8s"') && l.includes(`cluster="${c}"`) && l.includes('code="200"')),
      `k8s requests of ${c}:\n${requests.join('\n')}`);
  }
  assert.ok(requests.every((l) => !l.includes('api="k8s"') || l.includes('cluster="')), 'every k8s series names its cluster');
  assert.ok(requests.some((l) => l.includes('api="flyte"') && !l.includes('cluster=')), 'FlyteAdmin has no cluster');
  const throttled = lines('wsflyte_api_throttled_total');
  assert.deepEqual(throttled.filter((l) => l.includes('api="k8s"')), ['wsflyte_api_throttled_total{api="k8s",cluster="west"} 1']);
  assert.match(stack.logs.join(''), /k8s \(west\) throttled us/);
  // The repairs of the drift test, counted per API server.
  const repairs = lines('wsflyte_drift_repairs_total');
  for (const want of ['api="k8s",cluster="east",kind="RoleBinding"', 'api="k8s",cluster="west",kind="ResourceQuota"',
    'api="k8s",cluster="control-plane",kind="ConfigMap"']) {
    assert.ok(repairs.some((l) => l.startsWith(`wsflyte_drift_repairs_total{${want}}`)), `${want}:\n${repairs.join('\n')}`);
  }
  assert.ok(repairs.every((l) => !l.includes('api="k8s"') || l.includes('cluster="')), 'every k8s repair names its cluster');
});

test('placement.default: a workspace without label lands on the default cluster', async () => {
  const s = await new Stack({ clusters: ['east', { name: 'west', weight: 3 }], placement: { default: 'west' } }).start();
  const c = s.startConsumer();
  try {
    const ids = ['ws-def-0', 'ws-def-1', 'ws-def-2'];
    const rs = await send(s, [...ids.map((id) => event(id, 1)), event('ws-def-east', 1, { [LABEL]: 'east' })]);
    for (const r of rs) assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
    for (const id of ids) await assertPlaced(s, id, 'west');
    await assertPlaced(s, 'ws-def-east', 'east');
  } finally {
    assert.equal(await s.stopConsumer(c), 0);
    await s.stop();
  }
});

test('weights 1:0: every workspace without label or default lands on the first cluster', async () => {
  const s = await new Stack({ clusters: ['east', { name: 'west', weight: 0 }] }).start();
  const c = s.startConsumer();
  try {
    const ids = Array.from({ length: 6 }, (_, i) => `ws-zero-${i}`);
    const rs = await send(s, ids.map((id) => event(id, 1)));
    for (const r of rs) assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
    for (const id of ids) await assertPlaced(s, id, 'east');
  } finally {
    assert.equal(await s.stopConsumer(c), 0);
    await s.stop();
  }
});

test('resync at rest: FlyteAdmin sees list requests only, EXECUTION_CLUSTER_LABEL listed too', async (t) => {
  const s = await new Stack({
    clusters: ['east', 'west'],
    editConfig: (doc) => { doc.reconcile = { watch: true, resync_interval: '2s' }; },
  }).start();
  const c = s.startConsumer();
  try {
    const ids = ['ws-rest-0', 'ws-rest-1', 'ws-rest-2', 'ws-rest-3'];
    const rs = await send(s, ids.map((id, i) => event(id, 1, { [LABEL]: CLUSTERS[i % 2] })));
    for (const r of rs) assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
    const passes = () => (s.logs.join('').match(/resync: pass over/g) || []).length;
    await waitFor(() => passes() >= 1, 10000, 100);
    await new Promise((r) => setTimeout(r, 1000));
    await s.clearRequests();
    const from = passes();
    assert.ok(await waitFor(() => passes() - from >= 3, 15000, 100), `passes: ${passes() - from}`);
    const flyte = (await s.flyteRequests()).filter((q) => q.path !== '/healthcheck');
    const isList = (q) => q.method === 'GET' && (q.path === '/api/v1/projects' || q.path === '/api/v1/matchable_attributes');
    t.diagnostic(`over ${passes() - from} passes: ${flyte.length} FlyteAdmin requests`);
    assert.deepEqual(flyte.filter((q) => !isList(q)).map((q) => `${q.method} ${q.path}`), []);
    assert.ok(flyte.some((q) => q.query?.resource_type === 'EXECUTION_CLUSTER_LABEL'), 'EXECUTION_CLUSTER_LABEL listed');
    assert.ok(flyte.some((q) => q.query?.resource_type === 'WORKFLOW_EXECUTION_CONFIG'), 'WORKFLOW_EXECUTION_CONFIG listed');
    for (const server of ['kube', ...CLUSTERS]) {
      assert.deepEqual((await s.clusterRequests(server)).filter((q) => q.method !== 'GET').map((q) => q.path), [], `${server} writes`);
    }
  } finally {
    assert.equal(await s.stopConsumer(c), 0);
    await s.stop();
  }
});

test('a label naming no cluster: FAILED VALIDATION placement.unknown-cluster, dead-lettered, nothing written', async () => {
  const id = 'ws-nowhere';
  await stack.clearRequests();
  const [r] = await send(stack, [event(id, 1, { [LABEL]: 'north' })]);
  assert.equal(r.status, 'FAILED', JSON.stringify(r));
  assert.equal(r.error.class, 'VALIDATION');
  assert.equal(r.error.code, 'placement.unknown-cluster');
  const writes = [];
  for (const server of ['flyte', 'kube', ...CLUSTERS]) {
    const log = server === 'flyte' ? await stack.flyteRequests() : await stack.clusterRequests(server);
    writes.push(...log.filter((q) => q.method !== 'GET').map((q) => `${server} ${q.method} ${q.path}`));
  }
  assert.deepEqual(writes, []);
  for (const c of CLUSTERS) assert.deepEqual((await stack.snapshotCluster(c, id)).objects, []);
  assert.equal((await stack.flyteState()).projects.find((p) => p.id === id), undefined);
  const dead = await waitFor(async () => (await stack.readTopic(DLT)).find((d) => d.key === id), 10000, 200);
  assert.ok(dead, 'dead letter');
  assert.equal(dead.headers['x-error-class'], 'VALIDATION');
  assert.equal(dead.headers['x-error-code'], 'placement.unknown-cluster');
});

test('west unreachable: its workspace retried while an east one succeeds; west back, it converges', async () => {
  await stack.stopCluster('west');
  let started = false;
  try {
    const w = event('ws-down-west', 1, { [LABEL]: 'west' });
    const e = event('ws-down-east', 1, { [LABEL]: 'east' });
    await stack.produceEvents([w, e], 'json');
    const er = await resultOf(stack, e.event_id);
    assert.equal(er.status, 'SUCCEEDED', JSON.stringify(er));
    await assertPlaced(stack, 'ws-down-east', 'east');
    // The west one goes to the first retry tier (TRANSIENT), with no result yet.
    const forwarded = await waitFor(async () => (await stack.readTopic(RETRY2)).find((x) => x.key === w.workspace.workspace_id),
      30000, 200);
    assert.ok(forwarded, `not forwarded to the retry tier\n${stack.logs.join('').slice(-3000)}`);
    assert.equal(forwarded.headers['x-error-class'], 'TRANSIENT');
    assert.equal((await stack.allResults()).find((x) => x.event_id === w.event_id), undefined, 'no result while west is down');
    // The replica stays ready: /readyz names west unreachable and answers 200.
    const port = await healthPort(stack, 15000, consumerLogsFrom);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    const why = await ready.text();
    assert.equal(ready.status, 200, why);
    assert.match(why, /kubernetes reachable/);
    assert.match(why, /cluster west unreachable/);
    assert.match(why, /cluster east reachable/);
    await stack.startCluster('west');
    started = true;
    const wr = await resultOf(stack, w.event_id);
    assert.equal(wr.status, 'SUCCEEDED', JSON.stringify(wr));
    await assertPlaced(stack, 'ws-down-west', 'west');
  } finally {
    if (!started) await stack.startCluster('west');
  }
});

// A move whose old cluster is down keeps moving_from; a deletion then
// deletes the namespaces left there too, once that cluster answers.
test('a move with the old cluster down, then a deletion: the namespaces left there are deleted', async () => {
  const id = 'ws-left';
  const oldNs = async () => (await stack.snapshotCluster('east', id)).objects
    .filter((o) => o.kind === 'Namespace' && !o.metadata.deletionTimestamp).map((o) => o.metadata.name).sort();
  assert.equal((await send(stack, [event(id, 1, { [LABEL]: 'east' })]))[0].status, 'SUCCEEDED');
  await stack.stopCluster('east');
  let started = false;
  try {
    const [moved] = await send(stack, [event(id, 2, { [LABEL]: 'west' }, 'MEMBERS_CHANGED')]);
    assert.equal(moved.status, 'SUCCEEDED', JSON.stringify(moved));
    const st = await run(bin('wsflyte-status'), ['--config', stack.configPath, '--json', id]);
    const doc = JSON.parse(st.stdout.trim());
    assert.equal(doc.cluster, 'west');
    assert.equal(doc.moving_from, 'east');
    const human = await run(bin('wsflyte-status'), ['--config', stack.configPath, id]);
    assert.match(human.stdout, /\n {2}cluster: west \(moving from east: /);
    // Deleted while east is still down: west is cleaned, east's are remembered.
    const del = event(id, 3, { [LABEL]: 'west' }, 'WORKSPACE_DELETED');
    const [gone] = await send(stack, [del]);
    assert.equal(gone.status, 'SUCCEEDED', JSON.stringify(gone));
    assert.deepEqual((await stack.snapshotCluster('west', id)).objects.filter((o) => !o.metadata.deletionTimestamp &&
      o.kind === 'Namespace'), []);
    assert.match(stack.logs.join(''), /workspace removed, but the namespaces a move left on cluster east are not deleted yet/);
    await stack.startCluster('east');
    started = true;
    assert.deepEqual(await oldNs(), stack.workspaceNamespaces(id).sort(), 'east still holds them');
    // The same deletion again finishes them.
    await stack.produceEvents([{ ...del, event_id: `${del.event_id}-again` }], 'json');
    const again = await resultOf(stack, `${del.event_id}-again`);
    assert.equal(again.status, 'SUCCEEDED', JSON.stringify(again));
    assert.ok(await waitFor(async () => (await oldNs()).length === 0, 20000, 200),
      `east still holds ${JSON.stringify(await oldNs())}`);
    const after = JSON.parse((await run(bin('wsflyte-status'), ['--config', stack.configPath, '--json', id])).stdout.trim());
    assert.equal(after.moving_from, undefined);
  } finally {
    if (!started) await stack.startCluster('east');
  }
});

test('the dead-letter topic holds only the unknown cluster\'s event and the refused move', async () => {
  const r = await run('kcat', ['-C', '-b', stack.bootstrap, '-t', DLT, '-e', '-q', '-f', '%k\n']);
  assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), ['ws-nowhere', 'ws-setback']);
});
