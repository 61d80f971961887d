#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "offsets.h"

static void in_order_completion_advances_each_time(void **state)
{
    offsets *o = offsets_new();
    (void)state;
    assert_int_equal(offsets_begin(o, "t", 0, 10), 0);
    assert_int_equal(offsets_begin(o, "t", 0, 11), 0);
    assert_int_equal(offsets_done(o, "t", 0, 10), 11);
    assert_int_equal(offsets_done(o, "t", 0, 11), 12);
    assert_int_equal(offsets_inflight(o, NULL, 0), 0);
    offsets_free(o);
}

static void never_commits_past_unfinished_work(void **state)
{
    offsets *o = offsets_new();
    (void)state;
    for (int64_t off = 0; off < 5; off++)
        offsets_begin(o, "t", 0, off);
    assert_int_equal(offsets_done(o, "t", 0, 3), -1);
    assert_int_equal(offsets_done(o, "t", 0, 1), -1);
    assert_int_equal(offsets_done(o, "t", 0, 0), 2); /* 0 and 1 done, 2 is not */
    assert_int_equal(offsets_done(o, "t", 0, 2), 4); /* then 2 and 3 */
    assert_int_equal(offsets_inflight(o, "t", 0), 1);
    assert_int_equal(offsets_done(o, "t", 0, 4), 5);
    offsets_free(o);
}

static void partitions_are_independent(void **state)
{
    offsets *o = offsets_new();
    (void)state;
    offsets_begin(o, "t", 0, 7);
    offsets_begin(o, "t", 1, 7);
    offsets_begin(o, "u", 0, 7);
    assert_int_equal(offsets_done(o, "t", 1, 7), 8);
    assert_int_equal(offsets_inflight(o, NULL, 0), 2);
    assert_int_equal(offsets_done(o, "t", 1, 99), -1); /* unknown offset */
    offsets_drop(o, "t", 0);
    assert_int_equal(offsets_inflight(o, NULL, 0), 1);
    assert_int_equal(offsets_done(o, "t", 0, 7), -1); /* dropped with the revoke */
    offsets_free(o);
}

static void many_offsets_grow_and_compact(void **state)
{
    offsets *o = offsets_new();
    (void)state;
    for (int64_t off = 0; off < 10000; off++) {
        assert_int_equal(offsets_begin(o, "t", 0, off), 0);
        if (off >= 1)
            assert_int_equal(offsets_done(o, "t", 0, off - 1), off);
    }
    assert_int_equal(offsets_inflight(o, "t", 0), 1);
    offsets_free(o);
}

static void committable_remembers_the_last_advance_until_dropped(void **state)
{
    offsets *o = offsets_new();
    (void)state;

    assert_int_equal(offsets_committable(o, "t", 0), -1);
    assert_int_equal(offsets_begin(o, "t", 0, 10), 0);
    assert_int_equal(offsets_begin(o, "t", 0, 11), 0);
    assert_int_equal(offsets_committable(o, "t", 0), -1);
    assert_int_equal(offsets_done(o, "t", 0, 11), -1);
    assert_int_equal(offsets_committable(o, "t", 0), -1);
    assert_int_equal(offsets_done(o, "t", 0, 10), 12);
    assert_int_equal(offsets_committable(o, "t", 0), 12);
    offsets_drop(o, "t", 0);
    assert_int_equal(offsets_committable(o, "t", 0), -1);
    offsets_free(o);
}

typedef struct seen {
    size_t pending[2];
    int calls;
} seen;

static void note_pending(void *ud, const char *topic, int32_t partition, size_t pending)
{
    seen *s = ud;
    assert_string_equal(topic, "t");
    s->pending[partition] = pending;
    s->calls++;
}

/* Backpressure counts records still in memory: a done offset behind an
 * unfinished one no longer counts, though it cannot be committed yet. */
static void pending_counts_unfinished_offsets_per_partition(void **state)
{
    offsets *o = offsets_new();
    seen s = {{0, 0}, 0};
    (void)state;

    for (int64_t off = 0; off < 5; off++)
        assert_int_equal(offsets_begin(o, "t", 0, off), 0);
    assert_int_equal(offsets_begin(o, "t", 1, 0), 0);
    assert_int_equal(offsets_done(o, "t", 0, 3), -1);
    assert_int_equal(offsets_done(o, "t", 0, 4), -1);
    assert_int_equal(offsets_done(o, "t", 0, 4), -1); /* twice counts once */
    offsets_each_pending(o, note_pending, &s);
    assert_int_equal(s.calls, 2);
    assert_int_equal(s.pending[0], 3);
    assert_int_equal(s.pending[1], 1);
    assert_int_equal(offsets_inflight(o, "t", 0), 5);
    offsets_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(in_order_completion_advances_each_time),
        cmocka_unit_test(never_commits_past_unfinished_work),
        cmocka_unit_test(partitions_are_independent),
        cmocka_unit_test(many_offsets_grow_and_compact),
        cmocka_unit_test(committable_remembers_the_last_advance_until_dropped),
        cmocka_unit_test(pending_counts_unfinished_offsets_per_partition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
