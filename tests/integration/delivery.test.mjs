// Delivery guarantees, part 1: fault injection on the APIs and poison
// records.  One stack; every scenario uses its own workspaces, all
// events are published at once and each test then checks its scenario.
// The two throttled workspaces come last, once the others have their
// results: a 429 pauses every request to its API (CONTRACT.md §3,
// "Client-side pacing"), which would hold up the ones the isolation test
// times.
//   ws-d-burst     FlyteAdmin 503 twice, then fine          -> SUCCEEDED, 3 attempts
//   ws-d-throttle  Kubernetes 429 with Retry-After: 3 s     -> SUCCEEDED, waited >= 3 s
//   ws-d-slow-down Kubernetes 429 with Retry-After: 40 s    -> no in-place wait; retry-4s, SUCCEEDED
//   ws-d-conflict  Kubernetes 409 once                      -> transient, SUCCEEDED, 2 attempts
//   ws-d-perm      FlyteAdmin 400                           -> FAILED + dead letter, 1 attempt
//   ws-d-perm-k8s  Kubernetes 422                           -> FAILED + dead letter, 1 attempt
//   ws-d-hang      FlyteAdmin never answers once            -> timeout, SUCCEEDED, 2 attempts
//   ws-d-tier-ok   503 x4: beyond the in-place attempts     -> retry-2s, then SUCCEEDED
//   ws-d-tier-dlt  503 forever                              -> retry-2s, retry-4s, dead letter
//   ws-d-ok-N      healthy, published alongside             -> SUCCEEDED promptly
//   poison records (kcat): garbage, bad magic, unknown schema id, broken JSON -> dead letter
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, expectedResultId, waitFor } from './harness.mjs';

const EVENTS = 'workspace.lifecycle.v1';
const DLT = 'workspace.lifecycle.v1.wsflyte.dlt';
const RETRY2 = 'workspace.lifecycle.v1.wsflyte.retry-2s';
const RETRY4 = 'workspace.lifecycle.v1.wsflyte.retry-4s';
const HEALTHY = Array.from({ length: 12 }, (_, i) => `ws-d-ok-${i}`);
const FAULTY = ['ws-d-burst', 'ws-d-throttle', 'ws-d-slow-down', 'ws-d-conflict', 'ws-d-perm', 'ws-d-perm-k8s', 'ws-d-hang',
  'ws-d-tier-ok', 'ws-d-tier-dlt'];
const THROTTLED = ['ws-d-throttle', 'ws-d-slow-down'];
const POISON = ['ws-d-poison-garbage', 'ws-d-poison-magic', 'ws-d-poison-schema', 'ws-d-poison-json'];

let stack, consumer, results, events, dlt, retry2, retry4, kubeLog, flyteLog, publishedAt;

const resultOf = (ws) => results.filter((r) => r.workspace_id === ws);
const only = (ws) => {
  const rs = resultOf(ws);
  assert.equal(rs.length, 1, `exactly one result for ${ws}: ${JSON.stringify(rs)}`);
  return rs[0];
};
const forKey = (records, ws) => records.filter((r) => r.key === ws);
const logFor = (log, ws) => log.filter((r) => r.path.includes(ws));

before(async () => {
  stack = await new Stack({ config: { concurrency: 4, inPlaceAttempts: 3 } }).start();
  await stack.fault('flyte', { path: '^/api/v1/projects/ws-d-burst$', method: 'GET', status: 503, count: 2 });
  await stack.fault('kube', { path: 'ws-d-throttle', status: 429, retry_after: 3, count: 1 });
  await stack.fault('kube', { path: 'ws-d-slow-down', status: 429, retry_after: 40, count: 1 });
  await stack.fault('kube', { path: 'ws-d-conflict', method: 'PATCH', status: 409, count: 1 });
  await stack.fault('flyte', { path: '^/api/v1/projects/ws-d-perm$', method: 'GET', status: 400, count: -1 });
  await stack.fault('kube', { path: 'ws-d-perm-k8s', status: 422, count: -1 });
  await stack.fault('flyte', { path: '^/api/v1/projects/ws-d-hang$', method: 'GET', hang: true, count: 1 });
  await stack.fault('flyte', { path: '^/api/v1/projects/ws-d-tier-ok$', method: 'GET', status: 503, count: 4 });
  await stack.fault('flyte', { path: '^/api/v1/projects/ws-d-tier-dlt$', method: 'GET', status: 503, count: -1 });
  consumer = stack.startNamedConsumer('wsflyte');
  // Joining the group takes the mock cluster ~3 s; time from when it owns partitions.
  await waitFor(() => /assigned \d+ partition/.test(stack.consumerLogs.wsflyte.join('')), 20000);
  events = [...FAULTY, ...HEALTHY].map((workspace) => makeEvent({ workspace }));
  const throttled = events.filter((e) => THROTTLED.includes(e.workspace.workspace_id));
  publishedAt = Date.now();
  await stack.produceEvents(events.filter((e) => !throttled.includes(e)));
  // Poison, published with kcat: wsflyte's own producer would refuse them.
  const garbage = Buffer.from('\xff\xfe not an event at all', 'latin1');
  const badMagic = Buffer.from([0x07, 0, 0, 0, 2, 0x10, 0x20]);
  const unknownSchema = Buffer.from([0x00, 0x00, 0x00, 0x27, 0x0f, 0x02, 0x40, 0x41]);
  for (const [key, value, headers] of [
    [POISON[0], garbage, {}], [POISON[1], badMagic, {}], [POISON[2], unknownSchema, {}],
    [POISON[3], Buffer.from('{"event_id": "x", "workspace":'), { 'content-type': 'application/json' }]]) {
    const r = await stack.kcatProduce(key, value, headers);
    assert.equal(r.code, 0, r.stderr);
  }
  // A healthy event after the poison: poison never blocks its partition.
  const late = makeEvent({ workspace: 'ws-d-ok-after-poison' });
  events.push(late);
  await stack.produceEvents([late]);
  await stack.results(events.length - throttled.length, 60);
  await stack.produceEvents(throttled);
  results = await stack.results(events.length, 90);
  [dlt, retry2, retry4] = await Promise.all([DLT, RETRY2, RETRY4].map((t) => stack.readTopic(t)));
  [kubeLog, flyteLog] = await Promise.all([stack.kubeRequests(), stack.flyteRequests()]);
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0, 'wsflyte exits 0 on SIGTERM');
  await stack?.stop();
});

test('every event gets exactly one terminal result with the result_id derived from its event_id', async () => {
  assert.equal(results.length, events.length, stack.logs.join(''));
  for (const e of events) {
    const rs = results.filter((r) => r.event_id === e.event_id);
    assert.equal(rs.length, 1, `one result for ${e.event_id}`);
    assert.equal(rs[0].result_id, await expectedResultId(e.event_id));
  }
});

test('a burst of 503s is retried in place and ends SUCCEEDED with attempts > 1', () => {
  const r = only('ws-d-burst');
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.equal(r.attempts, 3);
  const gets = logFor(flyteLog, 'ws-d-burst').filter((q) => q.method === 'GET');
  assert.deepEqual(gets.slice(0, 3).map((q) => q.status), [503, 503, 404], "404: not registered yet");
  assert.equal(forKey(retry2, 'ws-d-burst').length, 0, 'recovered in place, never forwarded');
});

test('429 with Retry-After is honoured before the next attempt', () => {
  const r = only('ws-d-throttle');
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.equal(r.attempts, 2);
  const reqs = logFor(kubeLog, 'ws-d-throttle');
  const i = reqs.findIndex((q) => q.status === 429);
  // The reads of one event go at once: the refused call's siblings were
  // already on their way; the refused call itself comes again only after
  // the pause.
  const again = reqs.slice(i + 1).find((q) => q.method === reqs[i].method && q.path === reqs[i].path);
  assert.ok(i >= 0 && again, 'a 429 and the same call later');
  const waited = Date.parse(again.time) - Date.parse(reqs[i].time);
  // Without Retry-After the first backoff is 250-500 ms.
  assert.ok(waited >= 2900, `waited ${waited} ms after Retry-After: 3`);
});

test('a Retry-After longer than an in-place wait goes to the first tier that waits long enough', () => {
  const r = only('ws-d-slow-down');
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.equal(r.attempts, 2, 'one attempt, then one from the tier');
  assert.equal(forKey(retry2, 'ws-d-slow-down').length, 0, 'retry-2s waits too little');
  const fwd = forKey(retry4, 'ws-d-slow-down');
  assert.equal(fwd.length, 1);
  assert.equal(fwd[0].headers['x-error-code'], 'k8s.429');
});

test('a 409 conflict is transient: retried in place', () => {
  const r = only('ws-d-conflict');
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.equal(r.attempts, 2);
  assert.equal(forKey(dlt, 'ws-d-conflict').length, 0);
});

test('permanent 4xx: FAILED with a dead letter, no retry', () => {
  for (const [ws, code, server] of [['ws-d-perm', 'flyte.400', flyteLog], ['ws-d-perm-k8s', 'k8s.422', kubeLog]]) {
    const r = only(ws);
    assert.equal(r.status, 'FAILED', JSON.stringify(r));
    assert.equal(r.attempts, 1);
    assert.equal(r.error.class, 'PERMANENT');
    assert.equal(r.error.code, code);
    // Calls that go at once (an event's reads) may all be refused; none is
    // made twice.
    const faulted = logFor(server, ws).filter((q) => q.fault !== undefined);
    assert.ok(faulted.length >= 1, `${ws}: the failing call was made`);
    assert.equal(new Set(faulted.map((q) => `${q.method} ${q.path}`)).size, faulted.length,
      `${ws}: no failing call was made twice`);
    const d = forKey(dlt, ws);
    assert.equal(d.length, 1, `${ws}: one dead letter`);
    assert.equal(d[0].headers['x-error-class'], 'PERMANENT');
    assert.equal(d[0].headers['x-error-code'], code);
    assert.equal(d[0].headers['x-attempts'], '1');
    assert.equal(d[0].headers['x-original-topic'], EVENTS);
    assert.equal(forKey(retry2, ws).length, 0, `${ws}: never sent to a retry tier`);
  }
});

test('a hang past the 5 s client timeout is transient and retried', () => {
  const r = only('ws-d-hang');
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.equal(r.attempts, 2);
  assert.ok(r.duration_ms >= 5000, `duration ${r.duration_ms} ms includes the 5 s timeout`);
  const gets = logFor(flyteLog, 'ws-d-hang').filter((q) => q.method === 'GET');
  assert.equal(gets[0].status, 'hang');
});

test('poison records go straight to the dead-letter topic and are never retried', () => {
  for (const ws of POISON) {
    const d = forKey(dlt, ws);
    assert.equal(d.length, 1, `${ws}: one dead letter\n${stack.logs.join('')}`);
    assert.equal(d[0].headers['x-error-class'], 'DESERIALIZATION', `${ws}: ${JSON.stringify(d[0].headers)}`);
    assert.equal(d[0].headers['x-attempts'], '1');
    assert.equal(d[0].headers['x-original-topic'], EVENTS);
    assert.equal(d[0].headers['x-retry-due-ms'], undefined);
    assert.equal(forKey(retry2, ws).length + forKey(retry4, ws).length, 0);
    assert.equal(resultOf(ws).length, 0, 'no result: nothing to correlate it with');
  }
  assert.equal(forKey(dlt, POISON[2])[0].headers['x-error-code'].startsWith('avro.'), true);
  assert.equal(only('ws-d-ok-after-poison').status, 'SUCCEEDED');
});

test('beyond the in-place attempts an event goes to retry-2s with the contract headers, is taken up when due, and succeeds', () => {
  const fwd = forKey(retry2, 'ws-d-tier-ok');
  assert.equal(fwd.length, 1);
  const h = fwd[0].headers;
  const orig = events.find((e) => e.workspace.workspace_id === 'ws-d-tier-ok');
  assert.equal(h['x-original-topic'], EVENTS);
  assert.match(h['x-original-partition'], /^\d+$/);
  assert.match(h['x-original-offset'], /^\d+$/);
  assert.ok(Number(h['x-original-timestamp']) >= publishedAt - 1000);
  assert.equal(h['x-consumer-group'], 'wsflyte');
  assert.equal(h['x-attempts'], '3');
  assert.equal(h['x-error-class'], 'TRANSIENT');
  assert.equal(h['x-error-code'], 'flyte.503');
  assert.ok(h['x-error-message'].length > 0 && h['x-error-message'].length <= 1024);
  const firstFailure = Number(h['x-first-failure-ms']);
  const due = Number(h['x-retry-due-ms']);
  assert.ok(firstFailure <= fwd[0].ts);
  assert.equal(fwd[0].payload.length > 0, true);
  const gets = logFor(flyteLog, 'ws-d-tier-ok').filter((q) => q.method === 'GET');
  assert.equal(gets.length >= 5, true);
  // Due one tier delay (2 s) after the failure: later than the third
  // attempt by at least that, and at most that after the forward was
  // produced (the due time is taken just before).
  assert.ok(due - Date.parse(gets[2].time) >= 2000, `due ${due} vs third attempt ${gets[2].time}`);
  assert.ok(due - fwd[0].ts <= 2000, `due ${due} vs produced ${fwd[0].ts}`);
  assert.ok(Date.parse(gets[3].time) >= due, `4th attempt at ${gets[3].time}, due ${new Date(due).toISOString()}`);
  const r = only('ws-d-tier-ok');
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  assert.equal(r.attempts, 5);
  assert.equal(r.event_id, orig.event_id);
  assert.equal(forKey(retry4, 'ws-d-tier-ok').length, 0);
  assert.equal(forKey(dlt, 'ws-d-tier-ok').length, 0);
});

test('after the last tier the event is dead-lettered with a FAILED result; first x-original-* kept', () => {
  const [t2] = forKey(retry2, 'ws-d-tier-dlt');
  const [t4] = forKey(retry4, 'ws-d-tier-dlt');
  const d = forKey(dlt, 'ws-d-tier-dlt');
  assert.ok(t2 && t4, 'went through both tiers');
  assert.equal(t2.headers['x-attempts'], '3');
  assert.equal(t4.headers['x-attempts'], '6');
  assert.equal(d.length, 1);
  assert.equal(d[0].headers['x-attempts'], '9');
  assert.equal(d[0].headers['x-error-class'], 'TRANSIENT');
  assert.equal(d[0].headers['x-error-code'], 'flyte.503');
  assert.equal(d[0].headers['x-retry-due-ms'], undefined);
  for (const k of ['x-original-topic', 'x-original-partition', 'x-original-offset', 'x-original-timestamp', 'x-first-failure-ms']) {
    assert.equal(t4.headers[k], t2.headers[k], k);
    assert.equal(d[0].headers[k], t2.headers[k], k);
  }
  assert.equal(d[0].payload, t2.payload, 'the original bytes, unchanged');
  const gets = logFor(flyteLog, 'ws-d-tier-dlt').filter((q) => q.method === 'GET');
  assert.equal(gets.length, 9, 'three attempts per stage');
  assert.ok(Date.parse(gets[3].time) >= Number(t2.headers['x-retry-due-ms']));
  assert.ok(Date.parse(gets[6].time) >= Number(t4.headers['x-retry-due-ms']));
  const r = only('ws-d-tier-dlt');
  assert.equal(r.status, 'FAILED');
  assert.equal(r.attempts, 9);
  assert.equal(r.error.class, 'TRANSIENT');
});

test('isolation: healthy workspaces complete on time while others fail through the tiers', (t) => {
  const slow = only('ws-d-tier-dlt');
  assert.ok(slow.completed_at - publishedAt > 10000);
  t.diagnostic(HEALTHY.map((w) => `${w}:${only(w).completed_at - publishedAt}/${only(w).duration_ms}`).join(" "));
  t.diagnostic(`healthy: last done ${Math.max(...HEALTHY.map((w) => only(w).completed_at)) - publishedAt} ms after publishing; ` +
    `ws-d-tier-dlt: ${slow.completed_at - publishedAt} ms`);
  for (const ws of HEALTHY) {
    const r = only(ws);
    assert.equal(r.status, 'SUCCEEDED');
    assert.equal(r.attempts, 1);
    // Healthy events take ~0.2 s of API calls each; the failing workspace
    // waits out both tiers (2 s and 4 s) before its dead letter, and the
    // healthy ones do not wait for it.
    assert.ok(r.completed_at < slow.completed_at - 2000,
      `${ws} completed ${r.completed_at - publishedAt} ms after publishing, ws-d-tier-dlt ${slow.completed_at - publishedAt} ms`);
  }
});
