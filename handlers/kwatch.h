/* kwatch: keeps a caller up to date with the Kubernetes objects wsflyte
 * manages, the way client-go's reflector does.  Per kind, one thread LISTs
 * cluster-wide with a label selector (default
 * app.kubernetes.io/managed-by=wsflyte), page by page, then WATCHes from the
 * list's resourceVersion with bookmarks; after a stream ends or breaks it
 * resumes from the last resourceVersion it saw, and when the server answers
 * that this version is gone (410, as an ERROR event or an HTTP status) it
 * lists again.
 *
 * What the callback sees, per kind:
 *   KWATCH_RELIST   a (re)list begins; object NULL
 *   KWATCH_SYNC     one object of that list
 *   KWATCH_SYNCED   the list is complete; object NULL.  An object the caller
 *                   knew of that no SYNC since the last RELIST named is gone
 *                   (it was deleted while no watch was running).
 *   KWATCH_ADDED, KWATCH_MODIFIED, KWATCH_DELETED   from the watch
 * A list that fails half-way starts over with KWATCH_RELIST.  Bookmarks only
 * move the resume point and are not delivered.  The objects are as the API
 * server sends them; LIST items usually lack apiVersion and kind, which is
 * why the kind is passed.
 *
 * The callback runs on the kind's watch thread, one call at a time per kind
 * (different kinds call concurrently).  It must be quick (hand the work to
 * another thread: a slow callback stalls the stream) and must not call
 * kwatch_free.  object is borrowed for the call; json_incref it to keep it.
 *
 * Requests wait for conn's pacer (pacer.h) at background priority, as
 * client-go's rate limiter covers LIST and WATCH too; a stream counts as
 * answered once its headers arrive, and a 429 pauses the API as any other.
 *
 * Failures never reach the caller; they are logged and retried: a broken
 * stream, a transport error, 429 or 5xx wait an exponential backoff with
 * jitter (Retry-After when longer), reset by a healthy stream; a 401 makes
 * the credential provider re-read its token before the next request; a 403
 * or 404 for the kind (RBAC, CRD not installed) is logged once and retried
 * every denied_retry_ms.  No log line holds the token. */
#ifndef WF_KWATCH_H
#define WF_KWATCH_H

#include <jansson.h>
#include <stddef.h>

#include "httpc.h"
#include "wf_err.h"

typedef struct kwatch kwatch;

typedef struct kwatch_kind {
    const char *api_version; /* "v1", "rbac.authorization.k8s.io/v1" */
    const char *kind;        /* a kind k8s_path knows: "Namespace", "RoleBinding" */
} kwatch_kind;

typedef enum kwatch_event_type {
    KWATCH_RELIST,
    KWATCH_SYNC,
    KWATCH_SYNCED,
    KWATCH_ADDED,
    KWATCH_MODIFIED,
    KWATCH_DELETED,
} kwatch_event_type;

/* kind is kwatch's copy of one of opts->kinds (compare its strings). */
typedef void (*kwatch_cb)(void *ud, kwatch_event_type type, const kwatch_kind *kind,
                          const json_t *object);

typedef struct kwatch_opts {
    const kwatch_kind *kinds; /* copied */
    size_t n_kinds;
    const char *selector; /* NULL = app.kubernetes.io/managed-by=wsflyte */
    kwatch_cb cb;
    void *ud;
    /* Zero for each of these means the default in brackets. */
    long watch_timeout_s;  /* timeoutSeconds; the server ends a watch after
                            * [timeout, 2 * timeout) s, as client-go asks [300] */
    long page_limit;       /* LIST limit [500] */
    long backoff_min_ms;   /* first wait after a failure [500] */
    long backoff_max_ms;   /* cap of the doubling [30000] */
    long denied_retry_ms;  /* wait after 403/404 [60000] */
    size_t max_line_bytes; /* a longer watch line breaks the stream [4 MiB] */
} kwatch_opts;

typedef struct kwatch_stats {
    unsigned long relists;    /* lists completed (SYNCED delivered) */
    unsigned long reconnects; /* watches resumed from a watch's resourceVersion */
    unsigned long events;     /* ADDED, MODIFIED, DELETED delivered */
    unsigned long failures;   /* requests or streams that failed */
    int synced;               /* a list has completed */
    char last_rv[64];         /* resume point: last list, event or bookmark */
} kwatch_stats;

/* Starts one thread per kind.  conn is the API server connection
 * (k8s_conn): its strings, blobs and auth_ud are borrowed and must outlive
 * the kwatch; its auth provider is called from the watch threads.  Returns
 * NULL with err set for an unknown kind or when a thread cannot start. */
kwatch *kwatch_new(const httpc_opts *conn, const kwatch_opts *opts, wf_err *err);

/* Stops every thread (a blocked stream ends within about a second) and
 * joins them; no callback runs after it returns.  NULL is a no-op. */
void kwatch_free(kwatch *w);

/* Asks every kind to list again (a resync pass: what a missed watch event
 * hides shows up in a fresh list): a running watch ends within about a
 * second and a RELIST ... SYNCED follows; a list already under way counts
 * only when it began after the request.  Safe from any thread; NULL is a
 * no-op. */
void kwatch_relist(kwatch *w);

/* Copies the stats of kind i (the index in opts->kinds).  Returns 0, or -1
 * when i is out of range.  Safe from any thread. */
int kwatch_stats_get(kwatch *w, size_t i, kwatch_stats *out);

#endif
