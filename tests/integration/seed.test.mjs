// End to end: the seed's two workspaces, one published as Avro by
// wsflyte-produce and one as JSON by kcat, provisioned by a wsflyte process
// against the FlyteAdmin and Kubernetes test servers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, ROOT } from './harness.mjs';

const seedFile = join(ROOT, 'tests/data/events/seed.jsonl');
const [mlEvent, analyticsEvent] = readFileSync(seedFile, 'utf8').split('\n').filter(Boolean);
let stack, consumer, results;

before(async () => {
  stack = await new Stack().start();
  consumer = stack.startConsumer();
  const avro = join(stack.dir, 'ml.jsonl');
  (await import('node:fs')).writeFileSync(avro, mlEvent + '\n');
  const produced = await stack.produce(avro, 'avro');
  assert.equal(produced.code, 0, produced.stderr);
  const sent = await stack.kcatProduce('ws-analytics-002', analyticsEvent,
    { 'content-type': 'application/json' });
  assert.equal(sent.code, 0, sent.stderr);
  results = await stack.results(2, 90);
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0, 'wsflyte exits 0 on SIGTERM');
  await stack?.stop();
});

const byWorkspace = (id) => results.find((r) => r.workspace_id === id);
const objects = (state, kind, ns) =>
  state.objects.filter((o) => o.kind === kind && (ns === undefined || o.metadata.namespace === ns));

test('each seed event gets one SUCCEEDED result with its namespaces and console URL', () => {
  assert.equal(results.length, 2, stack.logs.join(''));
  for (const [id, eventId] of [['ws-ml-prod-001', '...0001'], ['ws-analytics-002', '...0002']]) {
    const r = byWorkspace(id);
    assert.ok(r, `result for ${id}`);
    assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
    assert.equal(r.event_type, 'WORKSPACE_CREATED');
    assert.ok(r.event_id.endsWith(eventId.slice(3)));
    assert.equal(r.flyte_project, id);
    assert.deepEqual(r.namespaces, [`${id}-development`, `${id}-staging`, `${id}-production`]);
    assert.match(r.console_url, new RegExp(`/console/projects/${id}/domains/development/executions$`));
    assert.equal(r.workspace_version, 1);
    assert.equal(r.error, null);
    assert.match(r.result_id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }
});

test('FlyteAdmin holds an active project per workspace with the version label', async () => {
  const state = await stack.flyteState();
  for (const [id, name] of [['ws-ml-prod-001', 'Flyte - ML Production'], ['ws-analytics-002', 'Flyte - Analytics']]) {
    const p = state.projects.find((x) => x.id === id);
    assert.ok(p, `project ${id}`);
    assert.equal(p.name, name);
    assert.equal(p.state, 'ACTIVE');
    assert.equal(p.labels.values['managed-by'], 'wsflyte');
    assert.equal(p.labels.values['wsflyte-workspace-version'], '1');
  }
});

test('each domain has a WORKFLOW_EXECUTION_CONFIG pointing at the bucket and runner', async () => {
  const state = await stack.flyteState();
  for (const domain of ['development', 'staging', 'production']) {
    const a = state.attributes.find((x) => x.project === 'ws-ml-prod-001' && x.domain === domain &&
      x.resource_type === 'WORKFLOW_EXECUTION_CONFIG');
    assert.ok(a, `attributes for ${domain}`);
    const wec = a.attributes.workflow_execution_config;
    assert.equal(wec.security_context.run_as.k8s_service_account, 'workspace-runner');
    assert.equal(wec.raw_output_data_config.output_location_prefix, `s3://ws-ml-prod-001-data/flyte/${domain}`);
    assert.equal(wec.labels.values['workspace-id'], 'ws-ml-prod-001');
    assert.deepEqual(wec.envs.values, [
      { key: 'WORKSPACE_ID', value: 'ws-ml-prod-001' },
      { key: 'WORKSPACE_DATA_BUCKET', value: 'ws-ml-prod-001-data' },
    ]);
  }
});

test('FlyteAdmin never received a PUT that would un-archive a project', async () => {
  const log = await stack.flyteRequests();
  assert.ok(log.length > 0);
  assert.equal(log.filter((r) => r.unarchived_by_missing_state).length, 0);
  for (const r of log) assert.equal(r.headers?.accept ?? r.accept, 'application/json', `${r.method} ${r.path}`);
});

test('every namespace holds quota, isolation policy, runner SA and the three roles', async () => {
  const state = await stack.kubeState();
  for (const id of ['ws-ml-prod-001', 'ws-analytics-002']) {
    for (const domain of ['development', 'staging', 'production']) {
      const ns = `${id}-${domain}`;
      const nsObj = objects(state, 'Namespace').find((o) => o.metadata.name === ns);
      assert.ok(nsObj, `namespace ${ns}`);
      assert.equal(nsObj.metadata.labels['wsflyte.io/workspace'], id);
      assert.equal(nsObj.metadata.labels['app.kubernetes.io/managed-by'], 'wsflyte');
      assert.equal(nsObj.metadata.annotations['wsflyte.io/workspace-version'], '1');
      const quota = objects(state, 'ResourceQuota', ns);
      assert.equal(quota.length, 1);
      assert.equal(quota[0].metadata.name, 'workspace-quota');
      assert.equal(quota[0].spec.hard['requests.memory'], '40Gi');
      assert.equal(String(quota[0].spec.hard.pods), '100');
      const np = objects(state, 'NetworkPolicy', ns);
      assert.equal(np.length, 1);
      assert.deepEqual(np[0].spec.policyTypes, ['Ingress', 'Egress']);
      const egressPorts = np[0].spec.egress.flatMap((e) => e.ports ?? []);
      assert.ok(egressPorts.some((p) => p.protocol === 'UDP' && p.port === 53), 'DNS over UDP allowed');
      assert.ok(egressPorts.some((p) => p.protocol === 'TCP' && p.port === 443), 'HTTPS allowed');
      const sa = objects(state, 'ServiceAccount', ns).find((o) => o.metadata.name === 'workspace-runner');
      assert.equal(sa.metadata.annotations['eks.amazonaws.com/role-arn'],
        `arn:aws:iam::000000000000:role/FlyteWorkspace-${id}-Role`);
      const roles = objects(state, 'Role', ns).map((o) => o.metadata.name).sort();
      assert.deepEqual(roles, ['workspace-contributor', 'workspace-owner', 'workspace-viewer']);
    }
  }
});

test('members are bound per the domains their role allows; contributors never in production', async () => {
  const state = await stack.kubeState();
  const bound = (ns) => objects(state, 'RoleBinding', ns)
    .map((b) => `${b.subjects[0].name}:${b.roleRef.name}`).sort();
  assert.deepEqual(bound('ws-ml-prod-001-development'),
    ['alice:workspace-owner', 'bob:workspace-contributor', 'charlie:workspace-viewer']);
  assert.deepEqual(bound('ws-ml-prod-001-production'),
    ['alice:workspace-owner', 'charlie:workspace-viewer']);
  assert.deepEqual(bound('ws-analytics-002-staging'),
    ['diana:workspace-owner', 'eve:workspace-contributor', 'frank:workspace-contributor']);
  assert.deepEqual(bound('ws-analytics-002-production'), ['diana:workspace-owner']);
});

test('the authz ConfigMap holds each member\'s role, domains and permissions', async () => {
  const state = await stack.kubeState();
  const cm = objects(state, 'ConfigMap', 'flyte').find((o) => o.metadata.name === 'wsflyte-authz-ws-ml-prod-001');
  assert.ok(cm);
  assert.equal(cm.metadata.labels['openpolicyagent.org/data'], 'opa');
  const doc = JSON.parse(cm.data['workspace.json']);
  assert.equal(doc.members.bob.role, 'CONTRIBUTOR');
  assert.deepEqual(doc.members.bob.domains, ['development', 'staging']);
  assert.ok(doc.members.alice.permissions.includes('executions:terminate'));
  assert.ok(!doc.members.charlie.permissions.includes('workflows:create'));
});
