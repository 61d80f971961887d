#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "applied.h"

/* A record of workspace id at version, with two objects. */
static wsstate record(const char *id, long long version)
{
    wsstate s;

    wsstate_init(&s);
    s.workspace_id = strdup(id);
    s.event_id = strdup("ev-1");
    s.version = version;
    s.status = PROV_SUCCEEDED;
    s.flyte = s.complete = s.project = 1;
    s.digest = 0x1234;
    s.objs = calloc(2, sizeof(*s.objs));
    s.objs[0] = (wsstate_obj){.id = 9, .hash = 90};
    s.objs[1] = (wsstate_obj){.id = 3, .hash = 30};
    s.n_objs = 2;
    wsstate_sort(&s);
    s.event = strdup("{\"event_id\":\"ev-1\"}");
    return s;
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

static void get_returns_a_copy_of_what_put_stored(void **state)
{
    applied *c = *state;
    wsstate in = record("ws-a", 7), out;
    uint64_t h;

    assert_int_equal(applied_get(c, "ws-a", &out), 0);
    assert_int_equal(applied_put_take(c, 0, &in), 0);
    assert_null(in.workspace_id); /* taken */
    assert_int_equal(applied_get(c, "ws-a", &out), 1);
    assert_int_equal(out.version, 7);
    assert_string_equal(out.event, "{\"event_id\":\"ev-1\"}");
    assert_int_equal(wsstate_find(&out, 9, &h), 1);
    assert_int_equal(h, 90);
    assert_int_equal(wsstate_find(&out, 4, &h), 0);
    wsstate_fini(&out);
    assert_int_equal(applied_get(c, "ws-b", &out), 0);
    assert_int_equal(applied_count(c), 1);
}

static void put_replaces_the_earlier_record(void **state)
{
    applied *c = *state;
    wsstate v1 = record("ws-a", 1), v2 = record("ws-a", 2), out;

    applied_put_take(c, 0, &v1);
    applied_put_take(c, 0, &v2);
    assert_int_equal(applied_count(c), 1);
    assert_int_equal(applied_get(c, "ws-a", &out), 1);
    assert_int_equal(out.version, 2);
    wsstate_fini(&out);
}

/* A failed apply keeps the version (stale decisions stay exact) but no
 * longer vouches for the objects' content. */
static void mark_incomplete_keeps_the_version(void **state)
{
    applied *c = *state;
    wsstate s = record("ws-a", 4), out;

    assert_int_equal(applied_mark_incomplete(c, "ws-a", &out), 0);
    applied_put_take(c, 0, &s);
    assert_int_equal(applied_mark_incomplete(c, "ws-a", &out), 1);
    assert_int_equal(out.complete, 0);
    assert_int_equal(out.version, 4);
    wsstate_fini(&out);
    assert_int_equal(applied_get(c, "ws-a", &out), 1);
    assert_int_equal(out.complete, 0);
    wsstate_fini(&out);
}

/* Before a move's writes the record stays at the old cluster, incomplete,
 * and names the new one as a cluster that may hold the namespaces. */
static void mark_moving_names_the_cluster_written_to(void **state)
{
    applied *c = *state;
    wsstate s = record("ws-a", 4), out;

    s.cluster = strdup("east");
    assert_int_equal(applied_mark_moving(c, "ws-a", "west", &out), 0);
    applied_put_take(c, 0, &s);
    assert_int_equal(applied_mark_moving(c, "ws-a", "west", &out), 1);
    assert_int_equal(out.complete, 0);
    assert_string_equal(out.cluster, "east");
    assert_string_equal(out.moving_from, "west");
    wsstate_fini(&out);
    /* Stored so: a retry or the write of the failed event's record sees it. */
    assert_int_equal(applied_get(c, "ws-a", &out), 1);
    assert_string_equal(out.moving_from, "west");
    wsstate_fini(&out);
    /* Without a cluster it is applied_mark_incomplete. */
    assert_int_equal(applied_mark_moving(c, "ws-a", NULL, &out), 1);
    assert_string_equal(out.moving_from, "west");
    wsstate_fini(&out);
}

/* A revoke drops exactly the records of the revoked partition. */
static void drop_partition_drops_only_its_records(void **state)
{
    applied *c = *state;
    wsstate a = record("ws-a", 1), b = record("ws-b", 1), d = record("ws-d", 1), out;

    applied_put_take(c, 0, &a);
    applied_put_take(c, 1, &b);
    applied_put_take(c, 0, &d);
    assert_int_equal(applied_drop_partition(c, 0), 2);
    assert_int_equal(applied_get(c, "ws-a", &out), 0);
    assert_int_equal(applied_get(c, "ws-b", &out), 1);
    wsstate_fini(&out);
    applied_forget(c, "ws-b");
    applied_forget(c, "ws-never-seen");
    assert_int_equal(applied_count(c), 0);
}

/* A pass over every owned workspace starts from the list of ids. */
static void list_names_every_workspace_once(void **state)
{
    applied *c = *state;
    wsstate a = record("ws-a", 1), b = record("ws-b", 1), a2 = record("ws-a", 2);
    char **ids;
    size_t n;

    applied_put_take(c, 0, &a);
    applied_put_take(c, 1, &b);
    applied_put_take(c, 1, &a2);
    assert_int_equal(applied_list(c, &ids, &n), 0);
    assert_int_equal(n, 2);
    assert_true((strcmp(ids[0], "ws-a") == 0 && strcmp(ids[1], "ws-b") == 0) ||
                (strcmp(ids[0], "ws-b") == 0 && strcmp(ids[1], "ws-a") == 0));
    applied_list_free(ids, n);
    assert_int_equal(applied_list(NULL, &ids, &n), 0);
    assert_int_equal(n, 0);
    applied_list_free(ids, n);
}

static void a_null_store_keeps_nothing(void **state)
{
    wsstate s = record("ws-a", 5), out;

    (void)state;
    assert_int_equal(applied_put_take(NULL, 0, &s), -1);
    assert_null(s.workspace_id); /* taken even so */
    assert_int_equal(applied_get(NULL, "ws-a", &out), 0);
    applied_forget(NULL, "ws-a");
    assert_int_equal(applied_drop_partition(NULL, 0), 0);
    assert_int_equal(applied_count(NULL), 0);
    applied_free(NULL);
}

/* 10,000 workspaces (three domains, three members: 34 objects each, a
 * 600-byte event) stay far below the 64 MB budget; the table grows. */
static void ten_thousand_workspaces_stay_small(void **state)
{
    applied *c = *state;
    char id[32], event[601];

    memset(event, 'x', 600);
    event[600] = '\0';
    for (int i = 0; i < 10000; i++) {
        wsstate s = record("", 1);
        snprintf(id, sizeof(id), "ws-%d", i);
        free(s.workspace_id);
        s.workspace_id = strdup(id);
        free(s.objs);
        s.objs = calloc(34, sizeof(*s.objs));
        for (int k = 0; k < 34; k++)
            s.objs[k] = (wsstate_obj){.id = (uint64_t)k, .hash = (uint64_t)i};
        s.n_objs = 34;
        free(s.event);
        s.event = strdup(event);
        assert_int_equal(applied_put_take(c, i % 4, &s), 0);
    }
    assert_int_equal(applied_count(c), 10000);
    assert_true(applied_bytes(c) < 16 * 1024 * 1024);
    print_message("10,000 records: %zu bytes\n", applied_bytes(c));
}

#define THREADS   4
#define WORKSPACE 200
#define ROUNDS    50

typedef struct worker_arg {
    applied *c;
    int id;
    int wrong; /* records read back that no put could have written */
} worker_arg;

/* Each thread puts, reads, marks and forgets workspaces that the others
 * touch too, as worker threads do with one workspace's events. */
static void *hammer(void *p)
{
    worker_arg *w = p;
    char id[32];

    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < WORKSPACE; i++) {
            snprintf(id, sizeof(id), "ws-%d", i);
            wsstate s = record(id, r), out;
            applied_put_take(w->c, i % 3, &s);
            if (applied_get(w->c, id, &out) &&
                (out.version < 0 || out.version >= ROUNDS || strcmp(out.workspace_id, id) != 0))
                w->wrong++;
            wsstate_fini(&out);
            if ((i + r + w->id) % 5 == 0) {
                applied_mark_incomplete(w->c, id, &out);
                wsstate_fini(&out);
            }
            if ((i + r + w->id) % 7 == 0)
                applied_forget(w->c, id);
            if ((i + r + w->id) % 97 == 0)
                applied_drop_partition(w->c, i % 3);
        }
    }
    return NULL;
}

static void threads_share_one_store(void **state)
{
    applied *c = *state;
    pthread_t t[THREADS];
    worker_arg args[THREADS];

    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){.c = c, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(args[i].wrong, 0);
    }
    assert_true(applied_count(c) <= WORKSPACE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(get_returns_a_copy_of_what_put_stored, fresh, release),
        cmocka_unit_test_setup_teardown(put_replaces_the_earlier_record, fresh, release),
        cmocka_unit_test_setup_teardown(mark_incomplete_keeps_the_version, fresh, release),
        cmocka_unit_test_setup_teardown(mark_moving_names_the_cluster_written_to, fresh, release),
        cmocka_unit_test_setup_teardown(drop_partition_drops_only_its_records, fresh, release),
        cmocka_unit_test_setup_teardown(list_names_every_workspace_once, fresh, release),
        cmocka_unit_test(a_null_store_keeps_nothing),
        cmocka_unit_test_setup_teardown(ten_thousand_workspaces_stay_small, fresh, release),
        cmocka_unit_test_setup_teardown(threads_share_one_store, fresh, release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
