#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>

#include <cmocka.h>

#include "config.h"
#include "httpc.h"
#include "oauth.h"

/* Written to the secret file with surrounding whitespace; sent
 * url-encoded: "wsflyte:s3cr%3At%2F%2B%201". */
#define SECRET       "s3cr:t/+ 1"
#define BASIC_SECRET "Basic d3NmbHl0ZTpzM2NyJTNBdCUyRiUyQiUyMDE="

/* ---- A tiny authorization server (libmicrohttpd) ---- */

typedef struct server {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    unsigned port;
    /* behaviour */
    int discovery_status; /* 200 or e.g. 501 */
    int token_status;     /* 200 or an error status */
    const char *error_body;
    long expires_in; /* <= 0: omitted */
    /* observations */
    int discoveries;
    int token_requests;
    int api_calls;
    char discovery_accept[64];
    char token_auth[256];
    char token_ctype[128];
    char token_body[256];
    char api_auth[128];
    char issued[64]; /* the one token /api accepts */
} server;

typedef struct upload {
    char data[1024];
    size_t len;
} upload;

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

static void copy_header(struct MHD_Connection *c, const char *name, char *buf, size_t len)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);

    snprintf(buf, len, "%s", v ? v : "");
}

static enum MHD_Result discovery(server *s, struct MHD_Connection *c)
{
    char body[256];

    s->discoveries++;
    copy_header(c, "Accept", s->discovery_accept, sizeof(s->discovery_accept));
    if (s->discovery_status != 200)
        return reply(c, (unsigned)s->discovery_status, "{\"code\":12,\"message\":\"unknown\"}");
    snprintf(body, sizeof(body),
             "{\"issuer\":\"http://127.0.0.1:%u\",\"token_endpoint\":"
             "\"http://127.0.0.1:%u/oauth2/token\"}",
             s->port, s->port);
    return reply(c, 200, body);
}

static enum MHD_Result token(server *s, struct MHD_Connection *c, const upload *u)
{
    char body[256];

    s->token_requests++;
    copy_header(c, "Authorization", s->token_auth, sizeof(s->token_auth));
    copy_header(c, "Content-Type", s->token_ctype, sizeof(s->token_ctype));
    snprintf(s->token_body, sizeof(s->token_body), "%.*s", (int)u->len, u->data);
    if (s->token_status != 200)
        return reply(c, (unsigned)s->token_status, s->error_body ? s->error_body : "{}");
    snprintf(s->issued, sizeof(s->issued), "tok-%d", s->token_requests);
    if (s->expires_in > 0)
        snprintf(body, sizeof(body),
                 "{\"access_token\":\"%s\",\"token_type\":\"bearer\",\"expires_in\":%ld,"
                 "\"scope\":\"all\"}",
                 s->issued, s->expires_in);
    else
        snprintf(body, sizeof(body), "{\"access_token\":\"%s\",\"token_type\":\"bearer\"}",
                 s->issued);
    return reply(c, 200, body);
}

/* /api: accepts only the token issued last. */
static enum MHD_Result api(server *s, struct MHD_Connection *c)
{
    char want[80];

    s->api_calls++;
    copy_header(c, "Authorization", s->api_auth, sizeof(s->api_auth));
    snprintf(want, sizeof(want), "Bearer %s", s->issued);
    if (s->issued[0] == '\0' || strcmp(s->api_auth, want) != 0)
        return reply(c, 401, "{\"code\":16,\"message\":\"token is expired\"}");
    return reply(c, 200, "{\"ok\":true}");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_len, void **con_cls)
{
    server *s = cls;
    upload *u = *con_cls;
    enum MHD_Result rc;

    (void)version;
    if (u == NULL) {
        u = calloc(1, sizeof(*u));
        *con_cls = u;
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
    if (strcmp(url, "/.well-known/oauth-authorization-server") == 0 && strcmp(method, "GET") == 0)
        rc = discovery(s, c);
    else if (strcmp(url, "/oauth2/token") == 0 && strcmp(method, "POST") == 0)
        rc = token(s, c, u);
    else if (strcmp(url, "/api") == 0)
        rc = api(s, c);
    else
        rc = reply(c, 404, "{}");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)c;
    (void)why;
    free(*con_cls);
    *con_cls = NULL;
}

static void server_start(server *s)
{
    struct sockaddr_in sa = {0};
    const union MHD_DaemonInfo *info;

    pthread_mutex_init(&s->lock, NULL);
    s->discovery_status = 200;
    s->token_status = 200;
    s->expires_in = 3600;
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    assert_non_null(s->daemon);
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    s->port = info->port;
}

static void server_stop(server *s)
{
    MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->lock);
}

/* Reads a counter of the server under its lock. */
static int seen(server *s, const int *field)
{
    int v;

    pthread_mutex_lock(&s->lock);
    v = *field;
    pthread_mutex_unlock(&s->lock);
    return v;
}
#define SEEN(f, field) seen(&(f)->srv, &(f)->srv.field)

/* ---- Fixture: server, secret file, config, provider ---- */

typedef struct fixture {
    server srv;
    char secret_path[64];
    char config_path[64];
    wf_config cfg;
    oauth *oa;
    wf_err err;
} fixture;

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* Loads a config for the test server with extra YAML under flyte.auth. */
static void load_config(fixture *f, const char *auth_extra)
{
    char yaml[1024];
    char *const envp[] = {NULL};
    char *report = NULL;
    int fd;

    snprintf(f->config_path, sizeof(f->config_path), "/tmp/wsflyte-oauth-cfg-XXXXXX");
    fd = mkstemp(f->config_path);
    assert_true(fd >= 0);
    close(fd);
    snprintf(yaml, sizeof(yaml),
             "flyte:\n"
             "  admin_url: http://127.0.0.1:%u/\n"
             "  auth:\n"
             "    type: client_credentials\n"
             "    client_id: wsflyte\n"
             "    client_secret_file: %s\n%s",
             f->srv.port, f->secret_path, auth_extra);
    write_file(f->config_path, yaml);
    if (wf_config_load(&f->cfg, f->config_path, envp, &report, &f->err) != 0)
        fail_msg("config: %s", report ? report : f->err.msg);
    free(report);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    int fd;

    assert_non_null(f);
    server_start(&f->srv);
    snprintf(f->secret_path, sizeof(f->secret_path), "/tmp/wsflyte-oauth-secret-XXXXXX");
    fd = mkstemp(f->secret_path);
    assert_true(fd >= 0);
    close(fd);
    write_file(f->secret_path, "  " SECRET "\n\n");
    load_config(f, "");
    wf_err_init(&f->err);
    f->oa = oauth_new(&f->cfg, NULL, &f->err);
    assert_non_null(f->oa);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    oauth_free(f->oa);
    wf_config_fini(&f->cfg);
    server_stop(&f->srv);
    unlink(f->secret_path);
    unlink(f->config_path);
    free(f);
    return 0;
}

static int auth(fixture *f, int invalidate, char *buf, size_t len)
{
    wf_err_init(&f->err);
    return oauth_auth(f->oa, invalidate, buf, len, &f->err);
}

static void wait_ms(long ms)
{
    usleep((useconds_t)ms * 1000);
}

/* ---- Tests ---- */

static void discovers_endpoint_and_sends_basic_credentials(void **state)
{
    fixture *f = *state;
    char buf[128];

    assert_int_equal(auth(f, 0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "Bearer tok-1");
    assert_int_equal(SEEN(f, discoveries), 1);
    assert_string_equal(f->srv.discovery_accept, "application/json");
    assert_string_equal(f->srv.token_auth, BASIC_SECRET);
    assert_string_equal(f->srv.token_ctype, "application/x-www-form-urlencoded");
    assert_string_equal(f->srv.token_body, "grant_type=client_credentials&scope=all");
    assert_int_equal(oauth_token_requests(f->oa), 1);
}

static void configured_scopes_are_joined_with_spaces(void **state)
{
    fixture *f = *state;
    char buf[128];

    oauth_free(f->oa);
    wf_config_fini(&f->cfg);
    unlink(f->config_path);
    load_config(f, "    scopes: [all, offline]\n");
    f->oa = oauth_new(&f->cfg, NULL, &f->err);
    assert_non_null(f->oa);
    assert_int_equal(auth(f, 0, buf, sizeof(buf)), 0);
    assert_string_equal(f->srv.token_body, "grant_type=client_credentials&scope=all%20offline");
}

static void token_is_cached_across_calls(void **state)
{
    fixture *f = *state;
    char buf[128];

    for (int i = 0; i < 50; i++) {
        assert_int_equal(auth(f, 0, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "Bearer tok-1");
    }
    assert_int_equal(SEEN(f, token_requests), 1);
    assert_int_equal(SEEN(f, discoveries), 1);
}

typedef struct worker {
    fixture *f;
    int failures;
} worker;

static void *hammer(void *ud)
{
    worker *w = ud;
    char buf[128];
    wf_err err;

    for (int i = 0; i < 50; i++) {
        wf_err_init(&err);
        if (oauth_auth(w->f->oa, 0, buf, sizeof(buf), &err) != 0 ||
            strcmp(buf, "Bearer tok-1") != 0)
            w->failures++;
    }
    return NULL;
}

static void threads_share_one_token_request(void **state)
{
    fixture *f = *state;
    pthread_t t[8];
    worker w[8];

    for (int i = 0; i < 8; i++) {
        w[i] = (worker){f, 0};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(SEEN(f, token_requests), 1);
}

static void invalidate_fetches_a_new_token(void **state)
{
    fixture *f = *state;
    char buf[128];

    assert_int_equal(auth(f, 0, buf, sizeof(buf)), 0);
    /* Within OAUTH_FRESH_MS the token is the one another thread just got. */
    assert_int_equal(auth(f, 1, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "Bearer tok-1");
    wait_ms(OAUTH_FRESH_MS + 100);
    assert_int_equal(auth(f, 1, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "Bearer tok-2");
    assert_int_equal(SEEN(f, token_requests), 2);
    assert_int_equal(SEEN(f, discoveries), 1);
}

static void token_is_renewed_shortly_before_expiry(void **state)
{
    fixture *f = *state;
    char buf[128];

    f->srv.expires_in = 1; /* renewed 10% early: after 900 ms */
    assert_int_equal(auth(f, 0, buf, sizeof(buf)), 0);
    wait_ms(500);
    assert_int_equal(auth(f, 0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "Bearer tok-1");
    wait_ms(450);
    assert_int_equal(auth(f, 0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "Bearer tok-2");
}

static void rotated_secret_is_read_on_refresh(void **state)
{
    fixture *f = *state;
    char buf[128];

    assert_int_equal(auth(f, 0, buf, sizeof(buf)), 0);
    write_file(f->secret_path, "new\n");
    wait_ms(OAUTH_FRESH_MS + 100);
    assert_int_equal(auth(f, 1, buf, sizeof(buf)), 0);
    /* base64("wsflyte:new") */
    assert_string_equal(f->srv.token_auth, "Basic d3NmbHl0ZTpuZXc=");
}

static void refused_client_error_never_shows_the_secret(void **state)
{
    fixture *f = *state;
    char buf[128];

    f->srv.token_status = 401;
    f->srv.error_body = "{\"error\":\"invalid_client\","
                        "\"error_description\":\"secret " SECRET " is wrong\"}";
    assert_int_equal(auth(f, 0, buf, sizeof(buf)), -1);
    assert_int_equal(f->err.cls, WF_TRANSIENT);
    assert_string_equal(f->err.code, "flyte.auth");
    assert_non_null(strstr(f->err.msg, "/oauth2/token as client wsflyte: HTTP 401: "
                                       "invalid_client: secret *** is wrong"));
    assert_null(strstr(f->err.msg, SECRET));
    assert_null(strstr(f->err.msg, "d3NmbHl0ZT"));
}

static void auth_switched_off_is_explained(void **state)
{
    fixture *f = *state;
    char buf[128];

    f->srv.discovery_status = 501;
    assert_int_equal(auth(f, 0, buf, sizeof(buf)), -1);
    assert_non_null(strstr(f->err.msg, "HTTP 501: FlyteAdmin has authentication switched off"));
    assert_int_equal(SEEN(f, token_requests), 0);
}

static void unreadable_secret_file_is_named(void **state)
{
    fixture *f = *state;
    char buf[128];

    unlink(f->secret_path);
    assert_int_equal(auth(f, 0, buf, sizeof(buf)), -1);
    assert_int_equal(f->err.cls, WF_TRANSIENT);
    assert_non_null(strstr(f->err.msg, f->secret_path));
    assert_non_null(strstr(f->err.msg, "No such file"));
}

static void missing_expires_in_uses_a_default(void **state)
{
    fixture *f = *state;
    char buf[128];

    f->srv.expires_in = 0;
    assert_int_equal(auth(f, 0, buf, sizeof(buf)), 0);
    assert_int_equal(auth(f, 0, buf, sizeof(buf)), 0);
    assert_int_equal(SEEN(f, token_requests), 1);
}

static void unreachable_server_is_transient(void **state)
{
    fixture *f = *state;
    char buf[128];

    server_stop(&f->srv);
    assert_int_equal(auth(f, 0, buf, sizeof(buf)), -1);
    assert_int_equal(f->err.cls, WF_TRANSIENT);
    assert_non_null(strstr(f->err.msg, "flyte auth: discovery"));
    server_start(&f->srv); /* for teardown */
}

static void httpc_retries_a_401_with_a_new_token(void **state)
{
    fixture *f = *state;
    char base[64];
    httpc_opts o = {0};
    http_response r;
    httpc *h;

    snprintf(base, sizeof(base), "http://127.0.0.1:%u", f->srv.port);
    o.api = "flyte";
    o.base_url = base;
    o.auth = oauth_auth;
    o.auth_ud = f->oa;
    h = httpc_new(&o, &f->err);
    assert_non_null(h);
    assert_int_equal(httpc_json(h, "GET", "/api", NULL, NULL, &r, &f->err), 0);
    assert_int_equal(r.status, 200);
    http_response_fini(&r);
    /* The server forgets the token (revoked); the next call gets 401 once. */
    pthread_mutex_lock(&f->srv.lock);
    snprintf(f->srv.issued, sizeof(f->srv.issued), "revoked");
    pthread_mutex_unlock(&f->srv.lock);
    wait_ms(OAUTH_FRESH_MS + 100);
    assert_int_equal(httpc_json(h, "GET", "/api", NULL, NULL, &r, &f->err), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(f->srv.api_auth, "Bearer tok-2");
    assert_int_equal(SEEN(f, api_calls), 3);
    http_response_fini(&r);
    httpc_free(h);
}

static void settings_are_checked(void **state)
{
    fixture *f = *state;
    wf_config cfg;
    wf_err err;

    wf_config_defaults(&cfg);
    wf_err_init(&err);
    assert_null(oauth_new(&cfg, NULL, &err));
    assert_int_equal(err.cls, WF_CONFIG);
    assert_non_null(strstr(err.msg, "flyte.auth.type"));
    wf_config_fini(&cfg);
    (void)f;
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(discovers_endpoint_and_sends_basic_credentials),
        T(configured_scopes_are_joined_with_spaces),
        T(token_is_cached_across_calls),
        T(threads_share_one_token_request),
        T(invalidate_fetches_a_new_token),
        T(token_is_renewed_shortly_before_expiry),
        T(rotated_secret_is_read_on_refresh),
        T(refused_client_error_never_shows_the_secret),
        T(auth_switched_off_is_explained),
        T(unreadable_secret_file_is_named),
        T(missing_expires_in_uses_a_default),
        T(unreachable_server_is_transient),
        T(httpc_retries_a_401_with_a_new_token),
        T(settings_are_checked),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
