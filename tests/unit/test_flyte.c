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

#include "flyte.h"

/* ---- A FlyteAdmin of canned answers (libmicrohttpd) ---- */

#define MAX_SEEN 8

typedef struct seen_request {
    char path[128];
    char limit[16], token[16], filters[64], sort_key[32], sort_dir[16], resource_type[64];
} seen_request;

typedef struct server {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    unsigned port;
    int n_projects;  /* ListProjects serves p00, p01, ... by offset */
    int echo_token;  /* answer the token asked with, whatever the page */
    unsigned status; /* answer every request with this status (0: 200) */
    size_t padding;  /* ListMatchableAttributes: bytes of padding in a row */
    int n;
    seen_request seen[MAX_SEEN];
} server;

static void arg(struct MHD_Connection *c, const char *name, char *buf, size_t len)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);

    snprintf(buf, len, "%s", v ? v : "");
}

/* A page of ListProjects as FlyteAdmin answers it: a token whenever the
 * page is full. */
static json_t *projects_page(server *s, const seen_request *q)
{
    int limit = atoi(q->limit), offset = atoi(q->token), n = 0;
    json_t *projects = json_array();
    char id[16], token[16] = "";

    for (int i = offset; i < s->n_projects && n < limit; i++, n++) {
        snprintf(id, sizeof(id), "p%02d", i);
        json_array_append_new(projects, json_pack("{s:s, s:s, s:[], s:s}", "id", id, "name", id,
                                                  "domains", "state", "ACTIVE"));
    }
    if (s->echo_token)
        snprintf(token, sizeof(token), "%s", q->token[0] ? q->token : "2");
    else if (n == limit)
        snprintf(token, sizeof(token), "%d", offset + n);
    return json_pack("{s:o, s:s}", "projects", projects, "token", token);
}

/* Every kind of row ListMatchableAttributes answers, one of each. */
static json_t *attributes_answer(server *s)
{
    char *pad = calloc(1, s->padding + 1);
    json_t *wec, *body;

    memset(pad, 'x', s->padding);
    wec =
        json_pack("{s:{s:i, s:s}}", "workflow_execution_config", "max_parallelism", 7, "pad", pad);
    free(pad);
    body = json_pack("{s:[{s:O, s:s, s:s, s:s, s:s, s:s}, {s:O, s:s, s:s, s:s, s:s, s:s},"
                     " {s:O, s:s, s:s, s:s, s:s, s:s}, {s:O, s:s, s:s, s:s, s:s, s:s}]}",
                     "configurations", "attributes", wec, "domain", "development", "project", "p01",
                     "workflow", "", "launch_plan", "", "org", "", "attributes", wec, "domain", "",
                     "project", "p01", "workflow", "", "launch_plan", "", "org", "", "attributes",
                     wec, "domain", "staging", "project", "p01", "workflow", "wf", "launch_plan",
                     "", "org", "", "attributes", wec, "domain", "staging", "project", "p02",
                     "workflow", "", "launch_plan", "", "org", "");
    json_decref(wec);
    return body;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_len, void **con_cls)
{
    server *s = cls;
    seen_request q = {0};
    struct MHD_Response *r;
    enum MHD_Result rc;
    json_t *answer;
    char *text;

    (void)method, (void)version, (void)data, (void)data_len;
    if (*con_cls == NULL) {
        *con_cls = s;
        return MHD_YES;
    }
    snprintf(q.path, sizeof(q.path), "%s", url);
    arg(c, "limit", q.limit, sizeof(q.limit));
    arg(c, "token", q.token, sizeof(q.token));
    arg(c, "filters", q.filters, sizeof(q.filters));
    arg(c, "sort_by.key", q.sort_key, sizeof(q.sort_key));
    arg(c, "sort_by.direction", q.sort_dir, sizeof(q.sort_dir));
    arg(c, "resource_type", q.resource_type, sizeof(q.resource_type));
    pthread_mutex_lock(&s->lock);
    if (s->n < MAX_SEEN)
        s->seen[s->n++] = q;
    if (s->status)
        answer =
            json_pack("{s:i, s:s, s:[]}", "code", 13, "message", "transport is closing", "details");
    else if (strcmp(url, "/api/v1/projects") == 0)
        answer = projects_page(s, &q);
    else
        answer = attributes_answer(s);
    pthread_mutex_unlock(&s->lock);
    text = json_dumps(answer, JSON_COMPACT);
    json_decref(answer);
    r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    rc = MHD_queue_response(c, s->status ? s->status : 200, r);
    MHD_destroy_response(r);
    return rc;
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
                                 on_request, s, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
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

static httpc *client(server *s)
{
    char url[64];
    httpc_opts o = {0};
    wf_err err;
    httpc *c;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u", s->port);
    o.api = "flyte";
    o.base_url = url;
    o.timeout_ms = 20000;
    wf_err_init(&err);
    c = httpc_new(&o, &err);
    assert_non_null(c);
    return c;
}

/* What the callbacks were given. */
typedef struct got {
    json_t *objs;
    int fail_at; /* the callback fails on this object (1-based; 0: never) */
} got;

static int collect(void *ud, const json_t *obj, wf_err *err)
{
    got *g = ud;

    json_array_append_new(g->objs, json_deep_copy(obj));
    if ((int)json_array_size(g->objs) == g->fail_at) {
        wf_err_set(err, WF_INTERNAL, "test.stop", "stopped at %zu", json_array_size(g->objs));
        return -1;
    }
    return 0;
}

static const char *id_at(const got *g, size_t i)
{
    return json_string_value(json_object_get(json_array_get(g->objs, i), "id"));
}

/* Pages of two until the last, short one: every state, by identifier. */
static void list_projects_pages_over_every_state_by_identifier(void **state)
{
    server *s = *state;
    httpc *c = client(s);
    got g = {json_array(), 0};
    wf_err err;

    s->n_projects = 5;
    wf_err_init(&err);
    assert_int_equal(flyte_list_projects(c, 2, collect, &g, &err), 0);
    assert_int_equal(json_array_size(g.objs), 5);
    assert_string_equal(id_at(&g, 0), "p00");
    assert_string_equal(id_at(&g, 4), "p04");
    assert_int_equal(s->n, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(s->seen[i].path, "/api/v1/projects");
        assert_string_equal(s->seen[i].limit, "2");
        assert_string_equal(s->seen[i].filters, "value_in(state,0;1;2;3)");
        assert_string_equal(s->seen[i].sort_key, "identifier");
        assert_string_equal(s->seen[i].sort_dir, "ASCENDING");
    }
    assert_string_equal(s->seen[0].token, "");
    assert_string_equal(s->seen[1].token, "2");
    assert_string_equal(s->seen[2].token, "4");
    json_decref(g.objs);
    httpc_free(c);
}

/* A full last page is followed by one empty page, which ends the listing. */
static void list_projects_ends_on_an_empty_page(void **state)
{
    server *s = *state;
    httpc *c = client(s);
    got g = {json_array(), 0};
    wf_err err;

    s->n_projects = 4;
    wf_err_init(&err);
    assert_int_equal(flyte_list_projects(c, 2, collect, &g, &err), 0);
    assert_int_equal(json_array_size(g.objs), 4);
    assert_int_equal(s->n, 3);
    assert_string_equal(s->seen[2].token, "4");
    json_decref(g.objs);
    httpc_free(c);
}

static void list_projects_refuses_a_token_that_does_not_move_on(void **state)
{
    server *s = *state;
    httpc *c = client(s);
    got g = {json_array(), 0};
    wf_err err;

    s->n_projects = 10;
    s->echo_token = 1;
    wf_err_init(&err);
    assert_int_equal(flyte_list_projects(c, 2, collect, &g, &err), -1);
    assert_string_equal(err.code, "flyte.token");
    assert_int_equal(err.cls, WF_TRANSIENT);
    assert_non_null(strstr(err.msg, "list projects"));
    assert_int_equal(s->n, 2);
    json_decref(g.objs);
    httpc_free(c);
}

static void list_projects_stops_at_a_failed_page_or_callback(void **state)
{
    server *s = *state;
    httpc *c = client(s);
    got g = {json_array(), 3};
    wf_err err;

    s->n_projects = 5;
    wf_err_init(&err);
    assert_int_equal(flyte_list_projects(c, 2, collect, &g, &err), -1);
    assert_string_equal(err.code, "test.stop");
    assert_int_equal(s->n, 2);

    s->status = 500;
    wf_err_init(&err);
    assert_int_equal(flyte_list_projects(c, 2, collect, &g, &err), -1);
    assert_string_equal(err.code, "flyte.500");
    assert_int_equal(err.cls, WF_TRANSIENT);
    assert_non_null(strstr(err.msg, "list projects"));
    json_decref(g.objs);
    httpc_free(c);
}

/* Only project-domain rows, shaped as GetProjectDomainAttributes answers. */
static void list_attributes_gives_project_domain_rows_as_get_answers(void **state)
{
    server *s = *state;
    httpc *c = client(s);
    got g = {json_array(), 0};
    json_t *want;
    wf_err err;

    wf_err_init(&err);
    assert_int_equal(flyte_list_attributes(c, "WORKFLOW_EXECUTION_CONFIG", collect, &g, &err), 0);
    assert_int_equal(s->n, 1);
    assert_string_equal(s->seen[0].path, "/api/v1/matchable_attributes");
    assert_string_equal(s->seen[0].resource_type, "WORKFLOW_EXECUTION_CONFIG");
    assert_int_equal(json_array_size(g.objs), 2);
    want = json_pack("{s:s, s:s, s:{s:{s:i, s:s}}, s:s}", "project", "p01", "domain", "development",
                     "matching_attributes", "workflow_execution_config", "max_parallelism", 7,
                     "pad", "", "org", "");
    assert_true(json_equal(json_array_get(g.objs, 0), want));
    assert_string_equal(json_string_value(json_object_get(json_array_get(g.objs, 1), "project")),
                        "p02");
    json_decref(want);
    json_decref(g.objs);
    httpc_free(c);
}

/* The one answer may pass the usual 16 MiB; the limit is raised for this
 * call only. */
static void list_attributes_takes_an_answer_over_16_mib(void **state)
{
    server *s = *state;
    httpc *c = client(s);
    got g = {json_array(), 0};
    http_response resp;
    wf_err err;

    s->padding = HTTPC_MAX_BODY_DEFAULT / 4;
    wf_err_init(&err);
    assert_int_equal(flyte_list_attributes(c, "WORKFLOW_EXECUTION_CONFIG", collect, &g, &err), 0);
    assert_int_equal(json_array_size(g.objs), 2);
    assert_int_equal(httpc_json(c, "GET", "/api/v1/matchable_attributes", NULL, NULL, &resp, &err),
                     -1);
    assert_non_null(strstr(err.msg, "larger than 16 MiB"));

    s->padding = 0;
    s->status = 503;
    wf_err_init(&err);
    assert_int_equal(flyte_list_attributes(c, "WORKFLOW_EXECUTION_CONFIG", collect, &g, &err), -1);
    assert_string_equal(err.code, "flyte.503");
    assert_non_null(strstr(err.msg, "list WORKFLOW_EXECUTION_CONFIG attributes"));
    json_decref(g.objs);
    httpc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(list_projects_pages_over_every_state_by_identifier, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(list_projects_ends_on_an_empty_page, setup, teardown),
        cmocka_unit_test_setup_teardown(list_projects_refuses_a_token_that_does_not_move_on, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(list_projects_stops_at_a_failed_page_or_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(list_attributes_gives_project_domain_rows_as_get_answers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(list_attributes_takes_an_answer_over_16_mib, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
