// make bench-fleet: wsflyte over a fleet of workspaces on two execution
// clusters (not part of `make test`).
//
//   node tools/bench-fleet.mjs [--workspaces 10000] [--rest 600] [--new 50] [--resync S]
//
// One stack: devkafka (16 partitions per topic: librdkafka's mock cluster
// keeps about 5 MiB per partition, and every state record must stay), the
// FlyteAdmin test server, the control plane's Kubernetes test server and two
// execution clusters' (east and west).  Workspaces have 3 domains and 5
// members; even ones carry the label flyte-cluster=east, odd ones west.
//
//  1. wsflyte (watch on, resync 1 h) on an empty fleet: --new workspaces
//     created one after another, each event's create-to-result latency
//     (the Kafka timestamps of the event and of its result);
//  2. --workspaces more provisioned by wsflyte itself (watch off while
//     seeding; not measured);
//  3. a fresh wsflyte (watch on, resync 1 h): the time from its start to
//     /readyz answering 200 (the state restore of every partition), the
//     time until every kind is listed and watched on all three Kubernetes
//     servers, and the peak RSS and CPU time then (VmHWM, /proc stat);
//  4. at rest for --rest seconds: the requests per API and the CPU time;
//  5. --new workspaces more, one after another: latency with the fleet;
//  6. a move: one workspace relabelled east -> west, its time and requests
//     per API (counted until 3 s after its result);
//  7. a fresh wsflyte with reconcile.resync_interval --resync (default
//     max(30, workspaces / 40) s, longer than the relist of every kind): the
//     requests per API of the first whole resync pass that starts once every
//     kind is listed and watched (from its start to the next pass's), and
//     wsflyte's CPU time over it (the watch threads' judgement included).
// WSFLYTE_BUILD_DIR selects the build (default build/).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Stack, run, bin, waitFor, sleep } from '../tests/integration/harness.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const N = Number(args.workspaces ?? 10000);
const REST_S = Number(args.rest ?? 600);
const NEW = Number(args.new ?? 50);
const RESYNC_S = Number(args.resync ?? Math.max(30, Math.ceil(N / 40)));
const EVENTS = 'workspace.lifecycle.v1';
const RESULTS = 'workspace.provisioning.v1';
const LABEL = 'flyte-cluster';
const SERVERS = ['flyte', 'kube', 'east', 'west'];
const API = { flyte: 'FlyteAdmin', kube: 'Kubernetes (control plane)', east: 'Kubernetes east', west: 'Kubernetes west' };

const members = [
  { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' },
  { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' },
  { user_id: 'carol', email: 'carol@company.com', role: 'CONTRIBUTOR' },
  { user_id: 'dave', email: 'dave@company.com', role: 'VIEWER' },
  { user_id: 'erin', email: 'erin@company.com', role: 'VIEWER' },
];
function event(id, v, cluster, type = 'WORKSPACE_CREATED') {
  return {
    event_id: `${id}-v${v}-${type}`, event_type: type, occurred_at: 1764316800000 + v,
    workspace_version: v, actor: 'bench', service: null,
    workspace: {
      workspace_id: id, workspace_name: `Workspace ${id}`, services: ['flyte'], members,
      data_bucket: `${id}-data`, quota: null, labels: { [LABEL]: cluster },
    },
  };
}
const clusterOf = (i) => (i % 2 === 0 ? 'east' : 'west');

const fmtS = (ms) => `${(ms / 1000).toFixed(2)} s`;
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const log = (s) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

const stack = new Stack({
  partitions: 16, clusters: ['east', 'west'], placement: { label: LABEL },
  editConfig: (doc) => { doc.reconcile = { watch: true, resync_interval: '1h' }; },
});

// Rewrites the configuration with reconcile as given.
function reconfigure(reconcile) {
  stack.opts.editConfig = (doc) => { doc.reconcile = reconcile; };
  writeFileSync(stack.configPath, stack.configYaml());
}

// A kcat reading a topic from its end: {seen: Map key -> [ts...], stop()}.
function tail(topic) {
  const child = spawn('kcat', ['-C', '-b', stack.bootstrap, '-t', topic, '-o', 'end', '-u', '-q', '-f', '%T %k\n'],
    { stdio: ['ignore', 'pipe', 'ignore'] });
  const seen = new Map();
  createInterface({ input: child.stdout }).on('line', (l) => {
    const [ts, key] = l.split(' ');
    if (!seen.has(key)) seen.set(key, []);
    seen.get(key).push(Number(ts));
  });
  return { seen, stop: () => child.kill('SIGTERM') };
}

// The requests each server logged since its log was cleared (the control
// routes are not logged), per server.
async function requestsPerApi(filter = () => true) {
  const out = {};
  for (const s of SERVERS) out[s] = (await stack.clusterRequests(s)).filter(filter);
  return out;
}
const counts = (per) => Object.fromEntries(SERVERS.map((s) => [s, per[s].length]));
const isWatch = (r) => r.method === 'GET' && r.query?.watch !== undefined && r.query.watch !== 'false';
const isList = (r) => r.method === 'GET' && r.query?.labelSelector && !isWatch(r);
// "3 GET lists, 1 watch" and so on, per API.
function describe(rs) {
  const by = {};
  for (const r of rs) {
    const k = isWatch(r) ? 'WATCH' : isList(r) ? 'LIST' : r.method;
    by[k] = (by[k] || 0) + 1;
  }
  return Object.entries(by).map(([k, v]) => `${v} ${k}`).join(', ') || '0';
}

// Produces events one after another, each once the previous one's result is
// on the results topic; returns the create-to-result latencies (ms).
async function oneAfterAnother(events) {
  const ev = tail(EVENTS), res = tail(RESULTS);
  await sleep(1500); // both tails at the end
  const lat = [];
  try {
    for (const e of events) {
      const id = e.workspace.workspace_id;
      const n0 = res.seen.get(id)?.length ?? 0;
      await stack.produceEvents([e], 'json');
      const ok = await waitFor(() => (res.seen.get(id)?.length ?? 0) > n0 && ev.seen.get(id)?.length, 120000, 5);
      if (!ok) throw new Error(`no result for ${e.event_id}\n${stack.logs.join('').slice(-3000)}`);
      lat.push(res.seen.get(id).at(-1) - ev.seen.get(id).at(-1));
    }
  } finally {
    ev.stop();
    res.stop();
  }
  return lat;
}

// Starts wsflyte; resolves {child, startMs} once it logs its health port.
function startWsflyte(name) {
  const child = stack.startNamedConsumer(name);
  return { child, startMs: Date.now(), name };
}
function healthPortOf(name) {
  const m = (stack.consumerLogs[name] || []).join('').match(/metrics and health on \S+ \(port (\d+)\)/);
  return m ? Number(m[1]) : null;
}
// wsflyte's CPU time (user + system) so far, in ms, from /proc (clock ticks of 10 ms).
const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const statusKb = (pid, field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

// Waits for /readyz 200; returns ms since start.
async function readyAfter(w) {
  let port = null;
  const ok = await waitFor(async () => {
    port ??= healthPortOf(w.name);
    if (!port) return false;
    try {
      return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
    } catch { return false; }
  }, 600000, 20);
  if (!ok) throw new Error(`${w.name} not ready\n${stack.logs.join('').slice(-3000)}`);
  return Date.now() - w.startMs;
}

// Waits until, on each Kubernetes server, every kind has been listed and
// watched after its list, and the open watches stay put for 2 s; returns
// the time of the last of those watches (ms since the epoch).
async function cachesFilled(kinds) {
  let last = '', since = Date.now(), at = 0;
  const done = await waitFor(async () => {
    const parts = [];
    at = 0;
    for (const s of ['kube', 'east', 'west']) {
      const log = await stack.clusterRequests(s);
      const listed = new Set(), watched = new Map();
      for (const r of log) {
        const res = r.path.split('/').at(-1);
        if (isList(r)) { listed.add(res); watched.delete(res); }
        if (isWatch(r) && listed.has(res) && !watched.has(res)) watched.set(res, Date.parse(r.time));
      }
      const open = (await (await fetch(`${stack.serverUrl(s)}/_test/watches`)).json()).watches;
      if (listed.size < kinds || watched.size < listed.size) return false;
      at = Math.max(at, ...watched.values());
      parts.push(`${s}:${listed.size}/${open}/${log.length}`);
    }
    const key = parts.join(' ');
    if (key !== last) [last, since] = [key, Date.now()];
    return Date.now() - since >= 2000 ? key : false;
  }, 600000, 200);
  if (!done) throw new Error('the watch caches did not fill');
  return at;
}

// How many kinds the watch lists per server: the relist of the kube test
// server with the watch on at all (read off the first start).
async function kindsPerServer() {
  const log = await stack.clusterRequests('east');
  return new Set(log.filter(isList).map((r) => r.path.split('/').at(-1))).size;
}

const report = { workspaces: N };
await stack.start();
try {
  log(`stack up: ${N} workspaces, rest ${REST_S} s, ${NEW} new workspaces per latency run, resync ${RESYNC_S} s`);

  // 1. An empty fleet.
  let w = startWsflyte('empty');
  await readyAfter(w);
  await sleep(3000);
  const kinds = await kindsPerServer();
  const lat0 = await oneAfterAnother(Array.from({ length: NEW }, (_, i) => event(`ws-new0-${i}`, 1, clusterOf(i))));
  report.latency_empty = { p50: pct(lat0, 50), p99: pct(lat0, 99), max: Math.max(...lat0) };
  log(`empty fleet: ${kinds} kinds watched per server; create-to-result p50 ${lat0.length && pct(lat0, 50)} ms, p99 ${pct(lat0, 99)} ms`);
  if ((await stack.stopConsumer(w.child)) !== 0) throw new Error('wsflyte did not stop cleanly');

  // 2. Seeding by wsflyte, watch off.
  reconfigure({ watch: false, resync_interval: '0' });
  w = startWsflyte('seed');
  const t0 = Date.now();
  const events = Array.from({ length: N }, (_, i) => event(`ws-f-${String(i).padStart(5, '0')}`, 1, clusterOf(i)));
  for (let i = 0; i < events.length; i += 1000) await stack.produceEvents(events.slice(i, i + 1000), 'json');
  const want = N + NEW;
  for (;;) {
    const r = await run(bin('wsflyte-results'), ['--config', stack.configPath, '--to-end', '--count', String(want + 10)], { timeoutMs: 300000 });
    const got = r.stdout.split('\n').filter(Boolean).length;
    if (got >= want) break;
    log(`seeding: ${got - NEW}/${N} results`);
    await sleep(5000);
  }
  if ((await stack.stopConsumer(w.child)) !== 0) throw new Error('wsflyte did not stop cleanly');
  report.seed_s = Math.round((Date.now() - t0) / 1000);
  const objs = {};
  for (const s of ['kube', 'east', 'west']) objs[s] = (await stack.clusterState(s)).objects.length;
  report.objects = objs;
  log(`seeded ${N} workspaces in ${report.seed_s} s; objects: ${JSON.stringify(objs)}`);

  // 3. Restore, ready, caches.
  reconfigure({ watch: true, resync_interval: '1h' });
  await stack.clearRequests();
  w = startWsflyte('fleet');
  const readyMs = await readyAfter(w);
  const restored = [...(stack.consumerLogs.fleet.join('').matchAll(/restored (\d+) state record\(s\) of \S+ in (\d+) ms/g))];
  const cachedMs = (await cachesFilled(kinds)) - w.startMs;
  report.restore = {
    ready_ms: readyMs, records: restored.reduce((s, m) => s + Number(m[1]), 0),
    restore_log_ms: restored.reduce((s, m) => Math.max(s, Number(m[2])), 0),
    caches_filled_ms: cachedMs, cpu_ms: cpuMs(w.child.pid), peak_rss_mb: Math.round(statusKb(w.child.pid, 'VmHWM') / 1024),
    rss_mb: Math.round(statusKb(w.child.pid, 'VmRSS') / 1024),
  };
  log(`restore: ready in ${fmtS(readyMs)} (${report.restore.records} records), caches filled in ${fmtS(cachedMs)}, peak RSS ${report.restore.peak_rss_mb} MiB`);
  const startup = await requestsPerApi();
  report.startup_requests = counts(startup);
  // Per Kubernetes server: the LIST pages, the time the server spent on
  // them, and the span from the first LIST to the last first WATCH.
  report.lists = {};
  for (const s of ['kube', 'east', 'west']) {
    const ls = startup[s].filter(isList);
    report.lists[s] = { pages: ls.length, server_ms: ls.reduce((a, r) => a + (r.duration_ms || 0), 0),
      first_list_ms: ls.length ? Date.parse(ls[0].time) - w.startMs : null };
  }
  log(`lists: ${JSON.stringify(report.lists)}`);

  // 4. At rest.
  await stack.clearRequests();
  const restCpu = cpuMs(w.child.pid);
  await sleep(REST_S * 1000);
  const rest = await requestsPerApi();
  report.rest = { seconds: REST_S, cpu_ms: cpuMs(w.child.pid) - restCpu, requests: counts(rest), kinds: Object.fromEntries(SERVERS.map((s) => [s, describe(rest[s])])) };
  log(`at rest ${REST_S} s: ${JSON.stringify(report.rest.kinds)}`);

  // 5. New workspaces with the fleet.
  const lat1 = await oneAfterAnother(Array.from({ length: NEW }, (_, i) => event(`ws-new1-${i}`, 1, clusterOf(i))));
  report.latency_fleet = { p50: pct(lat1, 50), p99: pct(lat1, 99), max: Math.max(...lat1) };
  log(`with ${N} workspaces: create-to-result p50 ${pct(lat1, 50)} ms, p99 ${pct(lat1, 99)} ms`);

  // 6. A move east -> west.
  await sleep(3000);
  await stack.clearRequests();
  const mv = event('ws-f-00000', 2, 'west', 'MEMBERS_CHANGED');
  const [moveMs] = await oneAfterAnother([mv]);
  await sleep(3000);
  const moved = await requestsPerApi();
  report.move = { ms: moveMs, requests: counts(moved), kinds: Object.fromEntries(SERVERS.map((s) => [s, describe(moved[s])])) };
  const where = {};
  for (const s of ['east', 'west']) where[s] = (await stack.snapshotCluster(s, 'ws-f-00000')).namespaces.length;
  log(`move: ${moveMs} ms; ${JSON.stringify(report.move.kinds)}; namespaces now ${JSON.stringify(where)}`);
  if ((await stack.stopConsumer(w.child)) !== 0) throw new Error('wsflyte did not stop cleanly');

  // 7. One resync pass.
  reconfigure({ watch: true, resync_interval: `${RESYNC_S}s` });
  w = startWsflyte('resync');
  const passes = [];
  const passCpu = [];
  w.child.stderr.on('data', (d) => {
    for (const _ of String(d).matchAll(/resync: pass over/g)) {
      passes.push(Date.now());
      passCpu.push(cpuMs(w.child.pid));
    }
  });
  await readyAfter(w);
  await cachesFilled(kinds);
  await stack.clearRequests();
  // The first pass that starts once every kind is listed and watched, to
  // the next one's start.  The next pass relists at once: what came after
  // its start (less a margin; a pass's reads end at 90 % of the interval)
  // is not this pass's.
  const cleared = Date.now();
  const k = () => passes.findIndex((t) => t > cleared + 1000);
  if (!(await waitFor(() => k() >= 0 && passes.length > k() + 1, RESYNC_S * 3000, 200))) throw new Error('no whole resync pass');
  const [from, to] = [passes[k()] - 1000, passes[k() + 1] - 1000];
  const before = (r) => Date.parse(r.time) >= from && Date.parse(r.time) < to;
  const pass = await requestsPerApi(before);
  const passN = (stack.consumerLogs.resync.join('').match(/resync: pass over (\d+)/) || [])[1];
  report.resync = { interval_s: RESYNC_S, workspaces: Number(passN), seconds: (to - from) / 1000,
    cpu_ms: passCpu[k() + 1] - passCpu[k()], requests: counts(pass),
    kinds: Object.fromEntries(SERVERS.map((s) => [s, describe(pass[s])])) };
  log(`resync pass over ${passN}: ${JSON.stringify(report.resync.kinds)}`);
  if ((await stack.stopConsumer(w.child)) !== 0) throw new Error('wsflyte did not stop cleanly');
} finally {
  await stack.stop();
}

const r = report;
const row = (name, per) => `| ${name} | ${SERVERS.map((s) => per[s]).join(' | ')} |`;
console.log(`\n${N} workspaces (+${2 * NEW} new), 2 execution clusters; objects: control plane ${r.objects.kube}, east ${r.objects.east}, west ${r.objects.west}`);
console.log(`seeded by wsflyte (watch off) in ${r.seed_s} s`);
console.log(`restore: ready in ${fmtS(r.restore.ready_ms)} (${r.restore.records} records, slowest partition ${r.restore.restore_log_ms} ms); ` +
  `every kind listed and watched on the 3 Kubernetes servers ${fmtS(r.restore.caches_filled_ms)} after start; peak RSS ${r.restore.peak_rss_mb} MiB (RSS ${r.restore.rss_mb} MiB)`);
console.log(`wsflyte's CPU time: start to every kind listed ${fmtS(r.restore.cpu_ms)}; at rest ${fmtS(r.rest.cpu_ms)} in ${r.rest.seconds} s; ` +
  `one resync pass ${fmtS(r.resync.cpu_ms)} in ${r.resync.seconds} s`);
console.log(`create-to-result, ${NEW} one after another: empty fleet p50 ${r.latency_empty.p50} ms, p99 ${r.latency_empty.p99} ms; ` +
  `with ${N}: p50 ${r.latency_fleet.p50} ms, p99 ${r.latency_fleet.p99} ms (p50 ${(r.latency_fleet.p50 / r.latency_empty.p50).toFixed(2)}x)`);
console.log(`move east -> west: ${r.move.ms} ms\n`);
console.log(`| requests | ${SERVERS.map((s) => API[s]).join(' | ')} |`);
console.log(`|---|${SERVERS.map(() => '---').join('|')}|`);
console.log(row('start-up (restore, lists, watches)', r.startup_requests));
console.log(row(`one resync pass (interval ${r.resync.interval_s} s)`, r.resync.kinds));
console.log(row(`at rest, ${r.rest.seconds} s`, r.rest.kinds));
console.log(row('a move east -> west', r.move.kinds));
console.log(`\n${JSON.stringify(r)}`);
