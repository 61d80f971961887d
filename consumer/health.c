/* The metrics and health endpoint on observability.listen: /metrics,
 * /healthz (the loop is alive) and /readyz (joined, APIs answering). */
#include "health.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LIVENESS_MAX_SECS 30
#define API_FRESH_SECS    10
#define MAX_CLUSTERS      64

typedef struct api_state {
    int ok;
    time_t at; /* 0 = never seen */
} api_state;

struct health {
    struct MHD_Daemon *daemon;
    metrics *metrics;
    health_probe_fn probe;
    void *probe_ud;
    pthread_mutex_t lock;
    time_t beat;
    int joined;
    api_state flyte, k8s; /* k8s: the control plane (kubernetes.api_url) */
    /* The execution clusters, by the name after "k8s@", in the order first
     * answered.  They do not gate readiness: one unreachable cluster fails
     * only its own workspaces, and the replica goes on with the others. */
    struct {
        char name[64];
        api_state state;
    } clusters[MAX_CLUSTERS];
    size_t n_clusters;
    int port;
};

/* An API is reachable when it answers without a server-side failure; a 4xx
 * (other than 401) is still an answering server. */
static int answer_ok(long code)
{
    return code > 0 && code < 500 && code != 401;
}

/* The state of execution cluster name, added when first seen; NULL past
 * MAX_CLUSTERS or for a name too long to keep.  Called under h->lock. */
static api_state *cluster_state(health *h, const char *name)
{
    size_t len = strlen(name);

    if (len >= sizeof(h->clusters[0].name))
        return NULL;
    for (size_t i = 0; i < h->n_clusters; i++)
        if (strcmp(h->clusters[i].name, name) == 0)
            return &h->clusters[i].state;
    if (h->n_clusters == MAX_CLUSTERS)
        return NULL;
    memcpy(h->clusters[h->n_clusters].name, name, len + 1);
    return &h->clusters[h->n_clusters++].state;
}

void health_api_result(health *h, const char *api, long code)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    api_state *s = strcmp(api, "flyte") == 0 ? &h->flyte : &h->k8s;
    if (strncmp(api, "k8s@", 4) == 0)
        s = cluster_state(h, api + 4);
    if (s != NULL) {
        s->ok = answer_ok(code);
        s->at = time(NULL);
    }
    pthread_mutex_unlock(&h->lock);
}

void health_beat(health *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    h->beat = time(NULL);
    pthread_mutex_unlock(&h->lock);
}

void health_set_joined(health *h, int joined)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    h->joined = joined;
    pthread_mutex_unlock(&h->lock);
}

int health_port(const health *h)
{
    return h->port;
}

/* Probes when traffic has not told us recently whether the APIs answer. */
static void refresh_apis(health *h)
{
    time_t now = time(NULL);
    int stale;

    pthread_mutex_lock(&h->lock);
    stale = now - h->flyte.at > API_FRESH_SECS || now - h->k8s.at > API_FRESH_SECS;
    pthread_mutex_unlock(&h->lock);
    if (!stale || h->probe == NULL)
        return;
    int flyte_ok = 0, k8s_ok = 0;
    h->probe(h->probe_ud, &flyte_ok, &k8s_ok);
    pthread_mutex_lock(&h->lock);
    h->flyte = (api_state){flyte_ok, now};
    h->k8s = (api_state){k8s_ok, now};
    pthread_mutex_unlock(&h->lock);
}

/* probe: may call the APIs when traffic has not told recently whether they
 * answer (/readyz); a scrape only reads what is known, so that /metrics
 * never waits on a slow API. */
static int readiness(health *h, int probe, char *why, size_t len)
{
    int ok;

    if (probe)
        refresh_apis(h);
    pthread_mutex_lock(&h->lock);
    ok = h->joined && h->flyte.ok && h->k8s.ok;
    int n = snprintf(why, len, "group %s, flyteadmin %s, kubernetes %s",
                     h->joined ? "joined" : "not joined", h->flyte.ok ? "reachable" : "unreachable",
                     h->k8s.ok ? "reachable" : "unreachable");
    /* Execution clusters as their last answers showed them; an unreachable
     * one is reported but leaves the replica ready. */
    for (size_t i = 0; i < h->n_clusters && n > 0 && (size_t)n < len; i++)
        n += snprintf(why + n, len - (size_t)n, ", cluster %s %s", h->clusters[i].name,
                      h->clusters[i].state.ok ? "reachable" : "unreachable");
    if (n > 0 && (size_t)n < len - 1)
        snprintf(why + n, len - (size_t)n, "\n");
    pthread_mutex_unlock(&h->lock);
    return ok;
}

static int liveness(health *h, char *why, size_t len)
{
    pthread_mutex_lock(&h->lock);
    long age = (long)(time(NULL) - h->beat);
    pthread_mutex_unlock(&h->lock);
    snprintf(why, len, "consumer loop last turned %ld s ago\n", age);
    return age <= LIVENESS_MAX_SECS;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, mode);
    enum MHD_Result rc;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    health *h = cls;
    char why[4096];

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, 405, "text/plain", "method not allowed\n", MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics") == 0) {
        /* wsflyte_ready: what /readyz answered last (the kubelet asks
         * every few seconds), or what traffic has shown since. */
        metrics_set_ready(h->metrics, readiness(h, 0, why, sizeof(why)));
        char *text = metrics_render(h->metrics);
        if (text == NULL)
            return reply(c, 500, "text/plain", "out of memory\n", MHD_RESPMEM_PERSISTENT);
        return reply(c, 200, "text/plain; version=0.0.4", text, MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/healthz") == 0) {
        int ok = liveness(h, why, sizeof(why));
        return reply(c, ok ? 200 : 503, "text/plain", why, MHD_RESPMEM_MUST_COPY);
    }
    if (strcmp(url, "/readyz") == 0) {
        int ok = readiness(h, 1, why, sizeof(why));
        return reply(c, ok ? 200 : 503, "text/plain", why, MHD_RESPMEM_MUST_COPY);
    }
    return reply(c, 404, "text/plain", "not found: try /metrics, /healthz, /readyz\n",
                 MHD_RESPMEM_PERSISTENT);
}

static int parse_listen(const char *listen, struct sockaddr_in *sa)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    char *end;
    long port;

    if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
        return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0)
        sa->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(host, "localhost") == 0)
        sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return -1;
    return 0;
}

health *health_start(const char *listen, metrics *m, health_probe_fn probe, void *probe_ud,
                     wf_err *err)
{
    health *h = calloc(1, sizeof(*h));
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;

    if (h == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "health: out of memory");
        return NULL;
    }
    if (parse_listen(listen, &sa) != 0) {
        wf_err_set(err, WF_CONFIG, "config.observability",
                   "observability.listen \"%s\": expected IPv4-host:port", listen);
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    h->metrics = m;
    h->probe = probe;
    h->probe_ud = probe_ud;
    h->beat = time(NULL);
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 on_request, h, MHD_OPTION_SOCK_ADDR, &sa,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
    if (h->daemon == NULL) {
        wf_err_set(err, WF_CONFIG, "config.observability",
                   "observability.listen %s: cannot listen (address in use?)", listen);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
    }
    info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : ntohs(sa.sin_port);
    return h;
}

void health_stop(health *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->daemon);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
