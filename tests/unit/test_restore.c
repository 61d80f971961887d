#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "restore.h"

/* The topic form of a record of workspace id at version, keeping an event
 * of workspace event_ws at event_version. */
static char *value_of_event(const char *id, long long version, const char *event_ws,
                            long long event_version, size_t *len)
{
    wsstate s;
    char *text, ev[256];

    wsstate_init(&s);
    s.workspace_id = strdup(id);
    s.version = version;
    s.status = PROV_SUCCEEDED;
    s.complete = 1;
    snprintf(ev, sizeof(ev), "{\"workspace_version\":%lld,\"workspace\":{\"workspace_id\":\"%s\"}}",
             event_version, event_ws);
    s.event = strdup(ev);
    text = wsstate_encode(&s, len);
    wsstate_fini(&s);
    return text;
}

/* The topic form of a record of workspace id at version. */
static char *value(const char *id, long long version, size_t *len)
{
    return value_of_event(id, version, id, version, len);
}

static char *unused_value(const char *id, long long version, size_t *len)
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

/* A key that moved to another partition (partitions added, another
 * partitioner) has a record on each: the highest version wins, whichever
 * partition is read last. */
static void across_partitions_the_highest_version_wins(void **state)
{
    applied *c = *state;
    size_t l1, l2;
    char *v1 = value("ws-a", 1, &l1), *v2 = value("ws-a", 2, &l2);
    wsstate s;
    int32_t partition;

    assert_int_equal(restore_record(c, 1, "ws-a", 4, v2, l2), 1);
    assert_int_equal(restore_record(c, 0, "ws-a", 4, v1, l1), 0); /* older: not kept */
    assert_int_equal(applied_get_at(c, "ws-a", &s, &partition), 1);
    assert_int_equal(s.version, 2);
    assert_int_equal(partition, 1);
    wsstate_fini(&s);
    /* The other order: the newer record retires the older one. */
    applied_forget(c, "ws-a");
    assert_int_equal(restore_record(c, 0, "ws-a", 4, v1, l1), 1);
    assert_int_equal(restore_record(c, 1, "ws-a", 4, v2, l2), 1);
    assert_int_equal(applied_get_at(c, "ws-a", &s, &partition), 1);
    assert_int_equal(s.version, 2);
    assert_int_equal(partition, 1);
    wsstate_fini(&s);
    assert_int_equal(applied_count(c), 1);
    free(v1);
    free(v2);
}

/* A tombstone or an unreadable record on one partition says nothing of
 * the record another partition holds. */
static void a_tombstone_drops_only_its_partitions_record(void **state)
{
    applied *c = *state;
    size_t len;
    char *v = value("ws-a", 2, &len);

    restore_record(c, 1, "ws-a", 4, v, len);
    assert_int_equal(restore_record(c, 0, "ws-a", 4, NULL, 0), 0);
    assert_int_equal(version_of(c, "ws-a"), 2);
    restore_record(c, 0, "ws-a", 4, "{\"format\":", 10);
    assert_int_equal(version_of(c, "ws-a"), 2);
    assert_int_equal(restore_record(c, 1, "ws-a", 4, NULL, 0), 0);
    assert_int_equal(version_of(c, "ws-a"), -1);
    free(v);
}

/* A record of ws-a keeping ws-b's event (or another version's) would make
 * the repairer apply that rendering: refused like an unreadable record. */
static void a_record_keeping_another_workspaces_event_is_refused(void **state)
{
    applied *c = *state;
    size_t l0, l1, l2, l3;
    char *good = value("ws-a", 2, &l0), *other = value_of_event("ws-a", 5, "ws-b", 5, &l1);
    char *version = value_of_event("ws-a", 5, "ws-a", 1, &l2), *none = unused_value("ws-a", 5, &l3);

    restore_record(c, 0, "ws-a", 4, good, l0);
    assert_int_equal(restore_record(c, 0, "ws-a", 4, other, l1), 0);
    assert_int_equal(version_of(c, "ws-a"), -1);
    assert_int_equal(restore_record(c, 0, "ws-a", 4, version, l2), 0);
    assert_int_equal(restore_record(c, 0, "ws-a", 4, none, l3), 0);
    assert_int_equal(applied_count(c), 0);
    free(good);
    free(other);
    free(version);
    free(none);
}

/* A repair that found a record superseded drops it, unless an event
 * replaced it since (another version, or another partition). */
static void retire_drops_only_the_record_found_superseded(void **state)
{
    applied *c = *state;
    size_t len;
    char *v = value("ws-a", 1, &len);

    restore_record(c, 0, "ws-a", 4, v, len);
    assert_int_equal(applied_retire(c, "ws-a", 1, 1), 0);
    assert_int_equal(applied_retire(c, "ws-a", 0, 2), 0);
    assert_int_equal(version_of(c, "ws-a"), 1);
    assert_int_equal(applied_retire(c, "ws-a", 0, 1), 1);
    assert_int_equal(version_of(c, "ws-a"), -1);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_newest_record_of_a_workspace_wins, fresh, release),
        cmocka_unit_test_setup_teardown(a_tombstone_drops_the_workspace, fresh, release),
        cmocka_unit_test_setup_teardown(an_unreadable_record_drops_the_earlier_one, fresh, release),
        cmocka_unit_test_setup_teardown(a_record_under_another_key_is_ignored, fresh, release),
        cmocka_unit_test_setup_teardown(across_partitions_the_highest_version_wins, fresh, release),
        cmocka_unit_test_setup_teardown(a_tombstone_drops_only_its_partitions_record, fresh,
                                        release),
        cmocka_unit_test_setup_teardown(a_record_keeping_another_workspaces_event_is_refused, fresh,
                                        release),
        cmocka_unit_test_setup_teardown(retire_drops_only_the_record_found_superseded, fresh,
                                        release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
