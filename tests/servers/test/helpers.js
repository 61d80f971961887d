// Shared helpers for the server tests: in-process servers and small HTTP wrappers.
import { startFlyteAdmin } from '../lib/flyte-app.js';
import { startKube } from '../lib/kube-app.js';

export { startFlyteAdmin, startKube };

export const JSON_HEADERS = { Accept: 'application/json', 'Content-Type': 'application/json' };

/** Flyte-style call: strict JSON headers unless `headers` overrides them.
 * An empty body is sent as none: Node 18's fetch fails a DELETE with body '' (undici 5
 * announces a length it does not send), and Node 20 sends no body for it either. */
export async function call(base, method, path, body, headers = JSON_HEADERS) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined && body !== '') init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const r = await fetch(base + path, init);
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: r.status, headers: r.headers, text, json };
}

/** Server-side apply of obj to path with fieldManager (default "wsflyte"). */
export function apply(base, path, obj, { manager = 'wsflyte', force = false, headers = {} } = {}) {
  const q = new URLSearchParams();
  if (manager !== null) q.set('fieldManager', manager);
  if (force) q.set('force', 'true');
  return call(base, 'PATCH', `${path}?${q}`, obj, {
    Accept: 'application/json',
    'Content-Type': 'application/apply-patch+yaml',
    ...headers,
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function ns(name, labels) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labels ? { labels } : {}) } };
}

export function cm(name, data, labels) {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...(labels ? { labels } : {}) }, data };
}
