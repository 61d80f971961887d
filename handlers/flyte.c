/* The FlyteAdmin REST calls wsflyte makes, and the reading of their
 * answers (FlyteAdmin's own not-found versus a gateway's 404). */
#include "flyte.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int call(httpc *h, const char *method, const char *path, const json_t *body,
                http_response *resp, wf_err *err)
{
    return httpc_json(h, method, path, body, NULL, resp, err);
}

/* True when a 404 is FlyteAdmin's own answer that project id does not
 * exist: a google.rpc.Status with code 5 (NotFound) and the message its
 * project manager writes.  grpc-gateway's unknown-route 404 ({"code":5,
 * "message":"Not Found"}) and an ingress's HTML 404 say nothing about the
 * project; reading them as "absent" would skip the archive. */
static int project_not_found(const http_response *resp, const char *id)
{
    json_t *st = resp->status == 404 ? http_response_json(resp) : NULL;
    json_t *code = json_object_get(st, "code");
    const char *msg = json_string_value(json_object_get(st, "message"));
    char want[256];
    int yes;

    snprintf(want, sizeof(want), "project [%s] not found", id);
    yes = json_is_integer(code) && json_integer_value(code) == 5 && msg && strcmp(msg, want) == 0;
    json_decref(st);
    return yes;
}

int flyte_get_project(httpc *h, const char *id, json_t **project, wf_err *err)
{
    char path[512];
    http_response resp;
    char *eid = httpc_escape(id);
    int rc = -1;

    *project = NULL;
    snprintf(path, sizeof(path), "/api/v1/projects/%s", eid ? eid : "");
    free(eid);
    if (call(h, "GET", path, NULL, &resp, err) != 0)
        return -1;
    if (project_not_found(&resp, id)) {
        rc = 0;
    } else if (resp.status == 404) {
        wf_err_set(err, WF_TRANSIENT, "flyte.404",
                   "get project %s: 404 that is not FlyteAdmin's \"project not found\" (a "
                   "gateway or ingress route?): %.200s",
                   id, resp.body ? resp.body : "");
    } else if (resp.status == 200) {
        *project = http_response_json(&resp);
        if (*project && json_is_object(*project))
            rc = 0;
        else
            wf_err_set(err, WF_TRANSIENT, "flyte.body", "GET %s: answer is not a JSON object",
                       path);
    } else {
        httpc_classify("flyte", &resp, path, err);
        wf_err_prefix(err, "get project %s", id);
    }
    if (rc != 0) {
        json_decref(*project);
        *project = NULL;
    }
    http_response_fini(&resp);
    return rc;
}

int flyte_register_project(httpc *h, const json_t *project, int *exists, wf_err *err)
{
    http_response resp;
    json_t *body = json_pack("{s:O}", "project", (json_t *)project);
    int rc = -1;

    *exists = 0;
    if (body == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "register project: out of memory");
        return -1;
    }
    if (call(h, "POST", "/api/v1/projects", body, &resp, err) == 0) {
        if (resp.status == 200) {
            rc = 0;
        } else if (resp.status == 409) {
            *exists = 1; /* already there: the caller reads it back */
            rc = 0;
        } else {
            httpc_classify("flyte", &resp, "POST /api/v1/projects", err);
            wf_err_prefix(err, "register project %s",
                          json_string_value(json_object_get(project, "id")));
        }
        http_response_fini(&resp);
    }
    json_decref(body);
    return rc;
}

int flyte_update_project(httpc *h, const json_t *project, wf_err *err)
{
    const char *id = json_string_value(json_object_get(project, "id"));
    char path[512];
    http_response resp;
    char *eid;
    int rc = -1;

    if (id == NULL || !json_is_string(json_object_get(project, "state"))) {
        wf_err_set(err, WF_INTERNAL, "flyte.state",
                   "update project %s: body without state would un-archive it",
                   id ? id : "(no id)");
        return -1;
    }
    eid = httpc_escape(id);
    snprintf(path, sizeof(path), "/api/v1/projects/%s", eid ? eid : "");
    free(eid);
    if (call(h, "PUT", path, project, &resp, err) != 0)
        return -1;
    if (resp.status == 200)
        rc = 0;
    else
        httpc_classify("flyte", &resp, path, err);
    wf_err_prefix(err, "update project %s", id);
    http_response_fini(&resp);
    return rc;
}

int flyte_put_domain_attributes(httpc *h, const char *project, const char *domain,
                                const json_t *attrs, wf_err *err)
{
    char path[512];
    http_response resp;
    char *ep = httpc_escape(project), *ed = httpc_escape(domain);
    json_t *body = json_pack("{s:O}", "attributes", (json_t *)attrs);
    int rc = -1;

    snprintf(path, sizeof(path), "/api/v1/project_domain_attributes/%s/%s", ep ? ep : "",
             ed ? ed : "");
    free(ep);
    free(ed);
    if (body == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "%s: out of memory", path);
        return -1;
    }
    if (call(h, "PUT", path, body, &resp, err) == 0) {
        if (resp.status == 200)
            rc = 0;
        else
            httpc_classify("flyte", &resp, path, err);
        wf_err_prefix(err, "project %s domain %s attributes", project, domain);
        http_response_fini(&resp);
    }
    json_decref(body);
    return rc;
}

/* True when a 404 is FlyteAdmin's own "no such attributes" (code 5,
 * "Resource [{Project:... ResourceType:...}] not found"). */
static int resource_not_found(const http_response *resp)
{
    json_t *st = resp->status == 404 ? http_response_json(resp) : NULL;
    json_t *code = json_object_get(st, "code");
    const char *msg = json_string_value(json_object_get(st, "message"));
    size_t n = msg ? strlen(msg) : 0;
    int yes = json_is_integer(code) && json_integer_value(code) == 5 && n > 20 &&
              strncmp(msg, "Resource [", 10) == 0 && strcmp(msg + n - 11, "] not found") == 0;

    json_decref(st);
    return yes;
}

int flyte_get_domain_attributes(httpc *h, const char *project, const char *domain,
                                const char *resource_type, json_t **attrs, wf_err *err)
{
    char path[512];
    http_response resp;
    char *ep = httpc_escape(project), *ed = httpc_escape(domain), *et = httpc_escape(resource_type);
    json_t *body = NULL;
    int rc = -1;

    *attrs = NULL;
    snprintf(path, sizeof(path), "/api/v1/project_domain_attributes/%s/%s?resource_type=%s",
             ep ? ep : "", ed ? ed : "", et ? et : "");
    free(ep);
    free(ed);
    free(et);
    if (call(h, "GET", path, NULL, &resp, err) != 0)
        return -1;
    if (resource_not_found(&resp)) {
        rc = 0;
    } else if (resp.status == 404) {
        wf_err_set(err, WF_TRANSIENT, "flyte.404",
                   "GET %s: 404 that is not FlyteAdmin's \"Resource not found\": %.200s", path,
                   resp.body ? resp.body : "");
    } else if (resp.status == 200) {
        body = http_response_json(&resp);
        *attrs = json_incref(json_object_get(body, "attributes"));
        if (json_is_object(*attrs))
            rc = 0;
        else
            wf_err_set(err, WF_TRANSIENT, "flyte.body", "GET %s: no attributes object", path);
    } else {
        httpc_classify("flyte", &resp, path, err);
    }
    if (rc != 0) {
        json_decref(*attrs);
        *attrs = NULL;
    }
    json_decref(body);
    http_response_fini(&resp);
    return rc;
}

/* ---- listing ---- */

/* Every Project.state: ACTIVE, ARCHIVED, SYSTEM_GENERATED, SYSTEM_ARCHIVED. */
#define PROJECTS_ALL_STATES "value_in(state,0;1;2;3)"

/* GET path, answered 200 with a JSON object: 0 with *out (new reference),
 * or -1 with err set. */
static int get_object(httpc *h, const char *path, json_t **out, wf_err *err)
{
    http_response resp;

    *out = NULL;
    if (call(h, "GET", path, NULL, &resp, err) != 0)
        return -1;
    if (resp.status == 200) {
        *out = http_response_json(&resp);
        if (!json_is_object(*out)) {
            json_decref(*out);
            *out = NULL;
            wf_err_set(err, WF_TRANSIENT, "flyte.body", "GET %s: answer is not a JSON object",
                       path);
        }
    } else {
        httpc_classify("flyte", &resp, path, err);
    }
    http_response_fini(&resp);
    return *out ? 0 : -1;
}

/* One page of ListProjects: each project to cb; *next the escaped token of
 * the next page (malloc'd), or NULL after the last. */
static int projects_page(httpc *h, const char *path, flyte_list_fn cb, void *ud, char **next,
                         wf_err *err)
{
    json_t *page, *projects, *p;
    const char *token;
    size_t i;
    int rc = -1;

    *next = NULL;
    if (get_object(h, path, &page, err) != 0)
        return -1;
    projects = json_object_get(page, "projects");
    json_array_foreach(projects, i, p)
    {
        if (json_is_object(p) && cb(ud, p, err) != 0)
            goto out;
    }
    token = json_string_value(json_object_get(page, "token"));
    /* FlyteAdmin answers a token whenever the page is full: the page after
     * the last full one is empty. */
    if (token && token[0] && json_array_size(projects) > 0 &&
        (*next = httpc_escape(token)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "list projects: out of memory");
        goto out;
    }
    rc = 0;
out:
    json_decref(page);
    return rc;
}

int flyte_list_projects(httpc *h, int limit, flyte_list_fn cb, void *ud, wf_err *err)
{
    char *filter = httpc_escape(PROJECTS_ALL_STATES), *token = NULL, *next = NULL;
    char path[512];
    int rc = -1, pages = 0;

    if (filter == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "list projects: out of memory");
        return -1;
    }
    do {
        snprintf(path, sizeof(path),
                 "/api/v1/projects?limit=%d&filters=%s&sort_by.key=identifier"
                 "&sort_by.direction=ASCENDING%s%.200s",
                 limit, filter, token ? "&token=" : "", token ? token : "");
        if (projects_page(h, path, cb, ud, &next, err) != 0)
            goto out;
        pages++;
        /* A token that does not move on would page forever. */
        if (next && token && strcmp(next, token) == 0) {
            wf_err_set(err, WF_TRANSIENT, "flyte.token",
                       "page %d answered the token it was asked with (%.64s)", pages, token);
            goto out;
        }
        free(token);
        token = next;
        next = NULL;
    } while (token);
    rc = 0;
out:
    free(next);
    free(token);
    free(filter);
    if (rc != 0)
        wf_err_prefix(err, "list projects");
    return rc;
}

/* A MatchableAttributesConfiguration of a project and domain, shaped as
 * GetProjectDomainAttributes answers it; NULL for any other row (or OOM:
 * *oom set). */
static json_t *domain_row(const json_t *c, int *oom)
{
    const char *p = json_string_value(json_object_get(c, "project"));
    const char *d = json_string_value(json_object_get(c, "domain"));
    const char *wf = json_string_value(json_object_get(c, "workflow"));
    const char *lp = json_string_value(json_object_get(c, "launch_plan"));
    const char *org = json_string_value(json_object_get(c, "org"));
    json_t *row;

    if (!p || !p[0] || !d || !d[0] || (wf && wf[0]) || (lp && lp[0]))
        return NULL;
    row = json_pack("{s:s, s:s, s:O?, s:s}", "project", p, "domain", d, "matching_attributes",
                    json_object_get(c, "attributes"), "org", org ? org : "");
    *oom = row == NULL;
    return row;
}

int flyte_list_attributes(httpc *h, const char *resource_type, flyte_list_fn cb, void *ud,
                          wf_err *err)
{
    char path[256];
    char *et = httpc_escape(resource_type);
    json_t *body, *c;
    size_t i;
    int rc = -1;

    snprintf(path, sizeof(path), "/api/v1/matchable_attributes?resource_type=%s", et ? et : "");
    free(et);
    httpc_set_max_body(h, FLYTE_LIST_MAX_BODY);
    rc = get_object(h, path, &body, err);
    httpc_set_max_body(h, 0);
    if (rc != 0) {
        wf_err_prefix(err, "list %s attributes", resource_type);
        return -1;
    }
    json_array_foreach(json_object_get(body, "configurations"), i, c)
    {
        int oom = 0;
        json_t *row = domain_row(c, &oom);
        if (oom) {
            wf_err_set(err, WF_INTERNAL, "oom", "list %s attributes: out of memory", resource_type);
            rc = -1;
        } else if (row) {
            rc = cb(ud, row, err);
            json_decref(row);
        }
        if (rc != 0)
            break;
    }
    json_decref(body);
    return rc;
}

const char *flyte_project_label(const json_t *project, const char *key)
{
    json_t *labels = json_object_get(project, "labels");
    json_t *values = json_is_object(labels) ? json_object_get(labels, "values") : NULL;

    return json_is_object(values) ? json_string_value(json_object_get(values, key)) : NULL;
}

int flyte_project_archived(const json_t *project)
{
    json_t *state = json_object_get(project, "state");
    const char *s = json_string_value(state);

    if (json_is_integer(state))
        return json_integer_value(state) == 1 || json_integer_value(state) == 3;
    return s && (strcmp(s, "ARCHIVED") == 0 || strcmp(s, "SYSTEM_ARCHIVED") == 0);
}
