/* attempt: one run of the handler for a record, on a worker thread, and
 * the backoff before an in-place retry. */
#ifndef WF_ATTEMPT_H
#define WF_ATTEMPT_H

#include "outcome.h"
#include "provision.h"

/* Says whether a stop or revoke is under way (ud: the caller's). */
typedef int (*attempt_give_up_fn)(void *ud);

/* Runs attempt w->attempts + 1 of w's event with p, leaving the outcome in
 * w->result or w->err.  A transient failure with in-place attempts left
 * (in_place_attempts in all) sets w->j.retry_in_ms, for the dispatcher to
 * run it again after a backoff; the worker meanwhile serves other
 * workspaces.  When give_up says so (asked before the attempt and again
 * after a failure) the retry is abandoned instead, so a stop never waits
 * out a backoff.  A failure no retry can help marks the job failed. */
void attempt_run(work *w, provisioner *p, attempt_give_up_fn give_up, void *give_up_ud,
                 int in_place_attempts);

#endif
