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

void attempt_run(work *w, provisioner *p, int give_up, int in_place_attempts)
{
    log_ctx ctx = {w->ev.ws.workspace_id, w->ev.event_id, 0, -1, outcome_trace_id(w)};
    int attempt = ++w->attempts;

    if (attempt > 1 && give_up) {
        w->abandoned = 1; /* stop or revoke while backing off */
        return;
    }
    ctx.attempt = w->prior_attempts + attempt;
    wf_err_init(&w->err);
    prov_result_fini(&w->result);
    memset(&w->result, 0, sizeof(w->result));
    wsstate_fini(&w->state);
    if (provision_event(p, &w->ev, w->msg->partition, &w->result, &w->state, &w->err) == 0)
        return;
    /* A server asking for more patience than an in-place wait may take
     * (Retry-After beyond RETRY_AFTER_MAX_MS) is answered by a retry tier. */
    if (w->err.cls != WF_TRANSIENT || attempt >= in_place_attempts ||
        w->err.retry_after_ms > RETRY_AFTER_MAX_MS)
        return;
    w->j.retry_in_ms = backoff_ms(attempt, w->err.retry_after_ms);
    log_warn(&ctx, "%s failed (%s): %s; retrying in %ld ms", ws_event_type_name(w->ev.type),
             w->err.code, w->err.msg, w->j.retry_in_ms);
}
