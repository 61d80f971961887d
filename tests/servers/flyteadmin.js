#!/usr/bin/env node
// FlyteAdmin REST test server. Prints its base URL as the first line of stdout.
//   node tests/servers/flyteadmin.js [--port 0] [--auth on|off]
//        [--domains development,staging,production] [--client-id wsflyte]
//        [--client-secret wsflyte-secret] [--token-ttl 3600] [--log-requests]
//        [--tls-cert FILE --tls-key FILE]   (serve HTTPS; the URL printed is https://)
import { parseArgs, onOff, runMain, tlsFromArgs } from './lib/http.js';
import { startFlyteAdmin } from './lib/flyte-app.js';

runMain('flyteadmin', async () => {
  const a = parseArgs(process.argv.slice(2), {
    port: '0',
    auth: 'off',
    domains: 'development,staging,production',
    clientId: 'wsflyte',
    clientSecret: 'wsflyte-secret',
    tokenTtl: '3600',
    logRequests: 'false',
    tlsCert: '',
    tlsKey: '',
  });
  return startFlyteAdmin({
    port: Number(a.port),
    auth: onOff(a.auth),
    domains: a.domains.split(',').map((d) => d.trim()).filter(Boolean),
    clientId: a.clientId,
    clientSecret: a.clientSecret,
    tokenTtl: Number(a.tokenTtl),
    logRequests: onOff(a.logRequests),
    tls: tlsFromArgs(a.tlsCert, a.tlsKey),
  });
});
