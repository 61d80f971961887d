#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kafka.h"

#include <librdkafka/rdkafka_mock.h>

static const char *get(rd_kafka_conf_t *conf, const char *name, char *buf, size_t len)
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(properties_go_to_the_client_that_takes_them),
        cmocka_unit_test(an_unknown_property_is_named),
        cmocka_unit_test(topics_with_another_partition_count_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
