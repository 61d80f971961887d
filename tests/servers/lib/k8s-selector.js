// Label selector syntax of k8s.io/apimachinery/pkg/labels (Parse) and matching.
import { isQualifiedName, isValidLabelValue } from './k8s-names.js';

function splitTop(s) {
  const out = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function checkKey(k) {
  const errs = isQualifiedName(k);
  if (errs.length) throw new Error(`key: Invalid value: ${JSON.stringify(k)}: ${errs.join('; ')}`);
}

function checkValue(v, i) {
  const errs = isValidLabelValue(v);
  if (errs.length) throw new Error(`values[${i}][]: Invalid value: ${JSON.stringify(v)}: ${errs.join('; ')}`);
}

/** Returns a list of requirements {key, op, values}. Throws Error on bad syntax. */
export function parseSelector(s) {
  const reqs = [];
  if (s.trim() === '') return reqs;
  for (const raw of splitTop(s)) {
    const r = raw.trim();
    let m;
    if ((m = /^!\s*([^\s!=()]+)$/.exec(r))) {
      checkKey(m[1]);
      reqs.push({ key: m[1], op: 'DoesNotExist', values: [] });
    } else if ((m = /^([^\s!=()]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(r))) {
      checkKey(m[1]);
      const values = m[3].trim() === '' ? [] : m[3].split(',').map((v) => v.trim());
      values.forEach(checkValue);
      reqs.push({ key: m[1], op: m[2] === 'in' ? 'In' : 'NotIn', values });
    } else if ((m = /^([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(r))) {
      checkKey(m[1]);
      checkValue(m[3], 0);
      reqs.push({ key: m[1], op: m[2] === '!=' ? 'NotEquals' : 'Equals', values: [m[3]] });
    } else if ((m = /^([^\s!=()]+)$/.exec(r))) {
      checkKey(m[1]);
      reqs.push({ key: m[1], op: 'Exists', values: [] });
    } else {
      throw new Error(`found '${r}', expected: identifier, '!', 'in', 'notin', '=', '==', '!='`);
    }
  }
  return reqs;
}

export function matches(reqs, labels) {
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.op) {
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      case 'Equals':
      case 'In':
        return has && r.values.includes(labels[r.key]);
      case 'NotEquals':
      case 'NotIn':
        return !has || !r.values.includes(labels[r.key]);
      default:
        return false;
    }
  });
}
