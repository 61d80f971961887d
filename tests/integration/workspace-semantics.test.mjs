// What a platform team expects of a workspace: the event's quota as the
// workspace's budget (kubernetes.quota_scope: workspace, split 1:1:2 and
// rounded down), LimitRange workspace-defaults with the configured
// container defaults in every namespace, and the workspace's labels on its
// namespaces and Flyte project, removed there when removed from the
// workspace; an invalid or reserved label fails the event with a dead letter.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, eventsFile, workspaceEvent, readTopic } from './harness.mjs';

const ID = 'ws-budget';
const DOMAINS = ['development', 'staging', 'production'];
let stack, consumer;

before(async () => {
  stack = new Stack({
    editConfig: (doc) => {
      doc.kubernetes.quota_scope = 'workspace';
      doc.kubernetes.limit_range = { default_cpu: '1500m', default_memory: '3Gi' };
    },
  });
  await stack.start();
  consumer = stack.startConsumer();
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0);
  await stack?.stop();
});

function event(v, labels) {
  const e = workspaceEvent(ID, v, { event_type: v === 1 ? 'WORKSPACE_CREATED' : 'MEMBERS_CHANGED' });
  e.event_id = `${ID}-v${v}`;
  e.workspace.quota = {
    requests_cpu: '20', requests_memory: '10000000001', limits_cpu: '40', limits_memory: '80Gi',
    pods: 10, persistent_volume_claims: 3,
  };
  e.workspace.labels = labels;
  return e;
}

async function apply(e) {
  assert.equal((await stack.produce(eventsFile(stack, `${e.event_id}.jsonl`, [e]))).code, 0);
  return stack.resultOf(e.event_id);
}

const live = async (kind, ns) => (await stack.kubeState()).objects.filter((o) => o.kind === kind &&
  (ns === undefined || o.metadata.namespace === ns || (kind === 'Namespace' && o.metadata.name === ns)));
const project = async () => (await stack.flyteState()).projects.find((p) => p.id === ID);

test('quota_scope workspace splits the quota 1:1:2, rounded down; every namespace gets the LimitRange', async () => {
  const r = await apply(event(1, { team: 'ml', 'example.com/cost-center': 'cc-42' }));
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  // 20 CPUs are 5 + 5 + 10; 10000000001 bytes are 2500000000.25 (down to
  // 2500000000, which the API server writes 2500M) and 5000000000.5 (5G).
  const want = {
    development: { cpu: '5', mem: '2500M', lcpu: '10', lmem: '20Gi', pods: '2', pvcs: '0' },
    staging: { cpu: '5', mem: '2500M', lcpu: '10', lmem: '20Gi', pods: '2', pvcs: '0' },
    production: { cpu: '10', mem: '5G', lcpu: '20', lmem: '40Gi', pods: '5', pvcs: '1' },
  };
  for (const d of DOMAINS) {
    const ns = `${ID}-${d}`;
    const [q] = await live('ResourceQuota', ns);
    const w = want[d];
    assert.deepEqual(q.spec.hard, {
      'requests.cpu': w.cpu, 'requests.memory': w.mem, 'limits.cpu': w.lcpu, 'limits.memory': w.lmem,
      pods: w.pods, persistentvolumeclaims: w.pvcs,
    }, ns);
    const lrs = await live('LimitRange', ns);
    assert.equal(lrs.length, 1, ns);
    assert.equal(lrs[0].metadata.name, 'workspace-defaults');
    assert.equal(lrs[0].metadata.labels['app.kubernetes.io/managed-by'], 'wsflyte');
    assert.equal(lrs[0].metadata.labels['wsflyte.io/workspace'], ID);
    assert.deepEqual(lrs[0].spec.limits, [{
      type: 'Container', default: { cpu: '1500m', memory: '3Gi' }, defaultRequest: { cpu: '100m', memory: '256Mi' },
    }]);
  }
});

test('workspace labels land on the namespaces and the project, and a removed label disappears from both', async () => {
  for (const d of DOMAINS) {
    const [ns] = await live('Namespace', `${ID}-${d}`);
    assert.equal(ns.metadata.labels.team, 'ml');
    assert.equal(ns.metadata.labels['example.com/cost-center'], 'cc-42');
    assert.equal(ns.metadata.labels['wsflyte.io/workspace'], ID);
  }
  let p = await project();
  assert.equal(p.labels.values.team, 'ml');
  assert.equal(p.labels.values['example.com/cost-center'], 'cc-42');
  assert.equal(p.labels.values['managed-by'], 'wsflyte');

  const r = await apply(event(2, { team: 'ml-platform' }));
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  for (const d of DOMAINS) {
    const [ns] = await live('Namespace', `${ID}-${d}`);
    assert.equal(ns.metadata.labels.team, 'ml-platform');
    assert.equal(ns.metadata.labels['example.com/cost-center'], undefined, `${d}: the removed label is gone`);
    assert.equal(ns.metadata.labels['kubernetes.io/metadata.name'], `${ID}-${d}`);
  }
  p = await project();
  assert.deepEqual(p.labels.values, { team: 'ml-platform', 'managed-by': 'wsflyte', 'wsflyte-workspace-version': '2' });
});

test('an invalid or reserved label fails the event as VALIDATION with a dead letter, changing nothing', async () => {
  const bad = [
    [3, { 'app.kubernetes.io/managed-by': 'someone-else' }],
    [4, { 'cost center': 'x' }],
  ];
  for (const [v, labels] of bad) {
    const r = await apply(event(v, labels));
    assert.equal(r.status, 'FAILED', JSON.stringify(r));
    assert.equal(r.error.class, 'VALIDATION');
    assert.equal(r.error.code, 'event.label');
    assert.ok(r.error.message.includes(Object.keys(labels)[0]), r.error.message);
  }
  const dlt = await readTopic(stack, 'workspace.lifecycle.v1.wsflyte.dlt');
  assert.deepEqual(dlt.map((d) => [d.key, d.headers['x-error-class'], d.headers['x-error-code']]),
    [[ID, 'VALIDATION', 'event.label'], [ID, 'VALIDATION', 'event.label']]);
  const [ns] = await live('Namespace', `${ID}-production`);
  assert.equal(ns.metadata.labels['app.kubernetes.io/managed-by'], 'wsflyte');
  assert.equal(ns.metadata.annotations['wsflyte.io/workspace-version'], '2');
});
