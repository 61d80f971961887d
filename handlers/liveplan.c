/* The live diff of one event: read FlyteAdmin and Kubernetes by the names
 * wsflyte renders, decide as the handler would (foreign, stale), compare
 * each object with livediff and print one line per object. */
#include "liveplan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flyte.h"
#include "k8s.h"
#include "livediff.h"
#include "oauth.h"

#define RBAC_V1    "rbac.authorization.k8s.io/v1"
#define ATTRS_TYPE "WORKFLOW_EXECUTION_CONFIG"

struct liveplan {
    oauth *auth;
    httpc *flyte;
    k8s *kube;
};

liveplan *liveplan_new(const wf_config *cfg, wf_err *err)
{
    liveplan *lp = calloc(1, sizeof(*lp));
    const char *ca = cfg->flyte.ca_file[0] ? cfg->flyte.ca_file : NULL;
    httpc_opts fo = {0};

    if (lp == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "live diff: out of memory");
        return NULL;
    }
    if (cfg->flyte.auth_type == WF_AUTH_CLIENT_CREDENTIALS &&
        (lp->auth = oauth_new(cfg, ca, err)) == NULL) {
        liveplan_free(lp);
        return NULL;
    }
    fo.api = "flyte";
    fo.base_url = cfg->flyte.admin_url;
    fo.ca_file = ca;
    if (lp->auth) {
        fo.auth = oauth_auth;
        fo.auth_ud = lp->auth;
    }
    if ((lp->flyte = httpc_new(&fo, err)) == NULL ||
        (lp->kube = k8s_new(cfg, NULL, NULL, NULL, err)) == NULL) {
        liveplan_free(lp);
        return NULL;
    }
    return lp;
}

void liveplan_free(liveplan *lp)
{
    if (lp == NULL)
        return;
    k8s_free(lp->kube);
    httpc_free(lp->flyte);
    oauth_free(lp->auth);
    free(lp);
}

/* ---- one run ---- */

typedef struct plan {
    liveplan *lp;
    const ws_event *ev;
    const desired *d;
    FILE *out;
    int count[4]; /* per verb */
    int decided;  /* the event would fail or wait: a change, whatever else */
} plan;

typedef enum verb { CREATE, UPDATE, DELETE, UNCHANGED } verb;

static const char *const verb_names[] = {"create", "update", "delete", "unchanged"};

/* One object's line: "<verb> <Kind> [<ns>/]<name>[ (note)]", then the
 * field changes, indented. */
static void line(plan *p, verb v, const char *kind, const char *ns, const char *name,
                 const char *note, const json_t *changes)
{
    size_t i;
    json_t *c;

    fprintf(p->out, "%s %s %s%s%s%s%s%s\n", verb_names[v], kind, ns ? ns : "", ns ? "/" : "", name,
            note ? " (" : "", note ? note : "", note ? ")" : "");
    json_array_foreach(changes, i, c) fprintf(p->out, "  %s\n", json_string_value(c));
    p->count[v]++;
}

static int oom(wf_err *err)
{
    wf_err_set(err, WF_INTERNAL, "oom", "live diff: out of memory");
    return -1;
}

/* ---- the handler's reading of what it finds (handlers/provision.c) ---- */

static const char *meta_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static int being_deleted(const json_t *obj)
{
    const char *phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
    return meta_string(obj, "deletionTimestamp") != NULL ||
           (phase && strcmp(phase, "Terminating") == 0);
}

static void fail_line(plan *p, const char *code, const char *why)
{
    fprintf(p->out, "fail: the event would FAIL (PERMANENT %s): %s\n", code, why);
    p->decided = 1;
}

static void foreign_namespace(plan *p, const char *ns)
{
    char why[512];

    snprintf(why, sizeof(why),
             "namespace %s exists but is not wsflyte's for workspace %s (labels %s=%s and %s=%s); "
             "wsflyte writes nothing into it, labels nothing in it and never deletes it",
             ns, p->d->project_id, LABEL_MANAGED_BY, MANAGER_NAME, LABEL_WORKSPACE,
             p->d->project_id);
    fail_line(p, "k8s.foreign-namespace", why);
}

/* ---- the Flyte project and attributes ---- */

/* The fields an UpdateProject writes, as comparable JSON: name,
 * description, labels.values, and state (any non-archived state reads as
 * ACTIVE, as the handler reads it). */
static json_t *project_view(const json_t *p, int live)
{
    json_t *v = json_object(), *labels = json_object_get(json_object_get(p, "labels"), "values");
    const char *keys[] = {"name", "description"};
    const char *state = json_string_value(json_object_get(p, "state"));
    int rc = v ? 0 : -1;

    for (size_t i = 0; i < 2; i++)
        if (json_is_string(json_object_get(p, keys[i])))
            rc |= json_object_set(v, keys[i], json_object_get(p, keys[i]));
    if (json_is_object(labels))
        rc |= json_object_set_new(v, "labels", json_pack("{s:O}", "values", labels));
    if (live)
        state = flyte_project_archived(p) ? FLYTE_STATE_ARCHIVED : FLYTE_STATE_ACTIVE;
    if (state)
        rc |= json_object_set_new(v, "state", json_string(state));
    if (rc != 0) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* Prints the project's line: update with the fields the PUT (want: the
 * desired project or the archive body) changes, or unchanged.  A field the
 * body leaves out is kept by FlyteAdmin, so it is left out of both. */
static int project_line(plan *p, const json_t *want, const json_t *live, wf_err *err)
{
    json_t *a = project_view(want, 0), *b = project_view(live, 1), *changes = json_array(), *v;
    const char *k;
    void *tmp;
    int n;

    json_object_foreach_safe(b, tmp, k, v)
    {
        if (json_object_get(a, k) == NULL)
            json_object_del(b, k);
    }
    n = a && b && changes ? livediff_replace(a, b, changes) : -1;

    if (n > 0)
        line(p, UPDATE, "FlyteProject", NULL, p->d->project_id, NULL, changes);
    else if (n == 0)
        line(p, UNCHANGED, "FlyteProject", NULL, p->d->project_id,
             flyte_project_archived(live) ? "archived" : NULL, NULL);
    json_decref(a);
    json_decref(b);
    json_decref(changes);
    return n < 0 ? oom(err) : 0;
}

/* A domain's WORKFLOW_EXECUTION_CONFIG: FlyteAdmin answers only for an
 * active project, and falls back to a project-level row. */
static int attributes_line(plan *p, const json_t *project, const desired_domain *dd, wf_err *err)
{
    const char *kind = "ProjectDomainAttributes", *domain;
    json_t *live = NULL, *changes;
    int n;

    if (project == NULL) {
        line(p, CREATE, kind, p->d->project_id, dd->domain, NULL, NULL);
        return 0;
    }
    if (flyte_project_archived(project)) {
        line(p, UPDATE, kind, p->d->project_id, dd->domain,
             "not readable while the project is archived; written after re-activation", NULL);
        return 0;
    }
    if (flyte_get_domain_attributes(p->lp->flyte, p->d->project_id, dd->domain, ATTRS_TYPE, &live,
                                    err) != 0)
        return -1;
    domain = json_string_value(json_object_get(live, "domain"));
    if (live == NULL || domain == NULL || strcmp(domain, dd->domain) != 0) {
        line(p, CREATE, kind, p->d->project_id, dd->domain,
             live ? "only project-level attributes exist" : NULL, NULL);
        json_decref(live);
        return 0;
    }
    if ((changes = json_array()) == NULL ||
        (n = livediff_replace(dd->attributes, live, changes)) < 0)
        n = -1;
    else
        line(p, n ? UPDATE : UNCHANGED, kind, p->d->project_id, dd->domain, NULL, changes);
    json_decref(changes);
    json_decref(live);
    return n < 0 ? oom(err) : 0;
}

/* ---- Kubernetes objects ---- */

/* One manifest against the live object (already read when have_live;
 * known absent when live is NULL then). */
static int object_line(plan *p, const json_t *want, int have_live, const json_t *live, wf_err *err)
{
    const char *av = json_string_value(json_object_get(want, "apiVersion"));
    const char *kind = json_string_value(json_object_get(want, "kind"));
    const char *ns = meta_string(want, "namespace"), *name = meta_string(want, "name");
    json_t *got = NULL, *changes;
    int n = 0;

    if (!have_live) {
        if (k8s_get(p->lp->kube, av, kind, ns, name, &got, err) != 0)
            return -1;
        live = got;
    }
    if (live == NULL) {
        line(p, CREATE, kind, ns, name, NULL, NULL);
        return 0;
    }
    if ((changes = json_array()) == NULL ||
        (n = livediff_apply(want, live, K8S_FIELD_MANAGER, changes)) < 0)
        n = -1;
    else
        line(p, n ? UPDATE : UNCHANGED, kind, ns, name, NULL, changes);
    json_decref(changes);
    json_decref(got);
    return n < 0 ? oom(err) : 0;
}

static int binding_wanted(const desired_domain *dd, const char *name)
{
    size_t i;
    json_t *n;

    json_array_foreach(dd->bindings, i, n)
    {
        if (strcmp(json_string_value(n), name) == 0)
            return 1;
    }
    return 0;
}

/* The member RoleBindings the handler would prune from a namespace of the
 * workspace's that exists: the same LIST and the same filter. */
static int prune_lines(plan *p, const desired_domain *dd, wf_err *err)
{
    char selector[512];
    json_t *items = NULL, *item;
    size_t i;

    desired_member_selector(p->d->project_id, selector, sizeof(selector));
    if (k8s_list(p->lp->kube, RBAC_V1, "RoleBinding", dd->namespace_name, selector, &items, err) !=
        0)
        return -1;
    json_array_foreach(items, i, item)
    {
        const char *ns = meta_string(item, "namespace"), *name = meta_string(item, "name");
        if (ns && name && strcmp(ns, dd->namespace_name) == 0 && desired_is_binding_name(name) &&
            desired_object_is_ours(item, p->d->project_id) && !binding_wanted(dd, name))
            line(p, DELETE, "RoleBinding", ns, name, "former member or role", NULL);
    }
    json_decref(items);
    return 0;
}

/* ---- Flyte wanted ---- */

/* Reads the rendered namespaces into live[] (null when absent); 1 when
 * one is foreign or still terminating (the decision is printed). */
static int read_namespaces(plan *p, json_t *live, wf_err *err)
{
    for (size_t i = 0; i < p->d->n_domains; i++) {
        const char *ns = p->d->domains[i].namespace_name;
        json_t *obj = NULL;

        if (k8s_get(p->lp->kube, "v1", "Namespace", NULL, ns, &obj, err) != 0)
            return -1;
        if (json_array_append_new(live, obj ? obj : json_null()) != 0)
            return oom(err);
        if (obj && !desired_object_is_ours(obj, p->d->project_id)) {
            foreign_namespace(p, ns);
            return 1;
        }
    }
    return 0;
}

static int terminating(plan *p, const json_t *live_ns)
{
    size_t i;
    json_t *ns;

    json_array_foreach(live_ns, i, ns)
    {
        if (!json_is_null(ns) && being_deleted(ns)) {
            fprintf(p->out,
                    "wait: namespace %s is still terminating from an earlier deletion; the event "
                    "would be retried (TRANSIENT k8s.namespace-terminating) until it is gone, "
                    "then re-create it\n",
                    meta_string(ns, "name"));
            p->decided = 1;
            return 1;
        }
    }
    return 0;
}

static int plan_domain(plan *p, const json_t *project, const desired_domain *dd,
                       const json_t *live_ns, wf_err *err)
{
    size_t j;
    json_t *obj;

    if (attributes_line(p, project, dd, err) != 0)
        return -1;
    json_array_foreach(dd->objects, j, obj)
    {
        /* The Namespace was read already; nothing exists in a missing one. */
        int known = j == 0 || json_is_null(live_ns);
        if (object_line(p, obj, known, j == 0 && !json_is_null(live_ns) ? live_ns : NULL, err) != 0)
            return -1;
    }
    return 0;
}

static int plan_present(plan *p, const json_t *project, wf_err *err)
{
    json_t *live_ns = json_array(), *obj;
    size_t i;
    int rc;

    if (live_ns == NULL)
        return oom(err);
    if ((rc = read_namespaces(p, live_ns, err)) != 0)
        goto out;
    if (project == NULL)
        line(p, CREATE, "FlyteProject", NULL, p->d->project_id, NULL, NULL);
    else if ((rc = project_line(p, p->d->project, project, err)) != 0)
        goto out;
    if (terminating(p, live_ns))
        goto out;
    for (i = 0; rc == 0 && i < p->d->n_domains; i++)
        rc = plan_domain(p, project, &p->d->domains[i], json_array_get(live_ns, i), err);
    for (i = 0; rc == 0 && i < p->d->n_domains; i++)
        if (!json_is_null(json_array_get(live_ns, i)))
            rc = prune_lines(p, &p->d->domains[i], err);
    json_array_foreach(p->d->cluster_objects, i, obj)
    {
        if (rc == 0)
            rc = object_line(p, obj, 0, NULL, err);
    }
out:
    json_decref(live_ns);
    return rc < 0 ? -1 : 0;
}

/* ---- Flyte not wanted ---- */

static const char *entry_string(const json_t *entry, const char *key)
{
    return json_string_value(json_object_get(entry, key));
}

static int read_cleanup(plan *p, json_t *live, wf_err *err)
{
    size_t i;
    json_t *entry;

    json_array_foreach(p->d->cleanup, i, entry)
    {
        json_t *obj = NULL;
        if (k8s_get(p->lp->kube, entry_string(entry, "apiVersion"), entry_string(entry, "kind"),
                    entry_string(entry, "namespace"), entry_string(entry, "name"), &obj, err) != 0)
            return -1;
        if (json_array_append_new(live, obj ? obj : json_null()) != 0)
            return oom(err);
    }
    return 0;
}

/* The newest version annotated on the workspace's own namespaces. */
static long long namespaces_version(plan *p, const json_t *live)
{
    long long newest = -1;
    size_t i;
    json_t *entry;

    json_array_foreach(p->d->cleanup, i, entry)
    {
        const json_t *obj = json_array_get(live, i);
        if (strcmp(entry_string(entry, "kind"), "Namespace") != 0 || json_is_null(obj) ||
            !desired_object_is_ours(obj, p->d->project_id))
            continue;
        json_t *ann = json_object_get(json_object_get(obj, "metadata"), "annotations");
        long long v =
            desired_parse_version(json_string_value(json_object_get(ann, ANNOTATION_VERSION)));
        if (v > newest)
            newest = v;
    }
    return newest;
}

static void stale_line(plan *p, const char *where, long long recorded)
{
    fprintf(p->out,
            "stale: %s records version %lld, newer than this event's %lld: the event would be "
            "SKIPPED, nothing changes\n",
            where, recorded, (long long)p->ev->workspace_version);
}

/* Each object the handler would delete by name: only the workspace's own,
 * not already going away. */
static const char *foreign_of(plan *p, const json_t *live)
{
    const char *foreign = NULL;
    size_t i;
    json_t *entry;

    json_array_foreach(p->d->cleanup, i, entry)
    {
        const json_t *obj = json_array_get(live, i);
        const char *kind = entry_string(entry, "kind"), *ns = entry_string(entry, "namespace");
        const char *name = entry_string(entry, "name");
        int is_ns = strcmp(kind, "Namespace") == 0;

        if (json_is_null(obj))
            line(p, UNCHANGED, kind, ns, name, "does not exist", NULL);
        else if (!desired_object_is_ours(obj, p->d->project_id)) {
            line(p, UNCHANGED, kind, ns, name, "not wsflyte's: left alone", NULL);
            if (is_ns && foreign == NULL)
                foreign = name;
        } else if (being_deleted(obj))
            line(p, UNCHANGED, kind, ns, name, "already being deleted", NULL);
        else
            line(p, DELETE, kind, ns, name, is_ns ? "with everything in it" : NULL, NULL);
    }
    return foreign;
}

static int plan_absent(plan *p, const json_t *project, int foreign_project, wf_err *err)
{
    json_t *live = json_array();
    const char *foreign;
    long long newest;
    int rc = -1;

    if (live == NULL)
        return oom(err);
    if (read_cleanup(p, live, err) != 0)
        goto out;
    if ((newest = namespaces_version(p, live)) > p->ev->workspace_version) {
        stale_line(p, "a namespace of the workspace", newest);
        rc = 0;
        goto out;
    }
    if (project && (!flyte_project_archived(project) ||
                    desired_recorded_version(project) != p->ev->workspace_version)) {
        if (project_line(p, p->d->archive, project, err) != 0)
            goto out;
    } else {
        line(p, UNCHANGED, "FlyteProject", NULL, p->d->project_id,
             project           ? "archived"
             : foreign_project ? "not managed by wsflyte: left alone"
                               : "does not exist",
             NULL);
    }
    if ((foreign = foreign_of(p, live)) != NULL)
        foreign_namespace(p, foreign);
    rc = 0;
out:
    json_decref(live);
    return rc;
}

/* ---- the run ---- */

liveplan_verdict liveplan_run(liveplan *lp, const ws_event *ev, const desired *d, FILE *out,
                              wf_err *err)
{
    plan p = {lp, ev, d, out, {0}, 0};
    json_t *project = NULL;
    int rc = 0, foreign_project = 0;

    if (flyte_get_project(lp->flyte, d->project_id, &project, err) != 0)
        return LIVEPLAN_ERROR;
    if (project && !desired_project_is_ours(project)) {
        json_decref(project);
        project = NULL;
        foreign_project = 1;
        if (d->flyte_wanted) {
            fail_line(&p, "flyte.foreign-project",
                      "the Flyte project exists but is not managed by wsflyte (no label "
                      "managed-by=wsflyte); wsflyte refuses to take it over");
            goto summary;
        }
    }
    if (desired_recorded_version(project) > ev->workspace_version) {
        stale_line(&p, "the Flyte project", desired_recorded_version(project));
        goto summary;
    }
    rc = d->flyte_wanted ? plan_present(&p, project, err)
                         : plan_absent(&p, project, foreign_project, err);
summary:
    json_decref(project);
    if (rc != 0)
        return LIVEPLAN_ERROR;
    fprintf(out, "%d to create, %d to update, %d to delete, %d unchanged\n", p.count[CREATE],
            p.count[UPDATE], p.count[DELETE], p.count[UNCHANGED]);
    return p.decided || p.count[CREATE] || p.count[UPDATE] || p.count[DELETE] ? LIVEPLAN_CHANGES
                                                                              : LIVEPLAN_NO_CHANGE;
}
