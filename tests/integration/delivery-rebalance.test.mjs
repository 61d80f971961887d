// Delivery guarantees, part 3: two wsflyte processes in one consumer group.
// Both get partitions and process events; stopping one hands its partitions
// to the other while events keep coming, and nothing is lost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, waitFor, sleep } from './harness.mjs';

const WORKSPACES = Array.from({ length: 24 }, (_, i) => `ws-r-${String(i).padStart(2, '0')}`);
const VERSIONS = 5;
const events = [];
for (let v = 1; v <= VERSIONS; v++)
  for (const workspace of WORKSPACES)
    events.push(makeEvent({ workspace, version: v, type: v === 1 ? 'WORKSPACE_CREATED' : 'MEMBERS_CHANGED' }));

let stack, a, b, results, bExit, assignedA, assignedB;
const lastAssigned = (name) => {
  const m = [...stack.consumerLogs[name].join('').matchAll(/assigned (\d+) partition/g)];
  return m.length ? Number(m[m.length - 1][1]) : 0;
};
const processed = (name) => (stack.consumerLogs[name].join('').match(/ (SUCCEEDED|SKIPPED)/g) || []).length;

before(async () => {
  stack = await new Stack({ partitions: 4, config: { concurrency: 4 } }).start();
  await stack.fault('flyte', { latency_ms: 10, count: -1 });
  a = stack.startNamedConsumer('a');
  await waitFor(() => lastAssigned('a') > 0, 20000);
  b = stack.startNamedConsumer('b');
  // Both members hold partitions once the group has rebalanced.
  await waitFor(() => lastAssigned('b') > 0 && lastAssigned('a') < 12, 30000);
  assignedA = lastAssigned('a');
  assignedB = lastAssigned('b');
  await stack.produceEvents(events.slice(0, 72));
  await waitFor(() => processed('b') > 5 && processed('a') > 5, 30000, 100);
  const stopping = stack.stopConsumer(b, 'SIGTERM');
  await stack.produceEvents(events.slice(72));
  bExit = await stopping;
  results = await waitFor(async () => {
    const rs = await stack.results(1000000, 3);
    const seen = new Set(rs.map((r) => r.event_id));
    return events.every((e) => seen.has(e.event_id)) && rs;
  }, 90000, 0) || await stack.results(1000000, 3);
});

after(async () => {
  if (a) assert.equal(await stack.stopConsumer(a), 0);
  await stack?.stop();
});

test('both processes get partitions and process events', () => {
  // events + two tiers, 4 partitions each: 12 in all, split by the range assignor.
  assert.equal(assignedA + assignedB, 12, stack.logs.join(''));
  assert.ok(assignedA > 0 && assignedB > 0);
  assert.ok(processed('a') > 0 && processed('b') > 0);
});

test('stopping one hands its partitions to the other, which takes over', () => {
  assert.equal(bExit, 0);
  assert.equal(lastAssigned('a'), 12);
});

test('nothing is lost across the rebalance, and the final state is the latest version', async () => {
  const seen = new Set(results.map((r) => r.event_id));
  const missing = events.filter((e) => !seen.has(e.event_id));
  assert.deepEqual(missing.map((e) => e.event_id), [], stack.logs.join('').slice(-3000));
  for (const r of results) assert.ok(['SUCCEEDED', 'SKIPPED'].includes(r.status), JSON.stringify(r));
  const flyte = await stack.flyteState();
  for (const ws of WORKSPACES) {
    const p = flyte.projects.find((x) => x.id === ws);
    assert.equal(p?.labels.values['wsflyte-workspace-version'], String(VERSIONS), ws);
  }
  await sleep(0);
});
