/* intent: the state topic's write-ahead marks, produced and awaited on the
 * worker that needs them. */
#include "intent.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"

#define TOPIC_MAX 512
#define WAIT_MS   30000
#define FLUSH_MS  10000

struct intent {
    rd_kafka_t *producer;
    char topic[TOPIC_MAX];
};

/* One record in flight: the worker waiting for it and the delivery report
 * each hold a reference; the last one frees it. */
typedef struct pending {
    atomic_int refs;
    atomic_int status; /* 0: waiting; 1: acknowledged; -1: lost */
    rd_kafka_resp_err_t err;
} pending;

static void unref(pending *x)
{
    if (atomic_fetch_sub(&x->refs, 1) == 1)
        free(x);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    pending *x = m->_private;

    (void)rk;
    (void)opaque;
    x->err = m->err;
    atomic_store(&x->status, m->err ? -1 : 1);
    unref(x);
}

intent *intent_new(const wf_config *cfg, wf_err *err)
{
    intent *in = calloc(1, sizeof(*in));
    kafka_producer_opts o = {.on_delivery = on_delivery, .linger_ms = 1};

    if (in == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "state intent: out of memory");
        return NULL;
    }
    wf_config_state_topic(cfg, in->topic, sizeof(in->topic));
    if ((in->producer = kafka_producer_new(cfg, &o, err)) == NULL) {
        free(in);
        return NULL;
    }
    return in;
}

void intent_free(intent *in)
{
    if (in == NULL)
        return;
    rd_kafka_flush(in->producer, FLUSH_MS);
    rd_kafka_destroy(in->producer);
    free(in);
}

/* Produces key/value (value NULL: a tombstone) to the state topic's
 * partition and waits for its acknowledgement.  Returns 0; 1 when the
 * record is too large (for this producer or the broker; err not set); or
 * -1 with err set. */
static int send_wait(intent *in, int32_t partition, const char *key, const void *value, size_t len,
                     wf_err *err)
{
    int64_t deadline = wf_clock_mono_ms() + WAIT_MS;
    pending *x = calloc(1, sizeof(*x));
    rd_kafka_resp_err_t rerr;
    int status;

    if (x == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "state record of %s: out of memory", key);
        return -1;
    }
    atomic_init(&x->refs, 2);
    atomic_init(&x->status, 0);
    rerr = rd_kafka_producev(in->producer, RD_KAFKA_V_TOPIC(in->topic),
                             RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, strlen(key)),
                             RD_KAFKA_V_VALUE((void *)value, value ? len : 0),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_HEADER("content-type", "application/json", -1),
                             RD_KAFKA_V_OPAQUE(x), RD_KAFKA_V_END);
    if (rerr) {
        free(x);
        if (kafka_err_is_size(rerr))
            return 1;
        wf_err_set(err, WF_TRANSIENT, "kafka.state", "state record of %s to %s[%" PRId32 "]: %s",
                   key, in->topic, partition, rd_kafka_err2str(rerr));
        return -1;
    }
    /* Any waiting worker serves every report; each waits for its own. */
    while ((status = atomic_load(&x->status)) == 0 && wf_clock_mono_ms() < deadline)
        rd_kafka_poll(in->producer, 10);
    rerr = x->err;
    unref(x);
    if (status == 1)
        return 0;
    if (status == -1 && kafka_err_is_size(rerr))
        return 1;
    wf_err_set(err, WF_TRANSIENT, "kafka.state", "state record of %s to %s[%" PRId32 "]: %s", key,
               in->topic, partition,
               status == 0 ? "not acknowledged within 30 s" : rd_kafka_err2str(rerr));
    return -1;
}

int intent_write(void *ud, int32_t partition, const wsstate *s, wf_err *err)
{
    log_ctx ctx = {.workspace_id = s->workspace_id, .duration_ms = -1};
    intent *in = ud;
    size_t len = 0;
    char *buf = wsstate_encode(s, &len);
    int rc;

    if (buf == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "state record of %s: out of memory", s->workspace_id);
        return -1;
    }
    rc = send_wait(in, partition, s->workspace_id, buf, len, err);
    free(buf);
    if (rc != 1)
        return rc;
    /* Too large for the topic: a small incomplete record keeps the version
     * (stale decisions) and sends the next event down the full path. */
    log_warn(&ctx,
             "state record of %zu bytes is too large for %s[%" PRId32 "]: writing a small "
             "incomplete one instead",
             len, in->topic, partition);
    if ((buf = wsstate_encode_stub(s, &len)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "state record of %s: out of memory", s->workspace_id);
        return -1;
    }
    rc = send_wait(in, partition, s->workspace_id, buf, len, err);
    free(buf);
    if (rc == 1)
        wf_err_set(err, WF_TRANSIENT, "kafka.state",
                   "state record of %s to %s[%" PRId32 "]: even %zu bytes are too large",
                   s->workspace_id, in->topic, partition, len);
    return rc == 0 ? 0 : -1;
}

int intent_retire(void *ud, int32_t partition, const char *workspace_id, wf_err *err)
{
    int rc = send_wait(ud, partition, workspace_id, NULL, 0, err);

    if (rc == 1)
        wf_err_set(err, WF_TRANSIENT, "kafka.state", "tombstone of %s refused as too large",
                   workspace_id);
    return rc == 0 ? 0 : -1;
}
