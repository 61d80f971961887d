// Seeds a stack (devkafka, the FlyteAdmin and Kubernetes test servers) with N
// workspaces provisioned by wsflyte itself, stops wsflyte, and times
// wsflyte-audit over them, counting its requests from the servers' logs.
//   node tools/bench-audit.mjs [N ...]      (default 1000; each N adds to the last)
// WSFLYTE_BUILD_DIR selects the build (default build/).
import { existsSync } from 'node:fs';
import { Stack, makeEvent, run, bin } from '../tests/integration/harness.mjs';

const sizes = process.argv.slice(2).map(Number);
if (sizes.length === 0) sizes.push(1000);
const members = [
  { user_id: 'alice', email: 'alice@company.com', role: 'OWNER' },
  { user_id: 'bob', email: 'bob@company.com', role: 'CONTRIBUTOR' },
];
// Eight partitions: the mock cluster keeps at most 5 MiB a partition and drops the
// oldest records beyond, and 10,000 state records (about 2.2 kB each) on three
// would lose some 2,800 of them.
const stack = new Stack({ partitions: 8, editConfig: (doc) => { doc.reconcile = { watch: false, resync_interval: '0' }; } });
await stack.start();
try {
  let have = 0;
  for (const n of sizes) {
    const consumer = stack.startConsumer();
    const events = [];
    for (let i = have; i < n; i++) events.push(makeEvent({ workspace: `ws-b-${String(i).padStart(5, '0')}`, members }));
    const t0 = Date.now();
    for (let i = 0; i < events.length; i += 500) await stack.produceEvents(events.slice(i, i + 500), 'json');
    for (;;) {
      const r = await run(bin('wsflyte-results'), ['--config', stack.configPath, '--to-end', '--count', String(n + 10)]);
      const got = r.stdout.split('\n').filter(Boolean).length;
      if (got >= n) break;
      await new Promise((res) => setTimeout(res, 2000));
    }
    if ((await stack.stopConsumer(consumer)) !== 0) throw new Error('wsflyte did not stop cleanly');
    console.error(`provisioned ${n} workspaces (${events.length} new) in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    have = n;
    await fetch(`${stack.flyteUrl}/_test/requests`, { method: 'DELETE' });
    await fetch(`${stack.kubeUrl}/_test/requests`, { method: 'DELETE' });
    const t1 = Date.now();
    // Peak memory from GNU time when there is one.
    const timed = existsSync('/usr/bin/time');
    const argv = ['--config', stack.configPath];
    const a = timed ? await run('/usr/bin/time', ['-f', 'maxrss_kb=%M', bin('wsflyte-audit'), ...argv], { timeoutMs: 600000 })
      : await run(bin('wsflyte-audit'), argv, { timeoutMs: 600000 });
    const secs = (Date.now() - t1) / 1000;
    const rss = /maxrss_kb=(\d+)/.exec(a.stderr);
    const flyte = (await stack.flyteRequests()).length;
    const kube = (await stack.kubeRequests()).length;
    console.log(JSON.stringify({ workspaces: n, exit: a.code, seconds: secs, flyte_requests: flyte, kube_requests: kube,
      max_rss_mb: rss ? Math.round(Number(rss[1]) / 1024) : null, summary: a.stdout.trim().split('\n').pop() }));
    if (a.code !== 0) console.error(a.stdout.slice(0, 3000) + a.stderr);
  }
} finally {
  await stack.stop();
}
