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
