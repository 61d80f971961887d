import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startFlyteAdmin, startKube, call } from './helpers.js';

const DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

let flyte;
let kube;
before(async () => {
  flyte = await startFlyteAdmin({});
  kube = await startKube({});
});
after(async () => {
  await flyte.close();
  await kube.close();
});
beforeEach(async () => {
  await call(flyte.url, 'POST', '/_test/reset');
  await call(kube.url, 'POST', '/_test/reset');
});

const fault = (base, spec) => call(base, 'POST', '/_test/faults', spec).then((r) => r.json.id);

test('fault with count: flyte 503 body looks like grpc-gateway Unavailable, then recovers', async () => {
  const id = await fault(flyte.url, { path: '/api/v1/projects', status: 503, count: 2, retry_after: 2 });
  assert.equal(typeof id, 'number');
  for (let i = 0; i < 2; i++) {
    const r = await call(flyte.url, 'GET', '/api/v1/projects');
    assert.equal(r.status, 503);
    assert.equal(r.json.code, 14);
    assert.deepEqual(r.json.details, []);
    assert.equal(r.headers.get('retry-after'), '2');
  }
  assert.equal((await call(flyte.url, 'GET', '/api/v1/projects')).status, 200);
  const log = (await call(flyte.url, 'GET', '/_test/requests')).json;
  assert.deepEqual(log.map((e) => e.status), [503, 503, 200]);
  assert.equal(log[0].fault, id);
});

test('fault method filter and regex path', async () => {
  await fault(flyte.url, { path: '^/api/v1/project_domain_attributes/.*/staging$', method: 'PUT', status: 500, count: -1 });
  const body = { attributes: { matching_attributes: { execution_queue_attributes: {} } } };
  assert.equal((await call(flyte.url, 'PUT', '/api/v1/project_domain_attributes/p/staging', body)).status, 500);
  assert.equal((await call(flyte.url, 'PUT', '/api/v1/project_domain_attributes/p/staging', body)).status, 500);
  assert.equal((await call(flyte.url, 'GET', '/api/v1/project_domain_attributes/p/staging')).status, 400);
  assert.equal((await call(flyte.url, 'PUT', '/api/v1/project_domain_attributes/p/development', body)).status, 400);
});

test('kube 429 is the APF plain-text body with Retry-After', async () => {
  await fault(kube.url, { status: 429, count: 1, retry_after: 3 });
  const r = await call(kube.url, 'GET', '/api/v1/namespaces');
  assert.equal(r.status, 429);
  assert.equal(r.text, 'Too many requests, please try again later.\n');
  assert.equal(r.headers.get('retry-after'), '3');
  assert.match(r.headers.get('content-type'), /^text\/plain/);
});

test('kube 5xx faults are Status objects', async () => {
  await fault(kube.url, { path: '/api/v1/namespaces', status: 500, count: 1 });
  await fault(kube.url, { path: '/api/v1/namespaces', status: 504, count: 1, retry_after: 1 });
  let r = await call(kube.url, 'GET', '/api/v1/namespaces');
  assert.equal(r.status, 500);
  assert.equal(r.json.kind, 'Status');
  assert.equal(r.json.reason, 'InternalError');
  r = await call(kube.url, 'GET', '/api/v1/namespaces');
  assert.equal(r.status, 504);
  assert.equal(r.json.reason, 'Timeout');
  assert.equal(r.json.details.retryAfterSeconds, 1);
});

test('latency-only rules delay and continue to later rules; faults apply in order', async () => {
  await fault(flyte.url, { latency_ms: 60, count: 1 });
  await fault(flyte.url, { status: 503, count: 1 });
  const t0 = Date.now();
  const r = await call(flyte.url, 'GET', '/api/v1/domains');
  assert.ok(Date.now() - t0 >= 55);
  assert.equal(r.status, 503);
  assert.equal((await call(flyte.url, 'GET', '/api/v1/domains')).status, 200);
});

test('reset destroys the socket; hang never answers', async () => {
  await fault(kube.url, { reset: true, count: 1 });
  await assert.rejects(fetch(`${kube.url}/api/v1/namespaces`));
  assert.equal((await call(kube.url, 'GET', '/api/v1/namespaces')).status, 200);
  await fault(kube.url, { hang: true, count: 1 });
  await assert.rejects(fetch(`${kube.url}/api/v1/namespaces`, { signal: AbortSignal.timeout(200) }));
  const log = (await call(kube.url, 'GET', '/_test/requests')).json;
  assert.deepEqual(log.map((e) => e.status), ['reset', 200, 'hang']);
});

test('custom raw body; DELETE one fault and all faults; listing', async () => {
  const a = await fault(flyte.url, { status: 502, body: '<html>bad gateway</html>' });
  await fault(flyte.url, { status: 503 });
  let r = await call(flyte.url, 'GET', '/api/v1/domains');
  assert.equal(r.status, 502);
  assert.equal(r.text, '<html>bad gateway</html>');
  assert.equal((await call(flyte.url, 'DELETE', `/_test/faults/${a}`)).status, 200);
  assert.equal((await call(flyte.url, 'GET', '/api/v1/domains')).status, 503);
  assert.equal((await call(flyte.url, 'GET', '/_test/faults')).json.length, 1);
  await call(flyte.url, 'DELETE', '/_test/faults');
  assert.equal((await call(flyte.url, 'GET', '/api/v1/domains')).status, 200);
  assert.equal((await call(flyte.url, 'POST', '/_test/faults', { stauts: 500 })).status, 400);
});

test('control API is never faulted nor logged; DELETE /_test/requests clears; reset clears state', async () => {
  await fault(flyte.url, { status: 500 });
  assert.equal((await call(flyte.url, 'GET', '/_test/state')).status, 200);
  await call(flyte.url, 'POST', '/_test/reset');
  await call(flyte.url, 'POST', '/api/v1/projects', { project: { id: 'a', name: 'A' } });
  assert.equal((await call(flyte.url, 'GET', '/_test/requests')).json.length, 1);
  await call(flyte.url, 'DELETE', '/_test/requests');
  assert.deepEqual((await call(flyte.url, 'GET', '/_test/requests')).json, []);
  assert.equal((await call(flyte.url, 'GET', '/_test/state')).json.projects.length, 1);
  await call(flyte.url, 'POST', '/_test/reset');
  assert.equal((await call(flyte.url, 'GET', '/_test/state')).json.projects.length, 0);
});

test('keep-alive: many requests reuse one connection', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set();
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve, reject) => {
      const req = http.get(`${kube.url}/api/v1/namespaces`, { agent, headers: { Accept: 'application/json' } }, (res) => {
        sockets.add(res.socket);
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
    });
  }
  agent.destroy();
  assert.equal(sockets.size, 1);
});

// Injected latency delays each request on its own: 64 requests in flight at
// once take about one latency, not 64 of them one after the other.  (Req/s
// figures belong to the benchmarks; this only checks that nothing
// serializes the requests.)
test('injected latency overlaps: 64 concurrent requests take about one latency', async (t) => {
  const LATENCY_MS = 300;
  await call(flyte.url, 'POST', '/api/v1/projects', { project: { id: 'a', name: 'A' } });
  await fault(flyte.url, { latency_ms: LATENCY_MS });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const get = () => new Promise((resolve, reject) => {
    http.get(`${flyte.url}/api/v1/projects/a`, { agent, headers: { Accept: 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject);
  });
  const t0 = Date.now();
  const codes = await Promise.all(Array.from({ length: 64 }, get));
  const ms = Date.now() - t0;
  agent.destroy();
  assert.deepEqual(new Set(codes), new Set([200]));
  t.diagnostic(`64 requests with ${LATENCY_MS} ms latency each: ${ms} ms`);
  // One after the other they would take 64 x 300 ms = 19.2 s; at once, one
  // latency (345 ms quiet), with room for a busy machine.
  assert.ok(ms >= LATENCY_MS && ms < 32 * LATENCY_MS, `${ms} ms`);
});

function runCli(script, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(DIR, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ child, url: out.slice(0, nl) });
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`exited ${code} before printing its URL`)));
  });
}

for (const [script, args, probe] of [
  ['flyteadmin.js', ['--port', '0', '--auth', 'off', '--domains', 'development,production'], '/api/v1/domains'],
  ['kube.js', ['--port', '0', '--termination-ms', '100', '--ack', 'off', '--namespaces', 'default,flyte'], '/api/v1/namespaces'],
]) {
  test(`${script}: prints its URL first on stdout and exits 0 on SIGTERM`, async () => {
    const { child, url } = await runCli(script, args);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await call(url, 'GET', probe);
    assert.equal(r.status, 200);
    if (script === 'flyteadmin.js') assert.equal(r.json.domains.length, 2);
    else assert.deepEqual(r.json.items.map((i) => i.metadata.name), ['default', 'flyte']);
    const code = await new Promise((resolve) => {
      child.removeAllListeners('exit');
      child.on('exit', resolve);
      child.kill('SIGTERM');
    });
    assert.equal(code, 0);
  });
}

// Lines read from a child's stdout, one at a time.
function lineReader(stream) {
  let buf = '';
  const waiting = [];
  const ready = [];
  stream.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (waiting.length) waiting.shift()(line);
      else ready.push(line);
    }
  });
  return () => (ready.length ? Promise.resolve(ready.shift()) : new Promise((r) => waiting.push(r)));
}

const refused = (url) => fetch(`${url}/_test/state`).then(() => false, (e) => e.cause?.code === 'ECONNREFUSED');

test('kube.js: "down" on stdin makes it unreachable with its state kept; "up" listens on the same port', async () => {
  const child = spawn(process.execPath, [path.join(DIR, 'kube.js'), '--port', '0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    const next = lineReader(child.stdout);
    const url = await next();
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kept' } };
    assert.equal((await call(url, 'POST', '/api/v1/namespaces', ns)).status, 201);
    child.stdin.write('down\n');
    assert.equal(await next(), 'down');
    assert.ok(await refused(url), 'connections are refused while down');
    child.stdin.write('down\n'); // idempotent
    assert.equal(await next(), 'down');
    child.stdin.write('up\n');
    assert.equal(await next(), `up ${url}`);
    const r = await call(url, 'GET', '/api/v1/namespaces/kept');
    assert.equal(r.status, 200, 'objects survive down/up');
    child.stdin.write('sideways\n');
    assert.equal(await next(), 'error unknown command: sideways');
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
});

test('in process: down() cuts open keep-alive connections, up() serves again on the same URL', async () => {
  const k = await startKube({});
  try {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () => new Promise((resolve, reject) => {
      http.get(`${k.url}/api/v1/namespaces`, { agent }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); })
        .on('error', reject);
    });
    assert.equal(await get(), 200);
    await k.down();
    await assert.rejects(get());
    assert.equal(await k.up(), k.url);
    assert.equal(await get(), 200);
    agent.destroy();
  } finally {
    await k.close();
  }
});
