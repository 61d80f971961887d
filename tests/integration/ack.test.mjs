// AWS Controllers for Kubernetes (aws.ack.enabled): the IAM Role and Policy
// objects are applied next to the authz ConfigMap, accepted by an API server
// that validates their names and specs, and deleted with the workspace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, eventsFile, workspaceEvent } from './harness.mjs';

const OIDC = 'oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE';
let stack, consumer;

before(async () => {
  stack = new Stack({
    kubeArgs: ['--ack', 'on'],
    editConfig: (doc) => { doc.aws = { account_id: '123456789012', oidc_provider: OIDC, ack: { enabled: true } }; },
  });
  await stack.start();
  consumer = stack.startConsumer();
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0);
  await stack?.stop();
});

const ack = async (id) => (await stack.kubeState()).objects.filter((o) =>
  o.apiVersion === 'iam.services.k8s.aws/v1alpha1' && o.metadata.labels?.['wsflyte.io/workspace'] === id);

const resultOf = (eventId) => stack.resultOf(eventId);

test('the IAM Role trusts the runner service accounts through the OIDC provider; the Policy covers the bucket', async () => {
  const ev = workspaceEvent('ws-ack-1', 1);
  await stack.produce(eventsFile(stack, 'ack-1.jsonl', [ev]));
  const r = await resultOf(ev.event_id);
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  const objs = await ack('ws-ack-1');
  const role = objs.find((o) => o.kind === 'Role');
  const policy = objs.find((o) => o.kind === 'Policy');
  assert.equal(role.metadata.namespace, 'flyte');
  assert.equal(role.metadata.name, 'wsflyte-ws-ack-1');
  assert.equal(role.spec.name, 'FlyteWorkspace-ws-ack-1-Role');
  const trust = JSON.parse(role.spec.assumeRolePolicyDocument).Statement[0];
  assert.equal(trust.Principal.Federated, `arn:aws:iam::123456789012:oidc-provider/${OIDC}`);
  assert.deepEqual(trust.Condition.StringEquals[`${OIDC}:sub`],
    ['development', 'staging', 'production'].map((d) => `system:serviceaccount:ws-ack-1-${d}:workspace-runner`));
  assert.deepEqual(role.spec.policyRefs, [{ from: { name: policy.metadata.name, namespace: 'flyte' } }]);
  assert.deepEqual(JSON.parse(policy.spec.policyDocument).Statement[0].Resource,
    ['arn:aws:s3:::ws-ack-1-data', 'arn:aws:s3:::ws-ack-1-data/*']);
  // The service accounts name the same role.
  const sa = (await stack.kubeState()).objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === 'workspace-runner' &&
    o.metadata.namespace === 'ws-ack-1-development');
  assert.equal(sa.metadata.annotations['eks.amazonaws.com/role-arn'],
    'arn:aws:iam::123456789012:role/FlyteWorkspace-ws-ack-1-Role');
});

test('deleting the workspace deletes its ACK objects', async () => {
  const ev = workspaceEvent('ws-ack-1', 2, { event_type: 'WORKSPACE_DELETED' });
  await stack.produce(eventsFile(stack, 'ack-2.jsonl', [ev]));
  const r = await resultOf(ev.event_id);
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.equal(r.reason, 'workspace-deleted');
  assert.deepEqual(await ack('ws-ack-1'), []);
});
