/* The one level-triggered handler: decide stale and duplicate events,
 * read what wsflyte must not touch, then converge FlyteAdmin and Kubernetes
 * to the desired state (or make the workspace's footprint absent). */
#include "provision.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"
#include "flyte.h"
#include "k8s.h"
#include "lanes.h"
#include "livediff.h"
#include "log.h"

#define RBAC_V1 "rbac.authorization.k8s.io/v1"

/* ---- the provisioner ---- */

/* How many requests of one event may be in flight at once. */
#define PROVISION_LANES 8

/* What a task running on one lane uses: its own clients, since a libcurl
 * handle serves one request at a time.  Lane 0's are p->flyte and p->kube. */
typedef struct lane {
    httpc *flyte;
    k8s *kube;
} lane;

struct provisioner {
    const wf_config *cfg;
    httpc *flyte;
    k8s *kube;
    lanes *lanes; /* lane i's context is &lane[i] */
    lane lane[PROVISION_LANES];
    applied *cache; /* borrowed; NULL: none */
    provision_intent_fn intent;
    void *intent_ud;
    provision_retire_fn retire;
    void *retire_ud;
    /* The repair running on this provisioner: the record it writes from,
     * and whether the version records on the objects confirmed it. */
    struct {
        const wsstate *rec;
        const desired *d;
        int checked;      /* the objects were read */
        long long newer;  /* the newest version they hold, -1: none */
        int project_read; /* the Flyte project was read */
        char where[128];  /* which object holds it */
    } guard;
    /* During provision_event_after: versions recorded up to this are a
     * failed newer event's own writes. */
    long long own_upto;
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

/* Gives lanes 1.. clients like lane 0's (same pacers, observer and
 * credentials; fo is FlyteAdmin's options) and creates p's lanes.  A
 * client connects on its first request, so idle lanes hold no
 * connection.  Returns 0, or -1 with err set (provisioner_free releases
 * what was made). */
static int lane_clients_new(provisioner *p, const httpc_opts *fo, pacer *k8s_pace,
                            httpc_observer observer, void *observer_ud, wf_err *err)
{
    void *ctx[PROVISION_LANES];

    p->lane[0].flyte = p->flyte;
    p->lane[0].kube = p->kube;
    ctx[0] = &p->lane[0];
    for (size_t i = 1; i < PROVISION_LANES; i++) {
        lane *ln = &p->lane[i];
        if ((ln->flyte = httpc_new(fo, err)) == NULL ||
            (ln->kube = k8s_new(p->cfg, k8s_pace, observer, observer_ud, err)) == NULL)
            return -1;
        ctx[i] = ln;
    }
    p->lanes = lanes_new(PROVISION_LANES, ctx, err);
    return p->lanes ? 0 : -1;
}

/* Stops the lanes' threads, then frees lanes 1..'s clients (lane 0's are
 * p->flyte and p->kube). */
static void lane_clients_free(provisioner *p)
{
    lanes_free(p->lanes);
    for (size_t i = 1; i < PROVISION_LANES; i++) {
        httpc_free(p->lane[i].flyte);
        k8s_free(p->lane[i].kube);
    }
}

/* The pacer priority and yield test of every lane's later requests
 * (httpc_set_priority, httpc_set_yield). */
static void lane_clients_set(provisioner *p, pacer_priority priority, int (*yield)(void *ud),
                             void *yield_ud)
{
    for (size_t i = 0; i < PROVISION_LANES; i++) {
        httpc_set_priority(p->lane[i].flyte, priority);
        k8s_set_priority(p->lane[i].kube, priority);
        httpc_set_yield(p->lane[i].flyte, yield, yield_ud);
        k8s_set_yield(p->lane[i].kube, yield, yield_ud);
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
    p->flyte = httpc_new(&fo, err);
    p->kube = p->flyte ? k8s_new(cfg, pace ? pace->k8s : NULL, observer, observer_ud, err) : NULL;
    if (p->kube == NULL ||
        lane_clients_new(p, &fo, pace ? pace->k8s : NULL, observer, observer_ud, err) != 0) {
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

static const char *meta_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static void foreign_namespace(const char *ns, const char *workspace_id, wf_err *err)
{
    wf_err_set(err, WF_PERMANENT, "k8s.foreign-namespace",
               "namespace %s exists but is not wsflyte's for workspace %s (labels %s=%s and "
               "%s=%s); wsflyte writes nothing into it, labels nothing in it and never deletes it",
               ns, workspace_id, LABEL_MANAGED_BY, MANAGER_NAME, LABEL_WORKSPACE, workspace_id);
}

static int namespace_terminating(const json_t *ns)
{
    const char *phase = json_string_value(json_object_get(json_object_get(ns, "status"), "phase"));
    return json_object_get(json_object_get(ns, "metadata"), "deletionTimestamp") != NULL ||
           (phase && strcmp(phase, "Terminating") == 0);
}

static int finish(prov_result *r, prov_status status, const char *reason, wf_err *err)
{
    r->status = status;
    if (reason && (r->reason = strdup(reason)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "result: out of memory");
        return -1;
    }
    return 0;
}

static int fill_present(prov_result *r, const desired *d, wf_err *err)
{
    r->status = PROV_SUCCEEDED;
    r->flyte_project = strdup(d->project_id);
    r->console_url = d->console_url ? strdup(d->console_url) : NULL;
    r->namespaces = calloc(d->n_domains ? d->n_domains : 1, sizeof(char *));
    if (r->flyte_project == NULL || r->namespaces == NULL || (d->console_url && !r->console_url))
        goto oom;
    for (size_t i = 0; i < d->n_domains; i++) {
        if ((r->namespaces[i] = strdup(d->domains[i].namespace_name)) == NULL)
            goto oom;
        r->n_namespaces++;
    }
    return 0;
oom:
    wf_err_set(err, WF_INTERNAL, "oom", "result: out of memory");
    return -1;
}

static int fill_absent(prov_result *r, prov_status status, const char *reason, const char *project,
                       wf_err *err)
{
    if (finish(r, status, reason, err) != 0)
        return -1;
    if (project && (r->flyte_project = strdup(project)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "result: out of memory");
        return -1;
    }
    return 0;
}

/* ---- what the state record knows ---- */

/* Identities of desired objects: what a state record keys its content
 * hashes by. */
static uint64_t identity(const char *kind, const char *a, const char *b, const char *c,
                         const char *d)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s\n%s\n%s\n%s\n%s", kind, a ? a : "", b ? b : "",
                     c ? c : "", d ? d : "");
    return wsstate_hash(buf, n > 0 && (size_t)n < sizeof(buf) ? (size_t)n : 0);
}

static uint64_t object_id(const json_t *obj)
{
    return identity("k8s", json_string_value(json_object_get(obj, "apiVersion")),
                    json_string_value(json_object_get(obj, "kind")), meta_string(obj, "namespace"),
                    meta_string(obj, "name"));
}

static uint64_t attributes_id(const char *domain)
{
    return identity("flyte-attributes", domain, NULL, NULL, NULL);
}

#define PROJECT_ID identity("flyte-project", NULL, NULL, NULL, NULL)

static int add_obj(wsstate *s, size_t cap, uint64_t id, uint64_t hash)
{
    if (s->n_objs >= cap)
        return -1;
    s->objs[s->n_objs].id = id;
    s->objs[s->n_objs++].hash = hash;
    return 0;
}

static int add_manifests(wsstate *s, size_t cap, const json_t *objs)
{
    size_t i;
    json_t *obj;

    json_array_foreach(objs, i, obj)
    {
        if (add_obj(s, cap, object_id(obj), wsstate_hash_json(obj)) != 0)
            return -1;
    }
    return 0;
}

/* The digest of the sorted (identity, content) pairs, byte order fixed so
 * that a record read on another host compares equal. */
static uint64_t pairs_digest(const wsstate *s, int flyte_wanted)
{
    size_t n = s->n_objs * 16 + 1;
    unsigned char *buf = malloc(n);
    uint64_t h;

    if (buf == NULL)
        return 0;
    buf[0] = (unsigned char)flyte_wanted;
    for (size_t i = 0; i < s->n_objs; i++)
        for (int b = 0; b < 8; b++) {
            buf[1 + i * 16 + b] = (unsigned char)(s->objs[i].id >> (56 - 8 * b));
            buf[1 + i * 16 + 8 + b] = (unsigned char)(s->objs[i].hash >> (56 - 8 * b));
        }
    h = wsstate_hash(buf, n);
    free(buf);
    return h;
}

/* Fills cur with what d asks for: per object its identity and content
 * hash (the project, each domain's attributes, every manifest) and the
 * digest of them all; generic over the desired object lists, so a new kind
 * of object is diffed like the others.  Flyte absent keeps no objects: the
 * digest then covers the archive body and the names to clean up. */
static int desired_state(const desired *d, wsstate *cur, wf_err *err)
{
    size_t cap = 1;

    wsstate_init(cur);
    if (d->flyte_wanted) {
        cap += json_array_size(d->cluster_objects);
        for (size_t i = 0; i < d->n_domains; i++)
            cap += 1 + json_array_size(d->domains[i].objects);
    } else {
        cap = 2;
    }
    if ((cur->objs = calloc(cap, sizeof(*cur->objs))) == NULL)
        goto oom;
    if (!d->flyte_wanted) {
        add_obj(cur, cap, identity("flyte-archive", NULL, NULL, NULL, NULL),
                wsstate_hash_json(d->archive));
        add_obj(cur, cap, identity("cleanup", NULL, NULL, NULL, NULL),
                wsstate_hash_json(d->cleanup));
        wsstate_sort(cur);
        cur->digest = pairs_digest(cur, 0);
        cur->n_objs = 0; /* nothing exists to remember */
        return 0;
    }
    add_obj(cur, cap, PROJECT_ID, wsstate_hash_json(d->project));
    for (size_t i = 0; i < d->n_domains; i++) {
        const desired_domain *dd = &d->domains[i];
        if (add_obj(cur, cap, attributes_id(dd->domain), wsstate_hash_json(dd->attributes)) ||
            add_manifests(cur, cap, dd->objects))
            goto oom;
    }
    if (add_manifests(cur, cap, d->cluster_objects) != 0)
        goto oom;
    wsstate_sort(cur);
    cur->digest = pairs_digest(cur, 1);
    return 0;
oom:
    wsstate_fini(cur);
    wf_err_set(err, WF_INTERNAL, "oom", "provision: out of memory");
    return -1;
}

/* Whether the object id must be written: always without a base record,
 * else when the record has it under another content hash, or not at all. */
static int changed(const wsstate *base, const wsstate *cur, uint64_t id)
{
    uint64_t was, now = 0;

    if (base == NULL)
        return 1;
    wsstate_find(cur, id, &now);
    return !wsstate_find(base, id, &was) || was != now;
}

/* Whether a version recorded on the objects makes the event at v stale:
 * one a failed newer event of the workspace wrote (own_upto) does not. */
static int recorded_newer(const provisioner *p, long long recorded, long long v)
{
    return recorded > v && recorded > p->own_upto;
}

/* ---- Flyte present ---- */

/* Reads every namespace the event would create before anything is written
 * for the workspace, on every event that writes: a state record never
 * stands in for ownership, since a namespace it lists may have been deleted
 * and re-created by someone else since.  One that exists without wsflyte's
 * labels for this workspace fails the event (permanent) and is left
 * untouched.  existed[i] tells whether domain i's namespace exists: only
 * those can hold bindings to prune; renewed[i] that it exists but is not
 * the one base records (another uid), so base's hashes say nothing about
 * what is in it.  (One of ours still terminating is found by its apply.) */
static int check_namespaces(provisioner *p, const desired *d, const wsstate *base, int *existed,
                            int *renewed, wf_err *err)
{
    for (size_t i = 0; i < d->n_domains; i++) {
        const char *ns = d->domains[i].namespace_name;
        json_t *live = NULL;
        int ours, same = 1;

        if (k8s_get(p->kube, "v1", "Namespace", NULL, ns, &live, err) != 0)
            return -1;
        existed[i] = live != NULL;
        ours = live == NULL || desired_object_is_ours(live, d->project_id);
        /* Renewed only when the record knows another uid: a record written
         * before uids were kept knows none, and the labels decide alone. */
        if (live && base && !wsstate_namespace_uid_is(base, ns, meta_string(live, "uid"), &same))
            same = 1;
        renewed[i] = !same;
        json_decref(live);
        if (!ours) {
            foreign_namespace(ns, d->project_id, err);
            return -1;
        }
    }
    return 0;
}

/* Applies every domain's Namespace first: a namespace still terminating
 * from an earlier deletion makes the event wait (transient) before anything
 * else is written into it.  Each one's uid goes into cur. */
static int apply_namespaces(provisioner *p, const desired *d, int *created, wsstate *cur,
                            wf_err *err)
{
    for (size_t i = 0; i < d->n_domains; i++) {
        const desired_domain *dd = &d->domains[i];
        json_t *live = NULL;
        int terminating;

        if (k8s_apply(p->kube, json_array_get(dd->objects, 0), &live, &created[i], err) != 0)
            return -1;
        terminating = namespace_terminating(live);
        if (meta_string(live, "uid") &&
            wsstate_set_namespace_uid(cur, dd->namespace_name, meta_string(live, "uid")) != 0) {
            json_decref(live);
            wf_err_set(err, WF_INTERNAL, "oom", "provision: out of memory");
            return -1;
        }
        json_decref(live);
        if (terminating) {
            wf_err_set(err, WF_TRANSIENT, "k8s.namespace-terminating",
                       "namespace %s is still terminating from an earlier deletion; waiting "
                       "for it to go before re-creating it",
                       dd->namespace_name);
            return -1;
        }
    }
    return 0;
}

/* Attributes need an active project, so this runs after the project.
 * Writes only what changed since base (everything without one). */
static int apply_domain(provisioner *p, const char *project, const desired_domain *dd,
                        const wsstate *base, const wsstate *cur, wf_err *err)
{
    size_t i;
    json_t *obj;

    if (changed(base, cur, attributes_id(dd->domain)) &&
        flyte_put_domain_attributes(p->flyte, project, dd->domain, dd->attributes, err) != 0)
        return -1;
    json_array_foreach(dd->objects, i, obj)
    {
        if (i > 0 && changed(base, cur, object_id(obj)) &&
            k8s_apply(p->kube, obj, NULL, NULL, err) != 0)
            return -1;
    }
    return 0;
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

/* Deletes the member RoleBindings of one of the workspace's own (checked)
 * namespaces that the event no longer wants (former members, changed
 * roles: roleRef is immutable, so a new role is a new binding).  The label
 * selector only narrows the LIST; a binding is deleted only when its name
 * is one wsflyte renders for members, so bindings of another installation
 * or another writer that happen to carry the labels survive.  Deletes carry
 * the listed uid. */
static int prune_bindings(provisioner *p, const desired *d, const desired_domain *dd, wf_err *err)
{
    char selector[512];
    json_t *items = NULL, *item;
    size_t i;
    int rc = 0;

    desired_member_selector(d->project_id, selector, sizeof(selector));
    if (k8s_list(p->kube, RBAC_V1, "RoleBinding", dd->namespace_name, selector, &items, err) != 0)
        return -1;
    json_array_foreach(items, i, item)
    {
        const char *ns = meta_string(item, "namespace"), *name = meta_string(item, "name");
        if (ns == NULL || name == NULL || strcmp(ns, dd->namespace_name) != 0 ||
            !desired_is_binding_name(name) || !desired_object_is_ours(item, d->project_id) ||
            binding_wanted(dd, name))
            continue;
        if (k8s_delete(p->kube, RBAC_V1, "RoleBinding", ns, name, meta_string(item, "uid"), err) !=
            0) {
            rc = -1;
            break;
        }
    }
    json_decref(items);
    return rc;
}

/* Whether base records an object cur no longer has (both sorted by id). */
static int drops_any(const wsstate *base, const wsstate *cur)
{
    size_t j = 0;

    for (size_t i = 0; i < base->n_objs; i++) {
        while (j < cur->n_objs && cur->objs[j].id < base->objs[i].id)
            j++;
        if (j == cur->n_objs || cur->objs[j].id != base->objs[i].id)
            return 1;
    }
    return 0;
}

/* Deletes by name every object the base record says wsflyte created that
 * the event no longer wants (former members' bindings, a changed role's
 * old binding): the names come from re-rendering the event the record
 * kept, so no LIST is needed.  Namespaces are never deleted this way (a
 * domain dropped from the configuration keeps its namespace, as before).
 * Returns 1 when the record's event cannot be rendered any more (the
 * caller then prunes by listing). */
static int delete_dropped(provisioner *p, const wsstate *base, const wsstate *cur, wf_err *err)
{
    ws_event pev;
    desired pd;
    wf_err ignored;
    int rc = 1;

    /* Most events drop nothing (a member joins, a quota changes): then the
     * recorded event need not be rendered again to name what to delete. */
    if (!drops_any(base, cur))
        return 0;
    memset(&pd, 0, sizeof(pd));
    wf_err_init(&ignored);
    if (wsstate_event_of(base, &pev, &ignored) == 0 &&
        desired_build(p->cfg, &pev, &pd, &ignored) == 0 && pd.flyte_wanted) {
        rc = 0;
        for (size_t i = 0; rc == 0 && i <= pd.n_domains; i++) {
            json_t *objs = i < pd.n_domains ? pd.domains[i].objects : pd.cluster_objects, *obj;
            size_t j;
            json_array_foreach(objs, j, obj)
            {
                uint64_t id = object_id(obj), h;
                const char *kind = json_string_value(json_object_get(obj, "kind"));
                if (strcmp(kind, "Namespace") == 0 || !wsstate_find(base, id, &h) ||
                    wsstate_find(cur, id, &h))
                    continue;
                if (k8s_delete(p->kube, json_string_value(json_object_get(obj, "apiVersion")), kind,
                               meta_string(obj, "namespace"), meta_string(obj, "name"), NULL,
                               err) != 0) {
                    rc = -1;
                    break;
                }
            }
        }
    }
    desired_fini(&pd);
    ws_event_fini(&pev);
    return rc;
}

/* Registers the project when FlyteAdmin has none.  When another writer
 * registered it first, *live_out is the project FlyteAdmin holds (new
 * reference) and *stale tells whether it is newer than the event; a
 * project someone else registered is an error. */
static int register_project(provisioner *p, const desired *d, long long version, json_t **live_out,
                            int *stale, wf_err *err)
{
    int exists = 0;

    *live_out = NULL;
    *stale = 0;
    if (flyte_register_project(p->flyte, d->project, &exists, err) != 0)
        return -1;
    if (!exists)
        return 0;
    if (flyte_get_project(p->flyte, d->project_id, live_out, err) != 0)
        return -1;
    if (*live_out == NULL) {
        wf_err_set(err, WF_TRANSIENT, "flyte.race",
                   "project %s: registration answered 409 but the project is not readable",
                   d->project_id);
        return -1;
    }
    if (!desired_project_is_ours(*live_out)) {
        wf_err_set(err, WF_PERMANENT, "flyte.foreign-project",
                   "project %s exists in FlyteAdmin but is not managed by wsflyte", d->project_id);
        return -1;
    }
    *stale = desired_recorded_version(*live_out) > version;
    return 0;
}

/* Prunes what the event no longer wants: by name from base, or (without
 * one, or in a namespace that is not the one base records) by listing the
 * member bindings of the namespaces that existed. */
static int prune(provisioner *p, const desired *d, const wsstate *base, const wsstate *cur,
                 const int *existed, const int *renewed, wf_err *err)
{
    int rc = base ? delete_dropped(p, base, cur, err) : 1;

    if (rc < 0)
        return -1;
    /* A namespace this apply created holds nothing older to prune. */
    for (size_t i = 0; i < d->n_domains; i++)
        if (existed[i] && (rc == 1 || renewed[i]) && prune_bindings(p, d, &d->domains[i], err) != 0)
            return -1;
    return 0;
}

/* Converges a workspace whose namespaces check_namespaces found free or
 * its own.  With base, only objects whose content changed since it are
 * written; a project registered now (someone removed it) makes everything
 * be written again. */
static int converge_present(provisioner *p, const ws_event *ev, const desired *d,
                            const json_t *live, const int *existed, const int *renewed,
                            int *created, const wsstate *base, wsstate *cur, prov_result *r,
                            wf_err *err)
{
    json_t *raced = NULL, *obj;
    int needs_update, stale = 0;
    size_t i;

    if (live == NULL) {
        int rc = register_project(p, d, ev->workspace_version, &raced, &stale, err);
        base = NULL;
        live = raced;
        needs_update = rc == 0 && live && !project_matches(live, d->project);
        json_decref(raced);
        if (rc != 0 || stale)
            return rc != 0 ? -1 : finish(r, PROV_SKIPPED, "stale", err);
    } else {
        needs_update = !project_matches(live, d->project);
    }
    /* A namespace created now (someone deleted one the record lists) gets
     * all of its objects again. */
    if (apply_namespaces(p, d, created, cur, err) != 0)
        return -1;
    if (needs_update && flyte_update_project(p->flyte, d->project, err) != 0)
        return -1;
    for (i = 0; i < d->n_domains; i++)
        if (apply_domain(p, d->project_id, &d->domains[i], created[i] || renewed[i] ? NULL : base,
                         cur, err) != 0)
            return -1;
    if (prune(p, d, base, cur, existed, renewed, err) != 0)
        return -1;
    json_array_foreach(d->cluster_objects, i, obj)
    {
        if (changed(base, cur, object_id(obj)) && k8s_apply(p->kube, obj, NULL, NULL, err) != 0)
            return -1;
    }
    return fill_present(r, d, err);
}

/* Order: the namespaces are read (nothing is written for a workspace whose
 * names someone else holds), the project record first (so nothing in
 * Kubernetes exists without one), namespaces (wait if terminating),
 * project update (re-activation), per domain attributes and objects,
 * pruning in the namespaces that existed before, cluster-wide objects. */
static int apply_present(provisioner *p, const ws_event *ev, const desired *d, const json_t *live,
                         const wsstate *base, wsstate *cur, prov_result *r, wf_err *err)
{
    size_t n = d->n_domains ? d->n_domains : 1;
    int *existed = calloc(3 * n, sizeof(int));
    int rc;

    if (existed == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "provision: out of memory");
        return -1;
    }
    rc = check_namespaces(p, d, base, existed, existed + n, err);
    if (rc == 0)
        rc = converge_present(p, ev, d, live, existed, existed + n, existed + 2 * n, base, cur, r,
                              err);
    free(existed);
    return rc;
}

/* ---- Flyte absent ---- */

static const char *entry_string(const json_t *entry, const char *key)
{
    return json_string_value(json_object_get(entry, key));
}

/* Reads every object of d->cleanup by name into live (one element per
 * entry: the object, or null when it does not exist). */
static int read_cleanup(provisioner *p, const desired *d, json_t *live, wf_err *err)
{
    size_t i;
    json_t *entry;

    json_array_foreach(d->cleanup, i, entry)
    {
        json_t *obj = NULL;
        if (k8s_get(p->kube, entry_string(entry, "apiVersion"), entry_string(entry, "kind"),
                    entry_string(entry, "namespace"), entry_string(entry, "name"), &obj,
                    err) != 0 ||
            json_array_append_new(live, obj ? obj : json_null()) != 0)
            return -1;
    }
    return 0;
}

/* The newest version annotated on the workspace's own namespaces among
 * the objects read; *foreign is the first rendered namespace held by
 * someone else (NULL when none). */
static long long own_namespaces_version(const desired *d, const json_t *live, const char **foreign)
{
    long long newest = -1;
    size_t i;
    json_t *entry;

    *foreign = NULL;
    json_array_foreach(d->cleanup, i, entry)
    {
        const json_t *obj = json_array_get(live, i);
        if (strcmp(entry_string(entry, "kind"), "Namespace") != 0 || json_is_null(obj))
            continue;
        if (!desired_object_is_ours(obj, d->project_id)) {
            if (*foreign == NULL)
                *foreign = entry_string(entry, "name");
            continue;
        }
        json_t *ann = json_object_get(json_object_get(obj, "metadata"), "annotations");
        long long v =
            desired_parse_version(json_string_value(json_object_get(ann, ANNOTATION_VERSION)));
        if (v > newest)
            newest = v;
    }
    return newest;
}

/* Deletes the objects read that are the workspace's own and not already
 * going away, by name with their uid as precondition; counts them into
 * *deleted.  Anything else under those names is left alone. */
static int delete_own(provisioner *p, const desired *d, const json_t *live, int *deleted,
                      wf_err *err)
{
    size_t i;
    json_t *entry;

    json_array_foreach(d->cleanup, i, entry)
    {
        const json_t *obj = json_array_get(live, i);
        if (json_is_null(obj) || !desired_object_is_ours(obj, d->project_id) ||
            json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp"))
            continue;
        if (k8s_delete(p->kube, entry_string(entry, "apiVersion"), entry_string(entry, "kind"),
                       entry_string(entry, "namespace"), entry_string(entry, "name"),
                       meta_string(obj, "uid"), err) != 0)
            return -1;
        (*deleted)++;
    }
    return 0;
}

/* Makes the workspace's Flyte footprint absent (see desired.archive and
 * desired.cleanup).  Everything is read first, by the names wsflyte renders:
 * a namespace of ours newer than the event makes it stale.  A rendered
 * namespace held by someone else is never touched; the rest of the
 * workspace is still removed (its members lose their access), and the
 * event then fails with k8s.foreign-namespace so that someone looks. */
static int apply_absent(provisioner *p, const ws_event *ev, const desired *d, const json_t *live,
                        prov_result *r, wf_err *err)
{
    json_t *objs = json_array();
    const char *foreign = NULL;
    int deleted = 0, rc = -1;

    if (objs == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "provision: out of memory");
        return -1;
    }
    if (read_cleanup(p, d, objs, err) != 0)
        goto out;
    if (recorded_newer(p, own_namespaces_version(d, objs, &foreign), ev->workspace_version)) {
        rc = finish(r, PROV_SKIPPED, "stale", err);
        goto out;
    }
    if (live &&
        (!flyte_project_archived(live) ||
         desired_recorded_version(live) != ev->workspace_version) &&
        flyte_update_project(p->flyte, d->archive, err) != 0)
        goto out;
    if (delete_own(p, d, objs, &deleted, err) != 0)
        goto out;
    if (foreign) {
        foreign_namespace(foreign, d->project_id, err);
        goto out;
    }
    if (live == NULL && deleted == 0)
        rc = fill_absent(r, PROV_SKIPPED, "flyte-not-enabled", NULL, err);
    else
        rc = fill_absent(r, PROV_SUCCEEDED,
                         ev->type == WS_WORKSPACE_DELETED ? "workspace-deleted" : "flyte-removed",
                         live ? d->project_id : NULL, err);
out:
    json_decref(objs);
    return rc;
}

/* ---- one event ---- */

/* Answers a duplicate of the recorded apply from the record. */
static int answer_from_record(const wsstate *prior, const desired *d, prov_result *r, wf_err *err)
{
    if (d->flyte_wanted)
        return fill_present(r, d, err);
    return fill_absent(r, prior->status, prior->reason, prior->project ? d->project_id : NULL, err);
}

/* Reads the Flyte project and classifies it: a project someone else owns
 * is left alone (an error when Flyte is wanted, absent otherwise). */
static int read_project(provisioner *p, const desired *d, json_t **live, wf_err *err)
{
    if (flyte_get_project(p->flyte, d->project_id, live, err) != 0)
        return -1;
    if (*live && !desired_project_is_ours(*live)) {
        json_decref(*live);
        *live = NULL;
        if (d->flyte_wanted) {
            wf_err_set(err, WF_PERMANENT, "flyte.foreign-project",
                       "project %s exists in FlyteAdmin but is not managed by wsflyte (no label "
                       "%s=%s); refusing to take it over",
                       d->project_id, FLYTE_LABEL_MANAGED, MANAGER_NAME);
            return -1;
        }
    }
    return 0;
}

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
        (cur->event = json_dumps(doc, JSON_COMPACT)) == NULL || wsstate_copy(out, cur) != 0) {
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
 * intent writer) on the state topic, before anything is written. */
static int mark_before_writes(provisioner *p, int32_t partition, const desired *d, wf_err *err)
{
    wsstate marked;
    int rc = 0;

    if (!applied_mark_incomplete(p->cache, d->project_id, &marked))
        return 0;
    if (p->intent)
        rc = p->intent(p->intent_ud, partition, &marked, err);
    wsstate_fini(&marked);
    return rc;
}

static int is_stale(const prov_result *r)
{
    return r->status == PROV_SKIPPED && r->reason && strcmp(r->reason, "stale") == 0;
}

/* After the version checks: converge, then record the apply.  A failure
 * part way marks the record incomplete (its hashes no longer describe the
 * objects), and that record is the one to keep. */
static int converge(provisioner *p, const ws_event *ev, int32_t partition, const desired *d,
                    const json_t *live, const wsstate *prior, int have, wsstate *cur,
                    prov_result *r, wsstate *out, wf_err *err)
{
    const wsstate *base = have && prior->flyte && prior->complete ? prior : NULL;
    int rc;

    if (have && prior->complete && mark_before_writes(p, partition, d, err) != 0)
        return -1;
    if (d->flyte_wanted)
        rc = apply_present(p, ev, d, live, base, cur, r, err);
    else
        rc = apply_absent(p, ev, d, live, r, err);
    if (rc != 0) {
        if (have)
            applied_mark_incomplete(p->cache, d->project_id, out);
        return -1;
    }
    if (is_stale(r))
        return 0;
    return record(p, ev, partition, d, cur, r, out, err);
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

int provision_event(provisioner *p, const ws_event *ev, int32_t partition, prov_result *r,
                    wsstate *out, wf_err *err)
{
    return provision_event_after(p, ev, -1, partition, r, out, err);
}

int provision_event_after(provisioner *p, const ws_event *ev, long long failed_version,
                          int32_t partition, prov_result *r, wsstate *out, wf_err *err)
{
    long long v = ev->workspace_version;
    json_t *live = NULL;
    wsstate prior, cur;
    int rc = -1, have;
    desired d;

    wsstate_init(out);
    wsstate_init(&cur);
    if (desired_build(p->cfg, ev, &d, err) != 0) {
        desired_fini(&d);
        return -1;
    }
    have = applied_get(p->cache, d.project_id, &prior);
    if (have && prior.version > v) {
        rc = finish(r, PROV_SKIPPED, "stale", err);
        goto out;
    }
    if (desired_state(&d, &cur, err) != 0)
        goto out;
    if (have && prior.version == v && prior.complete && prior.digest == cur.digest) {
        /* The record on the topic already says this: nothing to write. */
        rc = answer_from_record(&prior, &d, r, err);
        goto out;
    }
    if (read_project(p, &d, &live, err) != 0)
        goto out;
    p->own_upto = failed_version;
    if (recorded_newer(p, desired_recorded_version(live), v)) {
        rc = finish(r, PROV_SKIPPED, "stale", err);
        goto out;
    }
    rc = converge(p, ev, partition, &d, live, &prior, have, &cur, r, out, err);
    if (write_record(p, partition, out, err) != 0)
        rc = -1;
out:
    p->own_upto = -1;
    json_decref(live);
    wsstate_fini(&prior);
    wsstate_fini(&cur);
    desired_fini(&d);
    return rc;
}

/* ---- drift repair ---- */

#define ATTRS_TYPE "WORKFLOW_EXECUTION_CONFIG"
/* A repair's log line shows this many field differences, each cut to
 * REPAIR_CHANGE_MAX bytes: enough to see what was done, bounded. */
#define REPAIR_CHANGES_SHOWN 4
#define REPAIR_CHANGE_MAX    160
#define REPAIR_WHAT_MAX      (REPAIR_CHANGES_SHOWN * (REPAIR_CHANGE_MAX + 2) + 32)

uint64_t provision_object_id(const char *api_version, const char *kind, const char *ns,
                             const char *name)
{
    return identity("k8s", api_version, kind, ns, name);
}

size_t provision_flyte_ids(const wf_config *cfg, uint64_t *out, size_t cap)
{
    if (cap > 0)
        out[0] = PROJECT_ID;
    for (size_t i = 0; i < cfg->flyte.n_domains; i++)
        if (i + 1 < cap)
            out[i + 1] = attributes_id(cfg->flyte.domains[i]);
    return 1 + cfg->flyte.n_domains;
}

int provision_render(const wf_config *cfg, const wsstate *rec, desired *d, wf_err *err)
{
    ws_event ev;
    int rc;

    memset(d, 0, sizeof(*d));
    rc = wsstate_event_of(rec, &ev, err);
    if (rc == 0)
        rc = desired_build(cfg, &ev, d, err);
    ws_event_fini(&ev);
    return rc;
}

/* Whether the record lists id with the content rendered now.  A record
 * written by a wsflyte that rendered the object differently is left to
 * the workspace's next event: a repair restores what was applied, it does
 * not roll out a new rendering. */
static int recorded_as(const wsstate *rec, uint64_t id, const json_t *want)
{
    uint64_t h;
    return wsstate_find(rec, id, &h) && h == wsstate_hash_json(want);
}

/* The field manager other than wsflyte with the newest managedFields entry
 * (RFC 3339 times of one server compare as strings), or NULL: a writer
 * that only removed fields owns none and leaves no entry. */
static const char *last_other_manager(const json_t *live)
{
    json_t *mf = json_object_get(json_object_get(live, "metadata"), "managedFields"), *e;
    const char *best = NULL, *best_time = "";
    size_t i;

    json_array_foreach(mf, i, e)
    {
        const char *m = json_string_value(json_object_get(e, "manager"));
        const char *t = json_string_value(json_object_get(e, "time"));
        if (m == NULL || strcmp(m, K8S_FIELD_MANAGER) == 0)
            continue;
        if (best == NULL || (t && strcmp(t, best_time) > 0)) {
            best = m;
            best_time = t ? t : "";
        }
    }
    return best;
}

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

static void repaired(const char *ws, const char *api, uint64_t id, const char *kind, const char *ns,
                     const char *name, const char *what, const char *who, repair_fn cb, void *ud)
{
    log_ctx ctx = {.workspace_id = ws, .duration_ms = -1};
    repair_note note = {api, kind, ns, name, id, who};

    log_warn(&ctx, "drift repaired: %s %s%s%s: %s (changed by %s)", kind, ns ? ns : "",
             ns ? "/" : "", name, what, who ? who : "unknown");
    if (cb)
        cb(ud, &note);
}

/* What a repair knows of the namespace of the domain it is in. */
typedef enum repair_ns {
    REPAIR_NS_UNCHECKED, /* not read yet: read before the first write into it */
    REPAIR_NS_OURS,      /* wsflyte's for the workspace (found, or re-created now) */
    REPAIR_NS_LEFT_ALONE /* someone else's, or missing: nothing in it is touched */
} repair_ns;

static void namespace_left_alone(const char *ns, const char *ws, int missing)
{
    if (missing)
        log_warn(LOG_CTX_NONE,
                 "namespace %s of workspace %s is missing: nothing is repaired in it until it "
                 "is re-created",
                 ns, ws);
    else
        log_warn(LOG_CTX_NONE,
                 "namespace %s of workspace %s is not wsflyte's any more: left alone, nothing "
                 "in it is repaired",
                 ns, ws);
}

/* Reads namespace ns before a repair writes into it: only one that exists
 * and is wsflyte's for the workspace takes writes.  Sets *state; returns 0,
 * or -1 with err set. */
static void guard_saw_namespace(provisioner *p, const json_t *ns);

static int check_repair_namespace(provisioner *p, const char *ws, const char *ns, repair_ns *state,
                                  wf_err *err)
{
    json_t *live = NULL;

    if (k8s_get(p->kube, "v1", "Namespace", NULL, ns, &live, err) != 0)
        return -1;
    if (p->guard.rec != NULL)
        guard_saw_namespace(p, live); /* a read the record's check counts too */
    *state = live && desired_object_is_ours(live, ws) ? REPAIR_NS_OURS : REPAIR_NS_LEFT_ALONE;
    if (*state == REPAIR_NS_LEFT_ALONE)
        namespace_left_alone(ns, ws, live == NULL);
    json_decref(live);
    return 0;
}

/* ---- a repair writes only from a current record ---- */

#define SUPERSEDED "state.superseded"

/* The version annotated on a namespace (-1: none). */
static long long namespace_version(const json_t *ns)
{
    json_t *ann = json_object_get(json_object_get(ns, "metadata"), "annotations");
    return desired_parse_version(json_string_value(json_object_get(ann, ANNOTATION_VERSION)));
}

/* Notes a version an object of the workspace holds, when newer than the
 * record's and than any seen before. */
static void guard_saw(provisioner *p, long long v, const char *kind, const char *name)
{
    if (v > p->guard.rec->version && v > p->guard.newer) {
        p->guard.newer = v;
        snprintf(p->guard.where, sizeof(p->guard.where), "%s %.100s", kind, name);
    }
}

static void guard_saw_namespace(provisioner *p, const json_t *ns)
{
    if (ns && desired_object_is_ours(ns, p->guard.d->project_id))
        guard_saw(p, namespace_version(ns), "namespace", meta_string(ns, "name"));
}

static void guard_saw_project(provisioner *p, const json_t *prj)
{
    p->guard.project_read = 1;
    if (prj && desired_project_is_ours(prj))
        guard_saw(p, desired_recorded_version(prj), "Flyte project", p->guard.d->project_id);
}

/* Called before each write of a repair.  The first time, reads what the
 * event path trusts, unless already read: the Flyte project's version
 * label and the version annotation of the workspace's own namespaces.
 * When any holds a newer version than the record, the record is
 * superseded (an event applied a newer version, from a record this
 * replica does not hold: the key moved to another partition) and writing
 * from it would undo that event.  Returns 0 to write; -1 with err set
 * (code SUPERSEDED when superseded). */
static int repair_may_write(provisioner *p, wf_err *err)
{
    const desired *d = p->guard.d;

    if (!p->guard.checked && p->guard.newer < 0) {
        json_t *live = NULL;
        if (!p->guard.project_read) {
            if (flyte_get_project(p->flyte, d->project_id, &live, err) != 0)
                return -1;
            guard_saw_project(p, live);
            json_decref(live);
        }
        for (size_t i = 0; i < d->n_domains && p->guard.newer < 0; i++) {
            live = NULL;
            if (k8s_get(p->kube, "v1", "Namespace", NULL, d->domains[i].namespace_name, &live,
                        err) != 0)
                return -1;
            guard_saw_namespace(p, live);
            json_decref(live);
        }
        p->guard.checked = 1;
    }
    if (p->guard.newer < 0)
        return 0;
    wf_err_set(err, WF_PERMANENT, SUPERSEDED,
               "state record of %s at version %lld is superseded: the %s holds version %lld",
               d->project_id, p->guard.rec->version, p->guard.where, p->guard.newer);
    return -1;
}

/* One rendered object: nothing to do when what the watch saw matches it;
 * else it is read (unless known gone) and applied when it is gone or
 * differs, into a namespace known to be wsflyte's (*ns, NULL for an object
 * outside the workspace's namespaces; a Namespace decides it).  *created
 * tells that the apply created it.  Returns 1 when repaired, 0 when
 * nothing differed or the namespace is left alone, -1 with err set. */
static int repair_object(provisioner *p, const char *ws, const json_t *want, const json_t *seen,
                         int known_gone, repair_ns *ns_state, repair_fn cb, void *ud, int *created,
                         wf_err *err)
{
    const char *av = json_string_value(json_object_get(want, "apiVersion"));
    const char *kind = json_string_value(json_object_get(want, "kind"));
    const char *ns = meta_string(want, "namespace"), *name = meta_string(want, "name");
    json_t *live = NULL, *after = NULL, *changes = json_array();
    char what[REPAIR_WHAT_MAX];
    int n = 0, rc = -1, is_ns = strcmp(kind, "Namespace") == 0;

    *created = 0;
    if (changes == NULL ||
        (seen && (n = livediff_apply(want, seen, K8S_FIELD_MANAGER, changes)) < 0))
        goto oom;
    if (seen && n == 0) {
        if (is_ns && ns_state)
            *ns_state = REPAIR_NS_OURS; /* as the watch saw it, with wsflyte's labels */
        rc = 0;
        goto out;
    }
    json_array_clear(changes);
    if (!known_gone && k8s_get(p->kube, av, kind, ns, name, &live, err) != 0)
        goto out;
    if (live && is_ns)
        guard_saw_namespace(p, live);
    if (live && is_ns && !desired_object_is_ours(live, ws)) {
        namespace_left_alone(name, ws, 0);
        if (ns_state)
            *ns_state = REPAIR_NS_LEFT_ALONE;
        rc = 0;
        goto out;
    }
    if (live && is_ns && ns_state)
        *ns_state = REPAIR_NS_OURS;
    if (live && (n = livediff_apply(want, live, K8S_FIELD_MANAGER, changes)) < 0)
        goto oom;
    if (live && n == 0) {
        rc = 0;
        goto out;
    }
    /* Nothing is written into a namespace not known to be wsflyte's. */
    if (!is_ns && ns_state && *ns_state == REPAIR_NS_UNCHECKED &&
        check_repair_namespace(p, ws, ns, ns_state, err) != 0)
        goto out;
    if (!is_ns && ns_state && *ns_state == REPAIR_NS_LEFT_ALONE) {
        rc = 0;
        goto out;
    }
    if (live)
        changes_text(changes, what, sizeof(what));
    else
        snprintf(what, sizeof(what), "deleted");
    if (repair_may_write(p, err) != 0 || k8s_apply(p->kube, want, &after, created, err) != 0)
        goto out;
    if (is_ns && namespace_terminating(after)) {
        wf_err_set(err, WF_TRANSIENT, "k8s.namespace-terminating",
                   "namespace %s is still terminating; re-creating it once it is gone", name);
        goto out;
    }
    if (is_ns && ns_state)
        *ns_state = REPAIR_NS_OURS;
    repaired(ws, "k8s", object_id(want), kind, ns, name, what,
             live ? last_other_manager(live) : NULL, cb, ud);
    rc = 1;
    goto out;
oom:
    wf_err_set(err, WF_INTERNAL, "oom", "repair: out of memory");
out:
    json_decref(live);
    json_decref(after);
    json_decref(changes);
    return rc;
}

/* Whether req asks for object id, and what the watch saw of it. */
static int asked(const repair_req *req, uint64_t id, const json_t **seen)
{
    *seen = NULL;
    for (size_t i = 0; i < req->n_ids; i++)
        if (req->ids[i] == id) {
            *seen = req->seen ? req->seen[i] : NULL;
            return 1;
        }
    return req->all_k8s;
}

/* In apply order (each domain's Namespace first), so that a re-created
 * namespace exists before what goes into it; a namespace re-created now
 * lost everything in it, so all its objects are applied again.  A domain
 * whose namespace is someone else's, or missing and not re-created, is
 * left whole: nothing in it is written. */
static int repair_k8s(provisioner *p, const desired *d, const wsstate *rec, const repair_req *req,
                      repair_fn cb, void *ud, int *count, wf_err *err)
{
    for (size_t i = 0; i <= d->n_domains; i++) {
        json_t *objs = i < d->n_domains ? d->domains[i].objects : d->cluster_objects, *obj;
        repair_ns ns_state = REPAIR_NS_UNCHECKED;
        int ns_created = 0;
        size_t j;

        json_array_foreach(objs, j, obj)
        {
            uint64_t id = object_id(obj);
            const json_t *seen = NULL;
            int created = 0, rc;

            if (ns_state == REPAIR_NS_LEFT_ALONE)
                break;
            if (!recorded_as(rec, id, obj) || (!ns_created && !asked(req, id, &seen)))
                continue;
            rc = repair_object(p, d->project_id, obj, ns_created ? NULL : seen, ns_created,
                               i < d->n_domains ? &ns_state : NULL, cb, ud, &created, err);
            if (rc < 0)
                return -1;
            *count += rc;
            if (i < d->n_domains && j == 0 && created)
                ns_created = 1;
        }
    }
    return 0;
}

/* The fields an UpdateProject writes, comparable: name, description,
 * labels, and state (anything not archived reads as ACTIVE). */
static json_t *project_view(const json_t *prj)
{
    json_t *labels = json_object_get(json_object_get(prj, "labels"), "values");
    const char *name = json_string_value(json_object_get(prj, "name"));
    const char *desc = json_string_value(json_object_get(prj, "description"));

    return json_pack("{s:s, s:s, s:O?, s:s}", "name", name ? name : "", "description",
                     desc ? desc : "", "labels", labels, "state",
                     flyte_project_archived(prj) ? FLYTE_STATE_ARCHIVED : FLYTE_STATE_ACTIVE);
}

static int repair_project(provisioner *p, const desired *d, const json_t *live, repair_fn cb,
                          void *ud, int *count, wf_err *err)
{
    json_t *a = project_view(d->project), *b = project_view(live), *changes = json_array();
    char what[REPAIR_WHAT_MAX];
    int n = a && b && changes ? livediff_replace(a, b, changes) : -1;

    if (n > 0)
        changes_text(changes, what, sizeof(what));
    json_decref(a);
    json_decref(b);
    json_decref(changes);
    if (n < 0) {
        wf_err_set(err, WF_INTERNAL, "oom", "repair: out of memory");
        return -1;
    }
    if (n == 0)
        return 0;
    if (repair_may_write(p, err) != 0 || flyte_update_project(p->flyte, d->project, err) != 0)
        return -1;
    repaired(d->project_id, "flyte", PROJECT_ID, "Project", NULL, d->project_id, what, NULL, cb,
             ud);
    (*count)++;
    return 0;
}

static int repair_attributes(provisioner *p, const desired *d, const desired_domain *dd,
                             repair_fn cb, void *ud, int *count, wf_err *err)
{
    json_t *live = NULL, *changes = json_array();
    const char *domain;
    char what[REPAIR_WHAT_MAX], name[256];
    int n = 0;

    if (changes == NULL || flyte_get_domain_attributes(p->flyte, d->project_id, dd->domain,
                                                       ATTRS_TYPE, &live, err) != 0) {
        json_decref(changes);
        if (changes == NULL)
            wf_err_set(err, WF_INTERNAL, "oom", "repair: out of memory");
        return -1;
    }
    /* FlyteAdmin falls back to a project-level row ("domain": ""): the
     * domain's own is then gone. */
    domain = json_string_value(json_object_get(live, "domain"));
    if (live == NULL || domain == NULL || strcmp(domain, dd->domain) != 0) {
        snprintf(what, sizeof(what), "deleted");
        n = 1;
    } else if ((n = livediff_replace(dd->attributes, live, changes)) > 0) {
        changes_text(changes, what, sizeof(what));
    }
    json_decref(live);
    json_decref(changes);
    if (n < 0) {
        wf_err_set(err, WF_INTERNAL, "oom", "repair: out of memory");
        return -1;
    }
    if (n == 0)
        return 0;
    if (repair_may_write(p, err) != 0 ||
        flyte_put_domain_attributes(p->flyte, d->project_id, dd->domain, dd->attributes, err) != 0)
        return -1;
    snprintf(name, sizeof(name), "%s/%s", d->project_id, dd->domain);
    repaired(d->project_id, "flyte", attributes_id(dd->domain), "ProjectDomainAttributes", NULL,
             name, what, NULL, cb, ud);
    (*count)++;
    return 0;
}

/* 1 + domains reads: the project, then each domain's attributes (readable
 * only while the project is active, so after restoring it). */
static int repair_flyte(provisioner *p, const desired *d, const wsstate *rec, repair_fn cb,
                        void *ud, int *count, wf_err *err)
{
    json_t *live = NULL;
    int rc = 0;

    if (flyte_get_project(p->flyte, d->project_id, &live, err) != 0)
        return -1;
    guard_saw_project(p, live);
    if (p->guard.newer >= 0) {
        /* A newer event's: the record is superseded. */
        json_decref(live);
        return repair_may_write(p, err);
    }
    if (live && !desired_project_is_ours(live)) {
        /* Someone else's: not ours to restore. */
        json_decref(live);
        return 0;
    }
    if (recorded_as(rec, PROJECT_ID, d->project)) {
        if (live == NULL) {
            int exists = 0;
            rc = repair_may_write(p, err);
            if (rc == 0)
                rc = flyte_register_project(p->flyte, d->project, &exists, err);
            if (rc == 0) {
                repaired(d->project_id, "flyte", PROJECT_ID, "Project", NULL, d->project_id,
                         "deleted", NULL, cb, ud);
                (*count)++;
            }
        } else {
            rc = repair_project(p, d, live, cb, ud, count, err);
        }
    }
    json_decref(live);
    for (size_t i = 0; rc == 0 && i < d->n_domains; i++)
        if (recorded_as(rec, attributes_id(d->domains[i].domain), d->domains[i].attributes))
            rc = repair_attributes(p, d, &d->domains[i], cb, ud, count, err);
    return rc;
}

/* The record rec, stored under partition, is superseded (err says by
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

int provision_repair(provisioner *p, const char *workspace_id, const repair_req *req, repair_fn cb,
                     void *cb_ud, wf_err *err)
{
    wsstate rec;
    desired d;
    int count = 0, rc = -1;
    int32_t partition;

    memset(&d, 0, sizeof(d));
    if (!applied_get_at(p->cache, workspace_id, &rec, &partition))
        return 0; /* not owned here (any more) */
    /* Repairs yield to events at the pacers. */
    lane_clients_set(p, PACER_BACKGROUND, req->yield, req->yield_ud);
    if (!rec.flyte || !rec.complete) {
        rc = 0;
        goto out;
    }
    if (provision_render(p->cfg, &rec, &d, err) != 0)
        goto out;
    if (!d.flyte_wanted) {
        rc = 0;
        goto out;
    }
    memset(&p->guard, 0, sizeof(p->guard));
    p->guard.rec = &rec;
    p->guard.d = &d;
    p->guard.newer = -1;
    if ((req->flyte && repair_flyte(p, &d, &rec, cb, cb_ud, &count, err) != 0) ||
        ((req->n_ids > 0 || req->all_k8s) &&
         repair_k8s(p, &d, &rec, req, cb, cb_ud, &count, err) != 0)) {
        if (strcmp(err->code, SUPERSEDED) != 0)
            goto out;
        retire(p, &rec, partition, err);
        wf_err_init(err);
    }
    rc = count;
out:
    memset(&p->guard, 0, sizeof(p->guard));
    lane_clients_set(p, PACER_EVENT, NULL, NULL);
    desired_fini(&d);
    wsstate_fini(&rec);
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
