/* loop: the consumer group loop's polling, rebalancing, draining and
 * set-up.  Records read go to the dispatcher's workers (run_work); what
 * becomes of each is outcome.c's job, and which partitions fetch is
 * pause.c's. */
#include "loop.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "applied.h"
#include "attempt.h"
#include "codec.h"
#include "dispatch.h"
#include "health.h"
#include "intent.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "offsets.h"
#include "outcome.h"
#include "pause.h"
#include "provision.h"
#include "reconcile.h"
#include "restore.h"
#include "stats.h"
#include "topics.h"

#define FLUSH_MS            10000
#define MIN_INFLIGHT_WINDOW 1024
#define RESTORE_TIMEOUT_MS  60000

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
    outcome *oc;
    pauses *pauses;
    metrics *metrics;
    health *health;
    provisioner *prober; /* the health endpoint's own connections */
    oauth *flyte_auth;   /* FlyteAdmin tokens, shared by every provisioner; or NULL */
    applied *applied;    /* state records, shared by every worker's provisioner */
    rd_kafka_t *reader;  /* reads the state topic on assignment */
    intent *intent;      /* marks records incomplete before writes, from the workers */
    reconciler *rec;     /* drift repair: watch hand-offs and resync passes */
    /* One pacer per API, shared by every worker's provisioner; each
     * execution cluster's API server is an API of its own. */
    provisioner_pacers pace;
    pacer **cluster_pace; /* per kubernetes.clusters entry */
    size_t max_inflight;
    int fatal; /* a record could not be taken in: stop without committing past it */
} app;

/* Stores next for the partition's commit (outcome and pause callback). */
static void store_offset(void *ud, const char *topic, int32_t partition, int64_t next)
{
    app *a = ud;
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

/* The producer's delivery reports: every output belongs to an outcome. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    outcome_delivered(m);
}

/* ---- worker threads ---- */

/* A stop or revoke is under way: retries and paced waits give up. */
static int giving_up(void *ud)
{
    app *a = ud;
    return a->abandon || *a->stop;
}

static void run_work(job *j, void *worker_ud)
{
    app *a = j->data;

    if (reconciler_is_job(j)) {
        reconciler_run(j, worker_ud);
        return;
    }
    attempt_run((work *)j, worker_ud, giving_up, a, a->cfg->retry.in_place_attempts);
}

/* Every API answer feeds the metrics and the readiness state. */
static void observe_api(void *ud, const char *api, long status)
{
    app *a = ud;
    metrics_api(a->metrics, api, status);
    health_api_result(a->health, api, status);
}

static void on_throttled(void *ud, const char *api, long pause_ms)
{
    app *a = ud;
    const char *at = strchr(api, '@');
    char name[32];

    metrics_api_throttled(a->metrics, api);
    log_warn(LOG_CTX_NONE, "%s%s%s%s throttled us: pausing its requests for %ld ms",
             metrics_api_name(api, name, sizeof(name)), at ? " (" : "", at ? at + 1 : "",
             at ? ")" : "", pause_ms);
}

static int pacers_new(app *a, wf_err *err)
{
    /* A request waiting for its API's pacer gives up on a stop or revoke,
     * as retries do. */
    pacer_opts o = {
        .cancelled = giving_up, .cancel_ud = a, .on_throttled = on_throttled, .throttled_ud = a};
    size_t n_clusters = a->cfg->kubernetes.n_clusters;
    char api[128];

    o.api = "flyte";
    o.qps = a->cfg->flyte.qps;
    o.burst = a->cfg->flyte.burst;
    if ((a->pace.flyte = pacer_new(&o)) != NULL) {
        /* With clusters each API server's pauses count apart (metrics_api). */
        o.api = n_clusters ? "k8s@" METRICS_CONTROL_PLANE : "k8s";
        o.qps = a->cfg->kubernetes.qps;
        o.burst = a->cfg->kubernetes.burst;
        a->pace.k8s = pacer_new(&o);
    }
    if (a->pace.k8s == NULL)
        goto oom;
    if (a->cfg->kubernetes.n_clusters == 0)
        return 0;
    if ((a->cluster_pace = calloc(a->cfg->kubernetes.n_clusters, sizeof(pacer *))) == NULL)
        goto oom;
    a->pace.clusters = a->cluster_pace;
    for (size_t i = 0; i < n_clusters; i++) {
        snprintf(api, sizeof(api), "k8s@%s", a->cfg->kubernetes.clusters[i].name);
        o.api = api; /* copied */
        o.qps = a->cfg->kubernetes.clusters[i].qps;
        o.burst = a->cfg->kubernetes.clusters[i].burst;
        if ((a->cluster_pace[i] = pacer_new(&o)) == NULL)
            goto oom;
    }
    return 0;
oom:
    wf_err_set(err, WF_INTERNAL, "oom", "pacers: out of memory");
    return -1;
}

static void *worker_init(void *ud, wf_err *err)
{
    app *a = ud;
    provisioner *p =
        provisioner_new(a->cfg, a->flyte_auth, a->applied, &a->pace, observe_api, a, err);

    if (p) {
        provisioner_set_intent(p, intent_write, a->intent);
        provisioner_set_retire(p, intent_retire, a->intent);
    }
    return p;
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

/* ---- records in ---- */

static void collect_finished(app *a, int timeout_ms)
{
    job *j;

    while ((j = dispatcher_collect(a->dispatcher, timeout_ms)) != NULL) {
        /* A repair has no record: no result, no offset. */
        if (reconciler_is_job(j))
            reconciler_collected(a->rec, j);
        else
            outcome_finish((work *)j);
        timeout_ms = 0;
    }
}

static void handle_message(app *a, rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    int tier = outcome_tier_of(a->oc, topic), rc;
    work *w;

    if (tier >= 0 && pause_defer_if_not_due(a->pauses, m, a->cfg->retry.tiers_ms[tier])) {
        rd_kafka_message_destroy(m);
        return;
    }
    if ((w = outcome_begin(a->oc, m, tier)) == NULL) {
        log_error(LOG_CTX_NONE, "out of memory tracking %s[%" PRId32 "]@%" PRId64, topic,
                  m->partition, m->offset);
        rd_kafka_message_destroy(m);
        a->fatal = 1;
        return;
    }
    w->j.data = a;
    if ((rc = outcome_decode(w)) != 0) {
        if (rc < 0)
            a->fatal = 1; /* the schema registry is unreachable */
        return;
    }
    w->j.key = w->ev.ws.workspace_id;
    w->j.kind = JOB_EVENT;
    w->j.topic = (char *)topic;
    w->j.partition = m->partition;
    w->j.version = w->ev.workspace_version;
    dispatcher_submit(a->dispatcher, &w->j);
}

/* ---- group membership ---- */

/* Reads the state of every partition number in parts (the events topic
 * and the retry tiers share numbers) before any of its records is
 * dispatched.  A partition that cannot be read stops the process: without
 * its state, stale and duplicate decisions would not be exact. */
static void restore_state(app *a, const rd_kafka_topic_partition_list_t *parts)
{
    const char *topic = outcome_state_topic(a->oc);
    restore_part *rp = calloc((size_t)parts->cnt + 1, sizeof(*rp));
    size_t n = 0;
    wf_err err;

    if (rp == NULL) {
        log_error(LOG_CTX_NONE, "state restore: out of memory; stopping");
        a->fatal = 1;
        return;
    }
    for (int i = 0; i < parts->cnt; i++) {
        size_t j;
        for (j = 0; j < n && rp[j].partition != parts->elems[i].partition; j++)
            ;
        if (j == n)
            rp[n++].partition = parts->elems[i].partition;
    }
    for (size_t i = 0; i < n; i++) /* whatever a lost assignment left */
        applied_drop_partition(a->applied, rp[i].partition);
    wf_err_init(&err);
    if (restore_partitions(a->reader, topic, rp, n, a->applied, RESTORE_TIMEOUT_MS, &err) != 0) {
        log_error(LOG_CTX_NONE, "state restore: %s; stopping", err.msg);
        a->fatal = 1;
        free(rp);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        metrics_state_restore(a->metrics, (double)rp[i].ms / 1000.0);
        log_info(LOG_CTX_NONE,
                 "restored %zu state record(s) of %s[%" PRId32 "] in %" PRId64
                 " ms (%zu workspace(s) in memory)",
                 rp[i].records, topic, rp[i].partition, rp[i].ms, applied_count(a->applied));
    }
    free(rp);
}

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
    /* Repairs wait for nobody: the next owner checks its workspaces. */
    if (parts)
        dispatcher_cancel_kind(a->dispatcher, JOB_REPAIR);
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
        restore_state(a, parts);
        if (!a->fatal) { /* else stopping: nothing of these partitions may be handled */
            rd_kafka_assign(rk, parts);
            reconciler_assigned(a->rec);
        }
        health_set_joined(a->health, 1);
        return;
    }
    health_set_joined(a->health, 0);
    log_info(LOG_CTX_NONE, "revoking %d partition(s): settling in-flight work and committing",
             parts->cnt);
    /* The range assignor revokes everything at once, so settle all work. */
    reconciler_revoked(a->rec);
    settle(a, parts);
    if (!rd_kafka_assignment_lost(rk)) {
        rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 0);
        if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
            log_warn(LOG_CTX_NONE, "commit on revoke: %s", rd_kafka_err2str(cerr));
    }
    for (int i = 0; i < parts->cnt; i++) {
        offsets_drop(a->offsets, parts->elems[i].topic, parts->elems[i].partition);
        /* The partition's next owner restores its workspaces' state. */
        applied_drop_partition(a->applied, parts->elems[i].partition);
    }
    outcome_revoked(a->oc);
    /* librdkafka keeps an application pause on a partition across
     * unassign/assign: a partition paused now would stay paused when it is
     * assigned again.  Only paused ones are resumed (#4636). */
    pause_resume_all(a->pauses);
    metrics_clear_lag(a->metrics);
    rd_kafka_assign(rk, NULL);
}

/* ---- set-up ---- */

/* librdkafka statistics: the consumer lag of every assigned partition. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    app *a = opaque;

    (void)rk;
    stats_apply_lag(a->metrics, json, len);
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

/* The state topic's reader: assigns partitions itself and never commits,
 * so its group id only has to differ from the members'. */
static rd_kafka_t *make_reader(app *a, wf_err *err)
{
    char group[512];
    kafka_reader_opts o = {.group_id = group};

    snprintf(group, sizeof(group), "%s.state-restore", a->cfg->kafka.group_id);
    return kafka_reader_new(a->cfg, &o, err);
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
                           .coalesce = 1,
                           /* Repairs never hold more than a quarter of the
                            * workers: events find the rest free. */
                           .max_background = cfg->processing.concurrency / 4 > 0
                                                 ? cfg->processing.concurrency / 4
                                                 : 1};

    memset(a, 0, sizeof(*a));
    a->cfg = cfg;
    a->stop = stop;
    /* Each partition's window (pause_apply_backpressure): records wait in it for
     * a free worker or for their workspace's running event.  librdkafka
     * hands records over a partition batch at a time, and a batch may hold
     * few workspaces: a window of a few records per worker would leave
     * workers idle behind busy keys.  A wide window costs only memory
     * (about 2 KiB a record, at most this many per assigned partition) and
     * is handed back at once on a revoke or a stop. */
    a->max_inflight = (size_t)cfg->processing.concurrency * 32;
    if (a->max_inflight < MIN_INFLIGHT_WINDOW)
        a->max_inflight = MIN_INFLIGHT_WINDOW;
    if (codec_format_parse(cfg->results.format, &a->results_format) != 0) {
        wf_err_set(err, WF_CONFIG, "config.results", "results.format: unknown format \"%s\"",
                   cfg->results.format);
        return -1;
    }
    if (cfg->flyte.auth_type == WF_AUTH_CLIENT_CREDENTIALS &&
        (a->flyte_auth = oauth_new(cfg, cfg->flyte.ca_file[0] ? cfg->flyte.ca_file : NULL, err)) ==
            NULL)
        return -1;
    /* One workspace's events may run on any worker: they share one store.
     * The prober only probes, so it gets none. */
    if ((a->applied = applied_new()) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "state store: out of memory");
        return -1;
    }
    if ((a->metrics = metrics_new()) == NULL || pacers_new(a, err) != 0 ||
        (a->prober = provisioner_new(cfg, a->flyte_auth, NULL, NULL, NULL, NULL, err)) == NULL ||
        (a->health = health_start(cfg->observability.listen, a->metrics, probe_apis, a, err)) ==
            NULL)
        return -1;
    log_info(LOG_CTX_NONE, "metrics and health on %s (port %d)", cfg->observability.listen,
             health_port(a->health));
    if ((a->codec = kafka_codec_new(cfg, err)) == NULL || (a->offsets = offsets_new()) == NULL ||
        (a->intent = intent_new(cfg, err)) == NULL ||
        (a->dispatcher = dispatcher_new(&dopts, err)) == NULL ||
        (a->producer = make_producer(a, err)) == NULL ||
        (a->consumer = make_consumer(a, err)) == NULL || (a->reader = make_reader(a, err)) == NULL)
        return -1;
    a->wake = rd_kafka_queue_get_consumer(a->consumer);
    reconcile_opts ropts = {.cfg = cfg,
                            .store = a->applied,
                            .metrics = a->metrics,
                            .dispatcher = a->dispatcher,
                            .threads = cfg->processing.concurrency,
                            .k8s_pacer = a->pace.k8s,
                            .cluster_pacers = a->cluster_pace,
                            .observer = observe_api,
                            .observer_ud = a};
    if ((a->rec = reconciler_new(&ropts, err)) == NULL)
        return -1;
    outcome_opts oopts = {.cfg = cfg,
                          .producer = a->producer,
                          .offsets = a->offsets,
                          .codec = a->codec,
                          .results_format = a->results_format,
                          .metrics = a->metrics,
                          .done = store_offset,
                          .ud = a};
    if ((a->oc = outcome_new(&oopts)) == NULL ||
        (a->pauses = pause_new(a->consumer, a->offsets, a->max_inflight, store_offset, a)) ==
            NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "out of memory");
        return -1;
    }
    /* Before subscribing: a result schema the registry lacks must stop us
     * before the first event, not at its result.  30 s of retries stay
     * within what /healthz tolerates before the loop beats. */
    if (a->results_format == CODEC_AVRO &&
        codec_check_result_schema(a->codec, cfg->schemas.auto_register, 30000, stop, err) != 0)
        return -1;
    return topics_subscribe(a->consumer, cfg, a->oc, stop, err);
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
    reconciler_free(a->rec); /* drained: no repair job is left */
    if (a->reader) {
        rd_kafka_consumer_close(a->reader);
        rd_kafka_destroy(a->reader);
    }
    if (a->producer) {
        rd_kafka_flush(a->producer, FLUSH_MS);
        rd_kafka_destroy(a->producer);
    }
    dispatcher_free(a->dispatcher);
    intent_free(a->intent); /* after the workers (dispatcher_free) */
    health_stop(a->health);
    provisioner_free(a->prober);
    oauth_free(a->flyte_auth);
    applied_free(a->applied); /* after the workers' provisioners (dispatcher_free) */
    pacer_free(a->pace.flyte);
    pacer_free(a->pace.k8s);
    for (size_t i = 0; a->cluster_pace && i < a->cfg->kubernetes.n_clusters; i++)
        pacer_free(a->cluster_pace[i]);
    free(a->cluster_pace);
    metrics_free(a->metrics);
    pause_free(a->pauses);
    outcome_free(a->oc); /* after the producer: its last reports need it */
    offsets_free(a->offsets);
    codec_free(a->codec);
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
    while (!*stop && !a.fatal && !outcome_fatal(a.oc)) {
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
        reconciler_pump(a.rec);
        rd_kafka_poll(a.producer, 0);
        health_beat(a.health);
        metrics_set_inflight(
            a.metrics, (long)(dispatcher_inflight(a.dispatcher) - reconciler_inflight(a.rec)));
        pause_resume_due(a.pauses);
        pause_apply_backpressure(a.pauses);
        if (rd_kafka_fatal_error(a.consumer, fatal, sizeof(fatal))) {
            wf_err_set(err, WF_INTERNAL, "kafka.fatal", "consumer: %s", fatal);
            break;
        }
    }
    log_info(LOG_CTX_NONE, "stopping: settling in-flight work and committing offsets");
    if (drain(&a, err) != 0 || wf_err_is_set(err))
        goto out;
    if (a.fatal || outcome_fatal(a.oc)) {
        wf_err_set(err, WF_TRANSIENT, "kafka.delivery",
                   "an output could not be delivered; uncommitted events will be redelivered");
        goto out;
    }
    rc = 0;
out:
    app_fini(&a);
    return rc;
}
