#!/usr/bin/env node
// Kubernetes API test server. Prints its base URL as the first line of stdout.
//   node tests/servers/kube.js [--port 0] [--termination-ms 1500] [--ack on|off]
//        [--token TOKEN] [--namespaces default,kube-system,flyte] [--log-requests]
//        [--tls-cert FILE --tls-key FILE]   (serve HTTPS; the URL printed is https://)
//        [--watch-history 10000] [--watch-bookmark-ms 1000]   (changes kept for watches; BOOKMARK interval)
import { parseArgs, onOff, runMain, tlsFromArgs } from './lib/http.js';
import { startKube } from './lib/kube-app.js';

runMain('kube', async () => {
  const a = parseArgs(process.argv.slice(2), {
    port: '0',
    terminationMs: '1500',
    ack: 'on',
    token: '',
    namespaces: 'default,kube-system,flyte',
    logRequests: 'false',
    tlsCert: '',
    tlsKey: '',
    watchHistory: '10000',
    watchBookmarkMs: '1000',
  });
  return startKube({
    port: Number(a.port),
    terminationMs: Number(a.terminationMs),
    ack: onOff(a.ack),
    token: a.token || null,
    namespaces: a.namespaces.split(',').map((n) => n.trim()).filter(Boolean),
    logRequests: onOff(a.logRequests),
    tls: tlsFromArgs(a.tlsCert, a.tlsKey),
    watchHistory: Number(a.watchHistory),
    watchBookmarkMs: Number(a.watchBookmarkMs),
  });
});
