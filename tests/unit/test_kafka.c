#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kafka.h"

#include <librdkafka/rdkafka_mock.h>

static const char *get(const rd_kafka_conf_t *conf, const char *name, char *buf, size_t len)
{
    size_t n = len;
    return rd_kafka_conf_get(conf, name, buf, &n) == RD_KAFKA_CONF_OK ? buf : "";
}

/* One kafka.properties map serves a program's consumer and producer: each
 * gets its own properties and the common ones, never the other's. */
static void properties_go_to_the_client_that_takes_them(void **state)
{
    wf_kv props[] = {
        {"session.timeout.ms", "6000"}, {"linger.ms", "7"}, {"client.id", "wsflyte-test"}};
    wf_config cfg;
    wf_err err;
    char buf[64];
    rd_kafka_conf_t *consumer, *producer;

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.kafka.bootstrap_servers = "127.0.0.1:9092";
    cfg.kafka.properties = props;
    cfg.kafka.n_properties = 3;
    wf_err_init(&err);
    consumer = kafka_conf_new(&cfg, RD_KAFKA_CONSUMER, &err);
    producer = kafka_conf_new(&cfg, RD_KAFKA_PRODUCER, &err);
    assert_non_null(consumer);
    assert_non_null(producer);
    assert_string_equal(get(consumer, "session.timeout.ms", buf, sizeof(buf)), "6000");
    assert_string_not_equal(get(producer, "session.timeout.ms", buf, sizeof(buf)), "6000");
    assert_string_equal(get(producer, "linger.ms", buf, sizeof(buf)), "7");
    assert_string_not_equal(get(consumer, "linger.ms", buf, sizeof(buf)), "7");
    assert_string_equal(get(consumer, "client.id", buf, sizeof(buf)), "wsflyte-test");
    assert_string_equal(get(producer, "client.id", buf, sizeof(buf)), "wsflyte-test");
    rd_kafka_conf_destroy(consumer);
    rd_kafka_conf_destroy(producer);
}

/* A property librdkafka does not know stops start-up, naming it. */
static void an_unknown_property_is_named(void **state)
{
    wf_kv props[] = {{"sesion.timeout.ms", "6000"}};
    wf_config cfg;
    wf_err err;

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.kafka.bootstrap_servers = "127.0.0.1:9092";
    cfg.kafka.properties = props;
    cfg.kafka.n_properties = 1;
    wf_err_init(&err);
    assert_null(kafka_conf_new(&cfg, RD_KAFKA_CONSUMER, &err));
    assert_int_equal(err.cls, WF_CONFIG);
    assert_non_null(strstr(err.msg, "sesion.timeout.ms"));
}

/* A mock cluster with events (3 partitions), a tier with 3, a DLT with 2. */
typedef struct cluster {
    rd_kafka_t *host, *client;
    rd_kafka_mock_cluster_t *mc;
} cluster;

static void cluster_start(cluster *c)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    c->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(c->host);
    c->mc = rd_kafka_mock_cluster_new(c->host, 1);
    assert_non_null(c->mc);
    assert_int_equal(rd_kafka_mock_topic_create(c->mc, "ev", 3, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(c->mc, "ev.g.retry-30s", 3, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(c->mc, "ev.g.dlt", 2, 1), 0);
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(c->mc), errstr,
                      sizeof(errstr));
    c->client = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(c->client);
}

static void cluster_stop(cluster *c)
{
    rd_kafka_destroy(c->client);
    rd_kafka_mock_cluster_destroy(c->mc);
    rd_kafka_destroy(c->host);
}

/* Records about an event go to its partition number: a tier or DLT with
 * another count, or none at all, stops start-up naming topic and counts. */
static void topics_with_another_partition_count_are_named(void **state)
{
    const char *same[] = {"ev.g.retry-30s"};
    const char *fewer[] = {"ev.g.retry-30s", "ev.g.dlt"};
    const char *missing[] = {"ev.g.retry-5m"};
    cluster c;
    wf_err err;

    (void)state;
    cluster_start(&c);
    wf_err_init(&err);
    assert_int_equal(kafka_check_copartitioned(c.client, "ev", same, 1, 10000, &err), 0);
    assert_int_equal(kafka_check_copartitioned(c.client, "ev", fewer, 2, 10000, &err), -1);
    assert_int_equal(err.cls, WF_CONFIG);
    assert_non_null(
        strstr(err.msg, "topic ev.g.dlt has 2 partitions but the events topic ev has 3"));
    wf_err_init(&err);
    assert_int_equal(kafka_check_copartitioned(c.client, "ev", missing, 1, 10000, &err), -1);
    assert_int_equal(err.cls, WF_CONFIG);
    assert_non_null(strstr(err.msg, "topic ev.g.retry-5m does not exist"));
    wf_err_init(&err);
    assert_int_equal(kafka_check_copartitioned(c.client, "nope", same, 1, 10000, &err), -1);
    assert_non_null(strstr(err.msg, "events topic nope does not exist"));
    cluster_stop(&c);
}

static void config_with(wf_config *cfg, wf_kv *props, size_t n)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->kafka.bootstrap_servers = "127.0.0.1:9";
    cfg->kafka.group_id = "wsflyte";
    cfg->kafka.properties = props;
    cfg->kafka.n_properties = n;
}

/* Asserts that rk was made and holds each of the n settings, then
 * destroys it. */
static void assert_settings(rd_kafka_t *rk, const wf_kv *want, size_t n)
{
    char buf[64];

    assert_non_null(rk);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(get(rd_kafka_conf(rk), want[i].key, buf, sizeof(buf)), want[i].value);
    rd_kafka_destroy(rk);
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Statistics are only turned on with a callback to take them. */
static int ignore_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk, (void)json, (void)len, (void)opaque;
    return 0;
}

/* The service's group member: offsets stored only after an outcome, the
 * range assignor even when the properties ask for another one, new
 * partitions from the start, commits every second unless the properties
 * say otherwise. */
static void group_consumer_keeps_the_settings_the_service_relies_on(void **state)
{
    wf_kv props[] = {{"partition.assignment.strategy", "cooperative-sticky"},
                     {"session.timeout.ms", "7000"}};
    wf_kv interval[] = {{"auto.commit.interval.ms", "250"}};
    wf_kv want[] = {{"group.id", "wsflyte"},
                    {"enable.auto.offset.store", "false"},
                    {"enable.auto.commit", "true"},
                    {"auto.offset.reset", "smallest"},
                    {"partition.assignment.strategy", "range"},
                    {"auto.commit.interval.ms", "1000"},
                    {"statistics.interval.ms", "5000"},
                    {"session.timeout.ms", "7000"}};
    wf_kv want_other[] = {{"group.id", "other-group"}, {"auto.commit.interval.ms", "250"}};
    kafka_group_opts o = {.on_stats = ignore_stats, .stats_interval_ms = 5000};
    wf_config cfg;
    wf_err err;

    (void)state;
    config_with(&cfg, props, 2);
    wf_err_init(&err);
    assert_settings(kafka_group_consumer_new(&cfg, &o, &err), want, N_OF(want));

    config_with(&cfg, interval, 1);
    o.group_id = "other-group";
    assert_settings(kafka_group_consumer_new(&cfg, &o, &err), want_other, N_OF(want_other));
}

/* The tools' readers commit and store nothing by themselves and report no
 * partition ends; a reader without a group is refused. */
static void reader_commits_nothing_by_itself(void **state)
{
    wf_kv props[] = {{"enable.partition.eof", "true"}, {"auto.offset.reset", "earliest"}};
    wf_kv want[] = {{"group.id", "wsflyte.dlt-inspect-1"},
                    {"enable.auto.commit", "false"},
                    {"enable.auto.offset.store", "false"},
                    {"enable.partition.eof", "false"},
                    {"auto.offset.reset", "smallest"}};
    kafka_reader_opts o = {.group_id = "wsflyte.dlt-inspect-1"}, none = {0};
    wf_config cfg;
    wf_err err;

    (void)state;
    config_with(&cfg, props, 2);
    wf_err_init(&err);
    assert_settings(kafka_reader_new(&cfg, &o, &err), want, N_OF(want));
    assert_null(kafka_reader_new(&cfg, &none, &err));
    assert_non_null(strstr(err.msg, "no group id"));
}

/* Producers are idempotent; linger.ms is the caller's when it asks, the
 * properties' otherwise. */
static void producer_is_idempotent_and_lingers_as_asked(void **state)
{
    wf_kv props[] = {{"linger.ms", "50"}};
    wf_kv want_own[] = {{"enable.idempotence", "true"}, {"linger.ms", "5"}};
    wf_kv want_theirs[] = {{"enable.idempotence", "true"}, {"linger.ms", "50"}};
    kafka_producer_opts own = {.linger_ms = 5}, theirs = {0};
    wf_config cfg;
    wf_err err;

    (void)state;
    config_with(&cfg, props, 1);
    wf_err_init(&err);
    assert_settings(kafka_producer_new(&cfg, &own, &err), want_own, N_OF(want_own));
    assert_settings(kafka_producer_new(&cfg, &theirs, &err), want_theirs, N_OF(want_theirs));
}

/* Settings librdkafka accepts one by one but refuses together stop
 * start-up with the reason, classified as configuration. */
static void a_client_librdkafka_refuses_is_explained(void **state)
{
    wf_kv props[] = {{"acks", "1"}};
    kafka_producer_opts o = {0};
    wf_config cfg;
    wf_err err;

    (void)state;
    config_with(&cfg, props, 1);
    wf_err_init(&err);
    assert_null(kafka_producer_new(&cfg, &o, &err));
    assert_int_equal(err.cls, WF_CONFIG);
    assert_string_equal(err.code, "kafka.producer");
    assert_non_null(strstr(err.msg, "create producer: "));
    assert_non_null(strstr(err.msg, "acks"));
}

static void count_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        (*(int *)opaque)++;
}

/* End to end on the mock cluster: the producer reports each delivery to
 * its opaque; a reader starts where it is assigned and, having read,
 * leaves no committed offset behind. */
static void reader_reads_from_its_assignment_and_commits_nothing(void **state)
{
    kafka_producer_opts po = {.on_delivery = count_delivery};
    kafka_reader_opts ro = {.group_id = "wsflyte-results-test"};
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_t *host, *producer, *reader;
    rd_kafka_mock_cluster_t *mc;
    int delivered = 0, next = 1;
    wf_config cfg;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    host = kafka_mock_host_new(&err);
    assert_non_null(host);
    mc = rd_kafka_mock_cluster_new(host, 1);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "results", 1, 1), 0);
    config_with(&cfg, NULL, 0);
    cfg.kafka.bootstrap_servers = (char *)rd_kafka_mock_cluster_bootstraps(mc);
    po.opaque = &delivered;
    producer = kafka_producer_new(&cfg, &po, &err);
    assert_non_null(producer);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("results"),
                                           RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE("r", 1),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         0);
    assert_int_equal(rd_kafka_flush(producer, 10000), 0);
    assert_int_equal(delivered, 3);

    reader = kafka_reader_new(&cfg, &ro, &err);
    assert_non_null(reader);
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "results", 0)->offset = 1;
    assert_int_equal(rd_kafka_assign(reader, l), 0);
    for (int polls = 0; next < 3 && polls < 100; polls++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(reader, 100);
        if (m == NULL)
            continue;
        assert_int_equal(m->err, 0);
        assert_int_equal(m->offset, next++);
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(next, 3);
    l->elems[0].offset = RD_KAFKA_OFFSET_INVALID;
    assert_int_equal(rd_kafka_committed(reader, l, 10000), 0);
    assert_true(l->elems[0].offset < 0);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(reader);
    rd_kafka_destroy(reader);
    rd_kafka_destroy(producer);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(properties_go_to_the_client_that_takes_them),
        cmocka_unit_test(an_unknown_property_is_named),
        cmocka_unit_test(topics_with_another_partition_count_are_named),
        cmocka_unit_test(group_consumer_keeps_the_settings_the_service_relies_on),
        cmocka_unit_test(reader_commits_nothing_by_itself),
        cmocka_unit_test(producer_is_idempotent_and_lingers_as_asked),
        cmocka_unit_test(a_client_librdkafka_refuses_is_explained),
        cmocka_unit_test(reader_reads_from_its_assignment_and_commits_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
