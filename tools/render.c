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
#include "liveplan.h"

extern char **environ;

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: wsflyte-render [--diff] --config FILE EVENT.json\n"
                "\n"
                "Prints, as one JSON document, the requests EVENT.json leads to, in the order\n"
                "the handler sends them: FlyteAdmin calls and the Kubernetes objects it\n"
                "server-side applies (fieldManager=wsflyte), or the clean-up when Flyte is not\n"
                "wanted.  Reads no server, so steps that depend on what the servers hold carry\n"
                "a \"when\" condition, and the version check is shown as its rules.\n"
                "EVENT.json is one event in the plain JSON form.\n"
                "\n"
                "With --diff, reads the live FlyteAdmin and Kubernetes state instead (GETs of\n"
                "the objects by the names wsflyte renders, and the LIST of member RoleBindings\n"
                "in the workspace's own namespaces; never a write) and prints what handling\n"
                "the event now would change, one line per object:\n"
                "  create Namespace ws-a-development\n"
                "  update ConfigMap flyte/wsflyte-authz-ws-a\n"
                "    data[\"workspace.json\"].members.bob: (absent) -> {\"role\":\"OWNER\",...}\n"
                "  delete RoleBinding ws-a-development/workspace-viewer-bob-0123456789\n"
                "  unchanged Role ws-a-development/workspace-owner\n"
                "then \"N to create, N to update, N to delete, N unchanged\".  Field lines read\n"
                "<path>: <live> -> <wanted>.  Only fields wsflyte writes count: what the\n"
                "servers add (uid, status, defaults, other writers' labels) is no difference.\n"
                "The handler's decisions come first when they apply:\n"
                "  stale: ... the event would be SKIPPED, nothing changes   (a newer version\n"
                "          is recorded on the Flyte project or the workspace's namespaces)\n"
                "  fail: the event would FAIL (PERMANENT k8s.foreign-namespace): ...\n"
                "  fail: the event would FAIL (PERMANENT flyte.foreign-project): ...\n"
                "  wait: namespace ... is still terminating ...\n"
                "The service's state record is not read: an event it would answer as a\n"
                "duplicate shows what a resync would repair.\n"
                "\n"
                "Options:\n"
                "  -c, --config FILE   wsflyte configuration (domains, templates, AWS settings;\n"
                "                      with --diff also the FlyteAdmin and Kubernetes access)\n"
                "  -d, --diff          compare with the live state (see above)\n"
                "  -h, --help          this help\n"
                "  -V, --version       print the version\n"
                "\n"
                "Exit status: 0 printed (with --diff: nothing would change, or the event is\n"
                "stale); with --diff 1 when something would change or the event would fail, 2\n"
                "when the live state cannot be read or the arguments are wrong; without\n"
                "--diff 1 for an event or configuration that is not valid, 2 for wrong\n"
                "arguments.\n"
                "\n"
                "Examples:\n"
                "  wsflyte-render --config dev.yaml tests/data/events/ws-ml-prod-001.json | less\n"
                "  wsflyte-render --config dev.yaml event.json | jq '.steps[] | .method + \" \" + "
                ".path'\n"
                "  wsflyte-dlt --config prod.yaml show --partition 0 --offset 42 | jq .event \\\n"
                "    > event.json && wsflyte-render --diff --config prod.yaml event.json\n");
}

static json_t *request(const char *when, const char *method, const char *path, json_t *body)
{
    json_t *r = json_pack("{s:s, s:s}", "method", method, "path", path);
    if (when)
        json_object_set_new(r, "when", json_string(when));
    if (body)
        json_object_set_new(r, "body", body);
    return r;
}

/* The server-side apply request of one manifest, path from k8s_path. */
static json_t *apply_request(const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    char path[1024];

    if (k8s_path(json_string_value(json_object_get(obj, "apiVersion")),
                 json_string_value(json_object_get(obj, "kind")),
                 json_string_value(json_object_get(meta, "namespace")),
                 json_string_value(json_object_get(meta, "name")), path, sizeof(path) - 64) != 0)
        snprintf(path, sizeof(path), "(unmanaged kind)");
    strcat(path, "?fieldManager=" K8S_FIELD_MANAGER "&force=true");
    return json_pack("{s:s, s:s, s:s, s:O}", "method", "PATCH", "path", path, "content_type",
                     "application/apply-patch+yaml", "body", obj);
}

static json_t *version_rules(void)
{
    return json_pack("{s:s, s:s, s:s}", "read",
                     "GET the Flyte project's " FLYTE_LABEL_VERSION " label (no request at all "
                     "when this process already applied a newer version)",
                     "stale",
                     "recorded version > workspace_version: SKIPPED/stale, nothing written",
                     "duplicate",
                     "recorded version == workspace_version and this process applied this exact "
                     "desired state (digest): answered from the GET alone");
}

/* Steps in the order the handler (handlers/provision.c) takes them. */
static json_t *render_present(const desired *d, const char *digest)
{
    json_t *steps = json_array();
    char path[512], selector[512], base[512];

    snprintf(base, sizeof(base), "/api/v1/projects/%s", d->project_id);
    json_array_append_new(steps, request(NULL, "GET", base, NULL));
    for (size_t i = 0; i < d->n_domains; i++) {
        k8s_path("v1", "Namespace", NULL, d->domains[i].namespace_name, path, sizeof(path));
        json_t *get = request(NULL, "GET", path, NULL);
        json_object_set_new(get, "then",
                            json_string("exists without labels " LABEL_MANAGED_BY "=" MANAGER_NAME
                                        " and " LABEL_WORKSPACE "=<workspace_id>: FAILED, "
                                        "PERMANENT, k8s.foreign-namespace; nothing written"));
        json_array_append_new(steps, get);
    }
    json_array_append_new(steps, request("the project does not exist", "POST", "/api/v1/projects",
                                         json_pack("{s:O}", "project", d->project)));
    for (size_t i = 0; i < d->n_domains; i++) {
        json_t *ns = apply_request(json_array_get(d->domains[i].objects, 0));
        json_object_set_new(ns, "then",
                            json_string("still terminating from an earlier deletion: "
                                        "transient error, retried; nothing else written"));
        json_array_append_new(steps, ns);
    }
    json_array_append_new(steps,
                          request("the project differs (name, description, labels) or is archived",
                                  "PUT", base, json_incref(d->project)));
    for (size_t i = 0; i < d->n_domains; i++) {
        const desired_domain *dd = &d->domains[i];
        size_t j;
        json_t *obj;

        snprintf(path, sizeof(path), "/api/v1/project_domain_attributes/%s/%s", d->project_id,
                 dd->domain);
        json_array_append_new(
            steps, request(NULL, "PUT", path, json_pack("{s:O}", "attributes", dd->attributes)));
        json_array_foreach(dd->objects, j, obj)
        {
            if (j > 0) /* the Namespace went first, above */
                json_array_append_new(steps, apply_request(obj));
        }
    }
    desired_member_selector(d->project_id, selector, sizeof(selector));
    for (size_t i = 0; i < d->n_domains; i++) {
        k8s_path("rbac.authorization.k8s.io/v1", "RoleBinding", d->domains[i].namespace_name, NULL,
                 path, sizeof(path));
        json_array_append_new(
            steps, json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "when",
                             "the namespace existed before this apply", "method", "GET", "path",
                             path, "labelSelector", selector, "then_delete",
                             "listed bindings whose name has the member-binding form and is not "
                             "one of",
                             "keep", d->domains[i].bindings));
    }
    for (size_t i = 0; i < json_array_size(d->cluster_objects); i++)
        json_array_append_new(steps, apply_request(json_array_get(d->cluster_objects, i)));
    return json_pack("{s:b, s:s, s:s, s:o, s:o}", "flyte_wanted", 1, "console_url",
                     d->console_url ? d->console_url : "", "digest", digest, "version_check",
                     version_rules(), "steps", steps);
}

static json_t *render_absent(const desired *d, const char *digest)
{
    json_t *steps = json_array(), *entry;
    char path[512], obj[512];
    size_t i;

    snprintf(path, sizeof(path), "/api/v1/projects/%s", d->project_id);
    json_array_append_new(steps, request(NULL, "GET", path, NULL));
    json_array_foreach(d->cleanup, i, entry)
    {
        k8s_path(json_string_value(json_object_get(entry, "apiVersion")),
                 json_string_value(json_object_get(entry, "kind")),
                 json_string_value(json_object_get(entry, "namespace")),
                 json_string_value(json_object_get(entry, "name")), obj, sizeof(obj));
        json_array_append_new(steps, request(NULL, "GET", obj, NULL));
    }
    json_array_append_new(
        steps, json_pack("{s:s}", "stale",
                         "a namespace of the workspace's (labels " LABEL_MANAGED_BY "=" MANAGER_NAME
                         ", " LABEL_WORKSPACE "=<workspace_id>) annotated " ANNOTATION_VERSION
                         " above workspace_version: SKIPPED/stale, nothing written"));
    json_array_append_new(steps, request("the project exists, is managed by wsflyte and is not "
                                         "archived at this version",
                                         "PUT", path, json_incref(d->archive)));
    json_array_foreach(d->cleanup, i, entry)
    {
        k8s_path(json_string_value(json_object_get(entry, "apiVersion")),
                 json_string_value(json_object_get(entry, "kind")),
                 json_string_value(json_object_get(entry, "namespace")),
                 json_string_value(json_object_get(entry, "name")), obj, sizeof(obj));
        json_array_append_new(steps, request("it exists, carries the workspace's labels and is not "
                                             "already being deleted "
                                             "(DeleteOptions.preconditions.uid)",
                                             "DELETE", obj, NULL));
    }
    json_array_append_new(
        steps, json_pack("{s:s}", "then",
                         "a rendered namespace held by someone else is left untouched and the "
                         "event ends FAILED, PERMANENT, k8s.foreign-namespace"));
    return json_pack("{s:b, s:s, s:o, s:o}", "flyte_wanted", 0, "digest", digest, "version_check",
                     version_rules(), "steps", steps);
}

/* --diff: the event against the live state.  An event the handler would
 * reject is a verdict (it would FAIL), not an error of this tool. */
static int diff_live(const wf_config *cfg, const ws_event *ev)
{
    liveplan *lp;
    wf_err err;
    int rc;

    wf_err_init(&err);
    if ((lp = liveplan_new(cfg, &err)) == NULL) {
        fprintf(stderr, "wsflyte-render: %s (%s %s)\n", err.msg, wf_class_name(err.cls), err.code);
        return LIVEPLAN_ERROR;
    }
    rc = (int)liveplan_run(lp, ev, stdout, &err);
    if (rc == LIVEPLAN_ERROR)
        fprintf(stderr, "wsflyte-render: cannot read the live state: %s (%s %s)\n", err.msg,
                wf_class_name(err.cls), err.code);
    liveplan_free(lp);
    return rc;
}

static int invalid_event(const char *path, const wf_err *err, int diff)
{
    if (diff && (err->cls == WF_VALIDATION || err->cls == WF_DESERIALIZATION)) {
        printf("fail: the event would FAIL (%s %s): %s\n0 to create, 0 to update, 0 to delete, 0 "
               "unchanged\n",
               wf_class_name(err->cls), err->code, err->msg);
        return LIVEPLAN_CHANGES;
    }
    fprintf(stderr, "wsflyte-render: %s: %s (%s %s)\n", path, err->msg, wf_class_name(err->cls),
            err->code);
    return diff ? LIVEPLAN_ERROR : 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"diff", no_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    const char *config_path = NULL;
    char *report = NULL, *text, digest[DESIRED_DIGEST_LEN + 1];
    json_error_t jerr;
    json_t *in = NULL, *out = NULL;
    wf_config cfg;
    ws_event ev;
    desired d;
    wf_err err;
    int c, diff = 0, rc = 1;

    while ((c = getopt_long(argc, argv, "c:dhV", opts, NULL)) != -1) {
        if (c == 'c') {
            config_path = optarg;
        } else if (c == 'd') {
            diff = 1;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else if (c == 'V') {
            printf("wsflyte-render %s\n", WSFLYTE_VERSION);
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
    if (diff)
        rc = LIVEPLAN_ERROR; /* until the live state is read */
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
        rc = invalid_event(argv[optind], &err, diff);
        goto out;
    }
    if (diff) {
        rc = diff_live(&cfg, &ev);
        goto out;
    }
    desired_digest(&d, digest);
    out = d.flyte_wanted ? render_present(&d, digest) : render_absent(&d, digest);
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
