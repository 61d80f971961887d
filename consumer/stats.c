/* stats: librdkafka statistics into metrics (consumer lag). */
#include "stats.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void stats_apply_lag(metrics *m, const char *json, size_t len)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *topics = json_object_get(root, "topics"), *t, *parts, *p;
    const char *topic, *pid;

    json_object_foreach(topics, topic, t)
    {
        parts = json_object_get(t, "partitions");
        json_object_foreach(parts, pid, p)
        {
            json_t *lag = json_object_get(p, "consumer_lag");
            if (strcmp(pid, "-1") == 0 || !json_is_integer(lag) || json_integer_value(lag) < 0)
                continue;
            metrics_set_lag(m, topic, (int32_t)atoi(pid), json_integer_value(lag));
        }
    }
    json_decref(root);
}
