// Protobuf JSON mapping (the rules of Go's protojson, as used by grpc-gateway)
// over protobufjs reflection types.
//
// decode(type, text, {discardUnknown}) -> plain object keyed by proto field names
//   enums as numbers, 64-bit integers as decimal strings, wrappers as primitives,
//   Struct/Value/Any as plain JSON; throws ProtoJsonError with Go's messages.
// encode(type, value, {protoNames}) -> JSON-able object with every field emitted
//   (EmitUnpopulated), enums as names, 64-bit integers as strings.

export class ProtoJsonError extends Error {}

// ---- JSON text -> AST with positions -------------------------------------------------

function lineCol(text, pos) {
  let line = 1;
  let start = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return `${line}:${[...text.slice(start, pos)].length + 1}`;
}

class Parser {
  constructor(text) {
    this.s = text;
    this.i = 0;
  }
  err(pos, msg) {
    return new ProtoJsonError(`proto: syntax error (line ${lineCol(this.s, pos)}): ${msg}`);
  }
  ws() {
    const s = this.s;
    while (this.i < s.length) {
      const c = s[this.i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.i++;
      else break;
    }
  }
  tokenAt(pos) {
    const m = /^(?:[{}[\],:]|"(?:[^"\\]|\\.)*"?|[^\s{}[\],:"]+)/.exec(this.s.slice(pos));
    return m ? m[0] : '';
  }
  value() {
    this.ws();
    const s = this.s;
    const pos = this.i;
    if (pos >= s.length) throw this.err(pos, 'unexpected EOF');
    const c = s[pos];
    if (c === '{') {
      this.i++;
      const entries = [];
      this.ws();
      if (s[this.i] === '}') {
        this.i++;
        return { t: 'obj', pos, raw: '{', entries };
      }
      for (;;) {
        this.ws();
        const kpos = this.i;
        if (s[kpos] !== '"') throw this.err(kpos, `unexpected token ${this.tokenAt(kpos) || 'EOF'}`);
        const key = this.string();
        this.ws();
        if (s[this.i] !== ':') throw this.err(this.i, `unexpected token ${this.tokenAt(this.i) || 'EOF'}`);
        this.i++;
        const value = this.value();
        entries.push({ key: key.v, raw: key.raw, pos: kpos, value });
        this.ws();
        if (s[this.i] === ',') {
          this.i++;
          continue;
        }
        if (s[this.i] === '}') {
          this.i++;
          return { t: 'obj', pos, raw: '{', entries };
        }
        throw this.err(this.i, `unexpected token ${this.tokenAt(this.i) || 'EOF'}`);
      }
    }
    if (c === '[') {
      this.i++;
      const items = [];
      this.ws();
      if (s[this.i] === ']') {
        this.i++;
        return { t: 'arr', pos, raw: '[', items };
      }
      for (;;) {
        items.push(this.value());
        this.ws();
        if (s[this.i] === ',') {
          this.i++;
          continue;
        }
        if (s[this.i] === ']') {
          this.i++;
          return { t: 'arr', pos, raw: '[', items };
        }
        throw this.err(this.i, `unexpected token ${this.tokenAt(this.i) || 'EOF'}`);
      }
    }
    if (c === '"') {
      const r = this.string();
      return { t: 'str', pos, v: r.v, raw: r.raw };
    }
    const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(s.slice(pos));
    if (!m) throw this.err(pos, `invalid value ${this.tokenAt(pos)}`);
    const raw = m[0];
    const next = s[pos + raw.length];
    if (next !== undefined && /[A-Za-z0-9_.]/.test(next)) throw this.err(pos, `invalid value ${this.tokenAt(pos)}`);
    this.i += raw.length;
    if (raw === 'true' || raw === 'false') return { t: 'bool', pos, v: raw === 'true', raw };
    if (raw === 'null') return { t: 'null', pos, raw };
    return { t: 'num', pos, raw };
  }
  string() {
    const s = this.s;
    const start = this.i;
    let j = start + 1;
    while (j < s.length && s[j] !== '"') {
      if (s[j] === '\\') j++;
      else if (s.charCodeAt(j) < 0x20) throw this.err(j, 'invalid character in string');
      j++;
    }
    if (j >= s.length) throw this.err(start, 'unexpected EOF');
    const raw = s.slice(start, j + 1);
    this.i = j + 1;
    let v;
    try {
      v = JSON.parse(raw);
    } catch {
      throw this.err(start, `invalid escape code in string ${raw}`);
    }
    return { v, raw };
  }
}

export function parseJsonAst(text) {
  const p = new Parser(text);
  const v = p.value();
  p.ws();
  if (p.i < text.length) throw p.err(p.i, `unexpected token ${p.tokenAt(p.i)}`);
  return { ast: v, text };
}

// ---- helpers ---------------------------------------------------------------------

export function jsonName(protoName) {
  let out = '';
  let up = false;
  for (const ch of protoName) {
    if (ch === '_') {
      up = true;
      continue;
    }
    out += up ? ch.toUpperCase() : ch;
    up = false;
  }
  return out;
}

const INT_KINDS = {
  int32: [32, true], sint32: [32, true], sfixed32: [32, true],
  uint32: [32, false], fixed32: [32, false],
  int64: [64, true], sint64: [64, true], sfixed64: [64, true],
  uint64: [64, false], fixed64: [64, false],
};

function fieldMaps(type) {
  if (!type._pj) {
    const byName = new Map();
    for (const f of type.fieldsArray) {
      byName.set(jsonName(f.name), f);
      byName.set(f.name, f);
    }
    type._pj = { byName };
  }
  return type._pj;
}

function realOneof(field) {
  const o = field.partOf;
  if (!o) return null;
  // proto3 optional fields live in synthetic oneofs named "_<field>"
  if (o.oneof.length === 1 && o.name === `_${field.name}`) return { synthetic: true, o };
  return { synthetic: false, o };
}

// Parses the text of a JSON number into a BigInt when it denotes an integer.
function integerOf(raw) {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(raw);
  if (!m) return null;
  let digits = m[2] + (m[3] || '');
  let exp = Number(m[4] || 0) - (m[3] || '').length;
  if (exp < 0) {
    const cut = digits.length + exp;
    const frac = cut < 0 ? digits : digits.slice(cut);
    if (/[1-9]/.test(frac)) return null;
    digits = cut <= 0 ? '0' : digits.slice(0, cut);
    exp = 0;
  }
  if (exp > 400) return null;
  let n = BigInt(digits) * 10n ** BigInt(exp);
  if (m[1]) n = -n;
  return n;
}

function intInRange(n, bits, signed) {
  if (signed) return n >= -(2n ** BigInt(bits - 1)) && n < 2n ** BigInt(bits - 1);
  return n >= 0n && n < 2n ** BigInt(bits);
}

// ---- decoding ----------------------------------------------------------------------

class Decoder {
  constructor(text, opts) {
    this.text = text;
    this.discard = !!opts.discardUnknown;
  }
  err(pos, msg) {
    return new ProtoJsonError(`proto: (line ${lineCol(this.text, pos)}): ${msg}`);
  }
  unexpected(node) {
    return new ProtoJsonError(`proto: syntax error (line ${lineCol(this.text, node.pos)}): unexpected token ${node.raw}`);
  }

  message(type, node) {
    const wk = this.wellKnown(type, node);
    if (wk !== undefined) return wk;
    if (node.t !== 'obj') throw this.unexpected(node);
    const { byName } = fieldMaps(type);
    const out = {};
    const seen = new Set();
    const seenOneofs = new Set();
    for (const e of node.entries) {
      const f = byName.get(e.key);
      if (!f) {
        if (this.discard) continue;
        throw this.err(e.pos, `unknown field ${e.raw}`);
      }
      if (seen.has(f.id)) throw this.err(e.pos, `duplicate field ${e.raw}`);
      seen.add(f.id);
      const isValueType = f.resolvedType && f.resolvedType.fullName === '.google.protobuf.Value';
      if (e.value.t === 'null' && !isValueType) continue;
      if (f.map) {
        if (e.value.t !== 'obj') throw this.unexpected(e.value);
        const m = {};
        for (const me of e.value.entries) {
          const k = this.mapKey(f, me);
          if (k in m) throw this.err(me.pos, `duplicate map key ${me.raw}`);
          const v = this.singular(f, me.value);
          if (v !== undefined) m[k] = v;
        }
        out[f.name] = m;
      } else if (f.repeated) {
        if (e.value.t !== 'arr') throw this.unexpected(e.value);
        const list = [];
        for (const item of e.value.items) {
          const v = this.singular(f, item);
          if (v !== undefined) list.push(v);
        }
        out[f.name] = list;
      } else {
        const oo = realOneof(f);
        if (oo && !oo.synthetic) {
          if (seenOneofs.has(oo.o.name)) {
            throw this.err(e.pos, `error parsing ${e.raw}, oneof ${oo.o.fullName.replace(/^\./, '')} is already set`);
          }
          seenOneofs.add(oo.o.name);
        }
        const v = this.singular(f, e.value);
        if (v !== undefined) out[f.name] = v;
      }
    }
    return out;
  }

  mapKey(f, me) {
    const kt = f.keyType;
    if (kt === 'string') return me.key;
    if (kt === 'bool') {
      if (me.key === 'true' || me.key === 'false') return me.key;
    } else if (INT_KINDS[kt]) {
      const n = integerOf(me.key);
      if (n !== null && /^-?\d+$/.test(me.key) && intInRange(n, ...INT_KINDS[kt])) return n.toString();
    }
    throw this.err(me.pos, `invalid value for ${kt} key: ${me.key}`);
  }

  singular(f, node) {
    const rt = f.resolvedType;
    if (rt && rt.fieldsArray) return this.message(rt, node);
    if (rt && rt.values) return this.enumValue(rt, node);
    return this.scalar(f.type, node);
  }

  enumValue(en, node) {
    if (node.t === 'str') {
      if (Object.prototype.hasOwnProperty.call(en.values, node.v)) return en.values[node.v];
      if (this.discard) return undefined;
    } else if (node.t === 'num') {
      const n = integerOf(node.raw);
      if (n !== null && intInRange(n, 32, true)) return Number(n);
    }
    throw this.err(node.pos, `invalid value for enum type: ${node.raw}`);
  }

  scalar(kind, node) {
    const bad = () => this.err(node.pos, `invalid value for ${kind} type: ${node.raw}`);
    if (kind === 'bool') {
      if (node.t === 'bool') return node.v;
      throw bad();
    }
    if (kind === 'string') {
      if (node.t === 'str') return node.v;
      throw bad();
    }
    if (INT_KINDS[kind]) {
      let raw = null;
      if (node.t === 'num') raw = node.raw;
      else if (node.t === 'str' && node.v.trim() === node.v && /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(node.v)) raw = node.v;
      const n = raw === null ? null : integerOf(raw);
      if (n === null || !intInRange(n, ...INT_KINDS[kind])) throw bad();
      return INT_KINDS[kind][0] === 64 ? n.toString() : Number(n);
    }
    if (kind === 'double' || kind === 'float') {
      if (node.t === 'num') return Number(node.raw);
      if (node.t === 'str') {
        if (node.v === 'NaN') return NaN;
        if (node.v === 'Infinity') return Infinity;
        if (node.v === '-Infinity') return -Infinity;
        if (node.v.trim() === node.v && /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(node.v)) return Number(node.v);
      }
      throw bad();
    }
    if (kind === 'bytes') {
      if (node.t === 'str' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(node.v)) {
        return Buffer.from(node.v.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('base64');
      }
      throw bad();
    }
    throw new Error(`unsupported scalar kind ${kind}`);
  }

  plain(node) {
    switch (node.t) {
      case 'obj': {
        const o = {};
        for (const e of node.entries) o[e.key] = this.plain(e.value);
        return o;
      }
      case 'arr':
        return node.items.map((i) => this.plain(i));
      case 'str':
        return node.v;
      case 'num':
        return Number(node.raw);
      case 'bool':
        return node.v;
      default:
        return null;
    }
  }

  // Returns undefined when the type is not a well-known type.
  wellKnown(type, node) {
    const name = type.fullName.replace(/^\./, '');
    if (!name.startsWith('google.protobuf.')) return undefined;
    const short = name.slice('google.protobuf.'.length);
    const wrappers = {
      DoubleValue: 'double', FloatValue: 'float', Int64Value: 'int64', UInt64Value: 'uint64',
      Int32Value: 'int32', UInt32Value: 'uint32', BoolValue: 'bool', StringValue: 'string', BytesValue: 'bytes',
    };
    if (wrappers[short]) return this.scalar(wrappers[short], node);
    if (short === 'Struct') {
      if (node.t !== 'obj') throw this.unexpected(node);
      return this.plain(node);
    }
    if (short === 'ListValue') {
      if (node.t !== 'arr') throw this.unexpected(node);
      return this.plain(node);
    }
    if (short === 'Value') return this.plain(node);
    if (short === 'Any') {
      if (node.t !== 'obj') throw this.unexpected(node);
      const v = this.plain(node);
      if (typeof v['@type'] !== 'string') throw this.err(node.pos, 'missing "@type" field');
      return v;
    }
    if (short === 'Timestamp') {
      if (node.t === 'str' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/.test(node.v)) return node.v;
      throw this.err(node.pos, `invalid ${name} value ${node.raw}`);
    }
    if (short === 'Duration') {
      if (node.t === 'str' && /^-?\d+(\.\d{1,9})?s$/.test(node.v)) return node.v;
      throw this.err(node.pos, `invalid ${name} value ${node.raw}`);
    }
    if (short === 'FieldMask') {
      if (node.t === 'str') return node.v;
      throw this.unexpected(node);
    }
    if (short === 'Empty') {
      if (node.t !== 'obj') throw this.unexpected(node);
      if (node.entries.length && !this.discard) throw this.err(node.entries[0].pos, `unknown field ${node.entries[0].raw}`);
      return {};
    }
    return undefined;
  }
}

/**
 * Decodes a request body. An empty body decodes to an empty message (grpc-gateway
 * treats io.EOF as "no fields").
 */
export function decode(type, text, opts = {}) {
  if (text.trim() === '') return {};
  const { ast } = parseJsonAst(text);
  return new Decoder(text, opts).message(type, ast);
}

// ---- encoding ----------------------------------------------------------------------

function encodeScalar(kind, v) {
  if (INT_KINDS[kind]) {
    const is64 = INT_KINDS[kind][0] === 64;
    if (v === undefined || v === null) return is64 ? '0' : 0;
    return is64 ? String(v) : Number(v);
  }
  switch (kind) {
    case 'bool':
      return v ?? false;
    case 'string':
      return v ?? '';
    case 'bytes':
      return v ?? '';
    case 'double':
    case 'float': {
      const n = v ?? 0;
      if (Number.isNaN(n)) return 'NaN';
      if (n === Infinity) return 'Infinity';
      if (n === -Infinity) return '-Infinity';
      return n;
    }
    default:
      throw new Error(`unsupported scalar kind ${kind}`);
  }
}

function encodeSingular(f, v, opts) {
  const rt = f.resolvedType;
  if (rt && rt.fieldsArray) return encodeMessage(rt, v, opts);
  if (rt && rt.values) {
    const n = v ?? 0;
    return rt.valuesById[n] ?? n;
  }
  return encodeScalar(f.type, v);
}

export function encodeMessage(type, value, opts = {}) {
  if (value === undefined || value === null) return null;
  const name = type.fullName.replace(/^\./, '');
  if (name.startsWith('google.protobuf.')) {
    const short = name.slice('google.protobuf.'.length);
    if (/Value$/.test(short) && short !== 'Value' && short !== 'ListValue') {
      const kind = { DoubleValue: 'double', FloatValue: 'float', Int64Value: 'int64', UInt64Value: 'uint64',
        Int32Value: 'int32', UInt32Value: 'uint32', BoolValue: 'bool', StringValue: 'string', BytesValue: 'bytes' }[short];
      return encodeScalar(kind, value);
    }
    if (['Struct', 'Value', 'ListValue', 'Any', 'Timestamp', 'Duration', 'FieldMask', 'Empty'].includes(short)) return value;
  }
  const out = {};
  for (const f of type.fieldsArray) {
    const key = opts.protoNames ? f.name : jsonName(f.name);
    const has = Object.prototype.hasOwnProperty.call(value, f.name);
    if (f.partOf && !has) continue; // unset oneof members are not emitted
    const v = value[f.name];
    if (f.map) {
      const m = {};
      for (const k of Object.keys(v || {}).sort()) m[k] = encodeSingular(f, v[k], opts);
      out[key] = m;
    } else if (f.repeated) {
      out[key] = (v || []).map((x) => encodeSingular(f, x, opts));
    } else if (f.resolvedType && f.resolvedType.fieldsArray) {
      out[key] = v === undefined || v === null ? null : encodeSingular(f, v, opts);
    } else {
      out[key] = encodeSingular(f, v, opts);
    }
  }
  return out;
}
