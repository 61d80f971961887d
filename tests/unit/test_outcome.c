/* The outcome of a record against a librdkafka mock cluster: which outputs
 * reach which topic, and when (or whether) the record's offset is marked
 * done, with the brokers refusing or losing outputs on purpose. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attempt.h"
#include "outcome.h"

#include <librdkafka/rdkafka_mock.h>

#define EVENTS   "ev"
#define RESULTS  "res"
#define TIER     "ev.g.retry-30s"
#define DLT      "ev.g.dlt"
#define STATE    "ev.g.state"
#define EVENT_WS "ws-ml-prod-001"
/* The Kafka protocol ApiKey of Produce (librdkafka keeps its enum private). */
#define PRODUCE_API 0

typedef struct fixture {
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_t *producer; /* the outputs' producer, as the service's */
    rd_kafka_t *consumer; /* reads inputs and, for checks, outputs */
    wf_config cfg;
    long tiers[1];
    codec *codec;
    metrics *metrics;
    offsets *tracker;
    outcome *oc;
    int done_calls;
    int64_t done_next;
    work *held; /* a record the test holds while asserting: teardown drops it */
} fixture;

static void on_done(void *ud, const char *topic, int32_t partition, int64_t next)
{
    fixture *f = ud;

    assert_string_equal(topic, EVENTS);
    assert_int_equal(partition, 0);
    f->done_calls++;
    f->done_next = next;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    outcome_delivered(m);
}

/* outputs: a producer whose delivery reports go to the outcome. */
static rd_kafka_t *client(fixture *f, rd_kafka_type_t type, int outputs)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(f->mc), errstr,
                      sizeof(errstr));
    rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof(errstr));
    if (type == RD_KAFKA_PRODUCER) {
        /* A refused output fails at once rather than after retries. */
        rd_kafka_conf_set(conf, "retries", "0", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "message.timeout.ms", "3000", errstr, sizeof(errstr));
        if (outputs)
            rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    } else {
        rd_kafka_conf_set(conf, "group.id", "checks", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
        /* The checks read a topic from its start as soon as it is assigned:
         * the mock brokers hold an empty fetch for fetch.wait.max.ms. */
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "fetch.error.backoff.ms", "10", errstr, sizeof(errstr));
    }
    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    return rk;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = calloc(1, 65536);

    assert_non_null(fp);
    assert_non_null(buf);
    *len = fread(buf, 1, 65535, fp);
    fclose(fp);
    while (*len > 0 && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r'))
        (*len)--;
    return buf;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    codec_opts copts = {.schema_dir = WSFLYTE_SCHEMA_DIR,
                        .id_map_path = WSFLYTE_TEST_DATA "/schemas/schema-ids.json"};
    const char *topics[] = {EVENTS, RESULTS, TIER, DLT, STATE};
    rd_kafka_t *seed;
    size_t len;
    char *event = slurp(WSFLYTE_TEST_DATA "/events/ws-ml-prod-001.json", &len);
    wf_err err;

    assert_non_null(f);
    rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof(errstr));
    f->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(f->host);
    f->mc = rd_kafka_mock_cluster_new(f->host, 1);
    assert_non_null(f->mc);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(rd_kafka_mock_topic_create(f->mc, topics[i], 1, 1), 0);
    /* The input: one event keyed by its workspace, at offset 0. */
    seed = client(f, RD_KAFKA_PRODUCER, 0);
    assert_int_equal(rd_kafka_producev(seed, RD_KAFKA_V_TOPIC(EVENTS), RD_KAFKA_V_PARTITION(0),
                                       RD_KAFKA_V_KEY(EVENT_WS, strlen(EVENT_WS)),
                                       RD_KAFKA_V_VALUE(event, len),
                                       RD_KAFKA_V_HEADER("content-type", "application/json", -1),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
    assert_int_equal(rd_kafka_flush(seed, 10000), 0);
    rd_kafka_destroy(seed);
    free(event);

    f->cfg.kafka.topic_events = EVENTS;
    f->cfg.kafka.topic_results = RESULTS;
    f->cfg.kafka.group_id = "g";
    f->tiers[0] = 30000;
    f->cfg.retry.tiers_ms = f->tiers;
    f->cfg.retry.n_tiers = 1;
    f->cfg.retry.in_place_attempts = 3;
    wf_err_init(&err);
    f->codec = codec_new(&copts, &err);
    assert_non_null(f->codec);
    f->metrics = metrics_new();
    f->tracker = offsets_new();
    f->producer = client(f, RD_KAFKA_PRODUCER, 1);
    f->consumer = client(f, RD_KAFKA_CONSUMER, 0);
    outcome_opts o = {.cfg = &f->cfg,
                      .producer = f->producer,
                      .offsets = f->tracker,
                      .codec = f->codec,
                      .results_format = CODEC_JSON,
                      .metrics = f->metrics,
                      .done = on_done,
                      .ud = f};
    f->oc = outcome_new(&o);
    assert_non_null(f->oc);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    /* A failed assertion may leave the brokers down or a record held, and
     * the consumer cannot close while one of its records is alive. */
    rd_kafka_mock_broker_set_up(f->mc, 1);
    if (f->held) {
        f->held->abandoned = 1;
        outcome_release(f->held);
    }
    rd_kafka_flush(f->producer, 10000);
    rd_kafka_destroy(f->producer);
    outcome_free(f->oc);
    rd_kafka_consumer_close(f->consumer);
    rd_kafka_destroy(f->consumer);
    offsets_free(f->tracker);
    metrics_free(f->metrics);
    codec_free(f->codec);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->host);
    free(f);
    return 0;
}

/* The first record of topic[0] from the start; NULL when none came. */
static rd_kafka_message_t *read_first(fixture *f, const char *topic)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_message_t *m = NULL;

    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(f->consumer, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    for (int i = 0; i < 30 && m == NULL; i++) {
        m = rd_kafka_consumer_poll(f->consumer, 200);
        if (m && m->err) {
            rd_kafka_message_destroy(m);
            m = NULL;
        }
    }
    rd_kafka_assign(f->consumer, NULL);
    return m;
}

/* How many records topic[0] holds. */
static int64_t records_in(fixture *f, const char *topic)
{
    int64_t lo = -1, hi = -1;

    assert_int_equal(rd_kafka_query_watermark_offsets(f->consumer, topic, 0, &lo, &hi, 5000), 0);
    return hi - lo;
}

/* The input record, read (again) and begun as the loop does. */
static work *take_event(fixture *f)
{
    rd_kafka_message_t *m = read_first(f, EVENTS);
    work *w;

    assert_non_null(m);
    assert_int_equal(m->offset, 0);
    w = outcome_begin(f->oc, m, -1);
    assert_non_null(w);
    assert_int_equal(outcome_decode(w), 0);
    assert_string_equal(w->ev.ws.workspace_id, EVENT_WS);
    return w;
}

static void succeed(work *w)
{
    w->attempts = 1;
    w->result.status = PROV_SUCCEEDED;
}

static void fail_transiently(work *w)
{
    w->attempts = 3;
    wf_err_set(&w->err, WF_TRANSIENT, "flyte.unavailable", "FlyteAdmin answered 503");
}

static void refuse_next_produce(fixture *f, rd_kafka_resp_err_t why)
{
    rd_kafka_mock_push_request_errors(f->mc, PRODUCE_API, 1, why);
}

static int header_is(const rd_kafka_message_t *m, const char *name, const char *want)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;

    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    return n == strlen(want) && memcmp(v, want, n) == 0;
}

static int payload_has(const rd_kafka_message_t *m, const char *text)
{
    return m->payload != NULL && memmem(m->payload, m->len, text, strlen(text)) != NULL;
}

/* Finishes w and waits until the brokers answer for what it produced. */
static void finish_and_flush(fixture *f, work *w)
{
    outcome_finish(w);
    assert_int_equal(rd_kafka_flush(f->producer, 10000), 0);
}

/* The baseline: a result acknowledged marks the offset done. */
static void an_acknowledged_result_marks_the_offset_done(void **state)
{
    fixture *f = *state;
    work *w = take_event(f);
    rd_kafka_message_t *r;

    succeed(w);
    outcome_finish(w);
    assert_int_equal(f->done_calls, 0); /* not before the brokers say so */
    assert_int_equal(rd_kafka_flush(f->producer, 10000), 0);
    assert_int_equal(f->done_calls, 1);
    assert_int_equal(f->done_next, 1);
    assert_false(outcome_fatal(f->oc));
    r = read_first(f, RESULTS);
    assert_non_null(r);
    assert_true(payload_has(r, "SUCCEEDED"));
    rd_kafka_message_destroy(r);
}

/* A result the brokers lose: the offset is never marked done and the
 * process is told to stop without committing. */
static void a_lost_result_stops_without_marking_the_offset_done(void **state)
{
    fixture *f = *state;
    work *w = take_event(f);

    succeed(w);
    refuse_next_produce(f, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    finish_and_flush(f, w);
    assert_int_equal(f->done_calls, 0);
    assert_true(outcome_fatal(f->oc));
    assert_int_equal(offsets_inflight(f->tracker, EVENTS, 0), 1);
}

/* Brokers unreachable until the result times out: the same. */
static void a_result_timing_out_stops_without_marking_the_offset_done(void **state)
{
    fixture *f = *state;
    work *w = take_event(f);

    succeed(w);
    rd_kafka_mock_broker_set_down(f->mc, 1);
    finish_and_flush(f, w);
    assert_int_equal(f->done_calls, 0);
    assert_true(outcome_fatal(f->oc));
    rd_kafka_mock_broker_set_up(f->mc, 1);
}

/* A retry-tier forward the brokers lose: the same. */
static void a_lost_retry_forward_stops_without_marking_the_offset_done(void **state)
{
    fixture *f = *state;
    work *w = take_event(f);

    fail_transiently(w);
    refuse_next_produce(f, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    finish_and_flush(f, w);
    assert_int_equal(f->done_calls, 0);
    assert_true(outcome_fatal(f->oc));
    assert_int_equal(records_in(f, RESULTS), 0); /* no FAILED result for a retry */
}

/* The acknowledged forward, for comparison: done, with the contract's
 * headers on the tier record. */
static void an_acknowledged_retry_forward_marks_the_offset_done(void **state)
{
    fixture *f = *state;
    work *w = take_event(f);
    rd_kafka_message_t *t;

    fail_transiently(w);
    finish_and_flush(f, w);
    assert_int_equal(f->done_calls, 1);
    assert_false(outcome_fatal(f->oc));
    t = read_first(f, TIER);
    assert_non_null(t);
    assert_true(header_is(t, "x-error-code", "flyte.unavailable"));
    assert_true(header_is(t, "x-attempts", "3"));
    assert_true(header_is(t, "x-original-topic", EVENTS));
    rd_kafka_message_destroy(t);
}

/* A tier forward a broker refuses as too large can never succeed: the
 * event ends FAILED with a stub dead letter instead of stopping, and the
 * offset is marked done once both are acknowledged. */
static void a_too_large_retry_forward_becomes_a_stub_dead_letter(void **state)
{
    fixture *f = *state;
    work *w = take_event(f);
    rd_kafka_message_t *d, *r;

    fail_transiently(w);
    refuse_next_produce(f, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    finish_and_flush(f, w);
    assert_false(outcome_fatal(f->oc));
    assert_int_equal(f->done_calls, 1);
    assert_int_equal(f->done_next, 1);
    assert_int_equal(records_in(f, TIER), 0);
    d = read_first(f, DLT);
    assert_non_null(d);
    assert_int_equal(d->len, 0); /* a stub: key and headers only */
    assert_true(header_is(d, "x-error-code", "kafka.record-too-large"));
    assert_true(header_is(d, "x-original-offset", "0"));
    rd_kafka_message_destroy(d);
    r = read_first(f, RESULTS);
    assert_non_null(r);
    assert_true(payload_has(r, "FAILED"));
    assert_true(payload_has(r, "kafka.record-too-large"));
    rd_kafka_message_destroy(r);
}

static int always(void *ud)
{
    (void)ud;
    return 1;
}

/* A revoke while a job waits out an in-place backoff: the retry gives up,
 * nothing is produced and the offset stays for the next owner. */
static void a_revoke_during_backoff_abandons_the_record(void **state)
{
    fixture *f = *state;
    work *w = take_event(f);

    fail_transiently(w);
    w->attempts = 1; /* one attempt made; the dispatcher runs it again */
    attempt_run(w, NULL, always, NULL, f->cfg.retry.in_place_attempts);
    assert_true(w->abandoned);
    outcome_finish(w);
    assert_int_equal(rd_kafka_outq_len(f->producer), 0);
    assert_int_equal(rd_kafka_flush(f->producer, 10000), 0);
    assert_int_equal(f->done_calls, 0);
    assert_false(outcome_fatal(f->oc));
    assert_int_equal(records_in(f, RESULTS), 0);
    assert_int_equal(records_in(f, TIER), 0);
}

/* A lost assignment: the record is delivered again (same offset) before the
 * old delivery's result is acknowledged.  That late acknowledgement must
 * not mark the new delivery's offset done; the new one's own does. */
static void a_late_acknowledgement_does_not_mark_a_newer_delivery_done(void **state)
{
    fixture *f = *state;
    work *old = take_event(f), *again;

    succeed(old);
    outcome_finish(old); /* its result is in flight, unacknowledged */
    offsets_drop(f->tracker, EVENTS, 0);
    outcome_revoked(f->oc);
    again = f->held = take_event(f);
    assert_int_equal(rd_kafka_flush(f->producer, 10000), 0);
    assert_int_equal(f->done_calls, 0);
    assert_int_equal(offsets_inflight(f->tracker, EVENTS, 0), 1);
    succeed(again);
    f->held = NULL;
    finish_and_flush(f, again);
    assert_int_equal(f->done_calls, 1);
    assert_int_equal(f->done_next, 1);
    assert_false(outcome_fatal(f->oc));
}

/* The handler left a state record in w, as provision_event does. */
static void with_state(work *w)
{
    wsstate_init(&w->state);
    w->state.workspace_id = strdup(EVENT_WS);
    w->state.version = 3;
    w->state.status = PROV_SUCCEEDED;
    w->state.complete = 1;
    w->state.event = strdup("{}");
}

/* The state record is one more output: on the state topic, keyed by the
 * workspace, on the event's partition, acknowledged before the offset is
 * marked done. */
static void a_state_record_is_written_before_the_offset_is_done(void **state)
{
    fixture *f = *state;
    work *w = take_event(f);
    rd_kafka_message_t *r;

    succeed(w);
    with_state(w);
    outcome_finish(w);
    assert_int_equal(f->done_calls, 0);
    assert_int_equal(rd_kafka_flush(f->producer, 10000), 0);
    assert_int_equal(f->done_calls, 1);
    assert_false(outcome_fatal(f->oc));
    r = read_first(f, STATE);
    assert_non_null(r);
    assert_int_equal(r->partition, 0);
    assert_int_equal(r->key_len, strlen(EVENT_WS));
    assert_memory_equal(r->key, EVENT_WS, r->key_len);
    assert_true(payload_has(r, "\"format\":1"));
    assert_true(payload_has(r, "\"version\":3"));
    assert_true(header_is(r, "content-type", "application/json"));
    rd_kafka_message_destroy(r);
}

/* No state record without one from the handler (stale, duplicate). */
static void no_state_record_without_one(void **state)
{
    fixture *f = *state;
    work *w = take_event(f);

    succeed(w);
    finish_and_flush(f, w);
    assert_int_equal(f->done_calls, 1);
    assert_int_equal(records_in(f, STATE), 0);
}

/* A lost state record stops the process like a lost result. */
static void a_lost_state_record_stops_without_marking_the_offset_done(void **state)
{
    fixture *f = *state;
    work *w = take_event(f);

    succeed(w);
    with_state(w);
    refuse_next_produce(f, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    finish_and_flush(f, w);
    assert_int_equal(f->done_calls, 0);
    assert_true(outcome_fatal(f->oc));
    assert_int_equal(offsets_inflight(f->tracker, EVENTS, 0), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(an_acknowledged_result_marks_the_offset_done, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_lost_result_stops_without_marking_the_offset_done, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_result_timing_out_stops_without_marking_the_offset_done,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_lost_retry_forward_stops_without_marking_the_offset_done,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(an_acknowledged_retry_forward_marks_the_offset_done, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_too_large_retry_forward_becomes_a_stub_dead_letter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_revoke_during_backoff_abandons_the_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_late_acknowledgement_does_not_mark_a_newer_delivery_done,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_state_record_is_written_before_the_offset_is_done, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(no_state_record_without_one, setup, teardown),
        cmocka_unit_test_setup_teardown(a_lost_state_record_stops_without_marking_the_offset_done,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
