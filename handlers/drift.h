/* drift: which recorded objects the watch finds gone or different.
 *
 * It takes the events of a kwatch over the kinds wsflyte renders
 * (drift_kinds, drift_on_watch) and judges each object against the state
 * records of the workspaces this process owns (applied.h):
 * - an object maps to a workspace by its wsflyte.io/workspace label, only a
 *   hint: its identity (plan_object_id) must be one the workspace's
 *   complete record with Flyte present lists;
 * - such an object is compared with the one re-rendered from the record
 *   (plan_render_record), as server-side apply would see it
 *   (plan_compare_object), when the record's content hash of it is still
 *   what the rendering gives; a record rendered differently now is the
 *   next event's business;
 * - after every kind has listed (and none is listing), each object an
 *   owned workspace's record lists that no kind's list holds is missing
 *   (deleted while no watch ran);
 * - with kubernetes.clusters there is one drift per API server watched
 *   (drift_opts.cluster), each judging only the objects that belong on
 *   its server.
 * What it finds goes to the caller's report callbacks; it never writes.
 * wsflyte's own writes match the desired objects and report nothing
 * different.
 *
 * Per kind it keeps the identities its last list and later events hold;
 * the kinds share the latest renderings of records (a list reaches one
 * workspace's objects of every kind at about the same time), so the work
 * per object does not grow with the workspace.
 *
 * Threads: drift_on_watch runs on the kinds' watch threads, one call at a
 * time per kind, different kinds at once; it takes drift's own locks (the
 * identity sets; the shared renderings) and the store's, never the
 * caller's, and calls the report callbacks with none of drift's locks
 * held, from any watch thread.  drift_new, drift_kinds and drift_free run
 * on the owner's thread, drift_free only once no callback can run any
 * more (after kwatch_free). */
#ifndef WF_DRIFT_H
#define WF_DRIFT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "applied.h"
#include "config.h"
#include "kwatch.h"
#include "wf_err.h"

typedef struct drift drift;

/* Where drift reports, on a watch thread (thread-safe, quick: a slow
 * callback stalls the kind's stream). */
typedef struct drift_report {
    /* Object id (plan_object_id) of workspace ws is gone (seen NULL) or
     * differs from the desired one (seen: the watched copy with apiVersion
     * and kind, taken).  ws is borrowed for the call. */
    void (*hand_off)(void *ud, const char *ws, uint64_t id, json_t *seen);
    /* A later sighting of object id of ws matches the desired one: seen
     * (borrowed for the call) is its copy, for a hand-off of it not yet
     * acted on. */
    void (*matches)(void *ud, const char *ws, uint64_t id, const json_t *seen);
    void *ud;
} drift_report;

typedef struct drift_opts {
    const wf_config *cfg; /* flyte.domains, aws.ack, rendering (borrowed) */
    applied *store;       /* the owned workspaces' records (borrowed) */
    drift_report report;
    /* With kubernetes.clusters, the API server the kwatch feeding this
     * drift watches: -1 for kubernetes.api_url (the control plane), else an
     * index into kubernetes.clusters.  Only objects that belong there are
     * judged: a workspace's namespaces and their content on the cluster its
     * record names, the other objects (authz, ACK) on the control plane;
     * what another API server shows under the same names (the old cluster
     * of a move) is left to the events.  Ignored without clusters. */
    int cluster;
} drift_opts;

/* Returns NULL with err set (out of memory; more Flyte domains than a
 * record can list). */
drift *drift_new(const drift_opts *opts, wf_err *err);
/* NULL is a no-op. */
void drift_free(drift *d);

/* The kinds to watch (*n of them; borrowed from d): what wsflyte renders,
 * the ACK IAM kinds with aws.ack. */
const kwatch_kind *drift_kinds(const drift *d, size_t *n);

/* The kwatch callback (kwatch.h); ud is the drift. */
void drift_on_watch(void *ud, kwatch_event_type type, const kwatch_kind *kind, const json_t *obj);

#endif
