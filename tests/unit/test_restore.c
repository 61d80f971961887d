#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "restore.h"

/* The topic form of a record of workspace id at version. */
static char *value(const char *id, long long version, size_t *len)
{
    wsstate s;
    char *text;

    wsstate_init(&s);
    s.workspace_id = strdup(id);
    s.version = version;
    s.status = PROV_SUCCEEDED;
    s.complete = 1;
    s.event = strdup("{}");
    text = wsstate_encode(&s, len);
    wsstate_fini(&s);
    return text;
}

static int fresh(void **state)
{
    *state = applied_new();
    return *state ? 0 : -1;
}

static int release(void **state)
{
    applied_free(*state);
    return 0;
}

static long long version_of(applied *c, const char *id)
{
    wsstate s;
    long long v = -1;

    if (applied_get(c, id, &s))
        v = s.version;
    wsstate_fini(&s);
    return v;
}

/* Records are applied in offset order: the last one of a key wins. */
static void the_newest_record_of_a_workspace_wins(void **state)
{
    applied *c = *state;
    size_t l1, l2;
    char *v1 = value("ws-a", 1, &l1), *v2 = value("ws-a", 2, &l2);

    assert_int_equal(restore_record(c, 0, "ws-a", 4, v1, l1), 1);
    assert_int_equal(restore_record(c, 0, "ws-a", 4, v2, l2), 1);
    assert_int_equal(version_of(c, "ws-a"), 2);
    assert_int_equal(applied_count(c), 1);
    free(v1);
    free(v2);
}

/* Compaction's tombstone (a null value) deletes the entry. */
static void a_tombstone_drops_the_workspace(void **state)
{
    applied *c = *state;
    size_t len;
    char *v = value("ws-a", 3, &len);

    restore_record(c, 1, "ws-a", 4, v, len);
    assert_int_equal(restore_record(c, 1, "ws-a", 4, NULL, 0), 0);
    assert_int_equal(version_of(c, "ws-a"), -1);
    free(v);
}

/* An unreadable record after a good one leaves no record at all: the
 * workspace takes the full path rather than trust an older record. */
static void an_unreadable_record_drops_the_earlier_one(void **state)
{
    applied *c = *state;
    size_t len;
    char *v = value("ws-a", 3, &len);
    const char future[] = "{\"format\":2,\"workspace_id\":\"ws-a\"}";

    restore_record(c, 0, "ws-a", 4, v, len);
    assert_int_equal(restore_record(c, 0, "ws-a", 4, future, sizeof(future) - 1), 0);
    assert_int_equal(version_of(c, "ws-a"), -1);
    restore_record(c, 0, "ws-a", 4, v, len);
    assert_int_equal(restore_record(c, 0, "ws-a", 4, "{\"format\":", 10), 0);
    assert_int_equal(version_of(c, "ws-a"), -1);
    free(v);
}

/* A record must describe the workspace its key names. */
static void a_record_under_another_key_is_ignored(void **state)
{
    applied *c = *state;
    size_t len;
    char *v = value("ws-b", 3, &len);

    assert_int_equal(restore_record(c, 0, "ws-a", 4, v, len), 0);
    assert_int_equal(restore_record(c, 0, NULL, 0, v, len), 0);
    assert_int_equal(applied_count(c), 0);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_newest_record_of_a_workspace_wins, fresh, release),
        cmocka_unit_test_setup_teardown(a_tombstone_drops_the_workspace, fresh, release),
        cmocka_unit_test_setup_teardown(an_unreadable_record_drops_the_earlier_one, fresh, release),
        cmocka_unit_test_setup_teardown(a_record_under_another_key_is_ignored, fresh, release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
