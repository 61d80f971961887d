/* Key-ordered concurrent execution: worker threads run jobs, never two of
 * one key at once and in arrival order per key; waiting jobs of a key are
 * coalesced to the newest; partitions take turns for workers; a job backing
 * off gives its worker back. */
#include "dispatch.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

#define BUCKETS 1024

/* The jobs of one key that wait behind its active job. */
typedef struct keyq {
    char *key;
    job *head, *tail;
    int active;
    job *current;  /* the active job, when active */
    job *fallback; /* the newest job a waiting one superseded, kept until that one ran */
    struct keyq *next;
} keyq;

/* The ready jobs of one partition, or all repairs.  Workers take ready
 * jobs from the lanes in turn: a partition with a deep backlog of many
 * workspaces does not delay the first job of another partition. */
typedef struct lane {
    enum job_kind kind;
    char *topic; /* JOB_EVENT: the partition's; NULL otherwise */
    int32_t partition;
    job *head, *tail;
    struct lane *next;      /* all lanes */
    struct lane *next_turn; /* lanes with ready jobs, in turn order */
} lane;

typedef struct worker {
    struct dispatcher *d;
    pthread_t thread;
    void *ud;
    job *current; /* running now; guarded by the dispatcher's lock */
    int started;
} worker;

struct dispatcher {
    dispatch_opts opts;
    pthread_mutex_t lock;
    pthread_cond_t work_cv;
    pthread_cond_t done_cv;
    keyq *buckets[BUCKETS];
    lane *lanes;                 /* one per partition ever seen, one for repairs */
    lane *turn_head, *turn_tail; /* lanes with ready jobs */
    job *delayed;                /* waiting for their due_ms, in no particular order */
    job *done_head, *done_tail;
    size_t inflight;
    int n_background; /* background jobs running */
    int stopping;
    worker *workers;
};

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h % BUCKETS;
}

static void push(job **head, job **tail, job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static job *pop(job **head, job **tail)
{
    job *j = *head;
    if (j) {
        *head = j->next;
        if (*head == NULL)
            *tail = NULL;
        j->next = NULL;
    }
    return j;
}

static keyq *find_key(dispatcher *d, const char *key, int create)
{
    size_t b = hash(key);
    keyq *q;

    for (q = d->buckets[b]; q; q = q->next)
        if (strcmp(q->key, key) == 0)
            return q;
    if (!create)
        return NULL;
    q = calloc(1, sizeof(*q));
    if (q == NULL || (q->key = strdup(key)) == NULL)
        abort(); /* out of memory in the dispatcher: nothing sane to do */
    q->next = d->buckets[b];
    d->buckets[b] = q;
    return q;
}

static void drop_key(dispatcher *d, keyq *q)
{
    for (keyq **pp = &d->buckets[hash(q->key)]; *pp; pp = &(*pp)->next) {
        if (*pp == q) {
            *pp = q->next;
            free(q->key);
            free(q);
            return;
        }
    }
}

/* Which jobs a cancel or a count is about: every job, the jobs of one
 * kind, or the event jobs of one partition. */
typedef struct which {
    int all;
    enum job_kind kind;
    const char *topic; /* JOB_EVENT: the partition's */
    int32_t partition;
} which;

static int is_of(enum job_kind kind, const char *topic, int32_t partition, const which *w)
{
    if (w->all)
        return 1;
    if (kind != w->kind)
        return 0;
    return w->topic == NULL || (partition == w->partition && strcmp(topic, w->topic) == 0);
}

static int job_is_of(const job *j, const which *w)
{
    return is_of(j->kind, j->topic, j->partition, w);
}

static int background(const job *j)
{
    return j->kind == JOB_REPAIR;
}

static lane *find_lane(dispatcher *d, const job *j)
{
    which w = {.kind = j->kind};
    lane *l;

    if (j->kind == JOB_EVENT) {
        w.topic = j->topic;
        w.partition = j->partition;
    }
    for (l = d->lanes; l; l = l->next)
        if (is_of(l->kind, l->topic, l->partition, &w))
            return l;
    l = calloc(1, sizeof(*l));
    if (l == NULL || (w.topic && (l->topic = strdup(w.topic)) == NULL))
        abort(); /* out of memory in the dispatcher: nothing sane to do */
    l->kind = w.kind;
    l->partition = w.partition;
    l->next = d->lanes;
    d->lanes = l;
    return l;
}

static void take_turn(dispatcher *d, lane *l)
{
    l->next_turn = NULL;
    if (d->turn_tail)
        d->turn_tail->next_turn = l;
    else
        d->turn_head = l;
    d->turn_tail = l;
}

static void ready_push(dispatcher *d, job *j)
{
    lane *l = find_lane(d, j);

    if (l->head == NULL)
        take_turn(d, l);
    push(&l->head, &l->tail, j);
}

/* Keeps only lanes that still have ready jobs in the turn order. */
static void drop_empty_turns(dispatcher *d)
{
    lane *l = d->turn_head;

    d->turn_head = d->turn_tail = NULL;
    while (l) {
        lane *next = l->next_turn;
        if (l->head)
            take_turn(d, l);
        l = next;
    }
}

/* Whether a worker may start j now: background jobs hold a bounded share
 * of the workers. */
static int may_start(const dispatcher *d, const job *j)
{
    return !background(j) || d->opts.max_background <= 0 ||
           d->n_background < d->opts.max_background;
}

/* The first lane in turn order whose next job may start, or NULL; *prev is
 * the lane before it in turn order. */
static lane *startable_lane(dispatcher *d, lane **prev)
{
    *prev = NULL;
    for (lane *l = d->turn_head; l; *prev = l, l = l->next_turn)
        if (may_start(d, l->head))
            return l;
    return NULL;
}

/* The next ready job that may start, from the partition whose turn it is;
 * NULL if none. */
static job *ready_pop(dispatcher *d)
{
    lane *prev, *l = startable_lane(d, &prev);
    job *j;

    if (l == NULL)
        return NULL;
    if (prev)
        prev->next_turn = l->next_turn;
    else
        d->turn_head = l->next_turn;
    if (d->turn_tail == l)
        d->turn_tail = prev;
    j = pop(&l->head, &l->tail);
    if (l->head)
        take_turn(d, l); /* to the back of the line */
    return j;
}

/* Takes j out of the ready or delayed jobs (it has not started); returns
 * whether it was there. */
static int unready(dispatcher *d, job *j)
{
    lane *l = find_lane(d, j);

    for (job **pp = &l->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            if (l->tail == j)
                l->tail = prev;
            j->next = NULL;
            drop_empty_turns(d);
            return 1;
        }
    }
    for (job **pp = &d->delayed; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            j->next = NULL;
            return 1;
        }
    }
    return 0;
}

/* Makes the key's next waiting job ready, if it has one. */
static void promote(dispatcher *d, keyq *q)
{
    job *j = pop(&q->head, &q->tail);

    if (j == NULL) {
        if (q->fallback == NULL)
            drop_key(d, q);
        return;
    }
    j->active = 1;
    q->active = 1;
    q->current = j;
    ready_push(d, j);
    pthread_cond_signal(&d->work_cv);
}

static void hand_back(dispatcher *d, job *j)
{
    j->superseded = 1;
    push(&d->done_head, &d->done_tail, j);
    pthread_cond_broadcast(&d->done_cv);
}

/* The key's active job j is done: the job kept aside behind it runs when j
 * failed for good (or was cancelled), and is answered as superseded when j
 * succeeded; while another event of the key waits, that one decides. */
static void settle_fallback(dispatcher *d, keyq *q, const job *j)
{
    job *fb = q->fallback;

    if (fb == NULL || (q->head && !background(q->head)))
        return;
    q->fallback = NULL;
    if (!j->failed && !j->cancelled) {
        hand_back(d, fb);
        return;
    }
    if (q->head) /* a repair waits: the event goes first */
        hand_back(d, pop(&q->head, &q->tail));
    if (j->failed)
        fb->after_failed = j->version;
    push(&q->head, &q->tail, fb);
}

/* The key's active job has run or was cancelled: its next job may start. */
static void release_key(dispatcher *d, job *j)
{
    keyq *q;

    if (!j->active)
        return;
    j->active = 0;
    if ((q = find_key(d, j->key, 0)) != NULL) {
        q->active = 0;
        q->current = NULL;
        settle_fallback(d, q, j);
        promote(d, q);
    }
}

/* Moves delayed jobs that are due to the ready list; returns the earliest
 * due time left, or -1 when none is delayed. */
static int64_t release_due(dispatcher *d)
{
    int64_t now = wf_clock_mono_ms(), next = -1;

    for (job **pp = &d->delayed; *pp;) {
        job *j = *pp;
        if (j->due_ms <= now) {
            *pp = j->next;
            ready_push(d, j);
            continue;
        }
        if (next < 0 || j->due_ms < next)
            next = j->due_ms;
        pp = &j->next;
    }
    return next;
}

/* Waits for ready work or the next delayed job's due time. */
static void wait_for_work(dispatcher *d)
{
    int64_t next;
    lane *prev;

    while ((next = release_due(d)), startable_lane(d, &prev) == NULL && !d->stopping) {
        if (next < 0) {
            pthread_cond_wait(&d->work_cv, &d->lock);
        } else {
            struct timespec until = wf_clock_deadline_in(next - wf_clock_mono_ms());
            pthread_cond_timedwait(&d->work_cv, &d->lock, &until);
        }
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    dispatcher *d = w->d;

    pthread_mutex_lock(&d->lock);
    for (;;) {
        wait_for_work(d);
        job *j = ready_pop(d);
        if (j == NULL)
            break;
        w->current = j;
        j->running = 1;
        d->n_background += background(j);
        j->retry_in_ms = 0;
        if (d->delayed)
            pthread_cond_signal(&d->work_cv); /* an idle worker takes over the due times */
        pthread_mutex_unlock(&d->lock);
        d->opts.run(j, w->ud);
        pthread_mutex_lock(&d->lock);
        w->current = NULL;
        j->running = 0;
        if (background(j)) {
            d->n_background--;
            pthread_cond_signal(&d->work_cv); /* another may start */
        }
        if (j->retry_in_ms > 0 && !d->stopping) {
            /* Backing off: the key stays busy, the worker is free.  A job
             * asked to stop runs again at once, to give up. */
            j->due_ms = wf_clock_mono_ms() + (dispatcher_stop_asked(j) ? 0 : j->retry_in_ms);
            j->next = d->delayed;
            d->delayed = j;
            pthread_cond_signal(&d->work_cv); /* someone must watch the due time */
            continue;
        }
        /* Start the key's next job now rather than when the consumer
         * thread collects this one: a busy key does not wait for the
         * consumer loop.  Done jobs are collected in order, so outcomes
         * of one key still come out in order. */
        release_key(d, j);
        push(&d->done_head, &d->done_tail, j);
        pthread_cond_signal(&d->done_cv);
        if (d->opts.notify) {
            pthread_mutex_unlock(&d->lock);
            d->opts.notify(d->opts.ud);
            pthread_mutex_lock(&d->lock);
        }
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

dispatcher *dispatcher_new(const dispatch_opts *opts, wf_err *err)
{
    dispatcher *d = calloc(1, sizeof(*d));

    if (d == NULL || opts->threads < 1) {
        free(d);
        wf_err_set(err, WF_INTERNAL, "dispatch", "dispatcher: bad thread count or out of memory");
        return NULL;
    }
    d->opts = *opts;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->work_cv, NULL);
    pthread_cond_init(&d->done_cv, NULL);
    d->workers = calloc((size_t)opts->threads, sizeof(worker));
    if (d->workers == NULL) {
        dispatcher_free(d);
        wf_err_set(err, WF_INTERNAL, "oom", "dispatcher: out of memory");
        return NULL;
    }
    for (int i = 0; i < opts->threads; i++) {
        worker *w = &d->workers[i];
        w->d = d;
        if (opts->worker_init && (w->ud = opts->worker_init(opts->ud, err)) == NULL) {
            dispatcher_free(d);
            return NULL;
        }
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            if (opts->worker_fini)
                opts->worker_fini(w->ud);
            w->ud = NULL;
            wf_err_set(err, WF_INTERNAL, "dispatch", "dispatcher: cannot start thread %d", i);
            dispatcher_free(d);
            return NULL;
        }
        w->started = 1;
    }
    return d;
}

void dispatcher_free(dispatcher *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = 1;
    pthread_cond_broadcast(&d->work_cv);
    pthread_mutex_unlock(&d->lock);
    for (int i = 0; d->workers && i < d->opts.threads; i++) {
        worker *w = &d->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
        if (w->ud && d->opts.worker_fini)
            d->opts.worker_fini(w->ud);
    }
    for (size_t b = 0; b < BUCKETS; b++) {
        while (d->buckets[b]) {
            keyq *q = d->buckets[b];
            d->buckets[b] = q->next;
            free(q->key);
            free(q);
        }
    }
    while (d->lanes) {
        lane *l = d->lanes;
        d->lanes = l->next;
        free(l->topic);
        free(l);
    }
    free(d->workers);
    pthread_cond_destroy(&d->done_cv);
    pthread_cond_destroy(&d->work_cv);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* Whether a beats b for a key's one waiting place: a background job
 * loses to any other; else the higher version wins, ties going to a (the
 * later record). */
static int beats(const job *a, const job *b)
{
    if (background(a) != background(b))
        return !background(a);
    return a->version >= b->version;
}

/* The key's one waiting job and j: the loser never runs unless the winner
 * fails for good (see the header). */
static void coalesce(dispatcher *d, keyq *q, job *j)
{
    job *old = q->head;

    if (beats(j, old)) {
        q->head = q->tail = j;
        j->next = NULL;
    } else {
        old = j;
    }
    if (background(old)) {
        hand_back(d, old);
        return;
    }
    if (q->fallback && beats(q->fallback, old)) {
        job *t = q->fallback;
        q->fallback = old;
        old = t;
    }
    if (q->fallback)
        hand_back(d, q->fallback);
    q->fallback = old;
}

/* An event submitted behind its key's background job: one that has not
 * started gives its place up at once, one that runs is asked to stop. */
static void preempt(dispatcher *d, keyq *q, const job *j)
{
    job *bg = q->current;

    if (background(j) || !q->active || bg == NULL || !background(bg))
        return;
    if (bg->running) {
        __atomic_store_n(&bg->stop_asked, 1, __ATOMIC_RELAXED);
        return;
    }
    if (!unready(d, bg))
        return;
    bg->active = 0;
    q->active = 0;
    q->current = NULL;
    hand_back(d, bg);
}

void dispatcher_submit(dispatcher *d, job *j)
{
    pthread_mutex_lock(&d->lock);
    keyq *q = find_key(d, j->key, 1);
    j->active = 0;
    j->cancelled = 0;
    j->superseded = 0;
    j->failed = 0;
    j->running = 0;
    j->stop_asked = 0;
    j->after_failed = INT64_MIN;
    d->inflight++;
    preempt(d, q, j);
    if (d->opts.coalesce && q->head != NULL)
        coalesce(d, q, j); /* q->head waits behind the key's active job */
    else
        push(&q->head, &q->tail, j);
    if (!q->active)
        promote(d, q);
    pthread_mutex_unlock(&d->lock);
}

job *dispatcher_collect(dispatcher *d, int timeout_ms)
{
    struct timespec until = wf_clock_deadline_in(timeout_ms);
    job *j;

    pthread_mutex_lock(&d->lock);
    while (d->done_head == NULL && timeout_ms > 0)
        if (pthread_cond_timedwait(&d->done_cv, &d->lock, &until) == ETIMEDOUT)
            break;
    j = pop(&d->done_head, &d->done_tail);
    if (j)
        d->inflight--;
    pthread_mutex_unlock(&d->lock);
    return j;
}

int dispatcher_stop_asked(const job *j)
{
    return __atomic_load_n(&j->stop_asked, __ATOMIC_RELAXED);
}

static void cancel(dispatcher *d, const which *w)
{
    job *gone_head = NULL, *gone_tail = NULL, *j;

    pthread_mutex_lock(&d->lock);
    /* Waiting behind their key's active job. */
    for (size_t b = 0; b < BUCKETS; b++) {
        for (keyq *q = d->buckets[b]; q; q = q->next) {
            job *kh = NULL, *kt = NULL;
            while ((j = pop(&q->head, &q->tail)) != NULL) {
                if (job_is_of(j, w)) {
                    j->cancelled = 1;
                    push(&d->done_head, &d->done_tail, j);
                } else {
                    push(&kh, &kt, j);
                }
            }
            q->head = kh;
            q->tail = kt;
            if (q->fallback && job_is_of(q->fallback, w)) {
                q->fallback->cancelled = 1;
                push(&d->done_head, &d->done_tail, q->fallback);
                q->fallback = NULL;
            }
        }
    }
    /* Running: asked to end soon; a backoff it asks for is cut short. */
    for (int i = 0; i < d->opts.threads; i++)
        if (d->workers[i].current && job_is_of(d->workers[i].current, w))
            __atomic_store_n(&d->workers[i].current->stop_asked, 1, __ATOMIC_RELAXED);
    /* Delayed or ready but not picked up by a worker yet: each is its
     * key's active job, so its key's next (other partition's) job may
     * become ready. */
    for (job **pp = &d->delayed; *pp;) {
        j = *pp;
        if (job_is_of(j, w)) {
            *pp = j->next;
            push(&gone_head, &gone_tail, j);
        } else {
            pp = &j->next;
        }
    }
    for (lane *l = d->lanes; l; l = l->next)
        if (is_of(l->kind, l->topic, l->partition, w))
            while ((j = pop(&l->head, &l->tail)) != NULL)
                push(&gone_head, &gone_tail, j);
    drop_empty_turns(d);
    while ((j = pop(&gone_head, &gone_tail)) != NULL) {
        j->cancelled = 1;
        release_key(d, j);
        push(&d->done_head, &d->done_tail, j);
    }
    pthread_cond_broadcast(&d->done_cv);
    pthread_mutex_unlock(&d->lock);
}

void dispatcher_cancel_partition(dispatcher *d, const char *topic, int32_t partition)
{
    which w = {.all = topic == NULL, .kind = JOB_EVENT, .topic = topic, .partition = partition};
    cancel(d, &w);
}

void dispatcher_cancel_kind(dispatcher *d, enum job_kind kind)
{
    which w = {.kind = kind};
    cancel(d, &w);
}

size_t dispatcher_inflight(dispatcher *d)
{
    pthread_mutex_lock(&d->lock);
    size_t n = d->inflight;
    pthread_mutex_unlock(&d->lock);
    return n;
}

size_t dispatcher_inflight_partition(dispatcher *d, const char *topic, int32_t partition)
{
    which sel = {.all = topic == NULL, .kind = JOB_EVENT, .topic = topic, .partition = partition};
    const which *w = &sel;
    size_t n = 0;
    job *j;

    pthread_mutex_lock(&d->lock);
    for (size_t b = 0; b < BUCKETS; b++)
        for (keyq *q = d->buckets[b]; q; q = q->next) {
            for (j = q->head; j; j = j->next)
                n += job_is_of(j, w);
            if (q->fallback)
                n += job_is_of(q->fallback, w);
        }
    for (lane *l = d->lanes; l; l = l->next)
        for (j = l->head; j; j = j->next)
            n += job_is_of(j, w);
    for (j = d->delayed; j; j = j->next)
        n += job_is_of(j, w);
    for (j = d->done_head; j; j = j->next)
        n += job_is_of(j, w);
    for (int i = 0; i < d->opts.threads; i++)
        if (d->workers[i].current)
            n += job_is_of(d->workers[i].current, w);
    pthread_mutex_unlock(&d->lock);
    return n;
}
