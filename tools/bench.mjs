// make bench: what each kind of event costs, the round trips a create and a
// member change wait for, then wsflyte's throughput and latency against the
// test servers with a fixed latency injected into every API call.
//
//   node tools/bench.mjs [--only cost|rtt|throughput] [--per-type K] [--no-callgrind]
//                        [--keep-callgrind DIR] [--repeat R]
//                        [--events N] [--workspaces M] [--latency MS] [--concurrency 1,64]
//
// Cost: one stack with wsflyte run under callgrind (valgrind) and one
// phase per kind of event (first create, member added, member removed,
// duplicate, stale, service removed, delete), each K events on K
// workspaces published at once.  Per phase: API requests per event and
// writes per event (every method but GET, so LISTs count as reads) from
// the test servers' request logs, and wsflyte's instructions per event:
// callgrind's counters are zeroed before the phase and dumped when its
// results are in (callgrind_control), the instructions an idle wsflyte
// spends per second (measured over a quiet phase) times the phase's length
// are subtracted, and the rest is divided by K.  Without valgrind (or with
// --no-callgrind) wsflyte runs natively and the column says n/a, with a note.
// --keep-callgrind DIR keeps the dumps (one per phase) there, for
// callgrind_annotate.
//
// Round trips: one stack, 100 ms injected into every API call, one event
// at a time: a first create of a workspace (3 domains, 3 members as in the
// cost phase), then a member added to it (its next version), R times on
// fresh workspaces.  Per event: wsflyte's time from taking the record to
// its result (the result's duration_ms) divided by the injected latency,
// that is the API round trips the handler waits for one after another; the
// longest chain of its requests each sent after the one before was
// answered (from the test servers' request logs: the wall time without what
// a loaded machine adds to each request); and the requests it made.  The median of the R runs.
//
// Throughput: for each concurrency a fresh stack (devkafka, FlyteAdmin and
// Kubernetes test servers, wsflyte), N events over M workspaces published at
// once (version 1 creates a workspace, later versions change its members),
// then the results are read back.  Prints events/s, p50/p99 latency, API
// requests per event, wsflyte's peak RSS, and the ideal throughput
// concurrency / (requests per event x latency).
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack, makeEvent, waitFor, sleep, bin } from '../tests/integration/harness.mjs';

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

// ---- cost per kind of event ----

const PEOPLE = [
  { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' },
  { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' },
  { user_id: 'charlie', email: 'charlie@company.com', role: 'VIEWER' },
];
const DAVE = { user_id: 'dave', email: 'dave@company.com', role: 'VIEWER' };

// The phases in the order they run; each is one event per workspace.
const PHASES = [
  { name: 'first create', version: 1, type: 'WORKSPACE_CREATED', members: PEOPLE },
  { name: 'duplicate', version: 1, type: 'WORKSPACE_CREATED', members: PEOPLE },
  { name: 'stale', version: 0, type: 'MEMBERS_CHANGED', members: PEOPLE },
  { name: 'member added', version: 2, type: 'MEMBERS_CHANGED', members: [...PEOPLE, DAVE] },
  { name: 'member removed', version: 3, type: 'MEMBERS_CHANGED', members: PEOPLE },
  { name: 'service removed', version: 4, type: 'SERVICE_REMOVED', members: PEOPLE, services: [], service: 'flyte' },
  { name: 'delete', version: 5, type: 'WORKSPACE_DELETED', members: PEOPLE, services: [] },
];

const IDLE_MS = 10000;

const hasValgrind = () => {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' });
    return true;
  } catch { return false; }
};

// wsflyte under callgrind: counting starts at once, counters are zeroed and
// dumped on request (callgrind_control talks to it through vgdb).
class Callgrind {
  constructor(stack) {
    this.keep = args['keep-callgrind'];
    if (this.keep) { // emptied first: dumps are found by their phase's name
      rmSync(this.keep, { recursive: true, force: true });
      mkdirSync(this.keep, { recursive: true });
    }
    this.dir = this.keep ?? mkdtempSync(join(tmpdir(), 'wsflyte-callgrind-'));
    this.child = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${join(this.dir, 'callgrind.out')}`,
      '--dump-instr=no', bin('wsflyte'), '--config', stack.configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr.on('data', (d) => stack.logs.push(`[wsflyte] ${d}`));
    stack.children.push(this.child);
  }

  zero() { execFileSync('callgrind_control', ['-z', String(this.child.pid)], { stdio: 'ignore' }); }

  // Dumps the counters as part `name`: {total, handler}, the instructions of
  // all threads and those of the handler: inside provision_event_after
  // (inclusive) and on the provisioner's lane threads (lane_main), which
  // apply an event's steps at once.
  async dump(name) {
    execFileSync('callgrind_control', ['-d', name, String(this.child.pid)], { stdio: 'ignore' });
    const found = await waitFor(() => {
      for (const f of readdirSync(this.dir)) {
        const text = readFileSync(join(this.dir, f), 'utf8');
        const totals = /^totals: (\d+)/m.exec(text);
        if (text.includes(`desc: Trigger: dump ${name}\n`) && totals) return { file: join(this.dir, f), total: Number(totals[1]) };
      }
      return null;
    }, 30000, 100);
    if (found === null) throw new Error(`callgrind: no dump "${name}" in ${this.dir}`);
    const annotated = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', found.file],
      { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
    const inclusive = (fn) => {
      const m = new RegExp(`^\\s*([\\d,]+) .*:${fn} \\[`, 'm').exec(annotated);
      return m ? Number(m[1].replace(/,/g, '')) : null;
    };
    const handler = inclusive('provision_event_after');
    return { total: found.total, handler: handler === null ? null : handler + (inclusive('lane_main') ?? 0) };
  }

  cleanup() { if (!this.keep) rmSync(this.dir, { recursive: true, force: true }); }
}

async function costTable(perType) {
  const valgrind = !('no-callgrind' in args) && hasValgrind();
  const stack = await new Stack({ partitions: 3, config: { concurrency: 4 } }).start();
  const cg = valgrind ? new Callgrind(stack) : null;
  const rows = [];
  let produced = 0, idlePerS = null;
  try {
    if (!cg) stack.startNamedConsumer('wsflyte');
    await waitFor(() => /assigned \d+ partition/.test(stack.logs.join('')), 120000);
    if (cg) {
      cg.zero();
      // Long enough to hold two of librdkafka's 5 s statistics callbacks.
      const t0 = Date.now();
      await sleep(IDLE_MS);
      idlePerS = (await cg.dump('idle')).total / ((Date.now() - t0) / 1000);
    }
    const servers = [stack.flyteUrl, stack.kubeUrl];
    for (const [p, phase] of PHASES.entries()) {
      const events = Array.from({ length: perType }, (_, i) => {
        const e = makeEvent({ workspace: `ws-cost-${i}`, version: phase.version, type: phase.type,
          members: phase.members, services: phase.services ?? ['flyte'], eventId: `ws-cost-${i}-p${p}` });
        e.service = phase.service ?? null;
        return e;
      });
      await Promise.all(servers.map((u) => fetch(`${u}/_test/requests`, { method: 'DELETE' })));
      cg?.zero();
      const t0 = Date.now();
      await stack.produceEvents(events, 'json');
      produced += events.length;
      const results = await stack.results(produced, 600);
      const seconds = (Date.now() - t0) / 1000;
      const ir = cg ? await cg.dump(`phase${p}`) : null;
      const mine = results.filter((r) => events.some((e) => e.event_id === r.event_id));
      if (mine.length < events.length) throw new Error(`${phase.name}: ${mine.length} of ${events.length} results\n${stack.logs.join('').slice(-3000)}`);
      const logs = (await Promise.all(servers.map((u) => fetch(`${u}/_test/requests`).then((r) => r.json())))).flat()
        .filter((r) => r.path !== '/healthcheck' && r.path !== '/version'); // probes
      const statuses = [...new Set(mine.map((r) => `${r.status}${r.reason ? `/${r.reason}` : ''}`))].join(' ');
      rows.push({
        event: phase.name, outcome: statuses,
        requests: (logs.length / perType).toFixed(1),
        writes: (logs.filter((r) => r.method !== 'GET').length / perType).toFixed(1),
        instructions: cg ? ((ir.total - idlePerS * seconds) / perType / 1e6).toFixed(2) + ' M' : 'n/a',
        'in handler': cg && ir.handler !== null ? (ir.handler / perType / 1e6).toFixed(2) + ' M' : 'n/a',
      });
    }
  } finally {
    await stack.stop();
    cg?.cleanup();
  }
  console.log(`wsflyte cost per event: ${perType} workspaces per kind, 3 domains, 3 members (owner, contributor, viewer)`);
  const cols = ['event', 'requests', 'writes', 'instructions', 'in handler', 'outcome'];
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(c.length, ...rows.map((r) => String(r[c]).length))]));
  const line = (r) => cols.map((c) => String(r[c]).padEnd(width[c])).join('  ');
  console.log(line(Object.fromEntries(cols.map((c) => [c, c]))));
  for (const r of rows) console.log(line(r));
  console.log('requests: API requests per event (FlyteAdmin and Kubernetes, probes excluded), from the test servers\' logs;');
  console.log('writes: those that are not GET (LISTs count as reads).');
  if (cg) {
    console.log('instructions: wsflyte\'s, all threads, under callgrind: counters zeroed before the phase and dumped when its');
    console.log(`results are in, minus ${(idlePerS / 1e6).toFixed(2)} M/s of idle work (measured over ${IDLE_MS / 1000} s without events) times the`);
    console.log('phase\'s length, divided by the events of the phase (the idle part makes it vary by about 0.5 M).');
    console.log('in handler: the part inside provision_event_after (reads, desired state, plan, requests, answers) and on');
    console.log('the provisioner\'s lane threads, which apply the steps of a plan at once; it does not vary.');
  } else {
    console.log(`instructions: not measured, ${'no-callgrind' in args ? '--no-callgrind given' : 'valgrind (callgrind_control) is not installed'}.`);
  }
}

// ---- round trips ----

const RTT_MS = 100;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The longest chain of requests each sent after the one before it was
// answered, from the servers' logs: the round trips the event waited for
// whatever the machine's load adds to each.
const chain = (logs) => {
  const reqs = logs.map((r) => ({ start: Date.parse(r.time), end: Date.parse(r.time) + r.duration_ms }))
    .sort((a, b) => a.start - b.start);
  const depth = [];
  reqs.forEach((r, i) => { depth[i] = 1 + Math.max(0, ...reqs.slice(0, i).map((q, j) => (q.end <= r.start ? depth[j] : 0))); });
  return Math.max(0, ...depth);
};

async function roundTrips(repeat) {
  const stack = await new Stack({ partitions: 3, config: { qps: 0 } }).start();
  const kinds = [PHASES.find((p) => p.name === 'first create'), PHASES.find((p) => p.name === 'member added')];
  const runs = Object.fromEntries(kinds.map((k) => [k.name, []]));
  let produced = 0;
  try {
    await stack.fault('flyte', { latency_ms: RTT_MS, count: -1 });
    await stack.fault('kube', { latency_ms: RTT_MS, count: -1 });
    stack.startNamedConsumer('wsflyte');
    await waitFor(() => /assigned \d+ partition/.test(stack.logs.join('')), 60000);
    const servers = [stack.flyteUrl, stack.kubeUrl];
    for (let i = 0; i < repeat; i++) {
      for (const phase of kinds) {
        const e = makeEvent({ workspace: `ws-rtt-${i}`, version: phase.version, type: phase.type,
          members: phase.members });
        await Promise.all(servers.map((u) => fetch(`${u}/_test/requests`, { method: 'DELETE' })));
        await stack.produceEvents([e], 'json');
        produced++;
        const r = (await stack.results(produced, 120)).find((x) => x.event_id === e.event_id);
        if (!r) throw new Error(`${phase.name}: no result\n${stack.logs.join('').slice(-3000)}`);
        // The event's requests: those sent while it ran (not the watch's lists at start).
        const logs = (await Promise.all(servers.map((u) => fetch(`${u}/_test/requests`).then((x) => x.json())))).flat()
          .filter((x) => x.path !== '/healthcheck' && x.path !== '/version') // probes
          .filter((x) => Date.parse(x.time) >= r.completed_at - r.duration_ms && Date.parse(x.time) <= r.completed_at);
        runs[phase.name].push({ ms: r.duration_ms, chain: chain(logs), requests: logs.length,
          writes: logs.filter((x) => x.method !== 'GET').length, outcome: `${r.status}${r.reason ? `/${r.reason}` : ''}` });
      }
    }
  } finally {
    await stack.stop();
  }
  console.log(`\nwsflyte round trips: ${RTT_MS} ms injected per API call, one event at a time, median of ${repeat} workspaces`);
  const rows = Object.entries(runs).map(([event, rs]) => ({
    event, 'round trips': (median(rs.map((r) => r.ms)) / RTT_MS).toFixed(1),
    runs: rs.map((r) => (r.ms / RTT_MS).toFixed(1)).join(' '),
    'in sequence': median(rs.map((r) => r.chain)),
    requests: median(rs.map((r) => r.requests)), writes: median(rs.map((r) => r.writes)),
    outcome: [...new Set(rs.map((r) => r.outcome))].join(' '),
  }));
  const cols = ['event', 'round trips', 'runs', 'in sequence', 'requests', 'writes', 'outcome'];
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(c.length, ...rows.map((r) => String(r[c]).length))]));
  const line = (r) => cols.map((c) => String(r[c]).padEnd(width[c])).join('  ');
  console.log(line(Object.fromEntries(cols.map((c) => [c, c]))));
  for (const r of rows) console.log(line(r));
  console.log(`round trips: the result's duration_ms (record taken to result) / ${RTT_MS} ms, the median; runs: each workspace's.`);
  console.log('in sequence: the longest chain of the event\'s requests each sent after the one before was answered (from');
  console.log('the servers\' logs; what the wall time would be on an idle machine); requests, writes: those sent while');
  console.log('the event ran, as in the cost table.');
}

// ---- throughput ----

async function throughput() {
  const rows = [];
  for (const c of CONCURRENCIES) {
    process.stderr.write(`bench: concurrency ${c}...\n`);
    rows.push(await runOne(c));
  }
  console.log(`\nwsflyte throughput: ${LATENCY} ms injected per API call; ideal = concurrency / (requests per event x ${LATENCY} ms)`);
  for (const r of rows) {
    console.log(`\nconcurrency ${r.concurrency}:`);
    for (const [k, v] of Object.entries(r)) if (k !== 'concurrency') console.log(`  ${k.padEnd(26)} ${v}`);
  }
  console.log('server-bound: concurrency / (requests per event x server ms/request), what the test servers allow;');
  console.log('poll->result: from the consumer taking the record to its result (duration_ms, includes waiting for a worker);');
  console.log('publish->result: from publishing the whole batch at once to each result (includes the backlog).');
}

const only = (part) => args.only === undefined || args.only === part;
if (only('cost')) {
  process.stderr.write('bench: cost per kind of event...\n');
  await costTable(Number(args['per-type'] ?? 10));
}
if (only('rtt')) {
  process.stderr.write('bench: round trips...\n');
  await roundTrips(Number(args.repeat ?? 3));
}
if (only('throughput')) await throughput();
