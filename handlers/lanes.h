/* lanes: runs independent tasks at once, each on a lane with its own
 * connections.
 *
 * A lanes set has a fixed width W.  Lane 0 is the thread that calls
 * lanes_run; lanes 1..W-1 are threads started the first time a run needs
 * them and then kept, parked, until lanes_free, so a run costs a few
 * wake-ups and no thread creation or allocation.  Each lane has a context
 * the owner supplies at creation (its own HTTP clients: a libcurl handle
 * serves one request at a time) and its own wf_err.
 *
 * Ownership and threads: a lanes set belongs to one owner (a provisioner)
 * and is used by one thread at a time; lanes_run and lanes_free must not
 * overlap, and a task must not call lanes_run on the lanes running it.
 * While a run goes, a task may touch its lane's context, its own task
 * object, and objects that are themselves thread-safe (the pacers, the
 * observer, the OAuth token source, the state store); anything else the
 * tasks share needs its own lock.  Everything the caller wrote before
 * lanes_run is visible to the tasks, and everything the tasks wrote is
 * visible to the caller when lanes_run returns. */
#ifndef WF_LANES_H
#define WF_LANES_H

#include <stddef.h>

#include "wf_err.h"

typedef struct lanes lanes;

/* One task: runs task on the lane whose context is lane_ctx.  Returns 0,
 * or non-zero with err set (err is the lane's own, clear when the task
 * starts; what a task that returns 0 leaves in it is dropped). */
typedef int (*lanes_task_fn)(void *lane_ctx, void *task, wf_err *err);

/* width >= 1 lanes; lane_ctx[i] is lane i's context (the array is copied,
 * the contexts are borrowed and must outlive the lanes).  Starts no
 * thread.  Returns NULL with err set. */
lanes *lanes_new(size_t width, void *const *lane_ctx, wf_err *err)
    __attribute__((warn_unused_result));
/* Stops and joins the lanes' threads.  NULL: nothing. */
void lanes_free(lanes *l);

/* Runs fn on tasks[0..n-1], taken in index order, at most width at once,
 * each on some lane, and returns when every task that started has ended.
 * Once a failure is seen no further task starts; the tasks that did not
 * start count as not run.  With n == 1 or width == 1 the tasks run one
 * after the other on the calling thread, with no hand-off.
 *
 * Returns 0, or -1 with err set from the failed task of the lowest index
 * (first error wins: an err already set is kept).  Because tasks start in
 * index order, every task below a failed one did run, so the error
 * reported is the lowest-index failure whatever the timing.  A lane
 * thread that cannot be started leaves the run narrower, not failed. */
int lanes_run(lanes *l, lanes_task_fn fn, void *const *tasks, size_t n, wf_err *err)
    __attribute__((warn_unused_result));

/* The width given to lanes_new. */
size_t lanes_width(const lanes *l);

#endif
