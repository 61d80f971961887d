/* The one level-triggered handler, and the repairer: read, plan (plan.h
 * decides everything), then act: the steps applied level by level, the
 * record written.  Nothing here decides what to write. */
#include "provision.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"
#include "flyte.h"
#include "jsonout.h"
#include "k8s.h"
#include "lanes.h"
#include "log.h"
#include "placement.h"
#include "plan.h"
#include "reads.h"

/* ---- the provisioner ---- */

/* How many requests of one event may be in flight at once, and about
 * how many of all workers together (processing.concurrency of them): the
 * default 64 workers get four lanes each. */
#define PROVISION_LANES    8
#define PROVISION_REQUESTS 256

/* A pass's listing of FlyteAdmin: projects this many a page (a request
 * each), and the one answer of every attributes row, which grows with the
 * fleet (about 17 MiB at 10,000 workspaces of three domains): its own
 * client with a longer timeout. */
#define PROVISION_LIST_PAGE       100
#define PROVISION_LIST_TIMEOUT_MS 60000L
#define ATTRIBUTES_TYPE           "WORKFLOW_EXECUTION_CONFIG"
#define CLUSTER_ATTRIBUTES_TYPE   "EXECUTION_CLUSTER_LABEL"

/* What a task running on one lane uses: its own clients, since a libcurl
 * handle serves one request at a time.  Lane 0's are p->flyte and p->kube. */
typedef struct lane {
    httpc *flyte;
    k8s *kube;  /* kubernetes.api_url: the control plane, or the one cluster */
    k8s **exec; /* per kubernetes.clusters entry */
} lane;

struct provisioner {
    const wf_config *cfg;
    httpc_opts flyte_opts; /* what a listing's own client is made from */
    httpc *flyte;
    k8s *kube;
    lanes *lanes; /* lane i's context is &lane[i] */
    size_t width; /* lanes in use */
    lane lane[PROVISION_LANES];
    applied *cache; /* borrowed; NULL: none */
    provision_intent_fn intent;
    void *intent_ud;
    provision_retire_fn retire;
    void *retire_ud;
};

void provisioner_set_intent(provisioner *p, provision_intent_fn fn, void *ud)
{
    p->intent = fn;
    p->intent_ud = ud;
}

void provisioner_set_retire(provisioner *p, provision_retire_fn fn, void *ud)
{
    p->retire = fn;
    p->retire_ud = ud;
}

/* ---- the lanes' clients ---- */

/* The client of a step's or read's cluster (plan_step.cluster). */
static k8s *kube_of(const lane *ln, int cluster)
{
    return cluster >= 0 ? ln->exec[cluster] : ln->kube;
}

/* One client per execution cluster, each with its cluster's pacer.
 * Returns 0, or -1 with err set (what was made is in ln->exec). */
static int exec_clients_new(provisioner *p, lane *ln, const provisioner_pacers *pace,
                            httpc_observer observer, void *observer_ud, wf_err *err)
{
    size_t n = p->cfg->kubernetes.n_clusters;

    if (n == 0)
        return 0;
    if ((ln->exec = calloc(n, sizeof(*ln->exec))) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "provisioner: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((ln->exec[i] =
                 k8s_new_cluster(p->cfg, (int)i, pace && pace->clusters ? pace->clusters[i] : NULL,
                                 observer, observer_ud, err)) == NULL)
            return -1;
    return 0;
}

static void exec_clients_free(const provisioner *p, lane *ln)
{
    for (size_t i = 0; ln->exec && i < p->cfg->kubernetes.n_clusters; i++)
        k8s_free(ln->exec[i]);
    free(ln->exec);
    ln->exec = NULL;
}

/* Gives lanes 1.. clients like lane 0's (same pacers, observer and
 * credentials; fo is FlyteAdmin's options) and creates p's lanes.  A
 * client connects on its first request, so idle lanes hold no
 * connection.  Returns 0, or -1 with err set (provisioner_free releases
 * what was made). */
static int lane_clients_new(provisioner *p, const httpc_opts *fo, const provisioner_pacers *pace,
                            httpc_observer observer, void *observer_ud, wf_err *err)
{
    void *ctx[PROVISION_LANES];
    int workers = p->cfg->processing.concurrency > 0 ? p->cfg->processing.concurrency : 1;

    /* Every worker's lanes together open at most about PROVISION_REQUESTS
     * connections to each API: eight lanes up to 32 workers, fewer (never
     * below two) with more. */
    p->width = (size_t)(PROVISION_REQUESTS / workers);
    if (p->width > PROVISION_LANES)
        p->width = PROVISION_LANES;
    if (p->width < 2)
        p->width = 2;

    p->lane[0].flyte = p->flyte;
    p->lane[0].kube = p->kube;
    ctx[0] = &p->lane[0];
    if (exec_clients_new(p, &p->lane[0], pace, observer, observer_ud, err) != 0)
        return -1;
    for (size_t i = 1; i < p->width; i++) {
        lane *ln = &p->lane[i];
        if ((ln->flyte = httpc_new(fo, err)) == NULL ||
            (ln->kube = k8s_new(p->cfg, pace ? pace->k8s : NULL, observer, observer_ud, err)) ==
                NULL ||
            exec_clients_new(p, ln, pace, observer, observer_ud, err) != 0)
            return -1;
        ctx[i] = ln;
    }
    p->lanes = lanes_new(p->width, ctx, err);
    return p->lanes ? 0 : -1;
}

/* Stops the lanes' threads, then frees lanes 1..'s clients (lane 0's are
 * p->flyte and p->kube). */
static void lane_clients_free(provisioner *p)
{
    lanes_free(p->lanes);
    exec_clients_free(p, &p->lane[0]);
    for (size_t i = 1; i < p->width; i++) {
        httpc_free(p->lane[i].flyte);
        k8s_free(p->lane[i].kube);
        exec_clients_free(p, &p->lane[i]);
    }
}

/* The pacer priority and yield test of every lane's later requests
 * (httpc_set_priority, httpc_set_yield). */
static void lane_clients_set(provisioner *p, pacer_priority priority, int (*yield)(void *ud),
                             void *yield_ud)
{
    for (size_t i = 0; i < p->width; i++) {
        httpc_set_priority(p->lane[i].flyte, priority);
        k8s_set_priority(p->lane[i].kube, priority);
        httpc_set_yield(p->lane[i].flyte, yield, yield_ud);
        k8s_set_yield(p->lane[i].kube, yield, yield_ud);
        for (size_t c = 0; p->lane[i].exec && c < p->cfg->kubernetes.n_clusters; c++) {
            k8s_set_priority(p->lane[i].exec[c], priority);
            k8s_set_yield(p->lane[i].exec[c], yield, yield_ud);
        }
    }
}

provisioner *provisioner_new(const wf_config *cfg, oauth *flyte_auth, applied *cache,
                             const provisioner_pacers *pace, httpc_observer observer,
                             void *observer_ud, wf_err *err)
{
    provisioner *p = calloc(1, sizeof(*p));
    httpc_opts fo = {0};

    if (p == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "provisioner: out of memory");
        return NULL;
    }
    p->cfg = cfg;
    p->cache = cache;
    fo.api = "flyte";
    fo.base_url = cfg->flyte.admin_url;
    fo.ca_file = cfg->flyte.ca_file[0] ? cfg->flyte.ca_file : NULL;
    if (flyte_auth) {
        fo.auth = oauth_auth;
        fo.auth_ud = flyte_auth;
    }
    fo.pacer = pace ? pace->flyte : NULL;
    fo.observer = observer;
    fo.observer_ud = observer_ud;
    p->flyte_opts = fo;
    p->flyte = httpc_new(&fo, err);
    p->kube = p->flyte ? k8s_new(cfg, pace ? pace->k8s : NULL, observer, observer_ud, err) : NULL;
    if (p->kube == NULL || lane_clients_new(p, &fo, pace, observer, observer_ud, err) != 0) {
        provisioner_free(p);
        return NULL;
    }
    return p;
}

void provisioner_free(provisioner *p)
{
    if (p == NULL)
        return;
    lane_clients_free(p);
    httpc_free(p->flyte);
    k8s_free(p->kube);
    free(p);
}

/* ---- small helpers ---- */

static const char *meta_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static int oom(wf_err *err)
{
    wf_err_set(err, WF_INTERNAL, "oom", "provision: out of memory");
    return -1;
}

static int fill_present(prov_result *r, const desired *d, wf_err *err)
{
    r->status = PROV_SUCCEEDED;
    r->flyte_project = strdup(d->project_id);
    r->console_url = d->console_url ? strdup(d->console_url) : NULL;
    r->namespaces = calloc(d->n_domains ? d->n_domains : 1, sizeof(char *));
    if (r->flyte_project == NULL || r->namespaces == NULL || (d->console_url && !r->console_url))
        return oom(err);
    for (size_t i = 0; i < d->n_domains; i++) {
        if ((r->namespaces[i] = strdup(d->domains[i].namespace_name)) == NULL)
            return oom(err);
        r->n_namespaces++;
    }
    return 0;
}

static int fill_absent(prov_result *r, prov_status status, const char *reason, const char *project,
                       wf_err *err)
{
    r->status = status;
    if ((reason && (r->reason = strdup(reason)) == NULL) ||
        (project && (r->flyte_project = strdup(project)) == NULL))
        return oom(err);
    return 0;
}

static int fill_answer(prov_result *r, const plan_answer *a, const desired *d, wf_err *err)
{
    if (a->present)
        return fill_present(r, d, err);
    return fill_absent(r, a->status, a->reason, a->project ? d->project_id : NULL, err);
}

/* ---- acting on a plan ---- */

static int keep_uid(wsstate *cur, const char *ns, const json_t *live, wf_err *err)
{
    const char *uid = meta_string(live, "uid");
    if (cur && uid && wsstate_set_namespace_uid(cur, ns, uid) != 0)
        return oom(err);
    return 0;
}

/* One step on a lane: what it learnt comes back in the task and is kept
 * by the caller once the level is done, so that tasks share nothing. */
typedef struct step_task {
    const desired *d;
    const plan_step *s;
    char *ns_uid; /* a namespace's uid as the server answered (owned) */
    int done;
} step_task;

/* Applies one step with ln's clients.  A namespace the server answers as
 * terminating makes the apply wait (transient): nothing goes into it. */
static int apply_step(void *lane_ctx, void *task, wf_err *err)
{
    lane *ln = lane_ctx;
    step_task *t = task;
    const plan_step *s = t->s;
    json_t *live = NULL;
    int exists = 0, rc = 0;

    switch (s->target) {
    case PLAN_PROJECT:
        if (s->op != PLAN_CREATE) {
            rc = flyte_update_project(ln->flyte, s->want, err);
            break;
        }
        if ((rc = flyte_register_project(ln->flyte, s->want, &exists, err)) == 0 && exists) {
            /* Registered by someone since it was read: read again. */
            wf_err_set(err, WF_TRANSIENT, "flyte.race",
                       "project %s was registered by another writer meanwhile; reading it again",
                       t->d->project_id);
            rc = -1;
        }
        break;
    case PLAN_ATTRIBUTES:
        rc = flyte_put_domain_attributes(ln->flyte, t->d->project_id, s->name, s->want, err);
        break;
    case PLAN_OBJECT:
        if (s->op == PLAN_DELETE) {
            rc = k8s_delete(kube_of(ln, s->cluster), s->api_version, s->kind, s->ns, s->name,
                            s->uid, err);
            break;
        }
        if (strcmp(s->kind, "Namespace") != 0) {
            rc = k8s_apply(kube_of(ln, s->cluster), s->want, NULL, NULL, err);
            break;
        }
        if ((rc = k8s_apply_state(kube_of(ln, s->cluster), s->want, &live, err)) != 0)
            break;
        if (plan_terminating(live)) {
            wf_err_set(err, WF_TRANSIENT, "k8s.namespace-terminating",
                       "namespace %s is still terminating from an earlier deletion; waiting "
                       "for it to go before re-creating it",
                       s->name);
            rc = -1;
        } else if (meta_string(live, "uid") &&
                   (t->ns_uid = strdup(meta_string(live, "uid"))) == NULL) {
            rc = oom(err);
        }
        json_decref(live);
        break;
    }
    t->done = rc == 0;
    return rc;
}

/* Called on the caller's thread for each step applied (a repair's report). */
typedef void (*step_done_fn)(void *ud, const plan_step *s);

/* Applies pl's steps of levels first..last-1 level by level: the steps of
 * one level at once, on the provisioner's lanes; a level starts when the
 * one below ended, and the first error in plan order wins.  The
 * namespaces' uids go into cur (when not NULL). */
static int apply_levels(provisioner *p, const desired *d, const plan *pl, int first, int last,
                        wsstate *cur, step_done_fn done, void *ud, wf_err *err)
{
    step_task *tasks = calloc(pl->n_steps ? pl->n_steps : 1, sizeof(*tasks));
    void **run = calloc(pl->n_steps ? pl->n_steps : 1, sizeof(*run));
    int rc = 0;

    if (tasks == NULL || run == NULL) {
        free(tasks);
        free(run);
        return oom(err);
    }
    for (int level = first; rc == 0 && level < last; level++) {
        size_t n = 0;
        for (size_t i = 0; i < pl->n_steps; i++)
            if (pl->steps[i].level == level && pl->steps[i].op != PLAN_KEEP) {
                tasks[i] = (step_task){d, &pl->steps[i], NULL, 0};
                run[n++] = &tasks[i];
            }
        if (n > 0)
            rc = lanes_run(p->lanes, apply_step, run, n, err);
        /* What succeeded counts, also in a level that failed. */
        for (size_t k = 0; k < n; k++) {
            step_task *t = run[k];
            if (t->ns_uid && cur && rc == 0 &&
                wsstate_set_namespace_uid(cur, t->s->name, t->ns_uid) != 0)
                rc = oom(err);
            free(t->ns_uid);
            t->ns_uid = NULL;
            if (t->done && done)
                done(ud, t->s);
        }
    }
    free(tasks);
    free(run);
    return rc;
}

static int apply_plan(provisioner *p, const desired *d, const plan *pl, wsstate *cur,
                      step_done_fn done, void *ud, wf_err *err)
{
    return apply_levels(p, d, pl, 0, PLAN_LEVELS, cur, done, ud, err);
}

static int plan_writes(const plan *pl)
{
    for (size_t i = 0; i < pl->n_steps; i++)
        if (pl->steps[i].op != PLAN_KEEP)
            return 1;
    return 0;
}

/* ---- one event ---- */

/* Turns cur (the desired hashes) into the record of this completed apply,
 * stores it and copies it into *out. */
static int record(provisioner *p, const ws_event *ev, int32_t partition, const desired *d,
                  wsstate *cur, const prov_result *r, wsstate *out, wf_err *err)
{
    json_t *doc = ws_event_to_json(ev);

    cur->version = ev->workspace_version;
    cur->status = r->status;
    cur->project = r->flyte_project != NULL;
    cur->flyte = d->flyte_wanted;
    cur->complete = 1;
    if (!d->flyte_wanted)
        cur->n_objs = 0;
    if (doc == NULL || (cur->workspace_id = strdup(d->project_id)) == NULL ||
        (cur->event_id = strdup(ev->event_id)) == NULL ||
        (r->reason && (cur->reason = strdup(r->reason)) == NULL) ||
        (cur->event = jsonout_compact(doc, NULL)) == NULL || wsstate_copy(out, cur) != 0) {
        json_decref(doc);
        applied_forget(p->cache, d->project_id);
        wf_err_set(err, WF_INTERNAL, "oom", "state record: out of memory");
        return -1;
    }
    json_decref(doc);
    applied_put_take(p->cache, partition, cur);
    return 0;
}

/* Stores the workspace's record as incomplete, here and (through the
 * intent writer) on the state topic, before anything is written.  A move
 * (may_hold: the new cluster's name) also names the new cluster as one
 * that may hold the workspace's namespaces, so that a move that fails
 * part way and is set back deletes what it made there. */
static int mark_before_writes(provisioner *p, int32_t partition, const desired *d,
                              const char *may_hold, wf_err *err)
{
    wsstate marked;
    int rc = 0, found = applied_mark_moving(p->cache, d->project_id, may_hold, &marked);

    if (found < 0) {
        wsstate_fini(&marked);
        return oom(err);
    }
    if (found && p->intent)
        rc = p->intent(p->intent_ud, partition, &marked, err);
    wsstate_fini(&marked);
    return rc;
}

/* The cluster a move writes to, when the record does not name it as one
 * that may hold the namespaces yet; NULL otherwise. */
static const char *move_target(const wf_config *cfg, const desired *d, const wsstate *prior,
                               int moved)
{
    const char *to = moved && d->cluster >= 0 ? cfg->kubernetes.clusters[d->cluster].name : NULL;

    return to && !(prior->moving_from && strcmp(prior->moving_from, to) == 0) ? to : NULL;
}

/* Writes the record the event left in *out through the intent writer, on
 * this worker: the workspace's next event runs after this one returns, so
 * its write-ahead mark lands after this record.  *out is emptied on every
 * path: a record is never handed to another producer, which could deliver
 * it after a later one of the same workspace.  Returns 0, or -1 with err
 * set (transient) when it could not be written: the event is then tried
 * again, and since the record in the store is marked incomplete, the retry
 * takes the full path and writes its record anew. */
static int write_record(provisioner *p, int32_t partition, wsstate *out, wf_err *err)
{
    wsstate left;
    wf_err why;
    int rc = 0;

    if (out->workspace_id == NULL || p->intent == NULL)
        return 0;
    wf_err_init(&why);
    if (p->intent(p->intent_ud, partition, out, &why) != 0) {
        if (applied_mark_incomplete(p->cache, out->workspace_id, &left))
            wsstate_fini(&left);
        wf_err_set(err, WF_TRANSIENT, "kafka.state", "state record not written: %s", why.msg);
        rc = -1;
    }
    wsstate_fini(out);
    return rc;
}

/* Where an event puts the workspace (place). */
typedef struct placed {
    int cluster; /* its namespaces' cluster; -1 without kubernetes.clusters */
    int from;    /* a cluster that may still hold some of them; -1: none */
    int moved;   /* from is the cluster it had: a move */
    /* The Flyte project, when placing it read it (project_read; owned,
     * NULL when there is none): the event's reads take it over. */
    int project_read;
    json_t *project;
} placed;

/* One read of an event's, on a lane. */
typedef enum read_what {
    READ_PROJECT,
    READ_NAMESPACE,
    READ_CLEANUP,
    READ_BINDINGS,
    READ_OLD_NAMESPACE,
    READ_OLD_CLEANUP
} read_what;

typedef struct read_task {
    reads *rd;
    const desired *d;
    read_what what;
    size_t i;
    int cluster; /* the Kubernetes API it reads (plan_step.cluster) */
    /* A read of the cluster a move left: its failure does not fail the
     * event (the record keeps moving_from) and is kept here. */
    int optional;
    wf_err failed;
} read_task;

static int read_task_run(lane *ln, read_task *t, wf_err *err)
{
    switch (t->what) {
    case READ_PROJECT:
        return reads_project(t->rd, ln->flyte, t->d, err);
    case READ_NAMESPACE:
        return reads_namespace(t->rd, kube_of(ln, t->cluster), t->d, t->i, err);
    case READ_CLEANUP:
        return reads_cleanup_entry(t->rd, kube_of(ln, t->cluster), t->d, t->i, err);
    case READ_BINDINGS:
        return reads_binding_list(t->rd, kube_of(ln, t->cluster), t->d, t->i, err);
    case READ_OLD_NAMESPACE:
        return reads_old_namespace(t->rd, kube_of(ln, t->cluster), t->d, t->i, err);
    case READ_OLD_CLEANUP:
        return reads_old_cleanup_entry(t->rd, kube_of(ln, t->cluster), t->d, t->i, err);
    }
    return 0;
}

static int read_one(void *lane_ctx, void *task, wf_err *err)
{
    read_task *t = task;

    if (!t->optional)
        return read_task_run(lane_ctx, t, err);
    wf_err_init(&t->failed);
    (void)read_task_run(lane_ctx, t, &t->failed);
    return 0;
}

/* Runs n reads at once on the lanes; each fills a slot of its own. */
static int read_at_once(provisioner *p, read_task *tasks, size_t n, wf_err *err)
{
    void **run = calloc(n ? n : 1, sizeof(*run));
    int rc;

    if (run == NULL)
        return oom(err);
    for (size_t i = 0; i < n; i++)
        run[i] = &tasks[i];
    rc = n ? lanes_run(p->lanes, read_one, run, n, err) : 0;
    free(run);
    return rc;
}

/* Reads what the plan of an event stands on, all at once: the project,
 * and the namespaces (Flyte wanted: a record never stands in for
 * ownership, a namespace it lists may have been re-created by someone
 * else since) or every object by the names wsflyte renders (Flyte not
 * wanted); then the member RoleBindings where the plan cannot prune by
 * name. */
static int read_for_event(provisioner *p, const plan_input *in, const desired *prior, placed *at,
                          reads *rd, wf_err *old, wf_err *err)
{
    const desired *d = in->d;
    size_t n_cleanup = json_array_size(d->cleanup), cap = 1 + 2 * d->n_domains + 2 * n_cleanup;
    size_t n = 0;
    int left = in->from_cluster >= 0 && in->from_cluster != d->cluster;
    int moving = d->flyte_wanted && left;
    read_task *tasks = calloc(cap, sizeof(*tasks));
    int *need = calloc(d->n_domains ? d->n_domains : 1, sizeof(int));
    int rc = -1;

    if (tasks == NULL || need == NULL) {
        rc = oom(err);
        goto out;
    }
    if (at->project_read) {
        reads_adopt_project(rd, at->project);
        at->project = NULL;
        at->project_read = 0;
    } else {
        tasks[n++] = (read_task){.rd = rd, .d = d, .what = READ_PROJECT, .i = 0, .cluster = -1};
    }
    for (size_t i = 0; d->flyte_wanted && i < d->n_domains; i++)
        tasks[n++] =
            (read_task){.rd = rd, .d = d, .what = READ_NAMESPACE, .i = i, .cluster = d->cluster};
    for (size_t i = 0; moving && i < d->n_domains; i++)
        tasks[n++] = (read_task){.rd = rd,
                                 .d = d,
                                 .what = READ_OLD_NAMESPACE,
                                 .i = i,
                                 .cluster = in->from_cluster,
                                 .optional = 1};
    for (size_t i = 0; !d->flyte_wanted && i < n_cleanup; i++) {
        const json_t *e = json_array_get(d->cleanup, i);
        const char *kind = json_string_value(json_object_get(e, "kind"));
        int is_ns = kind && strcmp(kind, "Namespace") == 0;
        tasks[n++] = (read_task){
            .rd = rd, .d = d, .what = READ_CLEANUP, .i = i, .cluster = is_ns ? d->cluster : -1};
        if (is_ns && left) /* a move left it there too */
            tasks[n++] = (read_task){.rd = rd,
                                     .d = d,
                                     .what = READ_OLD_CLEANUP,
                                     .i = i,
                                     .cluster = in->from_cluster,
                                     .optional = 1};
    }
    if (read_at_once(p, tasks, n, err) != 0)
        goto out;
    rd->v.namespaces_read = d->flyte_wanted;
    for (size_t i = 0; i < n; i++)
        if (tasks[i].optional && wf_err_is_set(&tasks[i].failed) && !wf_err_is_set(old))
            *old = tasks[i].failed;
    /* The cluster left unread: nothing is planned there. */
    rd->v.old_namespaces_read = moving && !wf_err_is_set(old);
    rd->v.old_cleanup_read = !d->flyte_wanted && left && !wf_err_is_set(old);
    n = 0;
    if (d->flyte_wanted && plan_lists_needed(in, &rd->v, prior, need))
        for (size_t i = 0; i < d->n_domains; i++)
            if (need[i])
                tasks[n++] = (read_task){
                    .rd = rd, .d = d, .what = READ_BINDINGS, .i = i, .cluster = d->cluster};
    rc = read_at_once(p, tasks, n, err);
out:
    free(tasks);
    free(need);
    return rc;
}

/* Keeps the uid of each namespace the plan leaves as it is. */
static int keep_read_uids(const desired *d, const reads *rd, const plan *pl, wsstate *cur,
                          wf_err *err)
{
    for (size_t i = 0; i < pl->n_steps; i++) {
        const plan_step *s = &pl->steps[i];
        if (s->op == PLAN_KEEP && s->target == PLAN_OBJECT && s->domain >= 0 &&
            strcmp(s->kind, "Namespace") == 0 &&
            keep_uid(cur, s->name, rd->namespaces[s->domain], err) != 0)
            return -1;
    }
    (void)d;
    return 0;
}

/* The cluster a move leaves, whose deletes did not finish: the record says
 * so (moving_from), and the workspace's next event tries them again. */
static int old_cluster_left(provisioner *p, const desired *d, int from, wsstate *cur,
                            const wf_err *why, wf_err *err)
{
    const char *name = p->cfg->kubernetes.clusters[from].name;
    log_ctx ctx = {.workspace_id = d->project_id, .duration_ms = -1};

    if (d->flyte_wanted)
        log_warn(&ctx,
                 "workspace moved to cluster %s, but its namespaces on cluster %s are not "
                 "deleted yet: %s; the record keeps moving_from=%s and the next event deletes "
                 "them",
                 p->cfg->kubernetes.clusters[d->cluster].name, name, why->msg, name);
    else
        log_warn(&ctx,
                 "workspace removed, but the namespaces a move left on cluster %s are not "
                 "deleted yet: %s; the record keeps moving_from=%s and the workspace's next "
                 "event (the same one again is enough) deletes them",
                 name, why->msg, name);
    if ((cur->moving_from = strdup(name)) == NULL)
        return oom(err);
    return 0;
}

/* The record remembers one cluster that may hold leftovers: kept, given_up
 * is no longer tracked. */
static void log_untracked(const desired *d, const char *given_up, const char *kept)
{
    log_ctx ctx = {.workspace_id = d->project_id, .duration_ms = -1};

    log_warn(&ctx,
             "an earlier move may have left namespaces on cluster %s; the record now keeps "
             "moving_from=%s and no longer tracks %s (wsflyte-audit lists what is left)",
             given_up, kept, given_up);
}

/* The record's moving_from when this event does not delete there: a move
 * whose own old cluster is emptied keeps it (an earlier move's deletes that
 * never finished, or what a refused move made), so the workspace's next
 * event that is no move deletes there.  One cluster is remembered: when
 * this move's old cluster did not answer either, or when moving_from names
 * a cluster kubernetes.clusters no longer lists, it is given up, and said
 * so (wsflyte-audit lists what is left there). */
static int older_move_left(provisioner *p, const desired *d, const wsstate *prior, int from,
                           wsstate *cur, wf_err *err)
{
    const char *name = prior->moving_from;
    long older = name ? wf_config_cluster(p->cfg, name) : -1;
    log_ctx ctx = {.workspace_id = d->project_id, .duration_ms = -1};

    if (name == NULL || (older >= 0 && (older == d->cluster || older == from)))
        return 0; /* nothing left, or this event deletes there */
    if (older < 0) {
        log_warn(&ctx,
                 "the record's moving_from names cluster %s, which kubernetes.clusters no "
                 "longer lists: nothing is deleted there (wsflyte-audit lists what is left)",
                 name);
        return 0;
    }
    if (cur->moving_from) {
        log_untracked(d, name, cur->moving_from);
        return 0;
    }
    log_warn(&ctx,
             "workspace moved to cluster %s; an earlier move may have left namespaces on "
             "cluster %s: the record keeps moving_from=%s and the next event deletes them",
             p->cfg->kubernetes.clusters[d->cluster].name, name, name);
    if ((cur->moving_from = strdup(name)) == NULL)
        return oom(err);
    return 0;
}

/* Read, plan, mark, apply, record.  at says where (place); on a move the
 * record's hashes vouch for nothing on the new cluster. */
static int run_event(provisioner *p, const ws_event *ev, long long failed_version,
                     int32_t partition, const desired *d, const plan_ids *ids, const wsstate *prior,
                     int have, placed *at, wsstate *cur, prov_result *r, wsstate *out, wf_err *err)
{
    const int from = at->from, moved = at->moved;
    plan_input in = {PLAN_FOR_EVENT,
                     p->cfg,
                     ev,
                     d,
                     cur,
                     have && !moved ? prior : NULL,
                     failed_version,
                     NULL,
                     0,
                     0,
                     0,
                     ids,
                     from};
    desired pd;
    reads rd;
    plan pl;
    wf_err old;
    int rc = -1, have_pd = 0;

    memset(&pd, 0, sizeof(pd));
    wf_err_init(&old);
    plan_init(&pl);
    if (reads_init(&rd, d, err) != 0)
        goto out;
    rd.v.object = NULL; /* an event reads no other object: the record decides */
    if (plan_needs_prior(&in)) {
        wf_err ignored;
        wf_err_init(&ignored);
        /* A record whose event cannot be rendered any more prunes by listing. */
        have_pd = plan_render_record(p->cfg, prior, &pd, &ignored) == 0 && pd.flyte_wanted;
    }
    if (read_for_event(p, &in, have_pd ? &pd : NULL, at, &rd, &old, err) != 0 ||
        plan_make(&in, &rd.v, have_pd ? &pd : NULL, &pl, err) != 0)
        goto out;
    switch (pl.verdict) {
    case PLAN_STALE:
    case PLAN_DUPLICATE:
        rc = fill_absent(r, PROV_SKIPPED, "stale", NULL, err);
        goto out;
    case PLAN_FAIL:
    case PLAN_SUPERSEDED:
        wf_err_set(err, pl.err.cls, pl.err.code, "%s", pl.err.msg);
        goto out;
    case PLAN_PROCEED:
        break;
    }
    const char *moving_to = have ? move_target(p->cfg, d, prior, moved) : NULL;
    if (have && (prior->complete || moving_to) && plan_writes(&pl) &&
        mark_before_writes(p, partition, d, moving_to, err) != 0)
        goto out;
    if (keep_read_uids(d, &rd, &pl, cur, err) != 0 ||
        apply_levels(p, d, &pl, 0, PLAN_LEVEL_OLD_CLUSTER, cur, NULL, NULL, err) != 0 ||
        wf_err_is_set(&pl.err)) {
        wf_err_set(err, pl.err.cls, pl.err.code, "%s", pl.err.msg);
        if (have)
            applied_mark_incomplete(p->cache, d->project_id, out);
        /* The mark named the new cluster in place of an older one. */
        if (moving_to && plan_writes(&pl) && prior->moving_from &&
            strcmp(prior->moving_from, moving_to) != 0)
            log_untracked(d, prior->moving_from, moving_to);
        goto out;
    }
    /* A move: the old cluster's namespaces go last.  Everything is in place
     * on the new one, so a failure there (the old cluster unreachable, when
     * read or when deleting) does not fail the event: the record remembers
     * the cluster to finish. */
    if ((wf_err_is_set(&old) || apply_levels(p, d, &pl, PLAN_LEVEL_OLD_CLUSTER, PLAN_LEVELS, NULL,
                                             NULL, NULL, &old) != 0) &&
        old_cluster_left(p, d, from, cur, &old, err) != 0)
        goto out;
    if (have && older_move_left(p, d, prior, from, cur, err) != 0)
        goto out;
    if (d->cluster >= 0 &&
        (cur->cluster = strdup(p->cfg->kubernetes.clusters[d->cluster].name)) == NULL) {
        rc = oom(err);
        goto out;
    }
    if (fill_answer(r, &pl.answer, d, err) == 0)
        rc = record(p, ev, partition, d, cur, r, out, err);
out:
    plan_fini(&pl);
    reads_fini(&rd);
    desired_fini(&pd);
    return rc;
}

/* Where the workspace's namespaces go and which cluster may still hold
 * them (*at, its project to be released by the caller).  The label
 * decides, else the cluster the record (or, without one, the Flyte
 * project's label) names, else the default, else the weights.  An event
 * that removes the workspace ignores the label: it cleans up where the
 * workspace is. */
static int place(provisioner *p, const ws_event *ev, const wsstate *rec, int flyte_wanted,
                 placed *at, wf_err *err)
{
    const wf_config *cfg = p->cfg;
    char labelled[256] = "";
    placement_in in = {cfg->kubernetes.clusters,
                       cfg->kubernetes.n_clusters,
                       flyte_wanted ? cfg->kubernetes.placement_label : NULL,
                       ev->ws.labels,
                       ev->ws.n_labels,
                       rec ? rec->cluster : NULL,
                       cfg->kubernetes.placement_default,
                       ev->ws.workspace_id};
    placement pl;
    long cur = -1, left = -1;

    *at = (placed){.cluster = -1, .from = -1};
    if (cfg->kubernetes.n_clusters == 0)
        return 0;
    /* Without a record's cluster, the project's label says where the
     * workspace is, also for an event with a placement label: one naming
     * another cluster is a move, as wsflyte-render --diff shows it. */
    if (rec == NULL || rec->cluster == NULL) {
        if (reads_project_cluster(p->flyte, ev->ws.workspace_id, labelled, sizeof(labelled),
                                  &at->project, err) != 0)
            return -1;
        at->project_read = 1;
        in.current = labelled;
    }
    if (placement_choose(&in, &pl, err) != 0)
        return -1;
    at->cluster = (int)pl.index;
    cur = in.current && in.current[0] ? wf_config_cluster(cfg, in.current) : -1;
    left = rec && rec->moving_from ? wf_config_cluster(cfg, rec->moving_from) : -1;
    if (cur >= 0 && cur != at->cluster) {
        at->from = (int)cur;
        at->moved = 1;
    } else if (left >= 0 && left != at->cluster) {
        at->from = (int)left;
    }
    return 0;
}

int provision_event(provisioner *p, const ws_event *ev, int32_t partition, prov_result *r,
                    wsstate *out, wf_err *err)
{
    return provision_event_after(p, ev, -1, partition, r, out, err);
}

int provision_event_after(provisioner *p, const ws_event *ev, long long failed_version,
                          int32_t partition, prov_result *r, wsstate *out, wf_err *err)
{
    wsstate prior, cur;
    int rc = -1, have;
    placed at = {.cluster = -1, .from = -1};
    int flyte_wanted = ev->type != WS_WORKSPACE_DELETED && workspace_has_service(&ev->ws, "flyte");
    plan_ids ids = {0};
    desired d;

    wsstate_init(out);
    wsstate_init(&cur);
    memset(&d, 0, sizeof(d));
    wsstate_init(&prior);
    have = ev->ws.workspace_id && applied_get(p->cache, ev->ws.workspace_id, &prior);
    /* Stale by the record: decided before anything is built. */
    if (have && plan_stale_by_record(&prior, ev->workspace_version)) {
        rc = fill_absent(r, PROV_SKIPPED, "stale", NULL, err);
        goto out;
    }
    if (place(p, ev, have ? &prior : NULL, flyte_wanted, &at, err) != 0)
        goto out;
    if (desired_build_on(p->cfg, ev, at.cluster, &d, err) != 0 ||
        plan_hashes_keep(&d, &cur, &ids, err) != 0)
        goto out;
    /* A move left undone is no duplicate: its deletes are still to do. */
    if (have && !prior.moving_from && plan_duplicate(&prior, ev->workspace_version, &cur)) {
        /* The record on the topic already says this: nothing to write. */
        plan_answer a = {prior.status, prior.reason, d.flyte_wanted, prior.project};
        rc = fill_answer(r, &a, &d, err);
        goto out;
    }
    rc =
        run_event(p, ev, failed_version, partition, &d, &ids, &prior, have, &at, &cur, r, out, err);
    if (write_record(p, partition, out, err) != 0)
        rc = -1;
out:
    json_decref(at.project);
    plan_ids_fini(&ids);
    wsstate_fini(&prior);
    wsstate_fini(&cur);
    desired_fini(&d);
    return rc;
}

/* ---- drift repair ---- */

/* A repair's log line shows this many field differences, each cut to
 * REPAIR_CHANGE_MAX bytes: enough to see what was done, bounded. */
#define REPAIR_CHANGES_SHOWN 4
#define REPAIR_CHANGE_MAX    160
#define REPAIR_WHAT_MAX      (REPAIR_CHANGES_SHOWN * (REPAIR_CHANGE_MAX + 2) + 32)

/* The first differences as one bounded text. */
static void changes_text(const json_t *changes, char *buf, size_t len)
{
    size_t n = json_array_size(changes), used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && i < REPAIR_CHANGES_SHOWN; i++) {
        int w = snprintf(buf + used, len - used, "%s%.*s", i ? "; " : "", REPAIR_CHANGE_MAX,
                         json_string_value(json_array_get(changes, i)));
        if (w < 0 || (size_t)w >= len - used)
            return;
        used += (size_t)w;
    }
    if (n > REPAIR_CHANGES_SHOWN)
        snprintf(buf + used, len - used, "; and %zu more", n - REPAIR_CHANGES_SHOWN);
}

typedef struct repair_run {
    const wf_config *cfg;
    const char *ws;
    repair_fn cb;
    void *ud;
    int count;
} repair_run;

/* Each object repaired is logged with what differed and who changed it
 * (managedFields), and reported. */
static void repaired(void *ud, const plan_step *s)
{
    repair_run *rr = ud;
    log_ctx ctx = {.workspace_id = rr->ws, .duration_ms = -1};
    int flyte = s->target != PLAN_OBJECT;
    repair_note note = {flyte ? "flyte" : "k8s",
                        s->target == PLAN_PROJECT ? "Project" : s->kind,
                        flyte ? NULL : s->ns,
                        s->name,
                        s->id,
                        s->writer,
                        NULL};
    char what[REPAIR_WHAT_MAX], name[256];

    if (s->changes)
        changes_text(s->changes, what, sizeof(what));
    else
        snprintf(what, sizeof(what), "%s", s->op == PLAN_CREATE ? "deleted" : "differs");
    if (s->target == PLAN_ATTRIBUTES) {
        snprintf(name, sizeof(name), "%s/%s", rr->ws, s->name);
        note.name = name;
    }
    if (!flyte && rr->cfg->kubernetes.n_clusters > 0)
        note.cluster =
            s->cluster >= 0 ? rr->cfg->kubernetes.clusters[s->cluster].name : "control-plane";
    log_warn(&ctx, "drift repaired: %s %s%s%s: %s (changed by %s)", note.kind,
             note.ns ? note.ns : "", note.ns ? "/" : "", note.name, what,
             s->writer ? s->writer : "unknown");
    rr->count++;
    if (rr->cb)
        rr->cb(rr->ud, &note);
}

/* The record rec, stored under partition, is superseded (why says by
 * what): it is dropped from the store, unless an event replaced it since,
 * and tombstoned on its partition (this replica owns it), so that no
 * replica restores it again.  Nothing is written from it. */
static void retire(provisioner *p, const wsstate *rec, int32_t partition, const wf_err *why)
{
    log_ctx ctx = {.workspace_id = rec->workspace_id, .duration_ms = -1};
    wf_err err;

    if (!applied_retire(p->cache, rec->workspace_id, partition, rec->version))
        return;
    log_warn(&ctx, "%s; record retired from state partition %d, nothing repaired from it", why->msg,
             (int)partition);
    wf_err_init(&err);
    if (p->retire && p->retire(p->retire_ud, partition, rec->workspace_id, &err) != 0)
        log_warn(&ctx,
                 "tombstone of the superseded state record: %s; the next restore of "
                 "partition %d retires it again",
                 err.msg, (int)partition);
}

/* What the watch saw of the objects req names, as reads: an object it saw
 * needs no request when it matches. */
static int seen_as_reads(const repair_req *req, reads *rd, wf_err *err)
{
    for (size_t i = 0; i < req->n_ids; i++) {
        json_t *seen = req->seen ? req->seen[i] : NULL;
        if (reads_put(rd, req->ids[i], json_incref(seen), err) != 0)
            return -1;
    }
    return 0;
}

/* A listing's copies of the project and each domain's attributes, as
 * reads: the attributes only where FlyteAdmin would answer a GET of them
 * (the project wsflyte's and active), as reads_attributes reads them. */
static int listed_as_reads(const json_t *listed, const desired *d, reads *rd, wf_err *err)
{
    const char *text = json_string_value(json_object_get(listed, "project"));
    json_t *attrs = json_object_get(listed, "attributes");
    json_t *cattrs = json_object_get(listed, "cluster_attributes");

    if (text && (rd->project = json_loads(text, 0, NULL)) == NULL)
        return oom(err); /* written by json_dumps: only memory fails it */
    rd->v.project_read = 1;
    rd->v.project = rd->project;
    if (rd->project && desired_project_is_ours(rd->project) &&
        !desired_project_archived(rd->project))
        for (size_t i = 0; i < d->n_domains; i++) {
            text = json_string_value(json_object_get(attrs, d->domains[i].domain));
            if (text && (rd->attributes[i] = json_loads(text, 0, NULL)) == NULL)
                return oom(err);
            if (!d->domains[i].cluster_attributes)
                continue;
            text = json_string_value(json_object_get(cattrs, d->domains[i].domain));
            if (text && (rd->cluster_attributes[i] = json_loads(text, 0, NULL)) == NULL)
                return oom(err);
        }
    rd->v.attributes_read = 1;
    return 0;
}

/* Whether a listing shows the project and the attributes as the record
 * has them (*same): then the job needs no Flyte request.  Anything else
 * (a difference, a newer version on the project, a project missing from
 * the listing) is read again: nothing is written from a listing. */
static int listed_same(const plan_input *in, const json_t *listed, int *same, wf_err *err)
{
    plan_input fin = *in;
    reads rd;
    plan pl;
    int rc = -1;

    fin.ids = NULL;
    fin.n_ids = 0;
    fin.all_k8s = 0;
    fin.flyte = 1;
    *same = 0;
    plan_init(&pl);
    if (reads_init(&rd, in->d, err) == 0 && listed_as_reads(listed, in->d, &rd, err) == 0 &&
        plan_make(&fin, &rd.v, NULL, &pl, err) == 0) {
        *same = pl.verdict == PLAN_PROCEED && !plan_writes(&pl) && !wf_err_is_set(&pl.err);
        rc = 0;
    }
    plan_fini(&pl);
    reads_fini(&rd);
    return rc;
}

/* Reads what req names: the project and each domain's attributes when
 * Flyte is asked (the attributes only while the project is readable), and
 * every named object the record lists, unless the watch saw it matching
 * (screen: those keep the watch's copy). */
static int read_named(provisioner *p, const plan_input *in, const repair_req *req,
                      const plan *screen, reads *rd, wf_err *err)
{
    const desired *d = in->d;

    if (in->flyte &&
        (reads_project(rd, p->flyte, d, err) != 0 || reads_attributes(rd, p->flyte, d, err) != 0))
        return -1;
    for (size_t i = 0; i <= d->n_domains; i++) {
        json_t *objs = i < d->n_domains ? d->domains[i].objects : d->cluster_objects, *obj;
        size_t j;
        json_array_foreach(objs, j, obj)
        {
            uint64_t id = plan_manifest_id(obj), h;
            int named = req->all_k8s, kept = -1;

            for (size_t k = 0; k < req->n_ids; k++)
                if (req->ids[k] == id) {
                    named = 1;
                    kept = (int)k;
                }
            if (!named || !wsstate_find(in->record, id, &h))
                continue; /* never a name the record lacks */
            for (size_t k = 0; screen && kept >= 0 && k < screen->n_steps; k++)
                if (screen->steps[k].id == id && screen->steps[k].op == PLAN_KEEP) {
                    if (reads_put(rd, id, json_incref(req->seen[kept]), err) != 0)
                        return -1;
                    kept = -2;
                    break;
                }
            if (kept != -2 &&
                reads_object(rd, kube_of(&p->lane[0], i < d->n_domains ? d->cluster : -1), obj,
                             err) != 0)
                return -1;
        }
    }
    return 0;
}

/* The API server that holds rendered object id of d (-1:
 * kubernetes.api_url), or -2 when d renders no such object. */
static int object_where(const desired *d, uint64_t id)
{
    for (size_t i = 0; i <= d->n_domains; i++) {
        json_t *objs = i < d->n_domains ? d->domains[i].objects : d->cluster_objects, *obj;
        size_t j;
        json_array_foreach(objs, j, obj)
        {
            if (plan_manifest_id(obj) == id)
                return i < d->n_domains ? d->cluster : -1;
        }
    }
    return -2;
}

/* Keeps in *mine (arrays malloc'd into *ids and *seen) the ids of req seen
 * on the API server where d has them; the others are the events'
 * business (a move's old cluster, or the one it goes to).  Returns 0, or
 * -1 with err set. */
static int repair_here(const desired *d, const repair_req *req, repair_req *mine, uint64_t **ids,
                       json_t ***seen, wf_err *err)
{
    *mine = *req;
    *ids = NULL;
    *seen = NULL;
    if (req->where == NULL || req->n_ids == 0)
        return 0;
    if ((*ids = malloc(req->n_ids * sizeof(**ids))) == NULL ||
        (*seen = malloc(req->n_ids * sizeof(**seen))) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "repair: out of memory");
        return -1;
    }
    mine->n_ids = 0;
    for (size_t i = 0; i < req->n_ids; i++)
        if (object_where(d, req->ids[i]) == req->where[i]) {
            (*ids)[mine->n_ids] = req->ids[i];
            (*seen)[mine->n_ids++] = req->seen ? req->seen[i] : NULL;
        }
    mine->ids = *ids;
    mine->seen = *seen;
    mine->where = NULL;
    return 0;
}

/* The notes of domains left alone, as the log says them. */
static void log_left_alone(const char *ws, const plan *pl)
{
    for (size_t i = 0; i < pl->n_steps; i++)
        if (pl->steps[i].op == PLAN_KEEP && pl->steps[i].note &&
            pl->steps[i].target == PLAN_OBJECT && strcmp(pl->steps[i].kind, "Namespace") == 0)
            log_warn(LOG_CTX_NONE, "namespace %s of workspace %s is %s", pl->steps[i].name, ws,
                     pl->steps[i].note);
}

int provision_repair(provisioner *p, const char *workspace_id, const repair_req *asked,
                     repair_fn cb, void *cb_ud, wf_err *err)
{
    repair_run rr = {p->cfg, workspace_id, cb, cb_ud, 0};
    repair_req here, *req = &here;
    uint64_t *here_ids = NULL;
    json_t **here_seen = NULL;
    wsstate rec, cur;
    plan_ids ids = {0};
    desired d;
    reads rd;
    plan screen, pl;
    int rc = -1, screened = 0, flyte = asked->flyte;
    int32_t partition;
    ws_event ev;

    memset(&d, 0, sizeof(d));
    memset(&rd, 0, sizeof(rd));
    memset(&ev, 0, sizeof(ev));
    here = *asked;
    wsstate_init(&cur);
    plan_init(&screen);
    plan_init(&pl);
    if (!applied_get_at(p->cache, workspace_id, &rec, &partition))
        return 0; /* not owned here (any more) */
    /* Repairs yield to events at the pacers. */
    lane_clients_set(p, PACER_BACKGROUND, req->yield, req->yield_ud);
    if (!rec.flyte || !rec.complete) {
        rc = 0;
        goto out;
    }
    /* A record on a cluster no longer configured has nothing to repair;
     * nor, with clusters, one without a cluster (wsflyte does not know
     * which API server holds it: its next event places it). */
    if ((rec.cluster || p->cfg->kubernetes.n_clusters > 0) &&
        plan_record_cluster(p->cfg, &rec) < 0) {
        rc = 0;
        goto out;
    }
    if (wsstate_event_of(&rec, &ev, err) != 0 ||
        desired_build_on(p->cfg, &ev, plan_record_cluster(p->cfg, &rec), &d, err) != 0 ||
        plan_hashes_keep(&d, &cur, &ids, err) != 0)
        goto out;
    if (!d.flyte_wanted) {
        rc = 0;
        goto out;
    }
    if (repair_here(&d, asked, &here, &here_ids, &here_seen, err) != 0)
        goto out;
    if (here.n_ids == 0 && asked->n_ids > 0 && !here.all_k8s && !here.flyte) {
        rc = 0;
        goto out;
    }
    {
        plan_input in = {PLAN_FOR_REPAIR, p->cfg,     &ev,          &d,    &cur, &rec, -1,
                         req->ids,        req->n_ids, req->all_k8s, flyte, &ids, -1};
        /* First the copies the job carries: the pass's listing of
         * FlyteAdmin, then the watch's; a job whose copies all match needs
         * no request at all. */
        if (flyte && req->listed) {
            int same;
            if (listed_same(&in, req->listed, &same, err) != 0)
                goto out;
            in.flyte = flyte = !same;
        }
        if (!flyte && !req->all_k8s && req->n_ids == 0) {
            rc = 0;
            goto out;
        }
        if (!req->all_k8s && !flyte && req->n_ids > 0) {
            if (reads_init(&rd, &d, err) != 0 || seen_as_reads(req, &rd, err) != 0 ||
                plan_make(&in, &rd.v, NULL, &screen, err) != 0)
                goto out;
            reads_fini(&rd);
            screened = 1;
            if (!plan_writes(&screen) && screen.verdict == PLAN_PROCEED) {
                rc = 0;
                goto out;
            }
        }
        /* Then what the job names, read again. */
        if (reads_init(&rd, &d, err) != 0 ||
            read_named(p, &in, req, screened ? &screen : NULL, &rd, err) != 0 ||
            plan_make(&in, &rd.v, NULL, &pl, err) != 0)
            goto out;
        /* Something to write: first the project and the namespaces, whose
         * version records tell a superseded record, and which must be
         * wsflyte's before anything is written into them. */
        if (pl.verdict == PLAN_PROCEED && plan_writes(&pl) &&
            ((!rd.v.project_read && reads_project(&rd, p->flyte, &d, err) != 0) ||
             reads_namespaces(&rd, kube_of(&p->lane[0], d.cluster), &d, err) != 0 ||
             plan_make(&in, &rd.v, NULL, &pl, err) != 0))
            goto out;
        if (pl.verdict == PLAN_SUPERSEDED) {
            retire(p, &rec, partition, &pl.err);
            rc = 0;
            goto out;
        }
        log_left_alone(workspace_id, &pl);
        if (apply_plan(p, &d, &pl, NULL, repaired, &rr, err) != 0)
            goto out;
        if (wf_err_is_set(&pl.err)) {
            wf_err_set(err, pl.err.cls, pl.err.code, "%s", pl.err.msg);
            goto out;
        }
    }
    rc = rr.count;
out:
    lane_clients_set(p, PACER_EVENT, NULL, NULL);
    free(here_ids);
    free(here_seen);
    plan_fini(&screen);
    plan_fini(&pl);
    reads_fini(&rd);
    plan_ids_fini(&ids);
    desired_fini(&d);
    ws_event_fini(&ev);
    wsstate_fini(&cur);
    wsstate_fini(&rec);
    return rc;
}

/* ---- a pass's listing of FlyteAdmin ---- */

struct provision_listing {
    /* Per workspace id: {"project": compact JSON text (absent: FlyteAdmin
     * holds no such project), "attributes": {domain: compact JSON text},
     * with kubernetes.clusters "cluster_attributes" (EXECUTION_CLUSTER_LABEL)
     * alike}.
     * Text, not values: a parsed project or row takes several times its
     * bytes, and a pass holds every owned workspace's until its job. */
    json_t *entries;
};

void provision_listing_free(provision_listing *l)
{
    if (l == NULL)
        return;
    json_decref(l->entries);
    free(l);
}

size_t provision_listing_count(const provision_listing *l)
{
    return l ? json_object_size(l->entries) : 0;
}

json_t *provision_listing_take(provision_listing *l, const char *workspace_id)
{
    json_t *e = l ? json_incref(json_object_get(l->entries, workspace_id)) : NULL;

    if (e)
        json_object_del(l->entries, workspace_id);
    return e;
}

/* A listed project of an owned workspace, kept as text (without the
 * domains FlyteAdmin fills in from its configuration: nothing compares
 * them). */
static int listed_project(void *ud, const json_t *project, wf_err *err)
{
    provision_listing *l = ud;
    const char *id = json_string_value(json_object_get(project, "id"));
    json_t *e = id ? json_object_get(l->entries, id) : NULL, *copy;
    char *text;

    if (e == NULL || json_object_get(e, "project"))
        return 0; /* not owned here, or again on a later page */
    if ((copy = json_copy((json_t *)project)) == NULL)
        return oom(err);
    json_object_del(copy, "domains");
    text = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    if (text == NULL || json_object_set_new(e, "project", json_string(text)) != 0) {
        free(text);
        return oom(err);
    }
    free(text);
    return 0;
}

/* A listed project-domain row of an owned workspace, kept as text under
 * the entry's key (one per resource type). */
static int listed_row(provision_listing *l, const char *key, const json_t *row, wf_err *err)
{
    const char *id = json_string_value(json_object_get(row, "project"));
    const char *domain = json_string_value(json_object_get(row, "domain"));
    json_t *e = json_object_get(l->entries, id), *attrs;
    char *text;

    if (e == NULL)
        return 0;
    if ((attrs = json_object_get(e, key)) == NULL &&
        (json_object_set_new(e, key, json_object()) != 0 ||
         (attrs = json_object_get(e, key)) == NULL))
        return oom(err);
    if ((text = json_dumps(row, JSON_COMPACT)) == NULL ||
        json_object_set_new(attrs, domain, json_string(text)) != 0) {
        free(text);
        return oom(err);
    }
    free(text);
    return 0;
}

static int listed_attributes(void *ud, const json_t *row, wf_err *err)
{
    return listed_row(ud, "attributes", row, err);
}

static int listed_cluster_attributes(void *ud, const json_t *row, wf_err *err)
{
    return listed_row(ud, "cluster_attributes", row, err);
}

/* An entry for each workspace the store holds a record of. */
static int listing_owned(provisioner *p, provision_listing *l, wf_err *err)
{
    char **ids = NULL;
    size_t n = 0;
    int rc = 0;

    if (applied_list(p->cache, &ids, &n) != 0)
        return oom(err);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (json_object_set_new(l->entries, ids[i], json_object()) != 0)
            rc = oom(err);
    applied_list_free(ids, n);
    return rc;
}

int provision_list_flyte(provisioner *p, int (*yield)(void *ud), void *yield_ud,
                         provision_listing **out, wf_err *err)
{
    httpc_opts o = p->flyte_opts;
    provision_listing *l = calloc(1, sizeof(*l));
    httpc *h = NULL;
    int rc = -1;

    *out = NULL;
    o.timeout_ms = PROVISION_LIST_TIMEOUT_MS;
    o.priority = PACER_BACKGROUND;
    if (l == NULL || (l->entries = json_object()) == NULL) {
        oom(err);
        goto out;
    }
    if (listing_owned(p, l, err) != 0 || (h = httpc_new(&o, err)) == NULL)
        goto out;
    httpc_set_yield(h, yield, yield_ud);
    if (json_object_size(l->entries) > 0 &&
        (flyte_list_projects(h, PROVISION_LIST_PAGE, listed_project, l, err) != 0 ||
         flyte_list_attributes(h, ATTRIBUTES_TYPE, listed_attributes, l, err) != 0 ||
         (p->cfg->kubernetes.n_clusters > 0 &&
          flyte_list_attributes(h, CLUSTER_ATTRIBUTES_TYPE, listed_cluster_attributes, l, err) !=
              0)))
        goto out;
    *out = l;
    l = NULL;
    rc = 0;
out:
    httpc_free(h);
    provision_listing_free(l);
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
