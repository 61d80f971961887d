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
 * desired content changed since it, deletes by name the ones no longer
 * desired and skips the namespace reads (the record says they are
 * wsflyte's).  Without a record (or one marked incomplete) the event takes
 * the full path: namespace reads, every object applied, bindings pruned by
 * listing. */
#ifndef WF_PROVISION_H
#define WF_PROVISION_H

#include <stdint.h>

#include "applied.h"
#include "config.h"
#include "event.h"
#include "httpc.h"
#include "oauth.h"
#include "wf_err.h"

typedef struct provisioner provisioner;

/* cfg, and flyte_auth and cache when not NULL, must outlive the
 * provisioner.  flyte_auth (borrowed; thread-safe, so one serves every
 * provisioner) supplies FlyteAdmin's bearer tokens; NULL sends none.
 * cache (borrowed; thread-safe, one for every provisioner of the process)
 * holds the state records; NULL keeps none.  FlyteAdmin's TLS peer is
 * verified against flyte.ca_file, or the system trust store.  Returns NULL
 * with err set. */
provisioner *provisioner_new(const wf_config *cfg, oauth *flyte_auth, applied *cache,
                             httpc_observer observer, void *observer_ud, wf_err *err);
void provisioner_free(provisioner *p);

/* Applies ev, read from partition.  Returns 0 with r->status (SUCCEEDED or
 * SKIPPED), r->reason, r->flyte_project, r->console_url and r->namespaces
 * set (owned by r), or -1 with err classified (transient errors may be
 * retried; re-applying is safe).  *out (initialised here, the caller's to
 * release) receives the state record to write to the state topic when the
 * event changed it: the new record after an apply, the prior one marked
 * incomplete after a failure part way; out->workspace_id is NULL when
 * there is nothing to write (stale, duplicate, no record). */
int provision_event(provisioner *p, const ws_event *ev, int32_t partition, prov_result *r,
                    wsstate *out, wf_err *err);

/* Asks both APIs whether they answer (FlyteAdmin /healthcheck, Kubernetes
 * /version); sets the HTTP status of each, 0 for no answer. */
void provisioner_probe(provisioner *p, long *flyte_status, long *k8s_status);

#endif
