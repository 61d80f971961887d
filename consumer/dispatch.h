/* dispatch: key-ordered concurrent execution.
 *
 * Jobs carry a key (the workspace id).  Up to `threads` jobs run at once,
 * never two with the same key, and jobs of one key run in submission order;
 * a slow or failing workspace holds up only its own later events.  Ready
 * jobs are taken from their partitions in turn, so a partition's backlog of
 * many workspaces does not hold up the next job of another partition.  The
 * consumer thread submits jobs and collects finished ones; worker threads
 * only run the job function.  Not a queue of its own: every job stays
 * tied to its Kafka record, whose offset is committed only after the job's
 * outcome is delivered.
 *
 * With coalescing on, a key keeps at most one job waiting behind its active
 * one: of two waiting jobs, a background one loses to any other, and
 * otherwise the one with the lower version (on a tie, the one submitted
 * first) loses.  Each job is a full snapshot of its workspace, so the newest
 * one makes the older ones moot; the active job is never superseded.  A
 * losing background job is handed back at once, unrun, with superseded set;
 * the newest losing other job is kept aside until the job that beat it has
 * run: it is handed back superseded when that one succeeds, and runs after
 * all when that one fails for good (failed), so a change is not lost to a
 * newer event that cannot be applied.
 *
 * Background jobs (JOB_REPAIR) yield to the key's other jobs: one submitted
 * behind a background job that has not started takes its place (the
 * background job is handed back superseded); behind one that runs, it asks
 * it to stop (dispatcher_stop_asked).  At most max_background of them run
 * at once, so they never hold every worker. */
#ifndef WF_DISPATCH_H
#define WF_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "wf_err.h"

typedef struct dispatcher dispatcher;

/* What a job is. */
enum job_kind {
    JOB_EVENT = 0, /* the work of one Kafka record, tied to its (topic, partition) */
    JOB_REPAIR,    /* a background job: yields to every other job of its key */
};

typedef struct job {
    char *key; /* owned by the job's creator; must stay valid until collected */
    enum job_kind kind;
    /* JOB_EVENT: where the job's record came from (turns, cancel_partition);
     * required.  Unused for a repair: repairs take their turns together. */
    char *topic;
    int32_t partition;
    int64_t version; /* with coalescing: the higher one of a key wins */
    void *data;      /* the caller's */
    /* Set by the run function: > 0 runs the job again after that many ms
     * (an in-place retry's backoff) without holding a worker meanwhile;
     * its key stays busy until then. */
    long retry_in_ms;
    /* Set by the run function: the job failed for good (retrying cannot
     * help); with coalescing, the job it superseded runs after all. */
    int failed;
    /* set by the dispatcher */
    int64_t due_ms; /* when a delayed job may run again */
    struct job *next;
    int active;     /* the one job of its key that is ready, running or done */
    int cancelled;  /* collected without having run */
    int superseded; /* collected without having run: a newer job of its key waits */
    int running;    /* on a worker now */
    /* Runs because the newer job of its key that superseded it failed for
     * good: that job's version; INT64_MIN otherwise. */
    int64_t after_failed;
    int stop_asked; /* see dispatcher_stop_asked */
} job;

/* Runs one job on a worker thread.  worker_ud is the per-thread value
 * returned by the worker_init callback.  A job may be run several times
 * (see retry_in_ms), possibly on different workers. */
typedef void (*dispatch_run_fn)(job *j, void *worker_ud);
/* Creates per-thread state (e.g. HTTP connections); NULL with err = fail. */
typedef void *(*dispatch_init_fn)(void *ud, wf_err *err);
typedef void (*dispatch_fini_fn)(void *worker_ud);
/* Called on a worker thread, without the dispatcher's lock, each time a
 * job becomes collectable: lets the consumer thread wake from its poll. */
typedef void (*dispatch_notify_fn)(void *ud);

typedef struct dispatch_opts {
    int threads;
    dispatch_run_fn run;
    dispatch_init_fn worker_init;
    dispatch_fini_fn worker_fini;
    void *ud;
    dispatch_notify_fn notify; /* optional */
    int coalesce;              /* keep only the newest waiting job per key */
    int max_background;        /* background jobs running at once at most; 0: no limit */
} dispatch_opts;

/* Starts the worker threads.  Returns NULL with err set. */
dispatcher *dispatcher_new(const dispatch_opts *opts, wf_err *err);
/* Joins the workers; jobs not yet collected are lost to the caller, so
 * drain first (dispatcher_inflight() == 0). */
void dispatcher_free(dispatcher *d);

/* Queues j behind earlier jobs of its key.  Never blocks.  With
 * coalescing, j or the job it replaces may be collectable on return. */
void dispatcher_submit(dispatcher *d, job *j);

/* Returns a finished (or cancelled) job, waiting up to timeout_ms; NULL
 * when none finished in time.  The next job of a key becomes ready as soon
 * as the previous one has run (or was cancelled), not only once it is
 * collected: finished jobs of one key are still collected in order.  A
 * superseded job is collectable as soon as it is superseded, possibly before
 * the key's active job. */
job *dispatcher_collect(dispatcher *d, int timeout_ms);

/* Marks queued, delayed and not yet started event jobs of (topic, partition)
 * cancelled, or every job of every kind when topic is NULL; they come back
 * through dispatcher_collect with cancelled set.  Running jobs finish
 * normally, with dispatcher_stop_asked set: one that then asks for a backoff
 * runs again at once instead of waiting it out. */
void dispatcher_cancel_partition(dispatcher *d, const char *topic, int32_t partition);
/* The same for every job of one kind. */
void dispatcher_cancel_kind(dispatcher *d, enum job_kind kind);

/* Whether the running job j should end as soon as it can: it is being
 * cancelled (a backoff it asks for is then cut short), or, for a background
 * job, another job of its key waits.  Safe from the job's own thread while
 * it runs. */
int dispatcher_stop_asked(const job *j);

/* Jobs submitted and not yet collected, in total or the event jobs of one
 * partition. */
size_t dispatcher_inflight(dispatcher *d);
size_t dispatcher_inflight_partition(dispatcher *d, const char *topic, int32_t partition);

#endif
