#include "provision.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"
#include "flyte.h"
#include "k8s.h"

struct provisioner {
    const wf_config *cfg;
    httpc *flyte;
    k8s *kube;
};

provisioner *provisioner_new(const wf_config *cfg, httpc_observer observer, void *observer_ud,
                             wf_err *err)
{
    provisioner *p = calloc(1, sizeof(*p));
    httpc_opts fo = {0};

    if (p == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "provisioner: out of memory");
        return NULL;
    }
    p->cfg = cfg;
    fo.api = "flyte";
    fo.base_url = cfg->flyte.admin_url;
    fo.observer = observer;
    fo.observer_ud = observer_ud;
    p->flyte = httpc_new(&fo, err);
    p->kube = p->flyte ? k8s_new(cfg, observer, observer_ud, err) : NULL;
    if (p->kube == NULL) {
        provisioner_free(p);
        return NULL;
    }
    return p;
}

void provisioner_free(provisioner *p)
{
    if (p == NULL)
        return;
    httpc_free(p->flyte);
    k8s_free(p->kube);
    free(p);
}

/* The version recorded on a project, or -1 when it has none (created by
 * someone else, or by an older wsflyte). */
static long long recorded_version(const json_t *project)
{
    const char *v = flyte_project_label(project, FLYTE_LABEL_VERSION);
    char *end;
    long long n;

    if (v == NULL || *v == '\0')
        return -1;
    errno = 0;
    n = strtoll(v, &end, 10);
    return (errno || *end) ? -1 : n;
}

static int same_string(const json_t *a, const json_t *b, const char *key)
{
    const char *x = json_string_value(json_object_get(a, key));
    const char *y = json_string_value(json_object_get(b, key));
    return x && y && strcmp(x, y) == 0;
}

static int project_matches(const json_t *live, const json_t *want)
{
    return !flyte_project_archived(live) && same_string(live, want, "name") &&
           same_string(live, want, "description") &&
           json_equal(json_object_get(json_object_get(live, "labels"), "values"),
                      json_object_get(json_object_get(want, "labels"), "values"));
}

/* Registers or converges the project.  *stale is set when FlyteAdmin holds
 * a newer version than the event's. */
static int ensure_project(provisioner *p, const desired *d, long long version, int *stale,
                          wf_err *err)
{
    json_t *live = NULL;
    int exists = 0, rc = -1;

    *stale = 0;
    if (flyte_get_project(p->flyte, d->project_id, &live, err) != 0)
        return -1;
    if (live == NULL) {
        if (flyte_register_project(p->flyte, d->project, &exists, err) != 0)
            return -1;
        if (!exists)
            return 0;
        /* Registered concurrently: read it back and converge below. */
        if (flyte_get_project(p->flyte, d->project_id, &live, err) != 0 || live == NULL) {
            wf_err_set(err, WF_TRANSIENT, "flyte.race",
                       "project %s: registration answered 409 but the project is not readable",
                       d->project_id);
            return -1;
        }
    }
    if (recorded_version(live) > version) {
        *stale = 1;
        rc = 0;
    } else if (project_matches(live, d->project)) {
        rc = 0;
    } else {
        /* d->project carries state ACTIVE: it re-activates an archived one. */
        rc = flyte_update_project(p->flyte, d->project, err);
    }
    json_decref(live);
    return rc;
}

/* Re-creating a workspace whose namespace is still being deleted must wait:
 * an apply succeeds but the deletion goes on. */
static int check_namespace_live(const json_t *live, const char *ns, wf_err *err)
{
    const char *phase =
        json_string_value(json_object_get(json_object_get(live, "status"), "phase"));

    if (phase && strcmp(phase, "Terminating") == 0) {
        wf_err_set(err, WF_TRANSIENT, "k8s.namespace-terminating",
                   "namespace %s is still terminating from an earlier deletion", ns);
        return -1;
    }
    return 0;
}

static int name_in(const json_t *names, const char *name)
{
    size_t i;
    json_t *n;

    json_array_foreach(names, i, n) if (strcmp(json_string_value(n), name) == 0) return 1;
    return 0;
}

/* Deletes the workspace's RoleBindings in ns that the event no longer wants
 * (former members, changed roles). */
static int prune_bindings(provisioner *p, const char *workspace_id, const desired_domain *dd,
                          wf_err *err)
{
    char selector[512];
    json_t *items = NULL, *item;
    size_t i;
    int rc = 0;

    desired_workspace_selector(workspace_id, selector, sizeof(selector) - 32);
    strcat(selector, "," LABEL_MEMBER);
    if (k8s_list(p->kube, "rbac.authorization.k8s.io/v1", "RoleBinding", dd->namespace_name,
                 selector, &items, err) != 0)
        return -1;
    json_array_foreach(items, i, item)
    {
        const char *name =
            json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));
        if (name && !name_in(dd->bindings, name) &&
            k8s_delete(p->kube, "rbac.authorization.k8s.io/v1", "RoleBinding", dd->namespace_name,
                       name, err) != 0) {
            rc = -1;
            break;
        }
    }
    json_decref(items);
    return rc;
}

static int apply_domain(provisioner *p, const char *workspace_id, const desired_domain *dd,
                        wf_err *err)
{
    size_t i;
    json_t *obj;

    if (flyte_put_domain_attributes(p->flyte, workspace_id, dd->domain, dd->attributes, err) != 0)
        return -1;
    json_array_foreach(dd->objects, i, obj)
    {
        json_t *live = NULL;
        if (k8s_apply(p->kube, obj, i == 0 ? &live : NULL, err) != 0)
            return -1;
        int rc = i == 0 ? check_namespace_live(live, dd->namespace_name, err) : 0;
        json_decref(live);
        if (rc != 0)
            return -1;
    }
    return prune_bindings(p, workspace_id, dd, err);
}

static int set_namespaces(prov_result *r, const desired *d)
{
    r->namespaces = calloc(d->n_domains ? d->n_domains : 1, sizeof(char *));
    if (r->namespaces == NULL)
        return -1;
    for (size_t i = 0; i < d->n_domains; i++) {
        r->namespaces[i] = strdup(d->domains[i].namespace_name);
        if (r->namespaces[i] == NULL)
            return -1;
        r->n_namespaces++;
    }
    return 0;
}

static int apply_present(provisioner *p, const ws_event *ev, const desired *d, prov_result *r,
                         wf_err *err)
{
    int stale;
    size_t i;
    json_t *obj;

    if (ensure_project(p, d, ev->workspace_version, &stale, err) != 0)
        return -1;
    if (stale) {
        r->status = PROV_SKIPPED;
        r->reason = strdup("stale");
        return 0;
    }
    for (i = 0; i < d->n_domains; i++)
        if (apply_domain(p, d->project_id, &d->domains[i], err) != 0)
            return -1;
    json_array_foreach(d->cluster_objects, i,
                       obj) if (k8s_apply(p->kube, obj, NULL, err) != 0) return -1;
    r->status = PROV_SUCCEEDED;
    r->flyte_project = strdup(d->project_id);
    r->console_url = d->console_url ? strdup(d->console_url) : NULL;
    if (set_namespaces(r, d) != 0) {
        wf_err_set(err, WF_INTERNAL, "oom", "result: out of memory");
        return -1;
    }
    return 0;
}

/* Archives the project (FlyteAdmin has no delete), recording the version so
 * that a stale event cannot bring it back.  *found tells whether it existed. */
static int archive_project(provisioner *p, const char *id, long long version, int *stale,
                           int *found, wf_err *err)
{
    json_t *live = NULL, *body;
    char v[32];
    int rc = 0;

    *stale = *found = 0;
    if (flyte_get_project(p->flyte, id, &live, err) != 0)
        return -1;
    if (live == NULL)
        return 0;
    *found = 1;
    if (recorded_version(live) > version) {
        *stale = 1;
    } else if (!flyte_project_archived(live) || recorded_version(live) != version) {
        snprintf(v, sizeof(v), "%lld", version);
        body = json_pack("{s:s, s:s, s:{s:{s:s, s:s}}}", "id", id, "state", FLYTE_STATE_ARCHIVED,
                         "labels", "values", FLYTE_LABEL_MANAGED, MANAGER_NAME, FLYTE_LABEL_VERSION,
                         v);
        rc = flyte_update_project(p->flyte, body, err);
        json_decref(body);
    }
    json_decref(live);
    return rc;
}

/* Deletes every object of kind carrying the workspace's labels in ns (NULL:
 * cluster-scoped).  Counts what it deleted into *deleted. */
static int delete_labelled(provisioner *p, const char *api_version, const char *kind,
                           const char *ns, const char *workspace_id, int *deleted, wf_err *err)
{
    char selector[512];
    json_t *items = NULL, *item;
    size_t i;
    int rc = 0;

    desired_workspace_selector(workspace_id, selector, sizeof(selector));
    if (k8s_list(p->kube, api_version, kind, ns, selector, &items, err) != 0)
        return -1;
    json_array_foreach(items, i, item)
    {
        json_t *meta = json_object_get(item, "metadata");
        const char *name = json_string_value(json_object_get(meta, "name"));
        if (name == NULL || json_object_get(meta, "deletionTimestamp"))
            continue; /* already going away */
        if (k8s_delete(p->kube, api_version, kind, ns, name, err) != 0) {
            rc = -1;
            break;
        }
        (*deleted)++;
    }
    json_decref(items);
    return rc;
}

static int apply_absent(provisioner *p, const ws_event *ev, const desired *d, prov_result *r,
                        wf_err *err)
{
    const char *authz_ns = p->cfg->flyte.authz_namespace;
    int stale, found, deleted = 0;

    if (archive_project(p, d->project_id, ev->workspace_version, &stale, &found, err) != 0)
        return -1;
    if (stale) {
        r->status = PROV_SKIPPED;
        r->reason = strdup("stale");
        return 0;
    }
    if (delete_labelled(p, "v1", "Namespace", NULL, d->project_id, &deleted, err) != 0 ||
        delete_labelled(p, "v1", "ConfigMap", authz_ns, d->project_id, &deleted, err) != 0)
        return -1;
    if (p->cfg->aws.ack_enabled && (delete_labelled(p, "iam.services.k8s.aws/v1alpha1", "Role",
                                                    authz_ns, d->project_id, &deleted, err) != 0 ||
                                    delete_labelled(p, "iam.services.k8s.aws/v1alpha1", "Policy",
                                                    authz_ns, d->project_id, &deleted, err) != 0))
        return -1;
    if (!found && deleted == 0) {
        r->status = PROV_SKIPPED;
        r->reason = strdup("flyte-not-enabled");
    } else {
        r->status = PROV_SUCCEEDED;
        r->reason =
            strdup(ev->type == WS_WORKSPACE_DELETED ? "workspace-deleted" : "flyte-removed");
        r->flyte_project = found ? strdup(d->project_id) : NULL;
    }
    return 0;
}

int provision_event(provisioner *p, const ws_event *ev, prov_result *r, wf_err *err)
{
    desired d;
    int rc;

    if (desired_build(p->cfg, ev, &d, err) != 0) {
        desired_fini(&d);
        return -1;
    }
    if (d.flyte_wanted)
        rc = apply_present(p, ev, &d, r, err);
    else
        rc = apply_absent(p, ev, &d, r, err);
    desired_fini(&d);
    return rc;
}

void provisioner_probe(provisioner *p, long *flyte_status, long *k8s_status)
{
    http_response resp;
    wf_err err;

    wf_err_init(&err);
    *flyte_status = 0;
    if (httpc_json(p->flyte, "GET", "/healthcheck", NULL, NULL, &resp, &err) == 0) {
        *flyte_status = resp.status;
        http_response_fini(&resp);
    }
    *k8s_status = k8s_probe(p->kube);
}
