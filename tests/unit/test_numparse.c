#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "numparse.h"

/* What atoi() would have read as 0 or as a prefix is refused, and the
 * target is left alone. */
static void text_that_is_not_wholly_a_number_is_refused(void **state)
{
    const char *bad[] = {"", "x", "abc", "12abc", " 1", "1 ", "+1", "0x10", "-", "1.5", "--1"};
    char why[64];
    int64_t v = 42;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(numparse_i64(bad[i], INT64_MIN, INT64_MAX, &v, why, sizeof(why)), -1);
        assert_string_equal(why, "not a number");
        assert_int_equal(v, 42);
    }
    assert_int_equal(numparse_i64(NULL, 0, 1, &v, NULL, 0), -1);
}

static void numbers_out_of_range_are_refused_with_the_range(void **state)
{
    char why[64];
    int64_t v = 7;
    int n = 7;

    (void)state;
    assert_int_equal(numparse_i64("-1", 0, 100, &v, why, sizeof(why)), -1);
    assert_string_equal(why, "out of range 0..100");
    assert_int_equal(numparse_i64("99999999999999999999", 0, INT64_MAX, &v, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "out of range"));
    assert_int_equal(numparse_int("2147483648", 0, 2147483647, &n, why, sizeof(why)), -1);
    assert_int_equal(v, 7);
    assert_int_equal(n, 7);
}

static void numbers_in_range_are_read(void **state)
{
    int64_t v = 0;
    int n = 0;

    (void)state;
    assert_int_equal(numparse_i64("0", 0, 10, &v, NULL, 0), 0);
    assert_int_equal(v, 0);
    assert_int_equal(numparse_i64("-9223372036854775808", INT64_MIN, 0, &v, NULL, 0), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(numparse_i64("1764316800000", 0, INT64_MAX, &v, NULL, 0), 0);
    assert_true(v == 1764316800000LL);
    assert_int_equal(numparse_int("007", 0, 10, &n, NULL, 0), 0);
    assert_int_equal(n, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_that_is_not_wholly_a_number_is_refused),
        cmocka_unit_test(numbers_out_of_range_are_refused_with_the_range),
        cmocka_unit_test(numbers_in_range_are_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
