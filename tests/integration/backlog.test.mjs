// One workspace's backlog never stalls the others (contract §3).
//
// 1. One hot workspace.  1,500 queued MEMBERS_CHANGED events of ws-hot
//    (versions 1..1500, each a full snapshot with a different contributor),
//    then one event each of ten other workspaces, with 2 ms added to every
//    API call:
//    - the ten others get their results after a few of ws-hot's applies,
//      not after its backlog, whether they share ws-hot's partition (queued
//      behind the backlog) or not;
//    - every one of the 1,510 events gets exactly one result; ws-hot's older
//      waiting events are coalesced: SKIPPED/stale, never sent to the APIs;
//    - ws-hot ends at version 1500 (project label, namespace annotation and
//      the contributor of version 1500 bound, the others pruned).
// 2. One partition's backlog of many workspaces, each holding a worker
//    (FlyteAdmin answers their reads after 300 ms): workspaces on the other
//    partitions published behind it get a worker in turn, after a few of
//    the backlog's events, not after the backlog.
// 3. One partition over its window.  1,100 workspaces on partition 0 whose
//    FlyteAdmin reads answer 500 with Retry-After: 20 (each backs off in
//    place, in flight but holding no worker; a 503 or 429 with Retry-After
//    would pause all of FlyteAdmin, the other partitions' too): partition 0 alone stops
//    fetching; workspaces on the other partitions are answered while
//    FlyteAdmin still fails partition 0's; once FlyteAdmin recovers,
//    partition 0 resumes and every event is answered.
//
// Each claim is about order (what was answered before what), never about
// wall time, so that a busy machine makes the file slower, not red.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, expectedResultId, run, bin, waitFor, sleep } from './harness.mjs';

const HOT = 'ws-hot';
const VERSIONS = 1500;
// With 3 partitions the producer's partitioner (CRC32 of the key) puts the
// first four on ws-hot's partition, queued behind the backlog, and the rest
// elsewhere (checked below).
const OTHERS = ['ws-calm-10', 'ws-calm-17', 'ws-calm-18', 'ws-calm-19',
  'ws-calm-0', 'ws-calm-1', 'ws-calm-2', 'ws-calm-3', 'ws-calm-4', 'ws-calm-5'];
// The others are published once wsflyte has fetched the backlog.
const QUEUED_AFTER_MS = 3000;
// At most this many of ws-hot's applies end between the others' publishing
// and their last result; waiting behind the backlog would be hundreds.
const HOT_APPLIES_BEFORE_OTHERS = 150;
const members = (v) => [
  { user_id: 'owner', email: 'owner@example.com', role: 'OWNER' },
  { user_id: `member-v${v}`, email: `m${v}@example.com`, role: 'CONTRIBUTOR' },
];

describe('one workspace with 1,500 queued events', () => {
  let stack, hotEvents, otherEvents, results, hotPublishedAt, othersPublishedAt, partitions, flyteLog;

  const resultsOf = (ws) => results.filter((r) => r.workspace_id === ws);

  before(async () => {
    stack = await new Stack({ partitions: 3, config: { concurrency: 8 } }).start();
    await stack.fault('flyte', { latency_ms: 2, count: -1 });
    await stack.fault('kube', { latency_ms: 2, count: -1 });
    stack.startNamedConsumer('wsflyte');
    await waitFor(() => /assigned \d+ partition/.test(stack.consumerLogs.wsflyte.join('')), 20000);
    hotEvents = Array.from({ length: VERSIONS }, (_, i) =>
      makeEvent({ workspace: HOT, version: i + 1, type: 'MEMBERS_CHANGED', members: members(i + 1) }));
    otherEvents = OTHERS.map((workspace) => makeEvent({ workspace }));
    hotPublishedAt = Date.now();
    await stack.produceEvents(hotEvents);
    await sleep(QUEUED_AFTER_MS);
    othersPublishedAt = Date.now();
    await stack.produceEvents(otherEvents);
    // Every result, for as long as results keep coming (an idle minute ends it).
    const r = await run(bin('wsflyte-results'), ['--config', stack.configPath, '--count', String(VERSIONS + OTHERS.length),
      '--timeout', '60'], { timeoutMs: 15 * 60000 });
    results = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    partitions = new Map((await stack.readTopic('workspace.lifecycle.v1')).map((rec) => [rec.key, rec.partition]));
    flyteLog = await stack.flyteRequests();
  });

  after(async () => { await stack?.stop(); });

  test('the scenario: some other workspaces share the hot partition, some do not', () => {
    const hot = partitions.get(HOT);
    assert.ok(OTHERS.some((ws) => partitions.get(ws) === hot), 'one other workspace queued behind the backlog');
    assert.ok(OTHERS.some((ws) => partitions.get(ws) !== hot), 'one other workspace on another partition');
  });

  test('other workspaces published behind the backlog are answered after a few of its applies, not after it', (t) => {
    const hot = partitions.get(HOT);
    const latency = OTHERS.map((ws) => {
      const rs = resultsOf(ws);
      assert.equal(rs.length, 1, `${ws}: exactly one result (${rs.length})`);
      assert.equal(rs[0].status, 'SUCCEEDED', JSON.stringify(rs[0]));
      return { ws, same: partitions.get(ws) === hot, ms: rs[0].completed_at - othersPublishedAt };
    });
    const fmt = (l) => l.map((x) => x.ms).sort((a, b) => a - b).join(', ');
    const lastOther = othersPublishedAt + Math.max(...latency.map((x) => x.ms));
    const hotApplied = resultsOf(HOT).filter((r) => r.status === 'SUCCEEDED');
    const between = hotApplied.filter((r) => r.completed_at >= othersPublishedAt && r.completed_at <= lastOther).length;
    t.diagnostic(`latency of the 10 others (ms) on ws-hot's partition: ${fmt(latency.filter((x) => x.same))}; ` +
      `on other partitions: ${fmt(latency.filter((x) => !x.same))}; ws-hot applied ${between} of its ` +
      `${hotApplied.length} applies meanwhile`);
    assert.ok(between <= HOT_APPLIES_BEFORE_OTHERS, `${between} of ws-hot's applies ended before the others' last result`);
  });

  test('all 1,510 events are answered, once each, with their result_id', async (t) => {
    const events = [...hotEvents, ...otherEvents];
    const seen = new Map();
    for (const r of results) seen.set(r.event_id, [...(seen.get(r.event_id) || []), r]);
    const missing = events.filter((e) => !seen.has(e.event_id));
    assert.equal(missing.length, 0, `${missing.length} events without a result\n${stack.logs.join('').slice(-3000)}`);
    for (const e of events) {
      const rs = seen.get(e.event_id);
      assert.equal(rs.length, 1, `${e.event_id} answered ${rs.length} times`);
      assert.equal(rs[0].result_id, await expectedResultId(e.event_id));
    }
    const last = Math.max(...results.map((r) => r.completed_at)) - hotPublishedAt;
    const applied = resultsOf(HOT).filter((r) => r.status === 'SUCCEEDED').length;
    t.diagnostic(`all ${results.length} results ${last} ms after the backlog was published; ` +
      `ws-hot: ${applied} applied, ${VERSIONS - applied} coalesced`);
  });

  test('older waiting events of the hot workspace are SKIPPED/stale without touching the APIs', () => {
    const hot = resultsOf(HOT);
    const stale = hot.filter((r) => r.status === 'SKIPPED');
    assert.ok(stale.length > 0, 'some events were coalesced');
    for (const r of hot) {
      if (r.status === 'SKIPPED') {
        assert.equal(r.reason, 'stale', JSON.stringify(r));
        assert.equal(r.error, null);
        assert.ok(r.attempts >= 1);
      } else {
        assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
      }
    }
    // The project label is written once per applied version: no coalesced
    // version ever reached FlyteAdmin.
    const applied = new Set(hot.filter((r) => r.status === 'SUCCEEDED').map((r) => String(r.workspace_version)));
    const written = flyteLog.filter((q) => q.path === `/api/v1/projects/${HOT}` && q.method === 'PUT')
      .map((q) => q.body?.project?.labels?.values?.['wsflyte-workspace-version'] ?? q.body?.labels?.values?.['wsflyte-workspace-version'])
      .filter(Boolean);
    assert.ok(written.length > 0, 'the project label was written');
    for (const v of written) assert.ok(applied.has(v), `version ${v} was written but answered stale`);
  });

  test('the hot workspace ends at its newest version', async () => {
    const v1500 = resultsOf(HOT).find((r) => r.workspace_version === VERSIONS);
    assert.equal(v1500?.status, 'SUCCEEDED');
    const p = (await stack.flyteState()).projects.find((x) => x.id === HOT);
    assert.equal(p?.labels.values['wsflyte-workspace-version'], String(VERSIONS));
    const kube = await stack.kubeState();
    for (const domain of ['development', 'staging', 'production']) {
      const ns = kube.objects.find((o) => o.kind === 'Namespace' && o.metadata.name === `${HOT}-${domain}`);
      assert.equal(ns?.metadata.annotations['wsflyte.io/workspace-version'], String(VERSIONS), domain);
    }
    const bound = kube.objects.filter((o) => o.kind === 'RoleBinding' && o.metadata.namespace === `${HOT}-development`)
      .map((b) => b.subjects[0].name).sort();
    assert.deepEqual(bound, [`member-v${VERSIONS}`, 'owner']);
  });
});

// Publishes events straight to one partition with kcat, as JSON.
async function toPartition(stack, partition, events) {
  const lines = events.map((e) => `${e.workspace.workspace_id}\t${JSON.stringify(e)}`).join('\n') + '\n';
  const k = await run('kcat', ['-P', '-b', stack.bootstrap, '-t', 'workspace.lifecycle.v1', '-p', String(partition), '-K', '\t'],
    { input: lines });
  assert.equal(k.code, 0, k.stderr);
}

describe('one partition with a backlog of many slow workspaces', () => {
  const SLOW = Array.from({ length: 600 }, (_, i) => `ws-slow-${i}`);
  const ELSEWHERE = ['ws-calm-0', 'ws-calm-1', 'ws-calm-2', 'ws-calm-3', 'ws-calm-4', 'ws-calm-5'];
  let stack, others, publishedAt, seen;

  before(async () => {
    stack = await new Stack({ partitions: 3, config: { concurrency: 8 } }).start();
    await stack.fault('flyte', { path: '^/api/v1/projects/ws-slow-', method: 'GET', latency_ms: 300, count: -1 });
    stack.startNamedConsumer('wsflyte');
    await waitFor(() => /assigned \d+ partition/.test(stack.consumerLogs.wsflyte.join('')), 20000);
    await toPartition(stack, 0, SLOW.map((workspace) => makeEvent({ workspace, services: [] })));
    await sleep(1000);
    others = ELSEWHERE.map((workspace) => makeEvent({ workspace }));
    publishedAt = Date.now();
    await stack.produceEvents(others);
    seen = await waitFor(async () => {
      const rs = await stack.results(1000000, 1);
      return others.every((e) => rs.some((r) => r.event_id === e.event_id)) && rs;
    }, 40000, 0) || await stack.results(1000000, 1);
  });

  after(async () => { await stack?.stop(); });

  test('workspaces on the other partitions get workers in turn, after a few of the backlog', (t) => {
    const ms = others.map((e) => {
      const r = seen.find((x) => x.event_id === e.event_id);
      assert.equal(r?.status, 'SUCCEEDED', `${e.workspace.workspace_id}: ${JSON.stringify(r)}`);
      return r.completed_at - publishedAt;
    });
    const lastOther = publishedAt + Math.max(...ms);
    const backlog = seen.filter((r) => r.workspace_id.startsWith('ws-slow-') && r.completed_at <= lastOther).length;
    t.diagnostic(`latency of the 6 others (ms): ${ms.sort((a, b) => a - b).join(', ')}; ` +
      `${backlog} of the ${SLOW.length} backlog events done by then`);
    // Taking workers in turn, the others wait for about one round of the
    // 8 workers; waiting behind the backlog, for all 600 of it.
    assert.ok(backlog < SLOW.length / 4, `${backlog} of the ${SLOW.length} backlog events were done first`);
  });
});

describe('one partition with more than its window in flight', () => {
  const BULK = Array.from({ length: 1100 }, (_, i) => `ws-bulk-${i}`);
  // On partitions 1 and 2 (CRC32 of the key, 3 partitions).
  const ELSEWHERE = ['ws-calm-0', 'ws-calm-1', 'ws-calm-2', 'ws-calm-3', 'ws-calm-4', 'ws-calm-5'];
  let stack, bulk, others, publishedAt, othersSeen, recoveredAt, results, partitions;

  before(async () => {
    stack = await new Stack({ partitions: 3, config: { concurrency: 8 } }).start();
    const slow = await stack.fault('flyte', { path: '^/api/v1/projects/ws-bulk-', method: 'GET', status: 500, retry_after: 20, count: -1 });
    stack.startNamedConsumer('wsflyte');
    await waitFor(() => /assigned \d+ partition/.test(stack.consumerLogs.wsflyte.join('')), 20000);
    bulk = BULK.map((workspace) => makeEvent({ workspace, services: [] }));
    await toPartition(stack, 0, bulk);
    await waitFor(() => /lifecycle\.v1\[0\]: \d+ records in flight; fetching paused/.test(stack.consumerLogs.wsflyte.join('')), 20000);
    others = ELSEWHERE.map((workspace) => makeEvent({ workspace }));
    publishedAt = Date.now();
    await stack.produceEvents(others);
    othersSeen = await waitFor(async () => {
      const rs = await stack.results(1000000, 1);
      return others.every((e) => rs.some((r) => r.event_id === e.event_id)) && rs;
    }, 20000, 0) || await stack.results(1000000, 1);
    recoveredAt = Date.now();
    await fetch(`${stack.flyteUrl}/_test/faults/${slow}`, { method: 'DELETE' });
    const r = await run(bin('wsflyte-results'), ['--config', stack.configPath, '--count', String(BULK.length + others.length),
      '--timeout', '90'], { timeoutMs: 120000 });
    results = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    partitions = new Map((await stack.readTopic('workspace.lifecycle.v1')).map((rec) => [rec.key, rec.partition]));
  });

  after(async () => { await stack?.stop(); });

  test('only the partition over its window stops fetching', () => {
    for (const ws of ELSEWHERE) assert.notEqual(partitions.get(ws), 0, ws);
    const log = stack.consumerLogs.wsflyte.join('');
    const paused = [...log.matchAll(/(\S+)\[(\d+)\]: (\d+) records in flight; fetching paused/g)];
    assert.ok(paused.length > 0);
    for (const m of paused) assert.equal(`${m[1]}[${m[2]}]`, 'workspace.lifecycle.v1[0]');
    assert.match(log, /workspace\.lifecycle\.v1\[0\]: \d+ records in flight; fetching again/);
  });

  test('workspaces on the other partitions are answered while partition 0 is held', (t) => {
    const ms = others.map((e) => {
      const r = othersSeen.find((x) => x.event_id === e.event_id);
      assert.equal(r?.status, 'SUCCEEDED', `${e.workspace.workspace_id}: ${JSON.stringify(r)}`);
      return r.completed_at - publishedAt;
    });
    t.diagnostic(`latency of the 6 others (ms): ${ms.sort((a, b) => a - b).join(', ')}`);
    for (const x of ms) assert.ok(publishedAt + x < recoveredAt, `answered ${x} ms after publishing, after FlyteAdmin recovered`);
  });

  test('after the outage every event of the held partition is answered', () => {
    const seen = new Set(results.map((r) => r.event_id));
    const missing = [...bulk, ...others].filter((e) => !seen.has(e.event_id));
    assert.equal(missing.length, 0, `${missing.length} events without a result`);
    for (const r of results) assert.notEqual(r.status, 'FAILED', JSON.stringify(r));
  });
});
