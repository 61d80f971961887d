/* attempt: one run of the handler, and in-place retries' backoff. */
#include "attempt.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BACKOFF_BASE_MS    500
#define BACKOFF_MAX_MS     10000
#define RETRY_AFTER_MAX_MS 30000

static long backoff_ms(int attempt, long retry_after_ms)
{
    long d = (long)BACKOFF_BASE_MS << (attempt - 1 < 10 ? attempt - 1 : 10);

    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    d = d / 2 + random() % (d / 2 + 1); /* jitter: spread retrying replicas */
    if (retry_after_ms > d)
        d = retry_after_ms < RETRY_AFTER_MAX_MS ? retry_after_ms : RETRY_AFTER_MAX_MS;
    return d;
}

void attempt_run(work *w, provisioner *p, attempt_give_up_fn give_up, void *give_up_ud,
                 int in_place_attempts)
{
    log_ctx ctx = {w->ev.ws.workspace_id, w->ev.event_id, 0, -1, outcome_trace_id(w)};
    int attempt = ++w->attempts;

    if (attempt > 1 && give_up(give_up_ud)) {
        w->abandoned = 1; /* stop or revoke while backing off */
        return;
    }
    ctx.attempt = w->prior_attempts + attempt;
    wf_err_init(&w->err);
    prov_result_fini(&w->result);
    memset(&w->result, 0, sizeof(w->result));
    wsstate_fini(&w->state);
    if (provision_event_after(p, &w->ev, w->j.after_failed, w->msg->partition, &w->result,
                              &w->state, &w->err) == 0)
        return;
    if (w->err.cls != WF_TRANSIENT) {
        w->j.failed = 1; /* an event it superseded may still be applied */
        return;
    }
    /* A server asking for more patience than an in-place wait may take
     * (Retry-After beyond RETRY_AFTER_MAX_MS) is answered by a retry tier. */
    if (attempt >= in_place_attempts || w->err.retry_after_ms > RETRY_AFTER_MAX_MS)
        return;
    /* A stop or revoke that came while this attempt ran: hand the record
     * back rather than wait out a backoff (a Retry-After of up to 30 s). */
    if (give_up(give_up_ud)) {
        w->abandoned = 1;
        return;
    }
    w->j.retry_in_ms = backoff_ms(attempt, w->err.retry_after_ms);
    log_warn(&ctx, "%s failed (%s): %s; retrying in %ld ms", ws_event_type_name(w->ev.type),
             w->err.code, w->err.msg, w->j.retry_in_ms);
}
