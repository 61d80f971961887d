/* libFuzzer target: FlyteAdmin answers as wsflyte reads them.  The body is
 * served (canned_server.h) to flyte_get_project, flyte_register_project,
 * flyte_update_project and flyte_put_domain_attributes, and parsed directly
 * with http_response_json, httpc_classify, flyte_project_label and
 * flyte_project_archived. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canned_server.h"
#include "flyte.h"
#include "httpc.h"

static canned srv;
static httpc *http;
static json_t *project, *attrs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char url[64];
    httpc_opts o = {0};
    wf_err err;

    (void)argc;
    (void)argv;
    canned_start(&srv);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", srv.port);
    o.api = "flyte";
    o.base_url = url;
    wf_err_init(&err);
    http = httpc_new(&o, &err);
    project = json_pack("{s:s, s:s, s:s, s:{s:{s:s}}}", "id", "ws-1", "name", "Flyte - WS 1",
                        "state", "ACTIVE", "labels", "values", "wsflyte-workspace-version", "7");
    attrs = json_pack("{s:{s:s}}", "workflow_execution_config", "raw_output_data_config",
                      "s3://b/flyte/development");
    if (http == NULL || project == NULL || attrs == NULL)
        abort();
    return 0;
}

/* The parsers on their own, without a round trip. */
static void parse_directly(const uint8_t *body, size_t len, unsigned status)
{
    http_response r = {status, NULL, len, -1};
    json_t *j;
    wf_err err;

    r.body = malloc(len + 1);
    if (r.body == NULL)
        return;
    memcpy(r.body, body, len);
    r.body[len] = '\0';
    j = http_response_json(&r);
    if (j) {
        (void)flyte_project_label(j, "wsflyte-workspace-version");
        (void)flyte_project_label(j, "managed-by");
        (void)flyte_project_archived(j);
        json_decref(j);
    }
    wf_err_init(&err);
    httpc_classify("flyte", &r, "fuzz", &err);
    http_response_fini(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *p = NULL;
    int exists = 0;
    wf_err err;

    if (canned_set(&srv, data, size) != 0)
        return 0;
    parse_directly(srv.body, srv.body_len, srv.status);
    wf_err_init(&err);
    if (flyte_get_project(http, "ws-1", &p, &err) == 0 && p) {
        (void)flyte_project_label(p, "wsflyte-workspace-version");
        (void)flyte_project_archived(p);
        json_decref(p);
    }
    wf_err_init(&err);
    (void)flyte_register_project(http, project, &exists, &err);
    wf_err_init(&err);
    (void)flyte_update_project(http, project, &err);
    wf_err_init(&err);
    (void)flyte_put_domain_attributes(http, "ws-1", "development", attrs, &err);
    return 0;
}
