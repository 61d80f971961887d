/* The pacer's token bucket, pauses and priorities, timed on the real clock
 * with bounds loose enough for a loaded machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pthread.h>
#include <unistd.h>

#include "clock.h"
#include "pacer.h"

static pacer *make(int qps, int burst)
{
    pacer_opts o = {.api = "k8s", .qps = qps, .burst = burst};
    pacer *p = pacer_new(&o);

    assert_non_null(p);
    return p;
}

/* Milliseconds n event acquires take. */
static int64_t time_acquires(pacer *p, int n)
{
    int64_t t0 = wf_clock_mono_ms();

    for (int i = 0; i < n; i++)
        assert_int_equal(pacer_acquire(p, PACER_EVENT), 0);
    return wf_clock_mono_ms() - t0;
}

static void burst_goes_at_once_then_qps(void **state)
{
    pacer *p = make(20, 5);

    (void)state;
    assert_true(time_acquires(p, 5) < 100); /* starts full */
    int64_t ms = time_acquires(p, 10);      /* 10 tokens at 20/s: 500 ms */
    assert_true(ms >= 450);
    assert_true(ms < 2000);
    pacer_free(p);
}

static void qps_zero_is_unpaced(void **state)
{
    pacer *p = make(0, 0);

    (void)state;
    assert_true(time_acquires(p, 10000) < 500);
    assert_int_equal(pacer_acquire(NULL, PACER_EVENT), 0); /* no pacer: unpaced too */
    pacer_free(p);
}

static void bad_settings_are_refused(void **state)
{
    pacer_opts neg = {.qps = -1, .burst = 10}, no_room = {.qps = 5, .burst = 0};

    (void)state;
    assert_null(pacer_new(&neg));
    assert_null(pacer_new(&no_room));
}

typedef struct waiter {
    pacer *p;
    pacer_priority prio;
    int n;
    int64_t start, done_ms; /* when the last acquire returned, from start */
    int rc;
    volatile int *stop; /* background loops: until set */
    volatile int taken;
} waiter;

static void *acquire_n(void *ud)
{
    waiter *w = ud;

    for (int i = 0; i < w->n || (w->stop && !*w->stop); i++) {
        if ((w->rc = pacer_acquire(w->p, w->prio)) != 0)
            break;
        w->taken++;
    }
    w->done_ms = wf_clock_mono_ms() - w->start;
    return NULL;
}

static void threads_share_one_rate(void **state)
{
    enum { THREADS = 8, EACH = 10 };
    pacer *p = make(40, 10);
    pthread_t t[THREADS];
    waiter w[THREADS];
    int64_t t0 = wf_clock_mono_ms();

    (void)state;
    for (int i = 0; i < THREADS; i++) {
        w[i] = (waiter){.p = p, .prio = PACER_EVENT, .n = EACH, .start = t0};
        assert_int_equal(pthread_create(&t[i], NULL, acquire_n, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    /* 80 requests, 10 from the full bucket, 70 at 40/s: 1.75 s. */
    int64_t ms = wf_clock_mono_ms() - t0;
    assert_true(ms >= 1650);
    assert_true(ms < 5000);
    pacer_free(p);
}

static int throttled_calls;
static long throttled_ms;

static void count_throttled(void *ud, const char *api, long pause_ms)
{
    (void)ud;
    assert_string_equal(api, "flyte");
    throttled_calls++;
    throttled_ms = pause_ms;
}

static void throttling_answers_pause_the_api(void **state)
{
    pacer_opts o = {.api = "flyte", .qps = 50, .burst = 100, .on_throttled = count_throttled};
    pacer *p = pacer_new(&o);

    (void)state;
    throttled_calls = 0;
    pacer_answered(p, 200, -1);
    pacer_answered(p, 500, 2000);
    pacer_answered(p, 503, -1); /* a 503 pauses only with Retry-After */
    assert_int_equal(pacer_paused_ms(p), 0);
    assert_int_equal(throttled_calls, 0);

    pacer_answered(p, 429, 2000);
    assert_int_equal(throttled_calls, 1);
    assert_int_equal(throttled_ms, 2000);
    assert_true(pacer_paused_ms(p) > 1800 && pacer_paused_ms(p) <= 2000);

    pacer_answered(p, 429, 500); /* never shortens a longer pause */
    assert_true(pacer_paused_ms(p) > 1500);
    pacer_answered(p, 429, 3600 * 1000); /* capped */
    assert_int_equal(throttled_ms, PACER_MAX_PAUSE_MS);
    assert_true(pacer_paused_ms(p) > PACER_MAX_PAUSE_MS - 200);
    pacer_free(p);

    p = pacer_new(&o);
    pacer_answered(p, 429, -1); /* no Retry-After: the default */
    assert_int_equal(throttled_ms, PACER_DEFAULT_PAUSE_MS);
    pacer_free(p);
    p = pacer_new(&o);
    pacer_answered(p, 503, 300);
    assert_int_equal(throttled_calls, 5);
    assert_true(pacer_paused_ms(p) > 200);
    pacer_free(p);
}

/* Every thread waits out a pause; after it one request goes first and the
 * others wait for its answer. */
static void a_pause_holds_every_thread_then_one_probes(void **state)
{
    enum { THREADS = 4 };
    pacer *p = make(0, 0);
    pthread_t t[THREADS];
    waiter w[THREADS];
    int64_t t0 = wf_clock_mono_ms();
    int done = 0;

    (void)state;
    pacer_pause(p, 300);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (waiter){.p = p, .prio = PACER_EVENT, .n = 1, .start = t0, .done_ms = -1};
        assert_int_equal(pthread_create(&t[i], NULL, acquire_n, &w[i]), 0);
    }
    usleep(700 * 1000);
    for (int i = 0; i < THREADS; i++)
        done += w[i].taken;
    assert_int_equal(done, 1); /* the probe */
    pacer_answered(p, 200, -1);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].rc, 0);
        assert_true(w[i].done_ms >= 290);
    }
    pacer_free(p);
}

/* The probe got a 429 again: nobody goes before the new pause ends. */
static void a_throttled_probe_pauses_again(void **state)
{
    pacer *p = make(0, 0);
    int64_t t0;

    (void)state;
    pacer_pause(p, 100);
    assert_int_equal(pacer_acquire(p, PACER_EVENT), 0);
    t0 = wf_clock_mono_ms();
    pacer_answered(p, 429, 300);
    assert_int_equal(pacer_acquire(p, PACER_EVENT), 0);
    assert_true(wf_clock_mono_ms() - t0 >= 290);
    pacer_free(p);
}

/* After a pause the bucket starts empty: the held-back requests resume at
 * qps, not as a burst of the whole bucket. */
static void no_burst_after_a_pause(void **state)
{
    pacer *p = make(10, 10);

    (void)state;
    pacer_pause(p, 200);
    assert_int_equal(pacer_acquire(p, PACER_EVENT), 0); /* the probe, after 200 ms + 100 ms */
    pacer_answered(p, 200, -1);
    int64_t ms = time_acquires(p, 5); /* 5 more at 10/s */
    assert_true(ms >= 450);
    pacer_free(p);
}

static volatile int cancel_flag;

static int is_cancelled(void *ud)
{
    (void)ud;
    return cancel_flag;
}

static void *cancel_later(void *ud)
{
    (void)ud;
    usleep(200 * 1000);
    cancel_flag = 1;
    return NULL;
}

static void a_waiting_request_gives_up_when_cancelled(void **state)
{
    pacer_opts o = {.api = "k8s", .qps = 1, .burst = 1, .cancelled = is_cancelled};
    pacer *p = pacer_new(&o);
    pthread_t t;
    int64_t t0;

    (void)state;
    cancel_flag = 0;
    assert_int_equal(pacer_acquire(p, PACER_EVENT), 0);
    pacer_pause(p, PACER_MAX_PAUSE_MS);
    assert_int_equal(pthread_create(&t, NULL, cancel_later, NULL), 0);
    t0 = wf_clock_mono_ms();
    assert_int_equal(pacer_acquire(p, PACER_EVENT), -1);
    assert_int_equal(pacer_acquire(p, PACER_BACKGROUND), -1);
    assert_true(wf_clock_mono_ms() - t0 < 1000);
    assert_int_equal(pthread_join(t, NULL), 0);
    pacer_free(p);
}

/* A request's own reason to give up (a repair preempted by an event of its
 * workspace) ends its wait as the process-wide one does; told before it
 * waits, it does not go even with a token free. */
static void a_request_gives_up_its_wait_when_its_job_yields(void **state)
{
    pacer *p = make(1, 4);
    pthread_t t;
    int64_t t0;

    (void)state;
    cancel_flag = 0;
    assert_int_equal(pacer_acquire(p, PACER_EVENT), 0);
    assert_int_equal(pacer_acquire(p, PACER_EVENT), 0);
    assert_int_equal(pacer_acquire(p, PACER_EVENT), 0); /* below the reserve now */
    assert_int_equal(pthread_create(&t, NULL, cancel_later, NULL), 0);
    t0 = wf_clock_mono_ms();
    assert_int_equal(pacer_acquire_or_yield(p, PACER_BACKGROUND, is_cancelled, NULL), -1);
    assert_true(wf_clock_mono_ms() - t0 < 2000); /* not the seconds a background token takes */
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(pacer_acquire_or_yield(p, PACER_EVENT, is_cancelled, NULL), -1);
    pacer_free(p);
}

/* Background requests leave half the bucket to events: a third one waits
 * while events still find two tokens at once. */
static void background_leaves_a_reserve(void **state)
{
    pacer_opts o = {.api = "k8s", .qps = 1, .burst = 4, .cancelled = is_cancelled};
    pacer *p = pacer_new(&o);
    pthread_t t;
    waiter w = {.p = p, .prio = PACER_BACKGROUND, .n = 1, .start = wf_clock_mono_ms()};

    (void)state;
    cancel_flag = 0;
    assert_int_equal(pacer_acquire(p, PACER_BACKGROUND), 0); /* 4 -> 3 */
    assert_int_equal(pacer_acquire(p, PACER_BACKGROUND), 0); /* 3 -> 2: the reserve */
    assert_true(wf_clock_mono_ms() - w.start < 100);
    assert_int_equal(pthread_create(&t, NULL, acquire_n, &w), 0);
    usleep(200 * 1000);
    assert_int_equal(w.taken, 0);
    assert_true(time_acquires(p, 2) < 100);
    cancel_flag = 1;
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.rc, -1);
    assert_int_equal(w.taken, 0);
    pacer_free(p);
}

/* A background loop that takes every token it may does not slow events:
 * 30 event requests at qps 20, burst 4, take about (30 - 2) / 20 s, as they
 * would alone but for the half bucket the loop took before they came (about
 * twice that if the loop competed as an equal), and the
 * loop gets tokens once the events are done. */
static void background_does_not_starve_events(void **state)
{
    pacer *p = make(20, 4);
    pthread_t bg;
    volatile int stop = 0;
    waiter b = {.p = p, .prio = PACER_BACKGROUND, .stop = &stop, .start = wf_clock_mono_ms()};
    int64_t ms;
    int during;

    (void)state;
    assert_int_equal(pthread_create(&bg, NULL, acquire_n, &b), 0);
    usleep(50 * 1000);
    ms = time_acquires(p, 30);
    during = b.taken;
    assert_true(ms < 2100);
    usleep(600 * 1000);
    assert_true(b.taken > during); /* idle events: the background goes on */
    stop = 1;
    assert_int_equal(pthread_join(bg, NULL), 0);
    pacer_free(p);
}

static void retry_after_reads_seconds_and_dates(void **state)
{
    const int64_t now = 1764316800000LL; /* Fri, 28 Nov 2025 08:00:00 GMT */
    const long max = 3600 * 1000L;
    char date[64];
    time_t later = (time_t)(now / 1000) + 30;

    (void)state;
    assert_int_equal(pacer_retry_after_ms("2", 1, now, max), 2000);
    assert_int_equal(pacer_retry_after_ms(" 5 \r\n", 5, now, max), 5000);
    assert_int_equal(pacer_retry_after_ms("0", 1, now, max), 0);
    assert_int_equal(pacer_retry_after_ms("99999999999999999999", 20, now, max), max);
    assert_int_equal(pacer_retry_after_ms("2x", 2, now, max), -1);
    assert_int_equal(pacer_retry_after_ms("soon", 4, now, max), -1);
    assert_int_equal(pacer_retry_after_ms("", 0, now, max), -1);
    assert_int_equal(pacer_retry_after_ms("-3", 2, now, max), -1);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&later));
    assert_int_equal(pacer_retry_after_ms(date, strlen(date), now, max), 30000);
    assert_int_equal(pacer_retry_after_ms("Fri, 28 Nov 2025 07:59:00 GMT", 29, now, max), 0);
    assert_int_equal(pacer_retry_after_ms("Sat, 29 Nov 2025 08:00:00 GMT", 29, now, max), max);
    /* RFC 850 and asctime forms */
    assert_int_equal(pacer_retry_after_ms("Friday, 28-Nov-25 08:00:10 GMT", 30, now, max), 10000);
    assert_int_equal(pacer_retry_after_ms("Fri Nov 28 08:00:20 2025", 24, now, max), 20000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_goes_at_once_then_qps),
        cmocka_unit_test(qps_zero_is_unpaced),
        cmocka_unit_test(bad_settings_are_refused),
        cmocka_unit_test(threads_share_one_rate),
        cmocka_unit_test(throttling_answers_pause_the_api),
        cmocka_unit_test(a_pause_holds_every_thread_then_one_probes),
        cmocka_unit_test(a_throttled_probe_pauses_again),
        cmocka_unit_test(no_burst_after_a_pause),
        cmocka_unit_test(a_waiting_request_gives_up_when_cancelled),
        cmocka_unit_test(a_request_gives_up_its_wait_when_its_job_yields),
        cmocka_unit_test(background_leaves_a_reserve),
        cmocka_unit_test(background_does_not_starve_events),
        cmocka_unit_test(retry_after_reads_seconds_and_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
