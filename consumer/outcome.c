/* outcome: a record's terminal outputs (result, retry-tier forward, dead
 * letter or its stub) and marking its offset done once they are all
 * acknowledged.  See outcome.h for the guarantees. */
#include "outcome.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "desired.h"
#include "kafka.h"
#include "log.h"
#include "numparse.h"
#include "trace.h"

#define TOPIC_MAX        512
#define ATTEMPTS_MAX     1000000
#define RECORD_TOO_LARGE "kafka.record-too-large"

struct outcome {
    outcome_opts o;
    char dlt_topic[TOPIC_MAX];
    char state_topic[TOPIC_MAX];
    char (*tier_topics)[TOPIC_MAX];
    int fatal;           /* an output was lost: never commit past it */
    unsigned assign_gen; /* bumped on every revoke */
};

outcome *outcome_new(const outcome_opts *opts)
{
    const wf_config *cfg = opts->cfg;
    outcome *oc = calloc(1, sizeof(*oc));

    if (oc == NULL || (oc->tier_topics = calloc(cfg->retry.n_tiers ? cfg->retry.n_tiers : 1,
                                                TOPIC_MAX)) == NULL) {
        free(oc);
        return NULL;
    }
    oc->o = *opts;
    wf_config_dlt_topic(cfg, oc->dlt_topic, sizeof(oc->dlt_topic));
    wf_config_state_topic(cfg, oc->state_topic, sizeof(oc->state_topic));
    for (size_t i = 0; i < cfg->retry.n_tiers; i++)
        wf_config_retry_topic(cfg, i, oc->tier_topics[i], TOPIC_MAX);
    return oc;
}

void outcome_free(outcome *oc)
{
    if (oc == NULL)
        return;
    free(oc->tier_topics);
    free(oc);
}

const char *outcome_dlt_topic(const outcome *oc)
{
    return oc->dlt_topic;
}

const char *outcome_state_topic(const outcome *oc)
{
    return oc->state_topic;
}

const char *outcome_tier_topic(const outcome *oc, size_t i)
{
    return oc->tier_topics[i];
}

int outcome_tier_of(const outcome *oc, const char *topic)
{
    for (size_t i = 0; i < oc->o.cfg->retry.n_tiers; i++)
        if (strcmp(oc->tier_topics[i], topic) == 0)
            return (int)i;
    return -1;
}

int outcome_fatal(const outcome *oc)
{
    return oc->fatal;
}

void outcome_revoked(outcome *oc)
{
    oc->assign_gen++;
}

void outcome_result_id(const char *event_id, char *out)
{
    static const char prefix[] = "wsflyte-result:";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    /* All of the id: ids that share a long prefix get different results. */
    if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, prefix, sizeof(prefix) - 1) ||
        !EVP_DigestUpdate(ctx, event_id, strlen(event_id)) || !EVP_DigestFinal_ex(ctx, md, &n)) {
        /* Out of memory: a wrong result_id would break redelivery's promise. */
        log_error(LOG_CTX_NONE, "result_id: SHA-256 failed; stopping");
        abort();
    }
    EVP_MD_CTX_free(ctx);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x80); /* UUID version 8: custom */
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0],
             md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12],
             md[13], md[14], md[15]);
}

/* ---- outputs ---- */

void outcome_release(work *w)
{
    outcome *oc = w->oc;

    if (--w->refs > 0)
        return;
    if (w->failed) {
        oc->fatal = 1;
    } else if (!w->abandoned && w->assign_gen == oc->assign_gen) {
        /* An output acknowledged only after its partition was revoked (and
         * maybe assigned again) must not mark a newer delivery of the same
         * offset done. */
        const char *topic = rd_kafka_topic_name(w->msg->rkt);
        int64_t next = offsets_done(oc->o.offsets, topic, w->msg->partition, w->msg->offset);
        if (next >= 0)
            oc->o.done(oc->o.ud, topic, w->msg->partition, next);
    }
    /* Fields the result borrowed from the event are not its to free. */
    w->result.event_id = w->result.workspace_id = NULL;
    prov_result_fini(&w->result);
    wsstate_fini(&w->state);
    ws_event_fini(&w->ev);
    rd_kafka_message_destroy(w->msg);
    free(w);
}

static void output_too_large(work *w, const rd_kafka_message_t *m);

void outcome_delivered(const rd_kafka_message_t *m)
{
    work *w = m->_private;

    if (kafka_err_is_size(m->err)) {
        /* A broker limit below ours: sending it again can never work, and
         * stopping would bring the same record back after the restart. */
        output_too_large(w, m);
    } else if (m->err) {
        log_error(LOG_CTX_NONE, "delivery to %s failed: %s; the input offset stays uncommitted",
                  rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
        w->failed = 1;
    }
    outcome_release(w);
}

/* Produces one output of w to partition (RD_KAFKA_PARTITION_UA: by key).
 * Takes ownership of hdrs on every path.  Returns 0 when queued, 1 when the
 * record is larger than the producer's message.max.bytes (nothing else
 * set), or -1 with w failed. */
static int produce(work *w, const char *topic, int32_t partition, const void *key, size_t key_len,
                   const void *value, size_t len, rd_kafka_headers_t *hdrs)
{
    outcome *oc = w->oc;
    rd_kafka_resp_err_t err;

    w->refs++;
    while ((err = rd_kafka_producev(
                oc->o.producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                RD_KAFKA_V_OPAQUE(w), RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(oc->o.producer, 100); /* let deliveries drain the queue */
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    rd_kafka_headers_destroy(hdrs);
    w->refs--;
    if (kafka_err_is_size(err))
        return 1;
    log_error(LOG_CTX_NONE, "produce to %s: %s", topic, rd_kafka_err2str(err));
    w->failed = 1;
    return -1;
}

static void produce_result(work *w)
{
    outcome *oc = w->oc;
    const prov_result *r = &w->result;
    rd_kafka_headers_t *hdrs;
    void *buf = NULL;
    size_t len = 0;
    wf_err err;

    wf_err_init(&err);
    if (codec_encode_result(oc->o.codec, r, oc->o.results_format, &buf, &len, &err) != 0) {
        log_error(LOG_CTX_NONE, "encode result of event %s: %s", r->event_id, err.msg);
        w->failed = 1;
        return;
    }
    hdrs = rd_kafka_headers_new(2);
    rd_kafka_header_add(hdrs, "content-type", -1,
                        oc->o.results_format == CODEC_JSON ? "application/json"
                                                           : "application/vnd.confluent.avro",
                        -1);
    rd_kafka_header_add(hdrs, "x-event-id", -1, r->event_id, -1);
    /* The event's trace goes on: whoever waits for the result joins it. */
    if (w->trace.trace_id[0] != '\0')
        rd_kafka_header_add(hdrs, "traceparent", -1, w->trace.traceparent, -1);
    if (w->trace.tracestate[0] != '\0')
        rd_kafka_header_add(hdrs, "tracestate", -1, w->trace.tracestate, -1);
    /* Results are keyed by workspace: not records about the event's
     * partition, so the default partitioner places them. */
    if (produce(w, oc->o.cfg->kafka.topic_results, RD_KAFKA_PARTITION_UA, r->workspace_id,
                strlen(r->workspace_id), buf, len, hdrs) == 1) {
        log_error(LOG_CTX_NONE, "result of event %s: %zu bytes, too large to produce", r->event_id,
                  len);
        w->failed = 1;
    }
    free(buf);
}

/* Writes the workspace's state record the handler left in w to the state
 * topic, keyed by workspace, on the partition the event was read from (so
 * the record is restored by whichever replica owns that partition); in
 * its small incomplete form when stub is set, or when the full one is too
 * large to produce (the next event then takes the full path). */
static void produce_state(work *w, int stub)
{
    rd_kafka_headers_t *hdrs;
    size_t len = 0;
    char *buf;
    int rc;

    if (w->state.workspace_id == NULL)
        return;
    w->state_stub = stub;
    buf = stub ? wsstate_encode_stub(&w->state, &len) : wsstate_encode(&w->state, &len);
    if (buf == NULL) {
        log_error(LOG_CTX_NONE, "encode state record of workspace %s: out of memory",
                  w->state.workspace_id);
        w->failed = 1;
        return;
    }
    hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(hdrs, "content-type", -1, "application/json", -1);
    rc = produce(w, w->oc->state_topic, w->msg->partition, w->state.workspace_id,
                 strlen(w->state.workspace_id), buf, len, hdrs);
    free(buf);
    if (rc != 1)
        return;
    log_warn(LOG_CTX_NONE, "state record of workspace %s: %zu bytes, too large to produce%s",
             w->state.workspace_id, len, stub ? "" : "; writing a small incomplete one instead");
    if (stub)
        w->failed = 1;
    else
        produce_state(w, 1);
}

/* Sends the original record to topic, on the partition it was read from
 * (the contract's co-partitioning, whatever partitioner the platform used),
 * with the contract's headers: the first x-original-* values are kept, the
 * error headers describe the last failure.  A stub has an empty value and
 * says why in x-error-code and x-error-message.  Returns produce()'s
 * status. */
static int forward_as(work *w, const char *topic, int64_t due_ms, int stub)
{
    outcome *oc = w->oc;
    const rd_kafka_message_t *m = w->msg;
    rd_kafka_headers_t *in = NULL, *h;
    char buf[64];
    rd_kafka_timestamp_type_t tstype;
    wf_err why;
    int rc;

    if (rd_kafka_message_headers(m, &in) == RD_KAFKA_RESP_ERR_NO_ERROR)
        h = rd_kafka_headers_copy(in);
    else
        h = rd_kafka_headers_new(12);
    if (kafka_header_get(h, "x-original-topic", buf, sizeof(buf)) != 0) {
        kafka_header_set(h, "x-original-topic", rd_kafka_topic_name(m->rkt));
        snprintf(buf, sizeof(buf), "%" PRId32, m->partition);
        kafka_header_set(h, "x-original-partition", buf);
        snprintf(buf, sizeof(buf), "%" PRId64, m->offset);
        kafka_header_set(h, "x-original-offset", buf);
        snprintf(buf, sizeof(buf), "%" PRId64, rd_kafka_message_timestamp(m, &tstype));
        kafka_header_set(h, "x-original-timestamp", buf);
    }
    if (kafka_header_get(h, "x-first-failure-ms", buf, sizeof(buf)) != 0) {
        snprintf(buf, sizeof(buf), "%" PRId64, wf_clock_wall_ms());
        kafka_header_set(h, "x-first-failure-ms", buf);
    }
    kafka_header_set(h, "x-consumer-group", oc->o.cfg->kafka.group_id);
    /* A trace made here (the record had no valid traceparent) goes with the
     * record, so that every hop and the result share one trace id; a
     * tracestate without a valid traceparent is dropped, as the
     * recommendation says.  A valid one is already among the headers. */
    if (w->trace.generated) {
        kafka_header_set(h, "traceparent", w->trace.traceparent);
        rd_kafka_header_remove(h, "tracestate");
    }
    snprintf(buf, sizeof(buf), "%d", w->prior_attempts + w->attempts);
    kafka_header_set(h, "x-attempts", buf);
    if (due_ms > 0) {
        snprintf(buf, sizeof(buf), "%" PRId64, due_ms);
        kafka_header_set(h, "x-retry-due-ms", buf);
    } else {
        rd_kafka_header_remove(h, "x-retry-due-ms");
    }
    wf_err_init(&why);
    if (stub)
        wf_err_set(&why, w->err.cls, RECORD_TOO_LARGE,
                   "record with a %zu-byte value is too large to forward unchanged; last "
                   "failure %s: %s",
                   m->len, w->err.code[0] ? w->err.code : "unknown", w->err.msg);
    else
        why = w->err;
    kafka_header_set(h, "x-error-class", wf_class_name(wf_class_reported(why.cls)));
    kafka_header_set(h, "x-error-code", why.code[0] ? why.code : "unknown");
    /* wf_err keeps messages within ERROR_HEADER_MAX, cut on a character. */
    kafka_header_set(h, "x-error-message", why.msg);
    /* A stub's value is empty, not null: null is a tombstone to Kafka. */
    rc = produce(w, topic, m->partition, m->key, m->key_len, stub ? "" : m->payload,
                 stub ? 0 : m->len, h);
    if (rc == 1 && stub)
        log_error(LOG_CTX_NONE,
                  "%s[%" PRId32 "]@%" PRId64 ": even its stub (key and headers) is too large for "
                  "%s; no dead letter written",
                  rd_kafka_topic_name(m->rkt), m->partition, m->offset, topic);
    return rc;
}

/* Counts a dead letter once it is queued (a stub sent again is not new). */
static int counted(work *w, int rc)
{
    if (rc == 0)
        metrics_dead_lettered(w->oc->o.metrics, wf_class_reported(w->err.cls));
    return rc;
}

/* Forwards w's record to a retry tier (due_ms > 0) or the dead-letter
 * topic.  A dead letter too large to send unchanged becomes a stub, so
 * that nothing stops on it; a tier forward reports 1 instead, for the
 * caller to dead-letter it. */
static int forward(work *w, const char *topic, int64_t due_ms)
{
    int rc = forward_as(w, topic, due_ms, 0);

    if (due_ms > 0)
        return rc;
    if (rc == 1)
        rc = forward_as(w, topic, due_ms, 1);
    return counted(w, rc) == -1 ? -1 : 0;
}

/* ---- outcomes (consumer thread) ---- */

static void log_outcome(const work *w)
{
    const prov_result *r = &w->result;
    log_ctx ctx = {w->ev.ws.workspace_id, w->ev.event_id, r->attempts, r->duration_ms,
                   outcome_trace_id(w)};

    if (r->status == PROV_FAILED)
        log_error(&ctx, "%s FAILED (%s %s): %s", ws_event_type_name(w->ev.type), r->error_class,
                  r->error_code, r->error_message);
    else
        log_info(&ctx, "%s %s%s%s", ws_event_type_name(w->ev.type), prov_status_name(r->status),
                 r->reason ? ": " : "", r->reason ? r->reason : "");
}

static int set_failed(prov_result *r, const wf_err *err)
{
    prov_result_fini(r);
    memset(r, 0, sizeof(*r));
    r->status = PROV_FAILED;
    r->has_error = 1;
    r->error_class = strdup(wf_class_name(wf_class_reported(err->cls)));
    r->error_code = strdup(err->code[0] ? err->code : "unknown");
    r->error_message = strdup(err->msg);
    return r->error_class && r->error_code && r->error_message ? 0 : -1;
}

/* A record that no retry tier can take (too large to forward unchanged)
 * fails for good: its outcome says why and what failed last. */
static void give_up_too_large(work *w, const char *tier)
{
    wf_err last = w->err;

    wf_err_init(&w->err);
    wf_err_set(&w->err, WF_PERMANENT, RECORD_TOO_LARGE,
               "record with a %zu-byte value is too large to forward to %s; last failure %s: %s",
               w->msg->len, tier, last.code[0] ? last.code : "unknown", last.msg);
}

/* Makes w's result FAILED and dead-letters its record: unchanged (or as a
 * stub if it turns out too large), or as a stub at once. */
static void fail(work *w, int stub)
{
    if (set_failed(&w->result, &w->err) != 0)
        w->failed = 1;
    if (stub)
        counted(w, forward_as(w, w->oc->dlt_topic, 0, 1));
    else
        forward(w, w->oc->dlt_topic, 0);
}

/* Produces w's result (status and error already in w->result). */
static void conclude(work *w)
{
    outcome *oc = w->oc;
    prov_result *r = &w->result;
    char result_id[37];

    outcome_result_id(w->ev.event_id, result_id);
    free(r->result_id);
    r->result_id = strdup(result_id);
    r->event_id = w->ev.event_id;
    r->event_type = w->ev.type;
    r->workspace_id = w->ev.ws.workspace_id;
    r->workspace_version = w->ev.workspace_version;
    r->attempts = w->prior_attempts + w->attempts;
    r->completed_at = wf_clock_wall_ms();
    r->duration_ms = r->completed_at - w->started_ms;
    log_outcome(w);
    metrics_event(oc->o.metrics, r->event_type, r->status, (double)r->duration_ms / 1000.0);
    produce_result(w);
}

/* A newer event of the workspace was waiting too: w was coalesced in the
 * dispatcher and never ran.  Answered as an older version is (contract §3),
 * without any API call; each event is a full snapshot. */
static void supersede(work *w)
{
    w->attempts = 1;
    w->result.status = PROV_SKIPPED;
    if ((w->result.reason = strdup("stale")) == NULL)
        w->failed = 1; /* out of memory: stop rather than commit past it */
}

void outcome_finish(work *w)
{
    outcome *oc = w->oc;
    int total;

    if (w->j.superseded)
        supersede(w);
    total = w->prior_attempts + w->attempts;
    if (w->j.cancelled || w->abandoned) {
        w->abandoned = 1; /* the partition's next owner redelivers it */
        outcome_release(w);
        return;
    }
    /* Before its result: a reader that sees the result and then restarts
     * finds the record too (both before the offset is marked done). */
    produce_state(w, 0);
    if (wf_err_is_set(&w->err)) {
        size_t next = (size_t)(w->tier + 1);
        /* Honour a long Retry-After with the first tier that waits long
         * enough.  Each tier keeps one fixed delay, so its records stay in
         * due order and only a partition's head needs checking. */
        while (w->err.retry_after_ms > 0 && next + 1 < oc->o.cfg->retry.n_tiers &&
               oc->o.cfg->retry.tiers_ms[next] < w->err.retry_after_ms)
            next++;
        if (w->err.cls == WF_TRANSIENT && next < oc->o.cfg->retry.n_tiers) {
            int64_t due = wf_clock_wall_ms() + oc->o.cfg->retry.tiers_ms[next];
            log_ctx ctx = {w->ev.ws.workspace_id, w->ev.event_id, total, -1, outcome_trace_id(w)};
            log_warn(&ctx, "%s still failing (%s): forwarding to %s",
                     ws_event_type_name(w->ev.type), w->err.code, oc->tier_topics[next]);
            if (forward(w, oc->tier_topics[next], due) != 1) {
                char tier[32];
                wf_duration_format(oc->o.cfg->retry.tiers_ms[next], tier, sizeof(tier));
                metrics_retry_forwarded(oc->o.metrics, tier);
                outcome_release(w);
                return;
            }
            give_up_too_large(w, oc->tier_topics[next]);
            fail(w, 1);
        } else {
            fail(w, 0);
        }
    }
    conclude(w);
    outcome_release(w);
}

/* A broker refused an output of w as too large (its limit is below ours).
 * A dead letter is sent again as a stub; a retry-tier forward ends the
 * event FAILED with a stub dead letter instead.  Runs in a delivery
 * report, before the output's reference on w is released. */
static void output_too_large(work *w, const rd_kafka_message_t *m)
{
    outcome *oc = w->oc;
    const char *topic = rd_kafka_topic_name(m->rkt);

    log_error(LOG_CTX_NONE, "%s[%" PRId32 "]@%" PRId64 ": %s refused it: %s",
              rd_kafka_topic_name(w->msg->rkt), w->msg->partition, w->msg->offset, topic,
              rd_kafka_err2str(m->err));
    if (strcmp(topic, oc->o.cfg->kafka.topic_results) == 0) {
        w->failed = 1; /* no smaller form of a result exists */
    } else if (strcmp(topic, oc->state_topic) == 0) {
        if (!w->state_stub)
            produce_state(w, 1); /* the small incomplete form */
        else
            w->failed = 1;
    } else if (strcmp(topic, oc->dlt_topic) == 0) {
        if (m->len > 0 && forward_as(w, oc->dlt_topic, 0, 1) == -1)
            w->failed = 1;
    } else {
        give_up_too_large(w, topic);
        fail(w, 1);
        conclude(w);
    }
}

/* A count header (x-attempts): 0 when absent; a value that is not a
 * count is reported and read as 0, since it only informs. */
static int header_int(rd_kafka_message_t *m, const char *name)
{
    rd_kafka_headers_t *h = NULL;
    char buf[32], why[64];
    int v;

    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        kafka_header_get(h, name, buf, sizeof(buf)) != 0)
        return 0;
    if (numparse_int(buf, 0, ATTEMPTS_MAX, &v, why, sizeof(why)) != 0) {
        log_warn(LOG_CTX_NONE, "%s[%" PRId32 "]@%" PRId64 ": header %s \"%s\": %s; read as 0",
                 rd_kafka_topic_name(m->rkt), m->partition, m->offset, name, buf, why);
        return 0;
    }
    return v;
}

/* The record's trace context when its traceparent is valid, with its
 * tracestate; otherwise w->trace stays empty until the event id is known
 * (ensure_trace). */
static void read_trace(work *w)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;

    if (rd_kafka_message_headers(w->msg, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, "traceparent", &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        wf_trace_parse(&w->trace, v, n) != 0)
        return;
    if (rd_kafka_header_get_last(h, "tracestate", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR)
        (void)wf_trace_set_state(&w->trace, v, n);
}

/* A record without a valid traceparent gets a trace of its own, derived
 * from its event id (the same on a redelivery), random when it has none
 * readable.  Without one (OpenSSL failed) the outputs carry none. */
static void ensure_trace(work *w)
{
    const char *id = w->ev.event_id;

    if (w->trace.trace_id[0] == '\0')
        (void)wf_trace_new(&w->trace, id, id ? strlen(id) : 0);
}

const char *outcome_trace_id(const work *w)
{
    return w->trace.trace_id[0] != '\0' ? w->trace.trace_id : NULL;
}

work *outcome_begin(outcome *oc, rd_kafka_message_t *m, int tier)
{
    work *w = calloc(1, sizeof(*w));

    if (w == NULL ||
        offsets_begin(oc->o.offsets, rd_kafka_topic_name(m->rkt), m->partition, m->offset) != 0) {
        free(w);
        return NULL;
    }
    w->oc = oc;
    w->msg = m;
    w->refs = 1;
    w->assign_gen = oc->assign_gen;
    w->tier = tier;
    w->prior_attempts = header_int(m, "x-attempts");
    w->started_ms = wf_clock_wall_ms();
    wf_err_init(&w->err);
    read_trace(w);
    return w;
}

/* Whether w's record is keyed by its event's workspace id. */
static int key_is_workspace(const work *w)
{
    const rd_kafka_message_t *m = w->msg;

    return m->key_len == strlen(w->ev.ws.workspace_id) &&
           memcmp(m->key, w->ev.ws.workspace_id, m->key_len) == 0;
}

/* w's record could not be decoded (w->err says why): a FAILED result when
 * its ids are readable, and a dead letter. */
static void undecodable(work *w, const char *ct)
{
    const rd_kafka_message_t *m = w->msg;

    w->attempts = 1;
    if (codec_decode_event_ids(w->oc->o.codec, m->payload, m->len, ct, &w->ev) == 0) {
        ensure_trace(w);
        /* Partly readable: whoever waits for its result gets a FAILED
         * one next to the dead letter (CONTRACT.md §3). */
        if (!key_is_workspace(w))
            wf_err_prefix(&w->err, "record key does not match workspace.workspace_id; event");
        outcome_finish(w);
        return;
    }
    /* Poison: never retried, straight to the dead-letter topic. */
    ensure_trace(w);
    log_ctx ctx = {.duration_ms = -1, .trace_id = outcome_trace_id(w)};
    log_error(&ctx, "%s[%" PRId32 "]@%" PRId64 " undecodable (%s): %s", rd_kafka_topic_name(m->rkt),
              m->partition, m->offset, w->err.code, w->err.msg);
    forward(w, w->oc->dlt_topic, 0);
    outcome_release(w);
}

int outcome_decode(work *w)
{
    const rd_kafka_message_t *m = w->msg;
    rd_kafka_headers_t *hdrs = NULL;
    char content_type[128];
    const char *ct = NULL;

    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        kafka_header_get(hdrs, "content-type", content_type, sizeof(content_type)) == 0)
        ct = content_type;
    if (codec_decode_event(w->oc->o.codec, m->payload, m->len, ct, &w->ev, &w->err) != 0) {
        if (w->err.cls != WF_TRANSIENT) {
            undecodable(w, ct);
            return 1;
        }
        /* The schema registry is unreachable: not the record's fault. */
        log_error(LOG_CTX_NONE, "%s[%" PRId32 "]@%" PRId64 ": %s; stopping",
                  rd_kafka_topic_name(m->rkt), m->partition, m->offset, w->err.msg);
        w->abandoned = 1;
        outcome_release(w);
        return -1;
    }
    ensure_trace(w);
    if (!key_is_workspace(w)) {
        wf_err_set(&w->err, WF_VALIDATION, "event.key",
                   "record key does not match workspace.workspace_id \"%.80s\"; per-workspace "
                   "ordering needs the workspace id as key",
                   w->ev.ws.workspace_id);
        w->attempts = 1;
        outcome_finish(w);
        return 1;
    }
    /* What fails without asking a server fails here, before the event can
     * supersede a valid one of its workspace that waits for a worker. */
    if (desired_check(w->oc->o.cfg, &w->ev, &w->err) != 0) {
        w->attempts = 1;
        outcome_finish(w);
        return 1;
    }
    return 0;
}
