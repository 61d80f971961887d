import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startFlyteAdmin, call } from './helpers.js';

let srv;
let B;
before(async () => {
  srv = await startFlyteAdmin({});
  B = srv.url;
});
after(() => srv.close());
beforeEach(async () => {
  await call(B, 'POST', '/_test/reset');
});

const register = (project) => call(B, 'POST', '/api/v1/projects', { project });
const put = (id, body) => call(B, 'PUT', `/api/v1/projects/${id}`, body);
const base = { id: 'ws-42', name: 'Flyte - WS 42', description: 'Team X', labels: { values: { 'managed-by': 'wsflyte' } } };

test('register then get: snake_case, every field, enums as names, domains from config', async () => {
  const r = await register(base);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, {});
  const g = await call(B, 'GET', '/api/v1/projects/ws-42');
  assert.deepEqual(g.json, {
    id: 'ws-42',
    name: 'Flyte - WS 42',
    domains: [
      { id: 'development', name: 'development' },
      { id: 'staging', name: 'staging' },
      { id: 'production', name: 'production' },
    ],
    description: 'Team X',
    labels: { values: { 'managed-by': 'wsflyte' } },
    state: 'ACTIVE',
    org: '',
  });
});

test('a project registered without labels comes back with labels null', async () => {
  await register({ id: 'p1', name: 'P1' });
  const g = await call(B, 'GET', '/api/v1/projects/p1');
  assert.equal(g.json.labels, null);
  assert.equal(g.json.org, '');
});

test('unknown request field -> 400 code 3 with the protojson message', async () => {
  const r = await call(B, 'POST', '/api/v1/projects', '{"foo":1}');
  assert.equal(r.status, 400);
  assert.deepEqual(r.json, { code: 3, message: 'proto: (line 1:2): unknown field "foo"', details: [] });
  const nested = await call(B, 'POST', '/api/v1/projects', '{"project":{"id":"a","nmae":"x"}}');
  assert.equal(nested.status, 400);
  assert.equal(nested.json.message, 'proto: (line 1:22): unknown field "nmae"');
});

test('lowerCamelCase keys, enum numbers and names are accepted', async () => {
  await register({ id: 'p2', name: 'P2', state: 1 });
  let g = await call(B, 'GET', '/api/v1/projects/p2');
  assert.equal(g.json.state, 'ARCHIVED');
  await put('p2', { id: 'p2', state: 'ACTIVE' });
  g = await call(B, 'GET', '/api/v1/projects/p2');
  assert.equal(g.json.state, 'ACTIVE');
  const r = await call(B, 'PUT', '/api/v1/project_domain_attributes/p2/development', {
    attributes: { matchingAttributes: { workflowExecutionConfig: { maxParallelism: '7', rawOutputDataConfig: { outputLocationPrefix: 's3://b/x' } } } },
  });
  assert.equal(r.status, 200);
  const a = await call(B, 'GET', '/api/v1/project_domain_attributes/p2/development?resource_type=WORKFLOW_EXECUTION_CONFIG');
  assert.equal(a.json.attributes.matching_attributes.workflow_execution_config.max_parallelism, 7);
  assert.equal(a.json.attributes.matching_attributes.workflow_execution_config.raw_output_data_config.output_location_prefix, 's3://b/x');
});

test('wrong value types are rejected like protojson', async () => {
  let r = await call(B, 'POST', '/api/v1/projects', '{"project":{"id":"a","name":5}}');
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'proto: (line 1:29): invalid value for string type: 5');
  r = await call(B, 'POST', '/api/v1/projects', '{"project":{"id":"a","name":"A","state":"GONE"}}');
  assert.equal(r.json.message, 'proto: (line 1:41): invalid value for enum type: "GONE"');
  r = await call(B, 'POST', '/api/v1/projects', '{"project":{"id":"a","labels":"x"}}');
  assert.equal(r.json.message, 'proto: syntax error (line 1:31): unexpected token "x"');
});

test('without Accept/Content-Type application/json: camelCase output, unknown fields dropped', async () => {
  const r = await call(B, 'POST', '/api/v1/projects', { project: { id: 'p3', name: 'P3', bogus: 1 } }, { 'Content-Type': 'text/plain', Accept: '*/*' });
  assert.equal(r.status, 200);
  await call(B, 'PUT', '/api/v1/project_attributes/p3', {
    attributes: { matching_attributes: { cluster_resource_attributes: { attributes: { q: '1' } } } },
  });
  const g = await call(B, 'GET', '/api/v1/project_attributes/p3?resource_type=CLUSTER_RESOURCE', undefined, { Accept: '*/*' });
  assert.ok(g.json.attributes.matchingAttributes.clusterResourceAttributes);
  assert.equal(g.json.attributes.matching_attributes, undefined);
});

test('Accept application/json with parameters is not an exact match', async () => {
  await register({ id: 'p4', name: 'P4' });
  await call(B, 'PUT', '/api/v1/project_attributes/p4', { attributes: { matching_attributes: { execution_queue_attributes: { tags: ['gpu'] } } } });
  const g = await call(B, 'GET', '/api/v1/project_attributes/p4?resource_type=EXECUTION_QUEUE', undefined, { Accept: 'application/json; charset=utf-8' });
  assert.ok(g.json.attributes.matchingAttributes);
});

test('registering an existing id -> 409 code 6, archived too', async () => {
  await register(base);
  let r = await register(base);
  assert.equal(r.status, 409);
  assert.equal(r.json.code, 6);
  assert.match(r.json.message, /^value with matching already exists/);
  await put('ws-42', { id: 'ws-42', state: 'ARCHIVED' });
  r = await register(base);
  assert.equal(r.status, 409);
});

test('validation order and messages (project_validator.go)', async () => {
  const cases = [
    [{}, 'missing project'],
    [{ project: { id: 'a' } }, 'missing project_name'],
    [{ project: { name: 'A' } }, 'missing project_id'],
    [{ project: { id: 'Bad_Id', name: 'A', labels: { values: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) } } }, 'labels map cannot exceed 16 entries'],
    [{ project: { id: 'a', name: 'A', labels: { values: { 'bad key': 'v' } } } }, /^invalid label key \[bad key\]: \[name part must consist of alphanumeric characters/],
    [{ project: { id: 'a', name: 'A', labels: { values: { k: 'a@b' } } } }, /^invalid label value \[a@b\]: \[a valid label must be an empty string/],
    [{ project: { id: 'Bad_Id', name: 'A' } }, "invalid project id [Bad_Id]: [a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')]"],
    [{ project: { id: 'a'.repeat(64), name: 'A' } }, /^invalid project id \[a{64}\]: \[must be no more than 63 characters\]$/],
    [{ project: { id: 'a', name: 'é'.repeat(33) } }, 'project_name cannot exceed 64 characters'],
    [{ project: { id: 'a', name: 'A', description: 'x'.repeat(301) } }, 'project_description cannot exceed 300 characters'],
    [{ project: { id: 'a', name: 'A', domains: [{ id: 'development', name: 'development' }] } }, 'Domains are currently only set system wide. Please retry without domains included in your request.'],
  ];
  for (const [body, msg] of cases) {
    const r = await call(B, 'POST', '/api/v1/projects', body);
    assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
    assert.equal(r.json.code, 3);
    if (msg instanceof RegExp) assert.match(r.json.message, msg);
    else assert.equal(r.json.message, msg);
  }
  const ok = await call(B, 'POST', '/api/v1/projects', { project: { id: 'a', name: 'A', domains: [] } });
  assert.equal(ok.status, 200);
});

test('PUT on unknown id -> 404 code 5', async () => {
  const r = await put('nope', { id: 'nope', state: 'ACTIVE' });
  assert.equal(r.status, 404);
  assert.deepEqual(r.json, { code: 5, message: 'project [nope] not found', details: [] });
});

test('PUT is partial: empty name/description kept, labels replaced only when present, path id wins', async () => {
  await register(base);
  await put('ws-42', { id: 'other', state: 'ACTIVE', name: '', description: '' });
  let g = await call(B, 'GET', '/api/v1/projects/ws-42');
  assert.equal(g.json.name, 'Flyte - WS 42');
  assert.equal(g.json.description, 'Team X');
  assert.deepEqual(g.json.labels, { values: { 'managed-by': 'wsflyte' } });
  await put('ws-42', { id: 'ws-42', state: 'ACTIVE', labels: { values: { a: 'b' } } });
  g = await call(B, 'GET', '/api/v1/projects/ws-42');
  assert.deepEqual(g.json.labels, { values: { a: 'b' } });
  await put('ws-42', { id: 'ws-42', state: 'ACTIVE', labels: { values: {} } });
  g = await call(B, 'GET', '/api/v1/projects/ws-42');
  assert.deepEqual(g.json.labels, { values: {} });
});

test('PUT without state un-archives and is flagged in the request log', async () => {
  await register(base);
  await put('ws-42', { id: 'ws-42', state: 'ARCHIVED' });
  await call(B, 'DELETE', '/_test/requests');
  await put('ws-42', { id: 'ws-42', description: 'new' });
  const g = await call(B, 'GET', '/api/v1/projects/ws-42');
  assert.equal(g.json.state, 'ACTIVE');
  const log = (await call(B, 'GET', '/_test/requests')).json;
  assert.equal(log[0].unarchived_by_missing_state, true);
  assert.equal(log[0].missing_state, true);
  // resending the state keeps the project archived and is not flagged
  await put('ws-42', { id: 'ws-42', state: 'ARCHIVED' });
  await put('ws-42', { id: 'ws-42', description: 'x', state: 'ARCHIVED' });
  const log2 = (await call(B, 'GET', '/_test/requests')).json;
  assert.equal(log2.at(-1).unarchived_by_missing_state, undefined);
  assert.equal((await call(B, 'GET', '/api/v1/projects/ws-42')).json.state, 'ARCHIVED');
});

test('list: default hides ARCHIVED, filters, pagination tokens, sort', async () => {
  for (const id of ['c', 'a', 'b', 'd']) await register({ id, name: id.toUpperCase() });
  await put('d', { id: 'd', state: 'ARCHIVED' });
  let r = await call(B, 'GET', '/api/v1/projects');
  assert.deepEqual(r.json.projects.map((p) => p.id), ['a', 'b', 'c']);
  assert.equal(r.json.token, '');
  r = await call(B, 'GET', '/api/v1/projects?filters=eq(state,1)');
  assert.deepEqual(r.json.projects.map((p) => p.id), ['d']);
  r = await call(B, 'GET', `/api/v1/projects?filters=${encodeURIComponent('eq(identifier,d)+eq(state,1)')}`);
  assert.deepEqual(r.json.projects.map((p) => p.id), ['d']);
  r = await call(B, 'GET', '/api/v1/projects?filters=eq(identifier,a)');
  assert.deepEqual(r.json.projects.map((p) => p.id), ['a']);
  r = await call(B, 'GET', '/api/v1/projects?limit=2');
  assert.deepEqual(r.json.projects.map((p) => p.id), ['a', 'b']);
  assert.equal(r.json.token, '2');
  r = await call(B, 'GET', '/api/v1/projects?limit=2&token=2');
  assert.deepEqual(r.json.projects.map((p) => p.id), ['c']);
  assert.equal(r.json.token, '');
  r = await call(B, 'GET', '/api/v1/projects?sort_by.key=identifier');
  assert.deepEqual(r.json.projects.map((p) => p.id), ['c', 'b', 'a']);
  r = await call(B, 'GET', '/api/v1/projects?token=x');
  assert.equal(r.status, 400);
  r = await call(B, 'GET', '/api/v1/projects?filters=eq(identifier,zzz)&limit=0');
  assert.equal(r.json.token, '0');
});

test('list as a resync pass does: every state by value_in, identifier ASCENDING, pages by token', async () => {
  for (const id of ['e', 'c', 'a', 'b', 'd']) await register({ id, name: id.toUpperCase() });
  await put('b', { id: 'b', state: 'ARCHIVED' });
  await put('d', { id: 'd', state: 'SYSTEM_ARCHIVED' });
  // without a state filter only ARCHIVED is hidden; SYSTEM_ARCHIVED is listed
  let r = await call(B, 'GET', '/api/v1/projects?sort_by.key=identifier&sort_by.direction=ASCENDING');
  assert.deepEqual(r.json.projects.map((p) => [p.id, p.state]), [['a', 'ACTIVE'], ['c', 'ACTIVE'], ['d', 'SYSTEM_ARCHIVED'], ['e', 'ACTIVE']]);
  r = await call(B, 'GET', `/api/v1/projects?filters=${encodeURIComponent('value_in(state,1;3)')}`);
  assert.deepEqual(r.json.projects.map((p) => p.id), ['b', 'd']);
  r = await call(B, 'GET', '/api/v1/projects?filters=eq(state,0)');
  assert.deepEqual(r.json.projects.map((p) => p.id), ['a', 'c', 'e']);
  // the request wsflyte's pass makes, escaped as it escapes it, page by page
  const q = `limit=2&filters=${encodeURIComponent('value_in(state,0;1;2;3)')}&sort_by.key=identifier&sort_by.direction=ASCENDING`;
  const seen = [];
  let token = '';
  for (let pages = 0; pages < 10; pages++) {
    r = await call(B, 'GET', `/api/v1/projects?${q}${token ? `&token=${encodeURIComponent(token)}` : ''}`);
    assert.equal(r.status, 200);
    seen.push(r.json.projects.map((p) => p.id));
    token = r.json.token;
    if (!token || r.json.projects.length === 0) break;
  }
  assert.deepEqual(seen, [['a', 'b'], ['c', 'd'], ['e']]);
  // a full last page is followed by an empty one
  r = await call(B, 'GET', `/api/v1/projects?${q.replace('limit=2', 'limit=5')}`);
  assert.equal(r.json.projects.length, 5);
  assert.equal(r.json.token, '5');
  r = await call(B, 'GET', `/api/v1/projects?${q.replace('limit=2', 'limit=5')}&token=5`);
  assert.deepEqual(r.json, { projects: [], token: '' });
  // direction by number (DESCENDING = 0) and a filter that is not the state's
  r = await call(B, 'GET', '/api/v1/projects?sort_by.key=identifier&sort_by.direction=0&filters=ne(identifier,c)');
  assert.deepEqual(r.json.projects.map((p) => p.id), ['e', 'd', 'b', 'a']);
  r = await call(B, 'GET', '/api/v1/projects?filters=value_in(bogus,1)');
  assert.equal(r.status, 400);
});

test('GET /api/v1/domains', async () => {
  const r = await call(B, 'GET', '/api/v1/domains');
  assert.deepEqual(r.json, { domains: [{ id: 'development', name: 'development' }, { id: 'staging', name: 'staging' }, { id: 'production', name: 'production' }] });
});

test('attribute calls on a missing project -> 400 code 3', async () => {
  const r = await call(B, 'PUT', '/api/v1/project_domain_attributes/nope/development', { attributes: { matching_attributes: { execution_queue_attributes: { tags: ['x'] } } } });
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'failed to validate that project [nope] is registered, err: [project [nope] not found]');
  const g = await call(B, 'GET', '/api/v1/project_attributes/nope');
  assert.equal(g.status, 400);
});

test('attribute calls on an archived project -> 400 not active with InactiveProject detail', async () => {
  await register({ id: 'arch', name: 'A', state: 'ARCHIVED' });
  for (const [m, p, body] of [
    ['PUT', '/api/v1/project_domain_attributes/arch/development', { attributes: { matching_attributes: { execution_queue_attributes: {} } } }],
    ['GET', '/api/v1/project_domain_attributes/arch/development'],
    ['DELETE', '/api/v1/project_domain_attributes/arch/development', {}],
    ['PUT', '/api/v1/project_attributes/arch', { attributes: { matching_attributes: { execution_queue_attributes: {} } } }],
    ['DELETE', '/api/v1/project_attributes/arch', {}],
  ]) {
    const r = await call(B, m, p, body);
    assert.equal(r.status, 400, `${m} ${p}`);
    assert.deepEqual(r.json, {
      code: 3,
      message: 'project [arch] is not active',
      details: [{ '@type': 'type.googleapis.com/flyteidl.admin.InactiveProject', id: 'arch', org: '' }],
    });
  }
  // GetProjectAttributes still works on archived projects (404: nothing stored)
  const g = await call(B, 'GET', '/api/v1/project_attributes/arch?resource_type=CLUSTER_RESOURCE');
  assert.equal(g.status, 404);
});

test('unknown domain -> 400 domain [x] is unrecognized by system', async () => {
  await register(base);
  const r = await call(B, 'PUT', '/api/v1/project_domain_attributes/ws-42/qa', { attributes: { matching_attributes: { execution_queue_attributes: {} } } });
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'domain [qa] is unrecognized by system');
});

test('attribute PUT: missing / quality_of_service matching attributes', async () => {
  await register(base);
  // path parameters populate attributes.project/domain, so "attributes" is never nil here
  let r = await call(B, 'PUT', '/api/v1/project_domain_attributes/ws-42/development', {});
  assert.equal(r.json.message, 'missing matching_attributes');
  r = await call(B, 'PUT', '/api/v1/project_domain_attributes/ws-42/development', { attributes: {} });
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'missing matching_attributes');
  r = await call(B, 'PUT', '/api/v1/project_domain_attributes/ws-42/development', { attributes: { matching_attributes: { quality_of_service: { tier: 'HIGH' } } } });
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'Unrecognized matching attributes type for request ws-42-development');
  r = await call(B, 'PUT', '/api/v1/project_domain_attributes/ws-42/development', {
    attributes: { matching_attributes: { execution_queue_attributes: {}, execution_cluster_label: {} } },
  });
  assert.equal(r.status, 400);
  assert.match(r.json.message, /oneof flyteidl.admin.MatchingAttributes.target is already set/);
});

test('attribute PUT replaces the whole attribute of its type; path wins over body', async () => {
  await register(base);
  const url = '/api/v1/project_domain_attributes/ws-42/development';
  await call(B, 'PUT', url, { attributes: { project: 'x', domain: 'y', matching_attributes: { cluster_resource_attributes: { attributes: { a: '1', b: '2' } } } } });
  await call(B, 'PUT', url, { attributes: { matching_attributes: { cluster_resource_attributes: { attributes: { c: '3' } } } } });
  const g = await call(B, 'GET', `${url}?resource_type=CLUSTER_RESOURCE`);
  assert.deepEqual(g.json, {
    attributes: { project: 'ws-42', domain: 'development', matching_attributes: { cluster_resource_attributes: { attributes: { c: '3' } } }, org: '' },
  });
});

test('GET project_domain_attributes: resource_type default, name or number, project-level fallback, 404', async () => {
  await register(base);
  const url = '/api/v1/project_domain_attributes/ws-42/development';
  let r = await call(B, 'GET', url);
  assert.equal(r.status, 404);
  assert.deepEqual(r.json, { code: 5, message: 'Resource [{Project:ws-42 Domain:development Workflow: LaunchPlan: ResourceType:TASK_RESOURCE}] not found', details: [] });
  await call(B, 'PUT', '/api/v1/project_attributes/ws-42', { attributes: { matching_attributes: { cluster_resource_attributes: { attributes: { q: '1' } } } } });
  r = await call(B, 'GET', `${url}?resource_type=1`);
  assert.equal(r.status, 200);
  assert.equal(r.json.attributes.domain, '');
  await call(B, 'PUT', url, { attributes: { matching_attributes: { cluster_resource_attributes: { attributes: { q: '2' } } } } });
  r = await call(B, 'GET', `${url}?resource_type=CLUSTER_RESOURCE`);
  assert.equal(r.json.attributes.domain, 'development');
  assert.equal(r.json.attributes.matching_attributes.cluster_resource_attributes.attributes.q, '2');
  r = await call(B, 'GET', `${url}?resource_type=BOGUS`);
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'parsing field "resource_type": "BOGUS" is not a valid value');
});

test('attribute DELETE reads resource_type from the body, empty body = TASK_RESOURCE, idempotent', async () => {
  await register(base);
  const url = '/api/v1/project_domain_attributes/ws-42/development';
  await call(B, 'PUT', url, { attributes: { matching_attributes: { cluster_resource_attributes: { attributes: { q: '1' } } } } });
  await call(B, 'PUT', url, { attributes: { matching_attributes: { task_resource_attributes: { defaults: { cpu: '1' } } } } });
  // query string is ignored by a body:"*" route: this deletes TASK_RESOURCE
  let r = await call(B, 'DELETE', `${url}?resource_type=CLUSTER_RESOURCE`, '');
  assert.equal(r.status, 200);
  assert.equal((await call(B, 'GET', url)).status, 404);
  assert.equal((await call(B, 'GET', `${url}?resource_type=CLUSTER_RESOURCE`)).status, 200);
  r = await call(B, 'DELETE', url, { resource_type: 'CLUSTER_RESOURCE' });
  assert.equal(r.status, 200);
  assert.equal((await call(B, 'GET', `${url}?resource_type=CLUSTER_RESOURCE`)).status, 404);
  r = await call(B, 'DELETE', url, { resource_type: 'CLUSTER_RESOURCE' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, {});
});

test('DELETE project_attributes removes that type in every domain (broad delete)', async () => {
  await register(base);
  for (const d of ['development', 'staging']) {
    await call(B, 'PUT', `/api/v1/project_domain_attributes/ws-42/${d}`, { attributes: { matching_attributes: { cluster_resource_attributes: { attributes: { d } } } } });
  }
  await call(B, 'PUT', '/api/v1/project_domain_attributes/ws-42/staging', { attributes: { matching_attributes: { execution_queue_attributes: { tags: ['x'] } } } });
  const r = await call(B, 'DELETE', '/api/v1/project_attributes/ws-42', { resource_type: 'CLUSTER_RESOURCE' });
  assert.equal(r.status, 200);
  const st = (await call(B, 'GET', '/_test/state')).json;
  assert.deepEqual(st.attributes.map((a) => `${a.domain}:${a.resource_type}`), ['staging:EXECUTION_QUEUE']);
});

test('GetProjectAttributes WORKFLOW_EXECUTION_CONFIG merges the server defaults', async () => {
  await register(base);
  const r = await call(B, 'GET', '/api/v1/project_attributes/ws-42?resource_type=WORKFLOW_EXECUTION_CONFIG');
  assert.equal(r.status, 200);
  assert.equal(r.json.attributes.matching_attributes.workflow_execution_config.max_parallelism, 25);
});

test('routing errors: unknown route 404 code 5, wrong method 501 code 12', async () => {
  let r = await call(B, 'GET', '/api/v1/nothing');
  assert.equal(r.status, 404);
  assert.deepEqual(r.json, { code: 5, message: 'Not Found', details: [] });
  r = await call(B, 'PATCH', '/api/v1/projects/x', {});
  assert.equal(r.status, 501);
  assert.deepEqual(r.json, { code: 12, message: 'Method Not Allowed', details: [] });
});

test('GET matchable_attributes: every row of the type, most specific first, archived projects too, one answer', async () => {
  await register(base);
  await register({ ...base, id: 'ws-43' });
  const wec = (sa) => ({ attributes: { matching_attributes: { workflow_execution_config: { security_context: { run_as: { k8s_service_account: sa } } } } } });
  await call(B, 'PUT', '/api/v1/project_attributes/ws-42', wec('p42'));
  await call(B, 'PUT', '/api/v1/project_domain_attributes/ws-43/staging', wec('s43'));
  await call(B, 'PUT', '/api/v1/project_domain_attributes/ws-42/development', wec('d42'));
  await call(B, 'PUT', '/api/v1/project_domain_attributes/ws-42/development', {
    attributes: { matching_attributes: { cluster_resource_attributes: { attributes: { q: '1' } } } },
  });
  await put('ws-43', { id: 'ws-43', state: 'ARCHIVED' });
  let r = await call(B, 'GET', '/api/v1/matchable_attributes?resource_type=WORKFLOW_EXECUTION_CONFIG');
  assert.equal(r.status, 200);
  // MatchableAttributesConfiguration, unpopulated fields printed as grpc-gateway does
  assert.deepEqual(Object.keys(r.json.configurations[0]), ['attributes', 'domain', 'project', 'workflow', 'launch_plan', 'org']);
  assert.deepEqual(r.json.configurations.map((c) => [c.project, c.domain, c.workflow, c.launch_plan, c.org,
    c.attributes.workflow_execution_config.security_context.run_as.k8s_service_account]), [
    ['ws-42', 'development', '', '', '', 'd42'], ['ws-43', 'staging', '', '', '', 's43'], ['ws-42', '', '', '', '', 'p42']]);
  assert.equal(r.json.configurations[0].attributes.workflow_execution_config.max_parallelism, 0);
  r = await call(B, 'GET', '/api/v1/matchable_attributes?resource_type=1');
  assert.deepEqual(r.json.configurations.map((c) => c.attributes), [{ cluster_resource_attributes: { attributes: { q: '1' } } }]);
  // no resource_type: TASK_RESOURCE (the enum's zero), of which there is none
  r = await call(B, 'GET', '/api/v1/matchable_attributes');
  assert.deepEqual(r.json, { configurations: [] });
  r = await call(B, 'GET', '/api/v1/matchable_attributes?resource_type=BOGUS');
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'parsing field "resource_type": "BOGUS" is not a valid value');
  r = await call(B, 'GET', '/api/v1/matchable_attributes?resource_type=99');
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'parsing field "resource_type": "99" is not a valid value');
});

test('healthcheck and version', async () => {
  let r = await call(B, 'GET', '/healthcheck');
  assert.equal(r.status, 200);
  r = await call(B, 'GET', '/api/v1/version');
  assert.deepEqual(Object.keys(r.json.control_plane_version), ['Build', 'Version', 'BuildTime']);
});

test('state and request log formats', async () => {
  await register(base);
  await call(B, 'PUT', '/api/v1/project_domain_attributes/ws-42/development', {
    attributes: { matching_attributes: { workflow_execution_config: { security_context: { run_as: { k8s_service_account: 'workspace-runner' } } } } },
  });
  const st = (await call(B, 'GET', '/_test/state')).json;
  assert.equal(st.projects[0].id, 'ws-42');
  assert.equal(st.attributes[0].resource_type, 'WORKFLOW_EXECUTION_CONFIG');
  assert.equal(st.attributes[0].attributes.workflow_execution_config.security_context.run_as.k8s_service_account, 'workspace-runner');
  const log = (await call(B, 'GET', '/_test/requests')).json;
  assert.equal(log.length, 2);
  assert.deepEqual(Object.keys(log[0].headers), ['accept', 'content_type', 'authorization', 'auth_scheme', 'request_id']);
  assert.equal(log[0].method, 'POST');
  assert.equal(log[0].status, 200);
  assert.deepEqual(log[0].body, { project: base });
  assert.equal(log[1].rpc, 'UpdateProjectDomainAttributes');
  assert.ok(!log.some((e) => e.path.startsWith('/_test/')));
});

// ---- EXECUTION_CLUSTER_LABEL (placement across clusters) ----

const ecl = (value) => ({ attributes: { matching_attributes: { execution_cluster_label: { value } } } });
const wecOf = (sa) => ({ attributes: { matching_attributes: { workflow_execution_config: { security_context: { run_as: { k8s_service_account: sa } } } } } });
const pda = (p, d) => `/api/v1/project_domain_attributes/${p}/${d}`;

test('EXECUTION_CLUSTER_LABEL: PUT per domain, GET by name or number in the snake_case answer', async () => {
  await register(base);
  for (const [d, v] of [['development', 'east'], ['production', 'west']]) {
    const r = await call(B, 'PUT', pda('ws-42', d), ecl(v));
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, {});
  }
  let r = await call(B, 'GET', `${pda('ws-42', 'development')}?resource_type=EXECUTION_CLUSTER_LABEL`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, {
    attributes: { project: 'ws-42', domain: 'development', matching_attributes: { execution_cluster_label: { value: 'east' } }, org: '' },
  });
  r = await call(B, 'GET', `${pda('ws-42', 'production')}?resource_type=3`);
  assert.equal(r.json.attributes.matching_attributes.execution_cluster_label.value, 'west');
  r = await call(B, 'GET', `${pda('ws-42', 'staging')}?resource_type=EXECUTION_CLUSTER_LABEL`);
  assert.equal(r.status, 404);
  assert.equal(r.json.message, 'Resource [{Project:ws-42 Domain:staging Workflow: LaunchPlan: ResourceType:EXECUTION_CLUSTER_LABEL}] not found');
  // a PUT replaces the label (a move to another cluster)
  await call(B, 'PUT', pda('ws-42', 'development'), ecl('west'));
  r = await call(B, 'GET', `${pda('ws-42', 'development')}?resource_type=EXECUTION_CLUSTER_LABEL`);
  assert.equal(r.json.attributes.matching_attributes.execution_cluster_label.value, 'west');
  // without Accept: application/json, the default marshaler's lowerCamelCase
  r = await call(B, 'GET', `${pda('ws-42', 'development')}?resource_type=EXECUTION_CLUSTER_LABEL`, undefined, {});
  assert.deepEqual(r.json.attributes.matchingAttributes, { executionClusterLabel: { value: 'west' } });
});

test('EXECUTION_CLUSTER_LABEL is decoded by the flyteidl protos: ExecutionClusterLabel has only value', async () => {
  await register(base);
  const url = pda('ws-42', 'development');
  let r = await call(B, 'PUT', url, '{"attributes":{"matching_attributes":{"execution_cluster_label":{"label":"east"}}}}');
  assert.equal(r.status, 400);
  assert.deepEqual(r.json, { code: 3, message: 'proto: (line 1:66): unknown field "label"', details: [] });
  r = await call(B, 'PUT', url, '{"attributes":{"matching_attributes":{"execution_cluster_label":{"value":5}}}}');
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'proto: (line 1:74): invalid value for string type: 5');
  r = await call(B, 'PUT', url, '{"attributes":{"matching_attributes":{"execution_cluster_label":"east"}}}');
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'proto: syntax error (line 1:65): unexpected token "east"');
  // a oneof: one target per PUT
  r = await call(B, 'PUT', url, { attributes: { matching_attributes: { execution_cluster_label: { value: 'east' }, workflow_execution_config: {} } } });
  assert.equal(r.status, 400);
  assert.match(r.json.message, /oneof flyteidl.admin.MatchingAttributes.target is already set/);
  // lowerCamelCase is accepted; the value is not validated at update time; empty prints as ""
  r = await call(B, 'PUT', url, { attributes: { matchingAttributes: { executionClusterLabel: { value: 'Any Label!' } } } });
  assert.equal(r.status, 200);
  r = await call(B, 'PUT', pda('ws-42', 'staging'), { attributes: { matching_attributes: { execution_cluster_label: {} } } });
  assert.equal(r.status, 200);
  r = await call(B, 'GET', `${pda('ws-42', 'staging')}?resource_type=EXECUTION_CLUSTER_LABEL`);
  assert.deepEqual(r.json.attributes.matching_attributes, { execution_cluster_label: { value: '' } });
  // the project and domain rules of every attribute call
  await register({ ...base, id: 'ws-43', state: 'ARCHIVED' });
  r = await call(B, 'PUT', pda('ws-43', 'development'), ecl('east'));
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'project [ws-43] is not active');
  r = await call(B, 'PUT', pda('ws-42', 'qa'), ecl('east'));
  assert.equal(r.json.message, 'domain [qa] is unrecognized by system');
  r = await call(B, 'PUT', pda('ws-44', 'development'), ecl('east'));
  assert.equal(r.status, 400);
});

test('EXECUTION_CLUSTER_LABEL and WORKFLOW_EXECUTION_CONFIG are stored apart: PUT and DELETE of one leave the other', async () => {
  await register(base);
  const url = pda('ws-42', 'development');
  await call(B, 'PUT', url, wecOf('workspace-runner'));
  await call(B, 'PUT', url, ecl('east'));
  let r = await call(B, 'GET', `${url}?resource_type=WORKFLOW_EXECUTION_CONFIG`);
  assert.equal(r.json.attributes.matching_attributes.workflow_execution_config.security_context.run_as.k8s_service_account, 'workspace-runner');
  assert.equal(r.json.attributes.matching_attributes.execution_cluster_label, undefined);
  await call(B, 'PUT', url, wecOf('other-runner'));
  r = await call(B, 'GET', `${url}?resource_type=EXECUTION_CLUSTER_LABEL`);
  assert.deepEqual(r.json.attributes.matching_attributes, { execution_cluster_label: { value: 'east' } });
  let st = (await call(B, 'GET', '/_test/state')).json;
  assert.deepEqual(st.attributes.map((a) => [a.domain, a.resource_type, Object.keys(a.attributes)[0]]), [
    ['development', 'EXECUTION_CLUSTER_LABEL', 'execution_cluster_label'],
    ['development', 'WORKFLOW_EXECUTION_CONFIG', 'workflow_execution_config'],
  ]);
  r = await call(B, 'DELETE', url, { resource_type: 'EXECUTION_CLUSTER_LABEL' });
  assert.equal(r.status, 200);
  assert.equal((await call(B, 'GET', `${url}?resource_type=EXECUTION_CLUSTER_LABEL`)).status, 404);
  assert.equal((await call(B, 'GET', `${url}?resource_type=WORKFLOW_EXECUTION_CONFIG`)).status, 200);
  st = (await call(B, 'GET', '/_test/state')).json;
  assert.deepEqual(st.attributes.map((a) => a.resource_type), ['WORKFLOW_EXECUTION_CONFIG']);
});

test('EXECUTION_CLUSTER_LABEL: project-level fallback and ListMatchableAttributes of that type only', async () => {
  await register(base);
  await register({ ...base, id: 'ws-43' });
  await call(B, 'PUT', '/api/v1/project_attributes/ws-43', ecl('west'));
  let r = await call(B, 'GET', `${pda('ws-43', 'staging')}?resource_type=EXECUTION_CLUSTER_LABEL`);
  assert.equal(r.status, 200);
  assert.equal(r.json.attributes.domain, '');
  assert.equal(r.json.attributes.matching_attributes.execution_cluster_label.value, 'west');
  for (const d of ['development', 'staging', 'production']) {
    await call(B, 'PUT', pda('ws-42', d), ecl('east'));
    await call(B, 'PUT', pda('ws-42', d), wecOf('workspace-runner'));
  }
  r = await call(B, 'GET', '/api/v1/matchable_attributes?resource_type=EXECUTION_CLUSTER_LABEL');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.configurations.map((c) => [c.project, c.domain, c.attributes.execution_cluster_label.value]), [
    ['ws-42', 'development', 'east'], ['ws-42', 'production', 'east'], ['ws-42', 'staging', 'east'], ['ws-43', '', 'west']]);
  assert.ok(r.json.configurations.every((c) => Object.keys(c.attributes).length === 1));
  r = await call(B, 'GET', '/api/v1/matchable_attributes?resource_type=3');
  assert.equal(r.json.configurations.length, 4);
  r = await call(B, 'GET', '/api/v1/matchable_attributes?resource_type=WORKFLOW_EXECUTION_CONFIG');
  assert.deepEqual(r.json.configurations.map((c) => Object.keys(c.attributes)), [
    ['workflow_execution_config'], ['workflow_execution_config'], ['workflow_execution_config']]);
});
