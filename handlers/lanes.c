/* lanes: a fixed set of lanes that take the tasks of a run in index order;
 * lane 0 is the caller, the others are parked threads. */
#include "lanes.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>

#include "log.h"

#define NONE SIZE_MAX

typedef struct lane {
    struct lanes *owner;
    void *ctx;           /* borrowed */
    pthread_t thread;    /* lanes 1..: valid once started */
    pthread_cond_t wake; /* go or quit was set */
    int go;              /* asked to join the current run */
    wf_err err;          /* the current or last task's */
} lane;

struct lanes {
    pthread_mutex_t lock; /* guards everything below but fn, tasks and the lanes' err */
    pthread_cond_t idle;  /* the last busy helper left the run */
    size_t width;
    size_t started; /* lanes 1..started have threads */
    int quit;
    int start_failed; /* logged once */
    /* The current run: fn and tasks are set before any helper is asked to
     * join and not changed until every helper has left. */
    lanes_task_fn fn;
    void *const *tasks;
    size_t n, next;
    size_t failed;     /* the lowest index that failed, NONE: none */
    lane *failed_lane; /* the lane that ran it */
    size_t busy;       /* helpers asked to join that have not left yet */
    lane lane[];
};

/* Runs the current run's tasks on ln until none is left or one failed.
 * Called and returns with the lock held; fn runs without it. */
static void drain(lanes *l, lane *ln)
{
    while (l->next < l->n && l->failed == NONE) {
        size_t i = l->next++;
        int rc;

        pthread_mutex_unlock(&l->lock);
        if (wf_err_is_set(&ln->err))
            wf_err_init(&ln->err);
        rc = l->fn(ln->ctx, l->tasks[i], &ln->err);
        pthread_mutex_lock(&l->lock);
        /* No task starts once a failure is seen, so the lane that failed
         * keeps its err until the run ends. */
        if (rc != 0 && i < l->failed) {
            l->failed = i;
            l->failed_lane = ln;
        }
    }
}

static void *lane_main(void *arg)
{
    lane *ln = arg;
    lanes *l = ln->owner;

    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (!ln->go && !l->quit)
            pthread_cond_wait(&ln->wake, &l->lock);
        if (l->quit)
            break;
        ln->go = 0;
        drain(l, ln);
        if (--l->busy == 0)
            pthread_cond_signal(&l->idle);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

lanes *lanes_new(size_t width, void *const *lane_ctx, wf_err *err)
{
    lanes *l;

    if (width < 1) {
        wf_err_set(err, WF_INTERNAL, "lanes", "lanes: width must be at least 1");
        return NULL;
    }
    if ((l = calloc(1, sizeof(*l) + width * sizeof(lane))) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "lanes: out of memory");
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->idle, NULL);
    l->width = width;
    l->failed = NONE;
    for (size_t i = 0; i < width; i++) {
        l->lane[i].owner = l;
        l->lane[i].ctx = lane_ctx[i];
        pthread_cond_init(&l->lane[i].wake, NULL);
        wf_err_init(&l->lane[i].err);
    }
    return l;
}

void lanes_free(lanes *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    l->quit = 1;
    for (size_t i = 1; i <= l->started; i++)
        pthread_cond_signal(&l->lane[i].wake);
    pthread_mutex_unlock(&l->lock);
    for (size_t i = 1; i <= l->started; i++)
        pthread_join(l->lane[i].thread, NULL);
    for (size_t i = 0; i < l->width; i++)
        pthread_cond_destroy(&l->lane[i].wake);
    pthread_cond_destroy(&l->idle);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

size_t lanes_width(const lanes *l)
{
    return l->width;
}

/* Starts lane threads until `want` run; returns how many run (fewer when
 * the system refuses a thread: the run is then narrower).  The threads
 * block every signal, so the process's handlers run on the threads that
 * expect them. */
static size_t start_helpers(lanes *l, size_t want)
{
    sigset_t all, old;

    if (l->started >= want)
        return want;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    while (l->started < want) {
        lane *ln = &l->lane[l->started + 1];
        if (pthread_create(&ln->thread, NULL, lane_main, ln) != 0)
            break;
        l->started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (l->started < want && !l->start_failed) {
        l->start_failed = 1;
        log_warn(LOG_CTX_NONE, "lanes: cannot start a thread; running %zu of %zu lanes",
                 l->started + 1, l->width);
    }
    return l->started;
}

/* Copies a failed task's error into err, keeping an error err holds. */
static int report(const wf_err *task_err, size_t index, wf_err *err)
{
    if (wf_err_is_set(task_err)) {
        if (!wf_err_is_set(err))
            *err = *task_err;
    } else {
        wf_err_set(err, WF_INTERNAL, "lanes", "task %zu failed without saying why", index);
    }
    return -1;
}

/* One lane: the tasks one after the other on the caller. */
static int run_inline(lanes *l, lanes_task_fn fn, void *const *tasks, size_t n, wf_err *err)
{
    lane *ln = &l->lane[0];

    for (size_t i = 0; i < n; i++) {
        if (wf_err_is_set(&ln->err))
            wf_err_init(&ln->err);
        if (fn(ln->ctx, tasks[i], &ln->err) != 0)
            return report(&ln->err, i, err);
    }
    return 0;
}

int lanes_run(lanes *l, lanes_task_fn fn, void *const *tasks, size_t n, wf_err *err)
{
    size_t helpers, failed;
    lane *failed_lane;

    if (n == 0)
        return 0;
    helpers = (n < l->width ? n : l->width) - 1;
    if (helpers == 0)
        return run_inline(l, fn, tasks, n, err);
    pthread_mutex_lock(&l->lock);
    l->fn = fn;
    l->tasks = tasks;
    l->n = n;
    l->next = 0;
    l->failed = NONE;
    helpers = start_helpers(l, helpers);
    for (size_t i = 1; i <= helpers; i++) {
        l->lane[i].go = 1;
        pthread_cond_signal(&l->lane[i].wake);
    }
    l->busy = helpers;
    drain(l, &l->lane[0]);
    /* A helper that has not woken yet would find nothing to do: it need
     * not join, and the caller need not wait for it to wake. */
    for (size_t i = 1; i <= helpers; i++)
        if (l->lane[i].go) {
            l->lane[i].go = 0;
            l->busy--;
        }
    while (l->busy > 0)
        pthread_cond_wait(&l->idle, &l->lock);
    failed = l->failed;
    failed_lane = l->failed_lane;
    pthread_mutex_unlock(&l->lock);
    return failed == NONE ? 0 : report(&failed_lane->err, failed, err);
}
