import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startFlyteAdmin, call, JSON_HEADERS, sleep } from './helpers.js';

let srv;
let B;
before(async () => {
  srv = await startFlyteAdmin({ auth: true, tokenTtl: 60 });
  B = srv.url;
});
after(() => srv.close());
beforeEach(async () => {
  await call(B, 'POST', '/_test/reset');
});

const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function token({ id = 'wsflyte', secret = 'wsflyte-secret', scope = 'all' } = {}) {
  const r = await fetch(`${B}/oauth2/token`, {
    method: 'POST',
    headers: { Authorization: basic(id, secret), 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: `grant_type=client_credentials${scope ? `&scope=${scope}` : ''}`,
  });
  return { status: r.status, json: await r.json() };
}

const authed = (tok) => ({ ...JSON_HEADERS, Authorization: `Bearer ${tok}` });

test('RFC 8414 metadata (snake_case with Accept: application/json, camelCase otherwise)', async () => {
  let r = await call(B, 'GET', '/.well-known/oauth-authorization-server');
  assert.equal(r.status, 200);
  assert.equal(r.json.token_endpoint, `${B}/oauth2/token`);
  assert.deepEqual(r.json.grant_types_supported, ['client_credentials', 'refresh_token', 'authorization_code']);
  r = await call(B, 'GET', '/.well-known/oauth-authorization-server', undefined, { Accept: '*/*' });
  assert.equal(r.json.tokenEndpoint, `${B}/oauth2/token`);
  r = await call(B, 'GET', '/config/v1/flyte_client');
  assert.deepEqual(r.json.scopes, ['all', 'offline']);
});

test('client_credentials with HTTP Basic issues an opaque bearer token', async () => {
  const t = await token();
  assert.equal(t.status, 200);
  assert.equal(t.json.token_type, 'bearer');
  assert.equal(t.json.expires_in, 60);
  assert.equal(t.json.scope, 'all');
  const r = await call(B, 'GET', '/api/v1/domains', undefined, authed(t.json.access_token));
  assert.equal(r.status, 200);
});

test('bad client credentials -> 401 invalid_client; bad grant / scope -> 400', async () => {
  let t = await token({ secret: 'wrong' });
  assert.equal(t.status, 401);
  assert.equal(t.json.error, 'invalid_client');
  t = await token({ scope: 'admin' });
  assert.equal(t.status, 400);
  assert.equal(t.json.error, 'invalid_scope');
  const r = await fetch(`${B}/oauth2/token`, {
    method: 'POST',
    headers: { Authorization: basic('wsflyte', 'wsflyte-secret'), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=password',
  });
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error, 'unsupported_grant_type');
});

test('API calls without or with an invalid token -> 401 code 16 with WWW-Authenticate', async () => {
  let r = await call(B, 'GET', '/api/v1/projects');
  assert.equal(r.status, 401);
  assert.equal(r.json.code, 16);
  assert.equal(r.headers.get('www-authenticate'), r.json.message);
  r = await call(B, 'GET', '/api/v1/projects', undefined, authed('nope'));
  assert.equal(r.status, 401);
  // health check needs no token
  assert.equal((await call(B, 'GET', '/healthcheck')).status, 200);
});

test('a token without scope "all" is refused', async () => {
  const t = await token({ scope: 'offline' });
  const r = await call(B, 'GET', '/api/v1/projects', undefined, authed(t.json.access_token));
  assert.equal(r.status, 401);
  assert.equal(r.json.message, "authenticated user doesn't have required scope");
});

test('tokens expire after token_ttl; revoke_tokens invalidates them', async () => {
  await call(B, 'POST', '/_test/config', { token_ttl: 1 });
  let t = await token();
  assert.equal(t.json.expires_in, 1);
  assert.equal((await call(B, 'GET', '/api/v1/domains', undefined, authed(t.json.access_token))).status, 200);
  await sleep(1100);
  assert.equal((await call(B, 'GET', '/api/v1/domains', undefined, authed(t.json.access_token))).status, 401);
  await call(B, 'POST', '/_test/config', { token_ttl: 60 });
  t = await token();
  await call(B, 'POST', '/_test/config', { revoke_tokens: true });
  assert.equal((await call(B, 'GET', '/api/v1/domains', undefined, authed(t.json.access_token))).status, 401);
});

test('auth can be switched off at runtime: metadata route answers 501', async () => {
  await call(B, 'POST', '/_test/config', { auth: false });
  let r = await call(B, 'GET', '/.well-known/oauth-authorization-server');
  assert.equal(r.status, 501);
  assert.equal(r.json.code, 12);
  r = await call(B, 'GET', '/api/v1/domains');
  assert.equal(r.status, 200);
  r = await call(B, 'POST', '/oauth2/token', 'grant_type=client_credentials', { 'Content-Type': 'application/x-www-form-urlencoded' });
  assert.equal(r.status, 404);
});

test('token values are never stored in the request log', async () => {
  const t = await token();
  await call(B, 'GET', '/api/v1/domains', undefined, authed(t.json.access_token));
  const log = (await call(B, 'GET', '/_test/requests')).text;
  assert.ok(!log.includes(t.json.access_token));
  assert.ok(!log.includes('wsflyte-secret'));
  const entries = JSON.parse(log);
  assert.equal(entries.at(-1).headers.authorization, true);
  assert.equal(entries.at(-1).headers.auth_scheme, 'Bearer');
});
