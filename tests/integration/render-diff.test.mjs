// wsflyte-render --diff against the test servers: what replaying an event
// would change, read with GETs only.
//
//   ws-diff       v1 alice+bob applied; v2 drops bob, adds carol   -> exit 1: carol's bindings created,
//                                                                     bob's deleted, authz ConfigMap and
//                                                                     project updated; nothing written
//                 v2 applied, diffed again                         -> exit 0, everything unchanged
//                 v1 diffed after v2                               -> exit 0, stale
//                 a quota edited by another writer                 -> exit 1, the field shown
//                 WORKSPACE_DELETED v3                             -> archive and deletes listed
//   ws-diff-fns   <id>-production held by another team             -> exit 1, k8s.foreign-namespace
//                 attributes changed in FlyteAdmin by someone else -> exit 1, what the PUT replaces
//   ws-diff-fpr   a Flyte project registered by someone else       -> exit 1, flyte.foreign-project
//   Not_A_Label   an invalid workspace id                          -> exit 1, VALIDATION
//   FlyteAdmin unreachable                                         -> exit 2, a clear message
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, makeEvent, run, bin } from './harness.mjs';

const alice = { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' };
const bob = { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' };
const carol = { user_id: 'carol', email: 'carol@company.com', role: 'VIEWER' };
const DOMAINS = ['development', 'staging', 'production'];
let stack, consumer;

before(async () => {
  // No drift repair: the test plays another writer and diffs what it changed.
  stack = new Stack({ editConfig: (doc) => { doc.reconcile = { watch: false, resync_interval: '0' }; } });
  await stack.start();
  consumer = stack.startConsumer();
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0);
  await stack?.stop();
});

// Runs wsflyte-render --diff on one event: {code, stdout, stderr, lines}.
async function diff(event, configPath = stack.configPath) {
  const file = join(stack.dir, `${event.event_id}.json`);
  writeFileSync(file, JSON.stringify(event));
  const r = await run(bin('wsflyte-render'), ['--diff', '--config', configPath, file]);
  return { ...r, lines: r.stdout.split('\n').filter(Boolean) };
}

async function apply(event) {
  await stack.produceEvents([event], 'json');
  const r = await stack.resultOf(event.event_id, 200);
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
}

// Every request the servers saw since the last call, then forgotten.
async function requestsSince() {
  const seen = [...await stack.flyteRequests(), ...await stack.kubeRequests()];
  for (const url of [stack.flyteUrl, stack.kubeUrl]) await fetch(`${url}/_test/requests`, { method: 'DELETE' });
  return seen;
}

// The object lines ("<verb> <Kind> <name>") and the summary's counts agree.
function assertSummary(lines) {
  const count = (verb) => lines.filter((l) => l.startsWith(`${verb} `)).length;
  assert.equal(lines.at(-1),
    `${count('create')} to create, ${count('update')} to update, ${count('delete')} to delete, ${count('unchanged')} unchanged`);
}

// The field lines under an object's line.
function fieldsOf(lines, objectLine) {
  const i = lines.indexOf(objectLine);
  assert.ok(i >= 0, `no line "${objectLine}" in:\n${lines.join('\n')}`);
  const out = [];
  for (let j = i + 1; j < lines.length && lines[j].startsWith('  '); j++) out.push(lines[j].trim());
  return out;
}

test('a member change: exit 1 with the bindings to create and delete and the authz ConfigMap update; GETs only', async () => {
  const id = 'ws-diff';
  const v1 = makeEvent({ workspace: id, version: 1, members: [alice, bob] });
  await requestsSince();
  const fresh = await diff(v1);
  assert.equal(fresh.code, 1, fresh.stderr);
  assert.ok(fresh.lines.includes(`create FlyteProject ${id}`));
  for (const d of DOMAINS) assert.ok(fresh.lines.includes(`create Namespace ${id}-${d}`), fresh.stdout);
  assert.ok(fresh.lines.includes(`create ConfigMap flyte/wsflyte-authz-${id}`));
  assert.equal(fresh.lines.filter((l) => /^(update|delete|unchanged) /.test(l)).length, 0, fresh.stdout);
  assertSummary(fresh.lines);
  await apply(v1);

  const v2 = makeEvent({ workspace: id, version: 2, type: 'MEMBERS_CHANGED', members: [alice, carol] });
  await requestsSince();
  const r = await diff(v2);
  const writes = (await requestsSince()).filter((q) => q.method !== 'GET');
  assert.deepEqual(writes, [], 'the diff only reads');
  assert.equal(r.code, 1, r.stderr);
  for (const d of DOMAINS) {
    assert.ok(r.lines.some((l) => l.startsWith(`create RoleBinding ${id}-${d}/workspace-viewer-carol-`)), r.stdout);
    assert.ok(r.lines.includes(`unchanged Role ${id}-${d}/workspace-owner`), r.stdout);
    assert.ok(r.lines.some((l) => l.startsWith(`unchanged RoleBinding ${id}-${d}/workspace-owner-alice-`)), r.stdout);
  }
  for (const d of ['development', 'staging']) {
    assert.ok(r.lines.some((l) => l.startsWith(`delete RoleBinding ${id}-${d}/workspace-contributor-bob-`)), r.stdout);
  }
  assert.equal(r.lines.filter((l) => l.startsWith('delete ')).length, 2, r.stdout);
  const authz = fieldsOf(r.lines, `update ConfigMap flyte/wsflyte-authz-${id}`);
  assert.ok(authz.some((f) => f.startsWith('data["workspace.json"].members.carol: (absent) -> {')), authz.join('\n'));
  assert.ok(authz.some((f) => /^data\["workspace.json"\]\.members\.bob: \{"domains":\["development","staging"\],.* -> \(absent\)$/.test(f)), authz.join('\n'));
  assert.ok(authz.includes('data["workspace.json"].workspace_version: 1 -> 2'), authz.join('\n'));
  assert.deepEqual(fieldsOf(r.lines, `update FlyteProject ${id}`), ['labels.values.wsflyte-workspace-version: "1" -> "2"']);
  assert.deepEqual(fieldsOf(r.lines, `update Namespace ${id}-development`),
    ['metadata.annotations["wsflyte.io/workspace-version"]: "1" -> "2"']);
  assert.ok(r.lines.includes(`unchanged ProjectDomainAttributes ${id}/development`), r.stdout);
  assertSummary(r.lines);

  await apply(v2);
  const same = await diff(v2);
  assert.equal(same.code, 0, same.stdout + same.stderr);
  assert.deepEqual(same.lines.filter((l) => !l.startsWith('unchanged ')).slice(0, -1), []);
  assert.match(same.lines.at(-1), /^0 to create, 0 to update, 0 to delete, \d+ unchanged$/);
  assertSummary(same.lines);

  const stale = await diff(v1);
  assert.equal(stale.code, 0, stale.stdout + stale.stderr);
  assert.match(stale.stdout, /^stale: the Flyte project records version 2, newer than this event's 1: the event would be SKIPPED, nothing changes$/m);

  // Another writer (kubectl edit: an Update, not an apply) changes the quota.
  const quota = `/api/v1/namespaces/${id}-staging/resourcequotas/workspace-quota`;
  const p = await fetch(`${stack.kubeUrl}${quota}`, {
    method: 'PATCH', headers: { 'Content-Type': 'application/merge-patch+json' },
    body: JSON.stringify({ spec: { hard: { 'requests.cpu': '99' } } }),
  });
  assert.equal(p.status, 200, await p.text());
  const drift = await diff(v2);
  assert.equal(drift.code, 1, drift.stderr);
  assert.deepEqual(fieldsOf(drift.lines, `update ResourceQuota ${id}-staging/workspace-quota`),
    ['spec.hard["requests.cpu"]: "99" -> "20"']);
  assert.equal(drift.lines.filter((l) => /^(create|update|delete) /.test(l)).length, 1, drift.stdout);

  // Someone sets a field of the attributes wsflyte does not send: its PUT replaces them.
  const attrs = await fetch(`${stack.flyteUrl}/api/v1/project_domain_attributes/${id}/production`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ attributes: { project: id, domain: 'production', matching_attributes: { workflow_execution_config: { max_parallelism: 50 } } } }),
  });
  assert.equal(attrs.status, 200, await attrs.text());
  const lost = await diff(v2);
  const fields = fieldsOf(lost.lines, `update ProjectDomainAttributes ${id}/production`);
  assert.ok(fields.includes('matching_attributes.workflow_execution_config.max_parallelism: 50 -> (absent)'), fields.join('\n'));
  assert.ok(fields.includes(`matching_attributes.workflow_execution_config.security_context: (absent) -> {"run_as":{"k8s_service_account":"workspace-runner"}}`), fields.join('\n'));

  const gone = await diff(makeEvent({ workspace: id, version: 3, type: 'WORKSPACE_DELETED', services: [] }));
  assert.equal(gone.code, 1, gone.stderr);
  assert.deepEqual(fieldsOf(gone.lines, `update FlyteProject ${id}`),
    ['labels.values.wsflyte-workspace-version: "2" -> "3"', 'state: "ACTIVE" -> "ARCHIVED"']);
  for (const d of DOMAINS) assert.ok(gone.lines.includes(`delete Namespace ${id}-${d} (with everything in it)`), gone.stdout);
  assert.ok(gone.lines.includes(`delete ConfigMap flyte/wsflyte-authz-${id}`), gone.stdout);
  assertSummary(gone.lines);
});

test('a namespace of a rendered name held by another team: the event would fail, nothing else is planned', async () => {
  const id = 'ws-diff-fns', ns = `${id}-production`;
  const r0 = await fetch(`${stack.kubeUrl}/api/v1/namespaces`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { team: 'payments' } } }),
  });
  assert.equal(r0.status, 201);
  const r = await diff(makeEvent({ workspace: id, version: 1, members: [alice] }));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.lines[0], new RegExp(`^fail: the event would FAIL \\(PERMANENT k8s.foreign-namespace\\): namespace ${ns} exists but is not wsflyte's`));
  assert.equal(r.lines.at(-1), '0 to create, 0 to update, 0 to delete, 0 unchanged');
});

test('a Flyte project registered by someone else: the event would fail', async () => {
  const id = 'ws-diff-fpr';
  const reg = await fetch(`${stack.flyteUrl}/api/v1/projects`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ project: { id, name: 'Hand-made' } }),
  });
  assert.equal(reg.status, 200, await reg.text());
  const r = await diff(makeEvent({ workspace: id, version: 1 }));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.lines[0], /^fail: the event would FAIL \(PERMANENT flyte\.foreign-project\)/);
});

test('an event the handler would reject: exit 1, the validation failure explained', async () => {
  const r = await diff(makeEvent({ workspace: 'Not_A_Label', version: 1 }));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.lines[0], /^fail: the event would FAIL \(VALIDATION event\.workspace_id\): workspace\.workspace_id "Not_A_Label": must be a DNS-1123 label/);
});

test('FlyteAdmin unreachable: exit 2 and says which server could not be read', async () => {
  const path = join(stack.dir, 'unreachable.yaml');
  const doc = JSON.parse(stack.configYaml());
  doc.flyte.admin_url = 'http://127.0.0.1:1';
  writeFileSync(path, JSON.stringify(doc));
  const r = await diff(makeEvent({ workspace: 'ws-diff-down', version: 1 }), path);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^wsflyte-render: cannot read the live state: flyte GET \/api\/v1\/projects\/ws-diff-down: .*\(TRANSIENT flyte\.connect\)$/m);
});
