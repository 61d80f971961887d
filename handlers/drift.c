/* The watch's judgement of recorded objects: identity sets per kind,
 * renderings of records shared by the kinds, the kwatch callback. */
#include "drift.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"
#include "log.h"
#include "plan.h"

#define RBAC_V1 "rbac.authorization.k8s.io/v1"
#define ACK_IAM "iam.services.k8s.aws/v1alpha1"

/* The kinds wsflyte renders, watched cluster-wide. */
static const kwatch_kind base_kinds[] = {
    {"v1", "Namespace"},      {"v1", "ResourceQuota"},
    {"v1", "LimitRange"},     {"networking.k8s.io/v1", "NetworkPolicy"},
    {"v1", "ServiceAccount"}, {RBAC_V1, "Role"},
    {RBAC_V1, "RoleBinding"}, {"v1", "ConfigMap"},
};
static const kwatch_kind ack_kinds[] = {{ACK_IAM, "Role"}, {ACK_IAM, "Policy"}};
#define MAX_KINDS (sizeof(base_kinds) / sizeof(base_kinds[0]) + 2)

/* A record lists the project and at most this many minus one domains. */
#define MAX_FLYTE_IDS 64

/* ---- a set of 64-bit identities (linear probing, 0 = empty) ---- */

typedef struct idset {
    uint64_t *slots;
    size_t cap, n; /* cap: a power of two, or 0 */
} idset;

static size_t slot_of_cap(size_t cap, uint64_t id)
{
    return (size_t)(id * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static size_t slot_of(const idset *s, uint64_t id)
{
    return slot_of_cap(s->cap, id);
}

static int idset_has(const idset *s, uint64_t id)
{
    if (s->cap == 0 || id == 0)
        return 0;
    for (size_t i = slot_of(s, id);; i = (i + 1) & (s->cap - 1)) {
        if (s->slots[i] == id)
            return 1;
        if (s->slots[i] == 0)
            return 0;
    }
}

static void idset_put(idset *s, uint64_t id);

static int idset_grow(idset *s)
{
    idset bigger = {calloc(s->cap ? s->cap * 2 : 256, sizeof(uint64_t)), s->cap ? s->cap * 2 : 256,
                    0};

    if (bigger.slots == NULL)
        return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i])
            idset_put(&bigger, s->slots[i]);
    free(s->slots);
    *s = bigger;
    return 0;
}

static void idset_put(idset *s, uint64_t id)
{
    size_t i;

    if (id == 0 || ((s->n + 1) * 4 > s->cap * 3 && idset_grow(s) != 0))
        return; /* out of memory: the id may later look missing, which costs a GET */
    for (i = slot_of(s, id); s->slots[i] != 0; i = (i + 1) & (s->cap - 1))
        if (s->slots[i] == id)
            return;
    s->slots[i] = id;
    s->n++;
}

/* Backward-shift deletion keeps every probe chain unbroken. */
static void idset_del(idset *s, uint64_t id)
{
    size_t i, j, k;

    if (s->cap == 0 || id == 0)
        return;
    for (i = slot_of(s, id); s->slots[i] != id; i = (i + 1) & (s->cap - 1))
        if (s->slots[i] == 0)
            return;
    s->slots[i] = 0;
    s->n--;
    for (j = (i + 1) & (s->cap - 1); s->slots[j] != 0; j = (j + 1) & (s->cap - 1)) {
        k = slot_of(s, s->slots[j]);
        /* Move slots[j] back to i unless its home k lies cyclically in (i, j]. */
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            s->slots[i] = s->slots[j];
            s->slots[j] = 0;
            i = j;
        }
    }
}

static void idset_clear(idset *s)
{
    free(s->slots);
    memset(s, 0, sizeof(*s));
}

/* One workspace's record rendered, shared by the kinds' threads
 * (reference-counted under dr->render_lock; read-only once built). */
typedef struct rendering {
    int refs;
    uint64_t used; /* dr->render_tick when last looked up */
    char *ws;
    long long version; /* of the record rendered */
    uint64_t digest;
    int ok; /* rendered, with Flyte wanted */
    desired d;
    /* Every rendered Kubernetes object by identity (open addressing,
     * 0 = empty; the manifests borrowed from d), and the API server it
     * belongs on (where_of). */
    uint64_t *index_ids;
    const json_t **index_objs;
    int *index_where;
    size_t index_cap;
} rendering;

/* Per watched kind: the identities its last list and later events hold,
 * and (watch thread only) the rendering it uses. */
typedef struct wkind {
    kwatch_kind kind;
    idset live, next; /* under dr->sets_lock */
    int synced;       /* a list has completed */
    int listing;      /* a list is under way */
    rendering *cur;   /* a reference, or NULL */
} wkind;

struct drift {
    drift_opts o;
    wkind kinds[MAX_KINDS];
    kwatch_kind watched[MAX_KINDS]; /* kinds[i].kind, as kwatch takes them */
    size_t n_kinds;
    uint64_t flyte_ids[MAX_FLYTE_IDS]; /* the record identities that are not Kubernetes objects */
    size_t n_flyte_ids;
    pthread_mutex_t sets_lock;
    /* The latest renderings (one per kind at most), shared: the kinds of
     * one list mostly reach a workspace's objects at about the same time. */
    pthread_mutex_t render_lock;
    rendering *recent[MAX_KINDS];
    uint64_t render_tick;
};

/* ---- the report ---- */

static void hand_off(drift *dr, const char *ws, uint64_t id, json_t *seen)
{
    if (dr->o.report.hand_off)
        dr->o.report.hand_off(dr->o.report.ud, ws, id, seen);
    else
        json_decref(seen);
}

static void matches(drift *dr, const char *ws, uint64_t id, const json_t *seen)
{
    if (dr->o.report.matches)
        dr->o.report.matches(dr->o.report.ud, ws, id, seen);
}

/* ---- the watch callback (watch threads) ---- */

static wkind *kind_of(drift *dr, const kwatch_kind *k)
{
    for (size_t i = 0; i < dr->n_kinds; i++)
        if (strcmp(dr->kinds[i].kind.kind, k->kind) == 0 &&
            strcmp(dr->kinds[i].kind.api_version, k->api_version) == 0)
            return &dr->kinds[i];
    return NULL;
}

static const char *meta_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static void rendering_free(rendering *g)
{
    if (g == NULL)
        return;
    desired_fini(&g->d);
    free(g->index_ids);
    free(g->index_objs);
    free(g->index_where);
    free(g->ws);
    free(g);
}

/* Drops a reference; dr->render_lock held. */
static void rendering_put(rendering *g)
{
    if (g && --g->refs == 0)
        rendering_free(g);
}

/* The API server that holds the objects of domain i of d (i ==
 * d->n_domains: the control-plane objects): -1 for kubernetes.api_url, an
 * index into kubernetes.clusters, or NOWHERE for a workspace namespace of
 * a record whose cluster is unknown with clusters configured (recorded
 * before them, or on a cluster no longer configured). */
#define NOWHERE (-2)
static int where_of(const wf_config *cfg, const desired *d, size_t i)
{
    if (i == d->n_domains || cfg->kubernetes.n_clusters == 0)
        return -1;
    return d->cluster >= 0 ? d->cluster : NOWHERE;
}

/* Indexes g's rendered Kubernetes objects by identity: each is hashed once
 * per rendering, not once per lookup.  Returns 0, or -1 when out of
 * memory. */
static int index_build(const wf_config *cfg, rendering *g)
{
    const desired *d = &g->d;
    size_t n = 0, cap = 16;

    for (size_t i = 0; i <= d->n_domains; i++)
        n += json_array_size(i < d->n_domains ? d->domains[i].objects : d->cluster_objects);
    while (cap < 2 * n)
        cap *= 2;
    g->index_ids = calloc(cap, sizeof(*g->index_ids));
    g->index_objs = calloc(cap, sizeof(*g->index_objs));
    g->index_where = calloc(cap, sizeof(*g->index_where));
    if (g->index_ids == NULL || g->index_objs == NULL || g->index_where == NULL)
        return -1;
    g->index_cap = cap;
    for (size_t i = 0; i <= d->n_domains; i++) {
        json_t *objs = i < d->n_domains ? d->domains[i].objects : d->cluster_objects, *obj;
        size_t j;
        json_array_foreach(objs, j, obj)
        {
            uint64_t id = plan_manifest_id(obj);
            size_t s;
            for (s = slot_of_cap(cap, id); g->index_ids[s] != 0 && g->index_ids[s] != id;
                 s = (s + 1) & (cap - 1))
                ;
            g->index_ids[s] = id;
            g->index_objs[s] = obj;
            g->index_where[s] = where_of(cfg, d, i);
        }
    }
    return 0;
}

/* The manifest of id (and in *where the API server it belongs on), or
 * NULL. */
static const json_t *index_find(const rendering *g, uint64_t id, int *where)
{
    if (g->index_cap == 0 || id == 0)
        return NULL;
    for (size_t s = slot_of_cap(g->index_cap, id);; s = (s + 1) & (g->index_cap - 1)) {
        if (g->index_ids[s] == id) {
            *where = g->index_where[s];
            return g->index_objs[s];
        }
        if (g->index_ids[s] == 0)
            return NULL;
    }
}

/* Renders workspace ws's record (copied once per rendering), or returns
 * NULL when out of memory. */
static rendering *render(drift *dr, const char *ws)
{
    rendering *g = calloc(1, sizeof(*g));
    wf_err err;
    wsstate rec;

    if (g == NULL || (g->ws = strdup(ws)) == NULL) {
        free(g);
        return NULL;
    }
    g->version = -1; /* matches no record until rendered */
    wf_err_init(&err);
    if (!applied_get(dr->o.store, ws, &rec))
        return g;
    g->version = rec.version;
    g->digest = rec.digest;
    g->ok = plan_render_record(dr->o.cfg, &rec, &g->d, &err) == 0 && g->d.flyte_wanted &&
            index_build(dr->o.cfg, g) == 0;
    if (!g->ok && err.msg[0])
        log_debug(LOG_CTX_NONE, "watch: workspace %s: cannot render its record: %s", ws, err.msg);
    wsstate_fini(&rec);
    return g;
}

static int renders(const rendering *g, const char *ws, const applied_peek *pk)
{
    return g && strcmp(g->ws, ws) == 0 && g->version == pk->version && g->digest == pk->digest;
}

/* Points k at a rendering of ws's record as pk describes it: a recent one
 * when another kind made it, else a new one (made under the lock, so that
 * kinds reaching the same workspace together render it once). */
static void use_rendering(drift *dr, wkind *k, const char *ws, const applied_peek *pk)
{
    size_t slot = 0;

    pthread_mutex_lock(&dr->render_lock);
    rendering_put(k->cur);
    k->cur = NULL;
    for (size_t i = 0; i < dr->n_kinds && k->cur == NULL; i++)
        if (renders(dr->recent[i], ws, pk))
            k->cur = dr->recent[i];
    if (k->cur == NULL) {
        /* An empty slot, else the least recently used. */
        for (size_t i = 0; i < dr->n_kinds; i++) {
            if (dr->recent[i] == NULL) {
                slot = i;
                break;
            }
            if (dr->recent[i]->used < dr->recent[slot]->used)
                slot = i;
        }
        if ((k->cur = render(dr, ws)) != NULL) {
            rendering_put(dr->recent[slot]);
            dr->recent[slot] = k->cur;
            k->cur->refs = 1;
        }
    }
    if (k->cur) {
        k->cur->refs++;
        k->cur->used = ++dr->render_tick;
    }
    pthread_mutex_unlock(&dr->render_lock);
}

/* The rendered manifest of identity id (borrowed from k's rendering; in
 * *where the API server it belongs on), or NULL.  Consecutive objects of a list mostly belong to
 * one workspace, so a kind keeps its rendering, and shares it with the other kinds; a lookup is one
 * probe of the rendering's index. */
static const json_t *desired_object(drift *dr, wkind *k, const char *ws, const applied_peek *pk,
                                    uint64_t id, int *where)
{
    if (!renders(k->cur, ws, pk))
        use_rendering(dr, k, ws, pk);
    /* A record replaced meanwhile: its next sighting renders the new one. */
    if (!renders(k->cur, ws, pk) || !k->cur->ok)
        return NULL;
    return index_find(k->cur, id, where);
}

/* With kubernetes.clusters, each API server is watched apart: what this
 * one shows of an object is judged only when the object belongs here (on
 * the record's cluster, or the control plane); the same names elsewhere
 * (a move's old cluster, a cluster it is moving to) are the events'. */
static int fleet(const drift *dr)
{
    return dr->o.cfg->kubernetes.n_clusters > 0;
}

/* An object of an owned workspace that the record lists: compared with
 * the desired one, handed off when gone or different.  Only a few fields
 * of the record are read (under the store's lock): the work per object
 * does not grow with the workspace. */
static void check_object(drift *dr, wkind *k, kwatch_event_type type, const char *ws, uint64_t id,
                         const json_t *obj)
{
    const json_t *want = NULL;
    json_t *full = NULL, *changes = NULL;
    applied_peek pk;
    int n, where = -1;

    if (!applied_peek_object(dr->o.store, ws, id, &pk))
        return; /* not a workspace this replica owns */
    if (!pk.flyte || !pk.complete || !pk.listed)
        return; /* not a name wsflyte renders for it: never touched */
    if (fleet(dr) &&
        ((want = desired_object(dr, k, ws, &pk, id, &where)) == NULL || where != dr->o.cluster))
        return; /* not on this API server that the record has it */
    if (type == KWATCH_DELETED) {
        hand_off(dr, ws, id, NULL);
        return;
    }
    if ((want == NULL && (want = desired_object(dr, k, ws, &pk, id, &where)) == NULL) ||
        wsstate_hash_json(want) != pk.hash)
        return; /* rendered differently now: the next event's business */
    /* LIST items lack apiVersion and kind. */
    if ((full = json_copy((json_t *)obj)) == NULL || (changes = json_array()) == NULL)
        goto out;
    if (!json_object_get(full, "apiVersion"))
        json_object_set_new(full, "apiVersion", json_string(k->kind.api_version));
    if (!json_object_get(full, "kind"))
        json_object_set_new(full, "kind", json_string(k->kind.kind));
    n = plan_compare_object(want, full, changes);
    if (n > 0) {
        log_debug(LOG_CTX_NONE, "watch: %s %s/%s of workspace %s differs (%s)", k->kind.kind,
                  meta_string(obj, "namespace") ? meta_string(obj, "namespace") : "",
                  meta_string(obj, "name"), ws, json_string_value(json_array_get(changes, 0)));
        hand_off(dr, ws, id, json_deep_copy(full));
    } else if (n == 0) {
        matches(dr, ws, id, full);
    }
out:
    json_decref(changes);
    json_decref(full);
}

/* Every kind has listed and none is listing: the sets describe the
 * cluster.  Lists asked for together (a pass) end in one check. */
static int all_synced(drift *dr)
{
    for (size_t i = 0; i < dr->n_kinds; i++)
        if (!dr->kinds[i].synced || dr->kinds[i].listing)
            return 0;
    return 1;
}

static int is_flyte_id(const drift *dr, uint64_t id)
{
    for (size_t i = 0; i < dr->n_flyte_ids; i++)
        if (dr->flyte_ids[i] == id)
            return 1;
    return 0;
}

/* Whether recorded object id of rec belongs on this drift's API server;
 * *g is rec's rendering, made on the first call (fleet only). */
static int belongs_here(drift *dr, const wsstate *rec, uint64_t id, rendering **g)
{
    int where = NOWHERE;

    if (!fleet(dr))
        return 1;
    if (*g == NULL && (*g = render(dr, rec->workspace_id)) == NULL)
        return 0;
    return (*g)->ok && index_find(*g, id, &where) != NULL && where == dr->o.cluster;
}

/* After a list: every Kubernetes object an owned workspace's record lists
 * on this API server that no kind holds is missing (deleted while no
 * watch ran). */
static void check_missing(drift *dr)
{
    char **ids = NULL;
    size_t n = 0, missing = 0;

    if (applied_list(dr->o.store, &ids, &n) != 0)
        return;
    for (size_t w = 0; w < n; w++) {
        rendering *g = NULL;
        wsstate rec;
        if (!applied_get(dr->o.store, ids[w], &rec))
            continue;
        /* An execution cluster holds only its own workspaces' objects. */
        int here = !fleet(dr) || dr->o.cluster < 0 ||
                   plan_record_cluster(dr->o.cfg, &rec) == dr->o.cluster;
        for (size_t i = 0; here && rec.flyte && rec.complete && i < rec.n_objs; i++) {
            uint64_t id = rec.objs[i].id;
            int seen = is_flyte_id(dr, id);
            pthread_mutex_lock(&dr->sets_lock);
            for (size_t k = 0; !seen && k < dr->n_kinds; k++)
                seen = idset_has(&dr->kinds[k].live, id);
            pthread_mutex_unlock(&dr->sets_lock);
            if (!seen && belongs_here(dr, &rec, id, &g)) {
                hand_off(dr, ids[w], id, NULL);
                missing++;
            }
        }
        rendering_free(g);
        wsstate_fini(&rec);
    }
    if (missing)
        log_info(LOG_CTX_NONE, "watch: %zu recorded object(s) of owned workspaces are missing",
                 missing);
    applied_list_free(ids, n);
}

void drift_on_watch(void *ud, kwatch_event_type type, const kwatch_kind *kind, const json_t *obj)
{
    drift *dr = ud;
    wkind *k = kind_of(dr, kind);
    const char *ws;
    uint64_t id;
    int all;

    if (k == NULL)
        return;
    if (type == KWATCH_RELIST || type == KWATCH_SYNCED) {
        pthread_mutex_lock(&dr->sets_lock);
        if (type == KWATCH_SYNCED) {
            idset t = k->live;
            k->live = k->next;
            k->next = t;
            k->synced = 1;
        }
        k->listing = type == KWATCH_RELIST;
        idset_clear(&k->next);
        all = all_synced(dr);
        pthread_mutex_unlock(&dr->sets_lock);
        if (type == KWATCH_SYNCED && all)
            check_missing(dr);
        return;
    }
    id = plan_object_id(kind->api_version, kind->kind, meta_string(obj, "namespace"),
                        meta_string(obj, "name"));
    pthread_mutex_lock(&dr->sets_lock);
    if (type == KWATCH_SYNC)
        idset_put(&k->next, id);
    else if (type == KWATCH_DELETED)
        idset_del(&k->live, id);
    else
        idset_put(&k->live, id);
    pthread_mutex_unlock(&dr->sets_lock);
    ws = json_string_value(json_object_get(
        json_object_get(json_object_get(obj, "metadata"), "labels"), LABEL_WORKSPACE));
    if (ws != NULL)
        check_object(dr, k, type, ws, id, obj);
}

/* ---- lifetime ---- */

drift *drift_new(const drift_opts *opts, wf_err *err)
{
    drift *dr = calloc(1, sizeof(*dr));
    const wf_config *cfg = opts->cfg;

    if (dr == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "drift: out of memory");
        return NULL;
    }
    dr->o = *opts;
    dr->n_flyte_ids = plan_flyte_ids(cfg, dr->flyte_ids, MAX_FLYTE_IDS);
    if (dr->n_flyte_ids > MAX_FLYTE_IDS) {
        wf_err_set(err, WF_CONFIG, "config.flyte", "drift: more than %d Flyte domains",
                   MAX_FLYTE_IDS - 1);
        free(dr);
        return NULL;
    }
    pthread_mutex_init(&dr->sets_lock, NULL);
    pthread_mutex_init(&dr->render_lock, NULL);
    for (size_t i = 0; i < sizeof(base_kinds) / sizeof(base_kinds[0]); i++)
        dr->watched[dr->n_kinds++] = base_kinds[i];
    for (size_t i = 0; cfg->aws.ack_enabled && i < 2; i++)
        dr->watched[dr->n_kinds++] = ack_kinds[i];
    for (size_t i = 0; i < dr->n_kinds; i++)
        dr->kinds[i].kind = dr->watched[i];
    return dr;
}

void drift_free(drift *dr)
{
    if (dr == NULL)
        return;
    for (size_t i = 0; i < dr->n_kinds; i++) {
        idset_clear(&dr->kinds[i].live);
        idset_clear(&dr->kinds[i].next);
        rendering_put(dr->kinds[i].cur);
    }
    for (size_t i = 0; i < MAX_KINDS; i++)
        rendering_put(dr->recent[i]);
    pthread_mutex_destroy(&dr->sets_lock);
    pthread_mutex_destroy(&dr->render_lock);
    free(dr);
}

const kwatch_kind *drift_kinds(const drift *dr, size_t *n)
{
    *n = dr->n_kinds;
    return dr->watched;
}
