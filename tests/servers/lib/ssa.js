// Server-side apply: field sets per manager, conflicts, merge and field removal.
// Structs and maps are granular (labels, annotations, data, spec.hard, matchLabels);
// every list is atomic (RoleBinding.subjects, NetworkPolicy ingress/egress, ...).
import { deref } from './k8s-schema.js';

const META_SKIP = new Set([
  'name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp',
  'deletionGracePeriodSeconds', 'managedFields', 'selfLink',
]);

export const clone = (v) => (v === undefined ? undefined : structuredClone(v));

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

export function deepEqual(a, b) {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

const keyOf = (p) => JSON.stringify(p);

function childNode(node, k) {
  node = deref(node);
  if (!node) return undefined;
  if (node.kind === 'struct') return node.fields()[k];
  if (node.kind === 'map') return node.elem;
  return undefined;
}

/** Leaf paths owned by whoever sets obj: Map<key, path[]>. */
export function leafPaths(obj, schema) {
  const out = new Map();
  const walk = (v, node, p) => {
    const n = deref(node);
    const isContainer = isPlainObject(v) && (!n || n.kind === 'struct' || n.kind === 'map');
    if (isContainer) {
      const keys = Object.keys(v);
      if (keys.length === 0) {
        if (p.length) out.set(keyOf(p), p);
        return;
      }
      for (const k of keys) {
        if (p.length === 0 && (k === 'apiVersion' || k === 'kind' || k === 'status')) continue;
        if (p.length === 1 && p[0] === 'metadata' && META_SKIP.has(k)) continue;
        if (v[k] === null || v[k] === undefined) continue;
        walk(v[k], childNode(n, k), p.concat(k));
      }
      return;
    }
    out.set(keyOf(p), p);
  };
  walk(obj, schema, []);
  return out;
}

export function getAt(obj, p) {
  let cur = obj;
  for (const s of p) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[s];
  }
  return cur;
}

export function setAt(obj, p, v) {
  let cur = obj;
  for (let i = 0; i < p.length - 1; i++) {
    if (!isPlainObject(cur[p[i]])) cur[p[i]] = {};
    cur = cur[p[i]];
  }
  cur[p[p.length - 1]] = v;
}

export function deleteAt(obj, p) {
  let cur = obj;
  for (let i = 0; i < p.length - 1; i++) {
    if (!isPlainObject(cur[p[i]])) return;
    cur = cur[p[i]];
  }
  delete cur[p[p.length - 1]];
}

const isPrefix = (a, b) => a.length <= b.length && a.every((s, i) => s === b[i]);
const overlaps = (a, b) => isPrefix(a, b) || isPrefix(b, a);

/** Drops nulls, empty lists and empty maps (Go's omitempty); empty structs stay. */
export function normalize(v, node) {
  const n = deref(node);
  if (Array.isArray(v)) return v.map((x) => normalize(x, n && n.kind === 'list' ? n.elem : undefined));
  if (!isPlainObject(v)) return v;
  if (n && n.kind === 'scalar') return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    const cn = childNode(n, k);
    const nx = normalize(x, cn);
    if (nx === null || nx === undefined) continue;
    if (Array.isArray(nx) && nx.length === 0) continue;
    const dc = deref(cn);
    if (dc && dc.kind === 'map' && isPlainObject(nx) && Object.keys(nx).length === 0) continue;
    out[k] = nx;
  }
  return out;
}

export const fieldPathString = (p) => `.${p.join('.')}`;

function cloneEntries(entries) {
  return entries.map((e) => ({ ...e, paths: new Map(e.paths) }));
}

function sameSet(a, b) {
  if (a.size !== b.size) return false;
  for (const k of a.keys()) if (!b.has(k)) return false;
  return true;
}

/**
 * Applies `applied` for `manager`.
 * Returns {conflicts} when refused, else {object, entries}.
 */
export function apply({ live, applied, manager, force, entries, schema, apiVersion, now }) {
  const S = leafPaths(applied, schema);
  const es = cloneEntries(entries);
  const mine = es.find((e) => e.manager === manager && e.operation === 'Apply');
  const conflicts = [];
  for (const p of S.values()) {
    if (!live) break;
    const av = getAt(applied, p);
    const lv = getAt(live, p);
    if (lv === undefined) continue;
    if (isPlainObject(av) && Object.keys(av).length === 0 && isPlainObject(lv)) continue;
    if (deepEqual(av, lv)) continue;
    for (const e of es) {
      if (e === mine) continue;
      for (const q of e.paths.values()) {
        if (overlaps(q, p)) {
          conflicts.push({ entry: e, path: p, owned: q });
          break;
        }
      }
    }
  }
  if (conflicts.length && !force) return { conflicts };
  for (const c of conflicts) {
    for (const [k, q] of c.entry.paths) if (overlaps(q, c.path)) c.entry.paths.delete(k);
  }

  const obj = live ? clone(live) : {};
  for (const p of S.values()) {
    const av = getAt(applied, p);
    if (isPlainObject(av) && Object.keys(av).length === 0 && isPlainObject(getAt(obj, p))) continue;
    setAt(obj, p, clone(av));
  }
  if (mine) {
    const others = es.filter((e) => e !== mine);
    for (const [k, p] of mine.paths) {
      if (S.has(k)) continue;
      let kept = false;
      for (const q of S.values()) if (overlaps(q, p)) kept = true;
      for (const e of others) for (const q of e.paths.values()) if (overlaps(q, p)) kept = true;
      if (!kept) deleteAt(obj, p);
    }
    if (!sameSet(mine.paths, S)) {
      mine.paths = S;
      mine.time = now;
    }
    mine.apiVersion = apiVersion;
  } else {
    es.push({ manager, operation: 'Apply', apiVersion, time: now, paths: S });
  }
  return { object: obj, entries: es.filter((e) => e.paths.size > 0) };
}

/** Ownership after a non-apply write (create, update, merge/json patch) by `manager`. */
export function recordUpdate({ live, next, manager, entries, schema, apiVersion, now }) {
  const N = leafPaths(next, schema);
  const L = live ? leafPaths(live, schema) : new Map();
  const changed = new Map();
  for (const [k, p] of N) if (!live || !deepEqual(getAt(live, p), getAt(next, p))) changed.set(k, p);
  const removed = [...L].filter(([k]) => !N.has(k)).map(([, p]) => p);
  const es = cloneEntries(entries);
  let mine = es.find((e) => e.manager === manager && e.operation === 'Update');
  for (const e of es) {
    if (e === mine) continue;
    for (const [k, q] of e.paths) {
      for (const p of changed.values()) if (overlaps(q, p)) e.paths.delete(k);
      for (const p of removed) if (isPrefix(p, q)) e.paths.delete(k);
    }
  }
  if (!mine && changed.size) {
    mine = { manager, operation: 'Update', apiVersion, time: now, paths: new Map() };
    es.push(mine);
  }
  if (mine) {
    const paths = new Map();
    for (const [k, p] of mine.paths) if (N.has(k)) paths.set(k, p);
    for (const [k, p] of changed) paths.set(k, p);
    if (!sameSet(paths, mine.paths) || changed.size) mine.time = now;
    mine.paths = paths;
    mine.apiVersion = apiVersion;
  }
  return es.filter((e) => e.paths.size > 0);
}

export function sameEntries(a, b) {
  if (a.length !== b.length) return false;
  return a.every((e, i) => e.manager === b[i].manager && e.operation === b[i].operation && sameSet(e.paths, b[i].paths));
}

function toFieldsV1(paths) {
  const root = {};
  for (const p of paths.values()) {
    let cur = root;
    for (const s of p) {
      const k = `f:${s}`;
      if (!cur[k]) cur[k] = {};
      cur = cur[k];
    }
  }
  return root;
}

export function managedFieldsJson(entries) {
  return entries.map((e) => ({
    manager: e.manager,
    operation: e.operation,
    apiVersion: e.apiVersion,
    time: e.time,
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(e.paths),
  }));
}

function printManager(e) {
  return e.operation === 'Update' ? `"${e.manager}" using ${e.apiVersion}` : `"${e.manager}"`;
}

/** The 409 message and causes of refused applies (managedfields/internal/conflict.go). */
export function conflictStatus(conflicts) {
  const causes = conflicts.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${printManager(c.entry)}`,
    field: fieldPathString(c.path),
  }));
  let message;
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${printManager(conflicts[0].entry)}: ${fieldPathString(conflicts[0].path)}`;
  } else {
    const by = new Map();
    for (const c of conflicts) {
      const m = printManager(c.entry);
      if (!by.has(m)) by.set(m, []);
      by.get(m).push(fieldPathString(c.path));
    }
    const lines = [];
    for (const m of [...by.keys()].sort()) {
      lines.push(`conflicts with ${m}:`);
      for (const p of by.get(m)) lines.push(`- ${p}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return { message, causes };
}
