// A repair that does not stick (CONTRACT §3: "backs off from an object
// another writer keeps changing instead of fighting it").  A second writer,
// field manager `gitops-controller`, puts the staging ResourceQuota's pods
// back to its own value whenever it differs (a GitOps tool with self-heal
// owning the same field).  wsflyte repairs it a few times, then damps the
// repairs of that one object (exponential backoff, up to an hour): over a
// long window the repairs stay a small number, not one per change.  It logs
// once which manager it is fighting and counts the fight in
// wsflyte_drift_fights_total{api,kind}.  Other objects of the workspace are
// still repaired at once, and once the other writer stops the damped object
// is repaired again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, makeEvent, waitFor, sleep, healthPort } from './harness.mjs';

const WS = 'ws-fight';
const OTHER = 'gitops-controller';
const FIGHT_MS = 25000;
const quotaPath = `/api/v1/namespaces/${WS}-staging/resourcequotas/workspace-quota`;
const netpolPath = `/apis/networking.k8s.io/v1/namespaces/${WS}-development/networkpolicies/workspace-isolation`;
let stack, consumer, port;

const logText = () => stack.logs.join('');
const repairLines = () => logText().split('\n')
  .filter((l) => l.includes(`drift repaired: ResourceQuota ${WS}-staging/workspace-quota`));

async function get(path) {
  const r = await fetch(`${stack.kubeUrl}${path}`);
  return r.status === 404 ? null : r.json();
}

async function patchAs(manager, path, body) {
  const r = await fetch(`${stack.kubeUrl}${path}?fieldManager=${manager}`, {
    method: 'PATCH', headers: { 'Content-Type': 'application/merge-patch+json', 'X-Request-Id': manager },
    body: JSON.stringify(body),
  });
  assert.ok(r.ok, `PATCH ${path}: ${r.status} ${await r.text()}`);
}

async function metric(name, labels) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

before(async () => {
  stack = await new Stack({
    partitions: 1, config: { concurrency: 4 },
    // No pass during the test: every repair here comes from the watch.
    editConfig: (doc) => { doc.reconcile = { watch: true, resync_interval: '0s' }; },
  }).start();
  consumer = stack.startNamedConsumer('c0');
  port = await healthPort(stack);
  const e = makeEvent({ workspace: WS });
  await stack.produceEvents([e], 'json');
  assert.equal((await stack.resultOf(e.event_id, 5)).status, 'SUCCEEDED');
  assert.ok(await waitFor(() => /watch ResourceQuota: watching from/.test(logText()), 30000), 'the watch runs');
});

after(async () => {
  if (consumer) assert.equal(await stack.stopConsumer(consumer), 0);
  await stack?.stop();
});

test('a repair another writer keeps undoing is damped, its manager named once and the fight counted', async (t) => {
  // The other writer: self-heal, every 200 ms, whenever the field is not its value.
  let writes = 0, stop = false;
  const writer = (async () => {
    while (!stop) {
      const q = await get(quotaPath);
      if (q && q.spec.hard.pods !== '55') {
        await patchAs(OTHER, quotaPath, { spec: { hard: { pods: '55' } } });
        writes++;
      }
      await sleep(200);
    }
  })();
  const t0 = Date.now();
  // Per-object damping: another object of the same workspace is repaired at once meanwhile.
  await sleep(FIGHT_MS / 2);
  await fetch(`${stack.kubeUrl}${netpolPath}`, { method: 'DELETE' });
  assert.ok(await waitFor(async () => (await get(netpolPath)) !== null, 30000, 100),
    `the NetworkPolicy is re-created during the fight\n${logText().slice(-3000)}`);
  const half = repairLines().length;
  await sleep(Math.max(0, FIGHT_MS - (Date.now() - t0)));
  const total = repairLines().length;
  stop = true;
  await writer;
  t.diagnostic(`over ${FIGHT_MS / 1000} s the other writer wrote ${writes} times; wsflyte repaired ${total} times ` +
    `(${half} in the first half)`);
  // wsflyte did try, then backed off: a small number over the whole window, not one per write.
  assert.ok(total >= 2, `repairs: ${total}\n${logText().slice(-3000)}`);
  assert.ok(total <= 6, `repairs not damped: ${total} over ${FIGHT_MS} ms with ${writes} writes`);
  assert.ok(total - half <= 2, `repairs in the second half: ${total - half}`);
  // One line names the other manager, however long the fight.
  const fights = logText().split('\n').filter((l) => l.includes('drift fight'));
  assert.equal(fights.length, 1, fights.join('\n'));
  t.diagnostic(fights[0].replace(/^.*drift fight/, 'drift fight'));
  assert.match(fights[0], new RegExp(`ResourceQuota ${WS}-staging/workspace-quota.*${OTHER}`));
  assert.equal(await metric('wsflyte_drift_fights_total', { api: 'k8s', kind: 'ResourceQuota' }), 1);
  assert.equal(await metric('wsflyte_drift_fights_total', { api: 'k8s', kind: 'NetworkPolicy' }), 0);
  // Damped, not abandoned: with the other writer gone the object comes back.
  assert.ok(await waitFor(async () => (await get(quotaPath))?.spec.hard.pods === '100', 180000, 500),
    `the quota is repaired once the other writer stopped\n${logText().slice(-3000)}`);
});
