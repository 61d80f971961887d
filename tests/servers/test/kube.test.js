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

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const NP = '/apis/networking.k8s.io/v1/namespaces/ws/networkpolicies';
const RQ = '/api/v1/namespaces/ws/resourcequotas';
const quota = (hard, name = 'q') => ({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name }, spec: { hard } });
const netpol = (spec) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'np' }, spec });

function assertInvalid(r, kind, message, causes) {
  assert.equal(r.status, 422, JSON.stringify(r.json));
  assert.equal(r.json.reason, 'Invalid');
  assert.equal(r.json.details.kind, kind);
  assert.equal(r.json.message, message);
  if (causes) assert.deepEqual(r.json.details.causes, causes);
}

test('namespace server fields: metadata.name label, finalizers, phase; seeded default SA and kube-root-ca.crt', async () => {
  const r = await call(B, 'GET', '/api/v1/namespaces/ws');
  assert.equal(r.json.metadata.labels['kubernetes.io/metadata.name'], 'ws');
  assert.deepEqual(r.json.spec, { finalizers: ['kubernetes'] });
  assert.deepEqual(r.json.status, { phase: 'Active' });
  const sa = await call(B, 'GET', '/api/v1/namespaces/ws/serviceaccounts/default');
  assert.equal(sa.status, 200);
  assert.equal(sa.json.metadata.labels, undefined);
  const ca = await call(B, 'GET', '/api/v1/namespaces/ws/configmaps/kube-root-ca.crt');
  assert.ok(ca.json.data['ca.crt'].startsWith('-----BEGIN CERTIFICATE-----'));
  assert.equal(ca.json.metadata.labels, undefined);
});

test('pre-created namespaces default, kube-system, flyte', async () => {
  const r = await call(B, 'GET', '/api/v1/namespaces');
  assert.deepEqual(r.json.items.map((i) => i.metadata.name), ['default', 'flyte', 'kube-system', 'ws']);
  assert.equal(r.json.kind, 'NamespaceList');
});

test('GET missing object -> 404 NotFound with details name/group/kind(resource)', async () => {
  const r = await call(B, 'GET', `${RBAC}/namespaces/ws/rolebindings/nope`);
  assert.deepEqual(r.json, {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
    message: 'rolebindings.rbac.authorization.k8s.io "nope" not found', reason: 'NotFound',
    details: { name: 'nope', group: 'rbac.authorization.k8s.io', kind: 'rolebindings' }, code: 404,
  });
  const core = await call(B, 'GET', '/api/v1/namespaces/ws/configmaps/nope');
  assert.deepEqual(core.json.details, { name: 'nope', kind: 'configmaps' });
});

test('unknown resource path -> 404 "the server could not find the requested resource" with empty details', async () => {
  const r = await call(B, 'GET', '/apis/example.com/v1/namespaces/ws/widgets');
  assert.equal(r.status, 404);
  assert.deepEqual(r.json, {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
    message: 'the server could not find the requested resource', reason: 'NotFound', details: {}, code: 404,
  });
});

test('ACK IAM roles/policies are served; with ack off their paths are 404 (CRD not installed)', async () => {
  const role = {
    apiVersion: 'iam.services.k8s.aws/v1alpha1', kind: 'Role', metadata: { name: 'ws-role' },
    spec: { name: 'FlyteWorkspace-ws-Role', assumeRolePolicyDocument: '{}', policyRefs: [{ from: { name: 'ws-policy' } }] },
  };
  let r = await apply(B, '/apis/iam.services.k8s.aws/v1alpha1/namespaces/ws/roles/ws-role', role);
  assert.equal(r.status, 201);
  assert.equal(r.json.metadata.generation, 1);
  r = await apply(B, '/apis/iam.services.k8s.aws/v1alpha1/namespaces/ws/roles/ws-role', { ...role, spec: { name: 'x' } });
  assertInvalid(r, 'Role', 'Role.iam.services.k8s.aws "ws-role" is invalid: spec.assumeRolePolicyDocument: Required value');
  r = await apply(B, '/apis/iam.services.k8s.aws/v1alpha1/namespaces/ws/policies/p', { apiVersion: 'iam.services.k8s.aws/v1alpha1', kind: 'Policy', metadata: { name: 'p' }, spec: { name: 'p', policyDocument: '{}', bogus: 1 } });
  assert.equal(r.status, 500);
  // rbac roles and ACK roles are different resources
  assert.equal((await call(B, 'GET', `${RBAC}/namespaces/ws/roles/ws-role`)).status, 404);
  await call(B, 'POST', '/_test/config', { ack: false });
  r = await call(B, 'GET', '/apis/iam.services.k8s.aws/v1alpha1/namespaces/ws/roles');
  assert.equal(r.status, 404);
  assert.deepEqual(r.json.details, {});
  assert.equal(r.json.message, 'the server could not find the requested resource');
});

test('namespace names are DNS-1123 labels', async () => {
  const r = await apply(B, '/api/v1/namespaces/Bad_NS', ns('Bad_NS'));
  assertInvalid(r, 'Namespace', `Namespace "Bad_NS" is invalid: metadata.name: Invalid value: "Bad_NS": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`);
});

test('other names are DNS-1123 subdomains; RBAC names only path segments', async () => {
  let r = await apply(B, '/api/v1/namespaces/ws/configmaps/Bad', cm('Bad', {}));
  assert.equal(r.status, 422);
  assert.match(r.json.message, /^ConfigMap "Bad" is invalid: metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain must consist of/);
  r = await apply(B, `${RBAC}/namespaces/ws/roles/capsule:Managed@x`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'capsule:Managed@x' },
    rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }],
  });
  assert.equal(r.status, 201);
});

test('label keys and values, annotations', async () => {
  let r = await apply(B, '/api/v1/namespaces/ws/configmaps/c', cm('c', {}, { owner: 'alice@example.com' }));
  assertInvalid(r, 'ConfigMap', `ConfigMap "c" is invalid: metadata.labels: Invalid value: "alice@example.com": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`);
  r = await apply(B, '/api/v1/namespaces/ws/configmaps/c', cm('c', {}, { 'a/b/c': 'x' }));
  assert.equal(r.status, 422);
  assert.equal(r.json.details.causes[0].field, 'metadata.labels');
  r = await apply(B, '/api/v1/namespaces/ws/configmaps/c', { ...cm('c', {}), metadata: { name: 'c', annotations: { 'bad key!': 'v' } } });
  assert.equal(r.status, 422);
  assert.equal(r.json.details.causes[0].field, 'metadata.annotations');
});

const LR = '/api/v1/namespaces/ws/limitranges';
const limitRange = (limits, name = 'lr') => ({ apiVersion: 'v1', kind: 'LimitRange', metadata: { name }, spec: { limits } });

test('LimitRange: container defaults are stored canonically and read back', async () => {
  const body = limitRange([{ type: 'Container', default: { cpu: '1000m', memory: '2Gi' }, defaultRequest: { cpu: '100m', memory: '256Mi' } }]);
  let r = await apply(B, `${LR}/lr`, body);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  r = await call(B, 'GET', `${LR}/lr`);
  assert.deepEqual(r.json.spec.limits, [{ type: 'Container', default: { cpu: '1', memory: '2Gi' }, defaultRequest: { cpu: '100m', memory: '256Mi' } }]);
  r = await call(B, 'GET', LR);
  assert.equal(r.json.kind, 'LimitRangeList');
  assert.equal(r.json.items.length, 1);
});

test('LimitRange validation: type, Pod without defaults, request <= limit, resource names, quantities', async () => {
  let r = await apply(B, `${LR}/lr`, limitRange([{ type: 'Node', max: { cpu: '1' } }]));
  assertInvalid(r, 'LimitRange', 'LimitRange "lr" is invalid: spec.limits[0].type: Invalid value: "Node": must be a standard limit type or fully qualified', [
    { reason: 'FieldValueInvalid', message: 'Invalid value: "Node": must be a standard limit type or fully qualified', field: 'spec.limits[0].type' },
  ]);
  r = await apply(B, `${LR}/lr`, limitRange([{ type: 'Pod', default: { cpu: '1' }, max: { cpu: '2' } }]));
  assertInvalid(r, 'LimitRange', "LimitRange \"lr\" is invalid: spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'");
  r = await apply(B, `${LR}/lr`, limitRange([{ type: 'Pod', defaultRequest: { memory: '1Gi' } }]));
  assert.equal(r.json.details.causes[0].field, 'spec.limits[0].defaultRequest');
  r = await apply(B, `${LR}/lr`, limitRange([{ type: 'Container', default: { cpu: '1' }, defaultRequest: { cpu: '2' } }]));
  assertInvalid(r, 'LimitRange', 'LimitRange "lr" is invalid: spec.limits[0].defaultRequest[cpu]: Invalid value: 2: default request value 2 is greater than default limit value 1');
  r = await apply(B, `${LR}/lr`, limitRange([{ type: 'Container', default: { pods: '1' } }]));
  assertInvalid(r, 'LimitRange', 'LimitRange "lr" is invalid: spec.limits[0].default[pods]: Invalid value: "pods": must be a standard resource for containers');
  r = await apply(B, `${LR}/lr`, limitRange([{ type: 'Container', max: { cpu: '1' } }, { type: 'Container', max: { cpu: '2' } }]));
  assert.equal(r.json.details.causes[0].message, 'Duplicate value: "Container"');
  r = await apply(B, `${LR}/lr`, limitRange([{ type: 'PersistentVolumeClaim', max: { cpu: '1' } }]));
  assert.equal(r.status, 422);
  r = await apply(B, `${LR}/lr`, limitRange([{ type: 'Container', default: { memory: '2GB' } }]));
  assert.equal(r.status, 400);
  assert.equal(r.json.message, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  r = await call(B, 'GET', `${LR}/lr`);
  assert.equal(r.status, 404);
  r = await apply(B, `${LR}/lr`, limitRange([{ type: 'Pod', max: { cpu: '4' } }, { type: 'example.com/Thing', max: { cpu: '1' } }]));
  assert.equal(r.status, 201, JSON.stringify(r.json));
});

test('ConfigMap keys', async () => {
  const r = await apply(B, '/api/v1/namespaces/ws/configmaps/c', cm('c', { 'bad/key': 'x' }));
  assertInvalid(r, 'ConfigMap', `ConfigMap "c" is invalid: data[bad/key]: Invalid value: "bad/key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`);
});

test('ResourceQuota hard: standard resource names, integer pods, quantity format', async () => {
  let r = await apply(B, `${RQ}/q`, quota({ storage: '1Gi' }));
  assertInvalid(r, 'ResourceQuota', 'ResourceQuota "q" is invalid: spec.hard[storage]: Invalid value: "storage": must be a standard resource for quota');
  r = await apply(B, `${RQ}/q`, quota({ gpus: '1' }));
  assertInvalid(r, 'ResourceQuota', 'ResourceQuota "q" is invalid: spec.hard[gpus]: Invalid value: "gpus": must be a standard resource type or fully qualified');
  r = await apply(B, `${RQ}/q`, quota({ pods: '1500m' }));
  assertInvalid(r, 'ResourceQuota', 'ResourceQuota "q" is invalid: spec.hard[pods]: Invalid value: 1500m: must be an integer');
  r = await apply(B, `${RQ}/q`, quota({ 'count/pods': '0.5' }));
  assert.equal(r.status, 422);
  r = await apply(B, `${RQ}/q`, quota({ 'requests.cpu': '-1' }));
  assert.equal(r.json.details.causes[0].message, 'Invalid value: -1: must be greater than or equal to 0');
  r = await apply(B, `${RQ}/q`, quota({ 'requests.memory': '8GB' }));
  assert.equal(r.status, 400);
  assert.equal(r.json.message, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  r = await apply(B, `${RQ}/q`, quota({ 'requests.nvidia.com/gpu': '2', 'count/configmaps': '10' }));
  assert.equal(r.status, 201);
});

test('RoleBinding roleRef and subjects rules', async () => {
  const body = (roleRef, subjects) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'rb' }, roleRef, subjects });
  let r = await apply(B, `${RBAC}/namespaces/ws/rolebindings/rb`, body({ apiGroup: 'rbac', kind: 'Role', name: 'x' }, []));
  assert.equal(r.json.details.causes[0].message, 'Unsupported value: "rbac": supported values: "rbac.authorization.k8s.io"');
  r = await apply(B, `${RBAC}/namespaces/ws/rolebindings/rb`, body({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Person', name: '' }, []));
  assert.deepEqual(r.json.details.causes.map((c) => c.field), ['roleRef.kind', 'roleRef.name']);
  r = await apply(B, `${RBAC}/namespaces/ws/rolebindings/rb`, body({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'x' }, [
    { kind: 'Person', name: 'a' }, { kind: 'ServiceAccount', name: 'Bad_SA', namespace: 'ws' }, { kind: 'User', apiGroup: 'x', name: 'u' },
  ]));
  assert.deepEqual(r.json.details.causes.map((c) => `${c.field}:${c.reason}`), [
    'subjects[0].kind:FieldValueNotSupported', 'subjects[1].name:FieldValueInvalid', 'subjects[2].apiGroup:FieldValueNotSupported',
  ]);
  r = await apply(B, `${RBAC}/namespaces/ws/rolebindings/rb`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'rb' } });
  assert.equal(r.status, 422);
});

test('Role rules need verbs, apiGroups and resources', async () => {
  const r = await apply(B, `${RBAC}/namespaces/ws/roles/r`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'r' }, rules: [{ resources: ['pods'] }] });
  assertInvalid(r, 'Role', 'Role.rbac.authorization.k8s.io "r" is invalid: [rules[0].verbs: Required value: verbs must contain at least one value, rules[0].apiGroups: Required value: resource rules must supply at least one api group]');
});

test('NetworkPolicy policyTypes, protocol and port rules; defaults', async () => {
  let r = await apply(B, `${NP}/np`, netpol({ podSelector: {}, policyTypes: ['Inbound'] }));
  assert.equal(r.status, 422);
  assert.equal(r.json.details.causes[0].message, 'Unsupported value: "Inbound": supported values: "Ingress", "Egress"');
  r = await apply(B, `${NP}/np`, netpol({ podSelector: {}, egress: [{ ports: [{ protocol: 'ICMP', port: 0 }] }] }));
  assert.deepEqual(r.json.details.causes.map((c) => `${c.field}: ${c.message}`), [
    'spec.egress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"',
    'spec.egress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
  ]);
  r = await apply(B, `${NP}/np`, netpol({ podSelector: {}, egress: [{ ports: [{ port: 'https', endPort: 500 }] }] }));
  assert.equal(r.json.details.causes[0].message, 'Invalid value: 500: may not be specified when `port` is non-numeric');
  r = await apply(B, `${NP}/np`, netpol({
    podSelector: {},
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'flyte' } } }, { podSelector: {} }] }],
    egress: [{ ports: [{ port: 443 }] }, { to: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }] }],
  }));
  assert.equal(r.status, 201);
  assert.deepEqual(r.json.spec.policyTypes, ['Ingress', 'Egress']);
  assert.equal(r.json.spec.egress[0].ports[0].protocol, 'TCP');
  r = await apply(B, `${NP}/np`, netpol({ podSelector: {}, ingress: [{ from: [{}] }] }));
  assert.equal(r.json.details.causes[0].message, 'Required value: must specify a peer');
});

test('objects in a missing namespace -> 404 namespace not found', async () => {
  let r = await apply(B, '/api/v1/namespaces/ghost/configmaps/c', cm('c', {}));
  assert.equal(r.status, 404);
  assert.deepEqual(r.json.details, { name: 'ghost', kind: 'namespaces' });
  assert.equal(r.json.message, 'namespaces "ghost" not found');
  r = await call(B, 'POST', '/api/v1/namespaces/ghost/configmaps', cm('c', {}));
  assert.equal(r.status, 404);
});

test('POST create: 201, then 409 AlreadyExists; unknown fields warned and dropped (Strict -> 400)', async () => {
  let r = await call(B, 'POST', '/api/v1/namespaces/ws/configmaps', { ...cm('c', { a: '1' }), extra: 1 });
  assert.equal(r.status, 201);
  assert.equal(r.json.extra, undefined);
  assert.match(r.headers.get('warning'), /unknown field \\"extra\\"/);
  r = await call(B, 'POST', '/api/v1/namespaces/ws/configmaps', cm('c', { a: '1' }));
  assert.equal(r.status, 409);
  assert.deepEqual(r.json, {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'configmaps "c" already exists',
    reason: 'AlreadyExists', details: { name: 'c', kind: 'configmaps' }, code: 409,
  });
  r = await call(B, 'POST', '/api/v1/namespaces/ws/configmaps?fieldValidation=Strict', { ...cm('d', {}), extra: 1 });
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'strict decoding error: unknown field "extra"');
});

test('LIST: namespaced and cluster-wide, labelSelector operators, limit/continue', async () => {
  await apply(B, '/api/v1/namespaces/ws2', ns('ws2'));
  const mk = (n, labels, namespace = 'ws') => apply(B, `/api/v1/namespaces/${namespace}/configmaps/${n}`, cm(n, {}, labels));
  await mk('a', { app: 'x', tier: 'web' });
  await mk('b', { app: 'y' });
  await mk('c', { app: 'x' }, 'ws2');
  const names = async (q) => (await call(B, 'GET', `/api/v1/configmaps?labelSelector=${encodeURIComponent(q)}`)).json.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`);
  assert.deepEqual(await names('app=x'), ['ws/a', 'ws2/c']);
  assert.deepEqual(await names('app==x,tier'), ['ws/a']);
  assert.deepEqual(await names('app!=x'), ['default/kube-root-ca.crt', 'flyte/kube-root-ca.crt', 'kube-system/kube-root-ca.crt', 'ws/b', 'ws/kube-root-ca.crt', 'ws2/kube-root-ca.crt']);
  assert.deepEqual(await names('app in (x,y),!tier'), ['ws/b', 'ws2/c']);
  assert.deepEqual(await names('app notin (x),app'), ['ws/b']);
  const bad = await call(B, 'GET', `/api/v1/configmaps?labelSelector=${encodeURIComponent('a b c')}`);
  assert.equal(bad.status, 400);
  const nsList = await call(B, 'GET', '/api/v1/namespaces/ws/configmaps?labelSelector=app');
  assert.deepEqual(nsList.json.items.map((i) => i.metadata.name), ['a', 'b']);
  assert.equal(nsList.json.items[0].kind, undefined);
  await apply(B, `${RBAC}/namespaces/ws2/rolebindings/rb`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'rb', labels: { 'wsflyte.io/workspace': 'w' } }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r' }, subjects: [] });
  const rbs = await call(B, 'GET', `${RBAC}/rolebindings?labelSelector=wsflyte.io%2Fworkspace%3Dw`);
  assert.deepEqual(rbs.json.items.map((i) => i.metadata.name), ['rb']);
  let page = await call(B, 'GET', '/api/v1/configmaps?limit=4');
  assert.equal(page.json.items.length, 4);
  assert.ok(page.json.metadata.continue);
  page = await call(B, 'GET', `/api/v1/configmaps?limit=4&continue=${page.json.metadata.continue}`);
  assert.equal(page.json.items.length, 4);
  assert.equal(page.json.metadata.continue, undefined);
});

test('DELETE: Status Success, 404 on missing, propagationPolicy (query or body), preconditions.uid', async () => {
  const c = await apply(B, '/api/v1/namespaces/ws/configmaps/c', cm('c', {}));
  let r = await call(B, 'DELETE', '/api/v1/namespaces/ws/configmaps/c?propagationPolicy=Sideways');
  assertInvalid(r, 'DeleteOptions', 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": supported values: "Foreground", "Background", "Orphan", "nil"');
  r = await call(B, 'DELETE', '/api/v1/namespaces/ws/configmaps/c', { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Nope' });
  assert.equal(r.status, 422);
  r = await call(B, 'DELETE', '/api/v1/namespaces/ws/configmaps/c', { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'other-uid' } });
  assert.equal(r.status, 409);
  assert.equal(r.json.reason, 'Conflict');
  assert.equal(r.json.message, `Operation cannot be fulfilled on configmaps "c": Precondition failed: UID in precondition: other-uid, UID in object meta: ${c.json.metadata.uid}`);
  r = await call(B, 'DELETE', '/api/v1/namespaces/ws/configmaps/c', { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', preconditions: { uid: c.json.metadata.uid } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: 'c', kind: 'configmaps', uid: c.json.metadata.uid } });
  r = await call(B, 'DELETE', '/api/v1/namespaces/ws/configmaps/c');
  assert.equal(r.status, 404);
  assert.deepEqual(r.json.details, { name: 'c', kind: 'configmaps' });
});

test('bearer token required when configured; rotation through the control API', async () => {
  await call(B, 'POST', '/_test/config', { token: 'tok-1' });
  let r = await call(B, 'GET', '/api/v1/namespaces');
  assert.equal(r.status, 401);
  assert.deepEqual(r.json, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
  r = await call(B, 'GET', '/api/v1/namespaces', undefined, { Authorization: 'Bearer tok-1' });
  assert.equal(r.status, 200);
  await call(B, 'POST', '/_test/config', { token: 'tok-2' });
  assert.equal((await call(B, 'GET', '/api/v1/namespaces', undefined, { Authorization: 'Bearer tok-1' })).status, 401);
  assert.equal((await call(B, 'GET', '/api/v1/namespaces', undefined, { Authorization: 'Bearer tok-2' })).status, 200);
  assert.equal((await call(B, 'GET', '/_test/state')).status, 200);
});

test('state lists full stored objects sorted by apiVersion/kind/namespace/name', async () => {
  await apply(B, '/api/v1/namespaces/ws/configmaps/c', cm('c', { a: '1' }));
  const st = (await call(B, 'GET', '/_test/state')).json.objects;
  const keys = st.map((o) => [o.apiVersion, o.kind, o.metadata.namespace || '', o.metadata.name].join('|'));
  assert.deepEqual(keys, [...keys].sort());
  const c = st.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'c');
  assert.ok(c.metadata.managedFields.length);
  assert.equal(c.apiVersion, 'v1');
});
