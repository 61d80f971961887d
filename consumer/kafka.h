/* kafka: librdkafka set-up shared by the consumer and the tools. */
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
