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
 * The provisioners of a process share the cache of what it applied
 * completely (applied.h), given to each by the composition root.  It only
 * saves requests: an event older than a cached version is stale without a
 * request, and a duplicate of the cached version costs one GET of the
 * Flyte project.  Without a cache every event takes the full path. */
#ifndef WF_PROVISION_H
#define WF_PROVISION_H

#include "applied.h"
#include "config.h"
#include "event.h"
#include "httpc.h"
#include "oauth.h"
#include "pacer.h"
#include "wf_err.h"

typedef struct provisioner provisioner;

/* The pacers of the two APIs (pacer.h), shared by every provisioner. */
typedef struct provisioner_pacers {
    pacer *flyte;
    pacer *k8s;
} provisioner_pacers;

/* cfg, and flyte_auth, cache and the pacers when not NULL, must outlive
 * the provisioner.  flyte_auth (borrowed; thread-safe, so one serves every
 * provisioner) supplies FlyteAdmin's bearer tokens; NULL sends none.
 * cache (borrowed; thread-safe, one for every provisioner of the process)
 * remembers completed applies; NULL keeps none.  pace (borrowed; one per
 * API for the whole process; NULL members: unpaced) paces the requests.  FlyteAdmin's TLS peer is
 * verified against flyte.ca_file, or the system trust store.  Returns NULL
 * with err set. */
provisioner *provisioner_new(const wf_config *cfg, oauth *flyte_auth, applied *cache,
                             const provisioner_pacers *pace, httpc_observer observer,
                             void *observer_ud, wf_err *err);
void provisioner_free(provisioner *p);

/* Applies ev.  Returns 0 with r->status (SUCCEEDED or SKIPPED), r->reason,
 * r->flyte_project, r->console_url and r->namespaces set (owned by r), or -1
 * with err classified (transient errors may be retried; re-applying is safe). */
int provision_event(provisioner *p, const ws_event *ev, prov_result *r, wf_err *err);

/* Asks both APIs whether they answer (FlyteAdmin /healthcheck, Kubernetes
 * /version); sets the HTTP status of each, 0 for no answer. */
void provisioner_probe(provisioner *p, long *flyte_status, long *k8s_status);

#endif
