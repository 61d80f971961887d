/* reconcile: continuous reconciliation (CONTRACT.md §3): drift of the
 * workspaces this replica owns is repaired without waiting for an event.
 *
 * Watch (reconcile.watch): one kwatch stream per managed kind and API
 * server (kubernetes.api_url, and each of kubernetes.clusters with its own
 * client and pacer), judged by drift.h on the watch threads, each object
 * only on the API server where its workspace's record has it: an object of an owned workspace that
 * is gone or differs from the one re-rendered from its state record (and, after each list, a
 * recorded object no kind's list holds any more) is handed, as (workspace, object), to the consumer
 * thread.  wsflyte's own writes match the desired objects and cause nothing.
 *
 * Resync (reconcile.resync_interval, jittered ±10 %): a pass over every
 * owned workspace.  It begins with one background job that lists
 * FlyteAdmin (projects by the page, every attributes row in one answer)
 * for the owned workspaces; then, spread over the interval and fed only
 * while the dispatcher has idle capacity, each workspace's job compares
 * its listed project and attributes with its record and reads them again
 * only when they differ (or the listing missed it, or failed).  Kubernetes
 * is re-listed by the watch (or, without it, every rendered object is
 * read).
 *
 * The consumer thread (reconciler_pump) submits the hand-offs and the
 * pass as repair jobs keyed by workspace through the dispatcher, so a
 * repair and an event of one workspace never run at once; a repair job is
 * a background job that yields to an event of its workspace (superseded
 * before it starts, or stopped at its next request while it runs; it comes
 * back later), never produces a result and never commits an offset. */
#ifndef WF_RECONCILE_H
#define WF_RECONCILE_H

#include "applied.h"
#include "config.h"
#include "dispatch.h"
#include "httpc.h"
#include "metrics.h"
#include "wf_err.h"

typedef struct reconciler reconciler;

typedef struct reconcile_opts {
    const wf_config *cfg; /* reconcile.*, kubernetes.*, flyte.domains, aws.ack */
    applied *store;       /* the owned workspaces' records (borrowed) */
    metrics *metrics;     /* wsflyte_drift_repairs_total (borrowed) */
    dispatcher *dispatcher;
    int threads;      /* the dispatcher's workers: a pass uses idle ones only */
    pacer *k8s_pacer; /* the API server's pacer: the watch's LISTs and WATCHes wait for it */
    pacer *const *cluster_pacers; /* per kubernetes.clusters entry: its API server's, or NULL */
    httpc_observer observer;      /* the watch's requests (metrics), or NULL */
    void *observer_ud;
} reconcile_opts;

/* Starts nothing yet (the watch starts with the first assignment).
 * Returns NULL with err set. */
reconciler *reconciler_new(const reconcile_opts *opts, wf_err *err);
/* Stops the watch (joins its threads).  Every repair job must have been
 * collected (the dispatcher drained).  NULL is a no-op. */
void reconciler_free(reconciler *r);

/* Partitions were assigned and their state restored: the watch starts (or
 * lists again), which compares every object of the newly owned workspaces;
 * the first resync pass follows one interval later.  Consumer thread. */
void reconciler_assigned(reconciler *r);
/* Partitions are revoked: hand-offs and the pass are dropped (their
 * records go too).  Consumer thread; cancel the repair jobs with
 * dispatcher_cancel_kind(d, JOB_REPAIR). */
void reconciler_revoked(reconciler *r);

/* Submits due hand-offs and the pass's next workspaces.  Consumer thread,
 * once per poll. */
void reconciler_pump(reconciler *r);

/* True for a job reconciler_pump submitted. */
int reconciler_is_job(const job *j);
/* Runs a repair job on a worker thread with the worker's provisioner. */
void reconciler_run(job *j, void *provisioner);
/* Takes back a collected repair job: done, failed (a transient failure
 * comes back after a backoff), superseded by an event (comes back), or
 * cancelled (dropped).  Consumer thread. */
void reconciler_collected(reconciler *r, job *j);

/* Repair jobs submitted and not yet collected. */
size_t reconciler_inflight(reconciler *r);

#endif
