// With schemas.registry_url set, wsflyte checks at start-up that its result
// schema is registered under <results topic>-value, before it consumes
// anything: without it (and without schemas.auto_register) it stops with
// exit status 1, naming the subject and the command that registers it;
// with auto_register it registers the schema itself.  Results are then
// Avro whose schema id resolves, in the registry, to the result schema.
// Against the registry test server (tests/servers/registry.js), with basic
// auth in the URL as Confluent-compatible registries take it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Stack, ROOT, makeEvent, run, bin, waitFor, startRegistry, readTopicValues, eventsFile,
} from './harness.mjs';
import { decode, unframe, parseSchema, canonical } from '../servers/lib/avro.js';

const USER = 'wsflyte:reg-pw-7d2q';
const EVENT_SUBJECT = `workspace.lifecycle.v1-value=${join(ROOT, 'schemas/workspace_lifecycle_event.avsc')}`;
const RESULT_SUBJECT = 'workspace.provisioning.v1-value';
const RESULT_AVSC = readFileSync(join(ROOT, 'schemas/provisioning_result.avsc'), 'utf8');
const withUser = (url) => url.replace('http://', `http://${USER}@`);

let stack, registry, registry2;
after(async () => {
  await stack?.stop();
  await registry?.stop();
  await registry2?.stop();
});

// A configuration file of the stack pointing at a registry.
function registryConfig(name, url, autoRegister) {
  const config = JSON.parse(stack.configYaml());
  config.schemas.registry_url = withUser(url);
  config.schemas.auto_register = autoRegister;
  const path = join(stack.dir, name);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

async function registryRequests(reg) {
  return (await fetch(`${reg.url}/_test/requests`)).json();
}

// The Avro results on the results topic, decoded with the schema the
// registry returns for each record's schema id ({id, missing} for an id it
// does not know).
async function decodedResults(reg) {
  const out = [];
  for (const value of await readTopicValues(stack, 'workspace.provisioning.v1')) {
    const { id, body } = unframe(value);
    const r = await fetch(`${reg.url}/schemas/ids/${id}`, { headers: { authorization: `Basic ${Buffer.from(USER).toString('base64')}` } });
    if (r.status === 404) {
      out.push({ id, missing: true });
      continue;
    }
    const schema = parseSchema((await r.json()).schema);
    out.push({ id, schema, result: decode(schema, body) });
  }
  return out;
}

function exitOf(child) {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}

let firstEvent, configPath, startupLog;

test('result schema not registered, auto_register off: exit 1 before consuming, naming subject and command', async () => {
  // The platform registered its event schema; nobody registered the result schema.
  registry = await startRegistry(['--user', USER, '--first-id', '40', '--register', EVENT_SUBJECT]);
  stack = await new Stack().start();
  configPath = registryConfig('registry.yaml', registry.url, false);
  firstEvent = makeEvent({ workspace: 'ws-reg-a' });
  const produced = await run(bin('wsflyte-produce'), ['--config', configPath, eventsFile(stack, 'a.jsonl', [firstEvent])]);
  assert.equal(produced.code, 0, produced.stderr);

  const consumer = stack.startNamedConsumer('first', {}, configPath);
  const code = await Promise.race([exitOf(consumer), new Promise((r) => setTimeout(() => r('still running'), 20000))]);
  startupLog = stack.consumerLogs.first.join('');
  assert.equal(code, 1, startupLog);
  assert.match(startupLog, /no version of the result schema provisioning_result\.avsc under subject workspace\.provisioning\.v1-value/);
  assert.match(startupLog, /schemas\.auto_register: true/);
  assert.doesNotMatch(startupLog, /reg-pw-7d2q/);
  assert.doesNotMatch(startupLog, /assigned \d+ partition/);

  // Nothing consumed: no result, no API call, no registration.
  assert.deepEqual(await readTopicValues(stack, 'workspace.provisioning.v1'), []);
  assert.deepEqual(await stack.flyteRequests(), []);
  const reqs = await registryRequests(registry);
  assert.ok(reqs.some((r) => r.method === 'POST' && r.path === `/subjects/${RESULT_SUBJECT}`), JSON.stringify(reqs));
  assert.ok(!reqs.some((r) => r.path.endsWith('/versions')), 'wsflyte registered nothing');
});

test('the command it names registers the schema; after a restart the waiting event is answered with that id', async () => {
  const m = /register it first: (jq .*?) \(or set schemas\.auto_register/.exec(startupLog);
  assert.ok(m, startupLog);
  assert.match(m[1], new RegExp(`'http://\\*\\*\\*@127\\.0\\.0\\.1:\\d+/subjects/${RESULT_SUBJECT}/versions'$`));
  // The operator runs it with the credentials the log does not show.
  const registered = await run('sh', ['-c', m[1].replace('***@', `${USER}@`)]);
  assert.equal(registered.code, 0, registered.stderr);
  const { id } = JSON.parse(registered.stdout);
  assert.equal(id, 41);

  const consumer = stack.startNamedConsumer('second', {}, configPath);
  const results = await waitFor(async () => {
    const rs = await decodedResults(registry);
    return rs.length ? rs : null;
  }, 30000, 500);
  await stack.stopConsumer(consumer);
  assert.ok(results, stack.logs.join('').slice(-3000));
  assert.equal(results.length, 1);
  assert.equal(results[0].id, 41, 'the id the registry gave the result schema');
  assert.equal(canonical(results[0].schema), canonical(JSON.parse(RESULT_AVSC)));
  assert.equal(results[0].result.event_id, firstEvent.event_id);
  assert.equal(results[0].result.workspace_id, 'ws-reg-a');
  assert.equal(results[0].result.status, 'SUCCEEDED');
  assert.match(stack.consumerLogs.second.join(''), /results are written with schema id 41/);
  const reqs = await registryRequests(registry);
  assert.equal(reqs.filter((r) => r.path.endsWith('/versions')).length, 1, 'only the operator registered');
});

test('auto_register on: wsflyte registers the result schema and its results resolve to it', async () => {
  registry2 = await startRegistry(['--user', USER, '--first-id', '70', '--register', EVENT_SUBJECT]);
  const path = registryConfig('auto.yaml', registry2.url, true);
  const ev = makeEvent({ workspace: 'ws-reg-b' });
  const produced = await run(bin('wsflyte-produce'), ['--config', path, eventsFile(stack, 'b.jsonl', [ev])]);
  assert.equal(produced.code, 0, produced.stderr);

  const consumer = stack.startNamedConsumer('auto', {}, path);
  const found = await waitFor(async () => (await decodedResults(registry2)).find((x) => x.id === 71), 30000, 500);
  await stack.stopConsumer(consumer);
  assert.ok(found, stack.logs.join('').slice(-3000));
  assert.equal(found.result.event_id, ev.event_id);
  assert.equal(found.result.status, 'SUCCEEDED');
  const state = await (await fetch(`${registry2.url}/_test/state`)).json();
  assert.deepEqual(state.subjects[RESULT_SUBJECT], [71]);
  assert.equal(canonical(parseSchema(state.schemas[71])), canonical(JSON.parse(RESULT_AVSC)));
  assert.match(stack.consumerLogs.auto.join(''), /registered provisioning_result\.avsc under subject workspace\.provisioning\.v1-value as schema id 71/);
});
