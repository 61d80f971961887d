/* metrics: the counters CONTRACT.md §6 names, kept in memory and rendered
 * in the Prometheus text format.  All functions are thread-safe: workers
 * record API calls while the consumer thread records outcomes. */
#ifndef WF_METRICS_H
#define WF_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "wf_err.h"

typedef struct metrics metrics;

metrics *metrics_new(void);
void metrics_free(metrics *m);

void metrics_event(metrics *m, ws_event_type type, prov_status status, double seconds);
/* The cluster label of kubernetes.api_url's series with kubernetes.clusters. */
#define METRICS_CONTROL_PLANE "control-plane"

/* An answered (code = HTTP status) or failed (code 0) API request.  api is
 * "flyte", "k8s", or with kubernetes.clusters "k8s@<cluster>" (a cluster's
 * name, or METRICS_CONTROL_PLANE), counted as api="k8s",cluster="<cluster>":
 * each API server's series apart. */
void metrics_api(metrics *m, const char *api, long code);
/* A throttling answer (429, or 503 with Retry-After) that paused api (as
 * for metrics_api). */
void metrics_api_throttled(metrics *m, const char *api);
/* The API of api as metrics_api takes it ("k8s@east": "k8s"), in buf. */
const char *metrics_api_name(const char *api, char *buf, size_t len);
void metrics_retry_forwarded(metrics *m, const char *tier);
/* One object repaired after drift: api "k8s" or "flyte", kind as the API
 * names it ("NetworkPolicy", "Project", "ProjectDomainAttributes");
 * cluster (with kubernetes.clusters, a Kubernetes object's API server:
 * the cluster's name or "control-plane") adds the label cluster, NULL
 * none. */
void metrics_drift_repair(metrics *m, const char *api, const char *cluster, const char *kind);
/* One object whose repairs another writer kept undoing: a fight began and
 * its repairs now back off (wsflyte_drift_fights_total); cluster as
 * metrics_drift_repair's. */
void metrics_drift_fight(metrics *m, const char *api, const char *cluster, const char *kind);
void metrics_dead_lettered(metrics *m, wf_class cls);
void metrics_set_inflight(metrics *m, long n);
void metrics_set_lag(metrics *m, const char *topic, int32_t partition, int64_t lag);
/* Forgets every lag series: after a revoke, partitions another member now
 * owns must not keep exporting this member's last value (the next
 * statistics report brings back the ones still assigned). */
void metrics_clear_lag(metrics *m);
void metrics_rebalance(metrics *m);
/* Whether /readyz would answer 200 now (wsflyte_ready 1 or 0). */
void metrics_set_ready(metrics *m, int ready);
/* One assigned partition's state records read (wsflyte_state_restore_seconds). */
void metrics_state_restore(metrics *m, double seconds);

/* Returns the exposition text (malloc'd), or NULL on OOM. */
char *metrics_render(metrics *m);

/* Reads back a counter for tests: events of (type, status). */
uint64_t metrics_events_count(metrics *m, ws_event_type type, prov_status status);

#endif
