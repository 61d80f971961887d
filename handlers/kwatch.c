/* LIST then WATCH per kind on its own thread and curl handle, as client-go's
 * reflector does: paginated relists, resumable watches, 410 relists,
 * backoff, and a stop flag that ends a blocked stream promptly. */
#include "kwatch.h"

#include "k8s.h"
#include "log.h"

#include <curl/curl.h>
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KW_DEFAULT_SELECTOR "app.kubernetes.io/managed-by=wsflyte"
#define KW_RV_MAX           64
#define KW_PATH_MAX         512
#define KW_ERR_BODY_MAX     (64 * 1024)
#define KW_LIST_BODY_MAX    ((size_t)64 * 1024 * 1024)
#define KW_LIST_TIMEOUT_MS  60000L
/* A watch that ran this long, or delivered anything, was healthy. */
#define KW_HEALTHY_MS 10000L

typedef enum outcome {
    OUT_OK,           /* list complete, or a healthy watch ended cleanly */
    OUT_BROKEN,       /* transport error, cut stream, bad line, 5xx, 429 */
    OUT_GONE,         /* 410: the resourceVersion is too old, relist */
    OUT_UNAUTHORIZED, /* 401: re-read the token */
    OUT_DENIED,       /* 403, 404: RBAC or a missing CRD */
    OUT_STOPPED,
    OUT_RELIST, /* kwatch_relist asked for a fresh list */
} outcome;

typedef struct watcher {
    kwatch *w;
    size_t index;
    kwatch_kind kind; /* strings owned */
    char path[KW_PATH_MAX];
    pthread_t thread;
    int started;
    atomic_int relist_req; /* kwatch_relist: end the watch, list again */
    CURL *curl;
    unsigned seed;
    /* Thread-only state. */
    char rv[KW_RV_MAX];
    long backoff_ms;
    long retry_after_ms; /* of the last answer, or -1 */
    int invalidate;      /* the next request asks for a fresh credential */
    int unauthorized;    /* the previous request got a 401 */
    int denied_logged;   /* a 403/404 was logged and nothing has worked since */
    char curl_error[CURL_ERROR_SIZE];
    kwatch_stats stats; /* under w->lock */
} watcher;

struct kwatch {
    httpc_opts conn; /* borrowed pointers */
    kwatch_opts opts;
    char *selector; /* escaped for a query */
    atomic_int stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    watcher *ws;
    size_t n;
};

/* One request's answer: a LIST body, or a watch stream cut into lines. */
typedef struct xfer {
    watcher *wt;
    int watch;
    long status;
    char *buf; /* LIST or error body; for a watch, the unfinished line */
    size_t len, cap, max;
    long retry_after_ms;
    int lines;     /* watch lines handled, bookmarks included */
    int gone;      /* an ERROR event with code 410 */
    int answered;  /* the pacer has heard the answer's status */
    char why[256]; /* why the stream was abandoned */
} xfer;

static int stopping(kwatch *w)
{
    return atomic_load(&w->stop);
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Waits ms or until kwatch_free.  Returns nonzero when stopping. */
static int nap(kwatch *w, long ms)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (!stopping(w) && pthread_cond_timedwait(&w->wake, &w->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&w->lock);
    return stopping(w);
}

static void deliver(watcher *wt, kwatch_event_type type, const json_t *obj)
{
    wt->w->opts.cb(wt->w->opts.ud, type, &wt->kind, obj);
}

static void set_rv(watcher *wt, const char *rv)
{
    if (rv == NULL || rv[0] == '\0' || strlen(rv) >= KW_RV_MAX)
        return;
    snprintf(wt->rv, sizeof(wt->rv), "%s", rv);
    pthread_mutex_lock(&wt->w->lock);
    snprintf(wt->stats.last_rv, sizeof(wt->stats.last_rv), "%s", rv);
    pthread_mutex_unlock(&wt->w->lock);
}

static void count(watcher *wt, unsigned long *field)
{
    pthread_mutex_lock(&wt->w->lock);
    (*field)++;
    pthread_mutex_unlock(&wt->w->lock);
}

static const char *obj_rv(const json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

/* ---- the watch stream: one JSON event per line ---- */

/* Handles one complete line.  Returns 0, or -1 to abandon the stream (why
 * or gone set). */
static int handle_line(xfer *x, const char *s, size_t n)
{
    watcher *wt = x->wt;
    static const struct {
        const char *name;
        kwatch_event_type type;
    } types[] = {
        {"ADDED", KWATCH_ADDED}, {"MODIFIED", KWATCH_MODIFIED}, {"DELETED", KWATCH_DELETED}};
    json_error_t jerr;
    json_t *ev, *obj;
    const char *type;
    int rc = -1;

    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0)
        return 0;
    ev = json_loadb(s, n, 0, &jerr);
    type = json_string_value(json_object_get(ev, "type"));
    obj = json_object_get(ev, "object");
    x->lines++;
    if (type == NULL || !json_is_object(obj)) {
        snprintf(x->why, sizeof(x->why), "not a watch event: %s",
                 ev ? "no type/object" : jerr.text);
    } else if (strcmp(type, "BOOKMARK") == 0) {
        set_rv(wt, obj_rv(obj));
        rc = 0;
    } else if (strcmp(type, "ERROR") == 0) {
        /* The server's way to say "too old" on an open stream. */
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        const char *msg = json_string_value(json_object_get(obj, "message"));
        x->gone = code == 410;
        snprintf(x->why, sizeof(x->why), "ERROR event %lld: %.200s", (long long)code,
                 msg ? msg : "");
    } else {
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
            if (strcmp(type, types[i].name) == 0) {
                deliver(wt, types[i].type, obj);
                count(wt, &wt->stats.events);
                set_rv(wt, obj_rv(obj));
                rc = 0;
                break;
            }
        }
        if (rc != 0)
            snprintf(x->why, sizeof(x->why), "unknown event type %.40s", type);
    }
    json_decref(ev);
    return rc;
}

/* Appends to x->buf.  Returns 0, or -1 when it would exceed x->max or
 * memory runs out. */
static int buf_append(xfer *x, const char *p, size_t n)
{
    if (x->len + n + 1 > x->max)
        return -1;
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 16384;
        char *q;
        while (cap < x->len + n + 1)
            cap *= 2;
        if ((q = realloc(x->buf, cap)) == NULL)
            return -1;
        x->buf = q;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, p, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return 0;
}

/* Feeds a chunk of the stream: a line may end in a later chunk, so the
 * unfinished tail waits in x->buf.  Returns 0, or -1 to abandon. */
static int feed_lines(xfer *x, const char *p, size_t n)
{
    const char *nl;

    while ((nl = memchr(p, '\n', n)) != NULL) {
        size_t part = (size_t)(nl - p) + 1;
        int rc;
        if (x->len > 0) {
            if (buf_append(x, p, part) != 0)
                goto too_long;
            rc = handle_line(x, x->buf, x->len);
            x->len = 0;
        } else {
            if (part > x->max)
                goto too_long;
            rc = handle_line(x, p, part);
        }
        if (rc != 0)
            return -1;
        p += part;
        n -= part;
    }
    if (n > 0 && buf_append(x, p, n) != 0)
        goto too_long;
    return 0;
too_long:
    snprintf(x->why, sizeof(x->why), "a watch line over %zu bytes", x->max);
    return -1;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;

    if (stopping(x->wt->w))
        return 0;
    if (x->status == 0)
        curl_easy_getinfo(x->wt->curl, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->status != 200) {
        /* An error body: keep its start for the log line. */
        x->max = KW_ERR_BODY_MAX;
        size_t room = x->len + 1 < x->max ? x->max - x->len - 1 : 0;
        if (buf_append(x, p, n < room ? n : room) != 0)
            return 0;
        return n;
    }
    if (x->watch)
        return feed_lines(x, p, n) == 0 ? n : 0;
    if (buf_append(x, p, n) != 0) {
        snprintf(x->why, sizeof(x->why), "a LIST page over %zu bytes", x->max);
        return 0;
    }
    return n;
}

/* Retry-After in delay-seconds, as the API server and APF send it. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    char num[16];
    size_t i = sizeof(name) - 1, j = 0;

    if (n <= 2 && !x->answered) {
        /* The end of the headers: a stream's status is its answer (the
         * pacer must not wait for the stream's end). */
        long status = 0;
        curl_easy_getinfo(x->wt->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200) { /* not a 100 Continue */
            x->answered = 1;
            pacer_answered(x->wt->w->conn.pacer, status, x->retry_after_ms);
        }
        return n;
    }
    if (n <= i || strncasecmp(p, name, i) != 0)
        return n;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    while (i < n && j + 1 < sizeof(num) && isdigit((unsigned char)p[i]))
        num[j++] = p[i++];
    num[j] = '\0';
    if (j > 0) /* at most an hour, as httpc reads it */
        x->retry_after_ms = (j < 5 && atol(num) < 3600 ? atol(num) : 3600) * 1000L;
    return n;
}

/* curl calls this about once a second even on a silent stream: a stop,
 * or a relist asked for during a watch, ends it. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    xfer *x = ud;

    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return stopping(x->wt->w) || (x->watch && atomic_load(&x->wt->relist_req));
}

/* ---- requests ---- */

static void set_tls(watcher *wt)
{
    const httpc_opts *c = &wt->w->conn;
    CURL *h = wt->curl;
    struct curl_blob b;

    /* A blob replaces the file of the same kind, as in httpc. */
    if (c->ca_pem) {
        b = (struct curl_blob){(void *)c->ca_pem, c->ca_pem_len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    } else if (c->ca_file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    }
    if (c->client_cert_pem) {
        b = (struct curl_blob){(void *)c->client_cert_pem, c->client_cert_pem_len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
    } else if (c->client_cert) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->client_cert);
    }
    if (c->client_key_pem) {
        b = (struct curl_blob){(void *)c->client_key_pem, c->client_key_pem_len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
    } else if (c->client_key) {
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->client_key);
    }
}

/* Accept plus, when there is a provider, Authorization (a secret: the local
 * copies are wiped).  Returns NULL with x->why set when no credential can
 * be had. */
static struct curl_slist *headers(watcher *wt, xfer *x)
{
    const httpc_opts *c = &wt->w->conn;
    struct curl_slist *list = curl_slist_append(NULL, "Accept: application/json");
    char value[4096] = "", line[4096 + 32];
    wf_err err;

    wf_err_init(&err);
    if (c->auth && c->auth(c->auth_ud, wt->invalidate, value, sizeof(value), &err) != 0) {
        snprintf(x->why, sizeof(x->why), "no credential: %.200s", err.msg);
        curl_slist_free_all(list);
        return NULL;
    }
    wt->invalidate = 0;
    if (value[0]) {
        snprintf(line, sizeof(line), "Authorization: %s", value);
        list = curl_slist_append(list, line);
        memset(line, 0, sizeof(line));
        memset(value, 0, sizeof(value));
    }
    return list;
}

/* GETs base URL + target into x.  Returns the outcome by status; OUT_OK
 * for a 200 that curl finished cleanly. */
static outcome get(watcher *wt, const char *target, long timeout_ms, xfer *x)
{
    const httpc_opts *c = &wt->w->conn;
    struct curl_slist *hdrs;
    char *url;
    CURL *h = wt->curl;
    CURLcode rc;

    x->retry_after_ms = -1;
    /* Paced with the API's other requests (client-go's rate limiter covers
     * LIST and WATCH too), behind events. */
    if (pacer_acquire(c->pacer, PACER_BACKGROUND) != 0) {
        snprintf(x->why, sizeof(x->why), "the pacer gave up (stopping)");
        return stopping(wt->w) ? OUT_STOPPED : OUT_BROKEN;
    }
    if ((hdrs = headers(wt, x)) == NULL) {
        pacer_answered(c->pacer, 0, -1);
        return OUT_BROKEN;
    }
    if (asprintf(&url, "%s%s", c->base_url, target) < 0) {
        pacer_answered(c->pacer, 0, -1);
        curl_slist_free_all(hdrs);
        snprintf(x->why, sizeof(x->why), "out of memory");
        return OUT_BROKEN;
    }
    curl_easy_reset(h);
    wt->curl_error[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, wt->curl_error);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     c->connect_timeout_ms > 0 ? c->connect_timeout_ms : 3000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    set_tls(wt);
    rc = curl_easy_perform(h);
    if (!x->answered) {
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        pacer_answered(c->pacer, status, x->retry_after_ms);
    }
    curl_slist_free_all(hdrs);
    free(url);
    wt->retry_after_ms = x->retry_after_ms;
    if (x->status == 0)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
    if (c->observer)
        c->observer(c->observer_ud,
                    c->observed_as ? c->observed_as
                    : c->api       ? c->api
                                   : "k8s",
                    x->status);
    if (stopping(wt->w))
        return OUT_STOPPED;
    if (x->gone)
        return OUT_GONE;
    if (x->status == 401)
        return OUT_UNAUTHORIZED;
    if (x->status == 403 || x->status == 404)
        return OUT_DENIED;
    if (x->status == 410)
        return OUT_GONE;
    if (rc != CURLE_OK && x->why[0] == '\0')
        snprintf(x->why, sizeof(x->why), "%s",
                 wt->curl_error[0] ? wt->curl_error : curl_easy_strerror(rc));
    if (rc != CURLE_OK)
        return OUT_BROKEN;
    if (x->status != 200) {
        snprintf(x->why, sizeof(x->why), "HTTP %ld: %.200s", x->status, x->buf ? x->buf : "");
        return OUT_BROKEN;
    }
    return OUT_OK;
}

/* The server's own words from an error body: a Status's message, else the
 * start of the text. */
static void server_message(const xfer *x, char *buf, size_t len)
{
    json_t *st = json_loadb(x->buf ? x->buf : "", x->len, 0, NULL);
    const char *msg = json_string_value(json_object_get(st, "message"));

    snprintf(buf, len, "%.200s", msg ? msg : x->buf ? x->buf : "");
    json_decref(st);
}

/* Logs a 403/404 once per episode: it needs an operator, not a retry. */
static void log_denied(watcher *wt, const xfer *x)
{
    char msg[256], every[32];

    if (wt->denied_logged)
        return;
    wt->denied_logged = 1;
    server_message(x, msg, sizeof(msg));
    wf_duration_format(wt->w->opts.denied_retry_ms, every, sizeof(every));
    log_error(LOG_CTX_NONE, "watch %s %s: HTTP %ld on %s (%s): %s; retrying every %s",
              wt->kind.kind, wt->kind.api_version, x->status, wt->path,
              x->status == 403 ? "RBAC: wsflyte needs list and watch on this kind"
                               : "kind not served: CRD not installed?",
              msg, every);
}

/* Logs what ended a request or stream that did not succeed. */
static void log_outcome(watcher *wt, outcome o, const char *what, const xfer *x)
{
    if (o == OUT_DENIED)
        log_denied(wt, x);
    else if (o == OUT_UNAUTHORIZED)
        log_info(LOG_CTX_NONE, "watch %s: %s: 401: reading the token again", wt->kind.kind, what);
    else if (o == OUT_GONE)
        log_info(LOG_CTX_NONE, "watch %s: %s: resourceVersion %s is gone (410): relisting",
                 wt->kind.kind, what, wt->rv);
    else if (o == OUT_BROKEN)
        log_warn(LOG_CTX_NONE, "watch %s: %s%s%s failed: %s", wt->kind.kind, what,
                 wt->rv[0] ? " from resourceVersion " : "", wt->rv, x->why);
}

/* ---- list and watch ---- */

/* One LIST page: delivers its items, takes its resourceVersion, and sets
 * *next to the continue token (malloc'd) or NULL after the last page. */
static outcome list_page(watcher *wt, const char *cont, char **next, size_t *n_items)
{
    kwatch *w = wt->w;
    xfer x = {.wt = wt, .max = KW_LIST_BODY_MAX};
    char *target = NULL, *econt = cont ? httpc_escape(cont) : NULL;
    json_t *list = NULL, *item;
    outcome o;
    size_t i;

    *next = NULL;
    if ((cont && econt == NULL) ||
        asprintf(&target, "%s?labelSelector=%s&limit=%ld%s%s", wt->path, w->selector,
                 w->opts.page_limit, cont ? "&continue=" : "", cont ? econt : "") < 0) {
        free(econt);
        return OUT_BROKEN;
    }
    free(econt);
    o = get(wt, target, KW_LIST_TIMEOUT_MS, &x);
    free(target);
    if (o == OUT_OK) {
        list = json_loadb(x.buf ? x.buf : "", x.len, 0, NULL);
        if (!json_is_array(json_object_get(list, "items"))) {
            snprintf(x.why, sizeof(x.why), "LIST answer without an items array");
            o = OUT_BROKEN;
        }
    }
    if (o == OUT_OK) {
        json_t *meta = json_object_get(list, "metadata");
        const char *c = json_string_value(json_object_get(meta, "continue"));
        json_array_foreach(json_object_get(list, "items"), i, item)
        {
            deliver(wt, KWATCH_SYNC, item);
        }
        *n_items += json_array_size(json_object_get(list, "items"));
        set_rv(wt, json_string_value(json_object_get(meta, "resourceVersion")));
        if (c && c[0])
            *next = strdup(c);
    } else if (o == OUT_GONE) {
        snprintf(x.why, sizeof(x.why), "continue token expired (410)");
        o = OUT_BROKEN;
    }
    if (o != OUT_OK)
        log_outcome(wt, o, "LIST", &x);
    json_decref(list);
    free(x.buf);
    return o;
}

/* A full paginated LIST, framed by RELIST and SYNCED. */
static outcome relist(watcher *wt)
{
    char *cont = NULL, *next = NULL;
    size_t items = 0, pages = 0;
    outcome o;

    wt->rv[0] = '\0';
    atomic_store(&wt->relist_req, 0); /* this list answers every earlier request */
    deliver(wt, KWATCH_RELIST, NULL);
    do {
        o = list_page(wt, cont, &next, &items);
        free(cont);
        cont = next;
        pages++;
    } while (o == OUT_OK && cont);
    free(cont);
    if (o != OUT_OK)
        return o;
    if (wt->rv[0] == '\0') {
        log_warn(LOG_CTX_NONE, "watch %s: LIST %s gave no resourceVersion", wt->kind.kind,
                 wt->path);
        return OUT_BROKEN;
    }
    deliver(wt, KWATCH_SYNCED, NULL);
    pthread_mutex_lock(&wt->w->lock);
    wt->stats.relists++;
    wt->stats.synced = 1;
    pthread_mutex_unlock(&wt->w->lock);
    log_info(LOG_CTX_NONE, "watch %s: listed %zu objects in %zu pages at resourceVersion %s",
             wt->kind.kind, items, pages, wt->rv);
    return OUT_OK;
}

/* One WATCH from wt->rv until the server ends it or it breaks. */
static outcome watch_once(watcher *wt)
{
    kwatch *w = wt->w;
    long timeout_s = w->opts.watch_timeout_s;
    xfer x = {.wt = wt, .watch = 1, .max = w->opts.max_line_bytes};
    char *target, *erv = httpc_escape(wt->rv);
    long started = now_ms();
    outcome o;

    /* Spread the reconnects of many replicas, as client-go does. */
    timeout_s += (long)(rand_r(&wt->seed) % (unsigned)timeout_s);
    if (erv == NULL || asprintf(&target,
                                "%s?watch=1&labelSelector=%s&resourceVersion=%s"
                                "&allowWatchBookmarks=true&timeoutSeconds=%ld",
                                wt->path, w->selector, erv, timeout_s) < 0) {
        free(erv);
        return OUT_BROKEN;
    }
    free(erv);
    log_info(LOG_CTX_NONE, "watch %s: watching from resourceVersion %s", wt->kind.kind, wt->rv);
    /* The server ends the stream at timeoutSeconds; curl's limit only
     * catches a connection that died silently. */
    o = get(wt, target, (timeout_s + 30) * 1000L, &x);
    free(target);
    if (o != OUT_STOPPED && atomic_load(&wt->relist_req)) {
        free(x.buf);
        return OUT_RELIST;
    }
    if (o == OUT_OK && x.len > 0) {
        snprintf(x.why, sizeof(x.why), "stream ended inside a line");
        o = OUT_BROKEN;
    }
    if (o == OUT_OK && x.lines == 0 && now_ms() - started < KW_HEALTHY_MS) {
        snprintf(x.why, sizeof(x.why), "stream ended at once without an event");
        o = OUT_BROKEN;
    }
    if (o != OUT_OK)
        log_outcome(wt, o, "WATCH", &x);
    free(x.buf);
    return o;
}

/* How long to wait after o: nothing after success or a first 401, the
 * backoff (doubling, capped, half of it random) after a failure, longer when
 * the server asked for it. */
static long next_delay(watcher *wt, outcome o, long retry_after_ms)
{
    const kwatch_opts *op = &wt->w->opts;
    long d;

    if (o == OUT_OK || o == OUT_GONE || (o == OUT_UNAUTHORIZED && !wt->unauthorized)) {
        if (o == OUT_OK)
            wt->backoff_ms = 0;
        return 0;
    }
    if (o == OUT_DENIED)
        return op->denied_retry_ms;
    wt->backoff_ms = wt->backoff_ms ? wt->backoff_ms * 2 : op->backoff_min_ms;
    if (wt->backoff_ms > op->backoff_max_ms)
        wt->backoff_ms = op->backoff_max_ms;
    d = wt->backoff_ms / 2 + (long)(rand_r(&wt->seed) % (unsigned)(wt->backoff_ms / 2 + 1));
    return retry_after_ms > d ? retry_after_ms : d;
}

static void *watch_main(void *arg)
{
    watcher *wt = arg;
    kwatch *w = wt->w;
    int listed = 0, watched = 0;

    while (!stopping(w)) {
        outcome o;
        if (!listed) {
            o = relist(wt);
            listed = o == OUT_OK;
            watched = 0;
        } else {
            if (watched++)
                count(wt, &wt->stats.reconnects);
            o = watch_once(wt);
            listed = o != OUT_GONE && o != OUT_RELIST;
        }
        if (o == OUT_STOPPED)
            break;
        if (o == OUT_RELIST)
            continue;
        if (o != OUT_OK && o != OUT_GONE)
            count(wt, &wt->stats.failures);
        if (o == OUT_OK)
            wt->denied_logged = 0;
        wt->invalidate = o == OUT_UNAUTHORIZED;
        long d = next_delay(wt, o, wt->retry_after_ms);
        wt->unauthorized = o == OUT_UNAUTHORIZED;
        if (d > 0) {
            if (o != OUT_DENIED)
                log_info(LOG_CTX_NONE, "watch %s: retrying in %ld ms", wt->kind.kind, d);
            if (nap(w, d))
                break;
        }
    }
    return NULL;
}

/* ---- lifetime ---- */

static void defaults(kwatch_opts *o)
{
    if (o->watch_timeout_s <= 0)
        o->watch_timeout_s = 300;
    if (o->page_limit <= 0)
        o->page_limit = 500;
    if (o->backoff_min_ms <= 0)
        o->backoff_min_ms = 500;
    if (o->backoff_max_ms <= 0)
        o->backoff_max_ms = 30000;
    if (o->backoff_max_ms < o->backoff_min_ms)
        o->backoff_max_ms = o->backoff_min_ms;
    if (o->denied_retry_ms <= 0)
        o->denied_retry_ms = 60000;
    if (o->max_line_bytes == 0)
        o->max_line_bytes = (size_t)4 * 1024 * 1024;
}

static int watcher_init(kwatch *w, watcher *wt, size_t i, const kwatch_kind *k, wf_err *err)
{
    wt->w = w;
    wt->index = i;
    wt->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(i * 2654435761u);
    if (k->api_version == NULL || k->kind == NULL ||
        k8s_path(k->api_version, k->kind, NULL, NULL, wt->path, sizeof(wt->path)) != 0) {
        wf_err_set(err, WF_CONFIG, "k8s.kind", "watch: kind %s %s is not one wsflyte manages",
                   k->api_version ? k->api_version : "?", k->kind ? k->kind : "?");
        return -1;
    }
    wt->kind.api_version = strdup(k->api_version);
    wt->kind.kind = strdup(k->kind);
    wt->curl = curl_easy_init();
    if (wt->kind.api_version == NULL || wt->kind.kind == NULL || wt->curl == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "watch %s: out of memory", k->kind);
        return -1;
    }
    return 0;
}

kwatch *kwatch_new(const httpc_opts *conn, const kwatch_opts *opts, wf_err *err)
{
    kwatch *w = calloc(1, sizeof(*w));
    pthread_condattr_t ca;

    if (w == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "watch: out of memory");
        return NULL;
    }
    if (opts->cb == NULL || conn->base_url == NULL) {
        wf_err_set(err, WF_INTERNAL, "watch.opts", "watch: no callback or no API server URL");
        free(w);
        return NULL;
    }
    w->conn = *conn;
    w->opts = *opts;
    w->opts.kinds = NULL;
    defaults(&w->opts);
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    w->selector = httpc_escape(opts->selector ? opts->selector : KW_DEFAULT_SELECTOR);
    w->ws = calloc(opts->n_kinds ? opts->n_kinds : 1, sizeof(*w->ws));
    if (w->selector == NULL || w->ws == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "watch: out of memory");
        kwatch_free(w);
        return NULL;
    }
    for (w->n = 0; w->n < opts->n_kinds; w->n++)
        if (watcher_init(w, &w->ws[w->n], w->n, &opts->kinds[w->n], err) != 0) {
            w->n++; /* so that kwatch_free releases it */
            kwatch_free(w);
            return NULL;
        }
    for (size_t i = 0; i < w->n; i++) {
        if (pthread_create(&w->ws[i].thread, NULL, watch_main, &w->ws[i]) != 0) {
            wf_err_set(err, WF_INTERNAL, "thread", "watch %s: cannot start a thread",
                       w->ws[i].kind.kind);
            kwatch_free(w);
            return NULL;
        }
        w->ws[i].started = 1;
    }
    return w;
}

void kwatch_free(kwatch *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->stop, 1);
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < w->n; i++) {
        watcher *wt = &w->ws[i];
        if (wt->started)
            pthread_join(wt->thread, NULL);
        if (wt->curl)
            curl_easy_cleanup(wt->curl);
        free((char *)wt->kind.api_version);
        free((char *)wt->kind.kind);
    }
    free(w->ws);
    free(w->selector);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void kwatch_relist(kwatch *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++)
        atomic_store(&w->ws[i].relist_req, 1);
}

int kwatch_stats_get(kwatch *w, size_t i, kwatch_stats *out)
{
    if (w == NULL || i >= w->n)
        return -1;
    pthread_mutex_lock(&w->lock);
    *out = w->ws[i].stats;
    pthread_mutex_unlock(&w->lock);
    return 0;
}
