/* The service's counters, gauges and histograms, thread-safe, rendered as
 * Prometheus text. */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds of the event duration histogram, in seconds. */
static const double buckets[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))
#define N_CLASSES (WF_INTERNAL + 1)

/* A small open list of labelled counters (api/code, tier, topic/partition):
 * their label sets are few and bounded. */
typedef struct series {
    char *labels; /* rendered label set, e.g. api="flyte",code="200" */
    int64_t value;
    struct series *next;
} series;

struct metrics {
    pthread_mutex_t lock;
    uint64_t events[WS_EVENT_TYPE_COUNT][3];
    uint64_t hist[N_BUCKETS + 1];
    double hist_sum;
    uint64_t hist_count;
    uint64_t dead_lettered[N_CLASSES];
    uint64_t restore_hist[N_BUCKETS + 1]; /* state restore, same buckets */
    double restore_sum;
    uint64_t restore_count;
    uint64_t rebalances;
    long inflight;
    int ready;
    series *api, *forwarded, *lag;
    series *repairs; /* drift repairs by api and kind */
    series *fights;  /* objects whose repairs another writer kept undoing */
    series *throttled;
};

metrics *metrics_new(void)
{
    metrics *m = calloc(1, sizeof(*m));
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void series_free(series *s)
{
    while (s) {
        series *n = s->next;
        free(s->labels);
        free(s);
        s = n;
    }
}

void metrics_free(metrics *m)
{
    if (m == NULL)
        return;
    series_free(m->api);
    series_free(m->forwarded);
    series_free(m->lag);
    series_free(m->repairs);
    series_free(m->fights);
    series_free(m->throttled);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Finds or adds the series with the given labels; caller holds the lock. */
static series *series_get(series **list, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static series *series_get(series **list, const char *fmt, ...)
{
    char labels[256];
    va_list ap;
    series *s;

    va_start(ap, fmt);
    vsnprintf(labels, sizeof(labels), fmt, ap);
    va_end(ap);
    for (s = *list; s; s = s->next)
        if (strcmp(s->labels, labels) == 0)
            return s;
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->labels = strdup(labels)) == NULL) {
        free(s);
        return NULL;
    }
    s->next = *list;
    *list = s;
    return s;
}

void metrics_event(metrics *m, ws_event_type type, prov_status status, double seconds)
{
    size_t b = 0;

    if (m == NULL)
        return;
    while (b < N_BUCKETS && seconds > buckets[b])
        b++;
    pthread_mutex_lock(&m->lock);
    if ((unsigned)type < WS_EVENT_TYPE_COUNT && (unsigned)status < 3)
        m->events[type][status]++;
    m->hist[b]++;
    m->hist_sum += seconds;
    m->hist_count++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_state_restore(metrics *m, double seconds)
{
    size_t b = 0;

    if (m == NULL)
        return;
    while (b < N_BUCKETS && seconds > buckets[b])
        b++;
    pthread_mutex_lock(&m->lock);
    m->restore_hist[b]++;
    m->restore_sum += seconds;
    m->restore_count++;
    pthread_mutex_unlock(&m->lock);
}

const char *metrics_api_name(const char *api, char *buf, size_t len)
{
    const char *at = strchr(api, '@');

    snprintf(buf, len, "%.*s", at ? (int)(at - api) : (int)strlen(api), api);
    return buf;
}

/* The labels of api (metrics_api): api="k8s" or api="k8s",cluster="east". */
static const char *api_labels(const char *api, char *buf, size_t len)
{
    const char *at = strchr(api, '@');

    if (at)
        snprintf(buf, len, "api=\"%.*s\",cluster=\"%s\"", (int)(at - api), api, at + 1);
    else
        snprintf(buf, len, "api=\"%s\"", api);
    return buf;
}

void metrics_api(metrics *m, const char *api, long code)
{
    char labels[192];

    if (m == NULL)
        return;
    api_labels(api, labels, sizeof(labels));
    pthread_mutex_lock(&m->lock);
    series *s = code > 0 ? series_get(&m->api, "%s,code=\"%ld\"", labels, code)
                         : series_get(&m->api, "%s,code=\"error\"", labels);
    if (s)
        s->value++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_api_throttled(metrics *m, const char *api)
{
    char labels[192];

    if (m == NULL)
        return;
    api_labels(api, labels, sizeof(labels));
    pthread_mutex_lock(&m->lock);
    series *s = series_get(&m->throttled, "%s", labels);
    if (s)
        s->value++;
    pthread_mutex_unlock(&m->lock);
}

/* api="k8s",kind="Role" or, with a cluster, api="k8s",cluster="east",kind="Role". */
static series *drift_series(series **list, const char *api, const char *cluster, const char *kind)
{
    if (cluster)
        return series_get(list, "api=\"%s\",cluster=\"%s\",kind=\"%s\"", api, cluster, kind);
    return series_get(list, "api=\"%s\",kind=\"%s\"", api, kind);
}

void metrics_drift_repair(metrics *m, const char *api, const char *cluster, const char *kind)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    series *s = drift_series(&m->repairs, api, cluster, kind);
    if (s)
        s->value++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_drift_fight(metrics *m, const char *api, const char *cluster, const char *kind)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    series *s = drift_series(&m->fights, api, cluster, kind);
    if (s)
        s->value++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_retry_forwarded(metrics *m, const char *tier)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    series *s = series_get(&m->forwarded, "tier=\"%s\"", tier);
    if (s)
        s->value++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_dead_lettered(metrics *m, wf_class cls)
{
    if (m == NULL || (unsigned)cls >= N_CLASSES)
        return;
    pthread_mutex_lock(&m->lock);
    m->dead_lettered[cls]++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_set_inflight(metrics *m, long n)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    m->inflight = n;
    pthread_mutex_unlock(&m->lock);
}

void metrics_set_lag(metrics *m, const char *topic, int32_t partition, int64_t lag)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    series *s = series_get(&m->lag, "topic=\"%s\",partition=\"%d\"", topic, (int)partition);
    if (s)
        s->value = lag;
    pthread_mutex_unlock(&m->lock);
}

void metrics_clear_lag(metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    series_free(m->lag);
    m->lag = NULL;
    pthread_mutex_unlock(&m->lock);
}

void metrics_rebalance(metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    m->rebalances++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_set_ready(metrics *m, int ready)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    m->ready = ready != 0;
    pthread_mutex_unlock(&m->lock);
}

uint64_t metrics_events_count(metrics *m, ws_event_type type, prov_status status)
{
    pthread_mutex_lock(&m->lock);
    uint64_t n = m->events[type][status];
    pthread_mutex_unlock(&m->lock);
    return n;
}

static void render_series(FILE *fp, const char *name, const char *type, const char *help,
                          const series *s)
{
    fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    for (; s; s = s->next)
        fprintf(fp, "%s{%s} %lld\n", name, s->labels, (long long)s->value);
}

/* Families the contract names whose recording comes with other work
 * (reconciliation, request pacing, state restore).  Declared from the
 * start, without samples (valid exposition), so that dashboards and alerts
 * refer to names every version exports. */
static const struct {
    const char *name, *type, *help;
} declared_only[] = {
    {"wsflyte_api_throttled_total", "counter",
     "Requests held back by client-side pacing or a 429 Retry-After."},
};

static void render_locked(metrics *m, FILE *fp)
{
    uint64_t cumulative = 0;

    fprintf(fp, "# HELP wsflyte_events_total Events that reached a terminal outcome.\n"
                "# TYPE wsflyte_events_total counter\n");
    for (int t = 0; t < WS_EVENT_TYPE_COUNT; t++)
        for (int s = 0; s < 3; s++)
            fprintf(fp, "wsflyte_events_total{event_type=\"%s\",status=\"%s\"} %llu\n",
                    ws_event_type_name((ws_event_type)t), prov_status_name((prov_status)s),
                    (unsigned long long)m->events[t][s]);
    fprintf(fp, "# HELP wsflyte_event_duration_seconds Time from an event's first poll to its "
                "outcome.\n# TYPE wsflyte_event_duration_seconds histogram\n");
    for (size_t b = 0; b < N_BUCKETS; b++) {
        cumulative += m->hist[b];
        fprintf(fp, "wsflyte_event_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[b],
                (unsigned long long)cumulative);
    }
    fprintf(fp, "wsflyte_event_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
            (unsigned long long)m->hist_count);
    fprintf(fp,
            "wsflyte_event_duration_seconds_sum %g\nwsflyte_event_duration_seconds_count %llu\n",
            m->hist_sum, (unsigned long long)m->hist_count);
    fprintf(fp, "# HELP wsflyte_state_restore_seconds Time to read one assigned partition's "
                "state records.\n# TYPE wsflyte_state_restore_seconds histogram\n");
    cumulative = 0;
    for (size_t b = 0; b < N_BUCKETS; b++) {
        cumulative += m->restore_hist[b];
        fprintf(fp, "wsflyte_state_restore_seconds_bucket{le=\"%g\"} %llu\n", buckets[b],
                (unsigned long long)cumulative);
    }
    fprintf(fp, "wsflyte_state_restore_seconds_bucket{le=\"+Inf\"} %llu\n",
            (unsigned long long)m->restore_count);
    fprintf(fp, "wsflyte_state_restore_seconds_sum %g\nwsflyte_state_restore_seconds_count %llu\n",
            m->restore_sum, (unsigned long long)m->restore_count);
    render_series(fp, "wsflyte_api_requests_total", "counter",
                  "Requests to FlyteAdmin and Kubernetes by status (error: no answer).", m->api);
    render_series(fp, "wsflyte_api_throttled_total", "counter",
                  "Throttling answers (429, or 503 with Retry-After) that paused an API.",
                  m->throttled);
    render_series(fp, "wsflyte_retry_forwarded_total", "counter",
                  "Records forwarded to a retry tier.", m->forwarded);
    render_series(fp, "wsflyte_drift_repairs_total", "counter",
                  "Objects repaired after another writer changed or deleted them.", m->repairs);
    render_series(fp, "wsflyte_drift_fights_total", "counter",
                  "Objects whose repairs another writer kept undoing; their repairs then back "
                  "off.",
                  m->fights);
    fprintf(fp, "# HELP wsflyte_dead_lettered_total Records sent to the dead-letter topic.\n"
                "# TYPE wsflyte_dead_lettered_total counter\n");
    for (int c = 1; c < N_CLASSES; c++)
        fprintf(fp, "wsflyte_dead_lettered_total{error_class=\"%s\"} %llu\n",
                wf_class_name((wf_class)c), (unsigned long long)m->dead_lettered[c]);
    render_series(fp, "wsflyte_consumer_lag", "gauge",
                  "Records between the committed offset and the end of each partition.", m->lag);
    fprintf(fp,
            "# HELP wsflyte_inflight_events Events being processed or awaiting delivery.\n"
            "# TYPE wsflyte_inflight_events gauge\nwsflyte_inflight_events %ld\n",
            m->inflight);
    fprintf(fp,
            "# HELP wsflyte_rebalances_total Consumer group rebalances seen.\n"
            "# TYPE wsflyte_rebalances_total counter\nwsflyte_rebalances_total %llu\n",
            (unsigned long long)m->rebalances);
    fprintf(fp,
            "# HELP wsflyte_ready 1 when ready as /readyz reports it: group joined, FlyteAdmin and "
            "Kubernetes answering.\n# TYPE wsflyte_ready gauge\nwsflyte_ready %d\n",
            m->ready);
    for (size_t i = 0; i < sizeof(declared_only) / sizeof(declared_only[0]); i++)
        fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n", declared_only[i].name, declared_only[i].help,
                declared_only[i].name, declared_only[i].type);
}

char *metrics_render(metrics *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    if (fp == NULL)
        return NULL;
    pthread_mutex_lock(&m->lock);
    render_locked(m, fp);
    pthread_mutex_unlock(&m->lock);
    fclose(fp);
    return buf;
}
