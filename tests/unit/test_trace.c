#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "trace.h"

static const char EXAMPLE[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

static int parse(wf_trace *t, const char *s)
{
    return wf_trace_parse(t, s, strlen(s));
}

static void the_specifications_example_is_read(void **state)
{
    wf_trace t;

    (void)state;
    assert_int_equal(parse(&t, EXAMPLE), 0);
    assert_string_equal(t.traceparent, EXAMPLE);
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_int_equal(t.generated, 0);
    assert_string_equal(t.tracestate, "");
}

/* Each of these breaks one rule of level 1: a new trace id is made for
 * the event instead. */
static void invalid_traceparents_are_refused(void **state)
{
    const char *bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    /* short */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  /* 00 is exactly 55 */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* upper case */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero parent id */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   /* not hex */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01xx", /* no '-' after 55 */
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };
    wf_trace t;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(&t, bad[i]) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_string_equal(t.trace_id, "");
    }
    assert_int_equal(wf_trace_parse(&t, NULL, 0), -1);
}

static void a_higher_version_is_read_and_passed_on_as_00(void **state)
{
    wf_trace t;

    (void)state;
    assert_int_equal(
        parse(&t, "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future"), 0);
    assert_string_equal(t.traceparent, EXAMPLE);
    assert_int_equal(parse(&t, "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), 0);
    assert_string_equal(t.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
}

static void tracestate_goes_with_a_valid_traceparent_only(void **state)
{
    const char list[] = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
    char big[WF_TRACESTATE_MAX + 2];
    wf_trace t;

    (void)state;
    assert_int_equal(parse(&t, EXAMPLE), 0);
    assert_int_equal(wf_trace_set_state(&t, list, strlen(list)), 0);
    assert_string_equal(t.tracestate, list);
    assert_int_equal(wf_trace_set_state(&t, "a=1\nb=2", 7), -1); /* not printable */
    assert_string_equal(t.tracestate, "");
    memset(big, 'a', sizeof(big));
    assert_int_equal(wf_trace_set_state(&t, big, sizeof(big)), -1);
    assert_int_equal(wf_trace_new(&t, "ev-1", 4), 0);
    assert_int_equal(wf_trace_set_state(&t, list, strlen(list)),
                     -1); /* belongs to no trace of ours */
}

/* A redelivered event (same event id) gets the same trace id, as it gets
 * the same result_id; another event gets another. */
static void new_traces_are_valid_and_follow_the_event_id(void **state)
{
    wf_trace a, b, c, r1, r2, back;

    (void)state;
    assert_int_equal(wf_trace_new(&a, "event-1", 7), 0);
    assert_int_equal(wf_trace_new(&b, "event-1", 7), 0);
    assert_int_equal(wf_trace_new(&c, "event-2", 7), 0);
    assert_string_equal(a.traceparent, b.traceparent);
    assert_string_not_equal(a.trace_id, c.trace_id);
    assert_int_equal(a.generated, 1);
    assert_int_equal(parse(&back, a.traceparent), 0);
    assert_string_equal(back.trace_id, a.trace_id);
    assert_memory_equal(a.traceparent + 52, "-01", 4);
    assert_int_equal(wf_trace_new(&r1, NULL, 0), 0);
    assert_int_equal(wf_trace_new(&r2, NULL, 0), 0);
    assert_string_not_equal(r1.trace_id, r2.trace_id);
    assert_int_equal(parse(&back, r1.traceparent), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_specifications_example_is_read),
        cmocka_unit_test(invalid_traceparents_are_refused),
        cmocka_unit_test(a_higher_version_is_read_and_passed_on_as_00),
        cmocka_unit_test(tracestate_goes_with_a_valid_traceparent_only),
        cmocka_unit_test(new_traces_are_valid_and_follow_the_event_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
