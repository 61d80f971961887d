/* wsflyte-render: prints what an event leads to (Flyte requests and
 * Kubernetes objects) from the same code the handler uses, without
 * touching any server. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "desired.h"
#include "event.h"
#include "k8s.h"

extern char **environ;

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: wsflyte-render --config FILE EVENT.json\n"
            "\n"
            "Prints, as one JSON document, the FlyteAdmin requests and the Kubernetes\n"
            "objects (server-side applied with fieldManager=wsflyte) that EVENT.json leads\n"
            "to, or the clean-up it triggers when Flyte is not wanted.  Reads no server, so\n"
            "the version check (stale events) and pruning of former members are shown as\n"
            "the rules they follow.  EVENT.json is one event in the plain JSON form.\n"
            "\n"
            "Example:\n"
            "  wsflyte-render --config dev.yaml tests/data/events/ws-ml-prod-001.json | less\n");
}

static json_t *request(const char *method, const char *path, json_t *body)
{
    json_t *r = json_pack("{s:s, s:s}", "method", method, "path", path);
    if (body)
        json_object_set_new(r, "body", body);
    return r;
}

static json_t *render_present(const desired *d)
{
    json_t *flyte = json_array(), *apply = json_array(), *prune = json_array();
    char path[512], selector[512];

    snprintf(path, sizeof(path), "/api/v1/projects/%s", d->project_id);
    json_array_append_new(flyte, request("GET", path, NULL));
    json_array_append_new(flyte, request("POST", "/api/v1/projects (when missing)",
                                         json_pack("{s:O}", "project", d->project)));
    json_array_append_new(flyte, request("PUT", path, json_incref(d->project)));
    for (size_t i = 0; i < d->n_domains; i++) {
        const desired_domain *dd = &d->domains[i];
        snprintf(path, sizeof(path), "/api/v1/project_domain_attributes/%s/%s", d->project_id,
                 dd->domain);
        json_array_append_new(
            flyte, request("PUT", path, json_pack("{s:O}", "attributes", dd->attributes)));
        json_array_extend(apply, dd->objects);
        desired_workspace_selector(d->project_id, selector, sizeof(selector) - 32);
        strcat(selector, "," LABEL_MEMBER);
        json_array_append_new(prune, json_pack("{s:s, s:s, s:s, s:O}", "kind", "RoleBinding",
                                               "namespace", dd->namespace_name, "selector",
                                               selector, "keep", dd->bindings));
    }
    json_array_extend(apply, d->cluster_objects);
    return json_pack("{s:b, s:s, s:o, s:{s:o, s:o}}", "flyte_wanted", 1, "console_url",
                     d->console_url ? d->console_url : "", "flyte_requests", flyte, "kubernetes",
                     "apply", apply, "prune", prune);
}

static json_t *render_absent(const wf_config *cfg, const desired *d)
{
    char path[512], selector[512];

    snprintf(path, sizeof(path), "/api/v1/projects/%s", d->project_id);
    desired_workspace_selector(d->project_id, selector, sizeof(selector));
    return json_pack(
        "{s:b, s:[{s:s, s:s}, {s:s, s:s, s:{s:s, s:s}}], s:{s:[{s:s, s:s}, {s:s, s:s, s:s}]}}",
        "flyte_wanted", 0, "flyte_requests", "method", "GET", "path", path, "method",
        "PUT (when the project exists and is active)", "path", path, "body", "id", d->project_id,
        "state", "ARCHIVED", "kubernetes", "delete", "kind", "Namespace", "selector", selector,
        "kind", "ConfigMap", "namespace", cfg->flyte.authz_namespace, "selector", selector);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config_path = NULL;
    char *report = NULL, *text;
    json_error_t jerr;
    json_t *in = NULL, *out = NULL;
    wf_config cfg;
    ws_event ev;
    desired d;
    wf_err err;
    int c, rc = 1;

    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (c == 'c') {
            config_path = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    memset(&ev, 0, sizeof(ev));
    memset(&d, 0, sizeof(d));
    wf_err_init(&err);
    if (wf_config_load(&cfg, config_path, environ, &report, &err) != 0) {
        fprintf(stderr, "wsflyte-render: configuration is invalid:\n%s", report ? report : err.msg);
        goto out;
    }
    if ((in = json_load_file(argv[optind], 0, &jerr)) == NULL) {
        fprintf(stderr, "wsflyte-render: %s:%d:%d: %s\n", argv[optind], jerr.line, jerr.column,
                jerr.text);
        goto out;
    }
    if (ws_event_from_json(in, &ev, &err) != 0 || desired_build(&cfg, &ev, &d, &err) != 0) {
        fprintf(stderr, "wsflyte-render: %s: %s (%s %s)\n", argv[optind], err.msg,
                wf_class_name(err.cls), err.code);
        goto out;
    }
    out = d.flyte_wanted ? render_present(&d) : render_absent(&cfg, &d);
    text = json_dumps(out, JSON_INDENT(2));
    if (text)
        printf("%s\n", text);
    free(text);
    rc = 0;
out:
    json_decref(out);
    json_decref(in);
    desired_fini(&d);
    ws_event_fini(&ev);
    free(report);
    wf_config_fini(&cfg);
    return rc;
}
