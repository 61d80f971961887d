/* topics: co-partitioning check and subscription at start-up. */
#include "topics.h"

#include <stdlib.h>

#include "kafka.h"
#include "log.h"

/* Refuses to start unless every retry tier, the dead-letter topic and the
 * state topic have as many partitions as the events topic.  Waits for metadata while the
 * brokers are unreachable. */
static int check_topics(rd_kafka_t *consumer, const wf_config *cfg, const outcome *oc,
                        volatile sig_atomic_t *stop, wf_err *err)
{
    size_t n = cfg->retry.n_tiers;
    const char **others = calloc(n + 2, sizeof(*others));
    int rc;

    if (others == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        others[i] = outcome_tier_topic(oc, i);
    others[n] = outcome_dlt_topic(oc);
    others[n + 1] = outcome_state_topic(oc);
    for (;;) {
        wf_err_init(err);
        rc =
            kafka_check_copartitioned(consumer, cfg->kafka.topic_events, others, n + 2, 10000, err);
        if (rc == 0 || err->cls != WF_TRANSIENT || *stop)
            break;
        log_warn(LOG_CTX_NONE, "checking topics: %s; trying again", err->msg);
    }
    free(others);
    return rc;
}

int topics_subscribe(rd_kafka_t *consumer, const wf_config *cfg, const outcome *oc,
                     volatile sig_atomic_t *stop, wf_err *err)
{
    rd_kafka_topic_partition_list_t *topics;
    rd_kafka_resp_err_t rerr;

    if (check_topics(consumer, cfg, oc, stop, err) != 0)
        return -1;
    topics = rd_kafka_topic_partition_list_new(4);

    rd_kafka_topic_partition_list_add(topics, cfg->kafka.topic_events, RD_KAFKA_PARTITION_UA);
    for (size_t i = 0; i < cfg->retry.n_tiers; i++)
        rd_kafka_topic_partition_list_add(topics, outcome_tier_topic(oc, i), RD_KAFKA_PARTITION_UA);
    rerr = rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (rerr) {
        wf_err_set(err, WF_CONFIG, "kafka.subscribe", "subscribe to %s: %s",
                   cfg->kafka.topic_events, rd_kafka_err2str(rerr));
        return -1;
    }
    return 0;
}
