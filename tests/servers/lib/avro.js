// Avro schemas and the binary encoding, as much of the specification as the
// registry test server and the end-to-end tests need: checking that a text
// is a valid Avro schema (the registry refuses anything else, as Confluent's
// does with 42201) and decoding a record with the schema the registry holds.
// No dependency: the tests must not trust wsflyte's own Avro code to check
// wsflyte's output.

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function fullName(name, namespace) {
  if (name.includes('.') || !namespace) return name;
  return `${namespace}.${name}`;
}

function checkName(name, at) {
  if (typeof name !== 'string' || !name.split('.').every((p) => NAME.test(p))) {
    throw new Error(`${at}: invalid name ${JSON.stringify(name)}`);
  }
}

// Checks one schema node; named types go into `named` (fullname -> node).
function check(node, namespace, named, at) {
  if (typeof node === 'string') {
    if (PRIMITIVES.has(node)) return;
    if (named.has(fullName(node, namespace)) || named.has(node)) return;
    throw new Error(`${at}: unknown type ${JSON.stringify(node)}`);
  }
  if (Array.isArray(node)) {
    const seen = new Set();
    node.forEach((branch, i) => {
      if (Array.isArray(branch)) throw new Error(`${at}[${i}]: a union may not hold a union`);
      check(branch, namespace, named, `${at}[${i}]`);
      const key = typeof branch === 'string' ? branch : (branch.name ? fullName(branch.name, branch.namespace ?? namespace) : branch.type);
      if (seen.has(key)) throw new Error(`${at}: union holds ${key} twice`);
      seen.add(key);
    });
    return;
  }
  if (node === null || typeof node !== 'object') throw new Error(`${at}: not a schema: ${JSON.stringify(node)}`);
  const { type } = node;
  if (PRIMITIVES.has(type)) return;
  if (type === 'array') return check(node.items, namespace, named, `${at}.items`);
  if (type === 'map') return check(node.values, namespace, named, `${at}.values`);
  if (!['record', 'error', 'enum', 'fixed'].includes(type)) {
    throw new Error(`${at}: unknown type ${JSON.stringify(type)}`);
  }
  checkName(node.name, at);
  if (node.namespace !== undefined && node.namespace !== '') checkName(node.namespace, `${at}.namespace`);
  const ns = node.name.includes('.') ? node.name.slice(0, node.name.lastIndexOf('.')) : (node.namespace ?? namespace);
  const full = fullName(node.name, ns);
  if (named.has(full)) throw new Error(`${at}: ${full} is defined twice`);
  named.set(full, node);
  if (type === 'fixed') {
    if (!Number.isInteger(node.size) || node.size < 0) throw new Error(`${at}: fixed ${full} needs a size`);
  } else if (type === 'enum') {
    if (!Array.isArray(node.symbols)) throw new Error(`${at}: enum ${full} needs symbols`);
    const symbols = new Set();
    for (const s of node.symbols) {
      if (typeof s !== 'string' || !NAME.test(s) || symbols.has(s)) throw new Error(`${at}: enum ${full}: bad or repeated symbol ${JSON.stringify(s)}`);
      symbols.add(s);
    }
    if (node.default !== undefined && !symbols.has(node.default)) throw new Error(`${at}: enum ${full}: default is no symbol`);
  } else {
    if (!Array.isArray(node.fields)) throw new Error(`${at}: record ${full} needs fields`);
    const names = new Set();
    node.fields.forEach((f, i) => {
      const fat = `${at}.fields[${i}]`;
      if (f === null || typeof f !== 'object' || typeof f.name !== 'string' || !NAME.test(f.name)) throw new Error(`${fat}: a field needs a valid name`);
      if (names.has(f.name)) throw new Error(`${fat}: field ${f.name} is defined twice`);
      names.add(f.name);
      if (f.type === undefined) throw new Error(`${fat}: field ${f.name} has no type`);
      check(f.type, ns, named, `${fat}(${f.name})`);
    });
  }
}

// Parses text as an Avro schema.  Returns the schema as JSON; throws an
// Error saying what is wrong.
export function parseSchema(text) {
  let schema;
  try {
    schema = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${e.message}`);
  }
  check(schema, '', new Map(), 'schema');
  return schema;
}

// A form of a schema in which key order does not matter, for comparing
// schemas the way a registry does (a registered text and a compact lookup
// of the same schema are the same schema).
export function canonical(schema) {
  if (Array.isArray(schema)) return `[${schema.map(canonical).join(',')}]`;
  if (schema !== null && typeof schema === 'object') {
    return `{${Object.keys(schema).sort().map((k) => `${JSON.stringify(k)}:${canonical(schema[k])}`).join(',')}}`;
  }
  return JSON.stringify(schema);
}

// ---- binary decoding ----

class Reader {
  constructor(buf) { this.buf = buf; this.pos = 0; }
  need(n) { if (this.pos + n > this.buf.length) throw new Error(`Avro data truncated at byte ${this.pos}`); }
  byte() { this.need(1); return this.buf[this.pos++]; }
  long() { // zig-zag varint, exact up to 2^53
    let n = 0, mul = 1, b;
    do {
      b = this.byte();
      n += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }
  bytes(n) { this.need(n); const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b; }
}

function collectNamed(node, namespace, named) {
  if (Array.isArray(node)) return node.forEach((b) => collectNamed(b, namespace, named));
  if (node === null || typeof node !== 'object') return;
  if (node.type === 'array') return collectNamed(node.items, namespace, named);
  if (node.type === 'map') return collectNamed(node.values, namespace, named);
  if (!node.name) return;
  const ns = node.name.includes('.') ? node.name.slice(0, node.name.lastIndexOf('.')) : (node.namespace ?? namespace);
  named.set(fullName(node.name, ns), { node, ns });
  for (const f of node.fields || []) collectNamed(f.type, ns, named);
}

function read(r, node, namespace, named) {
  if (typeof node === 'string') {
    switch (node) {
      case 'null': return null;
      case 'boolean': return r.byte() !== 0;
      case 'int': case 'long': return r.long();
      case 'float': { const b = r.bytes(4); return b.readFloatLE(0); }
      case 'double': { const b = r.bytes(8); return b.readDoubleLE(0); }
      case 'bytes': return Buffer.from(r.bytes(r.long()));
      case 'string': return r.bytes(r.long()).toString('utf8');
      default: {
        const t = named.get(fullName(node, namespace)) || named.get(node);
        if (!t) throw new Error(`unknown type ${node}`);
        return read(r, t.node, t.ns, named);
      }
    }
  }
  if (Array.isArray(node)) {
    const i = r.long();
    if (i < 0 || i >= node.length) throw new Error(`union index ${i} out of range`);
    return read(r, node[i], namespace, named);
  }
  const ns = node.name ? (node.name.includes('.') ? node.name.slice(0, node.name.lastIndexOf('.')) : (node.namespace ?? namespace)) : namespace;
  switch (node.type) {
    case 'record': case 'error': {
      const o = {};
      for (const f of node.fields) o[f.name] = read(r, f.type, ns, named);
      return o;
    }
    case 'enum': {
      const i = r.long();
      if (i < 0 || i >= node.symbols.length) throw new Error(`enum index ${i} out of range`);
      return node.symbols[i];
    }
    case 'fixed': return Buffer.from(r.bytes(node.size));
    case 'array': case 'map': {
      const out = node.type === 'array' ? [] : {};
      for (let n = r.long(); n !== 0; n = r.long()) {
        if (n < 0) { n = -n; r.long(); } // a block with its size in bytes
        for (let k = 0; k < n; k++) {
          if (node.type === 'array') out.push(read(r, node.items, namespace, named));
          else out[r.bytes(r.long()).toString('utf8')] = read(r, node.values, namespace, named);
        }
      }
      return out;
    }
    default: return read(r, node.type, namespace, named);
  }
}

// Decodes Avro binary data written with schema (parsed JSON).  Throws when
// the data is truncated or has bytes left over.
export function decode(schema, buf) {
  const named = new Map();
  collectNamed(schema, '', named);
  const r = new Reader(buf);
  const value = read(r, schema, '', named);
  if (r.pos !== buf.length) throw new Error(`${buf.length - r.pos} bytes left over after the Avro record`);
  return value;
}

// Splits a Confluent-framed value: 0x00, 4-byte big-endian schema id, body.
export function unframe(buf) {
  if (buf.length < 5 || buf[0] !== 0) throw new Error('not in the Confluent wire format');
  return { id: buf.readUInt32BE(1), body: buf.subarray(5) };
}
