// Loads the official flyteidl protos and builds grpc-gateway style REST routing
// from their google.api.http annotations.
import path from 'node:path';
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';
import { decode, encodeMessage, ProtoJsonError } from './protojson.js';

const require = createRequire(import.meta.url);
const PROTO_DIR = path.join(path.dirname(require.resolve('@flyteorg/flyteidl/package.json')), 'protos');

let rootCache = null;
export function protoRoot() {
  if (rootCache) return rootCache;
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (target.startsWith('google/protobuf/')) return target; // bundled with protobufjs
    if (!target.startsWith('flyteidl/')) return null; // google/api, openapiv2 options: annotations only
    return path.join(PROTO_DIR, target);
  };
  root.loadSync(
    ['flyteidl/service/admin.proto', 'flyteidl/service/auth.proto', 'flyteidl/service/identity.proto'],
    { keepCase: true },
  );
  root.resolveAll();
  rootCache = root;
  return root;
}

export function type(name) {
  return protoRoot().lookupType(name);
}

export function enumType(name) {
  return protoRoot().lookupEnum(name);
}

// ---- routes ---------------------------------------------------------------------------

function compileTemplate(tpl) {
  const segs = tpl.replace(/^\//, '').split('/').map((s) => {
    const m = /^\{([^}=]+)(?:=([^}]*))?\}$/.exec(s);
    if (m) return { var: m[1] };
    return { lit: s };
  });
  return segs;
}

export function buildRoutes() {
  const root = protoRoot();
  const routes = [];
  for (const svc of ['AdminService', 'AuthMetadataService', 'IdentityService']) {
    const s = root.lookupService(`flyteidl.service.${svc}`);
    for (const m of s.methodsArray) {
      for (const po of m.parsedOptions || []) {
        const rule = po['(google.api.http)'];
        if (!rule) continue;
        const bindings = [rule].concat(rule.additional_bindings || []);
        for (const b of bindings) {
          for (const verb of ['get', 'put', 'post', 'delete', 'patch']) {
            if (!b[verb]) continue;
            routes.push({
              service: svc,
              rpc: m.name,
              method: verb.toUpperCase(),
              template: b[verb],
              segs: compileTemplate(b[verb]),
              body: b.body || null,
              requestType: m.resolvedRequestType,
              responseType: m.resolvedResponseType,
            });
          }
        }
      }
    }
  }
  // grpc-gateway tries the most recently registered pattern first
  return routes.reverse();
}

function matchSegs(segs, parts) {
  if (segs.length !== parts.length) return null;
  const params = {};
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    if (s.lit !== undefined) {
      if (s.lit !== parts[i]) return null;
    } else {
      if (parts[i] === '') return null;
      try {
        params[s.var] = decodeURIComponent(parts[i]);
      } catch {
        return null;
      }
    }
  }
  return params;
}

export function matchRoute(routes, method, rawPath) {
  const parts = rawPath.replace(/^\//, '').split('/');
  let otherMethod = false;
  for (const r of routes) {
    const params = matchSegs(r.segs, parts);
    if (!params) continue;
    if (r.method === method) return { route: r, params };
    otherMethod = true;
  }
  return { route: null, methodNotAllowed: otherMethod };
}

// ---- gateway request handling ------------------------------------------------------

export class GatewayError extends Error {
  constructor(code, message, details = []) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

export const HTTP_FROM_CODE = {
  0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409,
  11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
};

export const CODE_FROM_HTTP = {
  400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 499: 1, 500: 13, 501: 12, 503: 14, 504: 4,
};

// grpc-gateway marshaler selection: the inbound (request) marshaler is chosen by the
// Content-Type media type, the outbound one by an exact match of Accept, else the inbound.
export function marshalers(headers) {
  const ct = (headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  const inboundStrict = ct === 'application/json';
  const accept = headers.accept;
  const outboundSnake = accept === 'application/json' ? true : inboundStrict;
  return { inboundStrict, outboundSnake };
}

function findField(t, name) {
  for (const f of t.fieldsArray) {
    if (f.name === name) return f;
    if (f.name.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase()) === name) return f;
  }
  return null;
}

function parseQueryValue(f, value) {
  const fname = f.name;
  const rt = f.resolvedType;
  if (rt && rt.values) {
    if (Object.prototype.hasOwnProperty.call(rt.values, value)) return rt.values[value];
    if (/^-?\d+$/.test(value) && rt.valuesById[Number(value)] !== undefined) return Number(value);
    throw new GatewayError(3, `parsing field "${fname}": "${value}" is not a valid value`);
  }
  switch (f.type) {
    case 'string':
      return value;
    case 'bool':
      if (['true', 'True', 'TRUE', '1', 't', 'T'].includes(value)) return true;
      if (['false', 'False', 'FALSE', '0', 'f', 'F'].includes(value)) return false;
      throw new GatewayError(3, `parsing field "${fname}": strconv.ParseBool: parsing "${value}": invalid syntax`);
    case 'int32':
    case 'sint32':
    case 'sfixed32':
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      if (!/^[+-]?\d+$/.test(value)) throw new GatewayError(3, `parsing field "${fname}": strconv.ParseInt: parsing "${value}": invalid syntax`);
      return f.type.endsWith('64') ? String(BigInt(value)) : Number(value);
    case 'uint32':
    case 'fixed32':
    case 'uint64':
    case 'fixed64':
      if (!/^\+?\d+$/.test(value)) throw new GatewayError(3, `parsing field "${fname}": strconv.ParseUint: parsing "${value}": invalid syntax`);
      return f.type.endsWith('64') ? String(BigInt(value)) : Number(value);
    case 'double':
    case 'float':
      if (Number.isNaN(Number(value))) throw new GatewayError(3, `parsing field "${fname}": strconv.ParseFloat: parsing "${value}": invalid syntax`);
      return Number(value);
    default:
      return value;
  }
}

function setPath(t, msg, fieldPath, value, fromQuery) {
  const names = fieldPath.split('.');
  let cur = msg;
  let ct = t;
  for (let i = 0; i < names.length; i++) {
    const f = findField(ct, names[i]);
    if (!f) {
      if (fromQuery) return; // unknown query parameters are ignored
      throw new GatewayError(3, `no field "${names[i]}" in ${ct.fullName.slice(1)}`);
    }
    if (i === names.length - 1) {
      if (f.repeated) {
        cur[f.name] = (cur[f.name] || []).concat(parseQueryValue(f, value));
      } else {
        cur[f.name] = parseQueryValue(f, value);
      }
      return;
    }
    if (!f.resolvedType || !f.resolvedType.fieldsArray) return;
    if (!cur[f.name] || typeof cur[f.name] !== 'object') cur[f.name] = {};
    cur = cur[f.name];
    ct = f.resolvedType;
  }
}

/**
 * Builds the request message the way a generated grpc-gateway handler does: decode the
 * body (body:"*"), apply path parameters (they win), then query parameters for
 * routes without a body.
 */
export function buildRequest(route, params, ctx, inboundStrict) {
  let msg = {};
  if (route.body === '*') {
    try {
      msg = decode(route.requestType, ctx.body.toString('utf8'), { discardUnknown: !inboundStrict });
    } catch (e) {
      if (e instanceof ProtoJsonError) throw new GatewayError(3, e.message);
      throw e;
    }
  }
  for (const [k, v] of Object.entries(params)) setPath(route.requestType, msg, k, v, false);
  if (route.body === null) {
    const filter = new Set(Object.keys(params));
    // query strings are form-decoded: "+" is a space
    const sp = new URLSearchParams(ctx.rawQuery || '');
    const groups = new Map();
    for (const [k, v] of sp) {
      if (filter.has(k)) continue;
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(v);
    }
    for (const [k, vs] of groups) {
      for (const v of vs) setPath(route.requestType, msg, k, v, true);
    }
  }
  return msg;
}

export function encode(t, value, snake) {
  return encodeMessage(t, value, { protoNames: snake });
}
