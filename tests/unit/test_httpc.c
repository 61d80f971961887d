#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>

#include <cmocka.h>

#include "httpc.h"

/* ---- A server that records what arrives (libmicrohttpd) ---- */

#define MAX_SEEN 16

typedef struct seen_request {
    char method[16];
    char url[128];
    char content_type[128];
    char auth[64];
    char body[2048];
    size_t body_len;
} seen_request;

typedef struct server {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    unsigned port;
    int connections;  /* TCP connections accepted */
    int unauthorized; /* answer this many requests 401 first */
    int n;
    seen_request seen[MAX_SEEN];
} server;

typedef struct upload {
    char data[2048];
    size_t len;
} upload;

static void copy_header(struct MHD_Connection *c, const char *name, char *buf, size_t len)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);

    snprintf(buf, len, "%s", v ? v : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_len, void **con_cls)
{
    server *s = cls;
    upload *u = *con_cls;
    struct MHD_Response *r;
    enum MHD_Result rc;
    unsigned status = 200;
    static const char answer[] = "{\"ok\":true}";

    (void)version;
    if (u == NULL) {
        *con_cls = u = calloc(1, sizeof(*u));
        return u ? MHD_YES : MHD_NO;
    }
    if (*data_len) {
        size_t n = *data_len < sizeof(u->data) - u->len ? *data_len : sizeof(u->data) - u->len;
        memcpy(u->data + u->len, data, n);
        u->len += n;
        *data_len = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&s->lock);
    if (s->n < MAX_SEEN) {
        seen_request *q = &s->seen[s->n++];
        snprintf(q->method, sizeof(q->method), "%s", method);
        snprintf(q->url, sizeof(q->url), "%s", url);
        copy_header(c, "Content-Type", q->content_type, sizeof(q->content_type));
        copy_header(c, "Authorization", q->auth, sizeof(q->auth));
        memcpy(q->body, u->data, u->len);
        q->body_len = u->len;
    }
    if (s->unauthorized > 0) {
        s->unauthorized--;
        status = 401;
    }
    pthread_mutex_unlock(&s->lock);
    if (strncmp(url, "/big/", 5) == 0) { /* an answer of that many bytes */
        size_t n = strtoul(url + 5, NULL, 10);
        char *big = malloc(n ? n : 1);
        if (big == NULL)
            return MHD_NO;
        memset(big, ' ', n);
        r = MHD_create_response_from_buffer(n, big, MHD_RESPMEM_MUST_FREE);
    } else {
        r = MHD_create_response_from_buffer(sizeof(answer) - 1, (void *)answer,
                                            MHD_RESPMEM_PERSISTENT);
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)c, (void)why;
    free(*con_cls);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    server *s = cls;

    (void)c, (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&s->lock);
        s->connections++;
        pthread_mutex_unlock(&s->lock);
    }
}

static int setup(void **state)
{
    server *s = calloc(1, sizeof(*s));
    struct sockaddr_in sa = {0};

    assert_non_null(s);
    pthread_mutex_init(&s->lock, NULL);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
    assert_non_null(s->daemon);
    s->port = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    server *s = *state;

    MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return 0;
}

static httpc *client(server *s, httpc_auth_fn auth)
{
    char url[64];
    httpc_opts o = {0};
    wf_err err;
    httpc *c;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s->port);
    o.api = "k8s";
    o.base_url = url;
    o.auth = auth;
    wf_err_init(&err);
    c = httpc_new(&o, &err);
    assert_non_null(c);
    return c;
}

static void call(httpc *c, const char *method, const char *path, const json_t *body)
{
    http_response resp;
    wf_err err;

    wf_err_init(&err);
    assert_int_equal(httpc_json(c, method, path, body, NULL, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "{\"ok\":true}");
    http_response_fini(&resp);
}

/* The request as it arrived: method, path, and its body as jansson would
 * write it (NULL: no body and no Content-Type at all). */
static void assert_seen(server *s, int i, const char *method, const char *url, const json_t *body)
{
    seen_request *q = &s->seen[i];

    assert_string_equal(q->method, method);
    assert_string_equal(q->url, url);
    if (body == NULL) {
        assert_int_equal(q->body_len, 0);
        assert_string_equal(q->content_type, "");
    } else {
        char *want = json_dumps(body, JSON_COMPACT);
        assert_non_null(want);
        assert_int_equal(q->body_len, strlen(want));
        assert_memory_equal(q->body, want, q->body_len);
        assert_string_equal(q->content_type, "application/json");
        free(want);
    }
}

/* One kept-alive handle serves every request: a request without a body
 * after one with a body goes out with its own method and nothing else. */
static void each_request_on_one_connection_carries_only_its_own_body(void **state)
{
    server *s = *state;
    httpc *c = client(s, NULL);
    json_t *apply = json_pack("{s:s, s:{s:s, s:{s:s}}, s:s}", "kind", "RoleBinding", "metadata",
                              "name", "owner-\"q\"", "labels", "wsflyte.io/user", "é\n", "x", "");
    json_t *opts =
        json_pack("{s:s, s:{s:s}}", "kind", "DeleteOptions", "preconditions", "uid", "u1");
    http_response resp;
    wf_err err;

    call(c, "PATCH", "/a", apply);
    call(c, "GET", "/b", NULL);
    call(c, "DELETE", "/c", opts);
    wf_err_init(&err);
    assert_int_equal(httpc_request(c, "DELETE", "/d", NULL, NULL, 0, &resp, &err), 0);
    http_response_fini(&resp);
    call(c, "POST", "/e", apply);
    call(c, "GET", "/f", NULL);
    assert_int_equal(s->n, 6);
    assert_seen(s, 0, "PATCH", "/a", apply);
    assert_seen(s, 1, "GET", "/b", NULL);
    assert_seen(s, 2, "DELETE", "/c", opts);
    assert_seen(s, 3, "DELETE", "/d", NULL);
    assert_seen(s, 4, "POST", "/e", apply);
    assert_seen(s, 5, "GET", "/f", NULL);
    assert_int_equal(s->connections, 1);
    httpc_free(c);
    json_decref(apply);
    json_decref(opts);
}

static int token_auth(void *ud, int invalidate, char *buf, size_t len, wf_err *err)
{
    (void)ud, (void)err;
    snprintf(buf, len, "Bearer %s", invalidate ? "fresh" : "stale");
    return 0;
}

/* A 401 is retried once with a fresh credential and the same body. */
static void a_retried_401_sends_the_same_body_again(void **state)
{
    server *s = *state;
    httpc *c = client(s, token_auth);
    json_t *body = json_pack("{s:s}", "state", "ACTIVE");

    s->unauthorized = 1;
    call(c, "PUT", "/p", body);
    call(c, "GET", "/g", NULL);
    assert_int_equal(s->n, 3);
    assert_seen(s, 0, "PUT", "/p", body);
    assert_string_equal(s->seen[0].auth, "Bearer stale");
    assert_seen(s, 1, "PUT", "/p", body);
    assert_string_equal(s->seen[1].auth, "Bearer fresh");
    assert_seen(s, 2, "GET", "/g", NULL);
    httpc_free(c);
    json_decref(body);
}

static int get(httpc *c, const char *path, size_t *len, wf_err *err)
{
    http_response resp;
    int rc;

    wf_err_init(err);
    rc = httpc_request(c, "GET", path, NULL, NULL, 0, &resp, err);
    *len = rc == 0 ? resp.len : 0;
    http_response_fini(&resp);
    return rc;
}

/* Answers over 16 MiB are refused unless the limit is raised for the call;
 * the error names the request and the limit, and the handle stays usable. */
static void the_answer_limit_is_16_mib_unless_raised_for_a_call(void **state)
{
    server *s = *state;
    httpc *c = client(s, NULL);
    char path[64];
    size_t len;
    wf_err err;

    snprintf(path, sizeof(path), "/big/%zu", HTTPC_MAX_BODY_DEFAULT + 1);
    assert_int_equal(get(c, "/big/16777216", &len, &err), 0); /* 16 MiB itself */
    assert_int_equal(get(c, path, &len, &err), -1);
    assert_string_equal(err.code, "k8s.connect");
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "the answer is larger than 16 MiB"));
    assert_int_equal(get(c, "/big/16", &len, &err), 0);
    assert_int_equal(len, 16);

    httpc_set_max_body(c, 32 * 1024 * 1024);
    assert_int_equal(get(c, path, &len, &err), 0);
    assert_int_equal(len, HTTPC_MAX_BODY_DEFAULT + 1);
    httpc_set_max_body(c, 1000);
    assert_int_equal(get(c, "/big/1001", &len, &err), -1);
    assert_non_null(strstr(err.msg, "GET /big/1001: the answer is larger than 1000 bytes"));
    assert_int_equal(get(c, "/big/1000", &len, &err), 0);
    assert_int_equal(len, 1000);

    httpc_set_max_body(c, 0); /* back to the default */
    assert_int_equal(get(c, path, &len, &err), -1);
    assert_non_null(strstr(err.msg, "larger than 16 MiB"));
    httpc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(each_request_on_one_connection_carries_only_its_own_body,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_retried_401_sends_the_same_body_again, setup, teardown),
        cmocka_unit_test_setup_teardown(the_answer_limit_is_16_mib_unless_raised_for_a_call, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
