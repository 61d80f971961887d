// Moves across three execution clusters: a workspace moved again while the
// cluster an earlier move left is still down keeps that cluster in its
// record (moving_from) and its next event deletes what is left there; when
// the newer move's old cluster is down too, only that one is remembered and
// the older one is named in a warning.
//
// One stack: devkafka, FlyteAdmin, the control plane and three execution
// clusters (east, west, north), one wsflyte.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, run, bin, waitFor } from './harness.mjs';

const LABEL = 'flyte-cluster';
let stack, consumer;

before(async () => {
  stack = await new Stack({ clusters: ['east', 'west', 'north'] }).start();
  consumer = stack.startConsumer();
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0, 'wsflyte exits 0 on SIGTERM');
  await stack?.stop();
});

// A MEMBERS_CHANGED event of workspace id at version v, labelled for cluster.
function event(id, v, cluster) {
  return {
    event_id: `${id}-v${v}`, event_type: v === 1 ? 'WORKSPACE_CREATED' : 'MEMBERS_CHANGED',
    occurred_at: 1764316800000 + v, workspace_version: v, actor: 'platform', service: null,
    workspace: {
      workspace_id: id, workspace_name: `Workspace ${id}`, services: ['flyte'],
      members: [{ user_id: 'alice', email: 'alice@company.com', role: 'OWNER' }],
      data_bucket: `${id}-data`, quota: null, labels: { [LABEL]: cluster },
    },
  };
}

// Publishes ev and answers its result.
async function send(ev) {
  await stack.produceEvents([ev], 'json');
  const r = await waitFor(async () => (await stack.allResults()).find((x) => x.event_id === ev.event_id), 60000, 300);
  assert.ok(r, `no result for ${ev.event_id}\n${stack.logs.join('').slice(-4000)}`);
  return r;
}

// The live (not terminating) namespaces of id on cluster.
async function liveNamespaces(cluster, id) {
  return (await stack.snapshotCluster(cluster, id)).objects
    .filter((o) => o.kind === 'Namespace' && !o.metadata.deletionTimestamp).map((o) => o.metadata.name).sort();
}

async function status(id) {
  return JSON.parse((await run(bin('wsflyte-status'), ['--config', stack.configPath, '--json', id])).stdout.trim());
}

test('moved twice while the first old cluster is down: the record keeps it, the next event empties it', async () => {
  const id = 'ws-twice';
  const all = stack.workspaceNamespaces(id).sort();
  assert.equal((await send(event(id, 1, 'east'))).status, 'SUCCEEDED');
  await stack.stopCluster('east');
  let started = false;
  try {
    const toWest = await send(event(id, 2, 'west'));
    assert.equal(toWest.status, 'SUCCEEDED', JSON.stringify(toWest));
    assert.deepEqual((await status(id)).moving_from, 'east');
    // West answers: its namespaces go, and east is still remembered.
    const toNorth = await send(event(id, 3, 'north'));
    assert.equal(toNorth.status, 'SUCCEEDED', JSON.stringify(toNorth));
    assert.deepEqual(await liveNamespaces('north', id), all);
    assert.ok(await waitFor(async () => (await stack.snapshotCluster('west', id)).objects.length === 0, 20000, 200),
      `west still holds ${JSON.stringify(await liveNamespaces('west', id))}`);
    const st = await status(id);
    assert.equal(st.cluster, 'north');
    assert.equal(st.moving_from, 'east', 'the earlier move\'s cluster is kept');
    assert.match(stack.logs.join(''), /an earlier move may have left namespaces on cluster east/);

    await stack.startCluster('east');
    started = true;
    assert.deepEqual(await liveNamespaces('east', id), all, 'east still holds them');
    // The workspace's next event deletes them there.
    const next = await send(event(id, 4, 'north'));
    assert.equal(next.status, 'SUCCEEDED', JSON.stringify(next));
    assert.deepEqual(await liveNamespaces('east', id), []);
    assert.deepEqual(await liveNamespaces('north', id), all);
    const done = await status(id);
    assert.equal(done.cluster, 'north');
    assert.equal(done.moving_from, undefined);
    assert.equal(done.complete, true);
  } finally {
    if (!started) await stack.startCluster('east');
  }
});

test('moved again while both old clusters are down: the newer one is kept, the older one given up aloud', async () => {
  const id = 'ws-thrice';
  const all = stack.workspaceNamespaces(id).sort();
  assert.equal((await send(event(id, 1, 'east'))).status, 'SUCCEEDED');
  await stack.stopCluster('east');
  const down = new Set(['east']);
  try {
    assert.equal((await send(event(id, 2, 'west'))).status, 'SUCCEEDED');
    await stack.stopCluster('west');
    down.add('west');
    const toNorth = await send(event(id, 3, 'north'));
    assert.equal(toNorth.status, 'SUCCEEDED', JSON.stringify(toNorth));
    const st = await status(id);
    assert.equal(st.cluster, 'north');
    assert.equal(st.moving_from, 'west', 'the cluster this move left is the one remembered');
    assert.ok(stack.logs.join('').split('\n').some((l) => l.includes(`workspace=${id}`) && l.includes('no longer tracks east')),
      'the cluster given up is named');
    for (const c of ['east', 'west']) { await stack.startCluster(c); down.delete(c); }
    // The next event empties west; east's copies are left for an operator.
    assert.equal((await send(event(id, 4, 'north'))).status, 'SUCCEEDED');
    assert.deepEqual(await liveNamespaces('west', id), []);
    assert.deepEqual(await liveNamespaces('east', id), all);
    assert.equal((await status(id)).moving_from, undefined);
  } finally {
    for (const c of down) await stack.startCluster(c);
  }
});
