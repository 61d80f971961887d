#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "damper.h"

#define OBJ   0x1234u
#define OTHER 0x5678u

/* Repairs id DAMPER_FIGHT_REPAIRS times a second apart from t; returns
 * the time of the last. */
static int64_t fight(damper *d, uint64_t id, int64_t t)
{
    int64_t hold;
    for (int i = 0; i < DAMPER_FIGHT_REPAIRS; i++, t += 1000)
        assert_int_equal(damper_repaired(d, id, t, &hold), i == DAMPER_FIGHT_REPAIRS - 1);
    assert_int_equal(hold, DAMPER_FIRST_HOLD_MS);
    return t - 1000;
}

static void a_few_repairs_are_not_damped(void **state)
{
    damper *d = damper_new();
    int64_t hold;
    (void)state;
    for (int i = 0; i < DAMPER_FIGHT_REPAIRS - 1; i++) {
        assert_int_equal(damper_repaired(d, OBJ, 1000 * i, &hold), 0);
        assert_int_equal(hold, 0);
        assert_int_equal(damper_hold_until(d, OBJ, 1000 * i + 1), 0);
    }
    assert_int_equal(damper_fighting(d), 0);
    damper_free(d);
}

static void repairs_within_the_window_start_a_fight_once(void **state)
{
    damper *d = damper_new();
    int64_t hold, t;
    (void)state;
    t = fight(d, OBJ, 0);
    assert_int_equal(damper_fighting(d), 1);
    assert_int_equal(damper_hold_until(d, OBJ, t + 1), t + DAMPER_FIRST_HOLD_MS);
    /* The next repairs double the hold and never report a new fight. */
    t += DAMPER_FIRST_HOLD_MS;
    assert_int_equal(damper_hold_until(d, OBJ, t), 0);
    assert_int_equal(damper_repaired(d, OBJ, t, &hold), 0);
    assert_int_equal(hold, 2 * DAMPER_FIRST_HOLD_MS);
    assert_int_equal(damper_hold_until(d, OBJ, t + 5), t + 2 * DAMPER_FIRST_HOLD_MS);
    /* Another object is not held back. */
    assert_int_equal(damper_hold_until(d, OTHER, t + 5), 0);
    damper_free(d);
}

static void the_hold_doubles_up_to_an_hour(void **state)
{
    damper *d = damper_new();
    int64_t hold = 0, t;
    (void)state;
    t = fight(d, OBJ, 0);
    for (int i = 0; i < 20; i++) {
        t += 1000; /* the other writer undoes each repair within a second */
        assert_int_not_equal(damper_hold_until(d, OBJ, t), 0);
        t = damper_hold_until(d, OBJ, t);
        assert_int_equal(damper_repaired(d, OBJ, t, &hold), 0);
    }
    assert_int_equal(hold, DAMPER_MAX_HOLD_MS);
    assert_int_equal(damper_fighting(d), 1);
    damper_free(d);
}

static void repairs_spread_beyond_the_window_are_no_fight(void **state)
{
    damper *d = damper_new();
    int64_t hold;
    (void)state;
    for (int i = 0; i < 10; i++)
        assert_int_equal(damper_repaired(d, OBJ, i * (DAMPER_WINDOW_MS / 2 + 1), &hold), 0);
    assert_int_equal(damper_fighting(d), 0);
    damper_free(d);
}

static void a_repair_that_sticks_ends_the_fight(void **state)
{
    damper *d = damper_new();
    int64_t t;
    (void)state;
    t = fight(d, OBJ, 0);
    /* No drift seen for longer than the window: the next one is repaired at
     * once and counting starts afresh. */
    t += DAMPER_WINDOW_MS + 1;
    assert_int_equal(damper_hold_until(d, OBJ, t), 0);
    assert_int_equal(damper_fighting(d), 0);
    assert_int_equal(fight(d, OBJ, t), t + (DAMPER_FIGHT_REPAIRS - 1) * 1000);
    damper_free(d);
}

static void sweep_forgets_what_is_over(void **state)
{
    damper *d = damper_new();
    int64_t hold, t;
    (void)state;
    t = fight(d, OBJ, 0);
    assert_int_equal(damper_repaired(d, OTHER, t, &hold), 0);
    assert_int_equal(damper_sweep(d, t + 1), 0);
    assert_int_equal(damper_fighting(d), 1);
    assert_int_equal(damper_sweep(d, t + DAMPER_WINDOW_MS + 1), 1);
    assert_int_equal(damper_fighting(d), 0);
    assert_int_equal(damper_hold_until(d, OBJ, t + DAMPER_WINDOW_MS + 2), 0);
    damper_free(d);
}

static void many_objects_grow_the_table(void **state)
{
    damper *d = damper_new();
    int64_t hold;
    (void)state;
    for (int r = 0; r < DAMPER_FIGHT_REPAIRS; r++)
        for (uint64_t id = 1; id <= 5000; id++)
            assert_int_equal(damper_repaired(d, id * 7919, r, &hold),
                             r == DAMPER_FIGHT_REPAIRS - 1);
    assert_int_equal(damper_fighting(d), 5000);
    assert_int_equal(damper_sweep(d, DAMPER_WINDOW_MS + 10), 5000);
    damper_free(d);
    damper_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_few_repairs_are_not_damped),
        cmocka_unit_test(repairs_within_the_window_start_a_fight_once),
        cmocka_unit_test(the_hold_doubles_up_to_an_hour),
        cmocka_unit_test(repairs_spread_beyond_the_window_are_no_fight),
        cmocka_unit_test(a_repair_that_sticks_ends_the_fight),
        cmocka_unit_test(sweep_forgets_what_is_over),
        cmocka_unit_test(many_objects_grow_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
