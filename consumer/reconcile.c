/* Continuous reconciliation: the watch's hand-offs and the resync pass,
 * turned into repair jobs of the per-workspace dispatcher. */
#include "reconcile.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "damper.h"
#include "drift.h"
#include "k8s.h"
#include "kwatch.h"
#include "log.h"
#include "provision.h"

/* A failed repair is tried again after attempt * REPAIR_BACKOFF_MS, at
 * most REPAIR_ATTEMPTS times; the next pass or watch event tries anew. */
#define REPAIR_ATTEMPTS   5
#define REPAIR_BACKOFF_MS 2000L
/* A repair superseded by an event of its workspace waits this long. */
#define SUPERSEDED_DELAY_MS 1000L
/* Fights that ended are looked for this often. */
#define SWEEP_EVERY_MS 10000L
/* A pass is spread over this share of the interval (the rest absorbs
 * jitter and slow passes). */
#define PASS_SPREAD_PERCENT 90

/* ---- hand-offs and repair jobs ---- */

/* One workspace's repair: pending (in r->pending) until submitted, then a
 * job (in r->running) until collected. */
typedef struct rjob {
    job j; /* first: the dispatcher's handle */
    reconciler *r;
    char *ws;
    uint64_t *ids; /* Kubernetes objects to check */
    json_t **seen; /* per id: as the watch saw it (owned), or NULL */
    int *where;    /* per id: the API server it was seen on (drift_opts.cluster) */
    size_t n, cap;
    int flyte, all_k8s;
    json_t *listed; /* the pass's listing of its Flyte objects (owned), or NULL */
    int attempts;
    int64_t due_ms;
    int rc; /* of the run: repaired count, or -1 with err */
    wf_err err;
    struct rjob *next;
} rjob;

/* A pass's listing of FlyteAdmin, a job of its own on a worker. */
typedef struct rlist {
    job j;        /* first: the dispatcher's handle */
    unsigned gen; /* of the pass it lists for */
    int64_t start_ms;
    provision_listing *listing; /* the run's result, or NULL */
    int rc;
    wf_err err;
} rlist;

/* The listing job's key: no workspace id holds a space, so no event or
 * repair ever waits behind it. */
static char listing_key[] = " flyte listing";

/* A hand-off of an object in a fight (damper.h), held back until due. */
typedef struct rheld {
    char *ws;
    uint64_t id;
    int where;
    json_t *seen; /* owned, or NULL */
    int64_t due_ms;
    struct rheld *next;
} rheld;

/* One watched API server: kubernetes.api_url, and with
 * kubernetes.clusters each execution cluster too. */
typedef struct rwatch {
    reconciler *r;
    int cluster;  /* -1: kubernetes.api_url; else an index into kubernetes.clusters */
    k8s *conn;    /* the watch's connection settings and credentials */
    drift *drift; /* judges what the watch sees; reports to hand_off, refresh_seen */
    kwatch *watch;
} rwatch;

struct reconciler {
    reconcile_opts o;
    rwatch *w;
    size_t n_w;
    pthread_mutex_t lock; /* pending, held, damp */
    rjob *pending;
    rheld *held; /* objects in a fight: their repairs wait */
    damper *damp;
    int64_t next_sweep_ms;
    /* Consumer thread only. */
    rjob *running;
    size_t n_running, n_running_pass;
    int assigned;
    int64_t next_pass_ms;
    char **pass_ids;
    size_t pass_n, pass_next;
    int64_t pass_start_ms;
    /* The pass's listing of FlyteAdmin: while its job runs the pass feeds
     * nothing; then each workspace's job takes its entry. */
    rlist *listing_job; /* submitted, not collected */
    provision_listing *listing;
    int pass_waits;
    unsigned pass_gen;
    unsigned seed;
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rjob_free(rjob *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n; i++)
        json_decref(e->seen[i]);
    json_decref(e->listed);
    free(e->ids);
    free(e->seen);
    free(e->where);
    free(e->ws);
    free(e);
}

static rjob *rjob_new(reconciler *r, const char *ws)
{
    rjob *e = calloc(1, sizeof(*e));

    if (e == NULL || (e->ws = strdup(ws)) == NULL) {
        free(e);
        return NULL;
    }
    e->r = r;
    return e;
}

/* Makes room for one more id in e.  Returns 0, or -1 when out of
 * memory. */
static int rjob_grow(rjob *e)
{
    size_t cap = e->cap ? e->cap * 2 : 4;
    uint64_t *ids;
    json_t **sn;
    int *wh;

    if (e->n < e->cap)
        return 0;
    if ((ids = realloc(e->ids, cap * sizeof(*ids))) == NULL)
        return -1;
    e->ids = ids;
    if ((sn = realloc(e->seen, cap * sizeof(*sn))) == NULL)
        return -1;
    e->seen = sn;
    if ((wh = realloc(e->where, cap * sizeof(*wh))) == NULL)
        return -1;
    e->where = wh;
    e->cap = cap;
    return 0;
}

/* Adds id seen on API server where (seen: taken, may be NULL) to e,
 * replacing what an earlier hand-off of the same object saw. */
static int rjob_add(rjob *e, uint64_t id, int where, json_t *seen)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->ids[i] == id && e->where[i] == where) {
            json_decref(e->seen[i]);
            e->seen[i] = seen;
            return 0;
        }
    if (rjob_grow(e) != 0) {
        json_decref(seen);
        return -1;
    }
    e->ids[e->n] = id;
    e->where[e->n] = where;
    e->seen[e->n++] = seen;
    return 0;
}

static int rjob_has(const rjob *e, uint64_t id, int where)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->ids[i] == id && e->where[i] == where)
            return 1;
    return 0;
}

/* Moves what src (an older job) asks for into dst and frees src; what dst
 * saw of an object is newer and stays. */
static void rjob_merge_take(rjob *dst, rjob *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (!rjob_has(dst, src->ids[i], src->where[i])) {
            rjob_add(dst, src->ids[i], src->where[i], src->seen[i]);
            src->seen[i] = NULL;
        }
    dst->flyte |= src->flyte;
    dst->all_k8s |= src->all_k8s;
    if (dst->listed == NULL) {
        dst->listed = src->listed;
        src->listed = NULL;
    }
    if (src->attempts > dst->attempts)
        dst->attempts = src->attempts;
    rjob_free(src);
}

static rjob *find(rjob *list, const char *ws)
{
    for (; list; list = list->next)
        if (strcmp(list->ws, ws) == 0)
            return list;
    return NULL;
}

/* The pending entry of ws, created due now when missing; r->lock held. */
static rjob *pending_of(reconciler *r, const char *ws)
{
    rjob *e = find(r->pending, ws);

    if (e == NULL && (e = rjob_new(r, ws)) != NULL) {
        e->due_ms = mono_ms();
        e->next = r->pending;
        r->pending = e;
    }
    return e;
}

static void rheld_free(rheld *h)
{
    if (h) {
        json_decref(h->seen);
        free(h->ws);
        free(h);
    }
}

/* Holds back the hand-off of id seen on where (seen: taken) until due_ms,
 * replacing what an earlier one saw; r->lock held. */
static void hold(reconciler *r, const char *ws, uint64_t id, int where, json_t *seen,
                 int64_t due_ms)
{
    rheld *h;

    for (h = r->held; h && (h->id != id || h->where != where); h = h->next)
        ;
    if (h == NULL) {
        if ((h = calloc(1, sizeof(*h))) == NULL || (h->ws = strdup(ws)) == NULL) {
            free(h);
            json_decref(seen);
            return; /* out of memory: the next sighting hands it off again */
        }
        h->id = id;
        h->where = where;
        h->next = r->held;
        r->held = h;
    }
    json_decref(h->seen);
    h->seen = seen;
    h->due_ms = due_ms;
}

/* Drops the held hand-off of id (it matches again); r->lock held. */
static void unhold(reconciler *r, uint64_t id)
{
    for (rheld **pp = &r->held; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            rheld *h = *pp;
            *pp = h->next;
            rheld_free(h);
            return;
        }
}

/* Hands object id of ws (seen: taken, NULL when gone) on the API server
 * of w to the consumer thread; held back while its repairs are damped.  A
 * watch thread. */
static void hand_off(void *ud, const char *ws, uint64_t id, json_t *seen)
{
    rwatch *w = ud;
    reconciler *r = w->r;
    int64_t until;
    rjob *e;

    pthread_mutex_lock(&r->lock);
    if ((until = damper_hold_until(r->damp, id, mono_ms())) != 0)
        hold(r, ws, id, w->cluster, seen, until);
    else if ((e = pending_of(r, ws)) != NULL)
        rjob_add(e, id, w->cluster, seen);
    else
        json_decref(seen);
    pthread_mutex_unlock(&r->lock);
}

/* A later sighting of an object already handed off replaces what was
 * seen (a match then makes the repair a no-op without a request).  A
 * watch thread. */
static void refresh_seen(void *ud, const char *ws, uint64_t id, const json_t *obj)
{
    rwatch *w = ud;
    reconciler *r = w->r;
    rjob *e;

    pthread_mutex_lock(&r->lock);
    if ((e = find(r->pending, ws)) != NULL)
        for (size_t i = 0; i < e->n; i++)
            if (e->ids[i] == id && e->where[i] == w->cluster) {
                json_decref(e->seen[i]);
                e->seen[i] = json_deep_copy(obj);
            }
    unhold(r, id);
    pthread_mutex_unlock(&r->lock);
}

/* ---- lifetime ---- */

/* Sets up w to judge (and, with reconcile.watch, to connect to) the API
 * server of cluster.  Returns 0, or -1 with err set. */
static int rwatch_init(reconciler *r, rwatch *w, int cluster, wf_err *err)
{
    const reconcile_opts *o = &r->o;
    drift_opts dopts = {.cfg = o->cfg, .store = o->store, .cluster = cluster};
    pacer *pace = cluster < 0         ? o->k8s_pacer
                  : o->cluster_pacers ? o->cluster_pacers[cluster]
                                      : NULL;

    w->r = r;
    w->cluster = cluster;
    dopts.report = (drift_report){.hand_off = hand_off, .matches = refresh_seen, .ud = w};
    if ((w->drift = drift_new(&dopts, err)) == NULL)
        return -1;
    if (o->cfg->reconcile.watch && (w->conn = k8s_new_cluster(o->cfg, cluster, pace, o->observer,
                                                              o->observer_ud, err)) == NULL)
        return -1;
    return 0;
}

reconciler *reconciler_new(const reconcile_opts *opts, wf_err *err)
{
    reconciler *r = calloc(1, sizeof(*r));
    const wf_config *cfg = opts->cfg;
    /* The control plane, and each execution cluster. */
    size_t n_w = 1 + cfg->kubernetes.n_clusters;

    if (r == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "reconcile: out of memory");
        return NULL;
    }
    r->o = *opts;
    if ((r->damp = damper_new()) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "reconcile: out of memory");
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    r->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)r;
    if ((r->w = calloc(n_w, sizeof(*r->w))) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "reconcile: out of memory");
        reconciler_free(r);
        return NULL;
    }
    for (; r->n_w < n_w; r->n_w++)
        if (rwatch_init(r, &r->w[r->n_w], (int)r->n_w - 1, err) != 0) {
            r->n_w++; /* its half-made parts are freed too */
            reconciler_free(r);
            return NULL;
        }
    return r;
}

static void free_list(rjob *e)
{
    while (e) {
        rjob *n = e->next;
        rjob_free(e);
        e = n;
    }
}

static void free_held(rheld *h)
{
    while (h) {
        rheld *n = h->next;
        rheld_free(h);
        h = n;
    }
}

static void pass_end(reconciler *r)
{
    applied_list_free(r->pass_ids, r->pass_n);
    r->pass_ids = NULL;
    r->pass_n = r->pass_next = 0;
    provision_listing_free(r->listing);
    r->listing = NULL;
    r->pass_waits = 0;
}

void reconciler_free(reconciler *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_w; i++) {
        kwatch_free(r->w[i].watch); /* no callback runs after this */
        k8s_free(r->w[i].conn);
        drift_free(r->w[i].drift); /* after the watch: its callback uses it */
    }
    free(r->w);
    free_list(r->pending);
    free_list(r->running); /* none after a drain */
    free_held(r->held);
    damper_free(r->damp);
    pass_end(r);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static int64_t jittered(reconciler *r, long interval_ms);

/* The API server of w as the log names it. */
static const char *rwatch_name(const reconciler *r, const rwatch *w)
{
    return w->cluster < 0 ? "the control plane" : r->o.cfg->kubernetes.clusters[w->cluster].name;
}

static void start_watch(reconciler *r, rwatch *w)
{
    kwatch_opts o = {.cb = drift_on_watch, .ud = w->drift};
    wf_err err;

    o.kinds = drift_kinds(w->drift, &o.n_kinds);
    wf_err_init(&err);
    if ((w->watch = kwatch_new(k8s_conn(w->conn), &o, &err)) == NULL)
        log_error(LOG_CTX_NONE, "watch%s%s: %s; drift is repaired by resync only",
                  r->n_w > 1 ? " of " : "", r->n_w > 1 ? rwatch_name(r, w) : "", err.msg);
    else if (r->n_w > 1)
        log_info(LOG_CTX_NONE, "watching %zu kinds for drift on %s%s", o.n_kinds,
                 w->cluster < 0 ? "" : "cluster ", rwatch_name(r, w));
    else
        log_info(LOG_CTX_NONE, "watching %zu kinds for drift", o.n_kinds);
}

/* Every watch lists again (a watch not started: nothing). */
static void relist_all(reconciler *r)
{
    for (size_t i = 0; i < r->n_w; i++)
        kwatch_relist(r->w[i].watch);
}

/* Whether a watch runs: then Kubernetes needs no read per object. */
static int watching(const reconciler *r)
{
    for (size_t i = 0; i < r->n_w; i++)
        if (r->w[i].watch)
            return 1;
    return 0;
}

void reconciler_assigned(reconciler *r)
{
    if (r == NULL)
        return;
    r->assigned = 1;
    /* A fresh list compares every object of the newly owned workspaces. */
    for (size_t i = 0; i < r->n_w; i++) {
        rwatch *w = &r->w[i];
        if (w->conn && w->watch == NULL)
            start_watch(r, w);
        else
            kwatch_relist(w->watch);
    }
    /* FlyteAdmin (no watch) gets its check in the first pass, one interval
     * on: a pass at once would read every workspace again on each
     * rebalance. */
    if (r->next_pass_ms == 0)
        r->next_pass_ms = mono_ms() + jittered(r, r->o.cfg->reconcile.resync_interval_ms);
}

void reconciler_revoked(reconciler *r)
{
    rheld *h;
    rjob *p;

    if (r == NULL)
        return;
    r->assigned = 0;
    pass_end(r);
    pthread_mutex_lock(&r->lock);
    p = r->pending;
    r->pending = NULL;
    h = r->held;
    r->held = NULL;
    pthread_mutex_unlock(&r->lock);
    free_list(p);
    free_held(h);
}

/* ---- the consumer thread ---- */

/* interval ± 10 %, so that replicas started together drift apart. */
static int64_t jittered(reconciler *r, long interval_ms)
{
    long tenth = interval_ms / 10;
    return interval_ms - tenth +
           (tenth > 0 ? (long)(rand_r(&r->seed) % (unsigned)(2 * tenth + 1)) : 0);
}

static void submit_listing(reconciler *r, int64_t now);

static void pass_begin(reconciler *r, int64_t now)
{
    pass_end(r);
    r->pass_gen++;
    if (applied_list(r->o.store, &r->pass_ids, &r->pass_n) != 0) {
        r->pass_ids = NULL;
        r->pass_n = 0;
    }
    r->pass_start_ms = now;
    r->next_pass_ms = now + jittered(r, r->o.cfg->reconcile.resync_interval_ms);
    /* With the watch, Kubernetes costs a few LISTs per pass, not a read
     * per object: a fresh list shows what a missed event would hide.  Each
     * API server watched lists again. */
    relist_all(r);
    log_info(LOG_CTX_NONE, "resync: pass over %zu workspace(s)", r->pass_n);
    /* FlyteAdmin is read by the page first: a workspace whose listed
     * project and attributes match its record then needs no request. */
    if (r->pass_n > 0)
        submit_listing(r, now);
}

/* Events first: a pass takes workers only while at least half of them
 * are free, and never more than a quarter.  Returns how many more it may
 * take now. */
static size_t idle_capacity(reconciler *r)
{
    size_t threads = r->o.threads > 0 ? (size_t)r->o.threads : 1;
    size_t quarter = threads / 4 ? threads / 4 : 1;

    if (dispatcher_inflight(r->o.dispatcher) * 2 >= threads + 1 || r->n_running_pass >= quarter)
        return 0;
    return quarter - r->n_running_pass;
}

/* Queues the pass's workspaces due by now: the pass is spread evenly
 * over most of the interval. */
static void pass_feed(reconciler *r, int64_t now)
{
    int64_t spread = r->o.cfg->reconcile.resync_interval_ms * PASS_SPREAD_PERCENT / 100;
    size_t due = r->pass_n, room;

    if (r->pass_waits)
        return; /* for its listing */
    room = idle_capacity(r);
    if (spread > 0 && now - r->pass_start_ms < spread)
        due = (size_t)((double)r->pass_n * (double)(now - r->pass_start_ms) / (double)spread) + 1;
    if (due > r->pass_n)
        due = r->pass_n;
    for (; r->pass_next < due && room > 0; room--) {
        const char *ws = r->pass_ids[r->pass_next++];
        rjob *e;
        pthread_mutex_lock(&r->lock);
        if ((e = pending_of(r, ws)) != NULL) {
            json_t *listed = provision_listing_take(r->listing, ws);
            e->flyte = 1;
            e->all_k8s |= !watching(r);
            if (listed) {
                json_decref(e->listed);
                e->listed = listed;
            }
        }
        pthread_mutex_unlock(&r->lock);
    }
    if (r->pass_next >= r->pass_n) {
        log_debug(LOG_CTX_NONE, "resync: pass over %zu workspace(s) queued in %" PRId64 " ms",
                  r->pass_n, now - r->pass_start_ms);
        pass_end(r);
    }
}

static void submit(reconciler *r, rjob *e)
{
    memset(&e->j, 0, sizeof(e->j));
    e->j.key = e->ws;
    e->j.kind = JOB_REPAIR; /* any event of the workspace goes first */
    e->j.version = INT64_MIN;
    e->j.data = r;
    e->next = r->running;
    r->running = e;
    r->n_running++;
    dispatcher_submit(r->o.dispatcher, &e->j);
}

/* Held hand-offs that are due go back among the pending; r->lock held. */
static void release_held(reconciler *r, int64_t now)
{
    for (rheld **pp = &r->held; *pp;) {
        rheld *h = *pp;
        rjob *e;
        if (h->due_ms > now) {
            pp = &h->next;
            continue;
        }
        *pp = h->next;
        if ((e = pending_of(r, h->ws)) != NULL) {
            rjob_add(e, h->id, h->where, h->seen);
            h->seen = NULL;
        }
        rheld_free(h);
    }
}

/* Takes out of e the objects whose repairs are damped now (a fight began
 * after they were handed off) and holds them back.  Returns 1 when e
 * still asks for something; r->lock held. */
static int hold_back(reconciler *r, rjob *e, int64_t now)
{
    for (size_t i = 0; i < e->n;) {
        int64_t until = damper_hold_until(r->damp, e->ids[i], now);
        if (until == 0) {
            i++;
            continue;
        }
        hold(r, e->ws, e->ids[i], e->where[i], e->seen[i], until);
        e->n--;
        e->ids[i] = e->ids[e->n];
        e->seen[i] = e->seen[e->n];
        e->where[i] = e->where[e->n];
    }
    return e->n > 0 || e->flyte || e->all_k8s;
}

/* Forgets fights that are over (the object stayed as repaired). */
static void sweep(reconciler *r, int64_t now)
{
    size_t ended, left;

    if (now < r->next_sweep_ms)
        return;
    r->next_sweep_ms = now + SWEEP_EVERY_MS;
    pthread_mutex_lock(&r->lock);
    ended = damper_sweep(r->damp, now);
    left = damper_fighting(r->damp);
    pthread_mutex_unlock(&r->lock);
    if (ended)
        log_info(LOG_CTX_NONE,
                 "drift fight over: %zu object(s) stayed as repaired; %zu still in a fight", ended,
                 left);
}

void reconciler_pump(reconciler *r)
{
    int64_t now = mono_ms();
    rjob *ready = NULL, **pp;

    if (r == NULL || !r->assigned)
        return;
    /* A pass waits for the listing of the one before to come back. */
    if (r->o.cfg->reconcile.resync_interval_ms > 0 && r->pass_ids == NULL &&
        r->listing_job == NULL && now >= r->next_pass_ms)
        pass_begin(r, now);
    r->n_running_pass = 0;
    for (rjob *e = r->running; e; e = e->next)
        r->n_running_pass += e->flyte;
    if (r->pass_ids)
        pass_feed(r, now);
    sweep(r, now);
    pthread_mutex_lock(&r->lock);
    release_held(r, now);
    for (pp = &r->pending; *pp;) {
        rjob *e = *pp;
        if (e->due_ms <= now && find(r->running, e->ws) == NULL && find(ready, e->ws) == NULL) {
            *pp = e->next;
            if (hold_back(r, e, now)) {
                e->next = ready;
                ready = e;
            } else {
                rjob_free(e);
            }
        } else {
            pp = &e->next;
        }
    }
    pthread_mutex_unlock(&r->lock);
    while (ready) {
        rjob *e = ready;
        ready = e->next;
        submit(r, e);
    }
}

int reconciler_is_job(const job *j)
{
    return j->kind == JOB_REPAIR;
}

/* ---- the pass's listing of FlyteAdmin ---- */

/* The pass feeds nothing until its listing is back (or failed). */
static void submit_listing(reconciler *r, int64_t now)
{
    rlist *l = calloc(1, sizeof(*l));

    if (l == NULL) {
        log_warn(LOG_CTX_NONE, "resync: out of memory for the listing of FlyteAdmin; this pass "
                               "reads each workspace's project and attributes");
        return;
    }
    l->gen = r->pass_gen;
    l->start_ms = now;
    l->j.key = listing_key;
    l->j.kind = JOB_REPAIR;
    l->j.version = INT64_MIN;
    l->j.data = r;
    r->listing_job = l;
    r->pass_waits = 1;
    r->n_running++;
    dispatcher_submit(r->o.dispatcher, &l->j);
}

static int listing_yields(void *ud)
{
    return dispatcher_stop_asked(ud);
}

static void run_listing(rlist *l, void *provisioner_ud)
{
    wf_err_init(&l->err);
    l->rc = provision_list_flyte(provisioner_ud, listing_yields, &l->j, &l->listing, &l->err);
}

/* The listing is back: the pass's jobs carry its entries, or, when it
 * failed, read as before; the pass is spread from now on. */
static void listing_collected(reconciler *r, rlist *l)
{
    int64_t now = mono_ms();

    r->listing_job = NULL;
    r->n_running--;
    if (l->j.cancelled || !r->assigned || l->gen != r->pass_gen || r->pass_ids == NULL) {
        provision_listing_free(l->listing); /* its pass is over */
    } else {
        r->pass_waits = 0;
        r->pass_start_ms = now;
        if (l->rc == 0) {
            r->listing = l->listing;
            log_info(LOG_CTX_NONE,
                     "resync: FlyteAdmin listed for %zu workspace(s) in %" PRId64 " ms",
                     provision_listing_count(r->listing), now - l->start_ms);
        } else {
            log_warn(LOG_CTX_NONE,
                     "resync: listing FlyteAdmin failed: %s [%s]; this pass reads each "
                     "workspace's project and attributes",
                     l->err.msg, l->err.code);
        }
    }
    free(l);
}

/* A repair that starts a fight is logged once, naming the other writer
 * (from managedFields), and counted on its own. */
static void fight_begins(reconciler *r, const char *ws, const repair_note *n, int64_t hold_ms)
{
    log_ctx ctx = {.workspace_id = ws, .duration_ms = -1};

    log_warn(&ctx,
             "drift fight: %s %s%s%s is changed back by %s%s%s after every repair (%d repairs "
             "within %ld min); its repairs now wait %" PRId64 " s, doubling up to %ld min, "
             "until it stays as repaired",
             n->kind, n->ns ? n->ns : "", n->ns ? "/" : "", n->name, n->manager ? "\"" : "",
             n->manager ? n->manager
                        : "an unknown writer (no field manager of its own: a deletion, or a "
                          "mutating admission webhook changing wsflyte's own writes)",
             n->manager ? "\"" : "", DAMPER_FIGHT_REPAIRS, DAMPER_WINDOW_MS / 60000, hold_ms / 1000,
             DAMPER_MAX_HOLD_MS / 60000);
    metrics_drift_fight(r->o.metrics, n->api, n->cluster, n->kind);
}

/* On the worker: counted, and damped when another writer keeps undoing it. */
static void on_repaired(void *ud, const repair_note *n)
{
    rjob *e = ud;
    reconciler *r = e->r;
    int64_t hold_ms = 0;
    int fight;

    metrics_drift_repair(r->o.metrics, n->api, n->cluster, n->kind);
    /* Flyte is repaired by passes only, once an interval: no fight to damp
     * (and its identities are the same in every workspace). */
    if (strcmp(n->api, "k8s") != 0)
        return;
    pthread_mutex_lock(&r->lock);
    fight = damper_repaired(r->damp, n->id, mono_ms(), &hold_ms);
    pthread_mutex_unlock(&r->lock);
    if (fight)
        fight_begins(r, e->ws, n, hold_ms);
}

/* An event of the workspace waits (or the partitions are going): the
 * repair ends at its next request and comes back later. */
static int repair_yields(void *ud)
{
    return dispatcher_stop_asked(ud);
}

void reconciler_run(job *j, void *provisioner_ud)
{
    rjob *e = (rjob *)j;

    if (j->key == listing_key) {
        run_listing((rlist *)j, provisioner_ud);
        return;
    }
    repair_req req = {.ids = e->ids,
                      .seen = e->seen,
                      .where = e->where,
                      .n_ids = e->n,
                      .all_k8s = e->all_k8s,
                      .flyte = e->flyte,
                      .listed = e->listed,
                      .yield = repair_yields,
                      .yield_ud = j};

    log_debug(LOG_CTX_NONE, "repair of workspace %s: %zu object(s)%s%s", e->ws, e->n,
              !e->flyte   ? ""
              : e->listed ? ", Flyte (listed)"
                          : ", Flyte",
              e->all_k8s ? ", every Kubernetes object" : "");

    wf_err_init(&e->err);
    e->rc = provision_repair(provisioner_ud, e->ws, &req, on_repaired, e, &e->err);
}

/* Puts e back among the pending, due at due_ms, merged with what was
 * handed off for its workspace meanwhile. */
static void requeue(reconciler *r, rjob *e, int64_t due_ms)
{
    rjob *p;

    pthread_mutex_lock(&r->lock);
    if ((p = find(r->pending, e->ws)) != NULL) {
        rjob_merge_take(p, e);
        if (p->due_ms < due_ms)
            p->due_ms = due_ms;
    } else {
        e->due_ms = due_ms;
        e->next = r->pending;
        r->pending = e;
    }
    pthread_mutex_unlock(&r->lock);
}

void reconciler_collected(reconciler *r, job *j)
{
    rjob *e = (rjob *)j, **pp;
    int64_t now = mono_ms();

    if (j->key == listing_key) {
        listing_collected(r, (rlist *)j);
        return;
    }
    for (pp = &r->running; *pp && *pp != e; pp = &(*pp)->next)
        ;
    if (*pp) {
        *pp = e->next;
        r->n_running--;
    }
    e->next = NULL;
    if (j->cancelled || !r->assigned) {
        rjob_free(e);
        return;
    }
    /* Superseded before it started, or stopped part way, by an event of
     * its workspace: it comes back once the event had its turn. */
    if (j->superseded || (e->rc < 0 && dispatcher_stop_asked(j))) {
        log_debug(LOG_CTX_NONE, "repair of workspace %s gave way to an event", e->ws);
        requeue(r, e, now + SUPERSEDED_DELAY_MS);
        return;
    }
    if (e->rc < 0) {
        log_ctx ctx = {.workspace_id = e->ws, .attempt = e->attempts + 1, .duration_ms = -1};
        if (e->err.cls == WF_TRANSIENT && ++e->attempts < REPAIR_ATTEMPTS) {
            log_info(&ctx, "repair: %s; trying again", e->err.msg);
            requeue(r, e, now + REPAIR_BACKOFF_MS * e->attempts);
            return;
        }
        log_warn(&ctx, "repair failed: %s [%s]; the next pass or change tries again", e->err.msg,
                 e->err.code);
    }
    rjob_free(e);
}

size_t reconciler_inflight(reconciler *r)
{
    return r ? r->n_running : 0;
}
