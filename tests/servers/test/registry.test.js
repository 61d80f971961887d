// The Schema Registry test server: Confluent's routes, error codes and
// content type, global ids, basic auth, and the Avro checks and decoding
// of lib/avro.js that the end-to-end tests rely on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRegistry } from '../lib/registry-app.js';
import { parseSchema, decode } from '../lib/avro.js';
import { call } from './helpers.js';

const SCHEMAS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'schemas');
const RESULT = fs.readFileSync(path.join(SCHEMAS, 'provisioning_result.avsc'), 'utf8');
const EVENT = fs.readFileSync(path.join(SCHEMAS, 'workspace_lifecycle_event.avsc'), 'utf8');
const AUTH = { Authorization: `Basic ${Buffer.from('u:p').toString('base64')}`, 'Content-Type': 'application/vnd.schemaregistry.v1+json' };

let reg;
before(async () => {
  reg = await startRegistry({ user: 'u:p', firstId: 10, preload: [{ subject: 'events-value', text: EVENT }] });
});
after(async () => { await reg.close(); });

test('lookup, registration and ids follow Confluent', async () => {
  let r = await call(reg.url, 'POST', '/subjects/results-value', { schema: RESULT }, AUTH);
  assert.equal(r.status, 404);
  assert.equal(r.json.error_code, 40401);
  assert.equal(r.headers.get('content-type'), 'application/vnd.schemaregistry.v1+json');
  r = await call(reg.url, 'POST', '/subjects/events-value', { schema: RESULT }, AUTH);
  assert.equal(r.json.error_code, 40403);
  r = await call(reg.url, 'POST', '/subjects/results-value/versions', { schema: RESULT }, AUTH);
  assert.deepEqual(r.json, { id: 11 });
  // The same schema in another key order and spacing is the same schema.
  const compact = JSON.stringify(JSON.parse(RESULT));
  r = await call(reg.url, 'POST', '/subjects/results-value', { schema: compact }, AUTH);
  assert.equal(r.status, 200);
  assert.equal(r.json.id, 11);
  assert.equal(r.json.version, 1);
  r = await call(reg.url, 'GET', '/schemas/ids/10', undefined, AUTH);
  assert.equal(r.json.schema, EVENT);
  r = await call(reg.url, 'GET', '/schemas/ids/99', undefined, AUTH);
  assert.equal(r.json.error_code, 40403);
  r = await call(reg.url, 'GET', '/subjects', undefined, AUTH);
  assert.deepEqual(r.json.sort(), ['events-value', 'results-value']);
});

test('refuses what is no Avro schema, and requests without credentials', async () => {
  for (const bad of ['{"type":"record","name":"x","fields":[{"name":"a","type":"strin"}]}',
    '{"type":"enum","name":"e","symbols":["A","A"]}', 'not json', '{"type":"record","name":"1x","fields":[]}']) {
    const r = await call(reg.url, 'POST', '/subjects/bad-value/versions', { schema: bad }, AUTH);
    assert.equal(r.status, 422, bad);
    assert.equal(r.json.error_code, 42201, bad);
  }
  const r = await call(reg.url, 'GET', '/subjects');
  assert.equal(r.status, 401);
});

test('decodes Avro binary with named types, unions, arrays and maps', () => {
  const schema = parseSchema(JSON.stringify({
    type: 'record', name: 'R', namespace: 'n', fields: [
      { name: 'a', type: 'long' }, { name: 'b', type: ['null', 'string'] },
      { name: 'c', type: { type: 'array', items: { type: 'enum', name: 'E', symbols: ['X', 'Y'] } } },
      { name: 'd', type: { type: 'map', values: 'E' } }, { name: 'e', type: 'boolean' },
    ],
  }));
  // a=-3, b="hi", c=[Y, X], d={k: Y}, e=true
  const buf = Buffer.from([0x05, 0x02, 0x04, 0x68, 0x69, 0x04, 0x02, 0x00, 0x00, 0x02, 0x02, 0x6b, 0x02, 0x00, 0x01]);
  assert.deepEqual(decode(schema, buf), { a: -3, b: 'hi', c: ['Y', 'X'], d: { k: 'Y' }, e: true });
  assert.throws(() => decode(schema, buf.subarray(0, 5)), /truncated/);
  assert.throws(() => decode(schema, Buffer.concat([buf, Buffer.from([0])])), /left over/);
});
