// A Confluent-compatible Schema Registry for the end-to-end tests: the
// routes wsflyte and its tools use, Confluent's error bodies and content
// type, global schema ids shared by equal schemas, optional basic auth.
// Every schema text it receives must be a valid Avro schema (42201).
import { createTestServer } from './http.js';
import { parseSchema, canonical } from './avro.js';

const CT = 'application/vnd.schemaregistry.v1+json';

function answer(status, body) {
  return { status, headers: { 'Content-Type': CT }, body };
}

function error(status, code, message) {
  return answer(status, { error_code: code, message });
}

// opts: {firstId, user ('name:password' or ''), preload: [{subject, text}]}
export function createRegistryApp({ firstId = 1, user = '', preload = [] } = {}) {
  let schemas; // id -> {text, canon}
  let subjects; // subject -> [id by version - 1]
  let nextId;

  function reset() {
    schemas = new Map();
    subjects = new Map();
    nextId = firstId;
    for (const p of preload) register(p.subject, p.text);
  }

  // Returns {id, version} or throws (invalid schema).
  function register(subject, text) {
    const canon = canonical(parseSchema(text));
    let id = [...schemas].find(([, s]) => s.canon === canon)?.[0];
    if (id === undefined) {
      id = nextId++;
      schemas.set(id, { text, canon });
    }
    const versions = subjects.get(subject) || [];
    let at = versions.indexOf(id);
    if (at < 0) {
      versions.push(id);
      at = versions.length - 1;
      subjects.set(subject, versions);
    }
    return { id, version: at + 1 };
  }

  function schemaOf(ctx) {
    let body;
    try {
      body = JSON.parse(ctx.body.toString('utf8'));
    } catch (e) {
      return { err: error(400, 400, `Unexpected character in the request body: ${e.message}`) };
    }
    if (typeof body?.schema !== 'string') return { err: error(422, 422, 'Unrecognized request: "schema" must be a string') };
    if (body.schemaType !== undefined && body.schemaType !== 'AVRO') return { err: error(422, 42201, `unsupported schemaType ${body.schemaType}`) };
    try {
      return { text: body.schema, canon: canonical(parseSchema(body.schema)) };
    } catch (e) {
      return { err: error(422, 42201, `Invalid schema: ${e.message}`) };
    }
  }

  function authorized(ctx) {
    if (!user) return true;
    const h = ctx.headers.authorization || '';
    return h === `Basic ${Buffer.from(user).toString('base64')}`;
  }

  const routes = [
    ['GET', /^\/subjects$/, () => answer(200, [...subjects.keys()])],
    ['GET', /^\/schemas\/ids\/(\d+)$/, (ctx, m) => {
      const s = schemas.get(Number(m[1]));
      return s ? answer(200, { schema: s.text }) : error(404, 40403, `Schema ${m[1]} not found`);
    }],
    ['GET', /^\/subjects\/([^/]+)\/versions$/, (ctx, m) => {
      const v = subjects.get(decodeURIComponent(m[1]));
      return v ? answer(200, v.map((_, i) => i + 1)) : error(404, 40401, `Subject '${decodeURIComponent(m[1])}' not found.`);
    }],
    ['GET', /^\/subjects\/([^/]+)\/versions\/(latest|\d+)$/, (ctx, m) => {
      const subject = decodeURIComponent(m[1]);
      const v = subjects.get(subject);
      if (!v) return error(404, 40401, `Subject '${subject}' not found.`);
      const version = m[2] === 'latest' ? v.length : Number(m[2]);
      if (version < 1 || version > v.length) return error(404, 40402, `Version ${m[2]} not found.`);
      const id = v[version - 1];
      return answer(200, { subject, version, id, schema: schemas.get(id).text });
    }],
    ['POST', /^\/subjects\/([^/]+)\/versions$/, (ctx, m) => {
      const s = schemaOf(ctx);
      if (s.err) return s.err;
      const { id } = register(decodeURIComponent(m[1]), s.text);
      return answer(200, { id });
    }],
    ['POST', /^\/subjects\/([^/]+)$/, (ctx, m) => {
      const subject = decodeURIComponent(m[1]);
      const s = schemaOf(ctx);
      if (s.err) return s.err;
      const v = subjects.get(subject);
      if (!v) return error(404, 40401, `Subject '${subject}' not found.`);
      const at = v.findIndex((id) => schemas.get(id).canon === s.canon);
      if (at < 0) return error(404, 40403, 'Schema not found');
      return answer(200, { subject, version: at + 1, id: v[at], schema: schemas.get(v[at]).text });
    }],
  ];

  reset();
  return {
    name: 'registry',
    async handle(ctx) {
      if (!authorized(ctx)) return error(401, 401, 'Unauthorized');
      for (const [method, re, fn] of routes) {
        const m = re.exec(ctx.rawPath);
        if (m && method === ctx.method) return fn(ctx, m);
      }
      return error(404, 404, 'HTTP 404 Not Found');
    },
    faultResponse(rule) {
      return error(rule.status, rule.status * 100 + 1, `fault injected: HTTP ${rule.status}`);
    },
    state() {
      return {
        subjects: Object.fromEntries([...subjects].map(([k, v]) => [k, v])),
        schemas: Object.fromEntries([...schemas].map(([id, s]) => [id, s.text])),
      };
    },
    reset,
    config() {
      return { firstId, user: user ? '<set>' : '' };
    },
    configure() {
      throw new Error('nothing to configure');
    },
  };
}

export async function startRegistry({ port = 0, logRequests = false, ...opts } = {}) {
  const app = createRegistryApp(opts);
  const srv = createTestServer(app, { logRequests });
  const url = await srv.listen(port);
  return { url, app, close: () => srv.close(), down: () => srv.down(), up: () => srv.up() };
}
