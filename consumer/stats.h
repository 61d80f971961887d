/* stats: what the service takes from librdkafka's statistics. */
#ifndef WF_STATS_H
#define WF_STATS_H

#include <stddef.h>

#include "metrics.h"

/* Sets the consumer lag of every assigned partition in json (a statistics
 * document of len bytes) on m.  Anything unreadable is skipped. */
void stats_apply_lag(metrics *m, const char *json, size_t len);

#endif
