// What a resync pass asks of FlyteAdmin at rest, by fleet size (not part of
// `make test`).
//
//   node tools/bench-resync.mjs [--workspaces 50,200] [--passes 3]
//
// Per size a fresh stack (devkafka, the test servers, one wsflyte with the
// watch on and a 5 s resync interval) and that many workspaces provisioned
// by events.  Once they are in place the FlyteAdmin request log is cleared
// and the passes are counted from wsflyte's log ("resync: pass over"); the
// requests of the whole passes that began and ended in the window are
// counted, per pass: list requests (ListProjects pages and
// ListMatchableAttributes) and reads of one workspace (GetProject,
// GetProjectDomainAttributes), and any write (there should be none).
// WSFLYTE_BUILD_DIR selects the build (default build/).
import { Stack, makeEvent, waitFor } from '../tests/integration/harness.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const SIZES = (args.workspaces ?? '50').split(',').map(Number);
const PASSES = Number(args.passes ?? 3);
const RESYNC_MS = 5000;

const isList = (r) => r.path === '/api/v1/projects' || r.path === '/api/v1/matchable_attributes';

async function measure(n) {
  const stack = await new Stack({
    partitions: 2, config: { concurrency: 8 },
    editConfig: (doc) => { doc.reconcile = { watch: true, resync_interval: `${RESYNC_MS / 1000}s` }; },
  }).start();
  try {
    const consumer = stack.startNamedConsumer('c0');
    const events = Array.from({ length: n }, (_, i) => makeEvent({ workspace: `ws-r-${String(i).padStart(5, '0')}` }));
    for (let i = 0; i < events.length; i += 500) await stack.produceEvents(events.slice(i, i + 500), 'json');
    await stack.results(n, 600);
    const log = () => stack.consumerLogs.c0.join('');
    const passes = () => (log().match(/resync: pass over/g) || []).length;
    // Let the first pass after provisioning run, then count from one pass's
    // beginning to the beginning of the PASSES-th after it: PASSES whole
    // intervals, each pass fed within its own.
    const p0 = passes();
    await waitFor(() => passes() - p0 >= 2, 3 * RESYNC_MS, 20);
    await fetch(`${stack.flyteUrl}/_test/requests`, { method: 'DELETE' });
    const from = passes();
    await waitFor(() => passes() - from >= PASSES, (PASSES + 1) * RESYNC_MS * 1.2, 20);
    const reqs = (await stack.flyteRequests()).filter((r) => r.path !== '/healthcheck');
    const counted = passes() - from;
    const lists = reqs.filter(isList).length;
    const own = reqs.filter((r) => !isList(r) && r.method === 'GET').length;
    const writes = reqs.filter((r) => r.method !== 'GET').length;
    assertEqual(await stack.stopConsumer(consumer), 0);
    return { n, passes: counted, lists, own, writes };
  } finally {
    await stack.stop();
  }
}

function assertEqual(a, b) {
  if (a !== b) throw new Error(`expected ${b}, got ${a}`);
}

console.log('workspaces  passes  FlyteAdmin requests  per pass  (lists, one-workspace reads, writes)');
for (const n of SIZES) {
  const m = await measure(n);
  const per = (m.lists + m.own) / m.passes;
  console.log(`${String(m.n).padStart(10)}  ${String(m.passes).padStart(6)}  ${String(m.lists + m.own).padStart(19)}  ` +
    `${per.toFixed(1).padStart(8)}  (${m.lists}, ${m.own}, ${m.writes})`);
}
