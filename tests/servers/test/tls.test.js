// Both servers serve HTTPS with --tls-cert/--tls-key: a CA made here signs a
// certificate for 127.0.0.1; clients that trust the CA connect, others fail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
let dir;
let ca;
const procs = [];

function openssl(...args) {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

// CA + a server certificate for IP 127.0.0.1 signed by it (EC keys: fast).
function makeCerts() {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-days', '2', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.crt');
  openssl('req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', 'srv.key', '-out', 'srv.csr');
  fs.writeFileSync(path.join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-extfile', 'ext', '-out', 'srv.crt');
  return fs.readFileSync(path.join(dir, 'ca.crt'));
}

// Starts a server script with args; resolves with the URL of its first stdout line.
function startCli(script, args) {
  const p = spawn(process.execPath, [path.join(here, '..', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: p.stdout });
    rl.once('line', (line) => resolve(line.trim()));
    p.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

function request(url, { method = 'GET', headers = {}, body, trustCa = true } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca: trustCa ? ca : undefined, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode, text, json });
      });
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

let flyte;
let kube;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsflyte-tls-'));
  ca = makeCerts();
  const tls = ['--tls-cert', path.join(dir, 'srv.crt'), '--tls-key', path.join(dir, 'srv.key')];
  [flyte, kube] = await Promise.all([
    startCli('flyteadmin.js', ['--auth', 'on', ...tls]),
    startCli('kube.js', ['--token', 'kube-token', ...tls]),
  ]);
});

after(() => {
  for (const p of procs) p.kill('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the printed base URLs are https', () => {
  assert.match(flyte, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(kube, /^https:\/\/127\.0\.0\.1:\d+$/);
});

test('kube answers over TLS to a client trusting the CA, with its token check', async () => {
  let r = await request(`${kube}/api/v1/namespaces/default`, { headers: { Authorization: 'Bearer kube-token' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.metadata.name, 'default');
  r = await request(`${kube}/api/v1/namespaces/default`);
  assert.equal(r.status, 401);
  r = await request(`${kube}/_test/state`);
  assert.equal(r.status, 200);
});

test('a client without the CA is refused by TLS verification', async () => {
  await assert.rejects(request(`${kube}/version`, { trustCa: false }), (e) => /self[- ]signed|unable to verify|UNABLE_TO_GET_ISSUER/i.test(`${e.code} ${e.message}`));
});

test('flyte discovery advertises an https token endpoint that issues tokens', async () => {
  let r = await request(`${flyte}/.well-known/oauth-authorization-server`, { headers: { Accept: 'application/json' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.token_endpoint, `${flyte}/oauth2/token`);
  r = await request(r.json.token_endpoint, {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from('wsflyte:wsflyte-secret').toString('base64')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=all',
  });
  assert.equal(r.status, 200);
  const tok = r.json.access_token;
  r = await request(`${flyte}/api/v1/domains`, { headers: { Accept: 'application/json', Authorization: `Bearer ${tok}` } });
  assert.equal(r.status, 200);
});

test('--tls-cert without --tls-key is refused', async () => {
  await assert.rejects(startCli('kube.js', ['--tls-cert', path.join(dir, 'srv.crt')]), /exited with 2/);
});
