#!/usr/bin/env node
// Confluent-compatible Schema Registry test server. Prints its base URL as the
// first line of stdout.
//   node tests/servers/registry.js [--port 0] [--first-id 1] [--user NAME:PASSWORD]
//        [--register SUBJECT=FILE.avsc[,SUBJECT=FILE.avsc...]] [--log-requests]
// Routes: GET /subjects, GET /schemas/ids/{id}, POST /subjects/{subject}
// (lookup), POST /subjects/{subject}/versions (register), GET
// /subjects/{subject}/versions[/{version|latest}]; the /_test/ control API
// of the other test servers (state, requests, faults, reset).
import fs from 'node:fs';
import { parseArgs, onOff, runMain } from './lib/http.js';
import { startRegistry } from './lib/registry-app.js';

runMain('registry', async () => {
  const a = parseArgs(process.argv.slice(2), {
    port: '0',
    firstId: '1',
    user: '',
    register: '',
    logRequests: 'false',
  });
  const preload = a.register.split(',').filter(Boolean).map((pair) => {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`--register wants SUBJECT=FILE, got ${pair}`);
    return { subject: pair.slice(0, eq), text: fs.readFileSync(pair.slice(eq + 1), 'utf8') };
  });
  return startRegistry({
    port: Number(a.port),
    firstId: Number(a.firstId),
    user: a.user,
    preload,
    logRequests: onOff(a.logRequests),
  });
});
