// Trace context (CONTRACT.md §1): an event's W3C traceparent (and
// tracestate) is copied onto its result, its retry-tier and dead-letter
// records, and its trace id is in every log line about the event; an event
// without a valid traceparent gets a new trace id that its result and every
// record forwarded for it share.
//   ws-tr-traced   traceparent and tracestate        -> SUCCEEDED, both copied
//   ws-tr-plain    none                               -> SUCCEEDED, a new trace
//   ws-tr-invalid  an invalid traceparent, tracestate -> SUCCEEDED, a new trace, tracestate dropped
//   ws-tr-retry    traceparent; FlyteAdmin 503 x3     -> retry-2s, then SUCCEEDED, one trace
//   ws-tr-dead     none; FlyteAdmin 400               -> FAILED, dead letter with the new trace
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, waitFor, readTopic, run, bin } from './harness.mjs';

const RESULTS = 'workspace.provisioning.v1';
const RETRY2 = 'workspace.lifecycle.v1.wsflyte.retry-2s';
const DLT = 'workspace.lifecycle.v1.wsflyte.dlt';
const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const RETRY_PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const STATE = 'rojo=00f067aa0ba902b7';
const VALID = /^00-([0-9a-f]{32})-[0-9a-f]{16}-01$/;

let stack, consumer;
const events = {};
const results = {};
let forwarded, deadLetters;

before(async () => {
  stack = await new Stack({ partitions: 3 }).start();
  await stack.fault('flyte', { path: '^/api/v1/projects/ws-tr-retry$', method: 'GET', status: 503, count: 3 });
  await stack.fault('flyte', { path: '^/api/v1/projects/ws-tr-dead$', method: 'GET', status: 400, count: -1 });
  consumer = stack.startNamedConsumer('wsflyte');
  const headers = {
    'ws-tr-traced': { traceparent: PARENT, tracestate: STATE },
    'ws-tr-plain': {},
    'ws-tr-invalid': { traceparent: '00-not-a-trace', tracestate: STATE },
    'ws-tr-retry': { traceparent: RETRY_PARENT },
    'ws-tr-dead': {},
  };
  for (const [ws, h] of Object.entries(headers)) {
    events[ws] = makeEvent({ workspace: ws });
    const sent = await stack.kcatProduce(ws, JSON.stringify(events[ws]), { 'content-type': 'application/json', ...h });
    assert.equal(sent.code, 0, sent.stderr);
  }
  const ids = new Set(Object.values(events).map((e) => e.event_id));
  const all = await waitFor(async () => {
    const recs = (await readTopic(stack, RESULTS)).filter((r) => ids.has(r.headers['x-event-id']));
    return recs.length >= ids.size && recs;
  }, 60000, 500);
  assert.ok(all, `five results\n${stack.logs.join('').slice(-3000)}`);
  for (const [ws, e] of Object.entries(events)) results[ws] = all.find((r) => r.headers['x-event-id'] === e.event_id);
  forwarded = (await readTopic(stack, RETRY2)).filter((r) => r.key === 'ws-tr-retry');
  deadLetters = (await readTopic(stack, DLT)).filter((r) => r.key === 'ws-tr-dead');
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0);
  await stack?.stop();
});

// wsflyte's log lines about an event of the workspace.
const linesOf = (ws) => stack.consumerLogs.wsflyte.join('').split('\n')
  .filter((l) => l.includes(`workspace=${ws} `) && l.includes(' event='));

test("an event's traceparent and tracestate are copied onto its result and name the trace in its log lines", () => {
  const r = results['ws-tr-traced'];
  assert.equal(r.headers.traceparent, PARENT);
  assert.equal(r.headers.tracestate, STATE);
  const lines = linesOf('ws-tr-traced');
  assert.ok(lines.some((l) => / WORKSPACE_CREATED SUCCEEDED /.test(l)), lines.join('\n'));
  for (const l of lines) assert.match(l, / trace_id=4bf92f3577b34da6a3ce929d0e0e4736 /);
});

test('an event without a traceparent gets a new trace id, on its result and in its log lines', () => {
  const r = results['ws-tr-plain'];
  const m = VALID.exec(r.headers.traceparent || '');
  assert.ok(m, `result traceparent ${r.headers.traceparent}`);
  assert.equal(r.headers.tracestate, undefined);
  const lines = linesOf('ws-tr-plain');
  assert.ok(lines.length > 0);
  for (const l of lines) assert.ok(l.includes(` trace_id=${m[1]} `), l);
  assert.notEqual(m[1], '4bf92f3577b34da6a3ce929d0e0e4736');
});

test('an invalid traceparent is replaced by a new trace, and its tracestate is dropped', () => {
  const r = results['ws-tr-invalid'];
  assert.match(r.headers.traceparent || '', VALID);
  assert.equal(r.headers.tracestate, undefined);
  const id = VALID.exec(r.headers.traceparent)[1];
  assert.notEqual(id, VALID.exec(results['ws-tr-plain'].headers.traceparent)[1], 'each event a trace of its own');
});

test('a retried event keeps its trace on the retry-tier record, the result and the forwarding log line', () => {
  assert.equal(forwarded.length, 1, 'one forward to retry-2s');
  assert.equal(forwarded[0].headers.traceparent, RETRY_PARENT);
  assert.equal(results['ws-tr-retry'].headers.traceparent, RETRY_PARENT);
  const lines = linesOf('ws-tr-retry');
  assert.ok(lines.some((l) => /forwarding to .*retry-2s/.test(l)), lines.join('\n'));
  for (const l of lines) assert.match(l, / trace_id=0af7651916cd43dd8448eb211c80319c /);
});

test('a dead letter carries the trace made for its event, and wsflyte-dlt show prints its trace id', async () => {
  assert.equal(deadLetters.length, 1);
  const r = results['ws-tr-dead'];
  assert.match(r.headers.traceparent || '', VALID);
  assert.equal(deadLetters[0].headers.traceparent, r.headers.traceparent, 'dead letter and result share the trace');
  const id = VALID.exec(r.headers.traceparent)[1];
  for (const l of linesOf('ws-tr-dead')) assert.ok(l.includes(` trace_id=${id} `), l);
  const shown = await run(bin('wsflyte-dlt'), ['--config', stack.configPath, 'show',
    '--partition', String(deadLetters[0].partition), '--offset', String(deadLetters[0].offset)]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(JSON.parse(shown.stdout).trace_id, id);
});
