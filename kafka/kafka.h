/* kafka: librdkafka set-up shared by the consumer and the tools.  Every
 * client of the service and the tools comes from one of the constructors
 * below, one per kind, so that each kind has the same settings wherever it
 * is used. */
#ifndef WF_KAFKA_H
#define WF_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "codec.h"
#include "config.h"
#include "wf_err.h"

/* A configuration for a client of the given type with bootstrap.servers and
 * every kafka.properties entry set, but those that only the other type of
 * client takes (librdkafka would ignore them with a warning).  Returns NULL
 * with err (WF_CONFIG naming the property) set. */
rd_kafka_conf_t *kafka_conf_new(const wf_config *cfg, rd_kafka_type_t type, wf_err *err);

/* Sets name=value on conf.  Returns 0, or -1 with err set. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, wf_err *err);

/* Callbacks, as librdkafka calls them; opaque is the options' opaque. */
typedef void kafka_rebalance_fn(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *parts, void *opaque);
typedef int kafka_stats_fn(rd_kafka_t *rk, char *json, size_t len, void *opaque);
typedef void kafka_delivery_fn(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

typedef struct kafka_group_opts {
    const char *group_id;             /* NULL: kafka.group_id */
    kafka_rebalance_fn *on_rebalance; /* NULL: librdkafka assigns by itself */
    kafka_stats_fn *on_stats;         /* with stats_interval_ms > 0 */
    int stats_interval_ms;
    void *opaque;
} kafka_group_opts;

/* A member of a consumer group that subscribes: the range assignor (the
 * cooperative one crashes in librdkafka 2.0.2), new partitions from the
 * earliest offset, offsets stored only by the caller
 * (rd_kafka_offsets_store, after an outcome) and committed in the
 * background every second unless kafka.properties say otherwise.  Its main
 * queue is redirected to the consumer queue, so rd_kafka_consumer_poll
 * serves the callbacks too.  Returns NULL with err set. */
rd_kafka_t *kafka_group_consumer_new(const wf_config *cfg, const kafka_group_opts *o, wf_err *err);

typedef struct kafka_reader_opts {
    /* Required: rd_kafka_assign needs one.  Its committed offsets are the
     * caller's to read and to write (rd_kafka_commit); nothing is committed
     * or stored by itself. */
    const char *group_id;
} kafka_reader_opts;

/* A consumer that reads partitions the caller assigns (rd_kafka_assign)
 * at offsets it chooses: no subscription, no automatic commits or offset
 * stores, no partition-end events.  Returns NULL with err set. */
rd_kafka_t *kafka_reader_new(const wf_config *cfg, const kafka_reader_opts *o, wf_err *err);

typedef struct kafka_producer_opts {
    kafka_delivery_fn *on_delivery; /* NULL: no delivery reports */
    void *opaque;
    int linger_ms; /* > 0: overrides kafka.properties; 0: theirs or librdkafka's */
} kafka_producer_opts;

/* An idempotent producer (no duplicates or reordering from its own
 * retries).  Returns NULL with err set. */
rd_kafka_t *kafka_producer_new(const wf_config *cfg, const kafka_producer_opts *o, wf_err *err);

/* A client handle that only hosts an in-memory cluster
 * (rd_kafka_mock_cluster_new): no kafka.properties, warnings logged.
 * Returns NULL with err set. */
rd_kafka_t *kafka_mock_host_new(wf_err *err);

/* Copies the last value of header name into buf as a NUL-terminated string.
 * Returns 0, or -1 when absent. */
int kafka_header_get(rd_kafka_headers_t *hdrs, const char *name, char *buf, size_t len);

/* Replaces every value of header name with value. */
void kafka_header_set(rd_kafka_headers_t *hdrs, const char *name, const char *value);

/* Checks that each of the n topics in others exists and has as many
 * partitions as the events topic: records about an event are produced to
 * the partition number it was read from.  Reads metadata of all topics
 * (asking for single topics could make a broker create them).  Returns 0;
 * or -1 with err set: WF_CONFIG naming the topic and both counts, or the
 * missing topic; WF_TRANSIENT when no metadata came within timeout_ms. */
int kafka_check_copartitioned(rd_kafka_t *rk, const char *events, const char *const *others,
                              size_t n, int timeout_ms, wf_err *err);

/* 1 when err says a record is too large for the producer or a broker
 * (MSG_SIZE_TOO_LARGE, RECORD_LIST_TOO_LARGE, INVALID_MSG_SIZE): sending
 * it again can never succeed. */
int kafka_err_is_size(rd_kafka_resp_err_t err);

/* The codec for the configured schemas and topics: registry subjects follow
 * the TopicNameStrategy ("<topic>-value").  Returns NULL with err set. */
codec *kafka_codec_new(const wf_config *cfg, wf_err *err);

#endif
