// Kubernetes API server semantics for the kinds wsflyte provisions.
import crypto from 'node:crypto';
import YAML from 'yaml';
import { createTestServer } from './http.js';
import { modelSchema, ACK_SCHEMAS, loadValidator, deref } from './k8s-schema.js';
import {
  structuralCheck, dropPaths, quantityErrors, validateObject, modelFieldErrors, aggregate, errorBody,
  notSupported, invalid, required, tooLong, forbidden,
} from './k8s-validate.js';
import { canonicalQuantity } from './quantity.js';
import {
  apply as ssaApply, recordUpdate, normalize, clone, deepEqual, managedFieldsJson, conflictStatus, sameEntries,
} from './ssa.js';
import { parseSelector, matches } from './k8s-selector.js';
import { createWatchHub } from './kube-watch.js';

const RBAC = 'rbac.authorization.k8s.io';
const ACK = 'iam.services.k8s.aws';

const RESOURCES = [
  { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false, model: 'v1/Namespace', hasStatus: true },
  { group: '', version: 'v1', resource: 'resourcequotas', kind: 'ResourceQuota', namespaced: true, model: 'v1/ResourceQuota', hasStatus: true },
  { group: '', version: 'v1', resource: 'limitranges', kind: 'LimitRange', namespaced: true, model: 'v1/LimitRange' },
  { group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, model: 'v1/ServiceAccount' },
  { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true, model: 'v1/ConfigMap' },
  { group: 'networking.k8s.io', version: 'v1', resource: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true, model: 'networking.k8s.io/v1/NetworkPolicy', generation: true },
  { group: RBAC, version: 'v1', resource: 'roles', kind: 'Role', namespaced: true, model: `${RBAC}/v1/Role` },
  { group: RBAC, version: 'v1', resource: 'rolebindings', kind: 'RoleBinding', namespaced: true, model: `${RBAC}/v1/RoleBinding` },
  { group: ACK, version: 'v1alpha1', resource: 'roles', kind: 'Role', namespaced: true, ack: true, hasStatus: true, generation: true },
  { group: ACK, version: 'v1alpha1', resource: 'policies', kind: 'Policy', namespaced: true, ack: true, hasStatus: true, generation: true },
];
for (const r of RESOURCES) {
  r.apiVersion = r.group ? `${r.group}/${r.version}` : r.version;
  r.qualified = r.group ? `${r.resource}.${r.group}` : r.resource; // for NotFound & co.
  r.qualifiedKind = r.group ? `${r.kind}.${r.group}` : r.kind; // for Invalid
  r.gvk = `${r.group}/${r.version}, Kind=${r.kind}`;
  if (r.ack) {
    r.schema = ACK_SCHEMAS[r.kind].schema;
    r.ackRequired = ACK_SCHEMAS[r.kind].required;
  } else {
    r.schema = modelSchema(r.model);
  }
}

const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);
const ROOT_CA = '-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhrM3Mtc2Vy\ndmVyLWNhQDE3MDAwMDAwMDAwHhcNMjQwMTAxMDAwMDAwWhcNMzQwMTAxMDAwMDAw\n-----END CERTIFICATE-----\n';
const ROOT_CA_DESCRIPTION = 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';
const FLOW_SCHEMA_UID = '1f3e6c3a-5d0b-4b8e-9a57-0c1e2f3a4b5c';
const PRIORITY_LEVEL_UID = '7a9c2d4e-8b1f-4c3d-a6e5-9f0b1c2d3e4f';

const nowIso = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

class HttpError extends Error {
  constructor(result) {
    super(result.body && result.body.message ? result.body.message : 'error');
    this.result = result;
  }
}

// ---- Status bodies (k8s.io/apimachinery/pkg/api/errors) -----------------------------

function details(d) {
  if (!d) return undefined;
  const out = {};
  for (const k of ['name', 'group', 'kind', 'uid', 'causes', 'retryAfterSeconds']) {
    if (d[k] !== undefined && d[k] !== '' && !(Array.isArray(d[k]) && d[k].length === 0)) out[k] = d[k];
  }
  return out;
}

export function statusBody(code, reason, message, det) {
  const body = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message };
  if (reason) body.reason = reason;
  if (det !== undefined) body.details = details(det);
  body.code = code;
  return body;
}

const fail = (code, reason, message, det) => new HttpError({ status: code, body: statusBody(code, reason, message, det) });
const notFound = (res, name) => fail(404, 'NotFound', `${res.qualified} "${name}" not found`, { name, group: res.group, kind: res.resource });
const nsNotFound = (ns) => fail(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' });
const pathNotFound = () => fail(404, 'NotFound', 'the server could not find the requested resource', {});
const badRequest = (message) => fail(400, 'BadRequest', message);
const conflict = (res, name, msg) => fail(409, 'Conflict', `Operation cannot be fulfilled on ${res.qualified} "${name}": ${msg}`, { name, group: res.group, kind: res.resource });

function invalidError(qualifiedKind, group, kind, name, errs) {
  const causes = errs.map((e) => ({ reason: e.type, message: errorBody(e), field: e.field }));
  return fail(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${aggregate(errs)}`, { name, group, kind, causes });
}
const invalidObject = (res, name, errs) => invalidError(res.qualifiedKind, res.group, res.kind, name, errs);
const invalidOptions = (kind, errs) => invalidError(`${kind}.meta.k8s.io`, 'meta.k8s.io', kind, '', errs);

// ---- the server -------------------------------------------------------------------------

export function createKube(opts = {}) {
  const cfg = {
    termination_ms: Number(opts.terminationMs ?? 1500),
    ack: opts.ack !== false,
    token: opts.token || null,
    namespaces: opts.namespaces || ['default', 'kube-system', 'flyte'],
  };
  const initial = { ...cfg };
  let store = new Map(); // key -> {res, obj, entries}
  let rv = 0;
  // Lists in key order, per resource and namespace (and per selector), kept
  // until the store changes: a paginated LIST of N objects would otherwise
  // scan and sort the whole store for each of its pages.
  let generation = 0;
  let listCache = new Map();
  let timers = new Map();
  const validators = new Map();
  const watch = createWatchHub({ historyLimit: Number(opts.watchHistory ?? 10000), bookmarkMs: Number(opts.watchBookmarkMs ?? 1000) });

  const keyOf = (res, ns, name) => `${res.group}|${res.resource}|${ns || ''}|${name}`;
  const nsRes = RESOURCES[0];

  function render(rec) {
    const o = rec.obj;
    const m = o.metadata;
    const meta = {};
    for (const k of ['name', 'generateName', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
      'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers']) {
      if (m[k] !== undefined) meta[k] = m[k];
    }
    meta.managedFields = managedFieldsJson(rec.entries);
    const out = { kind: o.kind, apiVersion: o.apiVersion, metadata: meta };
    for (const [k, v] of Object.entries(o)) if (!['kind', 'apiVersion', 'metadata'].includes(k)) out[k] = v;
    return out;
  }

  function findRes(group, version, resource) {
    return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource && (!r.ack || cfg.ack));
  }

  function parsePath(p) {
    const segs = p.split('/').filter(Boolean);
    let group;
    let version;
    let rest;
    if (segs[0] === 'api' && segs[1] === 'v1') {
      group = '';
      version = 'v1';
      rest = segs.slice(2);
    } else if (segs[0] === 'apis' && segs.length >= 3) {
      [, group, version] = segs;
      rest = segs.slice(3);
    } else return null;
    if (rest.length === 0) return { discovery: true, group, version };
    let ns;
    let resource;
    let name;
    let sub;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      [, ns, resource, name, sub] = rest;
      if (rest.length > 5) return null;
    } else {
      [resource, name, sub] = rest;
      if (rest.length > 3) return null;
    }
    const res = findRes(group, version, resource);
    if (!res || sub !== undefined) return null;
    if (!res.namespaced && ns !== undefined) return null;
    if (res.namespaced && ns === undefined && name !== undefined) return null;
    return { res, ns, name };
  }

  // ---- storage helpers ----

  function nextRv() {
    rv += 1;
    return String(rv);
  }

  function getNs(name) {
    return store.get(keyOf(nsRes, '', name));
  }

  function checkNamespaceForCreate(res, ns, name) {
    if (!res.namespaced) return;
    const n = getNs(ns);
    if (!n) throw nsNotFound(ns);
    if (n.obj.metadata.deletionTimestamp) {
      throw fail(403, 'Forbidden', `${res.qualified} "${name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`, {
        name, group: res.group, kind: res.resource,
        causes: [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }],
      });
    }
  }

  function canonicalizeQuantities(v, node) {
    const n = deref(node);
    if (!n || v === null || v === undefined) return v;
    if (n.kind === 'scalar' && n.type === 'quantity') return canonicalQuantity(v) ?? v;
    if (n.kind === 'list' && Array.isArray(v)) return v.map((x) => canonicalizeQuantities(x, n.elem));
    if ((n.kind === 'struct' || n.kind === 'map') && isObj(v)) {
      const out = {};
      for (const [k, x] of Object.entries(v)) out[k] = canonicalizeQuantities(x, n.kind === 'map' ? n.elem : n.fields()[k]);
      return out;
    }
    return v;
  }

  // Defaulting and the fields the server (or its controllers) maintains.
  function prepare(res, obj, old) {
    obj.apiVersion = res.apiVersion;
    obj.kind = res.kind;
    obj.metadata = obj.metadata || {};
    if (res.kind === 'Namespace') {
      obj.metadata.labels = { ...(obj.metadata.labels || {}), 'kubernetes.io/metadata.name': obj.metadata.name };
      obj.spec = { ...(obj.spec || {}), finalizers: old ? old.spec.finalizers : ['kubernetes'] };
      obj.status = old ? clone(old.status) : { phase: 'Active' };
    }
    if (res.kind === 'RoleBinding') {
      for (const s of obj.subjects || []) {
        if (!s.apiGroup && (s.kind === 'User' || s.kind === 'Group')) s.apiGroup = RBAC;
      }
    }
    if (res.kind === 'NetworkPolicy') {
      const spec = obj.spec || (obj.spec = {});
      if (!spec.podSelector) spec.podSelector = {};
      for (const rule of [...(spec.ingress || []), ...(spec.egress || [])]) {
        for (const p of rule.ports || []) if (p.protocol === undefined) p.protocol = 'TCP';
      }
      if (!spec.policyTypes || spec.policyTypes.length === 0) {
        spec.policyTypes = ['Ingress'];
        if ((spec.egress || []).length) spec.policyTypes.push('Egress');
      }
    }
    if (res.hasStatus && res.kind !== 'Namespace') {
      if (old && old.status) obj.status = clone(old.status);
      else delete obj.status;
    }
    let out = normalize(canonicalizeQuantities(obj, res.schema), res.schema);
    if (res.kind === 'ResourceQuota') {
      const hard = (out.spec && out.spec.hard) || {};
      const used = {};
      for (const k of Object.keys(hard)) used[k] = (old && old.status && old.status.used && old.status.used[k]) || '0';
      out.status = Object.keys(hard).length ? { hard: { ...hard }, used } : {};
    }
    if (!res.hasStatus && res.kind !== 'NetworkPolicy') delete out.status;
    if (res.kind === 'NetworkPolicy') delete out.status;
    return out;
  }

  async function validate(res, obj, old) {
    let errs = validateObject(res, obj, old);
    if (!res.ack) {
      if (!validators.has(res.model)) validators.set(res.model, await loadValidator(res.model));
      const ajv = validators.get(res.model)(obj);
      errs = errs.concat(modelFieldErrors(ajv, res.schema, errs, obj));
    }
    if (errs.length) throw invalidObject(res, obj.metadata.name || '', errs);
  }

  function commit(res, key, obj, entries, prev, dryRun) {
    if (!dryRun) {
      obj.metadata.resourceVersion = nextRv();
      if (res.generation) {
        const spec = (o) => JSON.stringify(o.spec || {});
        obj.metadata.generation = prev ? (prev.obj.metadata.generation || 1) + (spec(prev.obj) !== spec(obj) ? 1 : 0) : 1;
      }
    }
    const rec = { res, obj, entries };
    if (!dryRun) {
      if (!store.has(key)) sortedKeys.delete(res);
      store.set(key, rec);
      generation++;
      watch.record(rv, prev ? 'MODIFIED' : 'ADDED', res, render(rec), prev ? render(prev) : undefined);
    }
    return rec;
  }

  // Removes a stored object; the deletion gets a resourceVersion of its own,
  // which the DELETED event's object carries.
  function drop(key) {
    const rec = store.get(key);
    if (!rec) return;
    store.delete(key);
    generation++;
    sortedKeys.delete(rec.res);
    const obj = render(rec);
    obj.metadata.resourceVersion = nextRv();
    watch.record(rv, 'DELETED', rec.res, obj);
  }

  function newMeta(obj, old) {
    const m = obj.metadata;
    if (old) {
      m.uid = old.metadata.uid;
      m.creationTimestamp = old.metadata.creationTimestamp;
      if (old.metadata.deletionTimestamp) m.deletionTimestamp = old.metadata.deletionTimestamp;
      if (old.metadata.generation) m.generation = old.metadata.generation;
      m.resourceVersion = old.metadata.resourceVersion;
    } else {
      m.uid = crypto.randomUUID();
      m.creationTimestamp = nowIso();
    }
    for (const k of ['selfLink', 'managedFields']) delete m[k];
  }

  // Objects the namespace controllers add to every new namespace.
  function seedNamespace(ns) {
    const t = nowIso();
    const sa = RESOURCES.find((r) => r.resource === 'serviceaccounts');
    const cm = RESOURCES.find((r) => r.resource === 'configmaps');
    const mk = (res, body) => {
      const obj = prepare(res, body, null);
      newMeta(obj, null);
      const entries = recordUpdate({ live: null, next: obj, manager: 'kube-controller-manager', entries: [], schema: res.schema, apiVersion: res.apiVersion, now: t });
      commit(res, keyOf(res, ns, obj.metadata.name), obj, entries, null, false);
    };
    mk(sa, { metadata: { name: 'default', namespace: ns } });
    mk(cm, { metadata: { name: 'kube-root-ca.crt', namespace: ns, annotations: { 'kubernetes.io/description': ROOT_CA_DESCRIPTION } }, data: { 'ca.crt': ROOT_CA } });
  }

  function afterCreate(res, obj, dryRun) {
    if (res.kind === 'Namespace' && !dryRun) seedNamespace(obj.metadata.name);
  }

  function createNamespaceDirect(name) {
    const obj = prepare(nsRes, { metadata: { name } }, null);
    newMeta(obj, null);
    const entries = recordUpdate({ live: null, next: obj, manager: 'kube-apiserver', entries: [], schema: nsRes.schema, apiVersion: 'v1', now: nowIso() });
    commit(nsRes, keyOf(nsRes, '', name), obj, entries, null, false);
    seedNamespace(name);
  }

  // ---- request body handling ----

  function parseBody(ctx, allowYaml) {
    const text = ctx.body.toString('utf8');
    if (!text.trim()) throw badRequest('the body of the request was empty');
    let v;
    try {
      v = allowYaml ? YAML.parse(text, { version: '1.1' }) : JSON.parse(text);
    } catch (e) {
      throw badRequest(allowYaml ? `error decoding YAML: ${e.message.split('\n')[0]}` : `couldn't get version/kind; json parse error: ${e.message}`);
    }
    if (!isObj(v)) throw badRequest(`couldn't get version/kind; json parse error: json: cannot unmarshal ${Array.isArray(v) ? 'array' : typeof v} into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }`);
    return stripNulls(v);
  }

  function stripNulls(v) {
    if (Array.isArray(v)) return v.map(stripNulls);
    if (!isObj(v)) return v;
    const out = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = stripNulls(x);
    return out;
  }

  function checkGvk(res, body, requireIt) {
    if (requireIt) {
      if (!body.kind) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
      if (!body.apiVersion) throw badRequest(`Object 'apiVersion' is missing in '${JSON.stringify(body)}'`);
    }
    if (body.apiVersion !== undefined && body.apiVersion !== res.apiVersion) {
      throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${res.apiVersion})`);
    }
    if (body.kind !== undefined && body.kind !== res.kind) {
      throw badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${res.kind})`);
    }
  }

  function checkNameNs(res, body, ns, name) {
    const meta = isObj(body.metadata) ? body.metadata : (body.metadata = {});
    if (name !== undefined && meta.name !== undefined && meta.name !== name) {
      throw badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${name})`);
    }
    if (res.namespaced && meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== ns) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (name !== undefined) meta.name = name;
    if (res.namespaced) meta.namespace = ns;
    else if (meta.namespace === '') delete meta.namespace;
  }

  // Non-apply writes: unknown fields follow fieldValidation (default Warn), wrong types fail decoding.
  function decodeTyped(res, body, ctx, warnings) {
    const mode = ctx.query.get('fieldValidation') || 'Warn';
    if (!['Strict', 'Warn', 'Ignore'].includes(mode)) {
      throw badRequest(`fieldValidation parameter unsupported: ${mode}`);
    }
    const { unknown, typeErrors } = structuralCheck(body, res.schema);
    if (typeErrors.length) {
      const te = typeErrors[0];
      throw badRequest(`${res.kind} in version "${res.version}" cannot be handled as a ${res.kind}: json: cannot unmarshal into Go struct field ${res.kind}${te.path}: ${te.msg}`);
    }
    if (unknown.length) {
      if (mode === 'Strict') throw badRequest(`strict decoding error: ${unknown.map((u) => `unknown field "${u.slice(1)}"`).join(', ')}`);
      if (mode === 'Warn') for (const u of unknown) warnings.push(`unknown field "${u.slice(1)}"`);
      dropPaths(body, unknown);
    }
    const qe = quantityErrors(body, res.schema);
    if (qe) throw badRequest(qe);
  }

  function managerFor(ctx) {
    const fm = ctx.query.get('fieldManager');
    if (fm) return fm;
    const ua = ctx.headers['user-agent'] || 'unknown';
    return ua.split('/')[0];
  }

  function checkFieldManager(ctx, isApply, isPatch, force) {
    const errs = [];
    const fm = ctx.query.get('fieldManager');
    if (isApply && !fm) errs.push(required('fieldManager', 'is required for apply patch'));
    if (fm && Buffer.byteLength(fm) > 128) errs.push(tooLong('fieldManager', 'may not be more than 128 bytes'));
    if (fm && /[^\x20-\x7e\u00a0-\uffff]/.test(fm)) errs.push(invalid('fieldManager', fm, 'invalid character'));
    if (isPatch && !isApply && force !== null) errs.push(forbidden('force', 'may not be specified for non-apply patch'));
    if (force !== null && !['true', 'false'].includes(force)) throw badRequest(`failed to parse force: strconv.ParseBool: parsing "${force}": invalid syntax`);
    if (errs.length) throw invalidOptions(isPatch ? 'PatchOptions' : ctx.method === 'POST' ? 'CreateOptions' : 'UpdateOptions', errs);
  }

  function dryRunOf(ctx) {
    const d = ctx.query.getAll('dryRun');
    for (const x of d) if (x !== 'All') throw invalidOptions('CreateOptions', [notSupported('dryRun', x, ['All'])]);
    return d.length > 0;
  }

  function respond(status, body, warnings = []) {
    const headers = { 'Content-Type': 'application/json' };
    if (warnings.length) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
    return { status, headers, body };
  }

  // ---- verbs ----

  async function create(res, ns, ctx) {
    const warnings = [];
    checkFieldManager(ctx, false, false, null);
    const dryRun = dryRunOf(ctx);
    const body = parseBody(ctx, /yaml/.test(ctx.headers['content-type'] || ''));
    checkGvk(res, body, false);
    checkNameNs(res, body, ns, undefined);
    decodeTyped(res, body, ctx, warnings);
    const meta = body.metadata;
    if (!meta.name && meta.generateName) meta.name = meta.generateName + crypto.randomBytes(3).toString('hex').slice(0, 5);
    const name = meta.name || '';
    if (name) checkNamespaceForCreate(res, ns, name);
    const obj = prepare(res, body, null);
    await validate(res, obj, null);
    const key = keyOf(res, ns, name);
    const existing = store.get(key);
    if (existing) {
      const prefix = existing.obj.metadata.deletionTimestamp ? 'object is being deleted: ' : '';
      throw fail(409, 'AlreadyExists', `${prefix}${res.qualified} "${name}" already exists`, { name, group: res.group, kind: res.resource });
    }
    newMeta(obj, null);
    const entries = recordUpdate({ live: null, next: obj, manager: managerFor(ctx), entries: [], schema: res.schema, apiVersion: res.apiVersion, now: nowIso() });
    const rec = commit(res, key, obj, entries, null, dryRun);
    afterCreate(res, obj, dryRun);
    return respond(201, render(rec), warnings);
  }

  async function update(res, ns, name, ctx) {
    const warnings = [];
    checkFieldManager(ctx, false, false, null);
    const dryRun = dryRunOf(ctx);
    const body = parseBody(ctx, /yaml/.test(ctx.headers['content-type'] || ''));
    checkGvk(res, body, false);
    checkNameNs(res, body, ns, name);
    decodeTyped(res, body, ctx, warnings);
    const key = keyOf(res, ns, name);
    const live = store.get(key);
    if (!live) throw notFound(res, name);
    const wantRv = body.metadata.resourceVersion;
    if (wantRv && wantRv !== live.obj.metadata.resourceVersion) {
      throw conflict(res, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    return writeUpdate(res, key, live, body, managerFor(ctx), dryRun, warnings);
  }

  async function writeUpdate(res, key, live, body, manager, dryRun, warnings) {
    const obj = prepare(res, body, live.obj);
    newMeta(obj, live.obj);
    await validate(res, obj, live.obj);
    const entries = recordUpdate({ live: live.obj, next: obj, manager, entries: live.entries, schema: res.schema, apiVersion: res.apiVersion, now: nowIso() });
    if (deepEqual(obj, live.obj) && sameEntries(entries, live.entries)) return respond(200, render(live), warnings);
    const rec = commit(res, key, obj, entries, live, dryRun);
    return respond(200, render(rec), warnings);
  }

  async function patch(res, ns, name, ctx) {
    const ct = (ctx.headers['content-type'] || '').split(';')[0].trim();
    const force = ctx.query.get('force');
    const isApply = ct === 'application/apply-patch+yaml';
    const types = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];
    if (!types.includes(ct)) {
      throw fail(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${types.join(', ')}`);
    }
    checkFieldManager(ctx, isApply, true, force);
    const dryRun = dryRunOf(ctx);
    if (isApply) return serverSideApply(res, ns, name, ctx, force === 'true', dryRun);
    const key = keyOf(res, ns, name);
    const live = store.get(key);
    if (!live) throw notFound(res, name);
    let patched;
    const text = ctx.body.toString('utf8');
    let p;
    try {
      p = JSON.parse(text);
    } catch (e) {
      throw badRequest(`error decoding patch: ${e.message}`);
    }
    const current = render(live);
    delete current.metadata.managedFields;
    if (ct === 'application/json-patch+json') patched = jsonPatch(current, p);
    else patched = mergePatch(current, p);
    patched = stripNulls(patched);
    const warnings = [];
    checkGvk(res, patched, false);
    checkNameNs(res, patched, ns, name);
    decodeTyped(res, patched, ctx, warnings);
    if (patched.metadata.resourceVersion && patched.metadata.resourceVersion !== live.obj.metadata.resourceVersion) {
      throw conflict(res, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    return writeUpdate(res, key, live, patched, managerFor(ctx), dryRun, warnings);
  }

  async function serverSideApply(res, ns, name, ctx, force, dryRun) {
    const applied = parseBody(ctx, true);
    if (applied.metadata && applied.metadata.managedFields !== undefined) {
      throw badRequest('metadata.managedFields must be nil');
    }
    checkGvk(res, applied, true);
    checkNameNs(res, applied, ns, name);
    const { unknown, typeErrors } = structuralCheck(applied, res.schema);
    const smd = [...unknown.map((u) => `${u}: field not declared in schema`), ...typeErrors.map((t) => `${t.path}: ${t.msg}`)];
    if (smd.length) {
      const msg = smd.length === 1 ? smd[0] : `errors:\n  ${smd.join('\n  ')}`;
      throw fail(500, '', `failed to create typed patch object (${res.gvk}): ${msg}`);
    }
    const qe = quantityErrors(applied, res.schema);
    if (qe) throw badRequest(qe);
    const canon = canonicalizeQuantities(applied, res.schema);
    const key = keyOf(res, ns, name);
    const live = store.get(key);
    if (!live) checkNamespaceForCreate(res, ns, name);
    const wantRv = canon.metadata.resourceVersion;
    if (wantRv && (!live || wantRv !== live.obj.metadata.resourceVersion)) {
      if (!live) throw notFound(res, name);
      throw conflict(res, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    const now = nowIso();
    const r = ssaApply({
      live: live ? live.obj : null,
      applied: canon,
      manager: ctx.query.get('fieldManager'),
      force,
      entries: live ? live.entries : [],
      schema: res.schema,
      apiVersion: res.apiVersion,
      now,
    });
    if (r.conflicts) {
      const { message, causes } = conflictStatus(r.conflicts);
      throw fail(409, 'Conflict', message, { causes });
    }
    const merged = r.object;
    merged.metadata = merged.metadata || {};
    merged.metadata.name = name;
    if (res.namespaced) merged.metadata.namespace = ns;
    const obj = prepare(res, merged, live ? live.obj : null);
    newMeta(obj, live ? live.obj : null);
    await validate(res, obj, live ? live.obj : null);
    if (live && deepEqual(obj, live.obj) && sameEntries(r.entries, live.entries)) {
      return respond(200, render(live));
    }
    const rec = commit(res, key, obj, r.entries, live, dryRun);
    if (!live) afterCreate(res, obj, dryRun);
    return respond(live ? 200 : 201, render(rec));
  }

  function deleteOptions(ctx) {
    let o = {};
    const text = ctx.body.toString('utf8');
    if (text.trim()) {
      try {
        o = JSON.parse(text);
      } catch (e) {
        throw badRequest(`couldn't get version/kind; json parse error: ${e.message}`);
      }
      if (!isObj(o)) throw badRequest('invalid DeleteOptions');
    }
    if (ctx.query.get('propagationPolicy')) o.propagationPolicy = ctx.query.get('propagationPolicy');
    if (ctx.query.get('orphanDependents')) o.orphanDependents = ctx.query.get('orphanDependents') === 'true';
    if (ctx.query.get('gracePeriodSeconds')) o.gracePeriodSeconds = Number(ctx.query.get('gracePeriodSeconds'));
    const errs = [];
    const pp = o.propagationPolicy;
    if (pp !== undefined && !['Foreground', 'Background', 'Orphan'].includes(pp)) {
      errs.push(notSupported('propagationPolicy', pp, ['Foreground', 'Background', 'Orphan', 'nil']));
    }
    if (pp !== undefined && o.orphanDependents !== undefined) {
      errs.push(invalid('propagationPolicy', pp, 'orphanDependents and deletionPropagation cannot be both set'));
    }
    if (errs.length) throw invalidOptions('DeleteOptions', errs);
    dryRunOf(ctx);
    return o;
  }

  function checkPreconditions(res, rec, o) {
    const pre = o.preconditions || {};
    const m = rec.obj.metadata;
    if (pre.uid && pre.uid !== m.uid) {
      throw conflict(res, m.name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${m.uid}`);
    }
    if (pre.resourceVersion && pre.resourceVersion !== m.resourceVersion) {
      throw conflict(res, m.name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${m.resourceVersion}`);
    }
  }

  function finishNamespace(name) {
    timers.delete(name);
    for (const [k, rec] of store) {
      if (rec.res.namespaced && rec.obj.metadata.namespace === name) drop(k);
    }
    drop(keyOf(nsRes, '', name));
  }

  function scheduleTermination(name) {
    if (cfg.termination_ms <= 0) {
      finishNamespace(name);
      return;
    }
    const t = setTimeout(() => finishNamespace(name), cfg.termination_ms);
    t.unref();
    timers.set(name, t);
  }

  async function remove(res, ns, name, ctx) {
    const o = deleteOptions(ctx);
    const dryRun = ctx.query.getAll('dryRun').length > 0;
    const key = keyOf(res, ns, name);
    const rec = store.get(key);
    if (res.kind === 'Namespace' && PROTECTED_NAMESPACES.has(name)) {
      throw fail(403, 'Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, kind: 'namespaces' });
    }
    if (!rec) throw notFound(res, name);
    checkPreconditions(res, rec, o);
    if (res.kind === 'Namespace') {
      if (rec.obj.metadata.deletionTimestamp || dryRun) return respond(200, render(rec));
      const obj = clone(rec.obj);
      obj.metadata.deletionTimestamp = nowIso();
      obj.metadata.deletionGracePeriodSeconds = 0;
      obj.status = { ...obj.status, phase: 'Terminating' };
      const nrec = commit(res, key, obj, rec.entries, rec, false);
      scheduleTermination(name);
      return respond(200, render(nrec));
    }
    if (!dryRun) drop(key);
    return respond(200, {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
      details: details({ name, group: res.group, kind: res.resource, uid: rec.obj.metadata.uid }),
    });
  }

  // The label and field selectors of a list or watch, as one predicate on an object.
  function selection(ctx) {
    let sel = null;
    const ls = ctx.query.get('labelSelector');
    if (ls) {
      try {
        sel = parseSelector(ls);
      } catch (e) {
        throw badRequest(`unable to parse requirement: ${e.message}`);
      }
    }
    const fieldSel = [];
    const fs = ctx.query.get('fieldSelector');
    if (fs) {
      for (const part of fs.split(',')) {
        const m = /^(metadata\.name|metadata\.namespace)(==|=|!=)(.*)$/.exec(part.trim());
        if (!m) throw badRequest(`"${part.split(/!?=/)[0]}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
        fieldSel.push({ field: m[1].split('.')[1], neg: m[2] === '!=', value: m[3] });
      }
    }
    return (o) => (!sel || matches(sel, o.metadata.labels || {}))
      && fieldSel.every((f) => ((o.metadata[f.field] || '') === f.value) !== f.neg);
  }

  function checkListOptions(ctx, isWatch) {
    const rvm = ctx.query.get('resourceVersionMatch');
    if (!rvm) return;
    const errs = [];
    if (isWatch) errs.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden for watch'));
    else if (!['NotOlderThan', 'Exact'].includes(rvm)) errs.push(notSupported('resourceVersionMatch', rvm, ['Exact', 'NotOlderThan', '']));
    else if (!ctx.query.get('resourceVersion')) errs.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided'));
    if (errs.length) throw invalidOptions('ListOptions', errs);
  }

  // The value of compute() for key, computed again only after the store changed.
  function cached(key, compute) {
    const hit = listCache.get(key);
    if (hit && hit.generation === generation) return hit.value;
    if (listCache.size > 256) listCache = new Map();
    const value = compute();
    listCache.set(key, { generation, value });
    return value;
  }

  // The stored records of a resource (in namespace ns, or all), sorted by
  // namespace/name.  The sorted keys of each resource are kept until a key
  // of it comes or goes: a list page of a large store does not sort it all
  // again.
  let sortedKeys = new Map(); // res -> [key], by namespace/name
  function keysOf(res) {
    let keys = sortedKeys.get(res);
    if (keys) return keys;
    const recs = [];
    for (const [key, r] of store) if (r.res === res) recs.push({ key, sortKey: `${r.obj.metadata.namespace || ''}/${r.obj.metadata.name}` });
    recs.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    keys = recs.map((r) => r.key);
    sortedKeys.set(res, keys);
    return keys;
  }
  // The stored records of res (in namespace ns, or all) in that order.
  // Callers must not change the array.
  function inScope(res, ns) {
    return cached(`scope|${res.group}|${res.resource}|${ns ?? ''}|${ns === undefined}`, () => {
      const out = [];
      for (const key of keysOf(res)) {
        const r = store.get(key);
        if (ns === undefined || r.obj.metadata.namespace === ns) out.push(r);
      }
      return out;
    });
  }

  function list(res, ns, ctx) {
    const isWatch = ['1', 'true', 'True', 'TRUE', 't', 'T'].includes(ctx.query.get('watch'));
    checkListOptions(ctx, isWatch);
    const selected = selection(ctx);
    if (isWatch) {
      const from = ctx.query.get('resourceVersion') || '';
      if (from !== '' && !/^\d+$/.test(from)) throw badRequest(`invalid resource version "${from}"`);
      return watch.serve({ res, ns, query: ctx.query, selected, current: () => inScope(res, ns).map(render).filter(selected), rv: () => rv });
    }
    const selKey = `sel|${res.group}|${res.resource}|${ns ?? ''}|${ns === undefined}|${ctx.query.get('labelSelector') ?? ''}|${ctx.query.get('fieldSelector') ?? ''}`;
    let items = cached(selKey, () => inScope(res, ns).filter((r) => selected(r.obj)));
    const metadata = { resourceVersion: String(rv) };
    let start = 0;
    let tokenRv = 0;
    const cont = ctx.query.get('continue');
    if (cont) {
      try {
        const token = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8'));
        start = token.start;
        if (!Number.isInteger(start) || start < 0) throw new Error('bad');
        tokenRv = token.rv;
      } catch {
        throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      }
      // etcd compacted the revision the list started at (here: the watch history moved past it).
      if (tokenRv < watch.oldest()) {
        throw fail(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');
      }
    }
    const limit = Number(ctx.query.get('limit') || 0);
    const total = items.length;
    items = items.slice(start, limit > 0 ? start + limit : undefined);
    if (limit > 0 && start + limit < total) {
      metadata.continue = Buffer.from(JSON.stringify({ start: start + limit, rv })).toString('base64url');
      metadata.remainingItemCount = total - start - limit;
    }
    const out = items.map((r) => {
      const o = render(r);
      if (!res.ack) {
        delete o.kind;
        delete o.apiVersion;
      }
      return o;
    });
    return respond(200, { kind: `${res.kind}List`, apiVersion: res.apiVersion, metadata, items: out });
  }

  function discovery(group, version) {
    const rs = RESOURCES.filter((r) => r.group === group && r.version === version && (!r.ack || cfg.ack));
    if (!rs.length) throw pathNotFound();
    return respond(200, {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: group ? `${group}/${version}` : version,
      resources: rs.map((r) => ({
        name: r.resource, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind,
        verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      })),
    });
  }

  function authorize(ctx) {
    if (!cfg.token) return;
    const h = ctx.headers.authorization || '';
    const m = /^Bearer\s+(.+)$/i.exec(h);
    if (!m || m[1].trim() !== cfg.token) {
      throw new HttpError({ status: 401, body: statusBody(401, 'Unauthorized', 'Unauthorized', undefined) });
    }
  }

  async function route(ctx) {
    const p = ctx.path;
    if (['/healthz', '/readyz', '/livez'].includes(p)) return { status: 200, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: 'ok' };
    authorize(ctx);
    if (p === '/version') {
      return respond(200, { major: '1', minor: '34', gitVersion: 'v1.34.0', goVersion: 'go1.24.6', compiler: 'gc', platform: 'linux/amd64' });
    }
    const r = parsePath(p);
    if (!r) throw pathNotFound();
    if (r.discovery) {
      if (ctx.method !== 'GET') throw pathNotFound();
      return discovery(r.group, r.version);
    }
    const { res, ns, name } = r;
    const m = ctx.method;
    if (name === undefined) {
      if (m === 'GET') return list(res, ns, ctx);
      if (m === 'POST') {
        if (res.namespaced && ns === undefined) throw methodNotAllowed();
        return create(res, ns, ctx);
      }
      if (m === 'DELETE' && (ns !== undefined || !res.namespaced)) return deleteCollection(res, ns, ctx);
      throw methodNotAllowed();
    }
    if (m === 'GET') {
      const rec = store.get(keyOf(res, ns, name));
      if (!rec) throw notFound(res, name);
      return respond(200, render(rec));
    }
    if (m === 'PUT') return update(res, ns, name, ctx);
    if (m === 'PATCH') return patch(res, ns, name, ctx);
    if (m === 'DELETE') return remove(res, ns, name, ctx);
    throw methodNotAllowed();
  }

  function methodNotAllowed() {
    return fail(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
  }

  async function deleteCollection(res, ns, ctx) {
    deleteOptions(ctx);
    const listed = list(res, ns, ctx).body;
    for (const item of listed.items) {
      if (res.kind === 'Namespace') continue;
      drop(keyOf(res, item.metadata.namespace, item.metadata.name));
    }
    return respond(200, listed);
  }

  async function handle(ctx) {
    const headers = {
      'Audit-Id': crypto.randomUUID(),
      'X-Kubernetes-Pf-Flowschema-Uid': FLOW_SCHEMA_UID,
      'X-Kubernetes-Pf-Prioritylevel-Uid': PRIORITY_LEVEL_UID,
    };
    let r;
    try {
      r = await route(ctx);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      r = { ...e.result, headers: { 'Content-Type': 'application/json', ...(e.result.headers || {}) } };
    }
    r.headers = { ...headers, ...(r.headers || {}) };
    return r;
  }

  function faultResponse(rule) {
    const s = rule.status;
    if (s === 429) {
      return {
        status: 429,
        headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Retry-After': String(rule.retry_after ?? 1) },
        body: 'Too many requests, please try again later.\n',
      };
    }
    const table = {
      400: ['BadRequest', 'the request could not be processed'],
      401: ['Unauthorized', 'Unauthorized'],
      403: ['Forbidden', 'forbidden: injected fault'],
      404: ['NotFound', 'the server could not find the requested resource'],
      409: ['Conflict', 'Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again'],
      500: ['InternalError', 'Internal error occurred: injected fault'],
      502: ['', 'bad gateway'],
      503: ['ServiceUnavailable', 'the server is currently unable to handle the request'],
      504: ['Timeout', 'the server was unable to return a response in the time allotted, but may still be processing the request'],
    };
    const [reason, message] = table[s] || ['', `injected ${s}`];
    const det = {};
    if (rule.retry_after !== null && [500, 503, 504].includes(s)) det.retryAfterSeconds = Number(rule.retry_after);
    return { status: s, headers: { 'Content-Type': 'application/json' }, body: statusBody(s, reason, message, Object.keys(det).length ? det : undefined) };
  }

  function state() {
    const objs = [...store.values()].map(render);
    const k = (o) => [o.apiVersion, o.kind, o.metadata.namespace || '', o.metadata.name];
    objs.sort((a, b) => {
      const ka = k(a);
      const kb = k(b);
      for (let i = 0; i < 4; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
      return 0;
    });
    return { objects: objs };
  }

  function config() {
    return { termination_ms: cfg.termination_ms, ack: cfg.ack, token_required: !!cfg.token, namespaces: cfg.namespaces, resource_version: String(rv), ...watch.config() };
  }

  function configure(body) {
    const known = ['termination_ms', 'token', 'ack', 'watch_history', 'watch_bookmark_ms'];
    for (const k of Object.keys(body)) if (!known.includes(k)) throw new Error(`unknown config key: ${k}`);
    if (body.termination_ms !== undefined) cfg.termination_ms = Number(body.termination_ms);
    if (body.token !== undefined) cfg.token = body.token || null;
    if (body.ack !== undefined) cfg.ack = body.ack === true || body.ack === 'on';
    watch.configure(body);
    return config();
  }

  function reset() {
    for (const t of timers.values()) clearTimeout(t);
    timers = new Map();
    watch.reset();
    store = new Map();
    generation++;
    sortedKeys = new Map();
    rv = 0;
    Object.assign(cfg, initial);
    for (const n of cfg.namespaces) createNamespaceDirect(n);
  }

  async function init() {
    for (const r of RESOURCES) if (!r.ack) validators.set(r.model, await loadValidator(r.model));
    reset();
  }

  // /_test/watches: GET how many are open; POST /_test/watches/cut {"how": "reset"|"end"} ends them all.
  // POST /_test/namespaces/finish: every terminating namespace goes now (a
  // test holds termination with a long termination_ms, then lets it end).
  function control(method, rest, body) {
    if (rest === 'namespaces/finish' && method === 'POST') {
      const names = [...timers.keys()];
      for (const name of names) {
        clearTimeout(timers.get(name));
        finishNamespace(name);
      }
      return { finished: names };
    }
    if (rest === 'watches' && method === 'GET') return { watches: watch.config().watches };
    if (rest === 'watches/cut' && method === 'POST') {
      const how = body.how ?? 'reset';
      if (!['reset', 'end'].includes(how)) throw new Error('how must be reset or end');
      return { cut: watch.cut(how) };
    }
    return null;
  }

  return { name: 'kube', handle, faultResponse, state, config, configure, reset, init, control };
}

// ---- patch helpers ------------------------------------------------------------------

function mergePatch(target, patch) {
  if (!isObj(patch)) return clone(patch);
  const out = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function jsonPatch(doc, ops) {
  if (!Array.isArray(ops)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let out = clone(doc);
  const ptr = (p) => p.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const parentOf = (segs) => {
    let cur = out;
    for (const s of segs.slice(0, -1)) {
      if (cur === undefined || cur === null) throw fail(422, 'Invalid', `the server rejected our request due to an error in our request`, {});
      cur = cur[s];
    }
    if (cur === undefined || cur === null) throw fail(422, 'Invalid', 'the server rejected our request due to an error in our request', {});
    return cur;
  };
  for (const op of ops) {
    const segs = ptr(op.path || '');
    const last = segs[segs.length - 1];
    if (op.op === 'test') {
      let cur = out;
      for (const s of segs) cur = cur === undefined ? undefined : cur[s];
      if (!deepEqual(cur, op.value)) throw fail(422, 'Invalid', `the server rejected our request due to an error in our request`, {});
      continue;
    }
    if (segs.length === 0) {
      if (op.op === 'replace' || op.op === 'add') out = clone(op.value);
      continue;
    }
    const parent = parentOf(segs);
    if (op.op === 'add') {
      if (Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, clone(op.value));
      else parent[last] = clone(op.value);
    } else if (op.op === 'replace') {
      if (!(last in parent)) throw fail(422, 'Invalid', `the server rejected our request due to an error in our request`, {});
      parent[last] = clone(op.value);
    } else if (op.op === 'remove') {
      if (!(last in parent)) throw fail(422, 'Invalid', `the server rejected our request due to an error in our request`, {});
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else {
      throw badRequest(`Unexpected kind: ${op.op}`);
    }
  }
  return out;
}

export async function startKube(opts = {}) {
  const app = createKube(opts);
  await app.init();
  const srv = createTestServer(app, { logRequests: !!opts.logRequests, tls: opts.tls ?? null });
  const url = await srv.listen(opts.port ?? 0);
  return { url, app, close: () => srv.close(), down: () => srv.down(), up: () => srv.up() };
}
