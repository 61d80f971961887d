// make bench: wsflyte throughput and latency against the test servers with
// a fixed latency injected into every API call.
//
//   node tools/bench.mjs [--events N] [--workspaces M] [--latency MS] [--concurrency 1,64]
//
// For each concurrency: a fresh stack (devkafka, FlyteAdmin and Kubernetes
// test servers, wsflyte), N events over M workspaces published at once
// (version 1 creates a workspace, later versions change its members), then
// the results are read back.  Prints events/s, p50/p99 latency, API requests
// per event, wsflyte's peak RSS, and the ideal throughput
// concurrency / (requests per event x latency).
import { readFileSync } from 'node:fs';
import { Stack, makeEvent, waitFor } from '../tests/integration/harness.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const LATENCY = Number(args.latency ?? 10);
const CONCURRENCIES = (args.concurrency ?? '1,8,16,64').split(',').map(Number);

// CPU seconds a process has used so far (utime + stime), from /proc.
const cpuS = (pid) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch { return NaN; }
};

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function runOne(concurrency) {
  // Concurrency 1 is slow by design: fewer events keep the run short.
  const n = Number(args.events ?? (concurrency === 1 ? 60 : concurrency <= 16 ? 50 * concurrency : 2000));
  const m = Number(args.workspaces ?? Math.min(n, Math.max(4 * concurrency, 20)));
  // Unpaced (qps 0): the bench measures wsflyte, not its pacing (50 qps at the defaults).
  const stack = await new Stack({ partitions: 6, config: { concurrency, qps: 0 } }).start();
  try {
    await stack.fault('flyte', { latency_ms: LATENCY, count: -1 });
    await stack.fault('kube', { latency_ms: LATENCY, count: -1 });
    const consumer = stack.startNamedConsumer(`wsflyte-c${concurrency}`);
    await waitFor(() => /assigned \d+ partition/.test(stack.logs.join('')), 20000);
    const prefix = `ws-b${concurrency}-`;
    const events = [];
    for (let i = 0; i < n; i++) {
      const v = Math.floor(i / m) + 1;
      events.push(makeEvent({
        workspace: `${prefix}${i % m}`, version: v, type: v === 1 ? 'WORKSPACE_CREATED' : 'MEMBERS_CHANGED',
        members: [{ user_id: 'owner', email: 'o@example.com', role: 'OWNER' },
          { user_id: `u${v}`, email: `u${v}@example.com`, role: 'VIEWER' }],
      }));
    }
    const procs = { wsflyte: consumer, flyteadmin: stack.children[1], kube: stack.children[2] };
    const cpu0 = Object.fromEntries(Object.entries(procs).map(([k, c]) => [k, cpuS(c.pid)]));
    const published = Date.now();
    await stack.produceEvents(events);
    const results = await stack.results(n, 120);
    const wall = (Date.now() - published) / 1000;
    const cpuUsed = Object.fromEntries(Object.entries(procs).map(([k, c]) => [k, cpuS(c.pid) - cpu0[k]]));
    const cpu = Object.entries(cpuUsed).map(([k, used]) => `${k} ${Math.round((100 * used) / wall)}%`).join(', ');
    const hwm = readFileSync(`/proc/${consumer.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/)[1];
    const [flog, klog] = await Promise.all([stack.flyteRequests(), stack.kubeRequests()]);
    await stack.stopConsumer(consumer);
    if (results.length < n) throw new Error(`only ${results.length} of ${n} results\n${stack.logs.join('').slice(-2000)}`);
    const mine = [...flog, ...klog].filter((r) => r.path.includes(prefix));
    const requests = mine.length;
    const serverMs = mine.reduce((a, r) => a + (r.duration_ms || 0), 0) / requests;
    const start = Math.min(...results.map((r) => r.completed_at - r.duration_ms));
    const end = Math.max(...results.map((r) => r.completed_at));
    const inside = results.map((r) => r.duration_ms).sort((x, y) => x - y);
    const e2e = results.map((r) => r.completed_at - published).sort((x, y) => x - y);
    const perEvent = requests / n;
    const rate = n / ((end - start) / 1000);
    const ideal = concurrency / (perEvent * LATENCY / 1000);
    // What the servers as measured allow: their own time per request
    // (injected latency plus their work) instead of the bare latency.
    const serverBound = concurrency / (perEvent * serverMs / 1000);
    return {
      concurrency, events: n, workspaces: m, 'events/s': rate.toFixed(1),
      'ideal events/s': ideal.toFixed(1), 'of ideal': `${((100 * rate) / ideal).toFixed(0)}%`,
      'of server-bound': `${((100 * rate) / serverBound).toFixed(0)}% of ${serverBound.toFixed(1)}/s`,
      'requests/event': perEvent.toFixed(1), 'server ms/request': serverMs.toFixed(1),
      'wsflyte CPU ms/event': ((1000 * cpuUsed.wsflyte) / n).toFixed(2),
      'p50 ms (poll->result)': pct(inside, 50), 'p99 ms (poll->result)': pct(inside, 99),
      'p50 ms (publish->result)': pct(e2e, 50), 'p99 ms (publish->result)': pct(e2e, 99),
      'peak RSS MiB': (Number(hwm) / 1024).toFixed(1),
      statuses: Object.entries(results.reduce((a, r) => ({ ...a, [r.status]: (a[r.status] || 0) + 1 }), {}))
        .map(([k, v]) => `${k}=${v}`).join(' '),
      'CPU (of one core)': cpu,
    };
  } finally {
    await stack.stop();
  }
}

const rows = [];
for (const c of CONCURRENCIES) {
  process.stderr.write(`bench: concurrency ${c}...\n`);
  rows.push(await runOne(c));
}
console.log(`wsflyte bench: ${LATENCY} ms injected per API call; ideal = concurrency / (requests per event x ${LATENCY} ms)`);
for (const r of rows) {
  console.log(`\nconcurrency ${r.concurrency}:`);
  for (const [k, v] of Object.entries(r)) if (k !== 'concurrency') console.log(`  ${k.padEnd(26)} ${v}`);
}
console.log('server-bound: concurrency / (requests per event x server ms/request), what the test servers allow;');
console.log('poll->result: from the consumer taking the record to its result (duration_ms, includes waiting for a worker);');
console.log('publish->result: from publishing the whole batch at once to each result (includes the backlog).');
