// resource.Quantity parsing and canonical formatting (k8s.io/apimachinery/pkg/api/resource).
// Values are held exactly as BigInt nano-units; precision below 1n is rounded up, as
// ParseQuantity does.

export const QUANTITY_RE = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
export const QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

const DECIMAL = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const NANO = 10n ** 9n;

function ceilDiv(a, b) {
  const q = a / b;
  return a % b !== 0n && a > 0n ? q + 1n : q;
}

/** Returns {nano: BigInt, format: 'DecimalSI'|'BinarySI'|'DecimalExponent'} or null. */
export function parseQuantity(input) {
  if (typeof input === 'number') input = String(input);
  if (typeof input !== 'string') return null;
  const s = input.trim();
  if (s !== input || s === '') return null;
  const m = QUANTITY_RE.exec(s);
  if (!m) return null;
  let [, num, suffix] = m;
  let sign = 1n;
  if (num[0] === '+' || num[0] === '-') {
    if (num[0] === '-') sign = -1n;
    num = num.slice(1);
  }
  if (!/^(\d+\.?\d*|\.\d+)$/.test(num)) return null;
  const [ip, fp = ''] = num.split('.');
  const mant = BigInt((ip || '0') + fp);
  let numer = mant;
  let denom = 10n ** BigInt(fp.length);
  let format;
  if (Object.prototype.hasOwnProperty.call(DECIMAL, suffix)) {
    format = 'DecimalSI';
    const e = DECIMAL[suffix];
    if (e >= 0) numer *= 10n ** BigInt(e);
    else denom *= 10n ** BigInt(-e);
  } else if (Object.prototype.hasOwnProperty.call(BINARY, suffix)) {
    format = 'BinarySI';
    numer *= 1024n ** BigInt(BINARY[suffix]);
  } else {
    const em = /^[eE]([-+]?\d+)$/.exec(suffix);
    if (!em) return null;
    format = 'DecimalExponent';
    const e = Number(em[1]);
    if (Math.abs(e) > 100) return null;
    if (e >= 0) numer *= 10n ** BigInt(e);
    else denom *= 10n ** BigInt(-e);
  }
  const nano = sign * ceilDiv(numer * NANO, denom);
  return { nano, format };
}

function decimalCanonical(nano, exponentStyle) {
  if (nano === 0n) return '0';
  const neg = nano < 0n;
  let v = neg ? -nano : nano;
  let exp = -9;
  while (exp < 18 && v % 1000n === 0n) {
    v /= 1000n;
    exp += 3;
  }
  let suffix;
  if (exponentStyle) suffix = exp === 0 ? '' : `e${exp}`;
  else suffix = Object.keys(DECIMAL).find((k) => DECIMAL[k] === exp);
  return `${neg ? '-' : ''}${v}${suffix}`;
}

/** Canonical string form, as Quantity.String() after a round trip through the API server. */
export function canonicalQuantity(input) {
  const q = parseQuantity(input);
  if (!q) return null;
  const { nano } = q;
  let { format } = q;
  if (format === 'BinarySI') {
    const whole = nano % NANO === 0n;
    const v = nano / NANO;
    if (!whole || (v > -1024n && v < 1024n)) format = 'DecimalSI';
    else {
      const neg = v < 0n;
      let a = neg ? -v : v;
      let k = 0;
      while (k < 6 && a % 1024n === 0n) {
        a /= 1024n;
        k++;
      }
      const suffix = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'][k];
      return `${neg ? '-' : ''}${a}${suffix}`;
    }
  }
  return decimalCanonical(nano, format === 'DecimalExponent');
}

export function isInteger(q) {
  return q.nano % NANO === 0n;
}
