/* topics: the consumer's subscription, after the start-up check that the
 * topics records move between are co-partitioned. */
#ifndef WF_TOPICS_H
#define WF_TOPICS_H

#include <librdkafka/rdkafka.h>
#include <signal.h>

#include "config.h"
#include "outcome.h"
#include "wf_err.h"

/* Refuses to start unless every retry tier, the dead-letter topic and the
 * state topic (as oc names them) have as many partitions as the events topic, waiting for
 * metadata while the brokers are unreachable (until *stop); then
 * subscribes consumer to the events topic and every retry tier.  Returns
 * 0, or -1 with err set. */
int topics_subscribe(rd_kafka_t *consumer, const wf_config *cfg, const outcome *oc,
                     volatile sig_atomic_t *stop, wf_err *err);

#endif
