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

/* The codec for the configured schemas and topics: registry subjects follow
 * the TopicNameStrategy ("<topic>-value").  Returns NULL with err set. */
codec *kafka_codec_new(const wf_config *cfg, wf_err *err);

#endif
