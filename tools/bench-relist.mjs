// make bench-relist: how long the watch's relist of one large workspace
// takes, by workspace size (not part of `make test`).
//
//   node tools/bench-relist.mjs [--members 1000,2000,4000] [--rounds 3]
//
// Per size a fresh stack (devkafka, the test servers, wsflyte, unpaced) and
// one workspace with that many members (2.7 RoleBindings per member),
// provisioned by one event.  Then, per round, a write that no watch selects
// moves the server's resourceVersion on, and every watch stream is cut while
// the Kubernetes test server keeps no watch history and sends no bookmarks:
// each kind reconnects, gets 410 and lists again.  Nothing has drifted.  A kind's relist time is taken from the
// server's request log: from its first LIST page to the WATCH that follows
// the last one (wsflyte reads the next page only after it has compared the
// previous one).  "server" is the part the test server spent answering the
// pages, "wsflyte" the rest.  Prints per size the RoleBinding relist (by far
// the largest kind), the slowest kind and the CPU time wsflyte used from the
// cut until every kind listed (all eight relists), median and range over the
// rounds.
import { readFileSync } from 'node:fs';
import { Stack, makeEvent, waitFor, sleep } from '../tests/integration/harness.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const SIZES = (args.members ?? '1000,2000,4000').split(',').map(Number);
const ROUNDS = Number(args.rounds ?? 3);
// One owner, three contributors and six viewers in ten (27 RoleBindings);
// short ids keep the authz ConfigMap of 4,000 members under Kubernetes'
// 1 MiB limit.
const role = (i) => (i % 10 === 0 ? 'OWNER' : i % 10 <= 3 ? 'CONTRIBUTOR' : 'VIEWER');
const members = (n) => Array.from({ length: n }, (_, i) => ({ user_id: `u${i}`, email: `u${i}@corp.io`, role: role(i) }));
// CPU seconds a process has used so far (utime + stime), from /proc.
const cpuS = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;
const range = (xs) => `${fmt(median(xs))} (${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))})`;

// The resource of a list or watch request path, e.g. "rolebindings".
const resourceOf = (path) => path.split('/').at(-1);
const isList = (r) => r.method === 'GET' && r.query?.labelSelector && r.query.watch === undefined;
const isWatch = (r) => r.method === 'GET' && r.query?.labelSelector && r.query.watch !== undefined;

// Per resource: {ms, serverMs, pages} of the relist that starts after seq.
function relists(log, afterSeq) {
  const out = {};
  const byRes = new Map();
  for (const r of log) {
    if (r.seq <= afterSeq || !(isList(r) || isWatch(r))) continue;
    const res = resourceOf(r.path);
    if (!byRes.has(res)) byRes.set(res, []);
    byRes.get(res).push(r);
  }
  for (const [res, rs] of byRes) {
    const first = rs.findIndex(isList);
    if (first < 0) continue;
    const end = rs.slice(first).find(isWatch);
    if (!end) continue;
    const pages = rs.slice(first).filter((r) => isList(r) && r.seq < end.seq);
    out[res] = {
      ms: Date.parse(end.time) - Date.parse(rs[first].time),
      serverMs: pages.reduce((s, r) => s + (r.duration_ms || 0), 0),
      pages: pages.length,
    };
  }
  return out;
}

async function runSize(n) {
  const stack = await new Stack({
    partitions: 1, config: { concurrency: 8, qps: 0 },
    editConfig: (doc) => { doc.reconcile = { watch: true, resync_interval: '0s' }; },
  }).start();
  try {
    // Resume points move only with the events of their kind (no bookmarks).
    await fetch(`${stack.kubeUrl}/_test/config`, { method: 'POST', body: JSON.stringify({ watch_bookmark_ms: 3600000 }) });
    const consumer = stack.startNamedConsumer(`wsflyte-${n}`);
    const e = makeEvent({ workspace: `ws-big-${n}`, members: members(n) });
    const t0 = Date.now();
    await stack.produceEvents([e], 'json');
    const r = await stack.resultOf(e.event_id, 5);
    if (r.status !== 'SUCCEEDED') throw new Error(`workspace of ${n} members: ${r.status} ${JSON.stringify(r.error)}`);
    const objects = (await stack.kubeState()).objects.length;
    console.log(`${n} members: ${objects} Kubernetes objects, provisioned in ${fmt(Date.now() - t0)}`);
    await sleep(2000); // the watch events of the provisioning
    const rb = [], slowest = [], wsflyteRb = [], cpu = [];
    for (let round = 0; round < ROUNDS; round++) {
      const log0 = await stack.kubeRequests();
      const seq = log0.length ? log0.at(-1).seq : 0;
      const cpu0 = cpuS(consumer.pid);
      // A write no watch selects moves the server's resourceVersion past
      // every kind's resume point; without history each resume is then 410.
      await fetch(`${stack.kubeUrl}/api/v1/namespaces/default/configmaps`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `bench-bump-${round}` } }),
      });
      await fetch(`${stack.kubeUrl}/_test/config`, { method: 'POST', body: JSON.stringify({ watch_history: 0 }) });
      await fetch(`${stack.kubeUrl}/_test/watches/cut`, { method: 'POST', body: JSON.stringify({ how: 'reset' }) });
      let got = {};
      const done = await waitFor(async () => {
        got = relists(await stack.kubeRequests(), seq);
        return Object.keys(got).length >= 8;
      }, 600000, 500);
      cpu.push((cpuS(consumer.pid) - cpu0) * 1000);
      await fetch(`${stack.kubeUrl}/_test/config`, { method: 'POST', body: JSON.stringify({ watch_history: 10000 }) });
      if (!done) throw new Error(`round ${round}: not every kind relisted: ${JSON.stringify(got)}`);
      const b = got.rolebindings;
      rb.push(b.ms);
      wsflyteRb.push(b.ms - b.serverMs);
      slowest.push(Math.max(...Object.values(got).map((x) => x.ms)));
      console.log(`  round ${round + 1}: RoleBinding relist ${fmt(b.ms)} (${b.pages} pages, server ${fmt(b.serverMs)}), ` +
        `slowest kind ${fmt(slowest.at(-1))}, wsflyte CPU ${fmt(cpu.at(-1))}`);
      await sleep(1000);
    }
    return { n, objects, rb, wsflyteRb, slowest, cpu };
  } finally {
    await stack.stop();
  }
}

const rows = [];
for (const n of SIZES) rows.push(await runSize(n));
console.log('\n| members | objects | RoleBinding relist | of it in wsflyte | slowest kind | wsflyte CPU, all kinds |');
console.log('|---|---|---|---|---|---|');
for (const r of rows)
  console.log(`| ${r.n} | ${r.objects} | ${range(r.rb)} | ${range(r.wsflyteRb)} | ${range(r.slowest)} | ${range(r.cpu)} |`);
