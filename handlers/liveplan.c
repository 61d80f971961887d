/* The live diff of one event: read what the event's plan stands on (and
 * every rendered object), let the planner decide as the service would,
 * print the plan. */
#include "liveplan.h"

#include <stdlib.h>
#include <string.h>

#include "flyte.h"
#include "k8s.h"
#include "oauth.h"
#include "plan.h"
#include "reads.h"

struct liveplan {
    const wf_config *cfg;
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

/* Everything the plan of ev can look at: the project, the namespaces,
 * the attributes, every rendered object in a namespace that exists and
 * every cluster-wide one, the member RoleBindings to prune; or, Flyte not
 * wanted, every object by the names wsflyte renders. */
static int read_all(liveplan *lp, const plan_input *in, reads *rd, wf_err *err)
{
    const desired *d = in->d;
    int *need = NULL, rc = -1;

    if (reads_project(rd, lp->flyte, d, err) != 0)
        return -1;
    if (!d->flyte_wanted)
        return reads_cleanup(rd, lp->kube, d, err);
    if (reads_namespaces(rd, lp->kube, d, err) != 0 || reads_attributes(rd, lp->flyte, d, err) != 0)
        return -1;
    for (size_t i = 0; i <= d->n_domains; i++) {
        json_t *objs = i < d->n_domains ? d->domains[i].objects : d->cluster_objects, *obj;
        size_t j;
        if (i < d->n_domains && rd->namespaces[i] == NULL)
            continue; /* nothing exists in a namespace that does not */
        json_array_foreach(objs, j, obj)
        {
            if ((i == d->n_domains || j > 0) && reads_object(rd, lp->kube, obj, err) != 0)
                return -1;
        }
    }
    if ((need = calloc(d->n_domains ? d->n_domains : 1, sizeof(int))) != NULL)
        rc = plan_lists_needed(in, &rd->v, NULL, need) ? reads_bindings(rd, lp->kube, d, need, err)
                                                       : 0;
    else
        wf_err_set(err, WF_INTERNAL, "oom", "live diff: out of memory");
    free(need);
    return rc;
}

/* One step: "<verb> <Kind> [<ns>/]<name>[ (note)]", then the field
 * changes, indented. */
static void print_step(FILE *out, const plan_step *s)
{
    size_t i;
    json_t *c;

    fprintf(out, "%s %s %s%s%s%s%s%s\n", plan_op_names[s->op], s->kind, s->ns ? s->ns : "",
            s->ns ? "/" : "", s->name, s->note ? " (" : "", s->note ? s->note : "",
            s->note ? ")" : "");
    json_array_foreach(s->changes, i, c) fprintf(out, "  %s\n", json_string_value(c));
}

/* Prints pl; returns whether it changes anything (or fails, or waits). */
static int print_plan(FILE *out, const ws_event *ev, const plan *pl)
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
        print_step(out, &pl->steps[i]);
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

liveplan_verdict liveplan_run(liveplan *lp, const ws_event *ev, const desired *d, FILE *out,
                              wf_err *err)
{
    wsstate none;
    plan_input in = {PLAN_FOR_EVENT, lp->cfg, ev, d, &none, NULL, -1, NULL, 0, 0, 0, NULL, -1};
    liveplan_verdict v = LIVEPLAN_ERROR;
    reads rd;
    plan pl;

    wsstate_init(&none);
    plan_init(&pl);
    if (reads_init(&rd, d, err) == 0 && read_all(lp, &in, &rd, err) == 0 &&
        plan_make(&in, &rd.v, NULL, &pl, err) == 0)
        v = print_plan(out, ev, &pl) ? LIVEPLAN_CHANGES : LIVEPLAN_NO_CHANGE;
    plan_fini(&pl);
    reads_fini(&rd);
    return v;
}
