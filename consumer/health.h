/* health: the HTTP endpoint on observability.listen (libmicrohttpd):
 *   /metrics  Prometheus text (see metrics.h)
 *   /healthz  200 while the consumer loop is turning (liveness)
 *   /readyz   200 when the group is joined and FlyteAdmin and the control
 *             plane's Kubernetes API server answer (readiness); otherwise
 *             503 with the reason.  Execution clusters (api "k8s@<name>")
 *             are listed in the reason but do not gate readiness: one
 *             unreachable cluster fails only its own workspaces.
 * API reachability is taken from real traffic (health_api_result) and, when
 * there is none for a while, from a probe callback run on the server's own
 * thread. */
#ifndef WF_HEALTH_H
#define WF_HEALTH_H

#include "metrics.h"
#include "wf_err.h"

typedef struct health health;

/* Probes both APIs; sets *flyte_ok and *k8s_ok. */
typedef void (*health_probe_fn)(void *ud, int *flyte_ok, int *k8s_ok);

/* Starts serving on listen ("host:port"; port 0 picks one).  Returns NULL
 * with err set (WF_CONFIG when the address cannot be bound). */
health *health_start(const char *listen, metrics *m, health_probe_fn probe, void *probe_ud,
                     wf_err *err);
void health_stop(health *h);

/* The port actually bound. */
int health_port(const health *h);

void health_beat(health *h);
void health_set_joined(health *h, int joined);
/* Records an API answer (code = HTTP status) or failure (code 0). */
void health_api_result(health *h, const char *api, long code);

#endif
