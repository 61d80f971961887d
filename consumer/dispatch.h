/* dispatch: key-ordered concurrent execution.
 *
 * Jobs carry a key (the workspace id).  Up to `threads` jobs run at once,
 * never two with the same key, and jobs of one key run in submission order;
 * a slow or failing workspace holds up only its own later events.  The
 * consumer thread submits jobs and collects finished ones; worker threads
 * only run the job function.  Not a queue of its own: every job stays
 * tied to its Kafka record, whose offset is committed only after the job's
 * outcome is delivered. */
#ifndef WF_DISPATCH_H
#define WF_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "wf_err.h"

typedef struct dispatcher dispatcher;

typedef struct job {
    char *key;   /* owned by the job's creator; must stay valid until collected */
    char *topic; /* where the job's record came from, for cancel_partition */
    int32_t partition;
    void *data; /* the caller's */
    /* set by the dispatcher */
    struct job *next;
    int active;    /* the one job of its key that is ready, running or done */
    int cancelled; /* collected without having run */
} job;

/* Runs one job on a worker thread.  worker_ud is the per-thread value
 * returned by the worker_init callback. */
typedef void (*dispatch_run_fn)(job *j, void *worker_ud);
/* Creates per-thread state (e.g. HTTP connections); NULL with err = fail. */
typedef void *(*dispatch_init_fn)(void *ud, wf_err *err);
typedef void (*dispatch_fini_fn)(void *worker_ud);

typedef struct dispatch_opts {
    int threads;
    dispatch_run_fn run;
    dispatch_init_fn worker_init;
    dispatch_fini_fn worker_fini;
    void *ud;
} dispatch_opts;

/* Starts the worker threads.  Returns NULL with err set. */
dispatcher *dispatcher_new(const dispatch_opts *opts, wf_err *err);
/* Joins the workers; jobs not yet collected are lost to the caller, so
 * drain first (dispatcher_inflight() == 0). */
void dispatcher_free(dispatcher *d);

/* Queues j behind earlier jobs of its key.  Never blocks. */
void dispatcher_submit(dispatcher *d, job *j);

/* Returns a finished (or cancelled) job, waiting up to timeout_ms; NULL
 * when none finished in time.  Collecting a job lets the next job of its
 * key start. */
job *dispatcher_collect(dispatcher *d, int timeout_ms);

/* Marks queued, not yet started jobs of (topic, partition) cancelled; they
 * come back through dispatcher_collect with cancelled set.  Running jobs
 * finish normally. */
void dispatcher_cancel_partition(dispatcher *d, const char *topic, int32_t partition);

/* Jobs submitted and not yet collected, in total or for one partition. */
size_t dispatcher_inflight(dispatcher *d);
size_t dispatcher_inflight_partition(dispatcher *d, const char *topic, int32_t partition);

#endif
