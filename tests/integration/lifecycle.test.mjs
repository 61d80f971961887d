// End to end: the whole lifecycle of workspaces, every event type, replays,
// out-of-order versions, re-use of an id while its namespaces terminate,
// hostile names, and the dead-letter path of invalid events.  One stack for
// the file; every test uses its own workspace ids.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, ROOT, run, bin, sleep, waitFor } from './harness.mjs';

const DLT = 'workspace.lifecycle.v1.wsflyte.dlt';
const DOMAINS = ['development', 'staging', 'production'];
const WS_LABEL = 'wsflyte.io/workspace';
const people = {
  alice: { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' },
  bob: { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' },
  charlie: { user_id: 'charlie', email: 'charlie@company.com', role: 'VIEWER' },
};
let stack, consumer, produced = 0, files = 0;

before(async () => {
  stack = await new Stack().start();
  consumer = stack.startConsumer();
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0, 'wsflyte exits 0 on SIGTERM');
  await stack?.stop();
});

// An event of type at version v for workspace id; opts change the workspace.
function event(id, v, type, opts = {}) {
  return {
    event_id: opts.eventId || `${id}-v${v}-${type}`,
    event_type: type, occurred_at: 1764316800000 + v, workspace_version: v,
    actor: 'platform', service: type.startsWith('SERVICE_') ? 'flyte' : null,
    workspace: {
      workspace_id: id, workspace_name: opts.name ?? `Workspace ${id}`,
      services: opts.services ?? ['sagemaker', 'flyte'],
      members: opts.members ?? [people.alice, people.bob, people.charlie],
      data_bucket: `${id}-data`, quota: opts.quota ?? null, labels: {},
    },
  };
}

// Publishes events (Avro unless told) and waits for one more result each;
// returns, per event, every result with its event id (replays share it).
async function send(events, format = 'avro') {
  const file = join(stack.dir, `events-${files++}.jsonl`);
  writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const r = await stack.produce(file, format);
  assert.equal(r.code, 0, r.stderr);
  produced += events.length;
  const all = await stack.results(produced, 90);
  assert.equal(all.length, produced, `expected ${produced} results:\n${stack.logs.join('')}`);
  return events.map((e) => all.filter((x) => x.event_id === e.event_id));
}
const last = (rs) => rs[rs.length - 1];
const sendOne = async (e, format) => last((await send([e], format))[0]);

async function kubeConfig(body) {
  const r = await fetch(`${stack.kubeUrl}/_test/config`, { method: 'POST', body: JSON.stringify(body) });
  assert.ok(r.ok, await r.text());
}
const clearLogs = () => Promise.all([stack.flyteUrl, stack.kubeUrl].map(
  (u) => fetch(`${u}/_test/requests`, { method: 'DELETE' })));
const writes = (log) => log.filter((r) => r.method !== 'GET');
// The request logs without wsflyte's readiness probes.
const apiLog = async () => [...await stack.flyteRequests(), ...await stack.kubeRequests()]
  .filter((r) => r.path !== '/healthcheck' && r.path !== '/version');

// Everything both servers hold for one workspace.
async function snapshot(id) {
  const [f, k] = await Promise.all([stack.flyteState(), stack.kubeState()]);
  return {
    project: f.projects.find((p) => p.id === id) ?? null,
    attributes: f.attributes.filter((a) => a.project === id),
    objects: k.objects.filter((o) => o.metadata.labels?.[WS_LABEL] === id ||
      o.metadata.namespace?.startsWith(`${id}-`) || o.metadata.name.startsWith(`${id}-`)),
  };
}
const ofKind = (snap, kind) => snap.objects.filter((o) => o.kind === kind);
const namespaces = (snap) => ofKind(snap, 'Namespace').map((o) => o.metadata.name).sort();
// "domain:user:role" for every member binding of the workspace.
const bindings = (snap, id) => ofKind(snap, 'RoleBinding').map((b) =>
  `${b.metadata.namespace.slice(id.length + 1)}:${b.subjects[0].name}:${b.roleRef.name.replace('workspace-', '')}`).sort();
const authz = (snap, id) => {
  const cm = ofKind(snap, 'ConfigMap').find((o) => o.metadata.name === `wsflyte-authz-${id}`);
  return cm ? JSON.parse(cm.data['workspace.json']) : null;
};
const expectBindings = (spec) => spec.flatMap(([user, role, domains]) =>
  domains.map((d) => `${d}:${user}:${role}`)).sort();

async function assertProvisioned(id, version, result) {
  assert.equal(result.status, 'SUCCEEDED', JSON.stringify(result));
  assert.equal(result.flyte_project, id);
  assert.deepEqual(result.namespaces, DOMAINS.map((d) => `${id}-${d}`));
  const s = await snapshot(id);
  assert.equal(s.project.state, 'ACTIVE');
  assert.equal(s.project.labels.values['wsflyte-workspace-version'], String(version));
  assert.deepEqual(namespaces(s), DOMAINS.map((d) => `${id}-${d}`).sort());
  for (const ns of ofKind(s, 'Namespace')) {
    assert.equal(ns.metadata.annotations['wsflyte.io/workspace-version'], String(version));
    assert.equal(ns.status.phase, 'Active');
  }
  assert.equal(s.attributes.filter((a) => a.resource_type === 'WORKFLOW_EXECUTION_CONFIG').length, 3);
  return s;
}

async function assertRemoved(id, version) {
  const s = await snapshot(id);
  assert.equal(s.project.state, 'ARCHIVED');
  assert.equal(s.project.labels.values['wsflyte-workspace-version'], String(version));
  for (const ns of ofKind(s, 'Namespace')) assert.ok(ns.metadata.deletionTimestamp, `${ns.metadata.name} deleted`);
  assert.equal(authz(s, id), null, 'authz ConfigMap deleted');
}

test('the seed\'s events are provisioned, with exactly the writes wsflyte-render predicts', async () => {
  await clearLogs();
  const [ml, analytics] = await send(
    (await import('node:fs')).readFileSync(join(ROOT, 'tests/data/events/seed.jsonl'), 'utf8')
      .split('\n').filter(Boolean).map((l) => JSON.parse(l)));
  await assertProvisioned('ws-ml-prod-001', 1, last(ml));
  await assertProvisioned('ws-analytics-002', 1, last(analytics));
  const rendered = await run(bin('wsflyte-render'),
    ['--config', stack.configPath, join(ROOT, 'tests/data/events/ws-ml-prod-001.json')]);
  assert.equal(rendered.code, 0, rendered.stderr);
  // A first apply takes every unconditional step and "project missing";
  // the project PUT and the prune LIST are skipped (nothing older exists).
  const predicted = JSON.parse(rendered.stdout).steps
    .filter((s) => s.method !== 'GET' && (!s.when || s.when === 'the project does not exist'))
    .map((s) => `${s.method} ${s.path.split('?')[0]}`);
  const mine = (r) => r.path.includes('ws-ml-prod-001') || r.body?.project?.id === 'ws-ml-prod-001';
  const flyteLog = (await stack.flyteRequests()).filter(mine);
  const kubeLog = (await stack.kubeRequests()).filter(mine);
  // Independent steps run at once, so the servers see the predicted writes
  // in any order that keeps what depends on each other in order: the
  // project is registered before the namespaces, a namespace exists before
  // anything goes into it, the project exists before its attributes.
  const flyteWrites = writes(flyteLog).map((r) => `${r.method} ${r.path}`);
  const kubeWrites = writes(kubeLog).map((r) => `${r.method} ${r.path}`);
  assert.deepEqual([...flyteWrites].sort(), predicted.filter((p) => p.includes('/api/v1/proj')).sort());
  assert.deepEqual([...kubeWrites].sort(), predicted.filter((p) => !p.includes('/api/v1/proj')).sort());
  assert.equal(predicted.length, 37); // + the GET of the project: 38 requests
  const at = (log, pred) => log.findIndex((r) => r.method !== 'GET' && pred(r));
  const registered = flyteLog.find((r) => r.method === 'POST' && r.path === '/api/v1/projects');
  for (const d of ['development', 'staging', 'production']) {
    const ns = `ws-ml-prod-001-${d}`;
    const created = kubeLog[at(kubeLog, (r) => r.path === `/api/v1/namespaces/${ns}`)];
    assert.ok(Date.parse(registered.time) <= Date.parse(created.time), `project before ${ns}`);
    const firstInside = at(kubeLog, (r) => r.path.includes(`/namespaces/${ns}/`));
    assert.ok(at(kubeLog, (r) => r.path === `/api/v1/namespaces/${ns}`) < firstInside,
      `namespace ${ns} before what goes into it`);
  }
});

test('create, add member, change role, remove member, remove and add Flyte, delete', async () => {
  const id = 'ws-seq';
  const { alice, bob, charlie } = people;
  let r = await sendOne(event(id, 1, 'WORKSPACE_CREATED', { members: [alice] }));
  let s = await assertProvisioned(id, 1, r);
  assert.deepEqual(bindings(s, id), expectBindings([['alice', 'owner', DOMAINS]]));
  assert.deepEqual([...new Set(ofKind(s, 'Role').map((o) => o.metadata.name))].sort(),
    ['workspace-contributor', 'workspace-owner', 'workspace-viewer']);

  r = await sendOne(event(id, 2, 'MEMBERS_CHANGED', { members: [alice, bob] }));
  s = await assertProvisioned(id, 2, r);
  assert.deepEqual(bindings(s, id), expectBindings([['alice', 'owner', DOMAINS],
    ['bob', 'contributor', ['development', 'staging']]]));
  assert.deepEqual(authz(s, id).members.bob.domains, ['development', 'staging']);

  // bob becomes owner: roleRef is immutable, so this must replace bindings.
  r = await sendOne(event(id, 3, 'MEMBERS_CHANGED', { members: [alice, { ...bob, role: 'OWNER' }, charlie] }));
  s = await assertProvisioned(id, 3, r);
  assert.deepEqual(bindings(s, id), expectBindings([['alice', 'owner', DOMAINS],
    ['bob', 'owner', DOMAINS], ['charlie', 'viewer', DOMAINS]]));
  assert.equal(authz(s, id).members.bob.role, 'OWNER');
  assert.ok(authz(s, id).members.bob.permissions.includes('executions:terminate'));
  assert.deepEqual(authz(s, id).members.charlie.permissions,
    ['workflows:read', 'launchplans:read', 'executions:read', 'data:read']);

  r = await sendOne(event(id, 4, 'MEMBERS_CHANGED', { members: [{ ...bob, role: 'OWNER' }, charlie] }));
  s = await assertProvisioned(id, 4, r);
  assert.deepEqual(bindings(s, id), expectBindings([['bob', 'owner', DOMAINS], ['charlie', 'viewer', DOMAINS]]));
  assert.deepEqual(Object.keys(authz(s, id).members).sort(), ['bob', 'charlie']);

  r = await sendOne(event(id, 5, 'SERVICE_REMOVED', { services: ['sagemaker'], members: [bob, charlie] }));
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.equal(r.reason, 'flyte-removed');
  await assertRemoved(id, 5);

  // The namespaces are still terminating (1.5 s): the add waits for them.
  r = await sendOne(event(id, 6, 'SERVICE_ADDED', { members: [bob, charlie] }));
  s = await assertProvisioned(id, 6, r);
  assert.deepEqual(bindings(s, id), expectBindings([['bob', 'contributor', ['development', 'staging']],
    ['charlie', 'viewer', DOMAINS]]));
  assert.equal(ofKind(s, 'NetworkPolicy').length, 3);

  r = await sendOne(event(id, 7, 'WORKSPACE_DELETED', { members: [bob, charlie] }));
  assert.equal(r.status, 'SUCCEEDED');
  assert.equal(r.reason, 'workspace-deleted');
  assert.equal(r.flyte_project, id);
  await assertRemoved(id, 7);
});

test('every event type replayed three times converges to the same state and result', async () => {
  await kubeConfig({ termination_ms: 0 });
  try {
    const id = 'ws-replay';
    const steps = [
      event(id, 1, 'WORKSPACE_CREATED'),
      event(id, 2, 'MEMBERS_CHANGED', { members: [people.alice] }),
      event(id, 3, 'SERVICE_REMOVED', { services: [] }),
      event(id, 4, 'SERVICE_ADDED', { members: [people.alice, people.charlie] }),
      event(id, 5, 'WORKSPACE_DELETED'),
    ];
    for (const e of steps) {
      const first = last((await send([e]))[0]);
      const once = await snapshot(id);
      const [all] = await send([e, e]);
      assert.equal(all.length, 3, `${e.event_type}: three results`);
      for (const x of all) {
        assert.equal(x.status, first.status, `${e.event_type} replay status`);
        assert.equal(x.reason, first.reason);
        assert.equal(x.result_id, first.result_id);
        assert.deepEqual(x.namespaces, first.namespaces);
      }
      assert.deepEqual(await snapshot(id), once, `${e.event_type}: replays change nothing`);
    }
  } finally {
    await kubeConfig({ termination_ms: 1500 });
  }
});

test('older versions arriving late are SKIPPED as stale and write nothing', async () => {
  const id = 'ws-order';
  const r3 = await sendOne(event(id, 3, 'MEMBERS_CHANGED', { members: [people.alice, people.bob] }));
  await assertProvisioned(id, 3, r3);
  const before3 = await snapshot(id);
  await clearLogs();
  const [r2, r1, r2b] = await send([
    event(id, 2, 'MEMBERS_CHANGED', { members: [people.charlie] }),
    event(id, 1, 'WORKSPACE_CREATED', { members: [people.charlie] }),
    event(id, 2, 'SERVICE_REMOVED', { services: [], eventId: `${id}-v2-removed` }),
  ]);
  for (const r of [last(r2), last(r1), last(r2b)]) {
    assert.equal(r.status, 'SKIPPED', JSON.stringify(r));
    assert.equal(r.reason, 'stale');
    assert.equal(r.workspace_version < 3, true);
  }
  assert.deepEqual(writes(await apiLog()), []);
  assert.deepEqual(await snapshot(id), before3);
  const r4 = await sendOne(event(id, 4, 'MEMBERS_CHANGED', { members: [people.charlie] }));
  const s = await assertProvisioned(id, 4, r4);
  assert.deepEqual(bindings(s, id), expectBindings([['charlie', 'viewer', DOMAINS]]));
});

test('a stale create after a delete re-creates nothing, even after a restart', async () => {
  const id = 'ws-tomb';
  await assertProvisioned(id, 1, await sendOne(event(id, 1, 'WORKSPACE_CREATED')));
  const del = await sendOne(event(id, 3, 'WORKSPACE_DELETED'));
  assert.equal(del.reason, 'workspace-deleted');
  await sleep(1700); // let the namespaces finish terminating
  let r = await sendOne(event(id, 2, 'MEMBERS_CHANGED'));
  assert.equal(r.status, 'SKIPPED');
  assert.equal(r.reason, 'stale');
  // A new process has an empty cache: the version on the project decides.
  assert.equal(await stack.stopConsumer(consumer), 0);
  consumer = stack.startConsumer('wsflyte-2');
  await clearLogs();
  r = await sendOne(event(id, 2, 'WORKSPACE_CREATED', { eventId: `${id}-v2-late-create` }));
  assert.equal(r.status, 'SKIPPED');
  assert.equal(r.reason, 'stale');
  assert.deepEqual(writes(await apiLog()), []);
  const s = await snapshot(id);
  assert.equal(s.project.state, 'ARCHIVED');
  assert.equal(s.project.labels.values['wsflyte-workspace-version'], '3');
  assert.deepEqual(s.objects, []);
});

test('re-using an id while its namespaces terminate waits, then re-activates the project', async () => {
  const id = 'ws-reuse';
  await assertProvisioned(id, 1, await sendOne(event(id, 1, 'WORKSPACE_CREATED')));
  // The namespaces terminate until the test lets them go, however slowly
  // the machine handles the events.
  await kubeConfig({ termination_ms: 3600000 });
  try {
    const del = await sendOne(event(id, 2, 'WORKSPACE_DELETED'));
    assert.equal(del.status, 'SUCCEEDED');
    await clearLogs();
    const pending = sendOne(event(id, 3, 'WORKSPACE_CREATED', { members: [people.bob] }));
    const nsApplies = async () => (await stack.kubeRequests())
      .filter((x) => x.method === 'PATCH' && x.path === `/api/v1/namespaces/${id}-development`);
    assert.ok(await waitFor(async () => (await nsApplies()).length >= 2, 60000, 100),
      `the namespace apply is repeated while the old one terminates\n${stack.logs.join('').slice(-3000)}`);
    const releasedAt = Date.now();
    const f = await fetch(`${stack.kubeUrl}/_test/namespaces/finish`, { method: 'POST' });
    assert.ok(f.ok, await f.text());
    const r = await pending;
    const s = await assertProvisioned(id, 3, r);
    assert.ok(r.attempts > 1, `retried while terminating (attempts ${r.attempts})`);
    assert.ok(r.completed_at >= releasedAt, `reported ${releasedAt - r.completed_at} ms before the namespaces were gone`);
    assert.deepEqual(bindings(s, id), expectBindings([['bob', 'contributor', ['development', 'staging']]]));
    // The project stayed archived until the namespaces could be re-created.
    const flyteWrites = writes(await stack.flyteRequests());
    const activate = flyteWrites.find((x) => x.method === 'PUT' && x.path === `/api/v1/projects/${id}`);
    assert.equal(activate.body.state, 'ACTIVE');
    assert.ok(Date.parse(activate.time) >= releasedAt, 'no re-activation while terminating');
  } finally {
    await kubeConfig({ termination_ms: 1500 });
  }
});

test('hostile workspace names and user ids stay data inside their workspace', async () => {
  const id = 'ws-hostile';
  const before = (await stack.kubeState()).objects.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`);
  const hostile = [
    { user_id: 'mallory"\'; ../../kube-system', email: 'm@x.io', role: 'OWNER' },
    { user_id: 'eve: {kind: ClusterRoleBinding}', email: '"eve"@x.io', role: 'CONTRIBUTOR' },
    { user_id: '../../../etc/passwd', email: 'p@x.io', role: 'VIEWER' },
  ];
  const name = 'evil"}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n../../';
  const r = await sendOne(event(id, 1, 'WORKSPACE_CREATED', { name, members: hostile }));
  const s = await assertProvisioned(id, 1, r);
  assert.ok(s.project.name.startsWith('Flyte - evil"} --- apiVersion'), s.project.name);
  assert.ok(Buffer.byteLength(s.project.name) <= 64);
  const after = (await stack.kubeState()).objects;
  for (const o of after) {
    const key = `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
    if (before.includes(key)) continue;
    if (o.metadata.labels?.[WS_LABEL] !== id) {
      // Only the objects Kubernetes itself seeds into the new namespaces.
      assert.ok(o.metadata.namespace?.startsWith(`${id}-`), `unexpected ${key}`);
      continue;
    }
    const where = o.kind === 'Namespace' ? o.metadata.name : o.metadata.namespace;
    assert.ok(where.startsWith(`${id}-`) || key === `ConfigMap/flyte/wsflyte-authz-${id}`, `outside: ${key}`);
  }
  assert.equal(ofKind(s, 'RoleBinding').length, 3 + 2 + 3);
  const subjects = new Set(ofKind(s, 'RoleBinding').map((b) => b.subjects[0].name));
  assert.deepEqual([...subjects].sort(), hostile.map((m) => m.user_id).sort());
  assert.deepEqual(Object.keys(authz(s, id).members).sort(), hostile.map((m) => m.user_id).sort());
  for (const b of ofKind(s, 'RoleBinding')) assert.match(b.metadata.name, /^[a-z0-9-]+$/);
});

test('invalid events are FAILED as VALIDATION and dead-lettered, with no API request', async () => {
  await clearLogs();
  const bad = [
    event('../kube-system', 1, 'WORKSPACE_CREATED'),
    event('WS-Upper', 1, 'WORKSPACE_CREATED'),
    event('a'.repeat(52), 1, 'WORKSPACE_DELETED'),
    event('ws-newline-user', 1, 'WORKSPACE_CREATED', { members: [{ ...people.alice, user_id: 'alice\nkind: ClusterRoleBinding' }] }),
    event('ws-system-user', 1, 'MEMBERS_CHANGED', { members: [{ ...people.alice, user_id: 'system:anonymous' }] }),
  ];
  const results = await send(bad, 'json');
  for (const [i, rs] of results.entries()) {
    const r = last(rs);
    assert.equal(r.status, 'FAILED', JSON.stringify(r));
    assert.equal(r.error.class, 'VALIDATION', JSON.stringify(r.error));
    assert.equal(r.workspace_id, bad[i].workspace.workspace_id);
  }
  assert.deepEqual(await apiLog(), []);
  // The dead letters are produced alongside the results: allow them a moment.
  let dlt;
  for (let i = 0; i < 50; i++) {
    dlt = await run('kcat', ['-C', '-b', stack.bootstrap, '-t', DLT, '-e', '-q', '-f', '%k\t%h\n']);
    if (bad.every((e) => dlt.stdout.includes(`${e.workspace.workspace_id}\t`))) break;
    await sleep(200);
  }
  for (const e of bad) {
    const line = dlt.stdout.split('\n').find((l) => l.startsWith(`${e.workspace.workspace_id.split('\n')[0]}\t`));
    assert.ok(line, `dead letter for ${e.workspace.workspace_id}:\n${dlt.stdout}`);
    assert.match(line, /x-error-class=VALIDATION/);
  }
});

test('a workspace without Flyte is SKIPPED as flyte-not-enabled and gets nothing', async () => {
  const id = 'ws-noflyte';
  await clearLogs();
  const [created, changed] = await send([
    event(id, 1, 'WORKSPACE_CREATED', { services: ['sagemaker', 'emr'] }),
    event(id, 2, 'MEMBERS_CHANGED', { services: ['sagemaker'] }),
  ]);
  for (const r of [last(created), last(changed)]) {
    assert.equal(r.status, 'SKIPPED', JSON.stringify(r));
    assert.equal(r.reason, 'flyte-not-enabled');
    assert.equal(r.flyte_project, null);
    assert.deepEqual(r.namespaces, []);
  }
  assert.deepEqual(writes(await apiLog()), []);
  const s = await snapshot(id);
  assert.equal(s.project, null);
  assert.deepEqual(s.objects, []);
});

test('a Flyte project wsflyte did not register is never taken over or archived', async () => {
  const id = 'ws-foreign';
  const reg = await fetch(`${stack.flyteUrl}/api/v1/projects`, {
    method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ project: { id, name: 'Someone else', labels: { values: { team: 'other' } } } }),
  });
  assert.ok(reg.ok, await reg.text());
  const r = await sendOne(event(id, 1, 'WORKSPACE_CREATED'));
  assert.equal(r.status, 'FAILED');
  assert.equal(r.error.class, 'PERMANENT');
  assert.equal(r.error.code, 'flyte.foreign-project');
  const d = await sendOne(event(id, 2, 'WORKSPACE_DELETED'));
  assert.equal(d.status, 'SKIPPED');
  assert.equal(d.reason, 'flyte-not-enabled');
  const s = await snapshot(id);
  assert.equal(s.project.state, 'ACTIVE');
  assert.equal(s.project.name, 'Someone else');
  assert.deepEqual(s.objects, []);
});
