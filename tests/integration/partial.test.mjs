// Partly readable events (CONTRACT.md §3): a record whose event_id and
// workspace.workspace_id can be read gets a FAILED result with the
// result_id derived from its event_id, next to its dead letter, even when
// the rest of it is invalid or over a limit.  Published with kcat, as a
// platform's own producer would: wsflyte-produce refuses such events.
//   ws-p-no-version   JSON without workspace_version     -> FAILED DESERIALIZATION event.field
//   ws-p-unknown-type JSON with event_type WORKSPACE_ARCHIVED -> FAILED, event_type placeholder
//   ws-p-members      Avro with 10,001 members            -> FAILED VALIDATION event.limit
//   ws-p-wrong-key    JSON without workspace_version, published under another key
//                                                         -> FAILED keyed by the workspace id;
//                                                            the dead letter keeps the record key
//   ws-p-no-id        JSON without event_id               -> dead letter only, nothing to answer
//   ws-p-after        a valid event behind them           -> SUCCEEDED
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, makeEvent, expectedResultId, waitFor, run } from './harness.mjs';

const EVENTS = 'workspace.lifecycle.v1';
const RESULTS = 'workspace.provisioning.v1';
const DLT = 'workspace.lifecycle.v1.wsflyte.dlt';
const MEMBERS = 10001;

let stack, consumer, results, resultRecords, dlt;
const sent = {};

// ---- a minimal Avro encoder for our own event schema (id 1 of schemas/schema-ids.json) ----

function long(n) {
  let z = BigInt.asUintN(64, (BigInt(n) << 1n) ^ (BigInt(n) >> 63n));
  const out = [];
  for (; z >= 0x80n; z >>= 7n) out.push(Number((z & 0x7fn) | 0x80n));
  out.push(Number(z));
  return Buffer.from(out);
}
const string = (s) => Buffer.concat([long(Buffer.byteLength(s)), Buffer.from(s, 'utf8')]);
const array = (items, enc) => Buffer.concat([...(items.length ? [long(items.length), ...items.map(enc)] : []), long(0)]);
const nullable = (v, enc) => (v === null ? long(0) : Buffer.concat([long(1), enc(v)]));
const TYPES = ['WORKSPACE_CREATED', 'SERVICE_ADDED', 'SERVICE_REMOVED', 'MEMBERS_CHANGED', 'WORKSPACE_DELETED'];
const ROLES = ['OWNER', 'CONTRIBUTOR', 'VIEWER'];

function avroEvent(e) {
  const w = e.workspace;
  return Buffer.concat([
    Buffer.from([0, 0, 0, 0, 1]), // Confluent wire format, schema id 1
    string(e.event_id), long(TYPES.indexOf(e.event_type)), long(e.occurred_at), long(e.workspace_version),
    nullable(e.actor, string), nullable(e.service, string),
    string(w.workspace_id), string(w.workspace_name), array(w.services, string),
    array(w.members, (m) => Buffer.concat([string(m.user_id), string(m.email), long(ROLES.indexOf(m.role))])),
    string(w.data_bucket), long(0) /* quota null */, array(Object.entries(w.labels), ([k, v]) => Buffer.concat([string(k), string(v)])),
  ]);
}

// Publishes one value as one record: kcat sends a file given as argument whole.
async function publish(key, value, headers = {}) {
  const file = join(stack.dir, `record-${key}.bin`);
  writeFileSync(file, value);
  const args = ['-P', '-b', stack.bootstrap, '-t', EVENTS, '-k', key];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  const r = await run('kcat', [...args, file]);
  assert.equal(r.code, 0, r.stderr);
}

const JSON_CT = { 'content-type': 'application/json' };
const only = (ws) => {
  const rs = results.filter((r) => r.workspace_id === ws);
  assert.equal(rs.length, 1, `exactly one result for ${ws}: ${JSON.stringify(rs)}\n${stack.logs.join('')}`);
  return rs[0];
};
const deadLetters = (key) => dlt.filter((d) => d.key === key);

before(async () => {
  stack = await new Stack().start();
  consumer = stack.startNamedConsumer('wsflyte');
  await waitFor(() => /assigned \d+ partition/.test(stack.consumerLogs.wsflyte.join('')), 20000);

  const noVersion = makeEvent({ workspace: 'ws-p-no-version', type: 'MEMBERS_CHANGED', version: 4 });
  delete noVersion.workspace_version;
  const unknownType = makeEvent({ workspace: 'ws-p-unknown-type', type: 'WORKSPACE_ARCHIVED', version: 6 });
  const members = Array.from({ length: MEMBERS }, (_, i) => ({ user_id: `user-${i}`, email: `user-${i}@example.com`, role: ROLES[i % 3] }));
  const many = makeEvent({ workspace: 'ws-p-members', type: 'MEMBERS_CHANGED', version: 9, members });
  const wrongKey = makeEvent({ workspace: 'ws-p-wrong-key' });
  delete wrongKey.workspace_version;
  const noId = makeEvent({ workspace: 'ws-p-no-id' });
  delete noId.event_id;
  Object.assign(sent, { noVersion, unknownType, many, wrongKey, noId });

  await publish('ws-p-no-version', JSON.stringify(noVersion), JSON_CT);
  await publish('ws-p-unknown-type', JSON.stringify(unknownType), JSON_CT);
  await publish('ws-p-members', avroEvent(many), { 'content-type': 'application/vnd.confluent.avro' });
  await publish('not-the-workspace-id', JSON.stringify(wrongKey), JSON_CT);
  await publish('ws-p-no-id', JSON.stringify(noId), JSON_CT);
  const healthy = makeEvent({ workspace: 'ws-p-after' });
  sent.healthy = healthy;
  await stack.produceEvents([healthy]);

  results = await stack.results(5, 60);
  dlt = await waitFor(async () => {
    const d = await stack.readTopic(DLT);
    return d.length >= 5 && d;
  }, 20000) || await stack.readTopic(DLT);
  resultRecords = await stack.readTopic(RESULTS);
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0, 'wsflyte exits 0 on SIGTERM');
  await stack?.stop();
});

test('the Avro record really has 10,001 members and decodes: only the limit is exceeded', () => {
  assert.equal(sent.many.workspace.members.length, MEMBERS);
  const d = deadLetters('ws-p-members');
  assert.equal(d.length, 1, JSON.stringify(dlt.map((x) => x.key)));
  assert.equal(d[0].headers['x-error-code'], 'event.limit');
});

test('JSON without workspace_version: FAILED (DESERIALIZATION) with its result_id, type kept, version -1, and a dead letter', async () => {
  const r = only('ws-p-no-version');
  assert.equal(r.status, 'FAILED');
  assert.equal(r.event_id, sent.noVersion.event_id);
  assert.equal(r.result_id, await expectedResultId(sent.noVersion.event_id));
  assert.equal(r.event_type, 'MEMBERS_CHANGED');
  assert.equal(r.workspace_version, -1);
  assert.equal(r.attempts, 1);
  assert.deepEqual([r.error.class, r.error.code], ['DESERIALIZATION', 'event.field']);
  assert.match(r.error.message, /workspace_version: required field is missing/);
  const d = deadLetters('ws-p-no-version');
  assert.equal(d.length, 1);
  assert.equal(d[0].headers['x-error-class'], 'DESERIALIZATION');
  assert.equal(d[0].headers['x-original-topic'], EVENTS);
  assert.equal(d[0].payload, JSON.stringify(sent.noVersion), 'the dead letter is the original record');
});

test('JSON with an unknown event_type: FAILED with the placeholder WORKSPACE_CREATED, the version kept, and a dead letter', async () => {
  const r = only('ws-p-unknown-type');
  assert.equal(r.status, 'FAILED');
  assert.equal(r.result_id, await expectedResultId(sent.unknownType.event_id));
  assert.equal(r.event_type, 'WORKSPACE_CREATED');
  assert.equal(r.workspace_version, 6);
  assert.deepEqual([r.error.class, r.error.code], ['DESERIALIZATION', 'event.field']);
  assert.match(r.error.message, /event_type: unknown event type "WORKSPACE_ARCHIVED"/);
  assert.equal(deadLetters('ws-p-unknown-type').length, 1);
});

test('Avro with 10,001 members: FAILED (VALIDATION event.limit) with its result_id and a dead letter', async () => {
  const r = only('ws-p-members');
  assert.equal(r.status, 'FAILED');
  assert.equal(r.result_id, await expectedResultId(sent.many.event_id));
  assert.equal(r.event_type, 'MEMBERS_CHANGED');
  assert.equal(r.workspace_version, 9);
  assert.deepEqual([r.error.class, r.error.code], ['VALIDATION', 'event.limit']);
  assert.match(r.error.message, /workspace\.members: 10001 items exceed the limit of 10000/);
  assert.equal(deadLetters('ws-p-members')[0].headers['x-error-class'], 'VALIDATION');
});

test('a partly readable record under another key: the result is keyed by the workspace id, the dead letter keeps the record key, the message says both', async () => {
  const r = only('ws-p-wrong-key');
  assert.equal(r.result_id, await expectedResultId(sent.wrongKey.event_id));
  assert.match(r.error.message, /^record key does not match workspace\.workspace_id; event: workspace_version: required field is missing/);
  const rec = resultRecords.filter((x) => x.headers['x-event-id'] === sent.wrongKey.event_id);
  assert.equal(rec.length, 1);
  assert.equal(rec[0].key, 'ws-p-wrong-key');
  assert.equal(deadLetters('not-the-workspace-id').length, 1);
  assert.equal(deadLetters('ws-p-wrong-key').length, 0);
});

test('without an event_id there is nothing to answer: a dead letter only; the event behind it succeeds', () => {
  assert.equal(results.filter((r) => r.workspace_id === 'ws-p-no-id').length, 0);
  const d = deadLetters('ws-p-no-id');
  assert.equal(d.length, 1);
  assert.equal(d[0].headers['x-error-code'], 'event.field');
  assert.equal(only('ws-p-after').status, 'SUCCEEDED');
  assert.equal(results.length, 5, 'four FAILED and one SUCCEEDED');
});
