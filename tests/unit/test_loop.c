#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "outcome.h"
#include "pause.h"

#define NOW   1764316800000LL
#define DELAY 30000LL

/* Redeliveries carry the same result_id, and ids that differ only after
 * their first 496 bytes get different ones: all of the id is hashed. */
static void result_id_hashes_all_of_a_long_event_id(void **state)
{
    char a[601], b[601], id_a[37], id_b[37];

    (void)state;
    outcome_result_id("evt-1", id_a);
    assert_string_equal(id_a, "88ba59b1-18d6-8c59-9c58-a6617f126dbd"); /* as before */
    memset(a, 'e', 600);
    a[600] = '\0';
    memcpy(b, a, sizeof(a));
    a[599] = 'a';
    b[599] = 'b';
    outcome_result_id(a, id_a);
    outcome_result_id(b, id_b);
    assert_string_not_equal(id_a, id_b);
    assert_string_equal(id_a, "41212d89-76a8-8a8e-a390-2db3aeb71a57"); /* sha256 of all */
}

/* A due time in the header is kept when it is within the tier's delay. */
static void a_due_time_within_the_delay_is_kept(void **state)
{
    int bad = -1;

    (void)state;
    assert_true(pause_retry_due("1764316810000", NOW - 5000, DELAY, NOW, &bad) == NOW + 10000);
    assert_int_equal(bad, 0);
    assert_true(pause_retry_due(NULL, NOW - 5000, DELAY, NOW, &bad) == NOW + 25000);
    assert_int_equal(bad, 0);
}

/* A header far in the future (a fast clock, a bad producer) never pauses a
 * tier partition for longer than the tier's delay from now. */
static void a_due_time_beyond_the_delay_is_clamped(void **state)
{
    int bad = 0;

    (void)state;
    assert_true(pause_retry_due("9223372036854775807", NOW, DELAY, NOW, &bad) == NOW + DELAY);
    assert_true(pause_retry_due("1795852800000", NOW, DELAY, NOW, &bad) == NOW + DELAY);
    assert_int_equal(bad, 0);
    /* A record timestamp from the future is clamped the same way. */
    assert_true(pause_retry_due(NULL, NOW + 86400000LL, DELAY, NOW, &bad) == NOW + DELAY);
}

/* A header that is not a time is reported and the timestamp rule used. */
static void a_due_time_that_is_not_a_number_is_reported(void **state)
{
    const char *bad_values[] = {"abc", "", "12abc", "-5", "0", "99999999999999999999"};

    (void)state;
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        int bad = 0;
        assert_true(pause_retry_due(bad_values[i], NOW - 1000, DELAY, NOW, &bad) ==
                    NOW - 1000 + DELAY);
        assert_int_equal(bad, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(result_id_hashes_all_of_a_long_event_id),
        cmocka_unit_test(a_due_time_within_the_delay_is_kept),
        cmocka_unit_test(a_due_time_beyond_the_delay_is_clamped),
        cmocka_unit_test(a_due_time_that_is_not_a_number_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
