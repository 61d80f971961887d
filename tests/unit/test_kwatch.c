#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>

#include <cmocka.h>

#include "config.h"
#include "k8s.h"
#include "kwatch.h"

/* ---- A scripted API server (libmicrohttpd, a thread per connection) ----
 *
 * LIST requests take the next entry of lists[], WATCH requests (watch=1)
 * the next of watches[].  A watch entry streams its text in chunks of
 * chunk bytes (0 = one chunk), pausing between them so that the client
 * reads them separately, then closes cleanly, cuts the connection, or holds
 * it open until released or the server stops.  Requests without the
 * current token get 401 and use no entry. */

enum { END_CLOSE, END_CUT, END_HOLD };

typedef struct step {
    unsigned status;
    const char *text;
    size_t chunk;
    int end;
    const char *retry_after; /* a Retry-After header, or NULL */
} step;

typedef struct request {
    long at_ms; /* monotonic */
    char path[64];
    int watch;
    unsigned status;
    char selector[96], limit[16], cont[32], rv[32], bookmarks[16], timeout[16], auth[64];
} request;

#define MAX_STEPS    8
#define MAX_REQUESTS 64

typedef struct server {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    unsigned port;
    char token[32];
    step lists[MAX_STEPS], watches[MAX_STEPS];
    int n_lists, n_watches, next_list, next_watch;
    request reqs[MAX_REQUESTS];
    int n_reqs;
    int release; /* ends the stream that holds */
    int stopping;
} server;

typedef struct stream {
    server *s;
    step st;
    size_t off;
} stream;

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static enum MHD_Result reply_with(struct MHD_Connection *c, unsigned status, const char *body,
                                  const char *retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    MHD_add_response_header(r, "Content-Type", "application/json");
    if (retry_after)
        MHD_add_response_header(r, "Retry-After", retry_after);
    rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    MHD_add_response_header(r, "Content-Type", "application/json");
    rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static int flag(server *s, int *field)
{
    int v;

    pthread_mutex_lock(&s->lock);
    v = *field;
    pthread_mutex_unlock(&s->lock);
    return v;
}

static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream *st = cls;
    size_t len = strlen(st->st.text), n;

    (void)pos;
    if (st->off < len) {
        if (st->off > 0)
            usleep(20000);
        n = st->st.chunk ? st->st.chunk : len;
        n = n < len - st->off ? n : len - st->off;
        n = n < max ? n : max;
        memcpy(buf, st->st.text + st->off, n);
        st->off += n;
        return (ssize_t)n;
    }
    if (st->st.end == END_CUT)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (st->st.end == END_HOLD) {
        while (!flag(st->s, &st->s->stopping) && !flag(st->s, &st->s->release))
            usleep(5000);
        pthread_mutex_lock(&st->s->lock);
        st->s->release = 0;
        pthread_mutex_unlock(&st->s->lock);
        if (flag(st->s, &st->s->stopping))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static enum MHD_Result stream_reply(struct MHD_Connection *c, server *s, const step *st)
{
    stream *x = calloc(1, sizeof(*x));
    struct MHD_Response *r;
    enum MHD_Result rc;

    x->s = s;
    x->st = *st;
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, read_stream, x, free);
    MHD_add_response_header(r, "Content-Type", "application/json");
    rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
}

static void arg(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *name, char *buf,
                size_t len)
{
    const char *v = MHD_lookup_connection_value(c, kind, name);

    snprintf(buf, len, "%s", v ? v : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_len, void **con_cls)
{
    server *s = cls;
    request rq = {0};
    char want[64];
    const step *st = NULL;
    static const step none = {500, "{\"kind\":\"Status\",\"code\":500}", 0, END_CLOSE, NULL};
    static const step hold = {200, "", 0, END_HOLD, NULL};

    (void)version;
    (void)data;
    (void)data_len;
    (void)con_cls;
    arg(c, MHD_GET_ARGUMENT_KIND, "labelSelector", rq.selector, sizeof(rq.selector));
    arg(c, MHD_GET_ARGUMENT_KIND, "limit", rq.limit, sizeof(rq.limit));
    arg(c, MHD_GET_ARGUMENT_KIND, "continue", rq.cont, sizeof(rq.cont));
    arg(c, MHD_GET_ARGUMENT_KIND, "resourceVersion", rq.rv, sizeof(rq.rv));
    arg(c, MHD_GET_ARGUMENT_KIND, "allowWatchBookmarks", rq.bookmarks, sizeof(rq.bookmarks));
    arg(c, MHD_GET_ARGUMENT_KIND, "timeoutSeconds", rq.timeout, sizeof(rq.timeout));
    arg(c, MHD_HEADER_KIND, "Authorization", rq.auth, sizeof(rq.auth));
    rq.watch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch") != NULL;
    rq.at_ms = now_ms();
    snprintf(rq.path, sizeof(rq.path), "%s", url);
    if (strcmp(method, "GET") != 0 || strcmp(url, "/api/v1/configmaps") != 0) {
        pthread_mutex_lock(&s->lock);
        if (s->n_reqs < MAX_REQUESTS)
            s->reqs[s->n_reqs++] = rq;
        pthread_mutex_unlock(&s->lock);
        return reply(c, 404,
                     "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"the server "
                     "could not find the requested resource\",\"reason\":\"NotFound\","
                     "\"code\":404}");
    }
    pthread_mutex_lock(&s->lock);
    snprintf(want, sizeof(want), "Bearer %s", s->token);
    if (strcmp(rq.auth, want) != 0)
        rq.status = 401;
    else if (rq.watch)
        st = s->next_watch < s->n_watches ? &s->watches[s->next_watch++] : &hold;
    else
        st = s->next_list < s->n_lists ? &s->lists[s->next_list++] : &none;
    if (st)
        rq.status = st->status;
    if (s->n_reqs < MAX_REQUESTS)
        s->reqs[s->n_reqs++] = rq;
    pthread_mutex_unlock(&s->lock);
    if (st == NULL)
        return reply(c, 401, "{\"kind\":\"Status\",\"code\":401,\"reason\":\"Unauthorized\"}");
    if (rq.watch && st->status == 200)
        return stream_reply(c, s, st);
    return reply_with(c, st->status, st->text, st->retry_after);
}

static void server_start(server *s)
{
    struct sockaddr_in sa = {0};
    const union MHD_DaemonInfo *info;

    pthread_mutex_init(&s->lock, NULL);
    snprintf(s->token, sizeof(s->token), "t1");
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    assert_non_null(s->daemon);
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    s->port = info->port;
}

static void server_stop(server *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_mutex_unlock(&s->lock);
    MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->lock);
}

static void add_list(server *s, unsigned status, const char *text)
{
    s->lists[s->n_lists++] = (step){status, text, 0, END_CLOSE, NULL};
}

static void add_watch(server *s, unsigned status, const char *text, size_t chunk, int end)
{
    s->watches[s->n_watches++] = (step){status, text, chunk, end, NULL};
}

/* ---- Fixture: server, token file, k8s connection, recorded callbacks ---- */

#define MAX_SEEN 64

typedef struct fixture {
    server srv;
    char token_path[64];
    wf_config cfg;
    k8s *k8s;
    kwatch *w;
    pthread_mutex_t lock;
    char seen[MAX_SEEN][64];
    int n_seen;
} fixture;

static const char *const type_names[] = {"RELIST", "SYNC",     "SYNCED",
                                         "ADDED",  "MODIFIED", "DELETED"};

static void on_event(void *ud, kwatch_event_type type, const kwatch_kind *kind, const json_t *obj)
{
    fixture *f = ud;
    json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));

    if (strcmp(kind->kind, "ConfigMap") != 0)
        return; /* only the kinds_watched_cluster_wide test has others */
    assert_string_equal(kind->api_version, "v1");
    pthread_mutex_lock(&f->lock);
    if (f->n_seen < MAX_SEEN) {
        if (obj)
            snprintf(f->seen[f->n_seen++], sizeof(f->seen[0]), "%s %s@%s", type_names[type],
                     name ? name : "?", rv ? rv : "?");
        else
            snprintf(f->seen[f->n_seen++], sizeof(f->seen[0]), "%s", type_names[type]);
    }
    pthread_mutex_unlock(&f->lock);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char url[96], tok[96];
    char *envp[] = {url, tok, NULL};
    char *report = NULL;
    wf_err err;
    int fd;

    assert_non_null(f);
    pthread_mutex_init(&f->lock, NULL);
    server_start(&f->srv);
    snprintf(f->token_path, sizeof(f->token_path), "/tmp/wsflyte-kwatch-token-XXXXXX");
    fd = mkstemp(f->token_path);
    assert_true(fd >= 0);
    close(fd);
    write_file(f->token_path, "t1\n");
    snprintf(url, sizeof(url), "WSFLYTE_KUBERNETES_API_URL=http://127.0.0.1:%u", f->srv.port);
    snprintf(tok, sizeof(tok), "WSFLYTE_KUBERNETES_TOKEN_FILE=%s", f->token_path);
    wf_err_init(&err);
    if (wf_config_load(&f->cfg, NULL, envp, &report, &err) != 0)
        fail_msg("config: %s", report ? report : err.msg);
    free(report);
    f->k8s = k8s_new(&f->cfg, NULL, NULL, NULL, &err);
    assert_non_null(f->k8s);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    kwatch_free(f->w);
    k8s_free(f->k8s);
    wf_config_fini(&f->cfg);
    server_stop(&f->srv);
    unlink(f->token_path);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return 0;
}

static const kwatch_kind configmaps = {"v1", "ConfigMap"};

static void start(fixture *f, size_t max_line)
{
    kwatch_opts o = {.kinds = &configmaps,
                     .n_kinds = 1,
                     .cb = on_event,
                     .ud = f,
                     .backoff_min_ms = 20,
                     .backoff_max_ms = 100,
                     .denied_retry_ms = 50,
                     .max_line_bytes = max_line};
    wf_err err;

    wf_err_init(&err);
    f->w = kwatch_new(k8s_conn(f->k8s), &o, &err);
    if (f->w == NULL)
        fail_msg("kwatch_new: %s", err.msg);
}

static int n_seen(fixture *f)
{
    int n;

    pthread_mutex_lock(&f->lock);
    n = f->n_seen;
    pthread_mutex_unlock(&f->lock);
    return n;
}

static int n_requests(fixture *f)
{
    return flag(&f->srv, &f->srv.n_reqs);
}

/* Waits up to 5 s for *counter(f) to reach n. */
static void wait_for(fixture *f, int (*counter)(fixture *), int n, const char *what)
{
    long until = now_ms() + 5000;

    while (counter(f) < n) {
        if (now_ms() > until)
            fail_msg("timed out waiting for %d %s (have %d)", n, what, counter(f));
        usleep(5000);
    }
}

/* Asserts the callbacks seen so far, in order, are exactly want. */
static void assert_seen(fixture *f, const char *const *want, int n)
{
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < n && i < f->n_seen; i++)
        if (strcmp(f->seen[i], want[i]) != 0) {
            pthread_mutex_unlock(&f->lock);
            fail_msg("callback %d: got \"%s\", want \"%s\"", i, f->seen[i], want[i]);
        }
    if (f->n_seen != n) {
        int got = f->n_seen;
        pthread_mutex_unlock(&f->lock);
        fail_msg("got %d callbacks, want %d", got, n);
    }
    pthread_mutex_unlock(&f->lock);
}

static request req(fixture *f, int i)
{
    request r;

    pthread_mutex_lock(&f->srv.lock);
    assert_true(i < f->srv.n_reqs);
    r = f->srv.reqs[i];
    pthread_mutex_unlock(&f->srv.lock);
    return r;
}

static kwatch_stats stats(fixture *f)
{
    kwatch_stats st;

    assert_int_equal(kwatch_stats_get(f->w, 0, &st), 0);
    return st;
}

/* ---- Canned answers ---- */

#define OBJ(name, rv)                                                                              \
    "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" name                 \
    "\",\"namespace\":\"ws-1-development\",\"resourceVersion\":\"" rv                              \
    "\",\"labels\":{\"app.kubernetes.io/managed-by\":\"wsflyte\"}},\"data\":{\"k\":\"v\"}}"
#define EV(type, name, rv) "{\"type\":\"" type "\",\"object\":" OBJ(name, rv) "}\n"
#define BOOKMARK(rv)                                                                               \
    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\","             \
    "\"metadata\":{\"resourceVersion\":\"" rv "\"}}}\n"
#define EXPIRED_STATUS                                                                             \
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","           \
    "\"message\":\"too old resource version: 10 (15)\",\"reason\":\"Expired\",\"code\":410}"
#define ERROR_410 "{\"type\":\"ERROR\",\"object\":" EXPIRED_STATUS "}\n"

#define PAGE1                                                                                      \
    "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"10\","  \
    "\"continue\":\"c1\"},\"items\":[" OBJ("a", "5") "," OBJ("b", "6") "]}"
#define PAGE2                                                                                      \
    "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"10\"}," \
    "\"items\":[" OBJ("c", "7") "]}"
#define RELIST_PAGE                                                                                \
    "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"20\"}," \
    "\"items\":[" OBJ("a", "18") "]}"

static const char *const listed[] = {"RELIST", "SYNC a@5", "SYNC b@6", "SYNC c@7", "SYNCED"};

/* ---- Tests ---- */

/* Two LIST pages, then a stream whose lines span 37-byte chunks (so every
 * line is split mid-JSON): events in order, bookmark not delivered. */
static void lists_pages_then_streams_events_split_across_chunks(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {"RELIST", "SYNC a@5",   "SYNC b@6",      "SYNC c@7",
                                       "SYNCED", "ADDED d@11", "MODIFIED a@12", "DELETED b@14"};
    request r;
    kwatch_stats st;

    add_list(&f->srv, 200, PAGE1);
    add_list(&f->srv, 200, PAGE2);
    add_watch(&f->srv, 200,
              EV("ADDED", "d", "11") EV("MODIFIED", "a", "12") BOOKMARK("13")
                  EV("DELETED", "b", "14"),
              37, END_HOLD);
    start(f, 0);
    wait_for(f, n_seen, 8, "callbacks");
    assert_seen(f, want, 8);

    r = req(f, 0);
    assert_false(r.watch);
    assert_string_equal(r.selector, "app.kubernetes.io/managed-by=wsflyte");
    assert_string_equal(r.limit, "500");
    assert_string_equal(r.cont, "");
    assert_string_equal(r.auth, "Bearer t1");
    r = req(f, 1);
    assert_false(r.watch);
    assert_string_equal(r.cont, "c1");
    r = req(f, 2);
    assert_true(r.watch);
    assert_string_equal(r.rv, "10");
    assert_string_equal(r.selector, "app.kubernetes.io/managed-by=wsflyte");
    assert_string_equal(r.bookmarks, "true");
    assert_in_range(atol(r.timeout), 300, 599);

    st = stats(f);
    assert_int_equal(st.relists, 1);
    assert_int_equal(st.events, 3);
    assert_int_equal(st.reconnects, 0);
    assert_string_equal(st.last_rv, "14");
    assert_int_equal(st.synced, 1);
}

/* A stream cut inside a line, after a bookmark: the next watch resumes
 * from the bookmark's version, and nothing is missed or repeated. */
static void cut_stream_resumes_from_last_resource_version(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {"RELIST", "SYNC a@5",   "SYNC b@6",      "SYNC c@7",
                                       "SYNCED", "ADDED d@11", "MODIFIED d@13", "DELETED d@14"};
    static const char cut[] = EV("ADDED", "d", "11") BOOKMARK("12") "{\"type\":\"MODIFIED\",\"obj";
    kwatch_stats st;

    add_list(&f->srv, 200, PAGE1);
    add_list(&f->srv, 200, PAGE2);
    add_watch(&f->srv, 200, cut, 0, END_CUT);
    add_watch(&f->srv, 200, EV("MODIFIED", "d", "13") EV("DELETED", "d", "14"), 0, END_HOLD);
    start(f, 0);
    wait_for(f, n_seen, 8, "callbacks");
    assert_seen(f, want, 8);
    assert_string_equal(req(f, 2).rv, "10");
    assert_string_equal(req(f, 3).rv, "12");
    assert_true(req(f, 3).watch);
    st = stats(f);
    assert_int_equal(st.relists, 1);
    assert_int_equal(st.reconnects, 1);
    assert_int_equal(st.events, 3);
    assert_int_equal(st.failures, 1);
}

/* An ERROR event with code 410 on the stream: a full relist (RELIST, SYNC,
 * SYNCED) and a watch from the new list's version. */
static void error_event_410_relists(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {"RELIST",     "SYNC a@5", "SYNC b@6",  "SYNC c@7", "SYNCED",
                                       "ADDED d@11", "RELIST",   "SYNC a@18", "SYNCED"};

    add_list(&f->srv, 200, PAGE1);
    add_list(&f->srv, 200, PAGE2);
    add_watch(&f->srv, 200, EV("ADDED", "d", "11") ERROR_410, 0, END_HOLD);
    add_list(&f->srv, 200, RELIST_PAGE);
    start(f, 0);
    wait_for(f, n_requests, 5, "requests");
    wait_for(f, n_seen, 9, "callbacks");
    assert_seen(f, want, 9);
    assert_false(req(f, 3).watch);
    assert_string_equal(req(f, 3).cont, "");
    assert_true(req(f, 4).watch);
    assert_string_equal(req(f, 4).rv, "20");
    assert_int_equal(stats(f).relists, 2);
}

/* The watch request itself answered 410 Expired: relist. */
static void http_410_relists(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {"RELIST", "SYNC a@5", "SYNC b@6",  "SYNC c@7",
                                       "SYNCED", "RELIST",   "SYNC a@18", "SYNCED"};

    add_list(&f->srv, 200, PAGE1);
    add_list(&f->srv, 200, PAGE2);
    add_watch(&f->srv, 410, EXPIRED_STATUS, 0, END_CLOSE);
    add_list(&f->srv, 200, RELIST_PAGE);
    start(f, 0);
    wait_for(f, n_requests, 5, "requests");
    wait_for(f, n_seen, 8, "callbacks");
    assert_seen(f, want, 8);
    assert_true(req(f, 4).watch);
    assert_string_equal(req(f, 4).rv, "20");
    assert_int_equal(stats(f).relists, 2);
}

/* The token rotates while a stream is open: the next watch gets a 401, the
 * token file is read again at once (not after the 60 s re-read period) and
 * the watch resumes with the new token from where it was. */
static void unauthorized_rereads_token_file(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {"RELIST", "SYNC a@5",   "SYNC b@6",     "SYNC c@7",
                                       "SYNCED", "ADDED d@11", "MODIFIED d@12"};
    request r;

    add_list(&f->srv, 200, PAGE1);
    add_list(&f->srv, 200, PAGE2);
    add_watch(&f->srv, 200, EV("ADDED", "d", "11"), 0, END_HOLD);
    add_watch(&f->srv, 200, EV("MODIFIED", "d", "12"), 0, END_HOLD);
    start(f, 0);
    wait_for(f, n_seen, 6, "callbacks");
    write_file(f->token_path, "t2\n");
    pthread_mutex_lock(&f->srv.lock);
    snprintf(f->srv.token, sizeof(f->srv.token), "t2");
    f->srv.release = 1;
    pthread_mutex_unlock(&f->srv.lock);
    wait_for(f, n_seen, 7, "callbacks");
    assert_seen(f, want, 7);
    r = req(f, 3);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.auth, "Bearer t1");
    r = req(f, 4);
    assert_true(r.watch);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.auth, "Bearer t2");
    assert_string_equal(r.rv, "11");
}

/* A 403 on LIST (no RBAC yet) is retried slowly, without SYNCED, until it
 * is granted. */
static void forbidden_list_retried_until_granted(void **state)
{
    fixture *f = *state;
    static const char forbidden[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
        "\"configmaps is forbidden: User \\\"system:serviceaccount:flyte:wsflyte\\\" cannot list "
        "resource \\\"configmaps\\\" at the cluster scope\",\"reason\":\"Forbidden\",\"code\":403}";

    add_list(&f->srv, 403, forbidden);
    add_list(&f->srv, 403, forbidden);
    add_list(&f->srv, 200, PAGE1);
    add_list(&f->srv, 200, PAGE2);
    start(f, 0);
    wait_for(f, n_requests, 5, "requests");
    wait_for(f, n_seen, 7, "callbacks");
    {
        static const char *const want[] = {"RELIST",   "RELIST",   "RELIST", "SYNC a@5",
                                           "SYNC b@6", "SYNC c@7", "SYNCED"};
        assert_seen(f, want, 7);
    }
    assert_int_equal(req(f, 0).status, 403);
    assert_int_equal(req(f, 1).status, 403);
    assert_true(req(f, 4).watch);
    assert_int_equal(stats(f).failures, 2);
}

/* A throttled LIST (429 with Retry-After, as API priority and fairness
 * answers) waits at least that long, far beyond the 20 ms backoff, then
 * lists. */
static void throttled_list_waits_retry_after(void **state)
{
    fixture *f = *state;
    long waited;

    add_list(&f->srv, 429, "Too many requests, please try again later.");
    f->srv.lists[0].retry_after = "1";
    add_list(&f->srv, 200, PAGE1);
    add_list(&f->srv, 200, PAGE2);
    start(f, 0);
    wait_for(f, n_seen, 5, "callbacks");
    waited = req(f, 1).at_ms - req(f, 0).at_ms;
    assert_in_range(waited, 950, 3000);
    assert_int_equal(req(f, 0).status, 429);
    assert_int_equal(stats(f).failures, 1);
}

/* A line longer than the limit breaks the stream; the watch resumes from
 * the last complete event. */
static void over_long_line_breaks_stream(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {"RELIST", "SYNC a@5",   "SYNC b@6",     "SYNC c@7",
                                       "SYNCED", "ADDED d@11", "MODIFIED d@13"};
    static char big[2048];

    snprintf(big, sizeof(big),
             "%s{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"%0900d\"}}}\n",
             EV("ADDED", "d", "11"), 0);
    add_list(&f->srv, 200, PAGE1);
    add_list(&f->srv, 200, PAGE2);
    add_watch(&f->srv, 200, big, 100, END_HOLD);
    add_watch(&f->srv, 200, EV("MODIFIED", "d", "13"), 0, END_HOLD);
    start(f, 512);
    wait_for(f, n_seen, 7, "callbacks");
    assert_seen(f, want, 7);
    assert_string_equal(req(f, 3).rv, "11");
}

/* kwatch_free ends a stream on which nothing arrives within about a
 * second, and no callback runs after it. */
static void free_ends_blocked_stream_promptly(void **state)
{
    fixture *f = *state;
    long t0, took;

    add_list(&f->srv, 200, PAGE1);
    add_list(&f->srv, 200, PAGE2);
    add_watch(&f->srv, 200, "", 0, END_HOLD);
    start(f, 0);
    wait_for(f, n_requests, 3, "requests");
    wait_for(f, n_seen, 5, "callbacks");
    usleep(200000); /* the stream is idle */
    t0 = now_ms();
    kwatch_free(f->w);
    f->w = NULL;
    took = now_ms() - t0;
    print_message("kwatch_free on an idle stream took %ld ms\n", took);
    assert_in_range(took, 0, 1500);
    assert_seen(f, listed, 5);
}

/* kwatch_relist ends an idle watch promptly and lists again (a resync
 * pass), then watches from the new list's version. */
static void relist_request_ends_watch_and_lists(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {"RELIST", "SYNC a@5", "SYNC b@6",  "SYNC c@7",
                                       "SYNCED", "RELIST",   "SYNC a@18", "SYNCED"};
    long t0;

    add_list(&f->srv, 200, PAGE1);
    add_list(&f->srv, 200, PAGE2);
    add_watch(&f->srv, 200, "", 0, END_HOLD);
    add_list(&f->srv, 200, RELIST_PAGE);
    add_watch(&f->srv, 200, "", 0, END_HOLD);
    start(f, 0);
    wait_for(f, n_requests, 3, "requests");
    wait_for(f, n_seen, 5, "callbacks");
    t0 = now_ms();
    kwatch_relist(f->w);
    wait_for(f, n_seen, 8, "callbacks");
    print_message("relist after the request took %ld ms\n", now_ms() - t0);
    assert_in_range(now_ms() - t0, 0, 2500);
    assert_seen(f, want, 8);
    wait_for(f, n_requests, 5, "requests");
    assert_false(req(f, 3).watch);
    assert_true(req(f, 4).watch);
    assert_string_equal(req(f, 4).rv, "20");
    assert_int_equal(stats(f).relists, 2);
    assert_int_equal(stats(f).failures, 0);
}

/* Each kind wsflyte manages is listed at its cluster-wide collection path. */
static void kinds_listed_cluster_wide(void **state)
{
    fixture *f = *state;
    static const kwatch_kind kinds[] = {
        {"v1", "Namespace"},
        {"v1", "ResourceQuota"},
        {"v1", "LimitRange"},
        {"networking.k8s.io/v1", "NetworkPolicy"},
        {"v1", "ServiceAccount"},
        {"rbac.authorization.k8s.io/v1", "Role"},
        {"rbac.authorization.k8s.io/v1", "RoleBinding"},
        {"v1", "ConfigMap"},
    };
    static const char *const paths[] = {
        "/api/v1/namespaces",
        "/api/v1/resourcequotas",
        "/api/v1/limitranges",
        "/apis/networking.k8s.io/v1/networkpolicies",
        "/api/v1/serviceaccounts",
        "/apis/rbac.authorization.k8s.io/v1/roles",
        "/apis/rbac.authorization.k8s.io/v1/rolebindings",
        "/api/v1/configmaps",
    };
    kwatch_opts o = {.kinds = kinds, .n_kinds = 8, .cb = on_event, .ud = f};
    wf_err err;

    add_list(&f->srv, 200, PAGE1);
    add_list(&f->srv, 200, PAGE2);
    wf_err_init(&err);
    f->w = kwatch_new(k8s_conn(f->k8s), &o, &err);
    if (f->w == NULL)
        fail_msg("kwatch_new: %s", err.msg);
    wait_for(f, n_requests, 10, "requests");
    for (size_t i = 0; i < 8; i++) {
        int found = 0;
        for (int j = 0; j < n_requests(f); j++)
            found |= strcmp(req(f, j).path, paths[i]) == 0 &&
                     strcmp(req(f, j).selector, "app.kubernetes.io/managed-by=wsflyte") == 0;
        if (!found)
            fail_msg("no LIST of %s", paths[i]);
    }
    wait_for(f, n_seen, 5, "callbacks");
    assert_seen(f, listed, 5);
}

static void unknown_kind_refused(void **state)
{
    fixture *f = *state;
    static const kwatch_kind bad = {"apps/v1", "Deployment"};
    kwatch_opts o = {.kinds = &bad, .n_kinds = 1, .cb = on_event, .ud = f};
    wf_err err;

    wf_err_init(&err);
    assert_null(kwatch_new(k8s_conn(f->k8s), &o, &err));
    assert_string_equal(err.code, "k8s.kind");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(lists_pages_then_streams_events_split_across_chunks),
        T(cut_stream_resumes_from_last_resource_version),
        T(error_event_410_relists),
        T(http_410_relists),
        T(unauthorized_rereads_token_file),
        T(forbidden_list_retried_until_granted),
        T(throttled_list_waits_retry_after),
        T(over_long_line_breaks_stream),
        T(free_ends_blocked_stream_promptly),
        T(relist_request_ends_watch_and_lists),
        T(kinds_listed_cluster_wide),
        T(unknown_kind_refused),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
