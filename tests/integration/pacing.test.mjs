// Client-side pacing (CONTRACT.md §3 "Client-side pacing"): requests to each
// API go through one token bucket per API, shared by all workers, and a 429
// with Retry-After pauses the whole API.
//   storm   both test servers answer 429 `Retry-After: 2` for 10 s: in that
//           window each API sees a handful of requests (one, then one per
//           Retry-After), wsflyte_api_throttled_total counts them, and every
//           event still ends with a result
//   qps     kubernetes.qps 5, burst 5: no stretch of the API server's request
//           log holds more requests than the bucket allows
//   stop    a stop while requests wait out a long pause: wsflyte exits at once
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, sleep, healthPort, waitFor, makeEvent, isWatchRequest } from './harness.mjs';

const STORM_MS = 10000;
let stack;

before(async () => {
  stack = await new Stack({ partitions: 2, config: { qps: 50, burst: 100 } }).start(); // the contract's defaults
});

after(async () => {
  await stack?.stop();
});

async function metric(port, line) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = text.split('\n').find((l) => l.startsWith(line + ' '));
  return m ? Number(m.slice(line.length + 1)) : 0;
}

// Starts a consumer of the shared group with env overrides; returns it and its metrics port.
const started = [];
async function consumer(name, env = {}) {
  const from = stack.logs.length;
  const child = stack.startNamedConsumer(name, env);
  started.push(child);
  return { child, port: await healthPort(stack, 15000, from) };
}

// A test that failed before stopping its consumer leaves no second member in
// the group (and no second bucket) to the next test.
afterEach(async () => {
  await stack.clearFaults();
  while (started.length) await stack.stopConsumer(started.pop());
});

const requestTimes = async (url, from, to = Infinity) => (await (await fetch(`${url}/_test/requests`)).json())
  .map((r) => Date.parse(r.time)).filter((t) => t >= from && t < to).sort((a, b) => a - b);

// Results so far: every event of this file ends in one (wsflyte-results returns
// as soon as it has read this many).
let produced = 0;
const produce = async (events) => {
  produced += events.length;
  await stack.produceEvents(events);
};
const ended = async (events) => {
  const results = await stack.results(produced, 3);
  return events.every((e) => results.some((r) => r.event_id === e.event_id)) && results;
};

test('a 429 storm: a handful of requests reach each API, and every event ends', async () => {
  const { child, port } = await consumer('storm');
  const warm = makeEvent({ workspace: 'ws-storm-warm' }); // the group joined, the connections open
  await produce([warm]);
  assert.ok(await waitFor(() => ended([warm]), 30000, 500), `no result\n${stack.logs.join('').slice(-2000)}`);
  // The watch listed every kind and watches it: its start-up lists (one
  // LIST and one WATCH per kind, late on a busy machine) are not the storm's.
  assert.ok(await waitFor(async () => {
    const w = (await (await fetch(`${stack.kubeUrl}/_test/requests`)).json()).filter(isWatchRequest);
    const listed = new Set(w.filter((r) => r.query.watch === undefined).map((r) => r.path));
    const watched = new Set(w.filter((r) => r.query.watch !== undefined).map((r) => r.path));
    return listed.size > 0 && [...listed].every((p) => watched.has(p));
  }, 30000, 200), 'the watch did not start');
  const start = Date.now();
  for (const server of ['flyte', 'kube']) await stack.fault(server, { status: 429, retry_after: 2 });
  // One event meets the storm first; the others arrive while it goes on.
  const first = makeEvent({ workspace: 'ws-storm-0' });
  await produce([first]);
  assert.ok(await waitFor(() => metric(port, 'wsflyte_api_throttled_total{api="flyte"}'), 8000),
    `no throttling seen\n${stack.logs.join('').slice(-2000)}`);
  const rest = [1, 2, 3, 4, 5].map((i) => makeEvent({ workspace: `ws-storm-${i}` }));
  await produce(rest);
  await sleep(start + STORM_MS - Date.now());
  await stack.clearFaults();
  const end = Date.now();

  const flyte = await requestTimes(stack.flyteUrl, start, end);
  const kube = await requestTimes(stack.kubeUrl, start, end);
  // One request, then one per Retry-After: 5 in 10 s; one more for timing.
  // An event's reads go at once, so the storm's first answer may meet all
  // three of its namespace reads: two more for Kubernetes.
  assert.ok(flyte.length >= 1 && flyte.length <= 6,
    `FlyteAdmin got ${flyte.length} requests in the storm: ${flyte.map((t) => t - start)}`);
  assert.ok(kube.length <= 8, `Kubernetes got ${kube.length} requests in the storm`);
  for (let i = 1; i < flyte.length; i++) {
    assert.ok(flyte[i] - flyte[i - 1] >= 1900, `requests ${flyte[i - 1] - start} and ${flyte[i] - start} ms `
      + 'into the storm came within one Retry-After');
  }
  assert.ok(await metric(port, 'wsflyte_api_throttled_total{api="flyte"}') >= flyte.length - 1);
  process.stderr.write(`pacing: in the 10 s storm FlyteAdmin got ${flyte.length} requests `
    + `(at ${flyte.map((t) => t - start).join(', ')} ms), Kubernetes ${kube.length}\n`);

  const results = await waitFor(() => ended([first, ...rest]), 45000, 1000);
  assert.ok(results, `not every event ended\n${stack.logs.join('').slice(-3000)}`);
  for (const e of [first, ...rest]) {
    const r = results.find((x) => x.event_id === e.event_id);
    assert.equal(r.status, 'SUCCEEDED', `${e.workspace.workspace_id}: ${JSON.stringify(r.error)}`);
  }
  assert.equal(await stack.stopConsumer(child), 0);
});

test('kubernetes.qps 5, burst 5: the API server never sees more than the bucket allows', async () => {
  const { child } = await consumer('qps5', { WSFLYTE_KUBERNETES_QPS: '5', WSFLYTE_KUBERNETES_BURST: '5' });
  const start = Date.now();
  const events = [makeEvent({ workspace: 'ws-qps-1' }), makeEvent({ workspace: 'ws-qps-2' })];
  await produce(events);
  assert.ok(await waitFor(() => ended(events), 45000, 1000), `events did not end\n${stack.logs.join('').slice(-3000)}`);
  const kube = await requestTimes(stack.kubeUrl, start);
  assert.ok(kube.length >= 30, `only ${kube.length} Kubernetes requests`);
  // A bucket of 5 refilled at 5/s: any n requests span at least (n - 5) / 5 s.
  // The times are the server's: a request may reach it up to 400 ms after its
  // token was taken on a loaded machine, which shortens a span by as much.
  for (let i = 0; i < kube.length; i++) {
    for (let j = i + 5; j < kube.length; j++) {
      const need = ((j - i + 1 - 5) / 5) * 1000;
      assert.ok(kube[j] - kube[i] >= need - 400,
        `requests ${i}..${j} came within ${kube[j] - kube[i]} ms, the bucket allows ${need}`);
    }
  }
  const span = kube[29] - kube[0];
  assert.ok(span >= 4600, `30 requests took ${span} ms`);
  process.stderr.write(`pacing: ${kube.length} Kubernetes requests at qps 5/burst 5; the first 30 took ${span} ms\n`);
  assert.equal(await stack.stopConsumer(child), 0);
});

test('a stop during a long pause: waiting requests give up and wsflyte exits at once', async () => {
  const { child, port } = await consumer('stop');
  await stack.fault('flyte', { status: 429, retry_after: 50 });
  await produce([1, 2, 3].map((i) => makeEvent({ workspace: `ws-pause-${i}` })));
  assert.ok(await waitFor(() => metric(port, 'wsflyte_api_throttled_total{api="flyte"}'), 8000));
  await sleep(500);
  const t0 = Date.now();
  const code = await stack.stopConsumer(child);
  const took = Date.now() - t0;
  await stack.clearFaults();
  assert.equal(code, 0);
  // Not the 50 s pause: ~1 s on a quiet machine.
  assert.ok(took < 25000, `exit took ${took} ms`);
  process.stderr.write(`pacing: stopped during a 50 s pause in ${took} ms\n`);
});
