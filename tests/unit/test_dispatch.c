#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dispatch.h"

/* Records, per run, which key ran and how many jobs of that key were
 * running at the same time. */
typedef struct probe {
    pthread_mutex_t lock;
    int running_per_key[4];
    int max_same_key;
    int running;
    int max_running;
    int order[4][64];
    int n_order[4];
} probe;

typedef struct item {
    job j;
    int key_index;
    int seq;
    probe *p;
} item;

static void run_item(job *j, void *worker_ud)
{
    item *it = (item *)j;
    probe *p = it->p;
    (void)worker_ud;
    pthread_mutex_lock(&p->lock);
    int same = ++p->running_per_key[it->key_index];
    if (same > p->max_same_key)
        p->max_same_key = same;
    if (++p->running > p->max_running)
        p->max_running = p->running;
    p->order[it->key_index][p->n_order[it->key_index]++] = it->seq;
    pthread_mutex_unlock(&p->lock);
    usleep(2000);
    pthread_mutex_lock(&p->lock);
    p->running_per_key[it->key_index]--;
    p->running--;
    pthread_mutex_unlock(&p->lock);
}

static char *keys[4] = {"ws-a", "ws-b", "ws-c", "ws-d"};

static void make_items(item *items, size_t n, probe *p)
{
    for (size_t i = 0; i < n; i++) {
        memset(&items[i], 0, sizeof(items[i]));
        items[i].key_index = (int)(i % 4);
        items[i].seq = (int)(i / 4);
        items[i].p = p;
        items[i].j.key = keys[i % 4];
        items[i].j.topic = "events";
        items[i].j.partition = (int32_t)(i % 4 < 2 ? 0 : 1);
    }
}

static void one_key_at_a_time_in_order_while_keys_run_in_parallel(void **state)
{
    probe p = {.lock = PTHREAD_MUTEX_INITIALIZER};
    item items[64];
    dispatch_opts o = {.threads = 4, .run = run_item};
    wf_err err;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    assert_non_null(d);
    make_items(items, 64, &p);
    for (size_t i = 0; i < 64; i++)
        dispatcher_submit(d, &items[i].j);
    for (size_t got = 0; got < 64;)
        if (dispatcher_collect(d, 1000))
            got++;
    assert_int_equal(dispatcher_inflight(d), 0);
    dispatcher_free(d);
    assert_int_equal(p.max_same_key, 1);
    assert_true(p.max_running > 1);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(p.n_order[k], 16);
        for (int s = 0; s < 16; s++)
            assert_int_equal(p.order[k][s], s);
    }
}

static void cancel_returns_queued_jobs_of_the_partition_unrun(void **state)
{
    probe p = {.lock = PTHREAD_MUTEX_INITIALIZER};
    item items[16];
    dispatch_opts o = {.threads = 1, .run = run_item};
    wf_err err;
    int cancelled = 0, ran = 0;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    make_items(items, 16, &p);
    for (size_t i = 0; i < 16; i++)
        dispatcher_submit(d, &items[i].j);
    dispatcher_cancel_partition(d, "events", 1);
    for (size_t got = 0; got < 16;) {
        job *j = dispatcher_collect(d, 1000);
        if (j == NULL)
            continue;
        got++;
        if (j->cancelled) {
            cancelled++;
            assert_int_equal(j->partition, 1);
        } else {
            ran++;
        }
    }
    assert_int_equal(dispatcher_inflight_partition(d, "events", 1), 0);
    dispatcher_free(d);
    /* Partition 1 (keys c, d) had 8 jobs; at most one of them was running. */
    assert_true(cancelled >= 7);
    assert_int_equal(cancelled + ran, 16);
}

static void collect_times_out_when_idle(void **state)
{
    dispatch_opts o = {.threads = 2, .run = run_item};
    wf_err err;
    (void)state;
    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    assert_null(dispatcher_collect(d, 20));
    dispatcher_free(d);
}

/* Jobs for the retry and ordering tests: each run appends its name. */
typedef struct seq_item {
    job j;
    const char *name;
    long retry_first_ms; /* > 0: the first run asks to be retried after it */
    int runs;
    char *log; /* shared, guarded by log_lock */
    pthread_mutex_t *log_lock;
    int *notified;
} seq_item;

static void run_seq(job *j, void *worker_ud)
{
    seq_item *it = (seq_item *)j;
    (void)worker_ud;
    pthread_mutex_lock(it->log_lock);
    strcat(it->log, it->name);
    pthread_mutex_unlock(it->log_lock);
    if (it->runs++ == 0 && it->retry_first_ms > 0)
        j->retry_in_ms = it->retry_first_ms;
}

static void count_notify(void *ud)
{
    __atomic_add_fetch((int *)ud, 1, __ATOMIC_SEQ_CST);
}

static void seq_init(seq_item *it, const char *name, char *key, long retry_ms, char *log,
                     pthread_mutex_t *lock)
{
    memset(it, 0, sizeof(*it));
    it->name = name;
    it->j.key = key;
    it->j.topic = "events";
    it->j.partition = 0;
    it->retry_first_ms = retry_ms;
    it->log = log;
    it->log_lock = lock;
}

static void a_backing_off_job_frees_its_worker_and_keeps_its_key_busy(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    char log[64] = "";
    seq_item a1, a2, b1;
    int notified = 0;
    dispatch_opts o = {.threads = 1, .run = run_seq, .ud = &notified, .notify = count_notify};
    wf_err err;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    seq_init(&a1, "A", "ws-a", 150, log, &lock);
    seq_init(&a2, "a", "ws-a", 0, log, &lock);
    seq_init(&b1, "B", "ws-b", 0, log, &lock);
    dispatcher_submit(d, &a1.j);
    dispatcher_submit(d, &a2.j);
    dispatcher_submit(d, &b1.j);
    /* One worker: B runs while A backs off; a waits for A's second run. */
    job *first = dispatcher_collect(d, 1000);
    assert_ptr_equal(first, &b1.j);
    assert_ptr_equal(dispatcher_collect(d, 1000), &a1.j);
    assert_ptr_equal(dispatcher_collect(d, 1000), &a2.j);
    assert_string_equal(log, "ABAa");
    assert_int_equal(a1.runs, 2);
    for (int i = 0; i < 200 && __atomic_load_n(&notified, __ATOMIC_SEQ_CST) < 3; i++)
        usleep(1000); /* the last notify comes just after the job is collectable */
    assert_int_equal(notified, 3);
    dispatcher_free(d);
}

static void a_keys_next_job_starts_before_the_previous_one_is_collected(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    char log[64] = "";
    seq_item a1, a2;
    dispatch_opts o = {.threads = 1, .run = run_seq};
    wf_err err;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    seq_init(&a1, "1", "ws-a", 0, log, &lock);
    seq_init(&a2, "2", "ws-a", 0, log, &lock);
    dispatcher_submit(d, &a1.j);
    dispatcher_submit(d, &a2.j);
    for (int i = 0; i < 200 && a2.runs == 0; i++)
        usleep(5000); /* nothing collected meanwhile */
    assert_int_equal(a2.runs, 1);
    /* Still collected in order. */
    assert_ptr_equal(dispatcher_collect(d, 1000), &a1.j);
    assert_ptr_equal(dispatcher_collect(d, 1000), &a2.j);
    dispatcher_free(d);
}

static void cancel_all_hands_back_queued_and_backing_off_jobs_at_once(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    char log[64] = "";
    seq_item a1, a2, b1;
    dispatch_opts o = {.threads = 1, .run = run_seq};
    wf_err err;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    seq_init(&a1, "A", "ws-a", 60000, log, &lock); /* backs off for a minute */
    seq_init(&a2, "a", "ws-a", 0, log, &lock);
    dispatcher_submit(d, &a1.j);
    dispatcher_submit(d, &a2.j);
    for (int i = 0; i < 200 && a1.runs == 0; i++)
        usleep(5000);
    usleep(50000); /* A is now backing off, not running */
    dispatcher_cancel_partition(d, NULL, 0);
    job *x = dispatcher_collect(d, 100), *y = dispatcher_collect(d, 100);
    assert_non_null(x);
    assert_non_null(y);
    assert_true(x->cancelled && y->cancelled);
    assert_int_equal(dispatcher_inflight(d), 0);
    /* The key is free again. */
    seq_init(&b1, "B", "ws-a", 0, log, &lock);
    dispatcher_submit(d, &b1.j);
    assert_ptr_equal(dispatcher_collect(d, 1000), &b1.j);
    assert_false(b1.j.cancelled);
    assert_string_equal(log, "AB");
    dispatcher_free(d);
}

/* Coalescing: jobs that wait until the test opens a gate. */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int open;
    int waiting; /* a job is running and holds its worker at the gate */
} gate;

typedef struct gated_item {
    seq_item s;
    gate *g;
} gated_item;

static void run_gated(job *j, void *worker_ud)
{
    gated_item *it = (gated_item *)j;
    gate *g = it->g;

    run_seq(j, worker_ud);
    pthread_mutex_lock(&g->lock);
    g->waiting = 1;
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->lock);
    g->waiting = 0;
    pthread_mutex_unlock(&g->lock);
}

static void gated_init(gated_item *it, const char *name, char *key, int64_t version, gate *g,
                       char *log, pthread_mutex_t *lock)
{
    seq_init(&it->s, name, key, 0, log, lock);
    it->s.j.version = version;
    it->g = g;
}

static void wait_at_gate(gate *g)
{
    for (int i = 0; i < 400; i++) {
        pthread_mutex_lock(&g->lock);
        int w = g->waiting;
        pthread_mutex_unlock(&g->lock);
        if (w)
            return;
        usleep(5000);
    }
    fail_msg("no job reached the gate");
}

static void open_gate(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->lock);
}

static void coalescing_runs_the_active_job_then_only_the_newest_waiting_one(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    char log[64] = "";
    gated_item a1, a2, a5, a3, a5b, b1;
    dispatch_opts o = {.threads = 1, .run = run_gated, .coalesce = 1};
    wf_err err;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    assert_non_null(d);
    gated_init(&a1, "1", "ws-a", 1, &g, log, &lock);
    gated_init(&a2, "2", "ws-a", 2, &g, log, &lock);
    gated_init(&a5, "5", "ws-a", 5, &g, log, &lock);
    gated_init(&a3, "3", "ws-a", 3, &g, log, &lock);
    gated_init(&a5b, "F", "ws-a", 5, &g, log, &lock); /* same version, later record */
    gated_init(&b1, "B", "ws-b", 1, &g, log, &lock);
    dispatcher_submit(d, &a1.s.j);
    wait_at_gate(&g); /* 1 is running: the rest of ws-a waits */
    dispatcher_submit(d, &a2.s.j);
    dispatcher_submit(d, &b1.s.j);
    assert_null(dispatcher_collect(d, 0)); /* one waiting job per key is kept */
    dispatcher_submit(d, &a5.s.j);
    /* 2 loses to 5 and is kept aside until 5 has run. */
    assert_null(dispatcher_collect(d, 0));
    dispatcher_submit(d, &a3.s.j); /* older than the waiting 5, newer than 2 */
    assert_ptr_equal(dispatcher_collect(d, 0), &a2.s.j);
    dispatcher_submit(d, &a5b.s.j); /* a tie goes to the later record */
    assert_ptr_equal(dispatcher_collect(d, 0), &a3.s.j);
    assert_true(a2.s.j.superseded && a3.s.j.superseded);
    assert_int_equal(a2.s.runs + a3.s.runs + a5.s.runs, 0);
    assert_int_equal(dispatcher_inflight(d), 4); /* 1 running, F and B waiting, 5 aside */
    open_gate(&g);
    /* 1 finishes, then the newest waiting job of ws-a runs; ws-b's too;
     * F succeeded, so 5 is answered as superseded, unrun. */
    job *got[4];
    for (int i = 0; i < 4; i++)
        got[i] = dispatcher_collect(d, 1000);
    assert_ptr_equal(got[0], &a1.s.j);
    assert_true(a5.s.j.superseded);
    assert_int_equal(a5.s.runs, 0);
    assert_false(a1.s.j.superseded || a5b.s.j.superseded || b1.s.j.superseded);
    assert_true(strcmp(log, "1FB") == 0 || strcmp(log, "1BF") == 0);
    assert_int_equal(dispatcher_inflight(d), 0);
    dispatcher_free(d);
}

static void coalescing_never_supersedes_a_backing_off_job(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    char log[64] = "";
    seq_item a1, a2, a3;
    dispatch_opts o = {.threads = 1, .run = run_seq, .coalesce = 1};
    wf_err err;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    seq_init(&a1, "1", "ws-a", 150, log, &lock); /* its first run backs off */
    seq_init(&a2, "2", "ws-a", 0, log, &lock);
    seq_init(&a3, "3", "ws-a", 0, log, &lock);
    a1.j.version = 1;
    a2.j.version = 2;
    a3.j.version = 3;
    dispatcher_submit(d, &a1.j);
    for (int i = 0; i < 200 && a1.runs == 0; i++)
        usleep(5000);
    dispatcher_submit(d, &a2.j);
    dispatcher_submit(d, &a3.j);
    assert_ptr_equal(dispatcher_collect(d, 1000), &a1.j);
    assert_false(a1.j.superseded);
    assert_int_equal(a1.runs, 2);
    /* 2 was kept aside until 3 had run. */
    assert_ptr_equal(dispatcher_collect(d, 1000), &a2.j);
    assert_true(a2.j.superseded);
    assert_ptr_equal(dispatcher_collect(d, 1000), &a3.j);
    assert_string_equal(log, "113");
    dispatcher_free(d);
}

static void coalescing_leaves_other_keys_and_a_lone_waiting_job_alone(void **state)
{
    probe p = {.lock = PTHREAD_MUTEX_INITIALIZER};
    item items[8];
    dispatch_opts o = {.threads = 4, .run = run_item, .coalesce = 1};
    wf_err err;
    int superseded = 0;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    make_items(items, 8, &p); /* two jobs for each of four keys */
    for (size_t i = 0; i < 8; i++) {
        items[i].j.version = items[i].seq;
        dispatcher_submit(d, &items[i].j);
    }
    for (size_t got = 0; got < 8;) {
        job *j = dispatcher_collect(d, 1000);
        if (j) {
            got++;
            superseded += j->superseded;
        }
    }
    dispatcher_free(d);
    assert_int_equal(superseded, 0);
    for (int k = 0; k < 4; k++)
        assert_int_equal(p.n_order[k], 2);
}

static void partitions_take_turns_for_workers(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    char log[64] = "";
    static char *bulk_keys[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"};
    gated_item bulk[10], other;
    dispatch_opts o = {.threads = 1, .run = run_gated, .coalesce = 1};
    wf_err err;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    for (int i = 0; i < 10; i++)
        gated_init(&bulk[i], "b", bulk_keys[i], 1, &g, log, &lock);
    gated_init(&other, "O", "ws-other", 1, &g, log, &lock);
    other.s.j.partition = 1;
    dispatcher_submit(d, &bulk[0].s.j);
    wait_at_gate(&g); /* the one worker is busy; partition 0 queues up */
    for (int i = 1; i < 10; i++)
        dispatcher_submit(d, &bulk[i].s.j);
    dispatcher_submit(d, &other.s.j);
    open_gate(&g);
    for (int got = 0; got < 11;)
        if (dispatcher_collect(d, 1000))
            got++;
    /* After the running job, partition 0's next one (its turn came first),
     * then partition 1's: not behind partition 0's whole backlog. */
    assert_string_equal(log, "bbObbbbbbbb");
    assert_int_equal(dispatcher_inflight(d), 0);
    dispatcher_free(d);
}

/* Gated jobs that fail for good when their name is "X". */
static void run_gated_failing(job *j, void *worker_ud)
{
    gated_item *it = (gated_item *)j;
    run_gated(j, worker_ud);
    j->failed = strcmp(it->s.name, "X") == 0;
}

/* 2 runs; 3 waits; 4 arrives and wins, then fails for good: 3 runs after
 * all instead of being lost as superseded. */
static void a_job_superseded_by_one_that_fails_for_good_still_runs(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    char log[64] = "";
    gated_item a2, a3, a4;
    dispatch_opts o = {.threads = 1, .run = run_gated_failing, .coalesce = 1};
    wf_err err;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    gated_init(&a2, "2", "ws-a", 2, &g, log, &lock);
    gated_init(&a3, "3", "ws-a", 3, &g, log, &lock);
    gated_init(&a4, "X", "ws-a", 4, &g, log, &lock);
    dispatcher_submit(d, &a2.s.j);
    wait_at_gate(&g);
    dispatcher_submit(d, &a3.s.j);
    dispatcher_submit(d, &a4.s.j);
    assert_null(dispatcher_collect(d, 0));
    open_gate(&g);
    assert_ptr_equal(dispatcher_collect(d, 1000), &a2.s.j);
    assert_ptr_equal(dispatcher_collect(d, 1000), &a4.s.j);
    assert_true(a4.s.j.failed);
    assert_ptr_equal(dispatcher_collect(d, 1000), &a3.s.j);
    assert_false(a3.s.j.superseded);
    assert_int_equal(a3.s.j.after_failed, 4); /* the versions 4 left behind are its own */
    assert_int_equal(a4.s.j.after_failed, INT64_MIN);
    assert_string_equal(log, "2X3");
    assert_int_equal(dispatcher_inflight(d), 0);
    dispatcher_free(d);
}

/* A background job never wins a waiting place from another job, whatever
 * the versions: even an event at the lowest version beats a repair. */
static void a_background_job_never_ties_with_an_event(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    char log[64] = "";
    gated_item a1, ev, bg;
    dispatch_opts o = {.threads = 1, .run = run_gated, .coalesce = 1};
    wf_err err;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    gated_init(&a1, "1", "ws-a", 1, &g, log, &lock);
    gated_init(&ev, "E", "ws-a", INT64_MIN, &g, log, &lock);
    gated_init(&bg, "R", "ws-a", INT64_MIN, &g, log, &lock);
    bg.s.j.kind = JOB_REPAIR;
    dispatcher_submit(d, &a1.s.j);
    wait_at_gate(&g);
    dispatcher_submit(d, &ev.s.j);
    dispatcher_submit(d, &bg.s.j); /* the later record, same version */
    assert_ptr_equal(dispatcher_collect(d, 0), &bg.s.j);
    assert_true(bg.s.j.superseded);
    open_gate(&g);
    assert_ptr_equal(dispatcher_collect(d, 1000), &a1.s.j);
    assert_ptr_equal(dispatcher_collect(d, 1000), &ev.s.j);
    assert_false(ev.s.j.superseded);
    assert_string_equal(log, "1E");
    dispatcher_free(d);
}

/* An event behind its key's background job: one not started yet is handed
 * back at once; one running is asked to stop. */
static void an_event_preempts_its_keys_background_job(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    char log[64] = "";
    gated_item b1, bg_a, ev_a, bg_b, ev_b;
    dispatch_opts o = {.threads = 1, .run = run_gated, .coalesce = 1};
    wf_err err;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    gated_init(&b1, "1", "ws-x", 1, &g, log, &lock);
    gated_init(&bg_a, "R", "ws-a", INT64_MIN, &g, log, &lock);
    gated_init(&ev_a, "E", "ws-a", 7, &g, log, &lock);
    bg_a.s.j.kind = JOB_REPAIR;
    dispatcher_submit(d, &b1.s.j); /* holds the one worker */
    wait_at_gate(&g);
    dispatcher_submit(d, &bg_a.s.j); /* ready, not started */
    dispatcher_submit(d, &ev_a.s.j);
    assert_ptr_equal(dispatcher_collect(d, 0), &bg_a.s.j);
    assert_true(bg_a.s.j.superseded);
    assert_int_equal(bg_a.s.runs, 0);
    open_gate(&g);
    assert_ptr_equal(dispatcher_collect(d, 1000), &b1.s.j);
    assert_ptr_equal(dispatcher_collect(d, 1000), &ev_a.s.j);
    assert_string_equal(log, "1E");

    /* Running: asked to stop, and the event runs after it. */
    g.open = 0;
    gated_init(&bg_b, "R", "ws-b", INT64_MIN, &g, log, &lock);
    gated_init(&ev_b, "F", "ws-b", 1, &g, log, &lock);
    bg_b.s.j.kind = JOB_REPAIR;
    dispatcher_submit(d, &bg_b.s.j);
    wait_at_gate(&g);
    assert_false(dispatcher_stop_asked(&bg_b.s.j));
    dispatcher_submit(d, &ev_b.s.j);
    assert_true(dispatcher_stop_asked(&bg_b.s.j));
    open_gate(&g);
    assert_ptr_equal(dispatcher_collect(d, 1000), &bg_b.s.j);
    assert_ptr_equal(dispatcher_collect(d, 1000), &ev_b.s.j);
    assert_false(dispatcher_stop_asked(&ev_b.s.j));
    assert_string_equal(log, "1ERF");
    dispatcher_free(d);
}

/* Background jobs hold at most max_background workers; other jobs take
 * the rest. */
static void background_jobs_hold_a_bounded_share_of_the_workers(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    char log[64] = "";
    static char *bg_keys[] = {"r0", "r1", "r2"};
    gated_item bg[3], ev;
    dispatch_opts o = {.threads = 2, .run = run_gated, .coalesce = 1, .max_background = 1};
    wf_err err;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    for (int i = 0; i < 3; i++) {
        gated_init(&bg[i], "R", bg_keys[i], INT64_MIN, &g, log, &lock);
        bg[i].s.j.kind = JOB_REPAIR;
        dispatcher_submit(d, &bg[i].s.j);
    }
    gated_init(&ev, "E", "ws-e", 1, &g, log, &lock);
    wait_at_gate(&g);
    usleep(50000); /* a second background job would have started by now */
    pthread_mutex_lock(&lock);
    assert_string_equal(log, "R");
    pthread_mutex_unlock(&lock);
    dispatcher_submit(d, &ev.s.j); /* the other worker is free for it */
    for (int i = 0; i < 400; i++) {
        pthread_mutex_lock(&lock);
        int started = strchr(log, 'E') != NULL;
        pthread_mutex_unlock(&lock);
        if (started)
            break;
        usleep(5000);
    }
    assert_string_equal(log, "RE");
    open_gate(&g);
    for (int got = 0; got < 4;)
        if (dispatcher_collect(d, 1000))
            got++;
    assert_string_equal(log, "RERR");
    dispatcher_free(d);
}

/* Repairs need no topic: they are cancelled by their kind, and a cancel of
 * a partition leaves them alone. */
static void repairs_are_cancelled_by_kind_apart_from_partitions(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    char log[64] = "";
    gated_item b1, e0, e1, r1, r2;
    dispatch_opts o = {.threads = 1, .run = run_gated};
    wf_err err;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    gated_init(&b1, "1", "ws-x", 1, &g, log, &lock);
    gated_init(&e0, "E", "ws-e0", 1, &g, log, &lock);
    gated_init(&e1, "F", "ws-e1", 1, &g, log, &lock);
    e1.s.j.partition = 1;
    gated_init(&r1, "R", "ws-r1", INT64_MIN, &g, log, &lock);
    gated_init(&r2, "S", "ws-r2", INT64_MIN, &g, log, &lock);
    r1.s.j.kind = r2.s.j.kind = JOB_REPAIR;
    r1.s.j.topic = r2.s.j.topic = NULL;
    dispatcher_submit(d, &b1.s.j); /* holds the one worker */
    wait_at_gate(&g);
    dispatcher_submit(d, &r1.s.j);
    dispatcher_submit(d, &e0.s.j);
    dispatcher_submit(d, &e1.s.j);
    dispatcher_submit(d, &r2.s.j);

    dispatcher_cancel_partition(d, "events", 1);
    assert_ptr_equal(dispatcher_collect(d, 0), &e1.s.j);
    assert_true(e1.s.j.cancelled);
    assert_null(dispatcher_collect(d, 0));
    assert_int_equal(dispatcher_inflight_partition(d, "events", 0), 2);

    dispatcher_cancel_kind(d, JOB_REPAIR);
    for (int i = 0; i < 2; i++) {
        job *j = dispatcher_collect(d, 0);
        assert_non_null(j);
        assert_int_equal(j->kind, JOB_REPAIR);
        assert_true(j->cancelled);
    }
    assert_null(dispatcher_collect(d, 0));

    open_gate(&g);
    assert_ptr_equal(dispatcher_collect(d, 1000), &b1.s.j);
    assert_ptr_equal(dispatcher_collect(d, 1000), &e0.s.j);
    assert_false(e0.s.j.cancelled);
    assert_string_equal(log, "1E");
    assert_int_equal(dispatcher_inflight(d), 0);
    dispatcher_free(d);
}

/* A job running while its partition is cancelled does not wait out the
 * backoff it then asks for: it runs again at once (and gives up there). */
static void a_cancel_cuts_short_the_backoff_of_a_running_job(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    char log[64] = "";
    gated_item a1;
    dispatch_opts o = {.threads = 1, .run = run_gated};
    wf_err err;
    (void)state;

    wf_err_init(&err);
    dispatcher *d = dispatcher_new(&o, &err);
    gated_init(&a1, "A", "ws-a", 1, &g, log, &lock);
    a1.s.retry_first_ms = 60000; /* its first run asks for a minute */
    dispatcher_submit(d, &a1.s.j);
    wait_at_gate(&g);
    dispatcher_cancel_partition(d, NULL, 0);
    assert_true(dispatcher_stop_asked(&a1.s.j));
    open_gate(&g);
    assert_ptr_equal(dispatcher_collect(d, 5000), &a1.s.j);
    assert_int_equal(a1.s.runs, 2);
    assert_false(a1.s.j.cancelled);
    dispatcher_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_key_at_a_time_in_order_while_keys_run_in_parallel),
        cmocka_unit_test(cancel_returns_queued_jobs_of_the_partition_unrun),
        cmocka_unit_test(collect_times_out_when_idle),
        cmocka_unit_test(a_backing_off_job_frees_its_worker_and_keeps_its_key_busy),
        cmocka_unit_test(a_keys_next_job_starts_before_the_previous_one_is_collected),
        cmocka_unit_test(cancel_all_hands_back_queued_and_backing_off_jobs_at_once),
        cmocka_unit_test(coalescing_runs_the_active_job_then_only_the_newest_waiting_one),
        cmocka_unit_test(coalescing_never_supersedes_a_backing_off_job),
        cmocka_unit_test(coalescing_leaves_other_keys_and_a_lone_waiting_job_alone),
        cmocka_unit_test(partitions_take_turns_for_workers),
        cmocka_unit_test(a_job_superseded_by_one_that_fails_for_good_still_runs),
        cmocka_unit_test(a_background_job_never_ties_with_an_event),
        cmocka_unit_test(an_event_preempts_its_keys_background_job),
        cmocka_unit_test(background_jobs_hold_a_bounded_share_of_the_workers),
        cmocka_unit_test(repairs_are_cancelled_by_kind_apart_from_partitions),
        cmocka_unit_test(a_cancel_cuts_short_the_backoff_of_a_running_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
