/* What a path reads before it plans, by the names wsflyte renders. */
#include "reads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RBAC_V1    "rbac.authorization.k8s.io/v1"
#define ATTRS_TYPE "WORKFLOW_EXECUTION_CONFIG"
#define EXEC_TYPE  "EXECUTION_CLUSTER_LABEL"

static int oom(wf_err *err)
{
    wf_err_set(err, WF_INTERNAL, "oom", "reads: out of memory");
    return -1;
}

static const char *meta_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static const char *entry_string(const json_t *entry, const char *key)
{
    return json_string_value(json_object_get(entry, key));
}

static int reads_lookup(void *ud, uint64_t id, const json_t **live)
{
    const reads *rd = ud;
    for (size_t i = 0; i < rd->n_objs; i++)
        if (rd->ids[i] == id) {
            *live = rd->objs[i];
            return 1;
        }
    return 0;
}

int reads_init(reads *rd, const desired *d, wf_err *err)
{
    size_t n = d->n_domains ? d->n_domains : 1;

    memset(rd, 0, sizeof(*rd));
    rd->n_domains = d->n_domains;
    rd->n_cleanup = json_array_size(d->cleanup);
    rd->namespaces = calloc(n, sizeof(json_t *));
    rd->attributes = calloc(n, sizeof(json_t *));
    rd->bindings = calloc(n, sizeof(json_t *));
    rd->cleanup = calloc(rd->n_cleanup ? rd->n_cleanup : 1, sizeof(json_t *));
    rd->cluster_attributes = calloc(n, sizeof(json_t *));
    rd->old_namespaces = calloc(n, sizeof(json_t *));
    rd->old_cleanup = calloc(rd->n_cleanup ? rd->n_cleanup : 1, sizeof(json_t *));
    if (!rd->namespaces || !rd->attributes || !rd->bindings || !rd->cleanup ||
        !rd->cluster_attributes || !rd->old_namespaces || !rd->old_cleanup)
        return oom(err);
    rd->v.old_cleanup = (const json_t *const *)rd->old_cleanup;
    rd->v.cluster_attributes = (const json_t *const *)rd->cluster_attributes;
    rd->v.old_namespaces = (const json_t *const *)rd->old_namespaces;
    rd->v.namespaces = (const json_t *const *)rd->namespaces;
    rd->v.attributes = (const json_t *const *)rd->attributes;
    rd->v.bindings = (const json_t *const *)rd->bindings;
    rd->v.cleanup = (const json_t *const *)rd->cleanup;
    rd->v.object = reads_lookup;
    rd->v.object_ud = rd;
    return 0;
}

void reads_fini(reads *rd)
{
    json_decref(rd->project);
    for (size_t i = 0; i < rd->n_domains; i++) {
        json_decref(rd->namespaces ? rd->namespaces[i] : NULL);
        json_decref(rd->attributes ? rd->attributes[i] : NULL);
        json_decref(rd->bindings ? rd->bindings[i] : NULL);
        json_decref(rd->cluster_attributes ? rd->cluster_attributes[i] : NULL);
        json_decref(rd->old_namespaces ? rd->old_namespaces[i] : NULL);
    }
    for (size_t i = 0; rd->cleanup && i < rd->n_cleanup; i++)
        json_decref(rd->cleanup[i]);
    for (size_t i = 0; rd->old_cleanup && i < rd->n_cleanup; i++)
        json_decref(rd->old_cleanup[i]);
    for (size_t i = 0; i < rd->n_objs; i++)
        json_decref(rd->objs[i]);
    free(rd->namespaces);
    free(rd->attributes);
    free(rd->bindings);
    free(rd->cleanup);
    free(rd->cluster_attributes);
    free(rd->old_namespaces);
    free(rd->old_cleanup);
    free(rd->ids);
    free(rd->objs);
    memset(rd, 0, sizeof(*rd));
}

int reads_put(reads *rd, uint64_t id, json_t *obj, wf_err *err)
{
    if (rd->n_objs == rd->cap_objs) {
        size_t cap = rd->cap_objs ? 2 * rd->cap_objs : 16;
        uint64_t *ids = realloc(rd->ids, cap * sizeof(*ids));
        json_t **objs = ids ? realloc(rd->objs, cap * sizeof(*objs)) : NULL;
        if (ids)
            rd->ids = ids;
        if (objs == NULL) {
            json_decref(obj);
            return oom(err);
        }
        rd->objs = objs;
        rd->cap_objs = cap;
    }
    rd->ids[rd->n_objs] = id;
    rd->objs[rd->n_objs++] = obj;
    return 0;
}

int reads_project(reads *rd, httpc *flyte, const desired *d, wf_err *err)
{
    if (flyte_get_project(flyte, d->project_id, &rd->project, err) != 0)
        return -1;
    rd->v.project_read = 1;
    rd->v.project = rd->project;
    return 0;
}

void reads_adopt_project(reads *rd, json_t *project)
{
    json_decref(rd->project);
    rd->project = project;
    rd->v.project_read = 1;
    rd->v.project = rd->project;
}

int reads_namespace(reads *rd, k8s *kube, const desired *d, size_t i, wf_err *err)
{
    return k8s_get(kube, "v1", "Namespace", NULL, d->domains[i].namespace_name, &rd->namespaces[i],
                   err);
}

int reads_old_namespace(reads *rd, k8s *kube, const desired *d, size_t i, wf_err *err)
{
    return k8s_get(kube, "v1", "Namespace", NULL, d->domains[i].namespace_name,
                   &rd->old_namespaces[i], err);
}

int reads_old_cleanup_entry(reads *rd, k8s *kube, const desired *d, size_t i, wf_err *err)
{
    const json_t *e = json_array_get(d->cleanup, i);

    return k8s_get(kube, "v1", "Namespace", NULL, entry_string(e, "name"), &rd->old_cleanup[i],
                   err);
}

int reads_namespaces(reads *rd, k8s *kube, const desired *d, wf_err *err)
{
    for (size_t i = 0; i < d->n_domains; i++)
        if (reads_namespace(rd, kube, d, i, err) != 0)
            return -1;
    rd->v.namespaces_read = 1;
    return 0;
}

int reads_attributes(reads *rd, httpc *flyte, const desired *d, wf_err *err)
{
    if (rd->project && desired_project_is_ours(rd->project) &&
        !desired_project_archived(rd->project))
        for (size_t i = 0; i < d->n_domains; i++) {
            if (flyte_get_domain_attributes(flyte, d->project_id, d->domains[i].domain, ATTRS_TYPE,
                                            &rd->attributes[i], err) != 0)
                return -1;
            if (d->domains[i].cluster_attributes &&
                flyte_get_domain_attributes(flyte, d->project_id, d->domains[i].domain, EXEC_TYPE,
                                            &rd->cluster_attributes[i], err) != 0)
                return -1;
        }
    rd->v.attributes_read = 1;
    return 0;
}

int reads_cleanup_entry(reads *rd, k8s *kube, const desired *d, size_t i, wf_err *err)
{
    const json_t *e = json_array_get(d->cleanup, i);

    return k8s_get(kube, entry_string(e, "apiVersion"), entry_string(e, "kind"),
                   entry_string(e, "namespace"), entry_string(e, "name"), &rd->cleanup[i], err);
}

int reads_cleanup(reads *rd, k8s *kube, const desired *d, wf_err *err)
{
    for (size_t i = 0; i < json_array_size(d->cleanup); i++)
        if (reads_cleanup_entry(rd, kube, d, i, err) != 0)
            return -1;
    return 0;
}

int reads_binding_list(reads *rd, k8s *kube, const desired *d, size_t i, wf_err *err)
{
    char selector[512];

    desired_member_selector(d->project_id, selector, sizeof(selector));
    return k8s_list(kube, RBAC_V1, "RoleBinding", d->domains[i].namespace_name, selector,
                    &rd->bindings[i], err);
}

int reads_bindings(reads *rd, k8s *kube, const desired *d, const int *need, wf_err *err)
{
    for (size_t i = 0; i < d->n_domains; i++)
        if (need[i] && reads_binding_list(rd, kube, d, i, err) != 0)
            return -1;
    return 0;
}

int reads_object(reads *rd, k8s *kube, const json_t *m, wf_err *err)
{
    json_t *live = NULL;

    if (k8s_get(kube, json_string_value(json_object_get(m, "apiVersion")),
                json_string_value(json_object_get(m, "kind")), meta_string(m, "namespace"),
                meta_string(m, "name"), &live, err) != 0)
        return -1;
    return reads_put(rd, plan_manifest_id(m), live, err);
}

int reads_project_cluster(httpc *flyte, const char *workspace_id, char *buf, size_t len,
                          json_t **out, wf_err *err)
{
    json_t *project = NULL;
    const char *v;

    buf[0] = '\0';
    if (flyte_get_project(flyte, workspace_id, &project, err) != 0)
        return -1;
    v = json_string_value(json_object_get(
        json_object_get(json_object_get(project, "labels"), "values"), FLYTE_LABEL_CLUSTER));
    if (project && desired_project_is_ours(project) && v)
        snprintf(buf, len, "%s", v);
    if (out)
        *out = project;
    else
        json_decref(project);
    return 0;
}
