/* The live diff of one event: read what the event's plan stands on (and
 * every rendered object), let the planner decide as the service would,
 * print the plan. */
#include "liveplan.h"

#include <stdlib.h>
#include <string.h>

#include "flyte.h"
#include "k8s.h"
#include "oauth.h"
#include "placement.h"
#include "plan.h"
#include "reads.h"

struct liveplan {
    const wf_config *cfg;
    oauth *auth;
    httpc *flyte;
    k8s *kube;       /* kubernetes.api_url */
    k8s **exec_kube; /* per kubernetes.clusters entry */
};

/* Where the event's workspace is placed, as the service places it. */
typedef struct live_place {
    int cluster; /* index into kubernetes.clusters; -1 without them */
    int from;    /* a move: the cluster the project names now; else -1 */
    placement_via via;
} live_place;

/* The client for a plan_step.cluster (-1: the control plane). */
static k8s *kube_at(const liveplan *lp, int cluster)
{
    return cluster >= 0 ? lp->exec_kube[cluster] : lp->kube;
}

liveplan *liveplan_new(const wf_config *cfg, wf_err *err)
{
    liveplan *lp = calloc(1, sizeof(*lp));
    const char *ca = cfg->flyte.ca_file[0] ? cfg->flyte.ca_file : NULL;
    httpc_opts fo = {0};

    if (lp == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "live diff: out of memory");
        return NULL;
    }
    lp->cfg = cfg;
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
    if (cfg->kubernetes.n_clusters > 0 &&
        (lp->exec_kube = calloc(cfg->kubernetes.n_clusters, sizeof(*lp->exec_kube))) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "live diff: out of memory");
        liveplan_free(lp);
        return NULL;
    }
    for (size_t i = 0; i < cfg->kubernetes.n_clusters; i++)
        if ((lp->exec_kube[i] = k8s_new_cluster(cfg, (int)i, NULL, NULL, NULL, err)) == NULL) {
            liveplan_free(lp);
            return NULL;
        }
    return lp;
}

void liveplan_free(liveplan *lp)
{
    if (lp == NULL)
        return;
    for (size_t i = 0; lp->exec_kube && i < lp->cfg->kubernetes.n_clusters; i++)
        k8s_free(lp->exec_kube[i]);
    free(lp->exec_kube);
    k8s_free(lp->kube);
    httpc_free(lp->flyte);
    oauth_free(lp->auth);
    free(lp);
}

/* The cleanup entries, each on its API server: namespaces on the
 * workspace's cluster, the rest on the control plane (as the handler). */
static int read_cleanup(liveplan *lp, reads *rd, const desired *d, wf_err *err)
{
    for (size_t i = 0; i < json_array_size(d->cleanup); i++) {
        const char *kind =
            json_string_value(json_object_get(json_array_get(d->cleanup, i), "kind"));
        int is_ns = kind && strcmp(kind, "Namespace") == 0;
        if (reads_cleanup_entry(rd, kube_at(lp, is_ns ? d->cluster : -1), d, i, err) != 0)
            return -1;
    }
    return 0;
}

/* Everything the plan of ev can look at: the project, the namespaces,
 * the attributes, every rendered object in a namespace that exists and
 * every cluster-wide one, the member RoleBindings to prune, a move's old
 * namespaces; or, Flyte not wanted, every object by the names wsflyte
 * renders.  Each on the API server the handler would ask. */
static int read_all(liveplan *lp, const plan_input *in, reads *rd, wf_err *err)
{
    const desired *d = in->d;
    k8s *kube = kube_at(lp, d->cluster);
    int *need = NULL, rc = -1;

    if (reads_project(rd, lp->flyte, d, err) != 0)
        return -1;
    if (!d->flyte_wanted)
        return read_cleanup(lp, rd, d, err);
    if (reads_namespaces(rd, kube, d, err) != 0 || reads_attributes(rd, lp->flyte, d, err) != 0)
        return -1;
    for (size_t i = 0; in->from_cluster >= 0 && i < d->n_domains; i++)
        if (reads_old_namespace(rd, kube_at(lp, in->from_cluster), d, i, err) != 0)
            return -1;
    rd->v.old_namespaces_read = in->from_cluster >= 0;
    for (size_t i = 0; i <= d->n_domains; i++) {
        json_t *objs = i < d->n_domains ? d->domains[i].objects : d->cluster_objects, *obj;
        size_t j;
        if (i < d->n_domains && rd->namespaces[i] == NULL)
            continue; /* nothing exists in a namespace that does not */
        json_array_foreach(objs, j, obj)
        {
            if ((i == d->n_domains || j > 0) &&
                reads_object(rd, i < d->n_domains ? kube : lp->kube, obj, err) != 0)
                return -1;
        }
    }
    if ((need = calloc(d->n_domains ? d->n_domains : 1, sizeof(int))) != NULL)
        rc = plan_lists_needed(in, &rd->v, NULL, need) ? reads_bindings(rd, kube, d, need, err) : 0;
    else
        wf_err_set(err, WF_INTERNAL, "oom", "live diff: out of memory");
    free(need);
    return rc;
}

/* Places ev as the service does: its label (Flyte wanted), else the cluster
 * the project names, else the default, else the weights.  A label naming
 * another cluster than the project's is a move. */
static int place(liveplan *lp, const ws_event *ev, int flyte_wanted, live_place *out, wf_err *err)
{
    const wf_config *cfg = lp->cfg;
    char current[256];
    placement_in in = {cfg->kubernetes.clusters,
                       cfg->kubernetes.n_clusters,
                       flyte_wanted ? cfg->kubernetes.placement_label : NULL,
                       ev->ws.labels,
                       ev->ws.n_labels,
                       current,
                       cfg->kubernetes.placement_default,
                       ev->ws.workspace_id};
    placement pl;
    long cur;

    out->cluster = out->from = -1;
    out->via = PLACEMENT_SINGLE;
    if (cfg->kubernetes.n_clusters == 0)
        return 0;
    if (reads_project_cluster(lp->flyte, ev->ws.workspace_id, current, sizeof(current), NULL,
                              err) != 0 ||
        placement_choose(&in, &pl, err) != 0)
        return -1;
    out->cluster = (int)pl.index;
    out->via = pl.via;
    cur = current[0] ? wf_config_cluster(cfg, current) : -1;
    if (cur >= 0 && cur != out->cluster)
        out->from = (int)cur;
    return 0;
}

/* The API server's name, as the metrics say it. */
static const char *cluster_name(const wf_config *cfg, int cluster)
{
    return cluster >= 0 ? cfg->kubernetes.clusters[cluster].name : "control-plane";
}

/* One step: "<verb> <Kind> [<ns>/]<name>[ on <cluster>][ (note)]", then
 * the field changes, indented.  "on <cluster>" (a Kubernetes object, with
 * kubernetes.clusters): the API server it is read and written on. */
static void print_step(FILE *out, const wf_config *cfg, const plan_step *s)
{
    int on = cfg->kubernetes.n_clusters > 0 && s->target == PLAN_OBJECT;
    size_t i;
    json_t *c;

    fprintf(out, "%s %s %s%s%s%s%s%s%s%s\n", plan_op_names[s->op], s->kind, s->ns ? s->ns : "",
            s->ns ? "/" : "", s->name, on ? " on " : "", on ? cluster_name(cfg, s->cluster) : "",
            s->note ? " (" : "", s->note ? s->note : "", s->note ? ")" : "");
    json_array_foreach(s->changes, i, c) fprintf(out, "  %s\n", json_string_value(c));
}

/* Prints pl; returns whether it changes anything (or fails, or waits). */
static int print_plan(FILE *out, const wf_config *cfg, const ws_event *ev, const plan *pl)
{
    size_t counts[PLAN_KEEP + 1];
    int decided = pl->verdict == PLAN_FAIL || wf_err_is_set(&pl->err);

    plan_count(pl, counts);
    if (pl->verdict == PLAN_STALE)
        fprintf(out,
                "stale: %s records version %lld, newer than this event's %lld: the event would "
                "be SKIPPED, nothing changes\n",
                pl->where, pl->newer, (long long)ev->workspace_version);
    for (size_t i = 0; i < pl->n_steps; i++)
        print_step(out, cfg, &pl->steps[i]);
    if (decided && pl->err.cls == WF_TRANSIENT)
        fprintf(out, "wait: %s; the event would be retried (TRANSIENT %s) until then\n",
                pl->err.msg, pl->err.code);
    else if (decided)
        fprintf(out, "fail: the event would FAIL (%s %s): %s\n", wf_class_name(pl->err.cls),
                pl->err.code, pl->err.msg);
    fprintf(out, "%zu to create, %zu to update, %zu to delete, %zu unchanged\n",
            counts[PLAN_CREATE], counts[PLAN_UPDATE], counts[PLAN_DELETE], counts[PLAN_KEEP]);
    return decided || counts[PLAN_CREATE] || counts[PLAN_UPDATE] || counts[PLAN_DELETE];
}

static const char *const via_names[] = {
    [PLACEMENT_SINGLE] = "single",    [PLACEMENT_LABEL] = "by label",
    [PLACEMENT_CURRENT] = "current",  [PLACEMENT_DEFAULT] = "by default",
    [PLACEMENT_WEIGHT] = "by weight",
};

/* With kubernetes.clusters, the placement as the first line:
 * "cluster west (by label)", or "cluster west (by label), moving from east". */
static void print_place(FILE *out, const wf_config *cfg, const live_place *at)
{
    if (at->cluster < 0)
        return;
    fprintf(out, "cluster %s (%s)", cluster_name(cfg, at->cluster), via_names[at->via]);
    if (at->from >= 0)
        fprintf(out, ", moving from %s", cluster_name(cfg, at->from));
    fputc('\n', out);
}

liveplan_verdict liveplan_run(liveplan *lp, const ws_event *ev, FILE *out, wf_err *err)
{
    int flyte_wanted = ev->type != WS_WORKSPACE_DELETED && workspace_has_service(&ev->ws, "flyte");
    live_place at;
    wsstate none;
    desired d;
    liveplan_verdict v = LIVEPLAN_ERROR;
    reads rd;
    plan pl;

    memset(&d, 0, sizeof(d));
    memset(&rd, 0, sizeof(rd));
    wsstate_init(&none);
    plan_init(&pl);
    if (place(lp, ev, flyte_wanted, &at, err) != 0) {
        if (err->cls != WF_VALIDATION && err->cls != WF_CONFIG)
            goto out;
        fprintf(out, "fail: the event would FAIL (%s %s): %s\n", wf_class_name(err->cls), err->code,
                err->msg);
        fprintf(out, "0 to create, 0 to update, 0 to delete, 0 unchanged\n");
        v = LIVEPLAN_CHANGES;
        goto out;
    }
    if (desired_build_on(lp->cfg, ev, at.cluster, &d, err) != 0)
        goto out;
    {
        plan_input in = {PLAN_FOR_EVENT,
                         lp->cfg,
                         ev,
                         &d,
                         &none,
                         NULL,
                         -1,
                         NULL,
                         0,
                         0,
                         0,
                         NULL,
                         d.flyte_wanted ? at.from : -1};
        print_place(out, lp->cfg, &at);
        if (reads_init(&rd, &d, err) == 0 && read_all(lp, &in, &rd, err) == 0 &&
            plan_make(&in, &rd.v, NULL, &pl, err) == 0)
            v = print_plan(out, lp->cfg, ev, &pl) ? LIVEPLAN_CHANGES : LIVEPLAN_NO_CHANGE;
    }
out:
    plan_fini(&pl);
    reads_fini(&rd);
    desired_fini(&d);
    return v;
}
