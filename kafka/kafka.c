/* librdkafka set-up for the service and every tool: the configuration each
 * client kind takes, one constructor per kind (group member, assign-and-seek
 * reader, idempotent producer, mock cluster host), headers, and the codec
 * built from the configuration. */
#include "kafka.h"

#include <stdio.h>
#include <string.h>

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, wf_err *err)
{
    char errstr[512];

    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        /* errstr names the property, never its value. */
        wf_err_set(err, WF_CONFIG, "config.kafka", "kafka property %s: %s", name, errstr);
        return -1;
    }
    return 0;
}

/* Properties librdkafka 2.0.2 documents as consumer-only ("C") or
 * producer-only ("P").  kafka.properties serve both clients of a program;
 * given to the other kind, librdkafka ignores them with a CONFWARN line on
 * every start, which only hides real warnings. */
static const char *const consumer_only[] = {"group.id",
                                            "group.instance.id",
                                            "partition.assignment.strategy",
                                            "session.timeout.ms",
                                            "heartbeat.interval.ms",
                                            "group.protocol.type",
                                            "coordinator.query.interval.ms",
                                            "max.poll.interval.ms",
                                            "enable.auto.commit",
                                            "auto.commit.interval.ms",
                                            "enable.auto.offset.store",
                                            "queued.min.messages",
                                            "queued.max.messages.kbytes",
                                            "fetch.wait.max.ms",
                                            "fetch.message.max.bytes",
                                            "max.partition.fetch.bytes",
                                            "fetch.max.bytes",
                                            "fetch.min.bytes",
                                            "fetch.error.backoff.ms",
                                            "isolation.level",
                                            "enable.partition.eof",
                                            "check.crcs",
                                            "auto.offset.reset",
                                            NULL};
static const char *const producer_only[] = {"transactional.id",
                                            "transaction.timeout.ms",
                                            "enable.idempotence",
                                            "enable.gapless.guarantee",
                                            "queue.buffering.max.messages",
                                            "queue.buffering.max.kbytes",
                                            "queue.buffering.max.ms",
                                            "linger.ms",
                                            "message.send.max.retries",
                                            "retries",
                                            "queue.buffering.backpressure.threshold",
                                            "compression.codec",
                                            "compression.type",
                                            "batch.num.messages",
                                            "batch.size",
                                            "delivery.report.only.error",
                                            "sticky.partitioning.linger.ms",
                                            "request.required.acks",
                                            "acks",
                                            "request.timeout.ms",
                                            "message.timeout.ms",
                                            "delivery.timeout.ms",
                                            "partitioner",
                                            "compression.level",
                                            NULL};

static int listed(const char *const *names, const char *name)
{
    for (; *names; names++)
        if (strcmp(*names, name) == 0)
            return 1;
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(const wf_config *cfg, rd_kafka_type_t type, wf_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *const *other = type == RD_KAFKA_CONSUMER ? producer_only : consumer_only;

    if (kafka_conf_set(conf, "bootstrap.servers", cfg->kafka.bootstrap_servers, err) != 0)
        goto fail;
    for (size_t i = 0; i < cfg->kafka.n_properties; i++) {
        const wf_kv *p = &cfg->kafka.properties[i];
        if (!listed(other, p->key) && kafka_conf_set(conf, p->key, p->value, err) != 0)
            goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* One fixed setting of a client kind. */
typedef struct setting {
    const char *name, *value;
} setting;

static int conf_apply(rd_kafka_conf_t *conf, const setting *s, size_t n, wf_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (kafka_conf_set(conf, s[i].name, s[i].value, err) != 0)
            return -1;
    return 0;
}

/* Creates the client; conf is taken on every path. */
static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what,
                              wf_err *err)
{
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));

    if (rk == NULL) {
        wf_err_set(err, WF_CONFIG, type == RD_KAFKA_CONSUMER ? "kafka.consumer" : "kafka.producer",
                   "create %s: %s", what, errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* A consumer configuration: kafka.properties, then group and the kind's
 * fixed settings (which win).  Returns NULL with err set. */
static rd_kafka_conf_t *consumer_conf(const wf_config *cfg, const char *group, const setting *s,
                                      size_t n, wf_err *err)
{
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, RD_KAFKA_CONSUMER, err);

    if (conf && (kafka_conf_set(conf, "group.id", group, err) || conf_apply(conf, s, n, err))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Offsets are stored by the caller, after the outcome is delivered; range
 * because cooperative-sticky crashes in librdkafka 2.0.2. */
static const setting group_settings[] = {
    {"enable.auto.offset.store", "false"},
    {"enable.auto.commit", "true"},
    {"auto.offset.reset", "earliest"},
    {"partition.assignment.strategy", "range"},
};

rd_kafka_t *kafka_group_consumer_new(const wf_config *cfg, const kafka_group_opts *o, wf_err *err)
{
    rd_kafka_conf_t *conf;
    char interval[32];
    rd_kafka_t *rk;

    conf = consumer_conf(cfg, o->group_id ? o->group_id : cfg->kafka.group_id, group_settings,
                         N_OF(group_settings), err);
    if (conf == NULL)
        return NULL;
    snprintf(interval, sizeof(interval), "%d", o->stats_interval_ms);
    if ((o->on_stats && o->stats_interval_ms > 0 &&
         kafka_conf_set(conf, "statistics.interval.ms", interval, err)) ||
        /* What a crash redoes is what finished since the last commit:
         * commit every second rather than librdkafka's 5 s, unless told
         * otherwise. */
        (wf_config_property(cfg, "auto.commit.interval.ms") == NULL &&
         kafka_conf_set(conf, "auto.commit.interval.ms", "1000", err))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (o->on_rebalance)
        rd_kafka_conf_set_rebalance_cb(conf, o->on_rebalance);
    if (o->on_stats)
        rd_kafka_conf_set_stats_cb(conf, o->on_stats);
    rd_kafka_conf_set_opaque(conf, o->opaque);
    if ((rk = client_new(RD_KAFKA_CONSUMER, conf, "consumer", err)) != NULL)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* The caller decides what is read and what is committed. */
static const setting reader_settings[] = {
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"enable.partition.eof", "false"},
};

rd_kafka_t *kafka_reader_new(const wf_config *cfg, const kafka_reader_opts *o, wf_err *err)
{
    rd_kafka_conf_t *conf;

    if (o->group_id == NULL || *o->group_id == '\0') {
        wf_err_set(err, WF_INTERNAL, "kafka.consumer", "create reader: no group id given");
        return NULL;
    }
    conf = consumer_conf(cfg, o->group_id, reader_settings, N_OF(reader_settings), err);
    return conf ? client_new(RD_KAFKA_CONSUMER, conf, "consumer", err) : NULL;
}

rd_kafka_t *kafka_producer_new(const wf_config *cfg, const kafka_producer_opts *o, wf_err *err)
{
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, RD_KAFKA_PRODUCER, err);
    char linger[32];

    if (conf == NULL)
        return NULL;
    snprintf(linger, sizeof(linger), "%d", o->linger_ms);
    if (kafka_conf_set(conf, "enable.idempotence", "true", err) ||
        (o->linger_ms > 0 && kafka_conf_set(conf, "linger.ms", linger, err))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (o->on_delivery)
        rd_kafka_conf_set_dr_msg_cb(conf, o->on_delivery);
    rd_kafka_conf_set_opaque(conf, o->opaque);
    return client_new(RD_KAFKA_PRODUCER, conf, "producer", err);
}

rd_kafka_t *kafka_mock_host_new(wf_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (kafka_conf_set(conf, "log_level", "4", err) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return client_new(RD_KAFKA_PRODUCER, conf, "mock cluster host", err);
}

int kafka_header_get(rd_kafka_headers_t *hdrs, const char *name, char *buf, size_t len)
{
    const void *v;
    size_t n;

    if (hdrs == NULL || rd_kafka_header_get_last(hdrs, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (v == NULL)
        n = 0;
    if (n >= len)
        n = len - 1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return 0;
}

void kafka_header_set(rd_kafka_headers_t *hdrs, const char *name, const char *value)
{
    rd_kafka_header_remove(hdrs, name);
    rd_kafka_header_add(hdrs, name, -1, value, -1);
}

/* The partition count of topic in md, or -1 when it is not there. */
static int partition_count(const struct rd_kafka_metadata *md, const char *topic)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0)
            return md->topics[i].err ? -1 : md->topics[i].partition_cnt;
    return -1;
}

int kafka_check_copartitioned(rd_kafka_t *rk, const char *events, const char *const *others,
                              size_t n, int timeout_ms, wf_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t rerr = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    int want, rc = -1;

    if (rerr) {
        wf_err_set(err, WF_TRANSIENT, "kafka.metadata", "read topic metadata: %s",
                   rd_kafka_err2str(rerr));
        return -1;
    }
    if ((want = partition_count(md, events)) <= 0) {
        wf_err_set(err, WF_CONFIG, "kafka.topics", "events topic %s does not exist", events);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int have = partition_count(md, others[i]);
        if (have < 0) {
            wf_err_set(err, WF_CONFIG, "kafka.topics",
                       "topic %s does not exist; create it with %d partitions, as many as the "
                       "events topic %s",
                       others[i], want, events);
            goto out;
        }
        if (have != want) {
            wf_err_set(err, WF_CONFIG, "kafka.topics",
                       "topic %s has %d partitions but the events topic %s has %d: records "
                       "about an event go to the partition number it was read from, so both "
                       "need the same count",
                       others[i], have, events, want);
            goto out;
        }
    }
    rc = 0;
out:
    rd_kafka_metadata_destroy(md);
    return rc;
}

int kafka_err_is_size(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE;
}

codec *kafka_codec_new(const wf_config *cfg, wf_err *err)
{
    char event_subject[300], result_subject[300];
    codec_opts o = {
        .schema_dir = cfg->schemas.directory,
        .registry_url = cfg->schemas.registry_url,
        .event_subject = event_subject,
        .result_subject = result_subject,
    };

    snprintf(event_subject, sizeof(event_subject), "%s-value", cfg->kafka.topic_events);
    snprintf(result_subject, sizeof(result_subject), "%s-value", cfg->kafka.topic_results);
    return codec_new(&o, err);
}
