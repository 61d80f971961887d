#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kafka.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(properties_go_to_the_client_that_takes_them),
        cmocka_unit_test(an_unknown_property_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
