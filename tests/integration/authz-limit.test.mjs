// The member limit is what the authz ConfigMap holds (issue 18, item 7;
// README "Members"): the API server refuses a ConfigMap with more than
// 1 MiB of data, so a workspace whose permission matrix is larger fails
// VALIDATION (event.limit) before anything is written, with a message that
// says why and how many members fit; one just under the limit is
// provisioned whole.
//
//   ws-authz-big   1,000 owners with the longest ids and emails  -> FAILED VALIDATION event.limit, dead letter,
//                                                                  no project, no namespace, no ConfigMap
//   ws-authz-fits  950 of them                                    -> SUCCEEDED, the ConfigMap holds all 950
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, waitFor } from './harness.mjs';

const DLT = 'workspace.lifecycle.v1.wsflyte.dlt';
const WS = 'wsflyte.io/workspace';
let stack, consumer;

before(async () => {
  stack = new Stack({ editConfig: (doc) => { doc.reconcile = { watch: false, resync_interval: '0' }; } });
  await stack.start();
  consumer = stack.startConsumer();
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0);
  await stack?.stop();
});

// n owners with user ids of 256 characters and emails of 320, the longest
// the handler accepts.
function owners(n) {
  return Array.from({ length: n }, (_, i) => {
    const tag = String(i).padStart(6, '0');
    return { user_id: `user-${tag}-`.padEnd(256, 'x'), email: `u${tag}-`.padEnd(308, 'y') + '@company.com', role: 'OWNER' };
  });
}

async function send(event) {
  await stack.produceEvents([event], 'avro');
  return stack.resultOf(event.event_id, 100);
}

test('a permission matrix over 1 MiB fails VALIDATION before anything is written, saying how many members fit', async () => {
  const id = 'ws-authz-big';
  const created = makeEvent({ workspace: id, version: 1, members: owners(1000) });
  const r = await send(created);
  assert.equal(r.status, 'FAILED', JSON.stringify(r));
  assert.equal(r.error.class, 'VALIDATION');
  assert.equal(r.error.code, 'event.limit');
  assert.match(r.error.message, /^workspace\.members: the permission matrix of 1000 members is \d+ bytes, more than the 1048576 bytes a ConfigMap \(wsflyte-authz-ws-authz-big\) holds; .*at least 950/);
  const dead = await waitFor(async () => (await stack.readTopic(DLT)).find((d) => d.key === id), 30000, 250);
  assert.ok(dead, 'dead-lettered');
  assert.equal(dead.headers['x-error-class'], 'VALIDATION');
  assert.equal(dead.headers['x-error-code'], 'event.limit');
  assert.equal((await stack.flyteState()).projects.find((p) => p.id === id), undefined);
  assert.deepEqual((await stack.kubeState()).objects.filter((o) => o.metadata.labels?.[WS] === id)
    .map((o) => `${o.kind}/${o.metadata.name}`), []);
});

test('950 owners with the longest ids and emails fit: the workspace is provisioned with all of them', async () => {
  const id = 'ws-authz-fits';
  const members = owners(950);
  const r = await send(makeEvent({ workspace: id, version: 1, members }));
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  const cm = (await stack.kubeState()).objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === `wsflyte-authz-${id}`);
  assert.ok(cm, 'the authz ConfigMap exists');
  assert.equal(Object.keys(JSON.parse(cm.data['workspace.json']).members).length, 950);
});
