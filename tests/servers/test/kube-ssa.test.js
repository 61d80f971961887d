import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startKube, call, apply, ns, cm } from './helpers.js';

let srv;
let B;
before(async () => {
  srv = await startKube({ terminationMs: 200 });
  B = srv.url;
});
after(() => srv.close());
beforeEach(async () => {
  await call(B, 'POST', '/_test/reset');
  await apply(B, '/api/v1/namespaces/ws', ns('ws'));
});

const CM = '/api/v1/namespaces/ws/configmaps/c';
const RB = '/apis/rbac.authorization.k8s.io/v1/namespaces/ws/rolebindings/rb';
const rb = (role, subjects) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name: 'rb' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
  subjects,
});

test('apply creates (201), updates (200); a no-op apply keeps resourceVersion', async () => {
  let r = await apply(B, CM, cm('c', { a: '1' }));
  assert.equal(r.status, 201);
  const rv1 = r.json.metadata.resourceVersion;
  r = await apply(B, CM, cm('c', { a: '1' }));
  assert.equal(r.status, 200);
  assert.equal(r.json.metadata.resourceVersion, rv1);
  r = await apply(B, CM, cm('c', { a: '2' }));
  assert.equal(r.status, 200);
  assert.ok(Number(r.json.metadata.resourceVersion) > Number(rv1));
});

test('server-added fields: uid, resourceVersion, creationTimestamp, managedFields', async () => {
  const r = await apply(B, CM, cm('c', { a: '1' }, { x: 'y' }));
  const m = r.json.metadata;
  assert.match(m.uid, /^[0-9a-f-]{36}$/);
  assert.match(m.resourceVersion, /^\d+$/);
  assert.match(m.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(m.managedFields, [{
    manager: 'wsflyte', operation: 'Apply', apiVersion: 'v1', time: m.managedFields[0].time, fieldsType: 'FieldsV1',
    fieldsV1: { 'f:data': { 'f:a': {} }, 'f:metadata': { 'f:labels': { 'f:x': {} } } },
  }]);
});

test('apply body may be YAML', async () => {
  const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: "1"\n';
  const r = await call(B, 'PATCH', `${CM}?fieldManager=wsflyte`, yaml, { Accept: 'application/json', 'Content-Type': 'application/apply-patch+yaml' });
  assert.equal(r.status, 201);
  assert.deepEqual(r.json.data, { a: '1' });
});

test('fieldManager is required (422) and at most 128 characters', async () => {
  let r = await apply(B, CM, cm('c', {}), { manager: null });
  assert.equal(r.status, 422);
  assert.equal(r.json.message, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
  assert.equal(r.json.details.group, 'meta.k8s.io');
  assert.equal(r.json.details.kind, 'PatchOptions');
  r = await apply(B, CM, cm('c', {}), { manager: 'm'.repeat(129) });
  assert.equal(r.status, 422);
  assert.match(r.json.message, /fieldManager: Too long/);
});

test('force on a non-apply patch -> 422; other patch types on a missing object -> 404', async () => {
  let r = await call(B, 'PATCH', `${CM}?force=true`, { data: { a: '1' } }, { 'Content-Type': 'application/merge-patch+json' });
  assert.equal(r.status, 422);
  assert.equal(r.json.message, 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch');
  r = await call(B, 'PATCH', CM, { data: { a: '1' } }, { 'Content-Type': 'application/merge-patch+json' });
  assert.equal(r.status, 404);
  assert.equal(r.json.message, 'configmaps "c" not found');
  r = await call(B, 'PATCH', CM, [{ op: 'add', path: '/data', value: {} }], { 'Content-Type': 'application/json-patch+json' });
  assert.equal(r.status, 404);
});

test('body name / namespace must match the URL (400); managedFields in body rejected', async () => {
  let r = await apply(B, CM, cm('other', {}));
  assert.equal(r.status, 400);
  assert.equal(r.json.reason, 'BadRequest');
  assert.equal(r.json.message, 'the name of the object (other) does not match the name on the URL (c)');
  r = await apply(B, CM, { ...cm('c', {}), metadata: { name: 'c', namespace: 'elsewhere' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'the namespace of the provided object does not match the namespace sent on the request');
  r = await apply(B, CM, { ...cm('c', {}), metadata: { name: 'c', managedFields: [] } });
  assert.equal(r.status, 400);
});

test('unknown fields in an apply body -> 500 typed patch error without reason', async () => {
  const r = await apply(B, '/api/v1/namespaces/ws/resourcequotas/q', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q' }, spec: { foo: 1, hard: { pods: '1' } } });
  assert.equal(r.status, 500);
  assert.deepEqual(r.json, {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
    message: 'failed to create typed patch object (/v1, Kind=ResourceQuota): .spec.foo: field not declared in schema',
    code: 500,
  });
  const r2 = await apply(B, RB, { ...rb('a', []), subjects: [{ kind: 'User', name: 'x', bogus: true }] });
  assert.equal(r2.json.message, 'failed to create typed patch object (rbac.authorization.k8s.io/v1, Kind=RoleBinding): .subjects[0].bogus: field not declared in schema');
});

test('labels are granular: a field dropped by its only manager is removed', async () => {
  await apply(B, CM, cm('c', { a: '1', b: '2' }, { keep: 'x', drop: 'y' }));
  const r = await apply(B, CM, cm('c', { a: '1' }, { keep: 'x' }));
  assert.deepEqual(r.json.metadata.labels, { keep: 'x' });
  assert.deepEqual(r.json.data, { a: '1' });
  const r2 = await apply(B, CM, cm('c', { a: '1' }));
  assert.equal(r2.json.metadata.labels, undefined);
});

test('fields owned by another manager survive; same value is shared without conflict', async () => {
  await apply(B, CM, cm('c', { a: '1' }));
  let r = await apply(B, CM, cm('c', { a: '1', other: 'z' }), { manager: 'other' });
  assert.equal(r.status, 200);
  r = await apply(B, CM, cm('c', {}));
  // "a" is still owned by "other", "other" too
  assert.deepEqual(r.json.data, { a: '1', other: 'z' });
});

test('conflicts without force -> 409 FieldManagerConflict; force takes ownership', async () => {
  await apply(B, CM, cm('c', { a: '1', b: '1' }), { manager: 'kubectl' });
  let r = await apply(B, CM, cm('c', { a: '2' }));
  assert.equal(r.status, 409);
  assert.deepEqual(r.json, {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
    message: 'Apply failed with 1 conflict: conflict with "kubectl": .data.a',
    reason: 'Conflict',
    details: { causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl"', field: '.data.a' }] },
    code: 409,
  });
  r = await apply(B, CM, cm('c', { a: '2', b: '2' }));
  assert.equal(r.status, 409);
  assert.equal(r.json.message, 'Apply failed with 2 conflicts: conflicts with "kubectl":\n- .data.a\n- .data.b');
  r = await apply(B, CM, cm('c', { a: '2' }), { force: true });
  assert.equal(r.status, 200);
  assert.equal(r.json.data.a, '2');
  const owners = Object.fromEntries(r.json.metadata.managedFields.map((e) => [e.manager, Object.keys(e.fieldsV1['f:data'])]));
  assert.deepEqual(owners, { kubectl: ['f:b'], wsflyte: ['f:a'] });
});

test('an Update manager (POST) conflicts with " using v1"', async () => {
  const post = await call(B, 'POST', '/api/v1/namespaces/ws/configmaps?fieldManager=kubectl-create', cm('c', { a: '1' }));
  assert.equal(post.status, 201);
  const r = await apply(B, CM, cm('c', { a: '2' }));
  assert.equal(r.status, 409);
  assert.equal(r.json.message, 'Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .data.a');
});

test('atomic lists are replaced as a whole (RoleBinding subjects)', async () => {
  await apply(B, RB, rb('workspace-viewer', [{ kind: 'User', name: 'a' }, { kind: 'User', name: 'b' }]));
  const r = await apply(B, RB, rb('workspace-viewer', [{ kind: 'User', name: 'b' }]));
  assert.equal(r.json.subjects.length, 1);
  assert.equal(r.json.subjects[0].name, 'b');
  assert.equal(r.json.subjects[0].apiGroup, 'rbac.authorization.k8s.io');
  assert.deepEqual(Object.keys(r.json.metadata.managedFields[0].fieldsV1), ['f:roleRef', 'f:subjects']);
});

test('roleRef is immutable: 422 cannot change roleRef', async () => {
  await apply(B, RB, rb('workspace-viewer', [{ kind: 'User', name: 'a' }]));
  const r = await apply(B, RB, rb('workspace-owner', [{ kind: 'User', name: 'a' }]));
  assert.equal(r.status, 422);
  assert.equal(r.json.reason, 'Invalid');
  assert.equal(r.json.message, 'RoleBinding.rbac.authorization.k8s.io "rb" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"workspace-owner"}: cannot change roleRef');
  assert.deepEqual(r.json.details, {
    name: 'rb', group: 'rbac.authorization.k8s.io', kind: 'RoleBinding',
    causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"workspace-owner"}: cannot change roleRef', field: 'roleRef' }],
  });
});

test('quantities are canonicalised; re-applying the original spelling is a no-op', async () => {
  const q = (hard) => ({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q' }, spec: { hard } });
  const hard = { 'requests.cpu': '1000m', 'requests.memory': '1024Mi', 'limits.cpu': '2500m', 'limits.memory': '0.5Gi', pods: '100', persistentvolumeclaims: '1000' };
  let r = await apply(B, '/api/v1/namespaces/ws/resourcequotas/q', q(hard));
  assert.equal(r.status, 201);
  assert.deepEqual(r.json.spec.hard, { 'requests.cpu': '1', 'requests.memory': '1Gi', 'limits.cpu': '2500m', 'limits.memory': '512Mi', pods: '100', persistentvolumeclaims: '1k' });
  const rv = r.json.metadata.resourceVersion;
  r = await apply(B, '/api/v1/namespaces/ws/resourcequotas/q', q(hard));
  assert.equal(r.json.metadata.resourceVersion, rv);
});

test('resourceVersion in an apply body is a precondition', async () => {
  const r1 = await apply(B, CM, cm('c', { a: '1' }));
  const stale = { ...cm('c', { a: '2' }), metadata: { name: 'c', resourceVersion: '1' } };
  const r = await apply(B, CM, stale);
  assert.equal(r.status, 409);
  assert.equal(r.json.message, 'Operation cannot be fulfilled on configmaps "c": the object has been modified; please apply your changes to the latest version and try again');
  const ok = await apply(B, CM, { ...cm('c', { a: '2' }), metadata: { name: 'c', resourceVersion: r1.json.metadata.resourceVersion } });
  assert.equal(ok.status, 200);
});

test('merge patch and PUT record Update managers', async () => {
  await apply(B, CM, cm('c', { a: '1' }));
  let r = await call(B, 'PATCH', `${CM}?fieldManager=editor`, { data: { b: '2' } }, { 'Content-Type': 'application/merge-patch+json' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.data, { a: '1', b: '2' });
  const ed = r.json.metadata.managedFields.find((e) => e.manager === 'editor');
  assert.equal(ed.operation, 'Update');
  const obj = r.json;
  obj.data.a = 'changed';
  r = await call(B, 'PUT', `${CM}?fieldManager=editor`, obj);
  assert.equal(r.status, 200);
  const byMgr = Object.fromEntries(r.json.metadata.managedFields.map((e) => [e.manager, e.fieldsV1]));
  assert.equal(byMgr.wsflyte, undefined);
  obj.metadata.resourceVersion = '1';
  r = await call(B, 'PUT', CM, obj);
  assert.equal(r.status, 409);
});
