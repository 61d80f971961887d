// Operating wsflyte: dead letters listed, shown and replayed with
// wsflyte-dlt; the replay loop guard; replays that resume, and that stop when
// the broker does not acknowledge; metrics that move; readiness that follows
// the APIs; wsflyte-produce's input forms and errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  Stack, run, bin, sleep, healthPort, readTopic, addFault, clearFaults, eventsFile, workspaceEvent, waitFor as waitUntil,
} from './harness.mjs';

const DLT = 'workspace.lifecycle.v1.wsflyte.dlt';
const RETRY1 = 'workspace.lifecycle.v1.wsflyte.retry-2s';
let stack, consumer, port;

const dlt = (...args) => run(bin('wsflyte-dlt'), ['--config', stack.configPath, ...args]);
const metricsText = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
const metric = (text, line) => {
  const m = text.split('\n').find((l) => l.startsWith(line + ' '));
  return m ? Number(m.slice(line.length + 1)) : 0;
};

before(async () => {
  stack = await new Stack().start();
  consumer = stack.startConsumer();
  port = await healthPort(stack);
});

after(async () => {
  if (consumer) await stack.stopConsumer(consumer);
  await stack?.stop();
});

// The harness's progress-bounded wait, failing with the logs' tail.
async function waitFor(fn, timeoutMs = 30000, what = 'condition') {
  const v = await waitUntil(fn, timeoutMs, 200);
  if (!v) throw new Error(`timed out waiting for ${what}\n${stack.logs.join('').slice(-3000)}`);
  return v;
}

const resultsFor = async (id, n) =>
  (await stack.results(n, 30)).filter((r) => r.workspace_id === id);

// A Kafka cluster of the test's own, with a configuration pointing at it,
// for faults and slowness that would disturb the shared stack's consumer.
async function privateKafka(name) {
  const child = spawn(bin('wsflyte-devkafka'), [], { stdio: ['pipe', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const bootstrap = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (l) => resolve(l.trim()));
    child.once('exit', (code) => reject(new Error(`wsflyte-devkafka exited ${code}: ${log}`)));
  });
  const config = join(stack.dir, `${name}.yaml`);
  const doc = JSON.parse(stack.configYaml());
  doc.kafka.bootstrap_servers = bootstrap;
  writeFileSync(config, JSON.stringify(doc));
  return {
    bootstrap,
    config,
    // Sends a fault-injection command and waits for devkafka's "ok".
    async command(line) {
      const from = log.length;
      child.stdin.write(line + '\n');
      await waitFor(() => log.slice(from).includes(`ok ${line.split(' ')[0]}`), 5000, `devkafka: ${line}`);
    },
    stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }),
  };
}

// Publishes `keys` to the dead-letter topic as JSON events, with these headers.
const deadLetter = (bootstrap, keys, headers) => run('kcat', ['-P', '-b', bootstrap, '-t', DLT, '-K', '\t',
  ...Object.entries({ 'content-type': 'application/json', ...headers }).flatMap(([k, v]) => ['-H', `${k}=${v}`])],
{ input: keys.map((k) => `${k}\t${JSON.stringify(workspaceEvent(k, 1))}`).join('\n') + '\n' });

test('a dead-lettered event is listed, shown, and replayed to SUCCEEDED once the fault is gone', async () => {
  // FlyteAdmin refuses registration: a permanent failure, dead-lettered at once.
  await addFault(stack.flyteUrl, { path: '/api/v1/projects', method: 'POST', status: 400, count: -1 });
  const produced = await stack.produce(eventsFile(stack, 'dl.jsonl', [workspaceEvent('ws-dl-1', 1)]));
  assert.equal(produced.code, 0, produced.stderr);
  const failed = await waitFor(async () => (await stack.results(1, 20)).find((r) => r.workspace_id === 'ws-dl-1'),
    40000, 'FAILED result');
  assert.equal(failed.status, 'FAILED');
  assert.equal(failed.error.class, 'PERMANENT');
  assert.equal(failed.error.code, 'flyte.400');

  const listed = await dlt('list', '--workspace', 'ws-dl-1');
  assert.equal(listed.code, 0, listed.stderr);
  const rows = listed.stdout.trim().split('\n');
  assert.match(rows[0], /PART\s+OFFSET\s+DEAD-LETTERED\s+WORKSPACE\s+EVENT\s+CLASS\s+CODE\s+ATTEMPTS/);
  assert.equal(rows.length, 2, listed.stdout);
  assert.match(rows[1], /ws-dl-1\s+WORKSPACE_CREATED\s+PERMANENT\s+flyte\.400\s+1/);
  const [part, offset] = rows[1].trim().split(/\s+/);

  const none = await dlt('list', '--class', 'DESERIALIZATION');
  assert.equal(none.stdout.trim().split('\n').length, 1, 'the class filter excludes it');

  const shown = await dlt('show', '--partition', part, '--offset', offset);
  assert.equal(shown.code, 0, shown.stderr);
  const doc = JSON.parse(shown.stdout);
  assert.equal(doc.key, 'ws-dl-1');
  assert.equal(doc.headers['x-error-class'], 'PERMANENT');
  assert.equal(doc.headers['x-original-topic'], 'workspace.lifecycle.v1');
  assert.equal(doc.headers['x-consumer-group'], 'wsflyte');
  assert.match(doc.headers['x-error-message'], /HTTP 400/);
  assert.equal(doc.event.workspace.workspace_id, 'ws-dl-1');

  const dry = await dlt('replay', '--workspace', 'ws-dl-1', '--dry-run');
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would replay .* key ws-dl-1 to workspace\.lifecycle\.v1\.wsflyte\.retry-2s/);
  assert.equal((await readTopic(stack, RETRY1)).filter((r) => r.key === 'ws-dl-1').length, 0,
    'a dry run publishes nothing');

  await clearFaults(stack.flyteUrl);
  const replay = await dlt('replay', '--workspace', 'ws-dl-1');
  assert.equal(replay.code, 0, replay.stderr);
  assert.match(replay.stderr, /done: 1 replayed, \d+ skipped by filter, 0 refused/);
  const copies = (await readTopic(stack, RETRY1)).filter((r) => r.key === 'ws-dl-1');
  assert.equal(copies.length, 1);
  assert.equal(copies[0].headers['x-replay-count'], '1');
  assert.equal(copies[0].headers['x-original-topic'], 'workspace.lifecycle.v1', 'headers are kept');

  const ok = await waitFor(async () => (await resultsFor('ws-dl-1', 2)).find((r) => r.status === 'SUCCEEDED'),
    40000, 'SUCCEEDED after replay');
  assert.equal(ok.result_id, failed.result_id, 'same event, same result id');
  assert.equal((await stack.flyteState()).projects.find((p) => p.id === 'ws-dl-1').state, 'ACTIVE');

  const again = await dlt('replay', '--workspace', 'ws-dl-1');
  assert.match(again.stderr, /done: 0 replayed/, 'the same replay resumes after what it committed');
});

test('the loop guard refuses records replayed too often', async () => {
  const ev = JSON.stringify(workspaceEvent('ws-loop-1', 1));
  const sent = await run('kcat', ['-P', '-b', stack.bootstrap, '-t', DLT, '-k', 'ws-loop-1',
    '-H', 'x-error-class=TRANSIENT', '-H', 'x-replay-count=3', '-H', 'content-type=application/json'],
  { input: ev });
  assert.equal(sent.code, 0, sent.stderr);
  const r = await dlt('replay', '--workspace', 'ws-loop-1', '--max-replays', '3');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /refused .*replayed 3 time\(s\) already/);
  assert.match(r.stderr, /done: 0 replayed, \d+ skipped by filter, 1 refused/);
  assert.equal((await readTopic(stack, RETRY1)).filter((x) => x.key === 'ws-loop-1').length, 0);
});

test('an interrupted replay resumes without publishing anything twice', async () => {
  const k = await privateKafka('resume');
  try {
    const n = 150;
    const keys = Array.from({ length: n }, (_, i) => `ws-bulk-${i}`);
    const sent = await deadLetter(k.bootstrap, keys, { 'x-error-class': 'TRANSIENT' });
    assert.equal(sent.code, 0, sent.stderr);
    // Slow round trips make the first run take seconds, so that it is
    // interrupted half-way whatever the machine's speed.
    await k.command('rtt 1 30');
    const args = ['--config', k.config, 'replay', '--class', 'TRANSIENT', '--to', 'main'];
    const first = spawn(bin('wsflyte-dlt'), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    first.stderr.on('data', (d) => { err += d; });
    const exited = new Promise((r) => first.once('exit', r));
    await waitFor(() => /\n?wsflyte-dlt: [1-9]\d* replayed/.test(err), 20000, 'the first run to make progress');
    first.kill('SIGINT');
    await exited;
    await k.command('rtt 1 0');
    const second = await run(bin('wsflyte-dlt'), args);
    assert.equal(second.code, 0, second.stderr);
    const copies = (await readTopic(k, 'workspace.lifecycle.v1')).filter((x) => x.key.startsWith('ws-bulk-'));
    assert.equal(new Set(copies.map((c) => c.key)).size, n, `every record replayed (first run: ${err.trim().split('\n').pop()})`);
    assert.equal(copies.length, n, 'and none twice');
    assert.match(err, /done: \d+ replayed/, 'the first run stopped cleanly on SIGINT');
    assert.doesNotMatch(err, new RegExp(`done: ${n} replayed`), 'the first run was interrupted');
  } finally {
    await k.stop();
  }
});

test('an interrupted replay with a relative --since resumes as the same replay, in its first window', async () => {
  const k = await privateKafka('since');
  try {
    const n = 100;
    const keys = Array.from({ length: n }, (_, i) => `ws-since-${i}`);
    const sent = await deadLetter(k.bootstrap, keys, { 'x-error-class': 'TRANSIENT' });
    assert.equal(sent.code, 0, sent.stderr);
    const deadLetteredAt = Date.now();
    // Slow round trips make the first run take seconds, so that it is
    // interrupted half-way whatever the machine's speed.
    await k.command('rtt 1 30');
    // "5s ago" from the first run's start takes in every record; from the
    // second run's start, none: only the first run's window finds the rest.
    const args = ['--config', k.config, 'replay', '--since', '5s', '--to', 'main'];
    const first = spawn(bin('wsflyte-dlt'), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    first.stderr.on('data', (d) => { err += d; });
    const exited = new Promise((r) => first.once('exit', r));
    await waitFor(() => /\n?wsflyte-dlt: [1-9]\d* replayed/.test(err), 20000, 'the first run to make progress');
    first.kill('SIGINT');
    await exited;
    assert.match(err, /done: \d+ replayed/, 'the first run stopped cleanly on SIGINT');
    assert.doesNotMatch(err, new RegExp(`done: ${n} replayed`), 'the first run was interrupted');
    await k.command('rtt 1 0');
    await sleep(Math.max(0, deadLetteredAt + 6000 - Date.now()));

    const second = await run(bin('wsflyte-dlt'), args);
    assert.equal(second.code, 0, second.stderr);
    const group = (r) => /as group (\S+)/.exec(r)?.[1];
    assert.equal(group(second.stderr), group(err), 'the same command line is the same replay');
    assert.match(second.stderr, /resuming an interrupted replay with the time window it started with/);
    const copies = (await readTopic(k, 'workspace.lifecycle.v1')).filter((x) => x.key.startsWith('ws-since-'));
    assert.equal(new Set(copies.map((c) => c.key)).size, n, `every record replayed (first run: ${err.trim().split('\n').pop()})`);
    assert.equal(copies.length, n, 'and none twice');

    // A replay that reached its end is followed by a new one, with "5s ago"
    // resolved afresh: a record dead-lettered before that is outside it.
    assert.equal((await deadLetter(k.bootstrap, ['ws-since-late'], { 'x-error-class': 'TRANSIENT' })).code, 0);
    await sleep(6000);
    const third = await run(bin('wsflyte-dlt'), args);
    assert.equal(third.code, 0, third.stderr);
    assert.doesNotMatch(third.stderr, /resuming an interrupted replay/);
    assert.match(third.stderr, /done: 0 replayed, 1 skipped by filter, 0 refused \(loop guard\) of 1 read/);
  } finally {
    await k.stop();
  }
});

test('a replay stops, without committing, when the broker does not acknowledge a copy', async () => {
  const k = await privateKafka('unacked');
  try {
    assert.equal((await deadLetter(k.bootstrap, ['ws-unacked-1'], { 'x-error-class': 'TRANSIENT' })).code, 0);
    // Produce requests fail with REQUEST_TIMED_OUT for a few seconds: the
    // producer keeps retrying, so the copy stays queued past --ack-timeout.
    await k.command('errors 0 40 7');
    const args = ['--config', k.config, 'replay', '--to', 'main'];
    const r = await run(bin('wsflyte-dlt'), [...args, '--ack-timeout', '1s']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /the copy of .*dlt\[\d+\]@0 was not acknowledged by the broker within 1000 ms .*still queued/);
    assert.match(r.stderr, /stopping without committing it/);
    assert.match(r.stderr, /stopped: 0 replayed/);

    // Nothing was committed: the same command, once the broker answers again,
    // replays the record.
    const again = await run(bin('wsflyte-dlt'), args);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /done: 1 replayed, 0 skipped by filter, 0 refused \(loop guard\) of 1 read/);
    const copies = (await readTopic(k, 'workspace.lifecycle.v1')).filter((x) => x.key === 'ws-unacked-1');
    assert.ok(copies.length >= 1, 'the record reached the events topic');
  } finally {
    await k.stop();
  }
});

test('metrics count events, API calls and dead letters as events flow', async () => {
  const before = await metricsText();
  assert.match(before, /# TYPE wsflyte_events_total counter/);
  const okBefore = metric(before, 'wsflyte_events_total{event_type="WORKSPACE_CREATED",status="SUCCEEDED"}');
  const forwardedBefore = metric(before, 'wsflyte_retry_forwarded_total{tier="2s"}');
  // Beyond the in-place attempts: one forward to the first tier.
  await addFault(stack.flyteUrl, { path: '^/api/v1/projects/ws-metrics-retry$', method: 'GET', status: 503, count: 3 });
  const file = eventsFile(stack, 'metrics.jsonl', [workspaceEvent('ws-metrics-1', 1), workspaceEvent('ws-metrics-2', 1),
    workspaceEvent('ws-metrics-retry', 1)]);
  assert.equal((await stack.produce(file)).code, 0);
  await waitFor(async () => metric(await metricsText(),
    'wsflyte_events_total{event_type="WORKSPACE_CREATED",status="SUCCEEDED"}') >= okBefore + 2, 30000, 'metrics');
  const text = await metricsText();
  assert.ok(metric(text, 'wsflyte_api_requests_total{api="k8s",code="201"}') > 0);
  assert.ok(metric(text, 'wsflyte_api_requests_total{api="flyte",code="200"}') > 0);
  assert.ok(metric(text, 'wsflyte_event_duration_seconds_count') >= okBefore + 2);
  assert.ok(metric(text, 'wsflyte_dead_lettered_total{error_class="PERMANENT"}') >= 1);
  assert.match(text, /wsflyte_inflight_events \d+/);
  assert.ok(metric(text, 'wsflyte_rebalances_total') >= 1, 'joining the group was a rebalance');
  await waitFor(async () => metric(await metricsText(), 'wsflyte_retry_forwarded_total{tier="2s"}') >= forwardedBefore + 1,
    30000, 'a forward to retry-2s');
  await waitFor(async () => metric(await metricsText(),
    'wsflyte_events_total{event_type="WORKSPACE_CREATED",status="SUCCEEDED"}') >= okBefore + 3, 30000,
  'the forwarded event succeeding from its tier');
  // librdkafka reports the lag of every owned partition every 5 s; a
  // partition's first report may come a statistics interval after another's.
  const lagLines = async () => (await metricsText()).split('\n')
    .filter((l) => l.startsWith('wsflyte_consumer_lag{topic="workspace.lifecycle.v1",'));
  await waitFor(async () => (await lagLines()).length >= 3, 15000, 'consumer lag of every partition');
  const lagged = await lagLines();
  assert.equal(lagged.length, 3, 'one series per partition of the events topic');
  for (const l of lagged) assert.match(l, /^wsflyte_consumer_lag\{topic="workspace\.lifecycle\.v1",partition="\d"\} \d+$/);
});

test('readiness follows the APIs; liveness follows the loop', async () => {
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
  assert.equal(ready.status, 200, await ready.text());
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  await addFault(stack.kubeUrl, { status: 503, count: -1 });
  // Traffic tells readiness that Kubernetes fails; send an event to make some.
  await stack.produce(eventsFile(stack, 'ready.jsonl', [workspaceEvent('ws-ready-1', 1)]));
  const notReady = await waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${port}/readyz`);
    return r.status === 503 ? r.text() : null;
  }, 20000, 'readyz 503');
  assert.match(notReady, /kubernetes unreachable/);
  await clearFaults(stack.kubeUrl);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 30000, 'readyz 200');
});

test('wsflyte-produce names the line and field of bad input and sends the rest', async () => {
  const good = JSON.stringify(workspaceEvent('ws-produce-1', 1));
  const badRole = JSON.stringify(workspaceEvent('ws-produce-2', 1, {
    workspace: { ...workspaceEvent('ws-produce-2').workspace, members: [{ user_id: 'x', email: 'x@y', role: 'ADMIN' }] },
  }));
  const file = eventsFile(stack, 'mixed.jsonl', []);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, `${good}\n{not json\n${badRole}\n`);
  const r = await stack.produce(file);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /mixed\.jsonl:2:\d+: invalid JSON/);
  assert.match(r.stderr, /mixed\.jsonl:3: workspace\.members\[0\]\.role: unknown role "ADMIN"/);
  assert.match(r.stderr, /1 event\(s\) sent .* 2 rejected/);
});

test('wsflyte-produce reads a pretty-printed event, and an array of events with bad ones by index', async () => {
  const one = join(stack.dir, 'one.json');
  writeFileSync(one, `# one event, as an editor saves it\n\n${JSON.stringify(workspaceEvent('ws-pretty-1', 1), null, 2)}\n`);
  const single = await stack.produce(one, 'json');
  assert.equal(single.code, 0, single.stderr);
  assert.match(single.stderr, /1 event\(s\) sent .* 1 delivered, 0 rejected/);

  const badRole = workspaceEvent('ws-array-2', 1);
  badRole.workspace.members = [{ user_id: 'x', email: 'x@y', role: 'ADMIN' }];
  const array = join(stack.dir, 'array.json');
  writeFileSync(array, JSON.stringify([workspaceEvent('ws-array-1', 1), badRole, workspaceEvent('ws-array-3', 1), 42], null, 2));
  const many = await stack.produce(array, 'json');
  assert.equal(many.code, 1);
  assert.match(many.stderr, /array\.json\[1\]: workspace\.members\[0\]\.role: unknown role "ADMIN"/);
  assert.match(many.stderr, /array\.json\[3\]: not a JSON object/);
  assert.match(many.stderr, /2 event\(s\) sent .* 2 delivered, 2 rejected/);

  const broken = join(stack.dir, 'broken.json');
  writeFileSync(broken, JSON.stringify(workspaceEvent('ws-broken-1', 1), null, 2).replace('"actor"', 'actor'));
  const b = await stack.produce(broken, 'json');
  assert.equal(b.code, 1);
  assert.match(b.stderr, /broken\.json:6:\d+: invalid JSON: .*read as one JSON document/, 'line and column of the error');
  assert.match(b.stderr, /0 event\(s\) sent .* 1 rejected/);

  const keys = new Set((await readTopic(stack, 'workspace.lifecycle.v1')).map((r) => r.key));
  for (const id of ['ws-pretty-1', 'ws-array-1', 'ws-array-3']) assert.ok(keys.has(id), `${id} published`);
  assert.ok(!keys.has('ws-array-2') && !keys.has('ws-broken-1'), 'bad events are not sent');
});
