// Credentials in schemas.registry_url (https://user:password@registry:8081,
// how Confluent-compatible registries take basic auth) are never printed:
// not by --check-config, not in the log lines of a registry that cannot be
// reached (at start-up, or when a record names a schema id).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, makeEvent, run, bin, waitFor } from './harness.mjs';

const PASSWORD = 'reg-pw-9f3k';
const URL_WITH_USERINFO = `http://wsflyte:${PASSWORD}@127.0.0.1:1`;
let stack, configPath;

after(async () => { await stack?.stop(); });

test('--check-config shows the registry URL with its userinfo masked', async () => {
  stack = await new Stack().start();
  const config = JSON.parse(stack.configYaml());
  config.schemas.registry_url = URL_WITH_USERINFO;
  configPath = join(stack.dir, 'registry.yaml');
  writeFileSync(configPath, JSON.stringify(config));
  const r = await run(bin('wsflyte'), ['--config', configPath, '--check-config']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /registry_url: "http:\/\/\*\*\*@127\.0\.0\.1:1"/);
  assert.doesNotMatch(r.stdout + r.stderr, new RegExp(PASSWORD));
  assert.doesNotMatch(r.stdout + r.stderr, /wsflyte:/);
});

test('an unreachable registry at start-up is logged with the userinfo masked', async () => {
  const consumer = stack.startNamedConsumer('startup', {}, configPath);
  const line = await waitFor(() => stack.consumerLogs.startup.join('').split('\n').find((l) => l.includes('checking the result schema')), 20000);
  assert.ok(line, stack.logs.join(''));
  assert.match(line, /schema registry POST http:\/\/\*\*\*@127\.0\.0\.1:1\/subjects\/workspace\.provisioning\.v1-value: .*; trying again in \d+ ms/);
  await stack.stopConsumer(consumer);
  assert.doesNotMatch(stack.consumerLogs.startup.join(''), new RegExp(PASSWORD));
});

test('an unreachable registry is logged with the userinfo masked', async () => {
  // JSON results need no registered result schema: wsflyte starts and
  // meets the registry at the first Avro event.
  const config = JSON.parse(stack.configYaml());
  config.schemas.registry_url = URL_WITH_USERINFO;
  config.results.format = 'json';
  const jsonConfig = join(stack.dir, 'registry-json.yaml');
  writeFileSync(jsonConfig, JSON.stringify(config));
  const consumer = stack.startNamedConsumer('wsflyte', {}, jsonConfig);
  await waitFor(() => /assigned \d+ partition/.test(stack.consumerLogs.wsflyte.join('')), 20000);
  await stack.produceEvents([makeEvent({ workspace: 'ws-reg-1' })]); // Avro, schema id 1
  const line = await waitFor(() => stack.consumerLogs.wsflyte.join('').split('\n').find((l) => l.includes('/schemas/ids/1')), 20000);
  assert.ok(line, stack.logs.join(''));
  assert.match(line, /schema registry GET http:\/\/\*\*\*@127\.0\.0\.1:1\/schemas\/ids\/1: /);
  await stack.stopConsumer(consumer);
  assert.doesNotMatch(stack.consumerLogs.wsflyte.join(''), new RegExp(PASSWORD));
});
