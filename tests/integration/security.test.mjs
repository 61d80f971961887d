// Production connectivity end to end: both APIs over HTTPS with a CA made
// here; Kubernetes reached through a kubeconfig (relative CA path, token
// file) whose token rotates mid-run; FlyteAdmin with OAuth2 client
// credentials whose tokens expire every few seconds, are revoked, and whose
// client secret rotates.  Nothing secret ever shows in what wsflyte prints.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { Stack, bin, sleep, eventsFile, workspaceEvent, waitFor, healthPort } from './harness.mjs';

const SECRET_1 = 'flyte-secret-one-5d1e0c';
const SECRET_2 = 'flyte-secret-two-9a77b2';
const TOKEN_1 = 'kube-token-one-3f0a91c4';
const TOKEN_2 = 'kube-token-two-c2b8e640';
const SASL_PASSWORD = 'sasl-password-71aa0e';

let stack, consumer, consumerPort, certDir, kubeDir, ca;


function openssl(...args) {
  execFileSync('openssl', args, { cwd: certDir, stdio: 'ignore' });
}

// A CA and a certificate for IP 127.0.0.1 signed by it (EC keys: fast).
function makeCerts() {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-days', '2', '-subj', '/CN=wsflyte-test-ca', '-keyout', 'ca.key', '-out', 'ca.crt');
  openssl('req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', 'srv.key', '-out', 'srv.csr');
  writeFileSync(join(certDir, 'ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-extfile', 'ext', '-out', 'srv.crt');
  return readFileSync(join(certDir, 'ca.crt'));
}

// The test servers' control API, over HTTPS trusting the test CA.
function control(base, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = https.request(`${base}/_test/${path}`, { method, ca, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
        else resolve(text ? JSON.parse(text) : null);
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function waitForResults(ids, timeoutS = 60) {
  let found = [];
  const all = await waitFor(async () => {
    found = (await stack.results(1000, 3)).filter((r) => ids.includes(r.workspace_id));
    return ids.every((id) => found.some((r) => r.workspace_id === id));
  }, timeoutS * 1000, 500);
  if (!all) {
    throw new Error(`no result for ${ids.filter((id) => !found.some((r) => r.workspace_id === id))}\n` +
      stack.logs.join('').slice(-4000));
  }
  return found;
}

// The stack's configuration, secured: FlyteAdmin with its CA and client
// credentials, Kubernetes through a kubeconfig.  Without trust, neither CA
// is given, so the system trust store (which lacks the test CA) is used.
function securedConfig(stackSelf, { trust = true, groupId = 'wsflyte' } = {}) {
  const doc = JSON.parse(Stack.prototype.configYaml.call(stackSelf));
  doc.kafka.group_id = groupId;
  doc.flyte.auth = {
    type: 'client_credentials', client_id: 'wsflyte',
    client_secret_file: join(certDir, 'flyte-client-secret'), scopes: ['all'],
  };
  if (trust) doc.flyte.ca_file = join(certDir, 'ca.crt');
  const kubeconfig = {
    apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server: stackSelf.kubeUrl, ...(trust ? { 'certificate-authority': 'ca.crt' } : {}) } }],
    users: [{ name: 'wsflyte', user: { tokenFile: 'token' } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'wsflyte' } }],
  };
  const file = join(kubeDir, trust ? 'config' : 'config-untrusting');
  writeFileSync(file, JSON.stringify(kubeconfig, null, 2));
  doc.kubernetes = { api_url: `kubeconfig:${file}` };
  return JSON.stringify(doc, null, 2) + '\n';
}

before(async () => {
  // One worker: which connection holds which token is then predictable.
  // wsflyte starts only when its groups' retry and dead-letter topics exist.
  stack = new Stack({ partitions: 2, config: { concurrency: 1 }, groups: ['wsflyte-untrusting', 'wsflyte-in-cluster'] });
  certDir = join(stack.dir, 'certs');
  kubeDir = join(stack.dir, 'kube');
  mkdirSync(certDir);
  mkdirSync(kubeDir);
  ca = makeCerts();
  writeFileSync(join(kubeDir, 'ca.crt'), ca); // next to the kubeconfig: a relative path
  writeFileSync(join(kubeDir, 'token'), `${TOKEN_1}\n`);
  writeFileSync(join(certDir, 'flyte-client-secret'), `${SECRET_1}\n`);
  const tls = ['--tls-cert', join(certDir, 'srv.crt'), '--tls-key', join(certDir, 'srv.key')];
  stack.opts.flyteArgs = ['--auth', 'on', '--client-id', 'wsflyte', '--client-secret', SECRET_1,
    ...tls];
  stack.opts.kubeArgs = ['--token', TOKEN_1, ...tls];
  stack.configYaml = function configYaml() { return securedConfig(this); };
  await stack.start();
  assert.match(stack.flyteUrl, /^https:/);
  assert.match(stack.kubeUrl, /^https:/);
});

after(async () => {
  if (consumer) await stack.stopConsumer(consumer);
  await stack?.stop();
});

test('a consumer that does not trust the servers\' CA reaches neither API and is not ready', async () => {
  const path = join(stack.dir, 'untrusting.yaml');
  writeFileSync(path, securedConfig(stack, { trust: false, groupId: 'wsflyte-untrusting' }));
  await control(stack.flyteUrl, 'DELETE', 'requests');
  await control(stack.kubeUrl, 'DELETE', 'requests');
  const logsBefore = stack.logs.length;
  const child = stack.startNamedConsumer('untrusting', {}, path);
  const port = await healthPort(stack, 15000, logsBefore);
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
  const why = await ready.text();
  assert.equal(ready.status, 503, why);
  assert.match(why, /flyteadmin unreachable, kubernetes unreachable/);
  assert.equal(await stack.stopConsumer(child), 0);
  // TLS verification failed before any HTTP request was sent.
  assert.deepEqual(await control(stack.flyteUrl, 'GET', 'requests'), []);
  assert.deepEqual(await control(stack.kubeUrl, 'GET', 'requests'), []);
});

test('over HTTPS, with a kubeconfig and OAuth2 client credentials, events are provisioned', async () => {
  const logsBefore = stack.logs.length;
  consumer = stack.startConsumer();
  consumerPort = await healthPort(stack, 15000, logsBefore);
  await stack.produce(eventsFile(stack, 'first.jsonl',
    [workspaceEvent('ws-sec-1', 1), workspaceEvent('ws-sec-2', 1)]));
  const results = await waitForResults(['ws-sec-1', 'ws-sec-2']);
  for (const r of results) assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));

  const flyteLog = await control(stack.flyteUrl, 'GET', 'requests');
  const api = flyteLog.filter((e) => e.path.startsWith('/api/v1/'));
  assert.ok(api.length > 0);
  for (const e of api) assert.equal(e.headers.auth_scheme, 'Bearer', `${e.method} ${e.path}`);
  assert.ok(flyteLog.some((e) => e.method === 'GET' && e.path === '/.well-known/oauth-authorization-server'),
    'the token endpoint was discovered');
  assert.ok(flyteLog.some((e) => e.method === 'POST' && e.path === '/oauth2/token'), 'a token was requested');
  const kubeLog = await control(stack.kubeUrl, 'GET', 'requests');
  assert.ok(kubeLog.length > 0);
  for (const e of kubeLog) assert.equal(e.headers.auth_scheme, 'Bearer', `${e.method} ${e.path}`);
  const ns = (await control(stack.kubeUrl, 'GET', 'state')).objects
    .filter((o) => o.kind === 'Namespace' && o.metadata.name.startsWith('ws-sec-1-'));
  assert.equal(ns.length, 3);
});

test('a rotated Kubernetes token, revoked Flyte tokens and a new client secret are picked up', async () => {
  await control(stack.flyteUrl, 'DELETE', 'requests');
  await control(stack.kubeUrl, 'DELETE', 'requests');
  // The kubelet writes the new token; the API server stops taking the old one.
  writeFileSync(join(kubeDir, 'token'), `${TOKEN_2}\n`);
  await control(stack.kubeUrl, 'POST', 'config', { token: TOKEN_2 });
  // FlyteAdmin's client secret rotates and every issued token is revoked.
  writeFileSync(join(certDir, 'flyte-client-secret'), `${SECRET_2}\n`);
  await control(stack.flyteUrl, 'POST', 'config', { client_secret: SECRET_2, revoke_tokens: true });

  await stack.produce(eventsFile(stack, 'second.jsonl',
    [workspaceEvent('ws-sec-3', 1), workspaceEvent('ws-sec-1', 2)]));
  const results = await waitForResults(['ws-sec-3']);
  for (const r of results) assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  const v2 = await waitFor(async () => (await stack.results(1000, 3))
    .find((r) => r.workspace_id === 'ws-sec-1' && r.workspace_version === 2), 60000, 500);
  assert.ok(v2, `no result for ws-sec-1 v2\n${stack.logs.join('').slice(-4000)}`);
  assert.equal(v2.status, 'SUCCEEDED', JSON.stringify(v2));
  assert.equal(v2.attempts, 1, 'a 401 is answered with a fresh credential, not a retry of the event');

  // A client keeps its token until a 401 (or a minute) makes it re-read
  // the file: a request in flight at the rotation is refused once and
  // retried with the new token, so no connection is refused twice.
  const kubeLog = await control(stack.kubeUrl, 'GET', 'requests');
  const refusedOn = kubeLog.filter((e) => e.status === 401).map((e) => e.connection);
  const refused = refusedOn.length;
  assert.ok(refused >= 1, 'the old token was refused');
  assert.equal(new Set(refusedOn).size, refused,
    `${refused} refusals on ${new Set(refusedOn).size} connections: the token file is re-read after a 401`);
  assert.ok(kubeLog.filter((e) => e.status < 300).length > refused, 'requests succeed with the new token');
  const flyteLog = await control(stack.flyteUrl, 'GET', 'requests');
  assert.ok(flyteLog.some((e) => e.path.startsWith('/api/v1/') && e.status === 401),
    'the revoked token was refused');
  const tokenCalls = flyteLog.filter((e) => e.method === 'POST' && e.path === '/oauth2/token');
  assert.ok(tokenCalls.length >= 1, 'a new token was requested');
  assert.ok(tokenCalls.every((e) => e.status === 200), 'the rotated secret was read from its file');
  assert.ok(flyteLog.some((e) => e.path.startsWith('/api/v1/') && e.status === 200));
});

test('Flyte tokens are renewed shortly before they expire, without a refusal', async () => {
  // Tokens issued from now on live 2 s; revoking makes wsflyte fetch one.
  await control(stack.flyteUrl, 'POST', 'config', { token_ttl: 2, revoke_tokens: true });
  await stack.produce(eventsFile(stack, 'ttl-0.jsonl', [workspaceEvent('ws-sec-ttl-0', 1)]));
  await waitForResults(['ws-sec-ttl-0']);
  await control(stack.flyteUrl, 'DELETE', 'requests');
  const ids = [];
  for (let i = 1; i <= 3; i++) {
    await sleep(2200);
    ids.push(`ws-sec-ttl-${i}`);
    await stack.produce(eventsFile(stack, `ttl-${i}.jsonl`, [workspaceEvent(ids.at(-1), 1)]));
    await waitForResults([ids.at(-1)]);
  }
  const results = (await stack.results(1000, 3)).filter((r) => ids.includes(r.workspace_id));
  for (const r of results) assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  const log = await control(stack.flyteUrl, 'GET', 'requests');
  const tokenCalls = log.filter((e) => e.method === 'POST' && e.path === '/oauth2/token');
  assert.ok(tokenCalls.length >= 3, `${tokenCalls.length} token requests for 3 expiries`);
  assert.deepEqual(log.filter((e) => e.status === 401).map((e) => `${e.method} ${e.path}`), [],
    'no request went out with an expired token');
});

test('in a pod: KUBERNETES_SERVICE_HOST/PORT with the service account\'s token and CA', async () => {
  const url = new URL(stack.kubeUrl);
  const path = join(stack.dir, 'in-cluster.yaml');
  const doc = JSON.parse(securedConfig(stack, { groupId: 'wsflyte-in-cluster' }));
  // What the kubelet mounts, at paths of the test's own.
  doc.kubernetes = { api_url: '', token_file: join(kubeDir, 'token'), ca_file: join(kubeDir, 'ca.crt') };
  writeFileSync(path, JSON.stringify(doc));
  const logsBefore = stack.logs.length;
  const child = stack.startNamedConsumer('in-cluster',
    { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port }, path);
  const port = await healthPort(stack, 15000, logsBefore);
  const ready = await waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${port}/readyz`);
    return r.status === 200 ? r.text() : null;
  }, 20000, 250);
  assert.match(ready ?? '', /kubernetes reachable/, stack.logs.slice(logsBefore).join(''));
  assert.equal(await stack.stopConsumer(child), 0);
});

test('no secret or token appears in logs, metrics or --check-config', async () => {
  const metrics = await (await fetch(`http://127.0.0.1:${consumerPort}/metrics`)).text();
  assert.match(metrics, /wsflyte_api_requests_total/);
  const check = await new Promise((resolve) => execFile(bin('wsflyte'),
    ['--config', stack.configPath, '--check-config'],
    { env: { ...process.env, WSFLYTE_KAFKA_PROPERTIES_SASL_PASSWORD: SASL_PASSWORD } },
    (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr })));
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout + check.stderr, /client_secret_file/);
  const printed = [stack.logs.join(''), metrics, check.stdout, check.stderr].join('\n');
  for (const s of [SECRET_1, SECRET_2, TOKEN_1, TOKEN_2, SASL_PASSWORD]) {
    assert.ok(!printed.includes(s), `${s.replace(/-[0-9a-f]+$/, '-…')} was printed`);
  }
  // Issued access tokens are opaque to the test; none is a Bearer in a log.
  assert.doesNotMatch(printed, /Bearer [A-Za-z0-9._~+/-]{8,}/);
});
