// wsflyte-status against a running stack: what wsflyte recorded for a
// workspace, read from the state topic without joining the group.
//
//   ws-st-a      v1 alice+bob, v2 alice+carol applied   -> exit 0: version 2, complete, Flyte wanted,
//                                                          every object named with its hashes, members
//                                                          and their domains; --json the same
//   ws-st-del    created, then WORKSPACE_DELETED         -> exit 0: Flyte not wanted, no objects
//   ws-st-none   never seen                              -> exit 1: no record (with a known one: still 1)
//   ws-st-moved  records on three partitions, then a     -> the highest version wins; a tombstone drops
//                tombstone on one                           only its partition's record
//   Bad_Id, an unreachable broker                        -> exit 2, a clear message
//   --live       wsflyte stopped, the staging quota      -> that quota differs (the field shown), the
//                patched and a LimitRange deleted           LimitRange missing, all else unchanged; GETs only
//                the production namespace taken over     -> it and all in it foreign-namespace, none read
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, makeEvent, run, bin, waitFor } from './harness.mjs';

const STATE = 'workspace.lifecycle.v1.wsflyte.state';
const alice = { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' };
const bob = { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' };
const carol = { user_id: 'carol', email: 'carol@company.com', role: 'VIEWER' };
const DOMAINS = ['development', 'staging', 'production'];
let stack, consumer;

before(async () => {
  // No drift repair: the --live test plays another writer.
  stack = new Stack({ editConfig: (doc) => { doc.reconcile = { watch: false, resync_interval: '0' }; } });
  await stack.start();
  consumer = stack.startConsumer();
  const events = [
    makeEvent({ workspace: 'ws-st-a', version: 1, members: [alice, bob] }),
    makeEvent({ workspace: 'ws-st-del', version: 1, members: [alice] }),
  ];
  await apply(events);
  await apply([
    makeEvent({ workspace: 'ws-st-a', version: 2, type: 'MEMBERS_CHANGED', members: [alice, carol] }),
    makeEvent({ workspace: 'ws-st-del', version: 2, type: 'WORKSPACE_DELETED', members: [alice] }),
  ]);
  // A state record is produced before its result, but on another topic: wait
  // until both records are readable rather than assume the order of delivery.
  const ready = await waitFor(async () => {
    const j = await statusJson(['ws-st-a', 'ws-st-del']);
    return j.code === 0 && j.docs.every((d) => d.version === 2 && d.complete);
  }, 60000);
  assert.ok(ready, 'both state records at version 2');
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0);
  await stack?.stop();
});

async function apply(events) {
  await stack.produceEvents(events, 'json');
  for (const e of events) {
    const r = await stack.resultOf(e.event_id, 200);
    assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  }
}

function status(args, configPath = stack.configPath) {
  return run(bin('wsflyte-status'), ['--config', configPath, ...args]);
}

async function statusJson(args) {
  const r = await status(['--json', ...args]);
  return { ...r, docs: r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

test('a provisioned workspace: its record, objects and members; exit 0', async () => {
  const r = await status(['ws-st-a']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'workspace ws-st-a');
  assert.match(r.stdout, /^ {2}version: 2 \(partition \d+, offset \d+\)$/m);
  assert.match(r.stdout, /^ {2}event: ws-st-a-v2-\S+ MEMBERS_CHANGED at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/m);
  assert.match(r.stdout, /^ {2}outcome: SUCCEEDED$/m);
  assert.match(r.stdout, /^ {2}complete: yes$/m);
  assert.match(r.stdout, /^ {2}flyte: wanted$/m);
  assert.match(r.stdout, /^ {2}project: ws-st-a$/m);
  assert.ok(lines.includes(`  cluster: ${stack.kubeUrl}`), r.stdout);
  assert.ok(lines.includes(`  namespaces: ${DOMAINS.map((d) => `ws-st-a-${d}`).join(', ')}`), r.stdout);
  assert.match(r.stdout, /^ {4}v1 ResourceQuota ws-st-a-staging\/workspace-quota {2}identity [0-9a-f]{16} content [0-9a-f]{16}$/m);
  assert.match(r.stdout, /^ {4}flyteadmin\/v1 FlyteProject ws-st-a {2}identity [0-9a-f]{16} content [0-9a-f]{16}$/m);
  assert.ok(lines.includes('    carol <carol@company.com> VIEWER: development, staging, production'), r.stdout);
  assert.ok(lines.includes('    alice <alice@company.com> OWNER: development, staging, production'), r.stdout);
  assert.ok(!r.stdout.includes('bob'), 'a former member is not listed');
  assert.ok(!/not as rendered now|no rendered object names/.test(r.stdout), r.stdout);

  const j = await statusJson(['ws-st-a']);
  assert.equal(j.code, 0, j.stderr);
  assert.equal(j.docs.length, 1);
  const d = j.docs[0];
  assert.equal(d.workspace_id, 'ws-st-a');
  assert.equal(d.record, true);
  assert.equal(d.version, 2);
  assert.match(d.event_id, /^ws-st-a-v2-/);
  assert.equal(d.event_type, 'MEMBERS_CHANGED');
  assert.match(d.event_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(d.outcome, { status: 'SUCCEEDED', reason: null, project_named: true });
  assert.equal(d.complete, true);
  assert.equal(d.flyte_wanted, true);
  assert.equal(d.project, 'ws-st-a');
  assert.equal(d.cluster, stack.kubeUrl);
  assert.deepEqual(d.namespaces, DOMAINS.map((x) => `ws-st-a-${x}`));
  // Every recorded object is named, and every named one recorded as rendered now.
  assert.equal(d.objects.length, d.recorded_objects);
  assert.equal(d.unnamed_objects, 0);
  for (const o of d.objects) {
    assert.match(o.identity, /^[0-9a-f]{16}$/);
    assert.match(o.content, /^[0-9a-f]{16}$/, JSON.stringify(o));
    assert.equal(o.rendered_matches, true, JSON.stringify(o));
    assert.equal(o.live, undefined, 'no live state without --live');
  }
  const names = d.objects.map((o) => `${o.kind} ${o.namespace ? o.namespace + '/' : ''}${o.name}`);
  assert.ok(names.includes('FlyteProject ws-st-a'), names.join('\n'));
  for (const x of DOMAINS) {
    assert.ok(names.includes(`ProjectDomainAttributes ws-st-a/${x}`), names.join('\n'));
    assert.ok(names.includes(`Namespace ws-st-a-${x}`), names.join('\n'));
    assert.ok(names.some((n) => n.startsWith(`RoleBinding ws-st-a-${x}/workspace-viewer-carol-`)), names.join('\n'));
  }
  assert.ok(names.includes('ConfigMap flyte/wsflyte-authz-ws-st-a'), names.join('\n'));
  assert.deepEqual(d.members.map((m) => [m.user_id, m.role, m.domains]).sort(), [
    ['alice', 'OWNER', DOMAINS], ['carol', 'VIEWER', DOMAINS]]);
});

test('a deleted workspace: Flyte not wanted, no objects; exit 0', async () => {
  const j = await statusJson(['ws-st-del']);
  assert.equal(j.code, 0, j.stderr);
  const d = j.docs[0];
  assert.equal(d.record, true);
  assert.equal(d.version, 2);
  assert.equal(d.event_type, 'WORKSPACE_DELETED');
  assert.equal(d.flyte_wanted, false);
  assert.equal(d.complete, true);
  assert.equal(d.project, null);
  assert.deepEqual(d.objects, []);
  const r = await status(['ws-st-del']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ {2}flyte: not wanted/m);
});

test('an unknown workspace: no record, exit 1, also beside a known one', async () => {
  const r = await status(['ws-st-none']);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, 'workspace ws-st-none\n  no record\n');
  const j = await statusJson(['ws-st-a', 'ws-st-none']);
  assert.equal(j.code, 1, j.stderr);
  assert.deepEqual(j.docs.map((d) => [d.workspace_id, d.record]), [['ws-st-a', true], ['ws-st-none', false]]);
});

// Publishes a state record (or, value null, a tombstone) on a partition.
// kcat skips an empty record unless its key comes through -K; with -Z an
// empty value is then sent as null.
async function putState(partition, key, value) {
  const r = await run('kcat', ['-P', '-b', stack.bootstrap, '-t', STATE, '-p', String(partition),
    '-K', '\u0002', '-D', '\u0001', '-Z'],
  { input: `${key}\u0002${value === null ? '' : JSON.stringify(value)}\u0001` });
  assert.equal(r.code, 0, r.stderr);
}

test('records on several partitions: the highest version wins; a tombstone drops only its own', async () => {
  const base = JSON.parse((await run('kcat', ['-C', '-b', stack.bootstrap, '-t', STATE, '-e', '-q',
    '-f', '%k\u0001%s\n'])).stdout.split('\n').filter((l) => l.startsWith('ws-st-a\u0001'))
    .map((l) => l.split('\u0001')[1]).filter((v) => v && JSON.parse(v).complete).at(-1));
  const id = 'ws-st-moved';
  const rec = (v) => ({ ...base, workspace_id: id, version: v, event_id: `${id}-v${v}`,
    event: { ...base.event, event_id: `${id}-v${v}`, workspace_version: v,
      workspace: { ...base.event.workspace, workspace_id: id } } });
  await putState(0, id, rec(3));
  await putState(1, id, rec(5));
  await putState(2, id, rec(4));
  let j = await statusJson([id]);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual([j.docs[0].version, j.docs[0].partition, j.docs[0].event_id], [5, 1, `${id}-v5`]);
  await putState(1, id, null);
  j = await statusJson([id]);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual([j.docs[0].version, j.docs[0].partition], [4, 2]);
  assert.deepEqual(j.docs[0].unreadable_records, [], 'a tombstone is no unreadable record');
  for (const p of [0, 2]) await putState(p, id, null);
  j = await statusJson([id]);
  assert.equal(j.code, 1, j.stderr);
  assert.equal(j.docs[0].record, false);
  assert.deepEqual(j.docs[0].unreadable_records, []);
});

test('bad arguments and an unreachable broker: exit 2 with a clear message', async () => {
  const bad = await status(['Bad_Id']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /workspace id "Bad_Id" is not valid: a DNS label/);
  assert.equal(bad.stdout, '');
  const none = await status([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /name at least one workspace id/);
  const cfg = join(stack.dir, 'unreachable.yaml');
  writeFileSync(cfg, stack.configYaml().replace(JSON.stringify(stack.bootstrap), '"127.0.0.1:1"'));
  const down = await status(['--timeout', '2', 'ws-st-a'], cfg);
  assert.equal(down.code, 2, down.stdout);
  assert.match(down.stderr, /cannot read the state topic: metadata of workspace\.lifecycle\.v1\.wsflyte\.state/);
  assert.equal(down.stdout, '');
});

test('--live after another writer changed one object and deleted another: GETs only', async () => {
  // Stopped, wsflyte repairs nothing behind the test's back.
  assert.equal(await stack.stopConsumer(consumer), 0);
  consumer = null;
  const quota = `/api/v1/namespaces/ws-st-a-staging/resourcequotas/workspace-quota`;
  const p = await fetch(`${stack.kubeUrl}${quota}`, {
    method: 'PATCH', headers: { 'Content-Type': 'application/merge-patch+json' },
    body: JSON.stringify({ spec: { hard: { 'requests.cpu': '99' } } }),
  });
  assert.equal(p.status, 200, await p.text());
  const lr = await fetch(`${stack.kubeUrl}/api/v1/namespaces/ws-st-a-development/limitranges/workspace-defaults`,
    { method: 'DELETE' });
  assert.equal(lr.status, 200, await lr.text());
  for (const url of [stack.flyteUrl, stack.kubeUrl]) await fetch(`${url}/_test/requests`, { method: 'DELETE' });

  const j = await statusJson(['--live', 'ws-st-a']);
  assert.equal(j.code, 0, j.stderr);
  const d = j.docs[0];
  const seen = [...await stack.flyteRequests(), ...await stack.kubeRequests()];
  assert.deepEqual(seen.filter((q) => q.method !== 'GET'), [], 'only reads');
  const byName = Object.fromEntries(d.objects.map((o) => [`${o.kind} ${o.namespace ? o.namespace + '/' : ''}${o.name}`, o.live]));
  assert.deepEqual(byName['ResourceQuota ws-st-a-staging/workspace-quota'],
    { state: 'differs', changes: ['spec.hard["requests.cpu"]: "99" -> "20"'] });
  assert.deepEqual(byName['LimitRange ws-st-a-development/workspace-defaults'], { state: 'missing' });
  const others = Object.entries(byName).filter(([k]) => !k.startsWith('ResourceQuota ws-st-a-staging/') &&
    !k.startsWith('LimitRange ws-st-a-development/'));
  assert.ok(others.length > 20);
  for (const [k, v] of others) assert.deepEqual(v, { state: 'unchanged' }, k);
  assert.deepEqual(d.live, { unchanged: others.length, differs: 1, missing: 1, foreign: 0 });

  const h = await status(['--live', 'ws-st-a']);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /^ {4}v1 ResourceQuota ws-st-a-staging\/workspace-quota {2}identity [0-9a-f]{16} content [0-9a-f]{16} {2}live: differs\n {6}spec\.hard\["requests\.cpu"\]: "99" -> "20"$/m);
  assert.match(h.stdout, /^ {4}v1 LimitRange ws-st-a-development\/workspace-defaults {2}identity [0-9a-f]{16} content [0-9a-f]{16} {2}live: missing$/m);
  assert.match(h.stdout, /live: \d+ unchanged, 1 differ, 1 missing, 0 in a foreign namespace/);

  // Someone takes the production namespace over (wsflyte's workspace label gone):
  // it and everything in it are reported foreign, and nothing in it is read.
  const ns = await fetch(`${stack.kubeUrl}/api/v1/namespaces/ws-st-a-production`, {
    method: 'PATCH', headers: { 'Content-Type': 'application/merge-patch+json' },
    body: JSON.stringify({ metadata: { labels: { 'wsflyte.io/workspace': null } } }),
  });
  assert.equal(ns.status, 200, await ns.text());
  for (const url of [stack.flyteUrl, stack.kubeUrl]) await fetch(`${url}/_test/requests`, { method: 'DELETE' });
  const f = (await statusJson(['--live', 'ws-st-a'])).docs[0];
  const reads = await stack.kubeRequests();
  assert.deepEqual(reads.filter((q) => q.method !== 'GET'), [], 'only reads');
  assert.ok(!reads.some((q) => q.path.startsWith('/api/v1/namespaces/ws-st-a-production/') ||
    q.path.includes('/namespaces/ws-st-a-production/')), 'nothing read inside a foreign namespace');
  const prod = f.objects.filter((o) => o.name === 'ws-st-a-production' || o.namespace === 'ws-st-a-production');
  assert.ok(prod.length > 5);
  for (const o of prod) assert.equal(o.live.state, 'foreign-namespace', JSON.stringify(o));
  assert.equal(f.live.foreign, prod.length);
});
