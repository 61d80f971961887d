// What one rollout step costs: seconds each partition goes without a
// consumer while one replica of the group is replaced, on the mock cluster
// (wsflyte-devkafka) with the real wsflyte.
//
//   WSFLYTE_BUILD_DIR=$PWD/build node tests/deploy/rollout.mjs \
//     [--session-timeout-ms N (10000)] [--start-delay-ms N (0)] [SCENARIO...]
//
// Scenarios (default: all three), named by the group.instance.id the
// replacement joins with:
//   pod-name  a Deployment with group.instance.id = pod name: the replacement
//             has a new id (the old manifests)
//   stable    a StatefulSet: the replacement has the old pod's id
//   none      no static membership (the manifests now)
//
// Each scenario starts its own stack with 4 partitions and two consumers
// (range assignor: two partitions each), publishes a steady stream of cheap
// events (workspaces without Flyte) to every partition, SIGTERMs one consumer,
// starts its replacement --start-delay-ms after it has exited (maxSurge 0:
// the new pod starts after the old one is gone, and takes its start-up time)
// and keeps publishing until the group has settled.  Per partition it prints
// the longest time an event waited for its result (its partition had no
// consumer for about that long) and the usual latency before the step.
// Exits 1 when a replacement without static membership costs a partition
// more than one rebalance, or when a new pod-name id costs no more than one.
import { spawn } from 'node:child_process';
import { Stack, makeEvent, sleep, waitFor } from '../integration/harness.mjs';

const EVENTS = 'workspace.lifecycle.v1';
const RESULTS = 'workspace.provisioning.v1';
const PARTITIONS = 4;
const RATE_MS = 250; // one event per partition every 250 ms
const args = process.argv.slice(2);
const option = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args.splice(i, 2)[1]) : dflt;
};
const SESSION_MS = option('--session-timeout-ms', 10000); // deploy/configmap.yaml's
const START_DELAY_MS = option('--start-delay-ms', 0); // the new pod's start-up time
const SCENARIOS = args.length ? args : ['pod-name', 'stable', 'none'];

// Keeps publishing to every partition, one kcat per partition, until stopped.
function stream(stack) {
  const sent = []; // {eventId, partition, at}
  const producers = Array.from({ length: PARTITIONS }, (_, p) =>
    spawn('kcat', ['-P', '-b', stack.bootstrap, '-t', EVENTS, '-p', String(p), '-K', '\t'], { stdio: ['pipe', 'ignore', 'inherit'] }));
  let version = 0;
  const timer = setInterval(() => {
    version++;
    producers.forEach((kcat, p) => {
      const ws = `ws-roll-${p}`;
      const e = makeEvent({ workspace: ws, version, services: [], eventId: `${ws}-v${version}` });
      sent.push({ eventId: e.event_id, partition: p, at: Date.now() });
      kcat.stdin.write(`${ws}\t${JSON.stringify(e)}\n`);
    });
  }, RATE_MS);
  return {
    sent,
    async stop() {
      clearInterval(timer);
      await Promise.all(producers.map((k) => new Promise((r) => { k.once('exit', r); k.stdin.end(); })));
    },
  };
}

const logOf = (stack, name) => (stack.consumerLogs[name] || []).join('');
const count = (text, re) => (text.match(re) || []).length;

async function measure(scenario) {
  const stack = await new Stack({
    partitions: PARTITIONS,
    config: { concurrency: 4, resultsFormat: 'json', kafkaProperties: { 'session.timeout.ms': String(SESSION_MS) } },
  }).start();
  try {
    const id = (name) => (scenario === 'none' ? {} : { WSFLYTE_KAFKA_PROPERTIES_GROUP_INSTANCE_ID: name });
    const a = stack.startNamedConsumer('a', id('wsflyte-a'));
    stack.startNamedConsumer('b', id('wsflyte-b'));
    const joined = () => /assigned [1-9]\d* partition/.test(logOf(stack, 'a')) && /assigned [1-9]\d* partition/.test(logOf(stack, 'b'));
    if (!await waitFor(joined, 60000)) throw new Error(`the group never settled:\n${stack.logs.join('')}`);
    const s = stream(stack);
    await sleep(3000); // steady state first
    const stepAt = Date.now();
    const exited = await stack.stopConsumer(a);
    const exitMs = Date.now() - stepAt;
    const replacement = scenario === 'pod-name' ? 'wsflyte-a2' : 'wsflyte-a';
    await sleep(START_DELAY_MS);
    stack.startNamedConsumer('a2', id(replacement));
    // Until the replacement owns partitions and the others are back to normal.
    await waitFor(() => /assigned [1-9]\d* partition/.test(logOf(stack, 'a2')), SESSION_MS * 3 + 30000);
    await sleep(4000);
    await s.stop();
    // Every result, redeliveries included (the first one counts).
    const done = new Map();
    await waitFor(async () => {
      for (const rec of await stack.readTopic(RESULTS)) {
        const r = JSON.parse(rec.payload);
        if (!done.has(r.event_id) || done.get(r.event_id) > r.completed_at) done.set(r.event_id, r.completed_at);
      }
      return s.sent.every((e) => done.has(e.eventId));
    }, 120000, 1000);
    const perPartition = [];
    for (let p = 0; p < PARTITIONS; p++) {
      const mine = s.sent.filter((e) => e.partition === p);
      const before = mine.filter((e) => e.at < stepAt - 200).map((e) => done.get(e.eventId) - e.at).sort((x, y) => x - y);
      const after = mine.filter((e) => e.at >= stepAt - 200).map((e) => (done.get(e.eventId) ?? Infinity) - e.at);
      perPartition.push({
        partition: p,
        usualMs: before[Math.floor(before.length / 2)] ?? NaN,
        worstMs: Math.max(...after),
        unanswered: after.filter((x) => x === Infinity).length,
      });
    }
    return {
      scenario, exitCode: exited, exitMs, perPartition,
      rebalancesSeenByB: count(logOf(stack, 'b'), /revoking \d+ partition/g),
      answered: s.sent.filter((e) => done.has(e.eventId)).length, sent: s.sent.length,
    };
  } finally {
    await stack.stop();
  }
}

const rows = [];
for (const scenario of SCENARIOS) {
  const r = await measure(scenario);
  rows.push(r);
  const parts = r.perPartition.map((p) => `p${p.partition} ${(p.worstMs / 1000).toFixed(1)} s`).join(', ');
  const usual = Math.max(...r.perPartition.map((p) => p.usualMs));
  console.log(`${scenario.padEnd(8)} session.timeout.ms ${SESSION_MS}, start ${START_DELAY_MS} ms: longest wait per partition ${parts}` +
    ` (usual latency <= ${usual} ms; old consumer exited ${r.exitCode} after ${(r.exitMs / 1000).toFixed(1)} s;` +
    ` the other consumer revoked ${r.rebalancesSeenByB}x; ${r.answered}/${r.sent} answered)`);
}
// The mock holds every rebalance open for session.timeout.ms - 1 s: without
// static membership a replacement costs one such rebalance; with a departed
// static member the group waits for its session to time out on top.
const ONE_REBALANCE_MS = SESSION_MS + 2000;
const worst = (name) => Math.max(...(rows.find((r) => r.scenario === name)?.perPartition.map((p) => p.worstMs) ?? [NaN]));
let failed = false;
if (SCENARIOS.includes('none') && !(worst('none') < ONE_REBALANCE_MS)) {
  console.error(`none: a partition waited ${worst('none')} ms, more than one rebalance (${ONE_REBALANCE_MS} ms)`);
  failed = true;
}
if (SCENARIOS.includes('pod-name') && !(worst('pod-name') > ONE_REBALANCE_MS)) {
  console.error(`pod-name: no partition waited longer than one rebalance (${worst('pod-name')} ms): the defect did not show`);
  failed = true;
}
process.exit(failed ? 1 : 0);
