// wsflyte-audit against a running stack: the state topic, FlyteAdmin and the
// cluster compared in one pass, with a number of requests that does not grow
// with the number of workspaces.
//
//   5 workspaces provisioned (one then deleted),  -> exit 0, nothing found; GETs only
//   wsflyte stopped
//   45 more provisioned, wsflyte stopped again     -> exit 0; as many requests as for 5
//   by hand: a labelled namespace no record owns,  -> exit 1: an orphan, a missing RoleBinding and an
//   a recorded RoleBinding deleted, a project         orphan project, each named; --json one finding
//   labelled managed-by=wsflyte without a record      a line; nothing else reported
//   a quota patched by another writer, a project   -> differs (with the field), project-archived
//   archived by hand
//   an unreachable FlyteAdmin                      -> exit 2, a clear message
//
// Drift repair is off (reconcile.watch false, no resync) and wsflyte is
// stopped before anything is changed by hand, so nothing repairs it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, makeEvent, run, bin, waitFor } from './harness.mjs';

const alice = { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' };
const bob = { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' };
let stack;
const counts = {};

before(async () => {
  stack = new Stack({ editConfig: (doc) => { doc.reconcile = { watch: false, resync_interval: '0' }; } });
  await stack.start();
});

after(async () => {
  await stack?.stop();
});

// Applies events with wsflyte running, then stops it.
async function apply(events) {
  const consumer = stack.startConsumer();
  await stack.produceEvents(events, 'json');
  // Every result, read from the topic's start to its end in one pass.
  const wanted = new Set(events.map((e) => e.event_id));
  let got = [];
  await waitFor(async () => {
    got = [...new Map((await stack.allResults()).filter((r) => wanted.has(r.event_id))
      .map((r) => [r.event_id, r])).values()];
    return got.length >= wanted.size;
  }, 120000, 500);
  assert.equal(got.length, wanted.size, `results: ${got.length} of ${wanted.size}\n${stack.logs.join('').slice(-3000)}`);
  for (const r of got) assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.equal(await stack.stopConsumer(consumer), 0);
}

const provision = (ids) => apply(ids.map((id) => makeEvent({ workspace: id, members: [alice, bob] })));

function audit(args = [], configPath = stack.configPath) {
  return run(bin('wsflyte-audit'), ['--config', configPath, ...args]);
}

const ids = (from, to) => Array.from({ length: to - from }, (_, i) => `ws-au-${String(from + i).padStart(2, '0')}`);

// The state records come before their results, but on another topic: wait
// until the audit finds every workspace's record and nothing amiss.
async function auditClean(n) {
  let last;
  const ok = await waitFor(async () => {
    last = await audit();
    return last.code === 0 && last.stdout.includes(`wsflyte-audit: ${n} record(s)`);
  }, 60000);
  assert.ok(ok, `a clean audit of ${n} records: ${last.code}\n${last.stdout}${last.stderr}`);
}

async function countRequests() {
  await fetch(`${stack.flyteUrl}/_test/requests`, { method: 'DELETE' });
  await fetch(`${stack.kubeUrl}/_test/requests`, { method: 'DELETE' });
  const r = await audit();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const flyte = await stack.flyteRequests();
  const kube = await stack.kubeRequests();
  for (const q of [...flyte, ...kube]) assert.equal(q.method, 'GET', `${q.method} ${q.path}`);
  const reported = /(\d+) request\(s\)/.exec(r.stdout);
  assert.equal(Number(reported[1]), flyte.length + kube.length, r.stdout);
  return { flyte: flyte.length, kube: kube.length, stdout: r.stdout };
}

test('a clean fleet: exit 0, nothing found, GETs only', async () => {
  await provision(ids(0, 5));
  // A deleted workspace keeps its record, its archived project and that
  // project's attributes: none of it is an orphan.
  await apply([makeEvent({ workspace: 'ws-au-04', version: 2, type: 'WORKSPACE_DELETED', members: [alice, bob] })]);
  await auditClean(5);
  counts[5] = await countRequests();
  assert.match(counts[5].stdout, /^wsflyte-audit: 5 record\(s\), \d+ compared object\(s\); .* 0 finding\(s\)$/m);
  const j = await audit(['--json']);
  assert.equal(j.code, 0, j.stderr);
  assert.equal(j.stdout, '', 'no finding, no line');
  assert.match(j.stderr, /0 finding\(s\)/);
});

test('the number of requests is the same for 5 and for 50 workspaces', async () => {
  await provision(ids(5, 50));
  await auditClean(50);
  counts[50] = await countRequests();
  assert.equal(counts[50].flyte, counts[5].flyte, 'FlyteAdmin requests');
  assert.equal(counts[50].kube, counts[5].kube, 'Kubernetes requests');
  // one LIST per managed kind, ListProjects, ListMatchableAttributes
  assert.equal(counts[5].kube, 8);
  assert.equal(counts[5].flyte, 2);
});

test('an orphan namespace, a deleted RoleBinding and a project without a record: exit 1, each named', async () => {
  const kube = stack.kubeUrl;
  const labels = { 'app.kubernetes.io/managed-by': 'wsflyte', 'wsflyte.io/workspace': 'ws-au-gone' };
  let r = await fetch(`${kube}/api/v1/namespaces`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ws-au-gone-development', labels } }),
  });
  assert.equal(r.status, 201, await r.text());
  const rbs = await (await fetch(`${kube}/apis/rbac.authorization.k8s.io/v1/namespaces/ws-au-03-staging/rolebindings`)).json();
  const member = rbs.items.find((x) => x.metadata.labels?.['wsflyte.io/member']);
  assert.ok(member, JSON.stringify(rbs.items.map((x) => x.metadata)));
  const victim = member.metadata.name;
  r = await fetch(`${kube}/apis/rbac.authorization.k8s.io/v1/namespaces/ws-au-03-staging/rolebindings/${victim}`, { method: 'DELETE' });
  assert.equal(r.status, 200, await r.text());
  r = await fetch(`${stack.flyteUrl}/api/v1/projects`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ project: { id: 'ws-au-stray', name: 'stray', labels: { values: { 'managed-by': 'wsflyte' } } } }),
  });
  assert.equal(r.status, 200, await r.text());

  const h = await audit();
  assert.equal(h.code, 1, h.stdout + h.stderr);
  const lines = h.stdout.split('\n');
  const block = (ws) => lines.slice(lines.indexOf(`workspace ${ws}`) + 1).filter((_, i, a) => a.slice(0, i + 1).every((l) => l.startsWith('  ')));
  assert.deepEqual(block('ws-au-gone'), ['  orphan: v1 Namespace ws-au-gone-development (no record)']);
  assert.deepEqual(block('ws-au-03'), [`  missing: rbac.authorization.k8s.io/v1 RoleBinding ws-au-03-staging/${victim}`]);
  assert.deepEqual(block('ws-au-stray'), ['  orphan-project: flyteadmin/v1 FlyteProject ws-au-stray (active; no record)']);
  assert.match(h.stdout, /^wsflyte-audit: 50 record\(s\), .* 3 finding\(s\)$/m);

  const j = await audit(['--json']);
  assert.equal(j.code, 1, j.stderr);
  const found = j.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual(found, [
    { workspace_id: 'ws-au-03', finding: 'missing', api_version: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', namespace: 'ws-au-03-staging', name: victim },
    { workspace_id: 'ws-au-gone', finding: 'orphan', api_version: 'v1', kind: 'Namespace', name: 'ws-au-gone-development', detail: 'no record' },
    { workspace_id: 'ws-au-stray', finding: 'orphan-project', api_version: 'flyteadmin/v1', kind: 'FlyteProject', name: 'ws-au-stray', detail: 'active; no record' },
  ]);
  // GETs only: what was changed by hand is still as it was
  const again = await audit(['--json']);
  assert.equal(again.stdout, j.stdout);
});

test('a quota changed by another writer and a project archived by hand: differs and project-archived', async () => {
  const quota = '/api/v1/namespaces/ws-au-02-staging/resourcequotas/workspace-quota';
  let r = await fetch(`${stack.kubeUrl}${quota}`, {
    method: 'PATCH', headers: { 'Content-Type': 'application/merge-patch+json' },
    body: JSON.stringify({ spec: { hard: { 'requests.cpu': '99' } } }),
  });
  assert.equal(r.status, 200, await r.text());
  const project = await (await fetch(`${stack.flyteUrl}/api/v1/projects/ws-au-01`, { headers: { Accept: 'application/json' } })).json();
  r = await fetch(`${stack.flyteUrl}/api/v1/projects/ws-au-01`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ id: 'ws-au-01', name: project.name, labels: project.labels, state: 'ARCHIVED' }),
  });
  assert.equal(r.status, 200, await r.text());
  const j = await audit(['--json']);
  assert.equal(j.code, 1, j.stderr);
  const found = j.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual(found.filter((f) => ['ws-au-01', 'ws-au-02'].includes(f.workspace_id)), [
    { workspace_id: 'ws-au-01', finding: 'project-archived', api_version: 'flyteadmin/v1', kind: 'FlyteProject', name: 'ws-au-01', detail: 'Flyte is wanted but the project is archived' },
    { workspace_id: 'ws-au-02', finding: 'differs', api_version: 'v1', kind: 'ResourceQuota', namespace: 'ws-au-02-staging', name: 'workspace-quota', changes: ['spec.hard["requests.cpu"]: "99" -> "20"'] },
  ]);
  const h = await audit();
  assert.match(h.stdout, /^workspace ws-au-02\n {2}differs: v1 ResourceQuota ws-au-02-staging\/workspace-quota\n {6}spec\.hard\["requests\.cpu"\]: "99" -> "20"$/m);
});

test('an unreachable FlyteAdmin or a bad configuration: exit 2 with a clear message', async () => {
  const doc = JSON.parse(readFileSync(stack.configPath, 'utf8'));
  doc.flyte.admin_url = 'http://127.0.0.1:1';
  const path = join(stack.dir, 'audit-bad.yaml');
  writeFileSync(path, JSON.stringify(doc));
  let r = await audit([], path);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /^wsflyte-audit: list projects: flyte GET \/api\/v1\/projects\?.*127\.0\.0\.1 port 1\b/m);
  assert.equal(r.stdout, '');
  r = await run(bin('wsflyte-audit'), []);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--config FILE is required/);
});
