// Validation of the served kinds, following the API server's strategies
// (pkg/apis/core/validation, pkg/apis/rbac/validation, pkg/apis/networking/validation)
// with their field paths and messages, plus schema checks from kubernetes-models.
import {
  isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidLabelValue, isConfigMapKey,
  isValidPathSegmentName, isValidPortName,
} from './k8s-names.js';
import { parseQuantity, canonicalQuantity, QUANTITY_FORMAT_ERROR } from './quantity.js';
import { deref } from './k8s-schema.js';

// ---- field errors (k8s.io/apimachinery/pkg/util/validation/field) -------------------

const TYPE_TEXT = {
  FieldValueInvalid: 'Invalid value',
  FieldValueRequired: 'Required value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueTypeInvalid: 'Invalid value',
};

// A value printed with Go's String() (e.g. resource.Quantity) or a pre-rendered %#v.
export class Raw {
  constructor(text) {
    this.text = text;
  }
}

function fmtValue(v) {
  if (v instanceof Raw) return v.text;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[]string{${v.map((x) => JSON.stringify(x)).join(', ')}}`;
  return JSON.stringify(v);
}

export const invalid = (field, value, detail) => ({ type: 'FieldValueInvalid', field, value, detail });
export const required = (field, detail = '') => ({ type: 'FieldValueRequired', field, detail });
export const forbidden = (field, detail) => ({ type: 'FieldValueForbidden', field, detail });
export const tooLong = (field, detail) => ({ type: 'FieldValueTooLong', field, detail });
export const duplicate = (field, value) => ({ type: 'FieldValueDuplicate', field, value, detail: '' });
export const notSupported = (field, value, supported) => ({
  type: 'FieldValueNotSupported',
  field,
  value,
  detail: supported.length ? `supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}` : '',
});

export function errorBody(e) {
  let s = TYPE_TEXT[e.type];
  if (e.type === 'FieldValueInvalid' || e.type === 'FieldValueNotSupported' || e.type === 'FieldValueDuplicate') {
    s += `: ${fmtValue(e.value)}`;
  }
  if (e.detail) s += `: ${e.detail}`;
  return s;
}

export function aggregate(errs) {
  const msgs = [];
  for (const e of errs) {
    const m = `${e.field}: ${errorBody(e)}`;
    if (!msgs.includes(m)) msgs.push(m);
  }
  return msgs.length === 1 ? msgs[0] : `[${msgs.join(', ')}]`;
}

// ---- structural checks (typed conversion) ------------------------------------------

function goRepr(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[]interface {}{${v.map(goRepr).join(', ')}}`;
  return `map[string]interface {}{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${goRepr(x)}`).join(', ')}}`;
}

function kindOf(v) {
  if (Array.isArray(v)) return 'list';
  if (v !== null && typeof v === 'object') return 'map';
  return typeof v;
}

/**
 * Walks obj against the schema. Returns {unknown: [dotted paths], typeErrors: [{path, msg}]}.
 * Paths are SMD style (".spec.foo").
 */
export function structuralCheck(obj, schema) {
  const unknown = [];
  const typeErrors = [];
  const walk = (v, node, p) => {
    node = deref(node);
    if (v === null || v === undefined) return;
    switch (node.kind) {
      case 'struct': {
        if (kindOf(v) !== 'map') {
          typeErrors.push({ path: p, msg: `expected map, got &value.valueUnstructured{Value:${goRepr(v)}}` });
          return;
        }
        const fields = node.fields();
        for (const [k, x] of Object.entries(v)) {
          if (!Object.prototype.hasOwnProperty.call(fields, k)) unknown.push(`${p}.${k}`);
          else walk(x, fields[k], `${p}.${k}`);
        }
        return;
      }
      case 'map':
        if (kindOf(v) !== 'map') {
          typeErrors.push({ path: p, msg: `expected map, got &value.valueUnstructured{Value:${goRepr(v)}}` });
          return;
        }
        for (const [k, x] of Object.entries(v)) walk(x, node.elem, `${p}.${k}`);
        return;
      case 'list':
        if (!Array.isArray(v)) {
          typeErrors.push({ path: p, msg: `expected list, got &value.valueUnstructured{Value:${goRepr(v)}}` });
          return;
        }
        v.forEach((x, i) => walk(x, node.elem, `${p}[${i}]`));
        return;
      default: {
        const t = node.type;
        const k = kindOf(v);
        const ok = t === 'any'
          || (t === 'string' && k === 'string')
          || (t === 'number' && k === 'number')
          || (t === 'boolean' && k === 'boolean')
          || ((t === 'int-or-string' || t === 'quantity') && (k === 'string' || k === 'number'));
        if (!ok) {
          const exp = t === 'number' ? 'numeric' : t === 'boolean' ? 'bool' : t === 'int-or-string' || t === 'quantity' ? 'string or int' : 'string';
          typeErrors.push({ path: p, msg: `expected ${exp}, got &value.valueUnstructured{Value:${goRepr(v)}}` });
        }
      }
    }
  };
  walk(obj, schema, '');
  return { unknown, typeErrors };
}

// Removes the given (SMD style) paths from obj.
export function dropPaths(obj, paths) {
  for (const p of paths) {
    const parts = p.slice(1).split('.');
    let cur = obj;
    for (let i = 0; i < parts.length - 1 && cur; i++) {
      const m = /^(.*?)\[(\d+)\]$/.exec(parts[i]);
      cur = m ? cur[m[1]]?.[Number(m[2])] : cur[parts[i]];
    }
    if (cur && typeof cur === 'object') delete cur[parts[parts.length - 1].replace(/\[\d+\]$/, '')];
  }
}

// Quantities that do not parse: the JSON decoder of resource.Quantity fails the request.
export function quantityErrors(obj, schema) {
  let bad = false;
  const walk = (v, node) => {
    node = deref(node);
    if (v === null || v === undefined || bad) return;
    if (node.kind === 'struct' && kindOf(v) === 'map') {
      const f = node.fields();
      for (const [k, x] of Object.entries(v)) if (f[k]) walk(x, f[k]);
    } else if (node.kind === 'map' && kindOf(v) === 'map') {
      for (const x of Object.values(v)) walk(x, node.elem);
    } else if (node.kind === 'list' && Array.isArray(v)) {
      for (const x of v) walk(x, node.elem);
    } else if (node.kind === 'scalar' && node.type === 'quantity') {
      if (!parseQuantity(v)) bad = true;
    }
  };
  walk(obj, schema);
  return bad ? QUANTITY_FORMAT_ERROR : null;
}

// ---- object metadata ---------------------------------------------------------------

const TOTAL_ANNOTATION_SIZE = 256 * 1024;

export function validateLabels(labels, field) {
  const errs = [];
  for (const [k, v] of Object.entries(labels || {})) {
    for (const msg of isQualifiedName(k)) errs.push(invalid(field, k, msg));
    for (const msg of isValidLabelValue(String(v))) errs.push(invalid(field, v, msg));
  }
  return errs;
}

function validateAnnotations(ann, field) {
  const errs = [];
  let size = 0;
  for (const [k, v] of Object.entries(ann || {})) {
    for (const msg of isQualifiedName(k.toLowerCase())) errs.push(invalid(field, k, msg));
    size += k.length + String(v).length;
  }
  if (size > TOTAL_ANNOTATION_SIZE) errs.push(tooLong(field, `may not be more than ${TOTAL_ANNOTATION_SIZE} bytes`));
  return errs;
}

function validateObjectMeta(meta, namespaced, nameFn) {
  const errs = [];
  if (!meta.name) errs.push(required('metadata.name', 'name or generateName is required'));
  else for (const msg of nameFn(meta.name)) errs.push(invalid('metadata.name', meta.name, msg));
  if (namespaced) {
    if (!meta.namespace) errs.push(required('metadata.namespace'));
    else for (const msg of isDNS1123Label(meta.namespace)) errs.push(invalid('metadata.namespace', meta.namespace, msg));
  } else if (meta.namespace) {
    errs.push(forbidden('metadata.namespace', 'not allowed on this type'));
  }
  errs.push(...validateLabels(meta.labels, 'metadata.labels'));
  errs.push(...validateAnnotations(meta.annotations, 'metadata.annotations'));
  for (const [i, f] of (meta.finalizers || []).entries()) {
    for (const msg of isQualifiedName(f)) errs.push(invalid(`metadata.finalizers[${i}]`, f, msg));
  }
  return errs;
}

// ---- per kind ----------------------------------------------------------------------

const STANDARD_RESOURCES = new Set([
  'cpu', 'memory', 'requests.cpu', 'requests.memory', 'requests.storage', 'limits.cpu', 'limits.memory',
  'ephemeral-storage', 'requests.ephemeral-storage', 'limits.ephemeral-storage', 'pods', 'services',
  'replicationcontrollers', 'resourcequotas', 'secrets', 'configmaps', 'persistentvolumeclaims', 'storage',
  'services.nodeports', 'services.loadbalancers',
]);
const STANDARD_QUOTA_RESOURCES = new Set([
  'cpu', 'memory', 'ephemeral-storage', 'requests.cpu', 'requests.memory', 'requests.storage',
  'requests.ephemeral-storage', 'limits.cpu', 'limits.memory', 'limits.ephemeral-storage', 'pods', 'services',
  'replicationcontrollers', 'resourcequotas', 'secrets', 'persistentvolumeclaims', 'configmaps',
  'services.nodeports', 'services.loadbalancers',
]);
const INTEGER_RESOURCES = new Set([
  'pods', 'services', 'replicationcontrollers', 'resourcequotas', 'secrets', 'configmaps',
  'persistentvolumeclaims', 'services.nodeports', 'services.loadbalancers',
]);
const isHugePageQuota = (n) => /^(requests\.|limits\.)?hugepages-/.test(n);
const isNative = (n) => !n.includes('/') || n.includes('kubernetes.io/');
function isExtendedResourceName(n) {
  if (isNative(n) || n.startsWith('requests.')) return false;
  return isQualifiedName(`requests.${n}`).length === 0;
}

function validateResourceQuota(obj) {
  const errs = [];
  const hard = (obj.spec && obj.spec.hard) || {};
  for (const [k, v] of Object.entries(hard)) {
    const p = `spec.hard[${k}]`;
    const nameErrs = [];
    for (const msg of isQualifiedName(k)) nameErrs.push(invalid(p, k, msg));
    if (!nameErrs.length && !k.includes('/') && !(STANDARD_RESOURCES.has(k) || isHugePageQuota(k))) {
      nameErrs.push(invalid(p, k, 'must be a standard resource type or fully qualified'));
    }
    if (!nameErrs.length && !k.includes('/') && !(STANDARD_QUOTA_RESOURCES.has(k) || isHugePageQuota(k))) {
      nameErrs.push(invalid(p, k, 'must be a standard resource for quota'));
    }
    errs.push(...nameErrs);
    const q = parseQuantity(v);
    if (!q) continue;
    if (q.nano < 0n) errs.push(invalid(p, new Raw(String(v)), 'must be greater than or equal to 0'));
    if ((INTEGER_RESOURCES.has(k) || isExtendedResourceName(k)) && q.nano % (10n ** 9n) !== 0n) {
      errs.push(invalid(p, new Raw(String(v)), 'must be an integer'));
    }
  }
  const scopes = ['BestEffort', 'CrossNamespacePodAffinity', 'NotBestEffort', 'NotTerminating', 'PriorityClass', 'Terminating', 'VolumeAttributesClass'];
  for (const [i, s] of ((obj.spec && obj.spec.scopes) || []).entries()) {
    if (!scopes.includes(s)) errs.push(notSupported(`spec.scopes[${i}]`, s, scopes));
  }
  return errs;
}

// LimitRange (ValidateLimitRange in pkg/apis/core/validation): a standard or qualified
// type, at most one item per type, container resource names, no default or
// defaultRequest for type Pod, and min <= defaultRequest <= default <= max.
const LIMIT_TYPES = new Set(['Pod', 'Container', 'PersistentVolumeClaim']);
const CONTAINER_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);

function validateLimitRangeResourceName(type, k, p) {
  const errs = [];
  for (const msg of isQualifiedName(k)) errs.push(invalid(p, k, msg));
  if (errs.length || k.includes('/')) return errs;
  if (!STANDARD_RESOURCES.has(k) && !/^hugepages-/.test(k)) {
    return [invalid(p, k, 'must be a standard resource type or fully qualified')];
  }
  if ((type === 'Pod' || type === 'Container') && !CONTAINER_RESOURCES.has(k) && !/^hugepages-/.test(k)) {
    return [invalid(p, k, 'must be a standard resource for containers')];
  }
  return errs;
}

function validateLimitRange(obj) {
  const errs = [];
  const seen = new Set();
  for (const [i, limit] of ((obj.spec && obj.spec.limits) || []).entries()) {
    const p = `spec.limits[${i}]`;
    const type = limit.type || '';
    const typeErrs = isQualifiedName(type).map((msg) => invalid(`${p}.type`, type, msg));
    if (!typeErrs.length && !type.includes('/') && !LIMIT_TYPES.has(type)) {
      typeErrs.push(invalid(`${p}.type`, type, 'must be a standard limit type or fully qualified'));
    }
    errs.push(...typeErrs);
    if (seen.has(type)) errs.push(duplicate(`${p}.type`, type));
    seen.add(type);
    const values = {};
    const fields = type === 'Pod' ? ['max', 'min', 'maxLimitRequestRatio'] : ['max', 'min', 'default', 'defaultRequest', 'maxLimitRequestRatio'];
    if (type === 'Pod') {
      for (const f of ['default', 'defaultRequest']) {
        if (limit[f] && Object.keys(limit[f]).length) errs.push(forbidden(`${p}.${f}`, "may not be specified when `type` is 'Pod'"));
      }
    }
    for (const f of fields) {
      values[f] = {};
      for (const [k, v] of Object.entries(limit[f] || {})) {
        errs.push(...validateLimitRangeResourceName(type, k, `${p}.${f}[${k}]`));
        values[f][k] = parseQuantity(v);
      }
    }
    if (type === 'PersistentVolumeClaim' && !values.min.storage && !values.max.storage) {
      errs.push(required(`${p}.limits`, 'either minimum or maximum storage value is required, but neither was provided'));
    }
    const keys = new Set(fields.flatMap((f) => Object.keys(values[f])));
    const show = (q, raw) => new Raw(canonicalQuantity(raw) ?? String(raw));
    for (const k of keys) {
      const get = (f) => values[f] && values[f][k];
      const raw = (f) => limit[f][k];
      const [min, max, def, req] = [get('min'), get('max'), get('default'), get('defaultRequest')];
      const s = (f) => canonicalQuantity(raw(f));
      if (min && max && min.nano > max.nano) errs.push(invalid(`${p}.min[${k}]`, show(min, raw('min')), `min value ${s('min')} is greater than max value ${s('max')}`));
      if (req && min && min.nano > req.nano) errs.push(invalid(`${p}.defaultRequest[${k}]`, show(req, raw('defaultRequest')), `min value ${s('min')} is greater than default request value ${s('defaultRequest')}`));
      if (req && max && req.nano > max.nano) errs.push(invalid(`${p}.defaultRequest[${k}]`, show(req, raw('defaultRequest')), `default request value ${s('defaultRequest')} is greater than max value ${s('max')}`));
      if (req && def && req.nano > def.nano) errs.push(invalid(`${p}.defaultRequest[${k}]`, show(req, raw('defaultRequest')), `default request value ${s('defaultRequest')} is greater than default limit value ${s('default')}`));
      if (def && min && min.nano > def.nano) errs.push(invalid(`${p}.default[${k}]`, show(min, raw('min')), `min value ${s('min')} is greater than default value ${s('default')}`));
      if (def && max && def.nano > max.nano) errs.push(invalid(`${p}.default[${k}]`, show(max, raw('max')), `default value ${s('default')} is greater than max value ${s('max')}`));
    }
  }
  return errs;
}

function validateConfigMap(obj) {
  const errs = [];
  let total = 0;
  for (const [k, v] of Object.entries(obj.data || {})) {
    for (const msg of isConfigMapKey(k)) errs.push(invalid(`data[${k}]`, k, msg));
    total += String(v).length;
  }
  for (const [k, v] of Object.entries(obj.binaryData || {})) {
    for (const msg of isConfigMapKey(k)) errs.push(invalid(`binaryData[${k}]`, k, msg));
    if (obj.data && Object.prototype.hasOwnProperty.call(obj.data, k)) {
      errs.push(invalid(`data[${k}]`, k, 'duplicate of key present in binaryData'));
    }
    total += Buffer.from(String(v), 'base64').length;
  }
  if (total > 1024 * 1024) errs.push(tooLong('', `may not be more than ${1024 * 1024} bytes`));
  return errs;
}

function validateLabelSelector(sel, p) {
  const errs = [];
  if (!sel) return errs;
  errs.push(...validateLabels(sel.matchLabels, `${p}.matchLabels`));
  for (const [i, r] of (sel.matchExpressions || []).entries()) {
    const rp = `${p}.matchExpressions[${i}]`;
    const values = r.values || [];
    switch (r.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) errs.push(required(`${rp}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) errs.push(forbidden(`${rp}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        break;
      default:
        errs.push(invalid(`${rp}.operator`, r.operator ?? '', 'not a valid selector operator'));
    }
    for (const msg of isQualifiedName(r.key || '')) errs.push(invalid(`${rp}.key`, r.key || '', msg));
    for (const [j, v] of values.entries()) for (const msg of isValidLabelValue(v)) errs.push(invalid(`${rp}.values[${j}]`, v, msg));
  }
  return errs;
}

function validateCIDR(cidr) {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr || '');
  if (m && m.slice(1, 5).every((x) => Number(x) <= 255) && Number(m[5]) <= 32) return true;
  return /^[0-9a-fA-F:]+\/\d{1,3}$/.test(cidr || '') && Number(cidr.split('/')[1]) <= 128;
}

function validateNetworkPolicy(obj) {
  const errs = [];
  const spec = obj.spec || {};
  errs.push(...validateLabelSelector(spec.podSelector, 'spec.podSelector'));
  const ports = (list, p) => {
    for (const [i, port] of (list || []).entries()) {
      const pp = `${p}.ports[${i}]`;
      if (port.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(port.protocol)) {
        errs.push(notSupported(`${pp}.protocol`, port.protocol, ['TCP', 'UDP', 'SCTP']));
      }
      if (port.port !== undefined) {
        if (typeof port.port === 'number') {
          if (!(Number.isInteger(port.port) && port.port >= 1 && port.port <= 65535)) {
            errs.push(invalid(`${pp}.port`, port.port, 'must be between 1 and 65535, inclusive'));
          }
          if (port.endPort !== undefined) {
            if (port.endPort < port.port) errs.push(invalid(`${pp}.endPort`, port.port, 'must be greater than or equal to `port`'));
            if (!(port.endPort >= 1 && port.endPort <= 65535)) errs.push(invalid(`${pp}.endPort`, port.endPort, 'must be between 1 and 65535, inclusive'));
          }
        } else {
          if (port.endPort !== undefined) errs.push(invalid(`${pp}.endPort`, port.endPort, 'may not be specified when `port` is non-numeric'));
          for (const msg of isValidPortName(String(port.port))) errs.push(invalid(`${pp}.port`, port.port, msg));
        }
      } else if (port.endPort !== undefined) {
        errs.push(invalid(`${pp}.endPort`, port.endPort, 'may not be specified when `port` is not specified'));
      }
    }
  };
  const peers = (list, p) => {
    for (const [i, peer] of (list || []).entries()) {
      const pp = `${p}[${i}]`;
      let n = 0;
      if (peer.podSelector) {
        n++;
        errs.push(...validateLabelSelector(peer.podSelector, `${pp}.podSelector`));
      }
      if (peer.namespaceSelector) {
        n++;
        errs.push(...validateLabelSelector(peer.namespaceSelector, `${pp}.namespaceSelector`));
      }
      if (peer.ipBlock) {
        n++;
        if (!peer.ipBlock.cidr) errs.push(required(`${pp}.ipBlock.cidr`));
        else if (!validateCIDR(peer.ipBlock.cidr)) errs.push(invalid(`${pp}.ipBlock.cidr`, peer.ipBlock.cidr, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'));
        for (const [j, ex] of (peer.ipBlock.except || []).entries()) {
          if (!validateCIDR(ex)) errs.push(invalid(`${pp}.ipBlock.except[${j}]`, ex, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'));
        }
      }
      if (n === 0) errs.push(required(pp, 'must specify a peer'));
      else if (peer.ipBlock && n > 1) errs.push(forbidden(pp, 'may not specify both ipBlock and another peer'));
    }
  };
  for (const [i, r] of (spec.ingress || []).entries()) {
    ports(r.ports, `spec.ingress[${i}]`);
    peers(r.from, `spec.ingress[${i}].from`);
  }
  for (const [i, r] of (spec.egress || []).entries()) {
    ports(r.ports, `spec.egress[${i}]`);
    peers(r.to, `spec.egress[${i}].to`);
  }
  const types = spec.policyTypes || [];
  for (const [i, t] of types.entries()) {
    if (t !== 'Ingress' && t !== 'Egress') errs.push(notSupported(`spec.policyTypes[${i}]`, t, ['Ingress', 'Egress']));
  }
  if (types.length > 2) errs.push(invalid('spec.policyTypes', types, 'may not specify more than two policyTypes'));
  return errs;
}

const rbacName = (n) => isValidPathSegmentName(n);
const RBAC_GROUP = 'rbac.authorization.k8s.io';

function validateRole(obj) {
  const errs = [];
  for (const [i, rule] of (obj.rules || []).entries()) {
    const p = `rules[${i}]`;
    if (!(rule.verbs || []).length) errs.push(required(`${p}.verbs`, 'verbs must contain at least one value'));
    if ((rule.nonResourceURLs || []).length) {
      errs.push(invalid(`${p}.nonResourceURLs`, rule.nonResourceURLs, 'namespaced rules cannot apply to non-resource URLs'));
      if ((rule.apiGroups || []).length || (rule.resources || []).length || (rule.resourceNames || []).length) {
        errs.push(invalid(`${p}.nonResourceURLs`, rule.nonResourceURLs, 'rules cannot apply to both regular resources and non-resource URLs'));
      }
      continue;
    }
    if (!(rule.apiGroups || []).length) errs.push(required(`${p}.apiGroups`, 'resource rules must supply at least one api group'));
    if (!(rule.resources || []).length) errs.push(required(`${p}.resources`, 'resource rules must supply at least one resource'));
  }
  return errs;
}

export function roleRefRepr(r) {
  return new Raw(`rbac.RoleRef{APIGroup:${JSON.stringify(r.apiGroup || '')}, Kind:${JSON.stringify(r.kind || '')}, Name:${JSON.stringify(r.name || '')}}`);
}

function validateRoleBinding(obj, old) {
  const errs = [];
  const rr = obj.roleRef || {};
  if (rr.apiGroup !== RBAC_GROUP) errs.push(notSupported('roleRef.apiGroup', rr.apiGroup || '', [RBAC_GROUP]));
  if (rr.kind !== 'Role' && rr.kind !== 'ClusterRole') errs.push(notSupported('roleRef.kind', rr.kind || '', ['Role', 'ClusterRole']));
  if (!rr.name) errs.push(required('roleRef.name'));
  else for (const msg of rbacName(rr.name)) errs.push(invalid('roleRef.name', rr.name, msg));
  for (const [i, s] of (obj.subjects || []).entries()) {
    const p = `subjects[${i}]`;
    if (!s.name) errs.push(required(`${p}.name`));
    switch (s.kind) {
      case 'ServiceAccount':
        if (s.name) for (const msg of isDNS1123Subdomain(s.name)) errs.push(invalid(`${p}.name`, s.name, msg));
        if (s.apiGroup) errs.push(notSupported(`${p}.apiGroup`, s.apiGroup, ['']));
        break;
      case 'User':
      case 'Group':
        if (s.apiGroup !== RBAC_GROUP) errs.push(notSupported(`${p}.apiGroup`, s.apiGroup || '', [RBAC_GROUP]));
        break;
      default:
        errs.push(notSupported(`${p}.kind`, s.kind || '', ['ServiceAccount', 'User', 'Group']));
    }
  }
  if (old) {
    const o = old.roleRef || {};
    if (o.apiGroup !== rr.apiGroup || o.kind !== rr.kind || o.name !== rr.name) {
      errs.unshift(invalid('roleRef', roleRefRepr(rr), 'cannot change roleRef'));
    }
  }
  return errs;
}

function validateAckSpec(obj, required_) {
  const errs = [];
  for (const f of required_.spec || []) {
    if (!obj.spec || obj.spec[f] === undefined || obj.spec[f] === null) errs.push(required(`spec.${f}`));
  }
  if (obj.spec && obj.spec.maxSessionDuration !== undefined && !Number.isInteger(obj.spec.maxSessionDuration)) {
    errs.push(invalid('spec.maxSessionDuration', obj.spec.maxSessionDuration, 'must be an integer'));
  }
  return errs;
}

/**
 * Validates a complete object (after merge/defaulting). old is the stored object on update.
 * Returns field errors.
 */
export function validateObject(res, obj, old) {
  const meta = obj.metadata || {};
  let nameFn = isDNS1123Subdomain;
  if (res.kind === 'Namespace') nameFn = isDNS1123Label;
  if (res.group === RBAC_GROUP) nameFn = rbacName;
  const errs = validateObjectMeta(meta, res.namespaced, nameFn);
  switch (res.group === 'iam.services.k8s.aws' ? `ack/${res.kind}` : res.kind) {
    case 'ResourceQuota':
      errs.push(...validateResourceQuota(obj));
      break;
    case 'LimitRange':
      errs.push(...validateLimitRange(obj));
      break;
    case 'ConfigMap':
      errs.push(...validateConfigMap(obj));
      break;
    case 'NetworkPolicy':
      errs.push(...validateNetworkPolicy(obj));
      break;
    case 'Role':
      errs.push(...validateRole(obj));
      break;
    case 'RoleBinding':
      errs.push(...validateRoleBinding(obj, old));
      break;
    case 'ack/Role':
    case 'ack/Policy':
      errs.push(...validateAckSpec(obj, res.ackRequired));
      break;
    default:
      break;
  }
  return errs;
}

// Maps kubernetes-models (ajv) errors to field errors, for the schema rules not
// covered by the strategies above (required fields and enums of other fields).
export function modelFieldErrors(ajvErrors, schema, already, obj) {
  const out = [];
  const seen = new Set(already.map((e) => e.field));
  for (const e of ajvErrors) {
    if (!['required', 'enum'].includes(e.keyword)) continue;
    const segs = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    let node = deref(schema);
    let p = '';
    let val = obj;
    for (const s of segs) {
      val = val === undefined || val === null ? undefined : val[s];
      if (node && node.kind === 'struct') {
        p += p ? `.${s}` : s;
        node = deref(node.fields()[s]);
      } else if (node && node.kind === 'map') {
        p += `[${s}]`;
        node = deref(node.elem);
      } else if (node && node.kind === 'list') {
        p += `[${s}]`;
        node = deref(node.elem);
      } else {
        p += p ? `.${s}` : s;
      }
    }
    let fe;
    if (e.keyword === 'required') {
      const f = p ? `${p}.${e.params.missingProperty}` : e.params.missingProperty;
      fe = required(f);
    } else {
      fe = notSupported(p, val ?? '', e.params.allowedValues);
    }
    if (seen.has(fe.field) || [...seen].some((f) => f.startsWith(`${fe.field}.`))) continue;
    seen.add(fe.field);
    out.push(fe);
  }
  return out;
}
