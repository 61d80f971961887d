// Structural schemas of the served kinds, read from the kubernetes-models type
// declarations (built-in kinds) or written from the ACK iam-controller CRDs, and the
// kubernetes-models OpenAPI validators.
//
// Schema nodes:  {kind:'struct', fields()} | {kind:'map', elem} | {kind:'list', elem}
//                | {kind:'scalar', type:'string'|'number'|'boolean'|'int-or-string'|'quantity'|'any', enum?}
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const KM_DIR = path.dirname(require.resolve('kubernetes-models/package.json'));
const NODE_MODULES = path.dirname(KM_DIR);

const fileCache = new Map();

function resolveImport(fromFile, spec) {
  const base = spec.replace(/\.js$/, '');
  const candidates = spec.startsWith('.')
    ? [path.resolve(path.dirname(fromFile), `${base}.d.ts`)]
    : [path.join(NODE_MODULES, `${base}.d.ts`), path.join(KM_DIR, 'node_modules', `${base}.d.ts`)];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new Error(`cannot resolve type import ${spec} from ${fromFile}`);
}

function splitTopLevel(s, sep) {
  const out = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '<' || ch === '{' || ch === '(' || ch === '[') depth++;
    if (ch === '>' || ch === '}' || ch === ')' || ch === ']') depth--;
    if (ch === sep && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((x) => x.trim());
}

function parseDts(file) {
  if (fileCache.has(file)) return fileCache.get(file);
  const text = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const imports = new Map();
  for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) imports.set(m[1], m[2]);
  let node;
  const im = /export interface \w+(?: extends [\w, ]+)? \{\n([\s\S]*?)\n\}/.exec(text);
  if (im) {
    const body = im[1];
    let fieldsCache = null;
    node = {
      kind: 'struct',
      fields() {
        if (fieldsCache) return fieldsCache;
        fieldsCache = {};
        const props = splitTopLevel(body, ';').filter(Boolean);
        for (const p of props) {
          const pm = /^"([^"]+)"(\?)?:\s*([\s\S]+)$/.exec(p);
          if (!pm) continue;
          fieldsCache[pm[1]] = parseType(pm[3].trim(), file, imports);
        }
        return fieldsCache;
      },
    };
  } else {
    const am = /export type I\w+ = ([^;]+);/.exec(text);
    const t = am ? am[1].trim() : 'any';
    if (/Quantity\.d\.ts$/.test(file)) node = { kind: 'scalar', type: 'quantity' };
    else if (/IntOrString\.d\.ts$/.test(file)) node = { kind: 'scalar', type: 'int-or-string' };
    else node = parseType(t, file, imports);
  }
  fileCache.set(file, node);
  return node;
}

function parseType(t, file, imports) {
  t = t.trim();
  if (t.startsWith('Array<') && t.endsWith('>')) return { kind: 'list', elem: parseType(t.slice(6, -1), file, imports) };
  if (t.startsWith('{')) {
    const m = /^\{\s*\[key: string\]:\s*([\s\S]+?);?\s*\}$/.exec(t);
    if (m) return { kind: 'map', elem: parseType(m[1], file, imports) };
    return { kind: 'scalar', type: 'any' };
  }
  const alts = splitTopLevel(t, '|');
  if (alts.length > 1) {
    if (alts.every((a) => /^".*"$/.test(a))) return { kind: 'scalar', type: 'string', enum: alts.map((a) => JSON.parse(a)) };
    const kinds = new Set(alts);
    if (kinds.has('string') && kinds.has('number')) return { kind: 'scalar', type: 'int-or-string' };
    return { kind: 'scalar', type: 'any' };
  }
  if (/^".*"$/.test(t)) return { kind: 'scalar', type: 'string', enum: [JSON.parse(t)] };
  if (t === 'string' || t === 'number' || t === 'boolean') return { kind: 'scalar', type: t };
  if (imports.has(t)) return { kind: 'ref', load: () => parseDts(resolveImport(file, imports.get(t))) };
  return { kind: 'scalar', type: 'any' };
}

export function deref(node) {
  let n = node;
  while (n && n.kind === 'ref') n = n.load();
  return n;
}

export function modelSchema(modelPath) {
  return parseDts(path.join(KM_DIR, `${modelPath}.d.ts`));
}

// ---- ACK iam-controller v1alpha1 CRD schemas (spec fields of the v1.x CRDs) --------

const str = { kind: 'scalar', type: 'string' };
const int = { kind: 'scalar', type: 'number' };
const struct = (fields) => ({ kind: 'struct', fields: () => fields });
const list = (elem) => ({ kind: 'list', elem });
const map = (elem) => ({ kind: 'map', elem });
const objectMeta = { kind: 'ref', load: () => parseDts(path.join(NODE_MODULES, '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta.d.ts')) };
const ackRef = struct({ from: struct({ name: str, namespace: str }) });
const tag = struct({ key: str, value: str });
const ackStatus = struct({
  ackResourceMetadata: struct({ arn: str, ownerAccountID: str, region: str }),
  conditions: list(struct({ lastTransitionTime: str, message: str, reason: str, status: str, type: str })),
  createDate: str,
  roleID: str,
  policyID: str,
  attachmentCount: int,
  defaultVersionID: str,
  isAttachable: { kind: 'scalar', type: 'boolean' },
  permissionsBoundaryUsageCount: int,
  roleLastUsed: struct({ lastUsedDate: str, region: str }),
  updateDate: str,
});

export const ACK_SCHEMAS = {
  Role: {
    schema: struct({
      apiVersion: str,
      kind: str,
      metadata: objectMeta,
      spec: struct({
        assumeRolePolicyDocument: str,
        description: str,
        inlinePolicies: map(str),
        maxSessionDuration: int,
        name: str,
        path: str,
        permissionsBoundary: str,
        permissionsBoundaryRef: ackRef,
        policies: list(str),
        policyRefs: list(ackRef),
        tags: list(tag),
      }),
      status: ackStatus,
    }),
    required: { spec: ['assumeRolePolicyDocument', 'name'] },
  },
  Policy: {
    schema: struct({
      apiVersion: str,
      kind: str,
      metadata: objectMeta,
      spec: struct({
        description: str,
        name: str,
        path: str,
        policyDocument: str,
        tags: list(tag),
      }),
      status: ackStatus,
    }),
    required: { spec: ['name', 'policyDocument'] },
  },
};

// ---- kubernetes-models validators ---------------------------------------------------

const validators = new Map();
export async function loadValidator(modelPath) {
  if (validators.has(modelPath)) return validators.get(modelPath);
  const name = path.basename(modelPath);
  const mod = await import(`kubernetes-models/${modelPath}`);
  const Model = mod[name];
  const v = (obj) => {
    try {
      new Model(obj).validate();
      return [];
    } catch (e) {
      return e.errors || [{ instancePath: '', keyword: 'unknown', message: e.message }];
    }
  };
  validators.set(modelPath, v);
  return v;
}
