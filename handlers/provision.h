/* provision: the one level-triggered handler.  Every event carries the
 * whole workspace, so every event type goes through the same path: compute
 * the desired state, compare versions, make FlyteAdmin and Kubernetes match.
 *
 * The applied workspace_version is recorded on the objects themselves (the
 * Flyte project's label, the namespaces' annotation); an event older than it
 * changes nothing and is SKIPPED as "stale", so replays in any order
 * converge.  A provisioner owns one HTTP connection per API and is used by
 * one thread at a time.
 *
 * The provisioners of a process share the store of state records
 * (applied.h), given to each by the composition root.  With a workspace's
 * record, an event older than its version is stale without a request, a
 * duplicate of it (same version, same desired content) is answered from it
 * without a request, and any other event writes only the objects whose
 * desired content changed since it and deletes by name the ones no longer
 * desired.  The namespaces are read on every event that writes: a record
 * never stands in for ownership (one may have been re-created by someone
 * else), and a namespace whose uid is not the recorded one gets all its
 * objects again.  Without a record (or one marked incomplete) the event
 * takes the full path: every object applied, bindings pruned by listing. */
#ifndef WF_PROVISION_H
#define WF_PROVISION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "applied.h"
#include "config.h"
#include "desired.h"
#include "event.h"
#include "httpc.h"
#include "oauth.h"
#include "pacer.h"
#include "wf_err.h"

typedef struct provisioner provisioner;

/* The pacers of the APIs (pacer.h), shared by every provisioner: each
 * execution cluster's API server is an API of its own. */
typedef struct provisioner_pacers {
    pacer *flyte;
    pacer *k8s;             /* kubernetes.api_url */
    pacer *const *clusters; /* per kubernetes.clusters entry; NULL: unpaced */
} provisioner_pacers;

/* cfg, and flyte_auth, cache and the pacers when not NULL, must outlive
 * the provisioner.  flyte_auth (borrowed; thread-safe, so one serves every
 * provisioner) supplies FlyteAdmin's bearer tokens; NULL sends none.
 * cache (borrowed; thread-safe, one for every provisioner of the process)
 * holds the state records; NULL keeps none.  pace (borrowed; one per API
 * for the whole process; NULL members: unpaced) paces the requests.
 * FlyteAdmin's TLS peer is
 * verified against flyte.ca_file, or the system trust store.  Returns NULL
 * with err set. */
provisioner *provisioner_new(const wf_config *cfg, oauth *flyte_auth, applied *cache,
                             const provisioner_pacers *pace, httpc_observer observer,
                             void *observer_ud, wf_err *err);
void provisioner_free(provisioner *p);

/* Makes s (a workspace's record marked incomplete) durable before the
 * first write of an apply that starts from a complete record: a crash or a
 * hand-back in the middle of the apply then leaves a record that no longer
 * vouches for the objects, and the next owner takes the full path instead
 * of trusting hashes the partial writes made untrue.  Returns 0 once the
 * record is stored, or -1 with err set. */
typedef int (*provision_intent_fn)(void *ud, int32_t partition, const wsstate *s, wf_err *err);
/* Sets p's intent writer (NULL: none, for tests and tools).  It also
 * writes each event's state record (*out of provision_event) on the
 * worker, so that the workspace's records reach the topic in the order of
 * its events: an event's final record before the next event's mark. */
void provisioner_set_intent(provisioner *p, provision_intent_fn fn, void *ud);

/* Writes a tombstone (null value) for workspace_id to the state topic's
 * partition and waits for it: a repair found the record stored there
 * superseded.  Returns 0, or -1 with err set. */
typedef int (*provision_retire_fn)(void *ud, int32_t partition, const char *workspace_id,
                                   wf_err *err);
/* Sets p's tombstone writer (NULL: none; a superseded record is then only
 * dropped from the store). */
void provisioner_set_retire(provisioner *p, provision_retire_fn fn, void *ud);

/* Applies ev, read from partition.  Returns 0 with r->status (SUCCEEDED or
 * SKIPPED), r->reason, r->flyte_project, r->console_url and r->namespaces
 * set (owned by r), or -1 with err classified (transient errors may be
 * retried; re-applying is safe).  *out (initialised here, the caller's to
 * release) receives the state record to write to the state topic when the
 * event changed it: the new record after an apply, the prior one marked
 * incomplete after a failure part way; out->workspace_id is NULL when
 * there is nothing to write (stale, duplicate, no record), or when the
 * intent writer wrote it already (it is kept when that write failed). */
int provision_event(provisioner *p, const ws_event *ev, int32_t partition, prov_result *r,
                    wsstate *out, wf_err *err);
/* provision_event for an event that runs only because a newer event of its
 * workspace, at failed_version, superseded it and then failed for good
 * (dispatch.h): a version up to failed_version recorded on the objects is
 * that event's partial writes, not another writer's, and does not make ev
 * stale.  A failed_version below ev's changes nothing. */
int provision_event_after(provisioner *p, const ws_event *ev, long long failed_version,
                          int32_t partition, prov_result *r, wsstate *out, wf_err *err);

/* ---- drift repair (continuous reconciliation) ---- */

/* What a repair checks of one workspace. */
typedef struct repair_req {
    const uint64_t *ids; /* Kubernetes objects by identity (plan_object_id) */
    /* Per id: the object as a watch last saw it (borrowed), or NULL (deleted,
     * missing from a list): one that matches the desired object needs no
     * request; any other is read again before anything is written. */
    json_t *const *seen;
    /* Per id: the API server the watch saw it on (-1: kubernetes.api_url,
     * else an index into kubernetes.clusters), or NULL: wherever the record
     * has it.  With kubernetes.clusters an id seen anywhere but where the
     * record's cluster (or the control plane) holds it is left alone: a
     * move's old cluster, or the one it goes to, is the events' business. */
    const int *where;
    size_t n_ids;
    int all_k8s; /* read and compare every rendered object (no watch) */
    int flyte;   /* read and compare the project and each domain's attributes */
    /* With flyte: the workspace's entry of a pass's listing of FlyteAdmin
     * (provision_listing_take; borrowed), or NULL.  A listed project and
     * attributes that match the record need no request; anything else is
     * read again before anything is written: a listing is never written
     * from. */
    const json_t *listed;
    /* Asked before each request and while it waits for its pacer: non-zero
     * ends the repair (a transient "<api>.cancelled"), e.g. for an event of
     * the workspace.  NULL: never. */
    int (*yield)(void *ud);
    void *yield_ud;
} repair_req;

/* One object repaired. */
typedef struct repair_note {
    const char *api;  /* "k8s" or "flyte" */
    const char *kind; /* as the API names it: "ResourceQuota", "Project" */
    const char *ns;   /* NULL for a cluster-scoped or Flyte object */
    const char *name;
    uint64_t id;         /* the record's identity of the object */
    const char *manager; /* the other field manager that changed it last, or NULL */
    /* With kubernetes.clusters, a Kubernetes object's API server: the
     * execution cluster's name or "control-plane"; else NULL. */
    const char *cluster;
} repair_note;

/* Called once per object repaired (note and its strings are borrowed for
 * the call). */
typedef void (*repair_fn)(void *ud, const repair_note *note);

/* Repairs drift of workspace_id against its state record: what req names
 * is read (at most a GET per object, 1 + domains reads for Flyte), compared
 * the way the write would see it (livediff.h), and only what differs is
 * written again (server-side apply with force: wsflyte's fields come back,
 * other managers' fields stay; a deleted object is re-created; a project
 * archived or renamed by someone else is restored).  Nothing happens for a
 * workspace without a complete record with Flyte present, for an identity
 * the record does not list, in a domain whose namespace is not wsflyte's
 * (or is missing and not re-created: a namespace is read before the first
 * write into it), or for a project that is not wsflyte's or carries a
 * newer version.  Before its first write it checks the record against the
 * version records on the objects (the project's label, the namespaces'
 * annotation; read once, unless already read): a record they show
 * superseded writes nothing, is dropped from the store and tombstoned on
 * its partition (provisioner_set_retire).  Each repair
 * is logged with what differed and who changed it (managedFields) and
 * reported to cb.  Never produces a result or a state record.  Returns the
 * number of objects repaired, or -1 with err classified (a transient one
 * may be retried: every step re-reads before it writes). */
int provision_repair(provisioner *p, const char *workspace_id, const repair_req *req, repair_fn cb,
                     void *cb_ud, wf_err *err);

/* ---- a resync pass's listing of FlyteAdmin ---- */

/* What one listing of FlyteAdmin saw of the workspaces whose records the
 * store held when it began: per workspace its project (or none) and its
 * domains' WORKFLOW_EXECUTION_CONFIG attributes, kept compact. */
typedef struct provision_listing provision_listing;

/* Lists FlyteAdmin: every project by the page (a request per 100, every
 * state) and every project-domain attributes row (one request), on a
 * client of its own (60 s a request, background priority at the pacer),
 * keeping what concerns the workspaces the store holds a record of.  yield
 * (may be NULL) as in repair_req.  Returns 0 with *out (release with
 * provision_listing_free), or -1 with err set. */
int provision_list_flyte(provisioner *p, int (*yield)(void *ud), void *yield_ud,
                         provision_listing **out, wf_err *err);
/* How many workspaces l still holds. */
size_t provision_listing_count(const provision_listing *l);
/* Takes workspace_id's entry out of l, for repair_req.listed (a new
 * reference: json_decref it), or NULL when l does not cover the workspace
 * (it was not owned when the listing began): its job then reads. */
json_t *provision_listing_take(provision_listing *l, const char *workspace_id);
/* NULL is a no-op. */
void provision_listing_free(provision_listing *l);

/* Asks both APIs whether they answer (FlyteAdmin /healthcheck, Kubernetes
 * /version); sets the HTTP status of each, 0 for no answer. */
void provisioner_probe(provisioner *p, long *flyte_status, long *k8s_status);

#endif
