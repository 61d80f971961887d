// Records about an event stay on its partition (CONTRACT §1), whatever
// partitioner the platform used.  The events are published with kcat using
// Java's murmur2 partitioner (librdkafka's murmur2_random), for keys whose
// murmur2 partition differs from the one librdkafka's default partitioner
// (consistent_random, CRC32) gives, and fail transiently:
//   ws-p-tier-*   FlyteAdmin 503 four times -> retry-2s, then SUCCEEDED
//   ws-p-dlt-*    FlyteAdmin 503 for good   -> retry-2s, retry-4s, dead letter
// Every tier and dead-letter record must sit on the partition its event was
// read from; `wsflyte-dlt replay --to main` must put the copy back there.
// Also: wsflyte refuses to start when a tier or the dead-letter topic has
// another partition count, or is missing; a retry-tier record's
// x-retry-due-ms is never trusted beyond the tier's delay; header numbers
// are read strictly; long event ids are hashed whole into result_id.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Stack, makeEvent, waitFor, run, bin, command, expectedResultId } from './harness.mjs';

const EVENTS = 'workspace.lifecycle.v1';
const RETRY2 = 'workspace.lifecycle.v1.wsflyte.retry-2s';
const RETRY4 = 'workspace.lifecycle.v1.wsflyte.retry-4s';
const DLT = 'workspace.lifecycle.v1.wsflyte.dlt';
const STATE = 'workspace.lifecycle.v1.wsflyte.state';
const PARTITIONS = 3;

// Kafka's murmur2 (the Java client's default partitioner).
function murmur2(buf) {
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ buf.length) | 0;
  let i = 0;
  for (; i + 4 <= buf.length; i += 4) {
    let k = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  switch (buf.length - i) {
    case 3: h ^= buf[i + 2] << 16; // falls through
    case 2: h ^= buf[i + 1] << 8; // falls through
    case 1: h ^= buf[i]; h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h >>> 0;
}
function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
const murmurPartition = (key) => (murmur2(Buffer.from(key)) & 0x7fffffff) % PARTITIONS;
const defaultPartition = (key) => crc32(Buffer.from(key)) % PARTITIONS;

// Keys for which the two partitioners disagree: a record produced by key
// with librdkafka's default would land on another partition.
function keys(prefix, n) {
  const out = [];
  for (let i = 0; out.length < n; i++) {
    const k = `${prefix}-${i}`;
    if (murmurPartition(k) !== defaultPartition(k)) out.push(k);
  }
  return out;
}
const TIER = keys('ws-p-tier', 3);
const DEAD = keys('ws-p-dlt', 3);

let stack, consumer, events;

const kcat = (topic, lines, extra = [], headers = {}) => run('kcat', ['-P', '-b', stack.bootstrap, '-t', topic,
  '-K', '\t', ...extra, ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`])],
{ input: lines.join('\n') + '\n' });
const resultsFor = async (ids, n = 200) => (await stack.results(n, 3)).filter((r) => ids.includes(r.workspace_id));

before(async () => {
  stack = await new Stack({ partitions: PARTITIONS, config: { concurrency: 4, inPlaceAttempts: 3 } }).start();
  for (const ws of TIER) await stack.fault('flyte', { path: `^/api/v1/projects/${ws}$`, method: 'GET', status: 503, count: 4 });
  for (const ws of DEAD) await stack.fault('flyte', { path: `^/api/v1/projects/${ws}$`, method: 'GET', status: 503, count: -1 });
  consumer = stack.startNamedConsumer('wsflyte');
  await waitFor(() => /assigned \d+ partition/.test(stack.consumerLogs.wsflyte.join('')), 20000);
  events = [...TIER, ...DEAD].map((workspace) => makeEvent({ workspace }));
  const sent = await kcat(EVENTS, events.map((e) => `${e.workspace.workspace_id}\t${JSON.stringify(e)}`),
    ['-X', 'partitioner=murmur2_random'], { 'content-type': 'application/json' });
  assert.equal(sent.code, 0, sent.stderr);
  const done = await waitFor(async () => {
    const rs = await resultsFor([...TIER, ...DEAD]);
    return rs.length >= events.length && rs;
  }, 90000, 500);
  assert.ok(done, `every event has its result\n${stack.logs.join('').slice(-4000)}`);
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0, 'wsflyte exits 0 on SIGTERM');
  await stack?.stop();
});

test('the platform published on murmur2 partitions, unlike librdkafka\'s default', async () => {
  const published = (await stack.readTopic(EVENTS)).filter((r) => [...TIER, ...DEAD].includes(r.key));
  assert.equal(published.length, events.length);
  for (const r of published) {
    assert.equal(r.partition, murmurPartition(r.key), r.key);
    assert.notEqual(r.partition, defaultPartition(r.key), r.key);
  }
});

test('retry-tier, dead-letter and state records sit on the partition their event was read from', async () => {
  const original = new Map((await stack.readTopic(EVENTS)).map((r) => [r.key, r.partition]));
  const [retry2, retry4, dlt] = await Promise.all([RETRY2, RETRY4, DLT].map((t) => stack.readTopic(t)));
  const mine = (records) => records.filter((r) => [...TIER, ...DEAD].includes(r.key));
  assert.equal(mine(retry2).length, TIER.length + DEAD.length, 'every event went through retry-2s');
  assert.equal(mine(retry4).length, DEAD.length);
  assert.equal(mine(dlt).length, DEAD.length);
  for (const [name, records] of [['retry-2s', retry2], ['retry-4s', retry4], ['dlt', dlt]]) {
    for (const r of mine(records)) {
      assert.equal(r.partition, original.get(r.key), `${name} record of ${r.key}`);
      assert.equal(r.headers['x-original-partition'], String(original.get(r.key)), `${name} header of ${r.key}`);
    }
  }
  // The state records of the applied ones too (CONTRACT §1).
  const state = (await stack.readTopic(STATE)).filter((r) => TIER.includes(r.key));
  assert.equal(new Set(state.map((r) => r.key)).size, TIER.length, 'every applied workspace has its state record');
  for (const r of state) assert.equal(r.partition, original.get(r.key), `state record of ${r.key}`);
  const rs = await resultsFor([...TIER, ...DEAD]);
  for (const ws of TIER) assert.equal(rs.find((r) => r.workspace_id === ws).status, 'SUCCEEDED', ws);
  for (const ws of DEAD) assert.equal(rs.find((r) => r.workspace_id === ws).status, 'FAILED', ws);
});

test('wsflyte-dlt replay --to main puts the event back on its original partition', async () => {
  await stack.clearFaults();
  const r = await run(bin('wsflyte-dlt'), ['--config', stack.configPath, 'replay', '--to', 'main',
    '--workspace', DEAD[0]]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /done: 1 replayed/);
  const copies = (await stack.readTopic(EVENTS)).filter((x) => x.key === DEAD[0] && x.headers['x-replay-count'] === '1');
  assert.equal(copies.length, 1);
  assert.equal(copies[0].partition, murmurPartition(DEAD[0]));
  const ok = await waitFor(async () => (await resultsFor([DEAD[0]])).find((x) => x.status === 'SUCCEEDED'), 30000, 500);
  assert.ok(ok, 'the replayed event succeeds');
});

test('a dead letter whose x-original-partition is not a partition is refused, not guessed', async () => {
  const ev = makeEvent({ workspace: 'ws-p-badpart' });
  for (const bad of ['abc', '7', '-1']) {
    const sent = await kcat(DLT, [`ws-p-badpart\t${JSON.stringify(ev)}`], [],
      { 'x-original-partition': bad, 'x-error-class': 'TRANSIENT', 'content-type': 'application/json' });
    assert.equal(sent.code, 0, sent.stderr);
  }
  const r = await run(bin('wsflyte-dlt'), ['--config', stack.configPath, 'replay', '--to', 'main',
    '--workspace', 'ws-p-badpart']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /refused .*x-original-partition "abc": not a number/);
  assert.match(r.stderr, /refused .*x-original-partition "7": out of range 0\.\.2/);
  assert.match(r.stderr, /refused .*x-original-partition "-1": out of range 0\.\.2/);
  assert.match(r.stderr, /done: 0 replayed, \d+ skipped by filter, 3 refused/);
  assert.equal((await stack.readTopic(EVENTS)).filter((x) => x.key === 'ws-p-badpart').length, 0);
});

test('a retry-tier record due in a year is handled after the tier\'s delay; x-attempts is read strictly', async () => {
  const ev = makeEvent({ workspace: 'ws-p-future' });
  const at = Date.now();
  const sent = await kcat(RETRY2, [`ws-p-future\t${JSON.stringify(ev)}`], ['-p', '1'], {
    'content-type': 'application/json', 'x-retry-due-ms': String(at + 365 * 86400000), 'x-attempts': '5x',
  });
  assert.equal(sent.code, 0, sent.stderr);
  const r = await waitFor(async () => (await resultsFor(['ws-p-future'])).find((x) => x.event_id === ev.event_id), 30000, 500);
  assert.ok(r, `handled after the tier's delay, not in a year\n${stack.logs.join('').split('\n').filter((l) => /future|seek|x-retry|x-attempts/.test(l)).join('\n')}`);
  assert.equal(r.status, 'SUCCEEDED');
  assert.equal(r.attempts, 1, 'x-attempts "5x" is not read as 5');
  // The tier's 2 s, not a year: minutes at most on the busiest machine.
  assert.ok(r.completed_at - at < 10 * 60000, `handled ${r.completed_at - at} ms after publishing`);
  assert.match(stack.consumerLogs.wsflyte.join(''), /header x-attempts "5x": not a number; read as 0/);
});

test('an event id longer than 496 bytes is hashed whole into result_id', async () => {
  const base = 'e'.repeat(600);
  const evs = ['a', 'b'].map((c, i) => makeEvent({ workspace: `ws-p-longid-${i}`, eventId: base + c }));
  await stack.produceEvents(evs, 'json');
  const rs = await waitFor(async () => {
    const got = await resultsFor(evs.map((e) => e.workspace.workspace_id));
    return got.length === 2 && got;
  }, 30000, 500);
  assert.ok(rs, 'both results');
  for (const e of evs) {
    const r = rs.find((x) => x.event_id === e.event_id);
    assert.equal(r.result_id, await expectedResultId(e.event_id));
  }
  assert.notEqual(rs[0].result_id, rs[1].result_id);
});

// A Kafka cluster of the test's own and wsflyte's configuration for it.
async function cluster(name, args, tiers) {
  const child = spawn(...command('wsflyte-devkafka', args), {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WSFLYTE_RETRY_TIERS: '2s,4s' },
  });
  const bootstrap = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (l) => resolve(l.trim()));
    child.once('exit', (code) => reject(new Error(`wsflyte-devkafka exited ${code}`)));
  });
  const doc = JSON.parse(stack.configYaml());
  doc.kafka.bootstrap_servers = bootstrap;
  if (tiers) doc.retry.tiers = tiers;
  const config = join(stack.dir, `${name}.yaml`);
  writeFileSync(config, JSON.stringify(doc));
  return { config, stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }) };
}

test('wsflyte refuses to start when a tier or the dead-letter topic has another partition count', async () => {
  const k = await cluster('fewer', ['--partitions', '3', '--topic', `${DLT}:2`]);
  try {
    const r = await run(bin('wsflyte'), ['--config', k.config], { timeoutMs: 30000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`topic ${DLT.replace(/\./g, '\\.')} has 2 partitions but the events topic workspace\\.lifecycle\\.v1 has 3`));
  } finally {
    await k.stop();
  }
});

test('wsflyte refuses to start when a retry tier\'s topic does not exist', async () => {
  const k = await cluster('missing', ['--partitions', '3'], ['2s', '4s', '8s']);
  try {
    const r = await run(bin('wsflyte'), ['--config', k.config], { timeoutMs: 30000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /topic workspace\.lifecycle\.v1\.wsflyte\.retry-8s does not exist; create it with 3 partitions/);
  } finally {
    await k.stop();
  }
});
