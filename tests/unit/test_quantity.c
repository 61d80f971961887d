#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "quantity.h"

static int64_t milli(const char *s)
{
    int64_t v = -1;
    char why[64];

    if (quantity_parse_milli(s, &v, why, sizeof(why)) != 0)
        fail_msg("%s: %s", s, why);
    return v;
}

/* Every suffix the API server knows, decimal and binary, and exponents. */
static void quantities_parse_to_exact_milli_units(void **state)
{
    (void)state;
    assert_int_equal(milli("20"), 20000);
    assert_int_equal(milli("+20"), 20000);
    assert_int_equal(milli("2500m"), 2500);
    assert_int_equal(milli("0.5"), 500);
    assert_int_equal(milli(".5"), 500);
    assert_int_equal(milli("5."), 5000);
    assert_int_equal(milli("1k"), 1000000);
    assert_int_equal(milli("40G"), 40000000000000LL);
    assert_int_equal(milli("1Ki"), 1024000);
    assert_int_equal(milli("1.5Ki"), 1536000);
    assert_int_equal(milli("40Gi"), 42949672960000LL);
    assert_int_equal(milli("256Mi"), 268435456000LL);
    assert_int_equal(milli("1e3"), 1000000);
    assert_int_equal(milli("1E3"), 1000000);
    assert_int_equal(milli("15e-1"), 1500);
    assert_int_equal(milli("0"), 0);
    assert_int_equal(milli("000"), 0);
    assert_int_equal(milli("0.000"), 0);
    assert_int_equal(milli("2P"), 2000000000000000000LL);
    assert_int_equal(milli("1Pi"), 1125899906842624000LL);
}

/* Below a milli-unit the value is cut, never rounded up: a split can then
 * never hand out more than the total. */
static void fractions_below_a_milli_unit_round_down(void **state)
{
    (void)state;
    assert_int_equal(milli("1500u"), 1);
    assert_int_equal(milli("999999n"), 0);
    assert_int_equal(milli("0.0019"), 1);
    assert_int_equal(milli("1e-4"), 0);
    assert_int_equal(milli("1e-200"), 0);
    assert_int_equal(milli("0.0001Ki"), 102);
}

static void malformed_quantities_are_refused(void **state)
{
    const char *bad[] = {"",      "-1",  "1.2.3", ".",   "+",   "m",     "1K",   "1 ",
                         " 1",    "1mi", "1KiB",  "1e",  "1e+", "1e1.5", "0x10", "1Gb",
                         "1.5EE", "abc", "1i",    "++1", "1E-", "1_000"};
    char why[64];
    int64_t v = 42;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (quantity_parse_milli(bad[i], &v, why, sizeof(why)) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_string_equal(why, "not a Kubernetes quantity");
        assert_int_equal(v, 42);
    }
    assert_int_equal(quantity_parse_milli(NULL, &v, NULL, 0), -1);
}

/* Values beyond int64 milli-units are refused, not wrapped. */
static void quantities_too_large_are_refused(void **state)
{
    const char *big[] = {"9223372036854776",
                         "10E",
                         "8Ei",
                         "1e100",
                         "1e99999999999",
                         "99999999999999999999999999999999999999999999m"};
    char why[64];
    int64_t v = 42;

    (void)state;
    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
        if (quantity_parse_milli(big[i], &v, why, sizeof(why)) != -1)
            fail_msg("accepted \"%s\"", big[i]);
        assert_non_null(strstr(why, "larger than"));
        assert_int_equal(v, 42);
    }
    assert_int_equal(milli("9223372036854775807m"), INT64_MAX);
    assert_int_equal(milli("9223372036854775.807"), INT64_MAX);
}

static void shares_round_down_and_never_overflow(void **state)
{
    (void)state;
    assert_int_equal(quantity_share(20000, 1, 4), 5000);
    assert_int_equal(quantity_share(20000, 2, 4), 10000);
    assert_int_equal(quantity_share(1000, 1, 3), 333);
    assert_int_equal(quantity_share(7, 2, 4), 3);
    assert_int_equal(quantity_share(INT64_MAX, 999, 1000),
                     INT64_MAX / 1000 * 999 + 807 * 999 / 1000);
    assert_int_equal(quantity_share(INT64_MAX, 1, 1), INT64_MAX);
    assert_int_equal(quantity_share(0, 1, 4), 0);
}

static void amounts_render_as_the_api_server_writes_them(void **state)
{
    char buf[64];

    (void)state;
    quantity_format_cpu(5000, buf, sizeof(buf));
    assert_string_equal(buf, "5");
    quantity_format_cpu(2500, buf, sizeof(buf));
    assert_string_equal(buf, "2500m");
    quantity_format_cpu(0, buf, sizeof(buf));
    assert_string_equal(buf, "0");
    quantity_format_bytes((int64_t)10 << 30, buf, sizeof(buf));
    assert_string_equal(buf, "10Gi");
    quantity_format_bytes((int64_t)1536 << 20, buf, sizeof(buf));
    assert_string_equal(buf, "1536Mi");
    quantity_format_bytes(2500000000LL, buf, sizeof(buf));
    assert_string_equal(buf, "2500000000");
    quantity_format_bytes(1023, buf, sizeof(buf));
    assert_string_equal(buf, "1023");
    quantity_format_bytes((int64_t)1 << 60, buf, sizeof(buf));
    assert_string_equal(buf, "1Ei");
    quantity_format_bytes(0, buf, sizeof(buf));
    assert_string_equal(buf, "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quantities_parse_to_exact_milli_units),
        cmocka_unit_test(fractions_below_a_milli_unit_round_down),
        cmocka_unit_test(malformed_quantities_are_refused),
        cmocka_unit_test(quantities_too_large_are_refused),
        cmocka_unit_test(shares_round_down_and_never_overflow),
        cmocka_unit_test(amounts_render_as_the_api_server_writes_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
