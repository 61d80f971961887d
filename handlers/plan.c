/* The rule of wsflyte: from what is wanted, what was recorded and what was
 * read, the verdict and the steps.  Pure: no client, no clock. */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livediff.h"

#define RBAC_V1 "rbac.authorization.k8s.io/v1"

const char *const plan_op_names[] = {"create", "update", "delete", "unchanged"};

/* ---- identities ---- */

/* The SHA-256 of "kind\na\nb\nc\nd" (NULL as empty); of nothing when
 * that is 1024 bytes or longer, as when it was cut by snprintf. */
static uint64_t identity(const char *kind, const char *a, const char *b, const char *c,
                         const char *d)
{
    const char *part[5] = {kind, a, b, c, d};
    char buf[1024];
    size_t n = 0;

    for (size_t i = 0; i < 5; i++) {
        size_t len = part[i] ? strlen(part[i]) : 0;
        if (n + len + (i > 0) >= sizeof(buf))
            return wsstate_hash(buf, 0);
        if (i > 0)
            buf[n++] = '\n';
        memcpy(buf + n, part[i] ? part[i] : "", len);
        n += len;
    }
    return wsstate_hash(buf, n);
}

static const char *meta_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

uint64_t plan_object_id(const char *api_version, const char *kind, const char *ns, const char *name)
{
    return identity("k8s", api_version, kind, ns, name);
}

uint64_t plan_manifest_id(const json_t *m)
{
    return plan_object_id(str(m, "apiVersion"), str(m, "kind"), meta_string(m, "namespace"),
                          meta_string(m, "name"));
}

uint64_t plan_project_id(void)
{
    static uint64_t id; /* one value; computing it twice at once is harmless */
    if (id == 0)
        id = identity("flyte-project", NULL, NULL, NULL, NULL);
    return id;
}

uint64_t plan_attributes_id(const char *domain)
{
    return identity("flyte-attributes", domain, NULL, NULL, NULL);
}

uint64_t plan_cluster_attributes_id(const char *domain)
{
    return identity("flyte-attributes", domain, "EXECUTION_CLUSTER_LABEL", NULL, NULL);
}

size_t plan_flyte_ids(const wf_config *cfg, uint64_t *out, size_t cap)
{
    size_t n = 1, per = cfg->kubernetes.n_clusters > 0 ? 2 : 1;

    if (cap > 0)
        out[0] = plan_project_id();
    for (size_t i = 0; i < cfg->flyte.n_domains; i++) {
        if (n < cap)
            out[n] = plan_attributes_id(cfg->flyte.domains[i]);
        if (per == 2 && n + 1 < cap)
            out[n + 1] = plan_cluster_attributes_id(cfg->flyte.domains[i]);
        n += per;
    }
    return n;
}

/* ---- the desired hashes ---- */

static int add_obj(wsstate *s, size_t cap, uint64_t id, uint64_t hash)
{
    if (s->n_objs >= cap)
        return -1;
    s->objs[s->n_objs].id = id;
    s->objs[s->n_objs++].hash = hash;
    return 0;
}

static int add_manifests(wsstate *s, size_t cap, const json_t *objs, plan_ids *keep,
                         wsstate_memo *memo)
{
    size_t i;
    json_t *obj;

    json_array_foreach(objs, i, obj)
    {
        uint64_t id = plan_manifest_id(obj);
        if (add_obj(s, cap, id, wsstate_hash_json_with(obj, memo)) != 0)
            return -1;
        if (keep) {
            keep->manifests[keep->n] = obj;
            keep->ids[keep->n++] = id;
        }
    }
    return 0;
}

void plan_ids_fini(plan_ids *ids)
{
    if (ids == NULL)
        return;
    free(ids->manifests);
    free(ids->ids);
    memset(ids, 0, sizeof(*ids));
}

/* Sorts ids by manifest address (insertion sort: a few dozen, mostly in
 * address order already since desired_build allocates them in turn). */
static void ids_sort(plan_ids *ids)
{
    for (size_t i = 1; i < ids->n; i++) {
        const json_t *m = ids->manifests[i];
        uint64_t id = ids->ids[i];
        size_t j = i;
        for (; j > 0 && (uintptr_t)ids->manifests[j - 1] > (uintptr_t)m; j--) {
            ids->manifests[j] = ids->manifests[j - 1];
            ids->ids[j] = ids->ids[j - 1];
        }
        ids->manifests[j] = m;
        ids->ids[j] = id;
    }
}

static int ids_find(const plan_ids *ids, const json_t *m, uint64_t *id)
{
    size_t lo = 0, hi = ids ? ids->n : 0;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)ids->manifests[mid] < (uintptr_t)m)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (ids && lo < ids->n && ids->manifests[lo] == m) {
        *id = ids->ids[lo];
        return 1;
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

int plan_hashes(const desired *d, wsstate *cur, wf_err *err)
{
    return plan_hashes_keep(d, cur, NULL, err);
}

/* The hashes of d's values: what d shares between its objects (a Role's
 * rules, the NetworkPolicy's spec, wsflyte's labels) is walked once. */
static int hashes_of(const desired *d, wsstate *cur, size_t cap, plan_ids *keep, wsstate_memo *memo)
{
    if (add_obj(cur, cap, plan_project_id(), wsstate_hash_json_with(d->project, memo)) != 0)
        return -1;
    for (size_t i = 0; i < d->n_domains; i++) {
        const desired_domain *dd = &d->domains[i];
        if (add_obj(cur, cap, plan_attributes_id(dd->domain),
                    wsstate_hash_json_with(dd->attributes, memo)) ||
            (dd->cluster_attributes &&
             add_obj(cur, cap, plan_cluster_attributes_id(dd->domain),
                     wsstate_hash_json_with(dd->cluster_attributes, memo))) ||
            add_manifests(cur, cap, dd->objects, keep, memo))
            return -1;
    }
    return add_manifests(cur, cap, d->cluster_objects, keep, memo);
}

int plan_hashes_keep(const desired *d, wsstate *cur, plan_ids *keep, wf_err *err)
{
    wsstate_memo *memo = NULL;
    size_t cap = 2;

    wsstate_init(cur);
    if (d->flyte_wanted) {
        cap = 1 + json_array_size(d->cluster_objects);
        for (size_t i = 0; i < d->n_domains; i++)
            cap += 2 + json_array_size(d->domains[i].objects);
    }
    if (keep) {
        memset(keep, 0, sizeof(*keep));
        if ((keep->manifests = calloc(cap, sizeof(*keep->manifests))) == NULL ||
            (keep->ids = calloc(cap, sizeof(*keep->ids))) == NULL)
            goto oom;
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
    /* Without a memo (out of memory) the hashes are the same, walked in full. */
    memo = wsstate_memo_new();
    if (hashes_of(d, cur, cap, keep, memo) != 0)
        goto oom;
    wsstate_memo_free(memo);
    wsstate_sort(cur);
    cur->digest = pairs_digest(cur, 1);
    if (keep)
        ids_sort(keep);
    return 0;
oom:
    wsstate_memo_free(memo);
    plan_ids_fini(keep);
    wsstate_fini(cur);
    wf_err_set(err, WF_INTERNAL, "oom", "plan: out of memory");
    return -1;
}

int plan_render_record(const wf_config *cfg, const wsstate *rec, desired *d, wf_err *err)
{
    ws_event ev;
    int rc;

    memset(d, 0, sizeof(*d));
    rc = wsstate_event_of(rec, &ev, err);
    if (rc == 0)
        rc = desired_build_on(cfg, &ev, plan_record_cluster(cfg, rec), d, err);
    ws_event_fini(&ev);
    return rc;
}

int plan_record_cluster(const wf_config *cfg, const wsstate *rec)
{
    return rec && rec->cluster ? (int)wf_config_cluster(cfg, rec->cluster) : -1;
}

/* ---- comparisons ---- */

int plan_compare_object(const json_t *want, const json_t *live, json_t *changes)
{
    json_t *scratch = changes ? NULL : json_array();
    int n;

    if (changes == NULL && scratch == NULL)
        return -1;
    /* MANAGER_NAME is wsflyte's field manager (k8s.h): its fields decide
     * what an apply removes. */
    n = livediff_apply(want, live, MANAGER_NAME, changes ? changes : scratch);
    json_decref(scratch);
    return n;
}

/* The fields an UpdateProject writes, comparable; with want, only those
 * want sets. */
static json_t *project_view(const json_t *p, const json_t *want)
{
    json_t *v = json_object(), *labels = json_object_get(json_object_get(p, "labels"), "values");
    const char *keys[] = {"name", "description"};
    int rc = v ? 0 : -1;

    for (size_t i = 0; i < 2; i++)
        if (json_is_string(json_object_get(p, keys[i])) &&
            (want == NULL || json_object_get(want, keys[i])))
            rc |= json_object_set(v, keys[i], json_object_get(p, keys[i]));
    if (json_is_object(labels) && (want == NULL || json_object_get(want, "labels")))
        rc |= json_object_set_new(v, "labels", json_pack("{s:O}", "values", labels));
    if (want == NULL || json_object_get(want, "state"))
        rc |= json_object_set_new(v, "state",
                                  json_string(desired_project_archived(p) ? "ARCHIVED" : "ACTIVE"));
    if (rc != 0) {
        json_decref(v);
        return NULL;
    }
    return v;
}

int plan_compare_project(const json_t *want, const json_t *live, json_t *changes)
{
    json_t *a = project_view(want, NULL), *b = project_view(live, want);
    json_t *scratch = changes ? NULL : json_array();
    int n =
        a && b && (changes || scratch) ? livediff_replace(a, b, changes ? changes : scratch) : -1;

    json_decref(a);
    json_decref(b);
    json_decref(scratch);
    return n;
}

int plan_compare_attributes(const json_t *want, const json_t *live, json_t *changes)
{
    json_t *scratch = changes ? NULL : json_array();
    int n = changes || scratch ? livediff_replace(want, live, changes ? changes : scratch) : -1;

    json_decref(scratch);
    return n;
}

/* ---- building a plan ---- */

void plan_init(plan *p)
{
    memset(p, 0, sizeof(*p));
    wf_err_init(&p->err);
    p->newer = -1;
}

void plan_fini(plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_steps; i++)
        json_decref(p->steps[i].changes);
    free(p->steps);
    plan_init(p);
}

void plan_count(const plan *p, size_t *counts)
{
    memset(counts, 0, (PLAN_KEEP + 1) * sizeof(*counts));
    for (size_t i = 0; i < p->n_steps; i++)
        counts[p->steps[i].op]++;
}

static plan_step *add_step(plan *p, plan_target t, plan_op op, int level, const json_t *want,
                           uint64_t id, int domain)
{
    plan_step *s;

    if (p->n_steps == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 32;
        plan_step *grown = realloc(p->steps, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        p->steps = grown;
        p->cap = cap;
    }
    s = &p->steps[p->n_steps++];
    memset(s, 0, sizeof(*s));
    s->target = t;
    s->op = op;
    s->level = level;
    s->want = op == PLAN_DELETE || op == PLAN_KEEP ? NULL : want;
    s->id = id;
    s->domain = domain;
    s->cluster = -1;
    return s;
}

/* The cluster an object of d goes to: a Namespace and whatever is in one
 * of the workspace's namespaces to d's cluster, everything else (the authz
 * ConfigMap, the ACK objects) to the control plane. */
static int object_cluster(const desired *d, const char *kind, const char *ns)
{
    if (d->cluster < 0)
        return -1;
    if (kind && strcmp(kind, "Namespace") == 0)
        return d->cluster;
    for (size_t i = 0; ns && i < d->n_domains; i++)
        if (strcmp(d->domains[i].namespace_name, ns) == 0)
            return d->cluster;
    return -1;
}

/* A step for a manifest (its identity fields borrowed from it). */
static plan_step *add_object_of(plan *p, const desired *d, plan_op op, int level, const json_t *m,
                                uint64_t id, int domain)
{
    plan_step *s = add_step(p, PLAN_OBJECT, op, level, m, id, domain);

    if (s) {
        s->api_version = str(m, "apiVersion");
        s->kind = str(m, "kind");
        s->ns = meta_string(m, "namespace");
        s->name = meta_string(m, "name");
        s->cluster = object_cluster(d, s->kind, s->ns);
    }
    return s;
}

/* What decides one plan: the inputs and what follows from them. */
typedef struct ctx {
    const plan_input *in;
    const plan_view *v;
    const desired *d;
    plan *p;
    wf_err *err;
} ctx;

static plan_step *add_object(ctx *c, plan_op op, int level, const json_t *m, uint64_t id,
                             int domain)
{
    return add_object_of(c->p, c->d, op, level, m, id, domain);
}

/* A manifest's identity: the one plan_hashes_keep computed, else hashed. */
static uint64_t mid(const ctx *c, const json_t *m)
{
    uint64_t id;
    return ids_find(c->in->manifest_ids, m, &id) ? id : plan_manifest_id(m);
}

static int oom(ctx *c)
{
    wf_err_set(c->err, WF_INTERNAL, "oom", "plan: out of memory");
    return -1;
}

int plan_terminating(const json_t *obj)
{
    const char *phase = str(json_object_get(obj, "status"), "phase");
    return meta_string(obj, "deletionTimestamp") != NULL ||
           (phase && strcmp(phase, "Terminating") == 0);
}

static long long namespace_version(const json_t *ns)
{
    json_t *ann = json_object_get(json_object_get(ns, "metadata"), "annotations");
    return desired_parse_version(str(ann, ANNOTATION_VERSION));
}

/* Whether a version recorded on the objects makes the event stale: one a
 * failed newer event of the workspace wrote (own_upto) does not. */
static int recorded_newer(const ctx *c, long long recorded)
{
    return recorded > c->in->ev->workspace_version && recorded > c->in->own_upto;
}

static void stale(ctx *c, long long v, const char *where)
{
    c->p->verdict = PLAN_STALE;
    c->p->newer = v;
    snprintf(c->p->where, sizeof(c->p->where), "%s", where);
}

static void foreign_namespace(wf_err *err, const char *ns, const char *workspace_id)
{
    wf_err_set(err, WF_PERMANENT, "k8s.foreign-namespace",
               "namespace %s exists but is not wsflyte's for workspace %s (labels %s=%s and "
               "%s=%s); wsflyte writes nothing into it, labels nothing in it and never deletes it",
               ns, workspace_id, LABEL_MANAGED_BY, MANAGER_NAME, LABEL_WORKSPACE, workspace_id);
}

static void terminating(wf_err *err, const char *ns)
{
    wf_err_set(err, WF_TRANSIENT, "k8s.namespace-terminating",
               "namespace %s is still terminating from an earlier deletion; waiting for it to go "
               "before re-creating it",
               ns);
}

/* Whether object id must be written: always without a base record, else
 * when base has it under another content hash, or not at all. */
static int changed(const wsstate *base, const wsstate *cur, uint64_t id)
{
    uint64_t was, now = 0;

    if (base == NULL)
        return 1;
    wsstate_find(cur, id, &now);
    return !wsstate_find(base, id, &was) || was != now;
}

/* The other field manager with the newest managedFields entry (RFC 3339
 * times of one server compare as strings), or NULL. */
static const char *last_other_manager(const json_t *live)
{
    json_t *mf = json_object_get(json_object_get(live, "metadata"), "managedFields"), *e;
    const char *best = NULL, *best_time = "";
    size_t i;

    json_array_foreach(mf, i, e)
    {
        const char *m = str(e, "manager"), *t = str(e, "time");
        if (m == NULL || strcmp(m, MANAGER_NAME) == 0)
            continue;
        if (best == NULL || (t && strcmp(t, best_time) > 0)) {
            best = m;
            best_time = t ? t : "";
        }
    }
    return best;
}

/* One manifest's step: against the live object when it was read (create,
 * update with the changes, keep), else by the record (write what changed
 * since base); create in a namespace that does not exist. */
static int object_step(ctx *c, const json_t *m, int level, int domain, const wsstate *base,
                       int ns_absent)
{
    uint64_t id = mid(c, m);
    const json_t *live = NULL;
    json_t *changes;
    plan_step *s;
    int n;

    if (ns_absent || (c->v->object && c->v->object(c->v->object_ud, id, &live) && live == NULL))
        return add_object(c, PLAN_CREATE, level, m, id, domain) ? 0 : oom(c);
    if (live == NULL) /* not read */
        return add_object(c, changed(base, c->in->cur, id) ? PLAN_UPDATE : PLAN_KEEP, level, m, id,
                          domain)
                   ? 0
                   : oom(c);
    if ((changes = json_array()) == NULL || (n = plan_compare_object(m, live, changes)) < 0) {
        json_decref(changes);
        return oom(c);
    }
    if ((s = add_object(c, n ? PLAN_UPDATE : PLAN_KEEP, level, m, id, domain)) == NULL) {
        json_decref(changes);
        return oom(c);
    }
    if (n) {
        s->changes = changes;
        s->writer = last_other_manager(live);
    } else {
        json_decref(changes);
    }
    return 0;
}

static int project_step(ctx *c, const json_t *want, const json_t *live, int level,
                        const char *keep_note)
{
    json_t *changes = json_array();
    plan_step *s;
    int n = changes ? plan_compare_project(want, live, changes) : -1;

    if (n < 0 || (s = add_step(c->p, PLAN_PROJECT, n ? PLAN_UPDATE : PLAN_KEEP, level, want,
                               plan_project_id(), -1)) == NULL) {
        json_decref(changes);
        return oom(c);
    }
    s->kind = "FlyteProject";
    s->name = c->d->project_id;
    if (n) {
        s->changes = changes;
    } else {
        s->note = keep_note;
        json_decref(changes);
    }
    return 0;
}

static plan_step *project_create(ctx *c, const char *note)
{
    plan_step *s = add_step(c->p, PLAN_PROJECT, PLAN_CREATE, PLAN_LEVEL_PROJECT, c->d->project,
                            plan_project_id(), -1);
    if (s) {
        s->kind = "FlyteProject";
        s->name = c->d->project_id;
        s->note = note;
    }
    return s;
}

/* A domain's attributes of one resource type (WORKFLOW_EXECUTION_CONFIG,
 * or with exec EXECUTION_CLUSTER_LABEL): against the read answer when
 * there is one (FlyteAdmin falls back to a project-level row, "domain":
 * "", when the domain has none), else by the record. */
static int attributes_step_of(ctx *c, size_t i, const wsstate *base, const json_t *project,
                              int exec)
{
    const desired_domain *dd = &c->d->domains[i];
    const json_t *want = exec ? dd->cluster_attributes : dd->attributes;
    uint64_t id = exec ? plan_cluster_attributes_id(dd->domain) : plan_attributes_id(dd->domain);
    const json_t *const *read = exec ? c->v->cluster_attributes : c->v->attributes;
    const json_t *live = c->v->attributes_read && read ? read[i] : NULL;
    const char *domain = str(live, "domain"), *note = NULL;
    json_t *changes = NULL;
    plan_op op;
    plan_step *s;
    int n;

    if (!c->v->attributes_read && c->in->mode == PLAN_FOR_REPAIR) {
        /* Not readable (the project is gone or archived): written once the
         * project is restored. */
        op = PLAN_UPDATE;
        note = "written after re-activation";
    } else if (!c->v->attributes_read) {
        op = !changed(base, c->in->cur, id)          ? PLAN_KEEP
             : project == NULL && c->v->project_read ? PLAN_CREATE
                                                     : PLAN_UPDATE;
    } else if (project == NULL) {
        op = PLAN_CREATE;
    } else if (desired_project_archived(project)) {
        op = PLAN_UPDATE;
        note = "not readable while the project is archived; written after re-activation";
    } else if (live == NULL || domain == NULL || strcmp(domain, dd->domain) != 0) {
        op = PLAN_CREATE;
        note = live ? "only project-level attributes exist" : NULL;
    } else {
        /* FlyteAdmin's PUT replaces what is stored. */
        if ((changes = json_array()) == NULL ||
            (n = plan_compare_attributes(want, live, changes)) < 0) {
            json_decref(changes);
            return oom(c);
        }
        op = n ? PLAN_UPDATE : PLAN_KEEP;
    }
    if ((s = add_step(c->p, PLAN_ATTRIBUTES, op, PLAN_LEVEL_CONTENT, want, id, (int)i)) == NULL) {
        json_decref(changes);
        return oom(c);
    }
    s->kind = exec ? "ExecutionClusterLabel" : "ProjectDomainAttributes";
    s->ns = c->d->project_id;
    s->name = dd->domain;
    s->note = note;
    if (op == PLAN_UPDATE && json_array_size(changes))
        s->changes = changes;
    else
        json_decref(changes);
    return 0;
}

/* A domain's attributes: WORKFLOW_EXECUTION_CONFIG, then (with a cluster)
 * EXECUTION_CLUSTER_LABEL, which a move switches once the namespaces
 * exist on the new cluster (both are written after the namespaces). */
static int attributes_step(ctx *c, size_t i, const wsstate *base, const json_t *project)
{
    if (attributes_step_of(c, i, base, project, 0) != 0)
        return -1;
    return c->d->domains[i].cluster_attributes ? attributes_step_of(c, i, base, project, 1) : 0;
}

/* The namespace of a domain against the copy read of it. */
static int namespace_step(ctx *c, size_t i, const json_t *ns)
{
    const json_t *m = json_array_get(c->d->domains[i].objects, 0);
    json_t *changes;
    plan_step *s;
    int n;

    if (ns == NULL)
        return add_object(c, PLAN_CREATE, PLAN_LEVEL_NAMESPACES, m, mid(c, m), (int)i) ? 0 : oom(c);
    if ((changes = json_array()) == NULL || (n = plan_compare_object(m, ns, changes)) < 0 ||
        (s = add_object(c, n ? PLAN_UPDATE : PLAN_KEEP, PLAN_LEVEL_NAMESPACES, m, mid(c, m),
                        (int)i)) == NULL) {
        json_decref(changes);
        return oom(c);
    }
    if (n) {
        s->changes = changes;
        s->writer = last_other_manager(ns);
    } else {
        json_decref(changes);
    }
    return 0;
}

/* ---- an event, Flyte wanted ---- */

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

/* The base record an event writes the difference from: a complete record
 * of Flyte present, while the project exists (a project someone removed
 * makes everything be written again). */
static const wsstate *event_base(const plan_input *in, const plan_view *v)
{
    const wsstate *r = in->record;
    if (r == NULL || !r->flyte || !r->complete)
        return NULL;
    if (v->project_read && v->project == NULL)
        return NULL;
    return r;
}

/* Whether the namespace of domain i exists but is not the one base
 * records (another uid): base's hashes say nothing about what is in it.
 * A record that keeps no uid for it decides nothing. */
static int renewed(const wsstate *base, const desired *d, const plan_view *v, size_t i)
{
    const json_t *ns = v->namespaces_read ? v->namespaces[i] : NULL;
    int same = 1;

    if (ns == NULL || base == NULL)
        return 0;
    if (!wsstate_namespace_uid_is(base, d->domains[i].namespace_name, meta_string(ns, "uid"),
                                  &same))
        return 0;
    return !same;
}

int plan_needs_prior(const plan_input *in)
{
    const wsstate *base = in->record, *cur = in->cur;
    size_t j = 0;

    if (base == NULL || !base->flyte || !base->complete || !in->d->flyte_wanted)
        return 0;
    for (size_t i = 0; i < base->n_objs; i++) {
        while (j < cur->n_objs && cur->objs[j].id < base->objs[i].id)
            j++;
        if (j == cur->n_objs || cur->objs[j].id != base->objs[i].id)
            return 1;
    }
    return 0;
}

size_t plan_lists_needed(const plan_input *in, const plan_view *v, const desired *prior, int *need)
{
    const desired *d = in->d;
    const wsstate *base = event_base(in, v);
    int no_names = base == NULL || (plan_needs_prior(in) && prior == NULL);
    size_t n = 0;

    for (size_t i = 0; i < d->n_domains; i++) {
        need[i] = in->mode == PLAN_FOR_EVENT && d->flyte_wanted && v->namespaces_read &&
                  v->namespaces[i] != NULL && (no_names || renewed(base, d, v, i));
        n += (size_t)need[i];
    }
    return n;
}

/* Whether base's names say what is in obj's namespace: not in one created
 * now (nothing is in it) or re-created under the record (the listing
 * decides there). */
static int names_valid_in(const ctx *c, const wsstate *base, const json_t *obj)
{
    const char *ns = meta_string(obj, "namespace");

    for (size_t k = 0; ns && c->v->namespaces_read && k < c->d->n_domains; k++)
        if (strcmp(c->d->domains[k].namespace_name, ns) == 0)
            return c->v->namespaces[k] != NULL && !renewed(base, c->d, c->v, k);
    return 1;
}

/* By name, every object base records that cur no longer has (former
 * members' bindings, a changed role's old binding), from the record's own
 * event rendered (prior).  Namespaces are never deleted this way: a
 * domain dropped from the configuration keeps its namespace. */
static int prune_by_name(ctx *c, const wsstate *base, const desired *prior)
{
    uint64_t h;

    for (size_t i = 0; i <= prior->n_domains; i++) {
        json_t *objs = i < prior->n_domains ? prior->domains[i].objects : prior->cluster_objects,
               *obj;
        size_t j;
        json_array_foreach(objs, j, obj)
        {
            uint64_t id = plan_manifest_id(obj);
            if (strcmp(str(obj, "kind"), "Namespace") == 0 || !wsstate_find(base, id, &h) ||
                wsstate_find(c->in->cur, id, &h) || !names_valid_in(c, base, obj))
                continue;
            plan_step *s = add_object(c, PLAN_DELETE, PLAN_LEVEL_CONTENT, obj, id, -1);
            if (s == NULL)
                return oom(c);
            s->note = "no longer wanted";
        }
    }
    return 0;
}

static int deleting(const plan *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_steps; i++)
        if (p->steps[i].op == PLAN_DELETE && p->steps[i].id == id)
            return 1;
    return 0;
}

/* The member RoleBindings listed in one of the workspace's namespaces that
 * the event no longer wants.  The label selector only narrowed the list: a
 * binding goes only when its name is one wsflyte renders for members, so
 * bindings of another installation or writer that carry the labels stay. */
static int prune_listed(ctx *c, size_t i)
{
    const desired_domain *dd = &c->d->domains[i];
    const json_t *items = c->v->bindings ? c->v->bindings[i] : NULL, *item;
    size_t k;

    json_array_foreach(items, k, item)
    {
        const char *ns = meta_string(item, "namespace"), *name = meta_string(item, "name");
        uint64_t id;
        plan_step *s;

        if (ns == NULL || name == NULL || strcmp(ns, dd->namespace_name) != 0 ||
            !desired_is_binding_name(name) || !desired_object_is_ours(item, c->d->project_id) ||
            binding_wanted(dd, name))
            continue;
        id = plan_object_id(RBAC_V1, "RoleBinding", ns, name);
        if (deleting(c->p, id))
            continue;
        if ((s = add_step(c->p, PLAN_OBJECT, PLAN_DELETE, PLAN_LEVEL_CONTENT, NULL, id, (int)i)) ==
            NULL)
            return oom(c);
        s->api_version = RBAC_V1;
        s->kind = "RoleBinding";
        s->ns = ns;
        s->name = name;
        s->cluster = object_cluster(c->d, s->kind, ns);
        s->uid = meta_string(item, "uid");
        s->note = "former member or role";
    }
    return 0;
}

/* Every namespace is read before anything is written: one someone else
 * holds fails the event; one of ours still terminating makes it wait
 * (its apply is repeated until the namespace is gone and comes back). */
static int check_namespaces(ctx *c)
{
    const desired *d = c->d;
    const char *term = NULL;

    for (size_t i = 0; i < d->n_domains; i++) {
        const json_t *ns = c->v->namespaces[i];
        if (ns && !desired_object_is_ours(ns, d->project_id)) {
            c->p->verdict = PLAN_FAIL;
            foreign_namespace(&c->p->err, d->domains[i].namespace_name, d->project_id);
            return 1;
        }
        if (ns && term == NULL && plan_terminating(ns))
            term = d->domains[i].namespace_name;
    }
    if (term == NULL)
        return 0;
    for (size_t i = 0; i < d->n_domains; i++)
        if (add_object(c, PLAN_UPDATE, PLAN_LEVEL_NAMESPACES,
                       json_array_get(d->domains[i].objects, 0),
                       mid(c, json_array_get(d->domains[i].objects, 0)), (int)i) == NULL)
            return oom(c);
    terminating(&c->p->err, term);
    return 1;
}

/* What becomes of a namespace of the workspace on the cluster it left
 * (NULL: not there): only wsflyte's own for it, not already going, is
 * deleted. */
static plan_op old_namespace_op(const json_t *ns, const char *project_id, const char **note)
{
    if (ns == NULL) {
        *note = "not on the old cluster";
        return PLAN_KEEP;
    }
    if (!desired_object_is_ours(ns, project_id)) {
        *note = "on the old cluster, not wsflyte's: left alone";
        return PLAN_KEEP;
    }
    if (plan_terminating(ns)) {
        *note = "on the old cluster, already being deleted";
        return PLAN_KEEP;
    }
    *note = "on the old cluster, with everything in it";
    return PLAN_DELETE;
}

/* A move: the workspace's own namespaces on the cluster it leaves, read
 * there by the names wsflyte renders, are deleted (with everything in
 * them, uid as precondition) after everything else is in place on the new
 * cluster and Flyte points there.  One that is not wsflyte's for this
 * workspace is left alone; one already going away needs nothing. */
static int old_cluster_steps(ctx *c)
{
    const desired *d = c->d;
    int from = c->in->from_cluster;

    if (from < 0 || from == d->cluster || !c->v->old_namespaces_read || !c->v->old_namespaces)
        return 0;
    for (size_t i = 0; i < d->n_domains; i++) {
        const json_t *ns = c->v->old_namespaces[i];
        const json_t *m = json_array_get(d->domains[i].objects, 0);
        plan_op op = PLAN_KEEP;
        const char *note;
        plan_step *s;

        op = old_namespace_op(ns, d->project_id, &note);
        if ((s = add_object(c, op, PLAN_LEVEL_OLD_CLUSTER, m, mid(c, m), (int)i)) == NULL)
            return oom(c);
        s->cluster = from;
        s->uid = op == PLAN_DELETE ? meta_string(ns, "uid") : NULL;
        s->note = note;
    }
    return 0;
}

/* Flyte not wanted, with a move left undone: the workspace's own
 * namespaces on the cluster it left are deleted too, last (uid as
 * precondition), as a move would have. */
static int old_cluster_cleanup(ctx *c, size_t *deletes)
{
    const desired *d = c->d;
    int from = c->in->from_cluster;
    const json_t *entry;
    size_t i;

    if (from < 0 || from == d->cluster || !c->v->old_cleanup_read || !c->v->old_cleanup)
        return 0;
    json_array_foreach(d->cleanup, i, entry)
    {
        const json_t *ns = c->v->old_cleanup[i];
        plan_op op = PLAN_KEEP;
        const char *note;
        plan_step *s;

        if (strcmp(str(entry, "kind"), "Namespace") != 0)
            continue;
        op = old_namespace_op(ns, d->project_id, &note);
        if (op == PLAN_DELETE)
            (*deletes)++;
        if ((s = add_object(c, op, PLAN_LEVEL_OLD_CLUSTER, entry, 0, -1)) == NULL)
            return oom(c);
        s->ns = NULL;
        s->name = str(entry, "name");
        s->cluster = from;
        s->id = plan_object_id(s->api_version, s->kind, NULL, s->name);
        s->uid = op == PLAN_DELETE ? meta_string(ns, "uid") : NULL;
        s->note = note;
    }
    return 0;
}

static int event_present(ctx *c, const desired *prior)
{
    const desired *d = c->d;
    const json_t *project = c->v->project, *obj;
    const wsstate *base = event_base(c->in, c->v);
    size_t i, j;
    int rc;

    if (project && !desired_project_is_ours(project)) {
        c->p->verdict = PLAN_FAIL;
        wf_err_set(&c->p->err, WF_PERMANENT, "flyte.foreign-project",
                   "project %s exists in FlyteAdmin but is not managed by wsflyte (no label "
                   "%s=%s); refusing to take it over",
                   d->project_id, FLYTE_LABEL_MANAGED, MANAGER_NAME);
        return 0;
    }
    if (recorded_newer(c, desired_recorded_version(project))) {
        stale(c, desired_recorded_version(project), "the Flyte project");
        return 0;
    }
    if ((rc = check_namespaces(c)) != 0)
        return rc < 0 ? -1 : 0;
    if (project == NULL) {
        if (project_create(c, NULL) == NULL)
            return oom(c);
    } else if (project_step(c, d->project, project, PLAN_LEVEL_NAMESPACES, NULL) != 0) {
        return -1;
    }
    for (i = 0; i < d->n_domains; i++) {
        const desired_domain *dd = &d->domains[i];
        const json_t *ns = c->v->namespaces[i];
        /* A namespace created now, or not the one base records, gets all
         * of its objects (and the domain's attributes) written. */
        const wsstate *dbase = ns == NULL || renewed(base, d, c->v, i) ? NULL : base;

        if (attributes_step(c, i, dbase, project) != 0)
            return -1;
        if (namespace_step(c, i, ns) != 0)
            return -1;
        json_array_foreach(dd->objects, j, obj)
        {
            if (j > 0 && object_step(c, obj, PLAN_LEVEL_CONTENT, (int)i, dbase, ns == NULL) != 0)
                return -1;
        }
    }
    if (base && prior && prune_by_name(c, base, prior) != 0)
        return -1;
    for (i = 0; i < d->n_domains; i++)
        if (prune_listed(c, i) != 0)
            return -1;
    json_array_foreach(d->cluster_objects, j, obj)
    {
        if (object_step(c, obj, PLAN_LEVEL_CONTENT, -1, base, 0) != 0)
            return -1;
    }
    if (old_cluster_steps(c) != 0)
        return -1;
    c->p->answer.status = PROV_SUCCEEDED;
    c->p->answer.present = 1;
    return 0;
}

/* ---- an event, Flyte not wanted ---- */

/* Everything is read first by the names wsflyte renders: a namespace of
 * ours newer than the event makes it stale.  The project is archived and
 * each of the workspace's own objects deleted by name with its uid; one
 * already going away, or someone else's, is left alone.  A rendered
 * namespace someone else holds fails the event once the rest is gone (its
 * members lost their access), so that someone looks. */
static int event_absent(ctx *c)
{
    const desired *d = c->d;
    const json_t *project = c->v->project, *entry;
    const char *foreign = NULL;
    long long newest = -1;
    size_t i, deletes = 0;
    int foreign_project = project && !desired_project_is_ours(project);

    if (foreign_project)
        project = NULL;
    if (recorded_newer(c, desired_recorded_version(project))) {
        stale(c, desired_recorded_version(project), "the Flyte project");
        return 0;
    }
    json_array_foreach(d->cleanup, i, entry)
    {
        const json_t *obj = c->v->cleanup[i];
        if (obj && strcmp(str(entry, "kind"), "Namespace") == 0 &&
            desired_object_is_ours(obj, d->project_id) && namespace_version(obj) > newest)
            newest = namespace_version(obj);
    }
    if (recorded_newer(c, newest)) {
        stale(c, newest, "a namespace of the workspace");
        return 0;
    }
    if (project && (!desired_project_archived(project) ||
                    desired_recorded_version(project) != c->in->ev->workspace_version)) {
        if (project_step(c, d->archive, project, PLAN_LEVEL_PROJECT, NULL) != 0)
            return -1;
        /* The version label alone may differ: the archive is written. */
        c->p->steps[c->p->n_steps - 1].op = PLAN_UPDATE;
        c->p->steps[c->p->n_steps - 1].want = d->archive;
    } else {
        plan_step *s = add_step(c->p, PLAN_PROJECT, PLAN_KEEP, PLAN_LEVEL_PROJECT, NULL,
                                plan_project_id(), -1);
        if (s == NULL)
            return oom(c);
        s->kind = "FlyteProject";
        s->name = d->project_id;
        s->note = project           ? "archived"
                  : foreign_project ? "not managed by wsflyte: left alone"
                                    : "does not exist";
    }
    json_array_foreach(d->cleanup, i, entry)
    {
        const json_t *obj = c->v->cleanup[i];
        int is_ns = strcmp(str(entry, "kind"), "Namespace") == 0;
        plan_op op = PLAN_KEEP;
        const char *note;
        plan_step *s;

        if (obj == NULL) {
            note = "does not exist";
        } else if (!desired_object_is_ours(obj, d->project_id)) {
            note = "not wsflyte's: left alone";
            if (is_ns && foreign == NULL)
                foreign = str(entry, "name");
        } else if (meta_string(obj, "deletionTimestamp")) {
            note = "already being deleted";
        } else {
            op = PLAN_DELETE;
            note = is_ns ? "with everything in it" : NULL;
            deletes++;
        }
        if ((s = add_object(c, op, PLAN_LEVEL_NAMESPACES, entry, 0, -1)) == NULL)
            return oom(c);
        s->ns = str(entry, "namespace");
        s->name = str(entry, "name");
        s->cluster = object_cluster(d, s->kind, s->ns);
        s->id = plan_object_id(s->api_version, s->kind, s->ns, s->name);
        s->uid = op == PLAN_DELETE ? meta_string(obj, "uid") : NULL;
        s->note = note;
    }
    if (old_cluster_cleanup(c, &deletes) != 0)
        return -1;
    if (foreign)
        foreign_namespace(&c->p->err, foreign, d->project_id);
    if (project == NULL && deletes == 0) {
        c->p->answer.status = PROV_SKIPPED;
        c->p->answer.reason = "flyte-not-enabled";
    } else {
        c->p->answer.status = PROV_SUCCEEDED;
        c->p->answer.reason =
            c->in->ev->type == WS_WORKSPACE_DELETED ? "workspace-deleted" : "flyte-removed";
        c->p->answer.project = project != NULL;
    }
    return 0;
}

/* ---- a repair ---- */

/* Whether the record lists id with the content rendered now.  A record
 * written by a wsflyte that rendered the object differently is left to
 * the workspace's next event: a repair restores what was applied, it does
 * not roll out a new rendering. */
static int recorded_as(const ctx *c, uint64_t id)
{
    uint64_t was, now;
    return wsstate_find(c->in->record, id, &was) && wsstate_find(c->in->cur, id, &now) &&
           was == now;
}

static int asked(const plan_input *in, uint64_t id)
{
    for (size_t i = 0; i < in->n_ids; i++)
        if (in->ids[i] == id)
            return 1;
    return in->all_k8s;
}

/* The newest version the objects read hold, when newer than the record's:
 * an event applied a newer version from a record this replica does not
 * hold (the key moved to another partition), and writing from this one
 * would undo it. */
static int superseded(ctx *c)
{
    const desired *d = c->d;
    long long rec = c->in->record->version;
    const json_t *prj = c->v->project_read ? c->v->project : NULL;

    if (prj && desired_project_is_ours(prj) && desired_recorded_version(prj) > rec) {
        c->p->newer = desired_recorded_version(prj);
        snprintf(c->p->where, sizeof(c->p->where), "Flyte project %.100s", d->project_id);
    }
    for (size_t i = 0; c->v->namespaces_read && i < d->n_domains; i++) {
        const json_t *ns = c->v->namespaces[i];
        if (ns && desired_object_is_ours(ns, d->project_id) && namespace_version(ns) > rec &&
            namespace_version(ns) > c->p->newer) {
            c->p->newer = namespace_version(ns);
            snprintf(c->p->where, sizeof(c->p->where), "namespace %.100s",
                     d->domains[i].namespace_name);
        }
    }
    if (c->p->newer < 0)
        return 0;
    c->p->verdict = PLAN_SUPERSEDED;
    wf_err_set(&c->p->err, WF_PERMANENT, "state.superseded",
               "state record of %s at version %lld is superseded: the %s holds version %lld",
               d->project_id, rec, c->p->where, c->p->newer);
    return 1;
}

static int repair_flyte(ctx *c)
{
    const desired *d = c->d;
    const json_t *project = c->v->project;

    if (project && !desired_project_is_ours(project))
        return 0; /* someone else's: not ours to restore */
    if (recorded_as(c, plan_project_id())) {
        if (project == NULL) {
            if (project_create(c, "deleted") == NULL)
                return oom(c);
        } else if (project_step(c, d->project, project, PLAN_LEVEL_NAMESPACES, NULL) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < d->n_domains; i++) {
        if (recorded_as(c, plan_attributes_id(d->domains[i].domain)) &&
            attributes_step_of(c, i, c->in->record, project, 0) != 0)
            return -1;
        if (d->domains[i].cluster_attributes &&
            recorded_as(c, plan_cluster_attributes_id(d->domains[i].domain)) &&
            attributes_step_of(c, i, c->in->record, project, 1) != 0)
            return -1;
    }
    return 0;
}

static int keep_note(ctx *c, const json_t *m, int domain, const char *note)
{
    plan_step *s = add_object(c, PLAN_KEEP, PLAN_LEVEL_NAMESPACES, m, mid(c, m), domain);
    if (s == NULL)
        return oom(c);
    s->note = note;
    return 0;
}

/* One domain: nothing is written into a namespace not known to be
 * wsflyte's; a namespace the record lists that is gone is re-created when
 * the job names it, and then gets all of its objects again (it lost them);
 * a missing one not named leaves the domain whole. */
static int repair_domain(ctx *c, size_t i)
{
    const desired_domain *dd = &c->d->domains[i];
    const json_t *nsm = json_array_get(dd->objects, 0), *obj;
    uint64_t ns_id = mid(c, nsm);
    int known = c->v->namespaces_read, ns_absent = 0;
    const json_t *ns = known ? c->v->namespaces[i] : NULL;
    size_t first = c->p->n_steps, j;

    if (known && ns && !desired_object_is_ours(ns, c->d->project_id))
        return keep_note(c, nsm, (int)i,
                         "not wsflyte's any more: left alone, nothing in it is repaired");
    if (known && ns == NULL) {
        if (!asked(c->in, ns_id) || !recorded_as(c, ns_id))
            return keep_note(c, nsm, (int)i,
                             "missing: nothing is repaired in it until it is re-created");
        ns_absent = 1;
    }
    json_array_foreach(dd->objects, j, obj)
    {
        uint64_t id = j == 0 ? ns_id : mid(c, obj);
        if (!recorded_as(c, id) || (!ns_absent && !asked(c->in, id)))
            continue;
        if (j == 0 && known && !ns_absent) {
            /* The namespace was read with the others: compare that copy. */
            if (namespace_step(c, i, ns) != 0)
                return -1;
            continue;
        }
        if (object_step(c, obj, j == 0 ? PLAN_LEVEL_NAMESPACES : PLAN_LEVEL_CONTENT, (int)i,
                        c->in->record, ns_absent) != 0)
            return -1;
    }
    if (ns && plan_terminating(ns)) {
        /* Nothing goes into a namespace on its way out: the repair waits. */
        for (size_t k = first; k < c->p->n_steps; k++)
            if (c->p->steps[k].op != PLAN_KEEP) {
                for (size_t m = first; m < c->p->n_steps; m++)
                    json_decref(c->p->steps[m].changes);
                c->p->n_steps = first;
                terminating(&c->p->err, dd->namespace_name);
                break;
            }
    }
    return 0;
}

static int repair(ctx *c)
{
    const json_t *obj;
    size_t j;

    if (c->in->record == NULL || !c->in->record->flyte || !c->in->record->complete ||
        !c->d->flyte_wanted)
        return 0;
    if (superseded(c))
        return 0;
    if (c->in->flyte && c->v->project_read && repair_flyte(c) != 0)
        return -1;
    if (c->in->n_ids == 0 && !c->in->all_k8s)
        return 0;
    for (size_t i = 0; i < c->d->n_domains; i++)
        if (repair_domain(c, i) != 0)
            return -1;
    json_array_foreach(c->d->cluster_objects, j, obj)
    {
        uint64_t id = mid(c, obj);
        if (recorded_as(c, id) && asked(c->in, id) &&
            object_step(c, obj, PLAN_LEVEL_CONTENT, -1, c->in->record, 0) != 0)
            return -1;
    }
    return 0;
}

/* ---- the entry points ---- */

int plan_stale_by_record(const wsstate *record, long long version)
{
    return record != NULL && record->version > version;
}

int plan_duplicate(const wsstate *record, long long version, const wsstate *cur)
{
    return record != NULL && record->version == version && record->complete &&
           record->digest == cur->digest;
}

int plan_make(const plan_input *in, const plan_view *v, const desired *prior, plan *p, wf_err *err)
{
    ctx c = {in, v, in->d, p, err};
    int rc;

    plan_fini(p);
    if (in->mode == PLAN_FOR_REPAIR)
        rc = repair(&c);
    else if (in->d->flyte_wanted)
        rc = event_present(&c, prior);
    else
        rc = event_absent(&c);
    if (rc != 0)
        plan_fini(p);
    return rc;
}
