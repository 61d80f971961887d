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

rd_kafka_conf_t *kafka_conf_new(const wf_config *cfg, wf_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (kafka_conf_set(conf, "bootstrap.servers", cfg->kafka.bootstrap_servers, err) != 0)
        goto fail;
    for (size_t i = 0; i < cfg->kafka.n_properties; i++)
        if (kafka_conf_set(conf, cfg->kafka.properties[i].key, cfg->kafka.properties[i].value,
                           err) != 0)
            goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
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
