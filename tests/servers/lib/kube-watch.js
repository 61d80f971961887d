// Watch for the Kubernetes test server, as the API server serves it
// (k8s.io/apiserver pkg/endpoints/handlers/watch.go, the watch cache):
// a bounded history of changes, and open streams of JSON lines
// {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}} over a
// chunked 200 response.
//
// - resourceVersion absent, "" or "0": ADDED for every current object first,
//   then the changes; a number: the changes after it, or, when the history
//   no longer reaches back to it, one ERROR (Status 410 Expired, "too old
//   resource version: X (Y)") and the end of the stream.
// - A selector is applied to the object before and after a change, as the
//   watch cache does: an object that starts matching arrives as ADDED, one
//   that stops matching as DELETED.
// - allowWatchBookmarks=true: a BOOKMARK every bookmark_ms carrying only
//   kind, apiVersion and metadata.resourceVersion.
// - timeoutSeconds: the stream ends cleanly after it.

// A watch ends after the client goes away, after timeoutSeconds, or when a
// test cuts it.
export function createWatchHub({ historyLimit = 10000, bookmarkMs = 1000 } = {}) {
  let history = []; // {rv, type, res, obj, prev}
  let compactedRv = 0; // changes at or below it may be missing from history
  let limit = historyLimit;
  let bookmarkEvery = bookmarkMs;
  const watchers = new Set();

  function trim() {
    if (history.length <= limit) return;
    const drop = history.length - limit;
    compactedRv = Math.max(compactedRv, history[drop - 1].rv);
    history = history.slice(drop);
  }

  // What one watcher sees of a change: the selector before and after.
  function view(w, ev) {
    if (ev.res !== w.res) return null;
    const inScope = (o) => o && (w.ns === undefined || o.metadata.namespace === w.ns) && w.selected(o);
    const now = inScope(ev.obj);
    if (ev.type === 'MODIFIED') {
      const was = inScope(ev.prev);
      if (was && now) return { type: 'MODIFIED', object: ev.obj };
      if (now) return { type: 'ADDED', object: ev.obj };
      if (was) return { type: 'DELETED', object: ev.obj };
      return null;
    }
    return now ? { type: ev.type, object: ev.obj } : null;
  }

  function send(w, e) {
    if (!w.http.destroyed && !w.http.writableEnded) w.http.write(`${JSON.stringify(e)}\n`);
  }

  function finish(w, how = 'end') {
    if (!watchers.delete(w)) return;
    clearInterval(w.bookmarks);
    clearTimeout(w.timeout);
    if (how === 'reset') w.http.destroy();
    else if (!w.http.writableEnded) w.http.end();
  }

  // Records a change: rv (number), type ADDED|MODIFIED|DELETED, the kind
  // (resource entry), the object as rendered (kind and apiVersion set, its
  // resourceVersion = rv) and, for MODIFIED, the object before.
  function record(rv, type, res, obj, prev) {
    const ev = { rv, type, res, obj, prev };
    history.push(ev);
    trim();
    for (const w of watchers) {
      const e = view(w, ev);
      if (e) send(w, e);
    }
  }

  // The response to a watch request: {status, headers, stream(httpRes)}.
  // q: the request's query; current(): the objects in scope now, rendered,
  // in list order; rv: the server's resourceVersion now.
  function serve({ res, ns, query, selected, current, rv }) {
    const from = query.get('resourceVersion') || '';
    const bookmarks = ['true', '1'].includes(query.get('allowWatchBookmarks'));
    const timeoutS = Number(query.get('timeoutSeconds') || 0);
    const stream = (http) => {
      const w = { res, ns, selected, http };
      const expired = from !== '' && from !== '0' && Number(from) < compactedRv;
      if (expired) {
        send(w, {
          type: 'ERROR',
          object: {
            kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
            message: `too old resource version: ${from} (${compactedRv + 1})`, reason: 'Expired', code: 410,
          },
        });
        http.end();
        return;
      }
      if (from === '' || from === '0') {
        for (const obj of current()) send(w, { type: 'ADDED', object: obj });
      } else {
        for (const ev of history) {
          if (ev.rv <= Number(from)) continue;
          const e = view(w, ev);
          if (e) send(w, e);
        }
      }
      watchers.add(w);
      http.on('close', () => finish(w));
      if (bookmarks) {
        w.bookmarks = setInterval(() => send(w, {
          type: 'BOOKMARK',
          object: { kind: res.kind, apiVersion: res.apiVersion, metadata: { resourceVersion: String(rv()) } },
        }), bookmarkEvery);
        w.bookmarks.unref();
      }
      if (timeoutS > 0) {
        w.timeout = setTimeout(() => finish(w), timeoutS * 1000);
        w.timeout.unref();
      }
    };
    return { status: 200, headers: { 'Content-Type': 'application/json' }, stream };
  }

  // Ends every open watch: "end" as the server does at a timeout, "reset"
  // as a broken connection (no final chunk).  Returns how many.
  function cut(how = 'reset') {
    const n = watchers.size;
    for (const w of [...watchers]) finish(w, how);
    return n;
  }

  function configure({ watch_history: h, watch_bookmark_ms: b }) {
    if (h !== undefined) {
      if (!Number.isInteger(h) || h < 0) throw new Error('watch_history must be an integer >= 0');
      limit = h;
      trim();
    }
    if (b !== undefined) {
      if (!Number.isInteger(b) || b < 10) throw new Error('watch_bookmark_ms must be an integer >= 10');
      bookmarkEvery = b;
    }
  }

  function config() {
    return { watch_history: limit, watch_bookmark_ms: bookmarkEvery, compacted_resource_version: String(compactedRv), watches: watchers.size };
  }

  function reset() {
    cut('end');
    history = [];
    compactedRv = 0;
    limit = historyLimit;
    bookmarkEvery = bookmarkMs;
  }

  // The oldest resourceVersion a continue token or watch may still name.
  const oldest = () => compactedRv;

  return { record, serve, cut, configure, config, reset, oldest };
}
