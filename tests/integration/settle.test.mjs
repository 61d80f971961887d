// A stop or revoke never waits out an in-place backoff (README "Processing one
// event", step 7).  An event's request is in flight when the stop comes and is
// then answered 503 with Retry-After: 30, which an in-place retry would
// honour: wsflyte hands the record back instead of waiting, and exits long
// before the Retry-After is over; the event is handled again by the next run.
// A revoke (a second consumer joins) in the same situation lets the partitions
// go at once, so the rebalance completes long before the Retry-After is over.
// Both fail on a build that put the retry on hold for the whole Retry-After.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, waitFor, healthPort } from './harness.mjs';

const RETRY_AFTER_S = 30;
let stack;

before(async () => {
  stack = await new Stack({ partitions: 2 }).start();
});

after(async () => {
  await stack?.stop();
});

test('SIGTERM during an attempt that is then told to retry after 30 s: exits first', async () => {
  const first = stack.startConsumer('first');
  const warm = makeEvent({ workspace: 'ws-settle-warm' });
  await stack.produceEvents([warm]);
  assert.equal((await stack.resultOf(warm.event_id, 1)).status, 'SUCCEEDED');

  const ws = 'ws-settle';
  const path = `/api/v1/projects/${ws}`;
  // The event's first request takes 3 s to be answered 503 Retry-After: 30.
  await stack.fault('flyte', { path, method: 'GET', status: 503, retry_after: RETRY_AFTER_S,
    latency_ms: 3000, count: 1 });
  const ev = makeEvent({ workspace: ws });
  await stack.produceEvents([ev]);
  assert.ok(await waitFor(async () => (await stack.flyteRequests()).some((r) => r.path === path), 30000, 50),
    'the event never reached FlyteAdmin');
  const stopped = Date.now();
  const exited = new Promise((r) => first.once('exit', (code) => r(code)));
  first.kill('SIGTERM');
  const code = await Promise.race([exited,
    new Promise((r) => setTimeout(() => r('still running'), RETRY_AFTER_S * 1000))]);
  assert.equal(code, 0, `after SIGTERM: ${code}\n${stack.logs.join('').slice(-3000)}`);
  const answered = (await stack.flyteRequests()).find((r) => r.path === path);
  assert.equal(answered.status, 503, 'the request was answered before the exit');
  const ms = Date.now() - stopped;

  // Handed back, not answered: the next run handles it.
  const second = stack.startConsumer('second');
  const r = await stack.resultOf(ev.event_id, 2);
  assert.equal(r.status, 'SUCCEEDED');
  assert.equal(await stack.stopConsumer(second), 0);
  assert.ok(ms < RETRY_AFTER_S * 1000, `exited ${ms} ms after SIGTERM`);
});

test('a revoke during an attempt that is then told to retry after 30 s: the partitions go first', async (t) => {
  const a = stack.startNamedConsumer('a');
  await healthPort(stack);
  const warm = makeEvent({ workspace: 'ws-revoke-warm' });
  await stack.produceEvents([warm]);
  const warmed = await waitFor(async () => (await stack.results(10, 3)).find((r) => r.event_id === warm.event_id), 60000, 500);
  assert.equal(warmed?.status, 'SUCCEEDED');

  const ws = 'ws-revoke';
  const path = `/api/v1/projects/${ws}`;
  // Answered after 4.5 s (within the client's 5 s timeout): the second
  // member's join revokes while it is in flight.
  await stack.fault('flyte', { path, method: 'GET', status: 503, retry_after: RETRY_AFTER_S,
    latency_ms: 4500, count: 1 });
  const ev = makeEvent({ workspace: ws });
  await stack.produceEvents([ev]);
  assert.ok(await waitFor(async () => (await stack.flyteRequests()).some((r) => r.path === path), 30000, 50),
    'the event never reached FlyteAdmin');
  // A second member joins: a revokes while the request is in flight, and
  // the request is then answered 503 Retry-After: 30.
  const b = stack.startNamedConsumer('b');
  const aLog = () => stack.consumerLogs.a.join('');
  const seen = {};
  const note = (key, ok) => { if (ok && !seen[key]) seen[key] = Date.now(); return seen[key]; };
  assert.ok(await waitFor(() => {
    const text = aLog(), revoking = text.indexOf('revoking');
    note('revoking', revoking >= 0);
    const back = note('assigned', revoking >= 0 && text.indexOf('assigned ', revoking) >= 0);
    return back && text.indexOf('restored', text.indexOf('assigned ', revoking)) >= 0
      && stack.consumerLogs.b.join('').includes('restored');
  }, 90000, 100), `the group never settled\n${stack.logs.join('').slice(-3000)}`);
  const entry = (await stack.flyteRequests()).find((r) => r.path === path);
  const arrived = Date.parse(entry.time), answered = arrived + entry.duration_ms;
  const revokedAt = seen.revoking, reassignedAt = seen.assigned;
  t.diagnostic(`revoke ${revokedAt - arrived} ms after the request arrived, answer ${answered - arrived} ms, `
    + `a assigned again ${reassignedAt - answered} ms after the answer`);
  assert.equal(entry.status, 503);
  assert.ok(revokedAt < answered, 'the revoke came after the answer: nothing tested');
  assert.equal(await stack.stopConsumer(b), 0, stack.consumerLogs.b.join('').slice(-3000));
  assert.equal(await stack.stopConsumer(a), 0, stack.consumerLogs.a.join('').slice(-3000));
  assert.ok(reassignedAt - answered < RETRY_AFTER_S * 1000,
    `a let its partitions go ${reassignedAt - answered} ms after the answer`);
});
