// FlyteAdmin (Flyte 1.x, v1.16.5) REST semantics for projects, domains and
// project / project-domain matchable attributes, plus the built-in OAuth2 server.
import crypto from 'node:crypto';
import { createTestServer } from './http.js';
import {
  buildRoutes, matchRoute, buildRequest, marshalers, encode, type, enumType,
  GatewayError, HTTP_FROM_CODE, CODE_FROM_HTTP,
} from './flyte-proto.js';
import { isQualifiedName, isValidLabelValue, isDNS1123Label } from './k8s-names.js';

const VERSION = { Build: '82a2e123a3', Version: 'v1.16.5', BuildTime: '2026-03-31T00:00:00Z' };
const CLIENT_SCOPES = ['all', 'offline', 'access_token'];

const T = {
  Project: () => type('flyteidl.admin.Project'),
  MatchingAttributes: () => type('flyteidl.admin.MatchingAttributes'),
  InactiveProject: () => type('flyteidl.admin.InactiveProject'),
};

// matching_attributes oneof member -> MatchableResource, in the validator's order
const ATTR_TYPES = [
  ['task_resource_attributes', 'TASK_RESOURCE'],
  ['cluster_resource_attributes', 'CLUSTER_RESOURCE'],
  ['execution_queue_attributes', 'EXECUTION_QUEUE'],
  ['execution_cluster_label', 'EXECUTION_CLUSTER_LABEL'],
  ['plugin_overrides', 'PLUGIN_OVERRIDE'],
  ['workflow_execution_config', 'WORKFLOW_EXECUTION_CONFIG'],
  ['cluster_assignment', 'CLUSTER_ASSIGNMENT'],
];

const err = (code, message, details) => new GatewayError(code, message, details);
const missing = (name) => err(3, `missing ${name}`);

function resourceTypeName(n) {
  return enumType('flyteidl.admin.MatchableResource').valuesById[n] ?? String(n);
}

function goList(errs) {
  return `[${errs.join(' ')}]`;
}

function byteLen(s) {
  return Buffer.byteLength(s || '', 'utf8');
}

// project_validator.go ValidateProject
function validateProject(p) {
  if (!p.id) throw missing('project_id');
  const labels = p.labels && p.labels.values ? p.labels.values : {};
  const keys = Object.keys(labels);
  if (keys.length > 0) {
    if (keys.length > 16) throw err(3, 'labels map cannot exceed 16 entries');
    for (const k of keys.sort()) {
      const ke = isQualifiedName(k);
      if (ke.length) throw err(3, `invalid label key [${k}]: ${goList(ke)}`);
      const ve = isValidLabelValue(labels[k]);
      if (ve.length) throw err(3, `invalid label value [${labels[k]}]: ${goList(ve)}`);
    }
  }
  const ie = isDNS1123Label(p.id);
  if (ie.length) throw err(3, `invalid project id [${p.id}]: ${goList(ie)}`);
  if (byteLen(p.name) > 64) throw err(3, 'project_name cannot exceed 64 characters');
  if (byteLen(p.description) > 300) throw err(3, 'project_description cannot exceed 300 characters');
  if (p.domains && p.domains.length > 0) {
    throw err(3, 'Domains are currently only set system wide. Please retry without domains included in your request.');
  }
}

function matchableResource(ma, identifier) {
  if (!ma) throw missing('matching_attributes');
  for (const [field, rt] of ATTR_TYPES) {
    if (ma[field] !== undefined) return { field, rt: enumType('flyteidl.admin.MatchableResource').values[rt] };
  }
  throw err(3, `Unrecognized matching attributes type for request ${identifier}`);
}

// flyteadmin util/filters.go subset for the projects table
const FILTER_FIELDS = new Set(['identifier', 'name', 'description', 'state', 'created_at', 'updated_at']);
function parseFilters(s) {
  if (!s) return null;
  return s.split('+').map((expr) => {
    const m = /^([a-z_]+)\(([^,()]+),(.*)\)$/.exec(expr);
    if (!m) throw err(3, `invalid filter format: ${expr}`);
    const [, fn, field, value] = m;
    if (!['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'contains', 'not_like', 'value_in', 'value_not_in'].includes(fn)) {
      throw err(3, `unrecognized filter function: ${fn}`);
    }
    if (!FILTER_FIELDS.has(field)) throw err(3, `invalid filter field: ${field}`);
    return { fn, field, value };
  });
}

function filterValue(p, field) {
  switch (field) {
    case 'identifier':
      return p.id;
    case 'state':
      return p.state;
    case 'created_at':
      return p.created_at;
    case 'updated_at':
      return p.updated_at;
    default:
      return p[field] || '';
  }
}

function cmp(a, b) {
  if (typeof a === 'number') {
    const nb = Number(b);
    return a < nb ? -1 : a > nb ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function applyFilter(p, f) {
  const v = filterValue(p, f.field);
  switch (f.fn) {
    case 'eq':
      return cmp(v, f.value) === 0;
    case 'ne':
      return cmp(v, f.value) !== 0;
    case 'gt':
      return cmp(v, f.value) > 0;
    case 'gte':
      return cmp(v, f.value) >= 0;
    case 'lt':
      return cmp(v, f.value) < 0;
    case 'lte':
      return cmp(v, f.value) <= 0;
    case 'contains':
      return String(v).includes(f.value);
    case 'not_like':
      return !String(v).includes(f.value);
    case 'value_in':
      return f.value.split(';').some((x) => cmp(v, x) === 0);
    case 'value_not_in':
      return !f.value.split(';').some((x) => cmp(v, x) === 0);
    default:
      return false;
  }
}

export function createFlyteAdmin(opts = {}) {
  const cfg = {
    auth: !!opts.auth,
    domains: opts.domains || ['development', 'staging', 'production'],
    client_id: opts.clientId || 'wsflyte',
    client_secret: opts.clientSecret || 'wsflyte-secret',
    token_ttl: Number(opts.tokenTtl ?? 3600),
  };
  const routes = buildRoutes();
  let projects = new Map();
  let attrs = new Map(); // key project|domain|type -> {project, domain, resource_type, attributes}
  let tokens = new Map();
  let clock = 0;

  const attrKey = (p, d, rt) => `${p}|${d}|${rt}`;

  function projectOut(p) {
    return {
      id: p.id,
      name: p.name,
      domains: cfg.domains.map((d) => ({ id: d, name: d })),
      description: p.description,
      labels: p.labels ?? null,
      state: p.state,
      org: '',
    };
  }

  function getProjectOrNotFound(id) {
    const p = projects.get(id);
    if (!p) throw err(5, `project [${id}] not found`);
    return p;
  }

  function inactive(id) {
    return err(3, `project [${id}] is not active`, [
      { '@type': 'type.googleapis.com/flyteidl.admin.InactiveProject', id, org: '' },
    ]);
  }

  // ValidateProjectAndDomain
  function validateProjectAndDomain(id, domain) {
    const p = projects.get(id);
    if (!p) throw err(3, `failed to validate that project [${id}] is registered, err: [project [${id}] not found]`);
    if (p.state !== 0) throw inactive(id);
    if (!cfg.domains.includes(domain)) throw err(3, `domain [${domain}] is unrecognized by system`);
  }

  // ValidateProjectForUpdate
  function validateProjectForUpdate(id) {
    const p = projects.get(id);
    if (!p) throw err(3, `failed to validate that project [${id}] is registered, err: [project [${id}] not found]`);
    if (p.state !== 0) throw inactive(id);
  }

  function validateProjectExists(id) {
    if (!projects.has(id)) throw err(3, `failed to validate that project [${id}] exists, err: [project [${id}] not found]`);
  }

  function notFoundResource(p, d, rt) {
    return err(5, `Resource [{Project:${p} Domain:${d} Workflow: LaunchPlan: ResourceType:${resourceTypeName(rt)}}] not found`);
  }

  function storeAttributes(project, domain, field, rt, ma) {
    const key = attrKey(project, domain, rt);
    let value = { [field]: ma[field] };
    const prev = attrs.get(key);
    if (field === 'plugin_overrides' && prev) {
      // PLUGIN_OVERRIDE is merged per task_type
      const merged = new Map();
      for (const o of prev.attributes.plugin_overrides.overrides || []) merged.set(o.task_type || '', o);
      for (const o of ma.plugin_overrides.overrides || []) merged.set(o.task_type || '', o);
      value = { plugin_overrides: { overrides: [...merged.values()] } };
    }
    attrs.set(key, { project, domain, resource_type: rt, attributes: value });
  }

  const handlers = {
    RegisterProject(req) {
      const p = req.project;
      if (!p) throw missing('project');
      if (!p.name) throw missing('project_name');
      validateProject(p);
      if (projects.has(p.id)) {
        throw err(6, 'value with matching already exists (duplicate key value violates unique constraint "projects_pkey")');
      }
      const now = new Date(Date.now() + clock++).toISOString();
      projects.set(p.id, {
        id: p.id,
        name: p.name,
        description: p.description || '',
        labels: p.labels,
        state: p.state || 0,
        created_at: now,
        updated_at: now,
      });
      return {};
    },
    UpdateProject(req, ctx, log) {
      const cur = getProjectOrNotFound(req.id);
      validateProject(req);
      if (req.state === undefined) {
        log.missing_state = true;
        if (cur.state !== 0) log.unarchived_by_missing_state = true;
      }
      if (req.name) cur.name = req.name;
      if (req.description) cur.description = req.description;
      if (req.labels) cur.labels = req.labels;
      cur.state = req.state || 0;
      cur.updated_at = new Date(Date.now() + clock++).toISOString();
      return {};
    },
    GetProject(req) {
      if (!req.id) throw missing('project_id');
      return projectOut(getProjectOrNotFound(req.id));
    },
    ListProjects(req) {
      const filters = parseFilters(req.filters);
      let list = [...projects.values()];
      if (filters) list = list.filter((p) => filters.every((f) => applyFilter(p, f)));
      else list = list.filter((p) => p.state !== 1);
      if (req.sort_by) {
        const key = req.sort_by.key || '';
        if (!FILTER_FIELDS.has(key)) throw err(3, `invalid sort key '${key}'`);
        const dir = (req.sort_by.direction || 0) === 1 ? 1 : -1;
        list.sort((a, b) => dir * cmp(filterValue(a, key), filterValue(b, key)));
      } else {
        list.sort((a, b) => cmp(a.id, b.id));
      }
      let offset = 0;
      if (req.token) {
        if (!/^\d+$/.test(req.token)) throw err(3, `invalid pagination token ${req.token}`);
        offset = Number(req.token);
      }
      const limit = req.limit || 0;
      const page = limit > 0 ? list.slice(offset, offset + limit) : list.slice(offset);
      const token = page.length === limit ? String(offset + limit) : '';
      return { projects: page.map(projectOut), token };
    },
    GetDomains() {
      return { domains: cfg.domains.map((d) => ({ id: d, name: d })) };
    },
    UpdateProjectDomainAttributes(req) {
      const a = req.attributes;
      if (!a) throw missing('attributes');
      validateProjectAndDomain(a.project || '', a.domain || '');
      const { field, rt } = matchableResource(a.matching_attributes, `${a.project}-${a.domain}`);
      storeAttributes(a.project, a.domain, field, rt, a.matching_attributes);
      return {};
    },
    GetProjectDomainAttributes(req) {
      const p = req.project || '';
      const d = req.domain || '';
      validateProjectAndDomain(p, d);
      const rt = req.resource_type || 0;
      const row = attrs.get(attrKey(p, d, rt)) || attrs.get(attrKey(p, '', rt));
      if (!row) throw notFoundResource(p, d, rt);
      return { attributes: { project: row.project, domain: row.domain, matching_attributes: row.attributes, org: '' } };
    },
    DeleteProjectDomainAttributes(req) {
      const p = req.project || '';
      const d = req.domain || '';
      validateProjectAndDomain(p, d);
      attrs.delete(attrKey(p, d, req.resource_type || 0));
      return {};
    },
    // resource_manager.go ListAll: every row of the type (any project, domain,
    // workflow or launch plan level), most specific first (priority desc), in one
    // answer without pagination.
    ListMatchableAttributes(req) {
      const rt = req.resource_type || 0;
      if (enumType('flyteidl.admin.MatchableResource').valuesById[rt] === undefined) {
        throw err(3, 'invalid value for resource_type');
      }
      const priority = (r) => (r.domain ? 2 : 1);
      const rows = [...attrs.values()]
        .filter((r) => r.resource_type === rt && (!req.org || req.org === ''))
        .sort((a, b) => priority(b) - priority(a) || cmp(`${a.project}|${a.domain}`, `${b.project}|${b.domain}`));
      return {
        configurations: rows.map((r) => ({
          attributes: r.attributes, domain: r.domain, project: r.project, workflow: '', launch_plan: '', org: '',
        })),
      };
    },
    UpdateProjectAttributes(req) {
      const a = req.attributes;
      if (!a) throw missing('attributes');
      validateProjectForUpdate(a.project || '');
      const { field, rt } = matchableResource(a.matching_attributes, a.project);
      storeAttributes(a.project, '', field, rt, a.matching_attributes);
      return {};
    },
    GetProjectAttributes(req) {
      const p = req.project || '';
      validateProjectExists(p);
      const rt = req.resource_type || 0;
      const row = attrs.get(attrKey(p, '', rt));
      if (resourceTypeName(rt) === 'WORKFLOW_EXECUTION_CONFIG') {
        // the server's own defaults are merged in, even with nothing stored
        const wec = { ...(row ? row.attributes.workflow_execution_config : {}) };
        if (!wec.max_parallelism) wec.max_parallelism = 25;
        return { attributes: { project: p, matching_attributes: { workflow_execution_config: wec }, org: '' } };
      }
      if (!row) throw notFoundResource(p, '', rt);
      return { attributes: { project: p, matching_attributes: row.attributes, org: '' } };
    },
    DeleteProjectAttributes(req) {
      const p = req.project || '';
      validateProjectForUpdate(p);
      const rt = req.resource_type || 0;
      // the repository deletes by a struct with empty fields dropped: every domain's row of this type
      for (const [k, row] of attrs) if (row.project === p && row.resource_type === rt) attrs.delete(k);
      return {};
    },
    GetVersion() {
      return { control_plane_version: { ...VERSION } };
    },
    GetOAuth2Metadata(req, ctx) {
      if (!cfg.auth) throw err(12, 'unknown service flyteidl.service.AuthMetadataService');
      const base = `${ctx.req.socket.encrypted ? 'https' : 'http'}://${ctx.headers.host}`;
      return {
        issuer: base,
        authorization_endpoint: `${base}/oauth2/authorize`,
        token_endpoint: `${base}/oauth2/token`,
        response_types_supported: ['code', 'token', 'code token'],
        scopes_supported: ['all'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
        jwks_uri: `${base}/oauth2/jwks`,
        code_challenge_methods_supported: ['S256'],
        grant_types_supported: ['client_credentials', 'refresh_token', 'authorization_code'],
      };
    },
    GetPublicClientConfig() {
      if (!cfg.auth) throw err(12, 'unknown service flyteidl.service.AuthMetadataService');
      return {
        client_id: 'flytectl',
        redirect_uri: 'http://localhost:53593/callback',
        scopes: ['all', 'offline'],
        authorization_metadata_key: 'flyte-authorization',
        service_http_endpoint: '',
        audience: '',
      };
    },
    UserInfo(req, ctx, log, identity) {
      if (!cfg.auth) throw err(12, 'unknown service flyteidl.service.IdentityService');
      return { subject: identity.client_id, name: '', preferred_username: '', given_name: '', family_name: '', email: '', picture: '' };
    },
  };

  const NO_AUTH_RPCS = new Set(['GetOAuth2Metadata', 'GetPublicClientConfig']);

  function authenticate(ctx) {
    const h = ctx.headers.authorization || ctx.headers['flyte-authorization'];
    const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
    if (!m) {
      throw err(16, 'token parse error [JWT_VERIFICATION_FAILED] Could not retrieve bearer token from metadata, caused by: Request unauthenticated with Bearer');
    }
    const t = tokens.get(m[1]);
    if (!t) throw err(16, 'token parse error [JWT_VERIFICATION_FAILED] Could not verify the access token, caused by: token is unrecognized, expired or revoked');
    if (t.expires_at <= Date.now()) {
      tokens.delete(m[1]);
      throw err(16, 'token parse error [JWT_VERIFICATION_FAILED] Could not verify the access token, caused by: token is expired');
    }
    if (!t.scopes.includes('all')) throw err(16, "authenticated user doesn't have required scope");
    return t;
  }

  function errorResult(e) {
    const status = HTTP_FROM_CODE[e.code] || 500;
    const headers = { 'Content-Type': 'application/json' };
    if (e.code === 16) headers['WWW-Authenticate'] = e.message;
    return { status, headers, body: { code: e.code, message: e.message, details: e.details || [] } };
  }

  function tokenEndpoint(ctx) {
    const json = (status, body, extra = {}) => ({
      status,
      headers: { 'Content-Type': 'application/json;charset=UTF-8', 'Cache-Control': 'no-store', Pragma: 'no-cache', ...extra },
      body,
    });
    if (ctx.method !== 'POST') {
      return json(400, { error: 'invalid_request', error_description: `The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. HTTP method is "${ctx.method}", expected "POST".` });
    }
    const ct = (ctx.headers['content-type'] || '').split(';')[0].trim();
    if (ct !== 'application/x-www-form-urlencoded') {
      return json(400, { error: 'invalid_request', error_description: 'The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. Unable to parse HTTP body, make sure to send a properly formatted form request body.' });
    }
    const form = new URLSearchParams(ctx.body.toString('utf8'));
    const invalidClient = () => json(401, { error: 'invalid_client', error_description: 'Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).' }, { 'WWW-Authenticate': 'Basic realm="flyte"' });
    const h = ctx.headers.authorization || '';
    const bm = /^Basic\s+(\S+)$/i.exec(h);
    if (!bm) return invalidClient();
    const decoded = Buffer.from(bm[1], 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return invalidClient();
    let id;
    let secret;
    try {
      id = decodeURIComponent(decoded.slice(0, i).replace(/\+/g, ' '));
      secret = decodeURIComponent(decoded.slice(i + 1).replace(/\+/g, ' '));
    } catch {
      return invalidClient();
    }
    if (id !== cfg.client_id || secret !== cfg.client_secret) return invalidClient();
    const grant = form.get('grant_type');
    if (grant !== 'client_credentials') {
      return json(400, { error: 'unsupported_grant_type', error_description: 'The authorization grant type is not supported by the authorization server.' });
    }
    const scopes = (form.get('scope') || '').split(' ').filter(Boolean);
    for (const s of scopes) {
      if (!CLIENT_SCOPES.includes(s)) {
        return json(400, { error: 'invalid_scope', error_description: `The requested scope is invalid, unknown, or malformed. The OAuth 2.0 Client is not allowed to request scope '${s}'.` });
      }
    }
    const token = crypto.randomBytes(24).toString('base64url');
    tokens.set(token, { client_id: id, scopes, expires_at: Date.now() + cfg.token_ttl * 1000 });
    return json(200, { access_token: token, expires_in: cfg.token_ttl, scope: scopes.join(' '), token_type: 'bearer' });
  }

  async function handle(ctx) {
    const { inboundStrict, outboundSnake } = marshalers(ctx.headers);
    const log = {};
    if (ctx.path === '/healthcheck' && ctx.method === 'GET') return { status: 200, body: '' };
    if (ctx.path === '/oauth2/token' && cfg.auth) {
      const r = tokenEndpoint(ctx);
      return r;
    }
    const { route, params, methodNotAllowed } = matchRoute(routes, ctx.method, ctx.rawPath);
    if (!route) {
      const e = methodNotAllowed ? err(12, 'Method Not Allowed') : err(5, 'Not Found');
      return errorResult(e);
    }
    log.rpc = route.rpc;
    try {
      const req = buildRequest(route, params, ctx, inboundStrict);
      let identity = null;
      if (cfg.auth && !NO_AUTH_RPCS.has(route.rpc)) identity = authenticate(ctx);
      const h = handlers[route.rpc];
      if (!h) throw err(12, `method ${route.rpc} not implemented`);
      const resp = h(req, ctx, log, identity);
      return {
        status: 200,
        headers: { 'Content-Type': 'application/json' },
        body: encode(route.responseType, resp, outboundSnake),
        log,
      };
    } catch (e) {
      if (!(e instanceof GatewayError)) throw e;
      const r = errorResult(e);
      r.log = log;
      return r;
    }
  }

  function faultResponse(rule) {
    const code = CODE_FROM_HTTP[rule.status] ?? 2;
    const messages = {
      14: 'connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:8089: connect: connection refused"',
      4: 'context deadline exceeded',
      13: 'transport is closing',
      8: 'resource exhausted',
    };
    return {
      status: rule.status,
      headers: { 'Content-Type': 'application/json' },
      body: { code, message: messages[code] || `injected ${rule.status}`, details: [] },
    };
  }

  function state() {
    const P = T.Project();
    const MA = T.MatchingAttributes();
    const ps = [...projects.values()].sort((a, b) => cmp(a.id, b.id)).map((p) => encode(P, projectOut(p), true));
    const as = [...attrs.values()]
      .sort((a, b) => cmp(`${a.project}|${a.domain}|${a.resource_type}`, `${b.project}|${b.domain}|${b.resource_type}`))
      .map((r) => ({ project: r.project, domain: r.domain, resource_type: resourceTypeName(r.resource_type), attributes: encode(MA, r.attributes, true) }));
    return { projects: ps, attributes: as };
  }

  function config() {
    return { auth: cfg.auth, domains: cfg.domains, client_id: cfg.client_id, token_ttl: cfg.token_ttl, active_tokens: tokens.size };
  }

  function configure(body) {
    const known = ['auth', 'revoke_tokens', 'token_ttl', 'client_id', 'client_secret'];
    for (const k of Object.keys(body)) if (!known.includes(k)) throw new Error(`unknown config key: ${k}`);
    if (body.auth !== undefined) cfg.auth = body.auth === true || body.auth === 'on';
    if (body.token_ttl !== undefined) cfg.token_ttl = Number(body.token_ttl);
    if (body.client_id !== undefined) cfg.client_id = String(body.client_id);
    if (body.client_secret !== undefined) cfg.client_secret = String(body.client_secret);
    if (body.revoke_tokens) tokens = new Map();
    return config();
  }

  const initial = { ...cfg };
  function reset() {
    projects = new Map();
    attrs = new Map();
    tokens = new Map();
    Object.assign(cfg, initial);
  }

  return { name: 'flyteadmin', handle, faultResponse, state, config, configure, reset };
}

export async function startFlyteAdmin(opts = {}) {
  const app = createFlyteAdmin(opts);
  const srv = createTestServer(app, { logRequests: !!opts.logRequests, tls: opts.tls ?? null });
  const url = await srv.listen(opts.port ?? 0);
  return { url, app, close: () => srv.close(), down: () => srv.down(), up: () => srv.up() };
}
