/* Lanes run the tasks of a run at once, at most width of them, report the
 * lowest-index failure, start nothing after a failure, and start and stop
 * their threads as promised.  Concurrency is shown with barriers, not
 * clocks; a barrier that never opens gives up after WAIT_SECS and fails
 * the test instead of hanging it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pthread.h>

#include "lanes.h"

#define WAIT_SECS 30
#define MAX_TASKS 64
#define MAX_WIDTH 8

typedef struct rig {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int running, max_running, arrived, timed_out;
    int dirty_err; /* a task started with its err set */
    int ran[MAX_TASKS];
    int returned[MAX_TASKS]; /* the task has ended */
    const int *lane_of[MAX_TASKS];
    pthread_t thread_of[MAX_TASKS];
    int lane_ids[MAX_WIDTH];
    void *ctx[MAX_WIDTH];
    /* What the tasks do, set by each test. */
    int barrier;                  /* wait until this many tasks arrived; 0: none */
    int fail[MAX_TASKS];          /* fail with code "t<i>" */
    int wait_returned[MAX_TASKS]; /* task i first waits until task wait_returned[i]-1 ended */
    int fail_silently;            /* fail without setting err */
    long sum;
    struct task {
        struct rig *r;
        size_t i;
    } tasks[MAX_TASKS];
    void *task_ptrs[MAX_TASKS];
} rig;

static rig *rig_new(void)
{
    rig *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->changed, NULL);
    for (int i = 0; i < MAX_WIDTH; i++) {
        r->lane_ids[i] = i;
        r->ctx[i] = &r->lane_ids[i];
    }
    for (size_t i = 0; i < MAX_TASKS; i++) {
        r->tasks[i].r = r;
        r->tasks[i].i = i;
        r->task_ptrs[i] = &r->tasks[i];
    }
    return r;
}

static void rig_free(rig *r)
{
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static lanes *make_lanes(rig *r, size_t width)
{
    wf_err err;
    lanes *l;

    wf_err_init(&err);
    l = lanes_new(width, r->ctx, &err);
    assert_non_null(l);
    return l;
}

/* Waits, lock held, until *v >= want; counts a give-up in r->timed_out. */
static void wait_at_least(rig *r, const int *v, int want)
{
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WAIT_SECS;
    while (*v < want)
        if (pthread_cond_timedwait(&r->changed, &r->lock, &deadline) != 0) {
            r->timed_out++;
            return;
        }
}

/* The task every test runs; what it does is in the rig. */
static int task_fn(void *lane_ctx, void *task, wf_err *err)
{
    struct task *t = task;
    rig *r = t->r;
    size_t i = t->i;
    int rc = 0;

    pthread_mutex_lock(&r->lock);
    if (wf_err_is_set(err))
        r->dirty_err++; /* asserted on the test's thread: cmocka asserts only there */
    r->ran[i]++;
    r->lane_of[i] = lane_ctx;
    r->thread_of[i] = pthread_self();
    r->sum += (long)i;
    if (++r->running > r->max_running)
        r->max_running = r->running;
    r->arrived++;
    pthread_cond_broadcast(&r->changed);
    if (r->barrier)
        wait_at_least(r, &r->arrived, r->barrier);
    if (r->wait_returned[i])
        wait_at_least(r, &r->returned[r->wait_returned[i] - 1], 1);
    if (r->fail[i]) {
        char code[16];
        snprintf(code, sizeof(code), "t%zu", i);
        if (!r->fail_silently)
            wf_err_set(err, WF_TRANSIENT, code, "task %zu", i);
        rc = -1;
    }
    r->running--;
    r->returned[i] = 1;
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static int run(lanes *l, rig *r, size_t n, wf_err *err)
{
    int rc;

    wf_err_init(err);
    rc = lanes_run(l, task_fn, r->task_ptrs, n, err);
    assert_int_equal(r->dirty_err, 0);
    return rc;
}

/* The threads of this process, from /proc. */
static int threads_now(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    assert_true(n > 0);
    return n;
}

static void width_tasks_run_at_once_each_on_its_own_lane(void **state)
{
    (void)state;
    for (size_t width = 2; width <= MAX_WIDTH; width += 3) {
        rig *r = rig_new();
        lanes *l = make_lanes(r, width);
        wf_err err;

        r->barrier = (int)width; /* opens only when all width are running */
        assert_int_equal(run(l, r, width, &err), 0);
        assert_int_equal(r->timed_out, 0);
        assert_int_equal(r->max_running, (int)width);
        for (size_t a = 0; a < width; a++)
            for (size_t b = a + 1; b < width; b++)
                assert_ptr_not_equal(r->lane_of[a], r->lane_of[b]);
        lanes_free(l);
        rig_free(r);
    }
}

static void no_more_than_width_run_at_once(void **state)
{
    rig *r = rig_new();
    lanes *l = make_lanes(r, 3);
    wf_err err;

    (void)state;
    for (int round = 0; round < 20; round++)
        assert_int_equal(run(l, r, MAX_TASKS, &err), 0);
    assert_true(r->max_running <= 3);
    for (size_t i = 0; i < MAX_TASKS; i++)
        assert_int_equal(r->ran[i], 20);
    lanes_free(l);
    rig_free(r);
}

/* Tasks 1 and 3 fail, in either order, while all four run: task 1's error
 * is reported, also when it comes last. */
static void the_lowest_index_failure_wins_in_either_order(void **state)
{
    (void)state;
    for (int round = 0; round < 100; round++) {
        rig *r = rig_new();
        lanes *l = make_lanes(r, 4);
        wf_err err;

        r->barrier = 4; /* all four are running before any fails */
        r->fail[1] = r->fail[3] = 1;
        if (round % 2)
            r->wait_returned[1] = 3 + 1; /* the higher one fails first */
        else
            r->wait_returned[3] = 1 + 1;
        assert_int_equal(run(l, r, 4, &err), -1);
        assert_int_equal(r->timed_out, 0);
        assert_string_equal(err.code, "t1");
        assert_int_equal(err.cls, WF_TRANSIENT);
        assert_string_equal(err.msg, "task 1");
        lanes_free(l);
        rig_free(r);
    }
}

static void nothing_starts_after_a_failure(void **state)
{
    rig *r = rig_new();
    lanes *l = make_lanes(r, 1);
    wf_err err;

    (void)state;
    /* One lane: the tasks after the failed one never start. */
    r->fail[3] = 1;
    assert_int_equal(run(l, r, 10, &err), -1);
    assert_string_equal(err.code, "t3");
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(r->ran[i], i <= 3);
    lanes_free(l);
    rig_free(r);

    /* Two lanes, both running when both fail: neither takes another task,
     * whichever fails first. */
    for (int round = 0; round < 50; round++) {
        r = rig_new();
        l = make_lanes(r, 2);
        r->barrier = 2;
        r->fail[0] = r->fail[1] = 1;
        assert_int_equal(run(l, r, 10, &err), -1);
        assert_int_equal(r->timed_out, 0);
        assert_string_equal(err.code, "t0");
        for (size_t i = 0; i < 10; i++)
            assert_int_equal(r->ran[i], i <= 1);
        lanes_free(l);
        rig_free(r);
    }
}

static void one_task_or_one_lane_runs_on_the_caller_without_threads(void **state)
{
    rig *r = rig_new();
    int before = threads_now();
    lanes *wide = make_lanes(r, MAX_WIDTH), *narrow = make_lanes(r, 1);
    wf_err err;

    (void)state;
    assert_int_equal(run(wide, r, 1, &err), 0);
    assert_true(pthread_equal(r->thread_of[0], pthread_self()));
    assert_ptr_equal(r->lane_of[0], &r->lane_ids[0]);
    assert_int_equal(run(narrow, r, 5, &err), 0);
    for (size_t i = 0; i < 5; i++)
        assert_true(pthread_equal(r->thread_of[i], pthread_self()));
    assert_int_equal(run(wide, r, 0, &err), 0);
    assert_int_equal(threads_now(), before);
    lanes_free(wide);
    lanes_free(narrow);
    rig_free(r);
}

static void threads_start_when_needed_and_serve_many_runs(void **state)
{
    rig *r = rig_new();
    int before = threads_now();
    lanes *l = make_lanes(r, MAX_WIDTH);
    wf_err err;

    (void)state;
    assert_int_equal(threads_now(), before);
    assert_int_equal(run(l, r, 3, &err), 0);
    assert_int_equal(threads_now(), before + 2);
    for (size_t round = 0; round < 2000; round++) {
        size_t n = 1 + round % 20, bad = round % 7 == 0 ? n / 2 : MAX_TASKS;
        long want = 0;

        memset(r->fail, 0, sizeof(r->fail));
        if (bad < n)
            r->fail[bad] = 1;
        r->sum = 0;
        if (bad < n) {
            char code[8];
            snprintf(code, sizeof(code), "t%zu", bad);
            assert_int_equal(run(l, r, n, &err), -1);
            assert_string_equal(err.code, code);
            continue;
        }
        for (size_t i = 0; i < n; i++)
            want += (long)i;
        assert_int_equal(run(l, r, n, &err), 0);
        assert_int_equal(r->sum, want);
    }
    assert_true(threads_now() <= before + MAX_WIDTH - 1);
    lanes_free(l);
    assert_int_equal(threads_now(), before);
    rig_free(r);
}

static void free_stops_parked_threads(void **state)
{
    rig *r = rig_new();
    int before = threads_now();
    lanes *l = make_lanes(r, MAX_WIDTH);
    wf_err err;

    (void)state;
    r->barrier = MAX_WIDTH;
    assert_int_equal(run(l, r, MAX_WIDTH, &err), 0);
    assert_int_equal(threads_now(), before + MAX_WIDTH - 1);
    lanes_free(l); /* every helper is parked now */
    assert_int_equal(threads_now(), before);
    lanes_free(NULL);
    rig_free(r);
}

static void a_failure_without_an_error_is_still_reported(void **state)
{
    rig *r = rig_new();
    lanes *l = make_lanes(r, 4);
    wf_err err;

    (void)state;
    r->fail[2] = 1;
    r->fail_silently = 1;
    assert_int_equal(run(l, r, 6, &err), -1);
    assert_int_equal(err.cls, WF_INTERNAL);
    assert_string_equal(err.code, "lanes");
    assert_string_equal(err.msg, "task 2 failed without saying why");
    lanes_free(l);
    rig_free(r);
}

/* The caller's err follows wf_err's rule: the first error set wins. */
static void an_error_the_caller_holds_is_kept(void **state)
{
    rig *r = rig_new();
    lanes *l = make_lanes(r, 4);
    wf_err err;

    (void)state;
    r->fail[1] = 1;
    wf_err_init(&err);
    wf_err_set(&err, WF_PERMANENT, "earlier", "earlier");
    assert_int_equal(lanes_run(l, task_fn, r->task_ptrs, 4, &err), -1);
    assert_string_equal(err.code, "earlier");
    lanes_free(l);
    rig_free(r);
}

static void width_zero_is_refused(void **state)
{
    wf_err err;

    (void)state;
    wf_err_init(&err);
    assert_null(lanes_new(0, NULL, &err));
    assert_int_equal(err.cls, WF_INTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(width_tasks_run_at_once_each_on_its_own_lane),
        cmocka_unit_test(no_more_than_width_run_at_once),
        cmocka_unit_test(the_lowest_index_failure_wins_in_either_order),
        cmocka_unit_test(nothing_starts_after_a_failure),
        cmocka_unit_test(one_task_or_one_lane_runs_on_the_caller_without_threads),
        cmocka_unit_test(threads_start_when_needed_and_serve_many_runs),
        cmocka_unit_test(free_stops_parked_threads),
        cmocka_unit_test(a_failure_without_an_error_is_still_reported),
        cmocka_unit_test(an_error_the_caller_holds_is_kept),
        cmocka_unit_test(width_zero_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
