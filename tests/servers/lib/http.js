// Shared HTTP plumbing for the test servers: keep-alive server, request log,
// fault injection and the /_test/ control API.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import readline from 'node:readline';

export const CONTROL_PREFIX = '/_test/';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Parses "--name value" / "--name=value" arguments into an object.
export function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument: ${a}`);
    a = a.slice(2);
    let v;
    const eq = a.indexOf('=');
    if (eq >= 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      v = argv[++i];
    } else {
      v = 'true';
    }
    const key = a.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in defaults)) throw new Error(`unknown flag: --${a}`);
    out[key] = v;
  }
  return out;
}

export function onOff(v) {
  if (v === true || v === 'on' || v === 'true' || v === '1' || v === 'yes') return true;
  if (v === false || v === 'off' || v === 'false' || v === '0' || v === 'no') return false;
  throw new Error(`expected on|off, got ${v}`);
}

function queryObject(searchParams) {
  const q = {};
  for (const [k, v] of searchParams) {
    if (k in q) q[k] = [].concat(q[k], v);
    else q[k] = v;
  }
  return q;
}

function logBody(buf, contentType) {
  if (!buf.length) return null;
  const text = buf.toString('utf8');
  if (contentType && /form-urlencoded/.test(contentType)) {
    // token requests: keep the grant parameters, never secrets
    const p = new URLSearchParams(text);
    const o = {};
    for (const [k, v] of p) o[k] = /secret|password|assertion/i.test(k) ? '<redacted>' : v;
    return o;
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function pathMatcher(spec) {
  if (spec === undefined || spec === null || spec === '') return () => true;
  let re = null;
  try {
    re = new RegExp(spec);
  } catch {
    re = null;
  }
  return (p) => p.startsWith(spec) || (re !== null && re.test(p));
}

// A fault rule as posted to /_test/faults.
function makeFault(id, spec) {
  const allowed = ['path', 'method', 'status', 'count', 'latency_ms', 'retry_after', 'reset', 'hang', 'body'];
  for (const k of Object.keys(spec)) {
    if (!allowed.includes(k)) throw new Error(`unknown fault field: ${k}`);
  }
  if (spec.status !== undefined && !(Number.isInteger(spec.status) && spec.status >= 100 && spec.status <= 599)) {
    throw new Error('status must be an HTTP status code');
  }
  const count = spec.count === undefined ? -1 : Number(spec.count);
  if (!Number.isInteger(count) || count < -1) throw new Error('count must be an integer >= -1');
  return {
    id,
    path: spec.path ?? null,
    method: spec.method ? String(spec.method).toUpperCase() : null,
    status: spec.status ?? null,
    remaining: count,
    latency_ms: Number(spec.latency_ms || 0),
    retry_after: spec.retry_after ?? null,
    reset: !!spec.reset,
    hang: !!spec.hang,
    body: spec.body ?? null,
    hits: 0,
    match: pathMatcher(spec.path),
  };
}

function publicFault(f) {
  const { match, ...rest } = f;
  return rest;
}

export function sendJson(res, status, obj, headers = {}) {
  const body = obj === undefined ? '' : JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function sendResult(res, r) {
  // A stream (a watch): the headers now, the body as it comes, chunked.
  if (r.stream) {
    res.writeHead(r.status, { ...(r.headers || {}), 'Transfer-Encoding': 'chunked' });
    res.flushHeaders(); // the client learns at once that its watch is open
    r.stream(res);
    return;
  }
  let body = r.body;
  const headers = { ...(r.headers || {}) };
  if (body === undefined || body === null) body = '';
  else if (typeof body !== 'string' && !Buffer.isBuffer(body)) {
    body = JSON.stringify(body);
    if (!headers['Content-Type']) headers['Content-Type'] = 'application/json';
  }
  headers['Content-Length'] = Buffer.byteLength(body);
  res.writeHead(r.status, headers);
  res.end(body);
}

/**
 * Creates a test server.
 * app: {
 *   name,
 *   handle(ctx) -> Promise<{status, headers?, body?, log?}>   API requests
 *   faultResponse(rule, ctx) -> {status, headers, body}        body for a faulted status
 *   state() -> object, reset(), configure(obj) -> object, config() -> object
 * }
 */
export function createTestServer(app, { maxLog = 200000, logRequests = false, tls = null } = {}) {
  let requestLog = [];
  let seq = 0;
  let faults = [];
  let faultSeq = 0;
  const sockets = new Set();

  async function applyFaults(ctx, res) {
    for (const f of faults) {
      if (f.remaining === 0) continue;
      if (f.method && f.method !== ctx.method) continue;
      if (!f.match(ctx.path)) continue;
      if (f.remaining > 0) f.remaining--;
      f.hits++;
      if (f.latency_ms > 0) await sleep(f.latency_ms);
      if (f.reset) {
        ctx.entry.status = 'reset';
        ctx.entry.fault = f.id;
        ctx.req.socket.destroy();
        return true;
      }
      if (f.hang) {
        ctx.entry.status = 'hang';
        ctx.entry.fault = f.id;
        return true;
      }
      if (f.status) {
        const r = f.body !== null
          ? { status: f.status, headers: { 'Content-Type': 'application/json' }, body: String(f.body) }
          : app.faultResponse(f, ctx);
        r.headers = r.headers || {};
        if (f.retry_after !== null) r.headers['Retry-After'] = String(f.retry_after);
        ctx.entry.status = r.status;
        ctx.entry.fault = f.id;
        sendResult(res, r);
        return true;
      }
      // latency-only rule: continue with the next rules / the real handler
    }
    return false;
  }

  async function control(ctx, res) {
    const { method, path } = ctx;
    const rest = path.slice(CONTROL_PREFIX.length);
    const bodyJson = () => {
      if (!ctx.body.length) return {};
      return JSON.parse(ctx.body.toString('utf8'));
    };
    try {
      if (rest === 'state' && method === 'GET') return sendJson(res, 200, app.state());
      if (rest === 'requests' && method === 'GET') return sendJson(res, 200, requestLog);
      if (rest === 'requests' && method === 'DELETE') {
        requestLog = [];
        return sendJson(res, 200, {});
      }
      if (rest === 'faults' && method === 'GET') return sendJson(res, 200, faults.map(publicFault));
      if (rest === 'faults' && method === 'POST') {
        const f = makeFault(++faultSeq, bodyJson());
        faults.push(f);
        return sendJson(res, 200, { id: f.id });
      }
      if (rest === 'faults' && method === 'DELETE') {
        faults = [];
        return sendJson(res, 200, {});
      }
      const m = /^faults\/(\d+)$/.exec(rest);
      if (m && method === 'DELETE') {
        const id = Number(m[1]);
        const before = faults.length;
        faults = faults.filter((f) => f.id !== id);
        return sendJson(res, before === faults.length ? 404 : 200, before === faults.length ? { error: `no fault ${id}` } : {});
      }
      if (rest === 'reset' && method === 'POST') {
        faults = [];
        requestLog = [];
        app.reset();
        return sendJson(res, 200, {});
      }
      if (rest === 'config' && method === 'GET') return sendJson(res, 200, app.config());
      if (rest === 'config' && method === 'POST') return sendJson(res, 200, app.configure(bodyJson()));
      const own = app.control ? app.control(method, rest, bodyJson()) : null;
      if (own) return sendJson(res, 200, own);
      return sendJson(res, 404, { error: `unknown control route ${method} ${path}` });
    } catch (e) {
      return sendJson(res, 400, { error: e.message });
    }
  }

  async function onRequest(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url, 'http://x');
    const ctx = {
      req,
      method: req.method,
      path: url.pathname,
      rawPath: req.url.split('?')[0],
      rawQuery: req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '',
      query: url.searchParams,
      headers: req.headers,
      body,
    };
    if (ctx.path.startsWith(CONTROL_PREFIX)) return control(ctx, res);

    const start = Date.now();
    const auth = req.headers.authorization;
    const entry = {
      seq: ++seq,
      time: new Date(start).toISOString(),
      // Which connection carried it (the client's port): what a client
      // keeps per connection, such as a credential, shows per connection.
      connection: req.socket?.remotePort ?? null,
      method: req.method,
      path: ctx.path,
      query: queryObject(url.searchParams),
      headers: {
        accept: req.headers.accept ?? null,
        content_type: req.headers['content-type'] ?? null,
        authorization: auth !== undefined,
        auth_scheme: auth !== undefined ? auth.split(' ')[0] : null,
        request_id: req.headers['x-request-id'] ?? null,
      },
      body: logBody(body, req.headers['content-type']),
      status: null,
    };
    ctx.entry = entry;
    requestLog.push(entry);
    if (requestLog.length > maxLog) requestLog.splice(0, requestLog.length - maxLog);

    try {
      if (await applyFaults(ctx, res)) return;
      const r = await app.handle(ctx);
      entry.status = r.status;
      if (r.log) Object.assign(entry, r.log);
      sendResult(res, r);
    } catch (e) {
      process.stderr.write(`${app.name}: internal error on ${req.method} ${req.url}: ${e.stack}\n`);
      entry.status = 500;
      entry.error = String(e.message);
      if (!res.headersSent) sendResult(res, { status: 500, body: { error: e.message } });
    } finally {
      entry.duration_ms = Date.now() - start;
      if (logRequests) process.stderr.write(`${app.name}: ${req.method} ${req.url} -> ${entry.status}\n`);
    }
  }

  const handler = (req, res) => {
    onRequest(req, res).catch((e) => {
      process.stderr.write(`${app.name}: ${e.stack}\n`);
      try {
        res.destroy();
      } catch {
        /* ignore */
      }
    });
  };
  // tls: {cert, key} (PEM strings or Buffers) serves HTTPS instead of HTTP.
  const server = tls
    ? https.createServer({ keepAlive: true, cert: tls.cert, key: tls.key }, handler)
    : http.createServer({ keepAlive: true }, handler);
  server.keepAliveTimeout = 120000;
  server.headersTimeout = 125000;
  server.requestTimeout = 0;
  server.on('connection', (s) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  let bound = null; // {port, host} of the last listen, for listening again after close
  async function listen(port = 0, host = '127.0.0.1') {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(port), host, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    bound = { port: server.address().port, host };
    return `${tls ? 'https' : 'http'}://${host}:${bound.port}`;
  }
  async function close() {
    if (!server.listening) return;
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(() => r()));
  }

  return {
    server,
    listen,
    close,
    // An unreachable server that keeps its state: connections are cut and
    // refused until up() listens again on the same address.
    down: close,
    async up() {
      if (!bound) throw new Error('never listened');
      if (server.listening) return `${tls ? 'https' : 'http'}://${bound.host}:${bound.port}`;
      return listen(bound.port, bound.host);
    },
  };
}

// Reads --tls-cert / --tls-key into {cert, key}, or null when neither is given.
export function tlsFromArgs(certFile, keyFile) {
  if (!certFile && !keyFile) return null;
  if (!certFile || !keyFile) throw new Error('--tls-cert and --tls-key go together');
  return { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) };
}

// Standard CLI wrapper: listen, print the URL as the first stdout line, stop on signals.
// Lines on stdin control the listener: "down" cuts every connection and stops
// listening (the server becomes unreachable, its state kept), "up" listens
// again on the same address; each is answered on stdout ("down", "up URL",
// or "error MESSAGE").
export async function runMain(name, start) {
  try {
    const srv = await start();
    process.stdout.write(`${srv.url}\n`);
    process.stderr.write(`${name}: listening on ${srv.url}\n`);
    if (srv.down && srv.up) stdinControl(name, srv);
    const stop = async (sig) => {
      process.stderr.write(`${name}: ${sig}, shutting down\n`);
      await srv.close();
      process.exit(0);
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  } catch (e) {
    process.stderr.write(`${name}: ${e.message}\n`);
    process.exit(2);
  }
}

// Reads "down" / "up" lines from stdin, one at a time (see runMain).
function stdinControl(name, srv) {
  let chain = Promise.resolve();
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const cmd = line.trim();
    if (!cmd) return;
    chain = chain.then(async () => {
      try {
        if (cmd === 'down') {
          await srv.down();
          process.stderr.write(`${name}: down (not listening)\n`);
          process.stdout.write('down\n');
        } else if (cmd === 'up') {
          const url = await srv.up();
          process.stderr.write(`${name}: up, listening on ${url}\n`);
          process.stdout.write(`up ${url}\n`);
        } else {
          process.stdout.write(`error unknown command: ${cmd}\n`);
        }
      } catch (e) {
        process.stdout.write(`error ${e.message}\n`);
      }
    });
  });
  rl.on('error', () => {}); // stdin closed or absent: nothing to control
}
