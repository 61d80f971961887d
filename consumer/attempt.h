/* attempt: one run of the handler for a record, on a worker thread, and
 * the backoff before an in-place retry. */
#ifndef WF_ATTEMPT_H
#define WF_ATTEMPT_H

#include "outcome.h"
#include "provision.h"

/* Runs attempt w->attempts + 1 of w's event with p, leaving the outcome in
 * w->result or w->err.  A transient failure with in-place attempts left
 * (in_place_attempts in all) sets w->j.retry_in_ms, for the dispatcher to
 * run it again after a backoff; the worker meanwhile serves other
 * workspaces.  give_up (a stop or revoke) abandons a retry instead. */
void attempt_run(work *w, provisioner *p, int give_up, int in_place_attempts);

#endif
