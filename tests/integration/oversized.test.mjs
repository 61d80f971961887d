// Oversized records never stop a partition (CONTRACT §3).  A platform may
// publish records up to 1 MiB (Java's max.request.size); wsflyte's producer
// takes at most message.max.bytes (1,000,000) with headers, so such a record
// cannot be forwarded unchanged.  One record of ~1,009,858 bytes per
// partition, each followed by a healthy event on the same partition:
//   partition 0  ws-big-perm     JSON, FlyteAdmin 400      -> FAILED, stub dead letter
//   partition 1  ws-big-tier     JSON, FlyteAdmin 503      -> no retry tier takes it: FAILED, stub
//   partition 2  ws-big-garbage  undecodable              -> stub dead letter
// Then a broker that refuses a retry forward as too large (MSG_SIZE_TOO_LARGE
// in the delivery report, as a topic with a lower max.message.bytes would):
// the event ends FAILED with a stub too.  wsflyte stays up throughout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, waitFor, run } from './harness.mjs';

const EVENTS = 'workspace.lifecycle.v1';
const RETRY2 = 'workspace.lifecycle.v1.wsflyte.retry-2s';
const DLT = 'workspace.lifecycle.v1.wsflyte.dlt';
const SIZE = 1009858;

// A readable event of exactly SIZE bytes: services beyond Flyte's with long
// names (ignored by wsflyte, bounded only by the event's limits), padded in
// `actor`.  Members would not do: their permission matrix must fit one
// ConfigMap (1 MiB), which refuses the event before any API is asked.
function bigEvent(workspace) {
  const e = makeEvent({ workspace });
  e.actor = '';
  for (let i = 0; Buffer.byteLength(JSON.stringify(e)) < SIZE - 40000; i++) {
    e.workspace.services.push(`other-${String(i).padStart(4, '0')}-${'s'.repeat(1000)}`);
  }
  const pad = SIZE - Buffer.byteLength(JSON.stringify(e));
  assert.ok(pad > 0 && pad < 65536, `padding ${pad}`);
  e.actor = 'a'.repeat(pad);
  const text = JSON.stringify(e);
  assert.equal(Buffer.byteLength(text), SIZE);
  return { event: e, text };
}

let stack, consumer, perm, tier, after0, after1, after2;

// Publishes key<TAB>value lines to one partition with kcat, which (like a
// Java producer) may send records up to 2 MB here.
const kcat = (partition, lines) => run('kcat', ['-P', '-b', stack.bootstrap, '-t', EVENTS, '-p', String(partition),
  '-K', '\t', '-X', 'message.max.bytes=2000000', '-H', 'content-type=application/json'],
{ input: lines.join('\n') + '\n' });
const results = async () => stack.results(1000, 3);
const resultOf = async (ws) => (await results()).find((r) => r.workspace_id === ws);
const deadLetters = async (key) => (await stack.readTopic(DLT)).filter((r) => r.key === key);

before(async () => {
  stack = await new Stack({ partitions: 3, config: { concurrency: 4, inPlaceAttempts: 2 } }).start();
  await stack.fault('flyte', { path: '^/api/v1/projects/ws-big-perm$', method: 'GET', status: 400, count: -1 });
  await stack.fault('flyte', { path: '^/api/v1/projects/ws-big-tier$', method: 'GET', status: 503, count: -1 });
  await stack.fault('flyte', { path: '^/api/v1/projects/ws-refused$', method: 'GET', status: 503, count: -1 });
  consumer = stack.startNamedConsumer('wsflyte');
  await waitFor(() => /assigned \d+ partition/.test(stack.consumerLogs.wsflyte.join('')), 20000);
  perm = bigEvent('ws-big-perm');
  tier = bigEvent('ws-big-tier');
  [after0, after1, after2] = [0, 1, 2].map((i) => makeEvent({ workspace: `ws-after-big-${i}` }));
  const garbage = `not an event ${'Z'.repeat(SIZE - 13)}`;
  for (const [p, lines] of [
    [0, [`ws-big-perm\t${perm.text}`, `ws-after-big-0\t${JSON.stringify(after0)}`]],
    [1, [`ws-big-tier\t${tier.text}`, `ws-after-big-1\t${JSON.stringify(after1)}`]],
    [2, [`ws-big-garbage\t${garbage}`, `ws-after-big-2\t${JSON.stringify(after2)}`]]]) {
    const sent = await kcat(p, lines);
    assert.equal(sent.code, 0, sent.stderr);
  }
  const done = await waitFor(async () => {
    const rs = await results();
    return rs.filter((r) => /^ws-(big|after-big)-/.test(r.workspace_id)).length >= 5;
  }, 90000, 500);
  assert.ok(done, `five results\n${stack.logs.join('').slice(-4000)}`);
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0, 'wsflyte exits 0 on SIGTERM');
  await stack?.stop();
});

// The stub: empty value, the original key and headers, the x-* headers.
function assertStub(dl, { key, partition, cls }) {
  assert.equal(dl.length, 1, `one dead letter for ${key}`);
  const [d] = dl;
  assert.equal(d.payload, '', 'empty value');
  assert.equal(d.partition, partition);
  assert.equal(d.headers['content-type'], 'application/json', 'original headers kept');
  assert.equal(d.headers['x-error-code'], 'kafka.record-too-large');
  assert.equal(d.headers['x-error-class'], cls);
  assert.equal(d.headers['x-original-topic'], EVENTS);
  assert.equal(d.headers['x-original-partition'], String(partition));
  assert.match(d.headers['x-original-offset'], /^\d+$/);
  assert.equal(d.headers['x-consumer-group'], 'wsflyte');
  assert.match(d.headers['x-error-message'], /too large to forward/);
  return d;
}

test('a ~1 MiB event that fails permanently gets a FAILED result and a stub dead letter', async () => {
  const r = await resultOf('ws-big-perm');
  assert.equal(r.status, 'FAILED', JSON.stringify(r));
  assert.equal(r.event_id, perm.event.event_id);
  assert.equal(r.error.code, 'flyte.400');
  const d = assertStub(await deadLetters('ws-big-perm'), { key: 'ws-big-perm', partition: 0, cls: 'PERMANENT' });
  assert.match(d.headers['x-error-message'], /flyte\.400/);
});

test('a ~1 MiB event that fails transiently is dead-lettered as a stub, not forwarded to a tier', async () => {
  const r = await resultOf('ws-big-tier');
  assert.equal(r.status, 'FAILED', JSON.stringify(r));
  assert.equal(r.error.class, 'PERMANENT');
  assert.equal(r.error.code, 'kafka.record-too-large');
  assert.match(r.error.message, /retry-2s; last failure flyte\.503/);
  assertStub(await deadLetters('ws-big-tier'), { key: 'ws-big-tier', partition: 1, cls: 'PERMANENT' });
  assert.equal((await stack.readTopic(RETRY2)).filter((x) => x.key === 'ws-big-tier').length, 0);
});

test('a ~1 MiB undecodable record is dead-lettered as a stub', async () => {
  assertStub(await deadLetters('ws-big-garbage'), { key: 'ws-big-garbage', partition: 2, cls: 'DESERIALIZATION' });
});

test('the next record on each partition is handled and wsflyte stays up', async () => {
  for (const e of [after0, after1, after2]) {
    const r = await resultOf(e.workspace.workspace_id);
    assert.equal(r?.status, 'SUCCEEDED', `${e.workspace.workspace_id}: ${JSON.stringify(r)}`);
  }
  assert.equal(consumer.exitCode, null, 'still running');
  assert.doesNotMatch(stack.consumerLogs.wsflyte.join(''), /stopping/);
});

test('a retry forward the broker refuses as too large ends FAILED with a stub, without an exit', async () => {
  const ev = makeEvent({ workspace: 'ws-refused' });
  const sent = await run('kcat', ['-P', '-b', stack.bootstrap, '-t', EVENTS, '-k', 'ws-refused',
    '-H', 'content-type=application/json'], { input: JSON.stringify(ev) });
  assert.equal(sent.code, 0, sent.stderr);
  // The next Produce request is wsflyte's forward to retry-2s (nothing else
  // is in flight): the broker answers it MSG_SIZE_TOO_LARGE (10).
  stack.kafkaCommand('errors 0 1 10');
  const r = await waitFor(() => resultOf('ws-refused'), 40000, 500);
  assert.ok(r, `a result\n${stack.logs.join('').slice(-4000)}`);
  assert.equal(r.status, 'FAILED', JSON.stringify(r));
  assert.equal(r.error.code, 'kafka.record-too-large');
  const dl = await deadLetters('ws-refused');
  assert.equal(dl.length, 1);
  assert.equal(dl[0].payload, '');
  assert.equal(dl[0].headers['x-error-code'], 'kafka.record-too-large');
  assert.match(stack.consumerLogs.wsflyte.join(''), /retry-2s refused it: Broker: Message size too large/);
  assert.equal(consumer.exitCode, null, 'still running');
});
