#include "loop.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "applied.h"
#include "codec.h"
#include "dispatch.h"
#include "health.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "numparse.h"
#include "oauth.h"
#include "offsets.h"
#include "provision.h"

#define BACKOFF_BASE_MS     500
#define BACKOFF_MAX_MS      10000
#define RETRY_AFTER_MAX_MS  30000
#define ERROR_HEADER_MAX    1024
#define FLUSH_MS            10000
#define TOPIC_MAX           512
#define ATTEMPTS_MAX        1000000
#define RECORD_TOO_LARGE    "kafka.record-too-large"
#define MIN_INFLIGHT_WINDOW 1024

/* Why a partition is paused; it is resumed when no reason is left. */
enum { PAUSE_DUE = 1, PAUSE_BACKPRESSURE = 2 };

typedef struct paused {
    char *topic;
    int32_t partition;
    int reasons;
    int64_t resume_at_ms; /* for PAUSE_DUE */
    struct paused *next;
} paused;

/* The due time first given to a retry-tier partition's head record. */
typedef struct deferral {
    char *topic;
    int32_t partition;
    int64_t offset;
    int64_t due_ms;
    struct deferral *next;
} deferral;

typedef struct app {
    const wf_config *cfg;
    volatile sig_atomic_t *stop;
    volatile int abandon; /* stop or revoke: retries give up their record */
    rd_kafka_t *consumer;
    rd_kafka_queue_t *wake; /* the consumer's queue: workers cut its poll short */
    rd_kafka_t *producer;
    codec *codec;
    codec_format results_format;
    dispatcher *dispatcher;
    offsets *offsets;
    paused *paused;
    deferral *deferrals; /* one per retry-tier partition seen */
    metrics *metrics;
    health *health;
    provisioner *prober; /* the health endpoint's own connections */
    oauth *flyte_auth;   /* FlyteAdmin tokens, shared by every provisioner; or NULL */
    applied *applied;    /* completed applies, shared by every worker's provisioner */
    size_t max_inflight;
    int backpressure;
    char dlt_topic[TOPIC_MAX];
    char (*tier_topics)[TOPIC_MAX];
    int fatal;           /* an output was lost: never commit past it */
    unsigned assign_gen; /* bumped on every revoke */
} app;

/* One record on its way to a terminal outcome (or to the next retry tier).
 * refs counts the consumer thread's own reference plus one per output in
 * flight; the offset is stored when it drops to zero without a failure. */
typedef struct work {
    job j; /* first: the dispatcher hands back &work->j */
    app *app;
    rd_kafka_message_t *msg;
    ws_event ev;
    int tier;           /* -1: the events topic; else the retry tier it came from */
    int prior_attempts; /* from x-attempts */
    int attempts;       /* made by this delivery */
    int abandoned;
    int failed;
    int refs;
    unsigned assign_gen; /* the assignment it was consumed under */
    int64_t started_ms;
    prov_result result;
    wf_err err;
} work;

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void loop_result_id(const char *event_id, char *out)
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

int64_t loop_retry_due(const char *header, int64_t timestamp_ms, int64_t delay_ms, int64_t now,
                       int *bad)
{
    int64_t due = 0;

    *bad = header != NULL && numparse_i64(header, 1, INT64_MAX, &due, NULL, 0) != 0;
    if (due <= 0)
        due = timestamp_ms + delay_ms;
    /* A record is never held longer than its tier's delay from now: a bad
     * header or a producer's fast clock would pause the partition for as
     * long as it says. */
    if (due > now + delay_ms)
        due = now + delay_ms;
    return due;
}

/* ---- offsets and outputs ---- */

static void store_offset(app *a, const char *topic, int32_t partition, int64_t next)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t err;

    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = next;
    err = rd_kafka_offsets_store(a->consumer, l);
    /* ERR__STATE: revoked meanwhile; the new owner redelivers, which the
     * idempotent handler tolerates. */
    if (err && err != RD_KAFKA_RESP_ERR__STATE)
        log_warn(LOG_CTX_NONE, "store offset %s[%" PRId32 "]@%" PRId64 ": %s", topic, partition,
                 next, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

static void work_release(work *w)
{
    app *a = w->app;

    if (--w->refs > 0)
        return;
    if (w->failed) {
        a->fatal = 1;
    } else if (!w->abandoned && w->assign_gen == a->assign_gen) {
        /* An output acknowledged only after its partition was revoked (and
         * maybe assigned again) must not mark a newer delivery of the same
         * offset done. */
        const char *topic = rd_kafka_topic_name(w->msg->rkt);
        int64_t next = offsets_done(a->offsets, topic, w->msg->partition, w->msg->offset);
        if (next >= 0)
            store_offset(a, topic, w->msg->partition, next);
    }
    /* Fields the result borrowed from the event are not its to free. */
    w->result.event_id = w->result.workspace_id = NULL;
    prov_result_fini(&w->result);
    ws_event_fini(&w->ev);
    rd_kafka_message_destroy(w->msg);
    free(w);
}

static void output_too_large(work *w, const rd_kafka_message_t *m);

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    work *w = m->_private;

    (void)rk;
    (void)opaque;
    if (kafka_err_is_size(m->err)) {
        /* A broker limit below ours: sending it again can never work, and
         * stopping would bring the same record back after the restart. */
        output_too_large(w, m);
    } else if (m->err) {
        log_error(LOG_CTX_NONE, "delivery to %s failed: %s; the input offset stays uncommitted",
                  rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
        w->failed = 1;
    }
    work_release(w);
}

/* Produces one output of w to partition (RD_KAFKA_PARTITION_UA: by key).
 * Takes ownership of hdrs on every path.  Returns 0 when queued, 1 when the
 * record is larger than the producer's message.max.bytes (nothing else
 * set), or -1 with w failed. */
static int produce(work *w, const char *topic, int32_t partition, const void *key, size_t key_len,
                   const void *value, size_t len, rd_kafka_headers_t *hdrs)
{
    app *a = w->app;
    rd_kafka_resp_err_t err;

    w->refs++;
    while ((err = rd_kafka_producev(
                a->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                RD_KAFKA_V_OPAQUE(w), RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(a->producer, 100); /* let deliveries drain the queue */
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
    app *a = w->app;
    const prov_result *r = &w->result;
    rd_kafka_headers_t *hdrs;
    void *buf = NULL;
    size_t len = 0;
    wf_err err;

    wf_err_init(&err);
    if (codec_encode_result(a->codec, r, a->results_format, &buf, &len, &err) != 0) {
        log_error(LOG_CTX_NONE, "encode result of event %s: %s", r->event_id, err.msg);
        w->failed = 1;
        return;
    }
    hdrs = rd_kafka_headers_new(2);
    rd_kafka_header_add(hdrs, "content-type", -1,
                        a->results_format == CODEC_JSON ? "application/json"
                                                        : "application/vnd.confluent.avro",
                        -1);
    rd_kafka_header_add(hdrs, "x-event-id", -1, r->event_id, -1);
    /* Results are keyed by workspace: not records about the event's
     * partition, so the default partitioner places them. */
    if (produce(w, a->cfg->kafka.topic_results, RD_KAFKA_PARTITION_UA, r->workspace_id,
                strlen(r->workspace_id), buf, len, hdrs) == 1) {
        log_error(LOG_CTX_NONE, "result of event %s: %zu bytes, too large to produce", r->event_id,
                  len);
        w->failed = 1;
    }
    free(buf);
}

/* Sends the original record to topic, on the partition it was read from
 * (the contract's co-partitioning, whatever partitioner the platform used),
 * with the contract's headers: the first x-original-* values are kept, the
 * error headers describe the last failure.  A stub has an empty value and
 * says why in x-error-code and x-error-message.  Returns produce()'s
 * status. */
static int forward_as(work *w, const char *topic, int64_t due_ms, int stub)
{
    app *a = w->app;
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
        snprintf(buf, sizeof(buf), "%" PRId64, now_ms());
        kafka_header_set(h, "x-first-failure-ms", buf);
    }
    kafka_header_set(h, "x-consumer-group", a->cfg->kafka.group_id);
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
        metrics_dead_lettered(w->app->metrics, wf_class_reported(w->err.cls));
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

/* ---- running an event (worker threads) ---- */

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

/* Runs one attempt of the handler.  A transient failure with in-place
 * attempts left asks the dispatcher to run the job again after a backoff;
 * the worker meanwhile serves other workspaces. */
static void run_work(job *j, void *worker_ud)
{
    work *w = (work *)j;
    app *a = w->app;
    provisioner *p = worker_ud;
    log_ctx ctx = {w->ev.ws.workspace_id, w->ev.event_id, 0, -1};
    int attempt = ++w->attempts;

    if (attempt > 1 && (a->abandon || *a->stop)) {
        w->abandoned = 1; /* stop or revoke while backing off */
        return;
    }
    ctx.attempt = w->prior_attempts + attempt;
    wf_err_init(&w->err);
    prov_result_fini(&w->result);
    memset(&w->result, 0, sizeof(w->result));
    if (provision_event(p, &w->ev, &w->result, &w->err) == 0)
        return;
    /* A server asking for more patience than an in-place wait may take
     * (Retry-After beyond RETRY_AFTER_MAX_MS) is answered by a retry tier. */
    if (w->err.cls != WF_TRANSIENT || attempt >= a->cfg->retry.in_place_attempts ||
        w->err.retry_after_ms > RETRY_AFTER_MAX_MS)
        return;
    j->retry_in_ms = backoff_ms(attempt, w->err.retry_after_ms);
    log_warn(&ctx, "%s failed (%s): %s; retrying in %ld ms", ws_event_type_name(w->ev.type),
             w->err.code, w->err.msg, j->retry_in_ms);
}

/* Every API answer feeds the metrics and the readiness state. */
static void observe_api(void *ud, const char *api, long status)
{
    app *a = ud;
    metrics_api(a->metrics, api, status);
    health_api_result(a->health, api, status);
}

static void *worker_init(void *ud, wf_err *err)
{
    app *a = ud;
    return provisioner_new(a->cfg, a->flyte_auth, a->applied, observe_api, a, err);
}

static void probe_apis(void *ud, int *flyte_ok, int *k8s_ok)
{
    app *a = ud;
    long f, k;

    provisioner_probe(a->prober, &f, &k);
    *flyte_ok = f > 0 && f < 500 && f != 401;
    *k8s_ok = k > 0 && k < 500 && k != 401;
}

/* A job is ready to collect: end the consumer thread's poll now. */
static void wake_consumer(void *ud)
{
    app *a = ud;

    if (a->wake)
        rd_kafka_queue_yield(a->wake);
}

static void worker_fini(void *worker_ud)
{
    provisioner_free(worker_ud);
}

/* ---- outcomes (consumer thread) ---- */

static void log_outcome(const work *w)
{
    const prov_result *r = &w->result;
    log_ctx ctx = {w->ev.ws.workspace_id, w->ev.event_id, r->attempts, r->duration_ms};

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
        counted(w, forward_as(w, w->app->dlt_topic, 0, 1));
    else
        forward(w, w->app->dlt_topic, 0);
}

/* Produces w's result (status and error already in w->result). */
static void conclude(app *a, work *w)
{
    prov_result *r = &w->result;
    char result_id[37];

    loop_result_id(w->ev.event_id, result_id);
    free(r->result_id);
    r->result_id = strdup(result_id);
    r->event_id = w->ev.event_id;
    r->event_type = w->ev.type;
    r->workspace_id = w->ev.ws.workspace_id;
    r->workspace_version = w->ev.workspace_version;
    r->attempts = w->prior_attempts + w->attempts;
    r->completed_at = now_ms();
    r->duration_ms = r->completed_at - w->started_ms;
    log_outcome(w);
    metrics_event(a->metrics, r->event_type, r->status, (double)r->duration_ms / 1000.0);
    produce_result(w);
}

/* Gives w its outcome: a result (and a dead letter when it failed), or a
 * forward to the next retry tier for a transient failure with tiers left. */
static void finish(app *a, work *w)
{
    int total = w->prior_attempts + w->attempts;

    if (w->j.cancelled || w->abandoned) {
        w->abandoned = 1; /* the partition's next owner redelivers it */
        work_release(w);
        return;
    }
    if (wf_err_is_set(&w->err)) {
        size_t next = (size_t)(w->tier + 1);
        /* Honour a long Retry-After with the first tier that waits long
         * enough.  Each tier keeps one fixed delay, so its records stay in
         * due order and only a partition's head needs checking. */
        while (w->err.retry_after_ms > 0 && next + 1 < a->cfg->retry.n_tiers &&
               a->cfg->retry.tiers_ms[next] < w->err.retry_after_ms)
            next++;
        if (w->err.cls == WF_TRANSIENT && next < a->cfg->retry.n_tiers) {
            int64_t due = now_ms() + a->cfg->retry.tiers_ms[next];
            log_ctx ctx = {w->ev.ws.workspace_id, w->ev.event_id, total, -1};
            log_warn(&ctx, "%s still failing (%s): forwarding to %s",
                     ws_event_type_name(w->ev.type), w->err.code, a->tier_topics[next]);
            if (forward(w, a->tier_topics[next], due) != 1) {
                char tier[32];
                wf_duration_format(a->cfg->retry.tiers_ms[next], tier, sizeof(tier));
                metrics_retry_forwarded(a->metrics, tier);
                work_release(w);
                return;
            }
            give_up_too_large(w, a->tier_topics[next]);
            fail(w, 1);
        } else {
            fail(w, 0);
        }
    }
    conclude(a, w);
    work_release(w);
}

/* A broker refused an output of w as too large (its limit is below ours).
 * A dead letter is sent again as a stub; a retry-tier forward ends the
 * event FAILED with a stub dead letter instead.  Runs in a delivery
 * report, before the output's reference on w is released. */
static void output_too_large(work *w, const rd_kafka_message_t *m)
{
    app *a = w->app;
    const char *topic = rd_kafka_topic_name(m->rkt);

    log_error(LOG_CTX_NONE, "%s[%" PRId32 "]@%" PRId64 ": %s refused it: %s",
              rd_kafka_topic_name(w->msg->rkt), w->msg->partition, w->msg->offset, topic,
              rd_kafka_err2str(m->err));
    if (strcmp(topic, a->cfg->kafka.topic_results) == 0) {
        w->failed = 1; /* no smaller form of a result exists */
    } else if (strcmp(topic, a->dlt_topic) == 0) {
        if (m->len > 0 && forward_as(w, a->dlt_topic, 0, 1) == -1)
            w->failed = 1;
    } else {
        give_up_too_large(w, topic);
        fail(w, 1);
        conclude(a, w);
    }
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

static void collect_finished(app *a, int timeout_ms)
{
    job *j;

    while ((j = dispatcher_collect(a->dispatcher, timeout_ms)) != NULL) {
        if (j->superseded)
            supersede((work *)j);
        finish(a, (work *)j);
        timeout_ms = 0;
    }
}

/* ---- pausing: retry tiers' due times and backpressure ---- */

static paused *find_paused(app *a, const char *topic, int32_t partition, int create)
{
    paused *p;

    for (p = a->paused; p; p = p->next)
        if (p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    if (!create || (p = calloc(1, sizeof(*p))) == NULL || (p->topic = strdup(topic)) == NULL) {
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->next = a->paused;
    a->paused = p;
    return p;
}

static void set_paused(app *a, const char *topic, int32_t partition, int pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);

    rd_kafka_topic_partition_list_add(l, topic, partition);
    if (pause)
        rd_kafka_pause_partitions(a->consumer, l);
    else
        rd_kafka_resume_partitions(a->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* A seek (defer_if_not_due) makes librdkafka 2.0.2 forget the offset
 * stored for that partition; store what is done again on resume so that
 * commits keep up. */
static void restore_offset(app *a, const char *topic, int32_t partition)
{
    int64_t next = offsets_committable(a->offsets, topic, partition);

    if (next >= 0)
        store_offset(a, topic, partition, next);
}

/* Returns 0, or -1 when out of memory (the partition then goes on). */
static int add_pause(app *a, const char *topic, int32_t partition, int reason, int64_t until)
{
    paused *p = find_paused(a, topic, partition, 1);

    if (p == NULL)
        return -1;
    if (p->reasons == 0)
        set_paused(a, topic, partition, 1);
    p->reasons |= reason;
    if (reason == PAUSE_DUE)
        p->resume_at_ms = until;
    return 0;
}

/* Drops reason from *pp and, when no reason is left, resumes the partition
 * and unlinks *pp.  Only paused partitions are ever resumed: resuming an
 * active one can rewind it in librdkafka 2.0.2.  Returns 1 when unlinked. */
static int drop_reason(app *a, paused **pp, int reason)
{
    paused *p = *pp;

    p->reasons &= ~reason;
    if (p->reasons != 0)
        return 0;
    set_paused(a, p->topic, p->partition, 0);
    restore_offset(a, p->topic, p->partition);
    *pp = p->next;
    free(p->topic);
    free(p);
    return 1;
}

/* Drops reason from every partition paused for it (only_due_now: whose
 * due time has come) and resumes those left without a reason. */
static void remove_pause(app *a, int reason, int only_due_now)
{
    int64_t now = now_ms();

    for (paused **pp = &a->paused; *pp;) {
        paused *p = *pp;
        if ((p->reasons & reason) && (!only_due_now || p->resume_at_ms <= now) &&
            drop_reason(a, pp, reason))
            continue;
        pp = &p->next;
    }
}

static void forget_pauses(app *a)
{
    while (a->paused) {
        paused *p = a->paused;
        a->paused = p->next;
        free(p->topic);
        free(p);
    }
}

/* One partition's window: a partition with max_inflight records in memory
 * stops fetching until half of them are done.  Only that partition: the
 * others keep their latency (contract §3: no workspace's backlog holds up
 * the others).  a->backpressure counts the partitions held. */
static void window_check(void *ud, const char *topic, int32_t partition, size_t pending)
{
    app *a = ud;
    paused **pp = &a->paused;

    while (*pp && ((*pp)->partition != partition || strcmp((*pp)->topic, topic) != 0))
        pp = &(*pp)->next;
    if (*pp == NULL || !((*pp)->reasons & PAUSE_BACKPRESSURE)) {
        if (pending < a->max_inflight || add_pause(a, topic, partition, PAUSE_BACKPRESSURE, 0) != 0)
            return;
        a->backpressure++;
        log_info(LOG_CTX_NONE,
                 "%s[%" PRId32 "]: %zu records in flight; fetching paused down to %zu", topic,
                 partition, pending, a->max_inflight / 2);
    } else if (pending <= a->max_inflight / 2) {
        drop_reason(a, pp, PAUSE_BACKPRESSURE);
        a->backpressure--;
        log_info(LOG_CTX_NONE, "%s[%" PRId32 "]: %zu records in flight; fetching again", topic,
                 partition, pending);
    }
}

static void apply_backpressure(app *a)
{
    offsets_each_pending(a->offsets, window_check, a);
}

/* ---- records in ---- */

static int tier_of(const app *a, const char *topic)
{
    for (size_t i = 0; i < a->cfg->retry.n_tiers; i++)
        if (strcmp(a->tier_topics[i], topic) == 0)
            return (int)i;
    return -1;
}

/* The due time of m: the one it got when first read, so that a due time
 * clamped to "now + delay" does not move away on every re-read of the
 * same record.  due is what m says now. */
static int64_t first_due(app *a, const rd_kafka_message_t *m, int64_t due)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    deferral *d;

    for (d = a->deferrals; d; d = d->next)
        if (d->partition == m->partition && strcmp(d->topic, topic) == 0)
            break;
    if (d == NULL) {
        if ((d = calloc(1, sizeof(*d))) == NULL || (d->topic = strdup(topic)) == NULL) {
            free(d);
            return due; /* out of memory: the clamp alone still bounds it */
        }
        d->partition = m->partition;
        d->offset = -1;
        d->next = a->deferrals;
        a->deferrals = d;
    }
    if (d->offset != m->offset) {
        d->offset = m->offset;
        d->due_ms = due;
    }
    return d->due_ms < due ? d->due_ms : due;
}

/* A retry-tier record is only handled once due; until then its partition
 * is rewound to it and paused.  With one fixed delay per tier, records are
 * in due order, so only the head of each partition needs checking. */
static int defer_if_not_due(app *a, const rd_kafka_message_t *m, int tier)
{
    rd_kafka_headers_t *h = NULL;
    rd_kafka_timestamp_type_t tstype;
    char buf[32];
    const char *header = NULL;
    int bad = 0;
    int64_t due;

    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        kafka_header_get(h, "x-retry-due-ms", buf, sizeof(buf)) == 0)
        header = buf;
    due = first_due(a, m,
                    loop_retry_due(header, rd_kafka_message_timestamp(m, &tstype),
                                   a->cfg->retry.tiers_ms[tier], now_ms(), &bad));
    if (bad)
        log_warn(LOG_CTX_NONE,
                 "%s[%" PRId32 "]@%" PRId64 ": x-retry-due-ms \"%s\" is not a time in epoch ms; "
                 "due by its timestamp instead",
                 rd_kafka_topic_name(m->rkt), m->partition, m->offset, buf);
    if (due <= now_ms())
        return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset;
    /* Timeout 0: asynchronous.  A finite timeout waits 1000x too short in
     * librdkafka 2.0.2 (#4230).  The seek's version barrier drops the
     * records prefetched behind m at once. */
    rd_kafka_error_t *err = rd_kafka_seek_partitions(a->consumer, l, 0);
    if (err == NULL && l->elems[0].err && l->elems[0].err != RD_KAFKA_RESP_ERR__IN_PROGRESS)
        err = rd_kafka_error_new(l->elems[0].err, "%s", rd_kafka_err2str(l->elems[0].err));
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        /* Pausing without the rewind would resume after m and skip it:
         * handle it early instead. */
        log_warn(LOG_CTX_NONE,
                 "seek %s[%" PRId32 "]@%" PRId64 ": %s; handling it before its due time",
                 rd_kafka_topic_name(m->rkt), m->partition, m->offset, rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        return 0;
    }
    add_pause(a, rd_kafka_topic_name(m->rkt), m->partition, PAUSE_DUE, due);
    return 1;
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

static void handle_message(app *a, rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    int tier = tier_of(a, topic);
    rd_kafka_headers_t *hdrs = NULL;
    char content_type[128];
    const char *ct = NULL;
    work *w;

    if (tier >= 0 && defer_if_not_due(a, m, tier)) {
        rd_kafka_message_destroy(m);
        return;
    }
    if ((w = calloc(1, sizeof(*w))) == NULL ||
        offsets_begin(a->offsets, topic, m->partition, m->offset) != 0) {
        log_error(LOG_CTX_NONE, "out of memory tracking %s[%" PRId32 "]@%" PRId64, topic,
                  m->partition, m->offset);
        free(w);
        rd_kafka_message_destroy(m);
        a->fatal = 1;
        return;
    }
    w->app = a;
    w->msg = m;
    w->refs = 1;
    w->assign_gen = a->assign_gen;
    w->tier = tier;
    w->prior_attempts = header_int(m, "x-attempts");
    w->started_ms = now_ms();
    wf_err_init(&w->err);
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        kafka_header_get(hdrs, "content-type", content_type, sizeof(content_type)) == 0)
        ct = content_type;
    if (codec_decode_event(a->codec, m->payload, m->len, ct, &w->ev, &w->err) != 0) {
        if (w->err.cls == WF_TRANSIENT) {
            /* The schema registry is unreachable: not the record's fault. */
            log_error(LOG_CTX_NONE, "%s[%" PRId32 "]@%" PRId64 ": %s; stopping", topic,
                      m->partition, m->offset, w->err.msg);
            w->abandoned = 1;
            a->fatal = 1;
        } else if (codec_decode_event_ids(a->codec, m->payload, m->len, ct, &w->ev) == 0) {
            /* Partly readable: whoever waits for its result gets a FAILED
             * one next to the dead letter (CONTRACT.md §3). */
            if (m->key_len != strlen(w->ev.ws.workspace_id) ||
                memcmp(m->key, w->ev.ws.workspace_id, m->key_len) != 0)
                wf_err_prefix(&w->err, "record key does not match workspace.workspace_id; event");
            w->attempts = 1;
            finish(a, w);
            return;
        } else {
            /* Poison: never retried, straight to the dead-letter topic. */
            log_error(LOG_CTX_NONE, "%s[%" PRId32 "]@%" PRId64 " undecodable (%s): %s", topic,
                      m->partition, m->offset, w->err.code, w->err.msg);
            w->attempts = 1;
            forward(w, a->dlt_topic, 0);
        }
        work_release(w);
        return;
    }
    if (m->key_len != strlen(w->ev.ws.workspace_id) ||
        memcmp(m->key, w->ev.ws.workspace_id, m->key_len) != 0) {
        wf_err_set(&w->err, WF_VALIDATION, "event.key",
                   "record key does not match workspace.workspace_id \"%.80s\"; per-workspace "
                   "ordering needs the workspace id as key",
                   w->ev.ws.workspace_id);
        w->attempts = 1;
        finish(a, w);
        return;
    }
    w->j.key = w->ev.ws.workspace_id;
    w->j.topic = (char *)topic;
    w->j.partition = m->partition;
    w->j.version = w->ev.workspace_version;
    dispatcher_submit(a->dispatcher, &w->j);
}

/* ---- group membership ---- */

/* Lets running work of all partitions end (retry waits give up), hands
 * back what has not started, delivers the outcomes and commits. */
static void settle(app *a, rd_kafka_topic_partition_list_t *parts)
{
    a->abandon = 1;
    /* Queued work is handed back at once: running it all first could take
     * far longer than a stop may (SIGTERM: exit within seconds). */
    if (parts == NULL)
        dispatcher_cancel_partition(a->dispatcher, NULL, 0);
    for (int i = 0; parts && i < parts->cnt; i++)
        dispatcher_cancel_partition(a->dispatcher, parts->elems[i].topic,
                                    parts->elems[i].partition);
    while (dispatcher_inflight(a->dispatcher) > 0)
        collect_finished(a, 100);
    rd_kafka_flush(a->producer, FLUSH_MS);
    a->abandon = 0;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    app *a = opaque;

    metrics_rebalance(a->metrics);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info(LOG_CTX_NONE, "assigned %d partition(s)", parts->cnt);
        rd_kafka_assign(rk, parts);
        health_set_joined(a->health, 1);
        return;
    }
    health_set_joined(a->health, 0);
    log_info(LOG_CTX_NONE, "revoking %d partition(s): settling in-flight work and committing",
             parts->cnt);
    /* The range assignor revokes everything at once, so settle all work. */
    settle(a, parts);
    if (!rd_kafka_assignment_lost(rk)) {
        rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 0);
        if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
            log_warn(LOG_CTX_NONE, "commit on revoke: %s", rd_kafka_err2str(cerr));
    }
    for (int i = 0; i < parts->cnt; i++)
        offsets_drop(a->offsets, parts->elems[i].topic, parts->elems[i].partition);
    a->assign_gen++;
    /* librdkafka keeps an application pause on a partition across
     * unassign/assign: a partition paused now would stay paused when it is
     * assigned again.  Only paused ones are resumed (#4636). */
    remove_pause(a, PAUSE_DUE | PAUSE_BACKPRESSURE, 0);
    a->backpressure = 0;
    metrics_clear_lag(a->metrics);
    rd_kafka_assign(rk, NULL);
}

/* ---- set-up ---- */

/* librdkafka statistics: the consumer lag of every assigned partition. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    app *a = opaque;
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *topics = json_object_get(root, "topics"), *t, *parts, *p;
    const char *topic, *pid;

    (void)rk;
    json_object_foreach(topics, topic, t)
    {
        parts = json_object_get(t, "partitions");
        json_object_foreach(parts, pid, p)
        {
            json_t *lag = json_object_get(p, "consumer_lag");
            if (strcmp(pid, "-1") == 0 || !json_is_integer(lag) || json_integer_value(lag) < 0)
                continue;
            metrics_set_lag(a->metrics, topic, (int32_t)atoi(pid), json_integer_value(lag));
        }
    }
    json_decref(root);
    return 0; /* librdkafka frees json */
}

static rd_kafka_t *make_consumer(app *a, wf_err *err)
{
    kafka_group_opts o = {
        .on_rebalance = on_rebalance, .on_stats = on_stats, .stats_interval_ms = 5000, .opaque = a};

    return kafka_group_consumer_new(a->cfg, &o, err);
}

/* Each output's work travels as the record's own opaque, so the client
 * needs none. */
static rd_kafka_t *make_producer(app *a, wf_err *err)
{
    kafka_producer_opts o = {.on_delivery = on_delivery, .linger_ms = 5};

    return kafka_producer_new(a->cfg, &o, err);
}

/* Refuses to start unless every retry tier and the dead-letter topic have
 * as many partitions as the events topic.  Waits for metadata while the
 * brokers are unreachable. */
static int check_topics(app *a, wf_err *err)
{
    size_t n = a->cfg->retry.n_tiers;
    const char **others = calloc(n + 1, sizeof(*others));
    int rc;

    if (others == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        others[i] = a->tier_topics[i];
    others[n] = a->dlt_topic;
    for (;;) {
        wf_err_init(err);
        rc = kafka_check_copartitioned(a->consumer, a->cfg->kafka.topic_events, others, n + 1,
                                       10000, err);
        if (rc == 0 || err->cls != WF_TRANSIENT || *a->stop)
            break;
        log_warn(LOG_CTX_NONE, "checking topics: %s; trying again", err->msg);
    }
    free(others);
    return rc;
}

static int subscribe(app *a, wf_err *err)
{
    rd_kafka_topic_partition_list_t *topics;
    rd_kafka_resp_err_t rerr;

    if (check_topics(a, err) != 0)
        return -1;
    topics = rd_kafka_topic_partition_list_new(4);

    rd_kafka_topic_partition_list_add(topics, a->cfg->kafka.topic_events, RD_KAFKA_PARTITION_UA);
    for (size_t i = 0; i < a->cfg->retry.n_tiers; i++)
        rd_kafka_topic_partition_list_add(topics, a->tier_topics[i], RD_KAFKA_PARTITION_UA);
    rerr = rd_kafka_subscribe(a->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (rerr) {
        wf_err_set(err, WF_CONFIG, "kafka.subscribe", "subscribe to %s: %s",
                   a->cfg->kafka.topic_events, rd_kafka_err2str(rerr));
        return -1;
    }
    return 0;
}

static int app_init(app *a, const wf_config *cfg, volatile sig_atomic_t *stop, wf_err *err)
{
    /* coalesce: a workspace's waiting events shrink to its newest one
     * (contract §3), so one workspace's backlog never fills a window. */
    dispatch_opts dopts = {.threads = cfg->processing.concurrency,
                           .run = run_work,
                           .worker_init = worker_init,
                           .worker_fini = worker_fini,
                           .ud = a,
                           .notify = wake_consumer,
                           .coalesce = 1};

    memset(a, 0, sizeof(*a));
    a->cfg = cfg;
    a->stop = stop;
    /* Each partition's window (apply_backpressure): records wait in it for
     * a free worker or for their workspace's running event.  librdkafka
     * hands records over a partition batch at a time, and a batch may hold
     * few workspaces: a window of a few records per worker would leave
     * workers idle behind busy keys.  A wide window costs only memory
     * (about 2 KiB a record, at most this many per assigned partition) and
     * is handed back at once on a revoke or a stop. */
    a->max_inflight = (size_t)cfg->processing.concurrency * 32;
    if (a->max_inflight < MIN_INFLIGHT_WINDOW)
        a->max_inflight = MIN_INFLIGHT_WINDOW;
    wf_config_dlt_topic(cfg, a->dlt_topic, sizeof(a->dlt_topic));
    a->tier_topics = calloc(cfg->retry.n_tiers ? cfg->retry.n_tiers : 1, TOPIC_MAX);
    if (a->tier_topics == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->retry.n_tiers; i++)
        wf_config_retry_topic(cfg, i, a->tier_topics[i], TOPIC_MAX);
    if (codec_format_parse(cfg->results.format, &a->results_format) != 0) {
        wf_err_set(err, WF_CONFIG, "config.results", "results.format: unknown format \"%s\"",
                   cfg->results.format);
        return -1;
    }
    if (cfg->flyte.auth_type == WF_AUTH_CLIENT_CREDENTIALS &&
        (a->flyte_auth = oauth_new(cfg, cfg->flyte.ca_file[0] ? cfg->flyte.ca_file : NULL, err)) ==
            NULL)
        return -1;
    /* One workspace's events may run on any worker: they share one cache.
     * The prober only probes, so it gets none. */
    if ((a->applied = applied_new(0)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "applied cache: out of memory");
        return -1;
    }
    if ((a->metrics = metrics_new()) == NULL ||
        (a->prober = provisioner_new(cfg, a->flyte_auth, NULL, NULL, NULL, err)) == NULL ||
        (a->health = health_start(cfg->observability.listen, a->metrics, probe_apis, a, err)) ==
            NULL)
        return -1;
    log_info(LOG_CTX_NONE, "metrics and health on %s (port %d)", cfg->observability.listen,
             health_port(a->health));
    if ((a->codec = kafka_codec_new(cfg, err)) == NULL || (a->offsets = offsets_new()) == NULL ||
        (a->dispatcher = dispatcher_new(&dopts, err)) == NULL ||
        (a->producer = make_producer(a, err)) == NULL ||
        (a->consumer = make_consumer(a, err)) == NULL)
        return -1;
    a->wake = rd_kafka_queue_get_consumer(a->consumer);
    return subscribe(a, err);
}

static void app_fini(app *a)
{
    if (a->consumer) {
        /* Workers are idle by now (drained), so nobody yields any more. */
        rd_kafka_queue_t *q = a->wake;
        a->wake = NULL;
        if (q)
            rd_kafka_queue_destroy(q);
        rd_kafka_consumer_close(a->consumer);
        rd_kafka_destroy(a->consumer);
    }
    if (a->producer) {
        rd_kafka_flush(a->producer, FLUSH_MS);
        rd_kafka_destroy(a->producer);
    }
    dispatcher_free(a->dispatcher);
    health_stop(a->health);
    provisioner_free(a->prober);
    oauth_free(a->flyte_auth);
    applied_free(a->applied); /* after the workers' provisioners (dispatcher_free) */
    metrics_free(a->metrics);
    forget_pauses(a);
    while (a->deferrals) {
        deferral *d = a->deferrals;
        a->deferrals = d->next;
        free(d->topic);
        free(d);
    }
    offsets_free(a->offsets);
    codec_free(a->codec);
    free(a->tier_topics);
}

/* Finishes or hands back in-flight work, lets outputs land, commits. */
static int drain(app *a, wf_err *err)
{
    rd_kafka_resp_err_t rerr;

    settle(a, NULL);
    if (rd_kafka_outq_len(a->producer) > 0)
        log_warn(LOG_CTX_NONE,
                 "%d output(s) unacknowledged at shutdown; their events stay "
                 "uncommitted",
                 rd_kafka_outq_len(a->producer));
    rerr = rd_kafka_commit(a->consumer, NULL, 0);
    if (rerr && rerr != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        wf_err_set(err, WF_TRANSIENT, "kafka.commit", "final commit: %s", rd_kafka_err2str(rerr));
        return -1;
    }
    return 0;
}

int loop_run(const wf_config *cfg, volatile sig_atomic_t *stop, wf_err *err)
{
    app a;
    int rc = -1;
    char fatal[256];

    srandom((unsigned)(time(NULL) ^ getpid()));
    if (app_init(&a, cfg, stop, err) != 0)
        goto out;
    log_info(LOG_CTX_NONE,
             "consuming %s (+%zu retry tier(s)) as group %s with concurrency %d; results to %s",
             cfg->kafka.topic_events, cfg->retry.n_tiers, cfg->kafka.group_id,
             cfg->processing.concurrency, cfg->kafka.topic_results);
    while (!*stop && !a.fatal) {
        /* Finished jobs cut the poll short (wake_consumer), so a long
         * timeout costs no latency. */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(a.consumer, 100);
        if (m != NULL) {
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                handle_message(&a, m);
                m = NULL;
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                log_warn(LOG_CTX_NONE, "consumer: %s", rd_kafka_message_errstr(m));
            }
            if (m)
                rd_kafka_message_destroy(m);
        }
        collect_finished(&a, 0);
        rd_kafka_poll(a.producer, 0);
        health_beat(a.health);
        metrics_set_inflight(a.metrics, (long)dispatcher_inflight(a.dispatcher));
        remove_pause(&a, PAUSE_DUE, 1);
        apply_backpressure(&a);
        if (rd_kafka_fatal_error(a.consumer, fatal, sizeof(fatal))) {
            wf_err_set(err, WF_INTERNAL, "kafka.fatal", "consumer: %s", fatal);
            break;
        }
    }
    log_info(LOG_CTX_NONE, "stopping: settling in-flight work and committing offsets");
    if (drain(&a, err) != 0 || wf_err_is_set(err))
        goto out;
    if (a.fatal) {
        wf_err_set(err, WF_TRANSIENT, "kafka.delivery",
                   "an output could not be delivered; uncommitted events will be redelivered");
        goto out;
    }
    rc = 0;
out:
    app_fini(&a);
    return rc;
}
