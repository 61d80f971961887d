#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "applied.h"

#define DIGEST_A "0123456789abcdef0123456789abcdef"
#define DIGEST_B "fedcba9876543210fedcba9876543210"

static applied_entry entry(long long version, const char *digest, prov_status status,
                           const char *reason, int project)
{
    applied_entry e;

    memset(&e, 0, sizeof(e));
    e.version = version;
    snprintf(e.digest, sizeof(e.digest), "%s", digest);
    e.status = status;
    snprintf(e.reason, sizeof(e.reason), "%s", reason);
    e.project = project;
    return e;
}

/* Every test gets a cache of its own, created here and freed after it. */
static int fresh(void **state)
{
    *state = applied_new(0);
    return *state ? 0 : -1;
}

static int release(void **state)
{
    applied_free(*state);
    return 0;
}

static void get_returns_what_put_stored(void **state)
{
    applied *c = *state;
    applied_entry in = entry(7, DIGEST_A, PROV_SUCCEEDED, "flyte-removed", 1), out;

    assert_int_equal(applied_get(c, "ws-a", &out), 0);
    applied_put(c, "ws-a", &in);
    assert_int_equal(applied_get(c, "ws-a", &out), 1);
    assert_int_equal(out.version, 7);
    assert_string_equal(out.digest, DIGEST_A);
    assert_int_equal(out.status, PROV_SUCCEEDED);
    assert_string_equal(out.reason, "flyte-removed");
    assert_int_equal(out.project, 1);
    assert_int_equal(applied_get(c, "ws-b", &out), 0);
    assert_int_equal(applied_count(c), 1);
}

/* A later apply of the same workspace replaces the earlier one. */
static void put_replaces_the_earlier_apply(void **state)
{
    applied *c = *state;
    applied_entry v1 = entry(1, DIGEST_A, PROV_SUCCEEDED, "", 1);
    applied_entry v2 = entry(2, DIGEST_B, PROV_SKIPPED, "flyte-not-enabled", 0), out;

    applied_put(c, "ws-a", &v1);
    applied_put(c, "ws-a", &v2);
    assert_int_equal(applied_count(c), 1);
    assert_int_equal(applied_get(c, "ws-a", &out), 1);
    assert_int_equal(out.version, 2);
    assert_string_equal(out.reason, "flyte-not-enabled");
}

/* Forgetting (before a write) leaves no entry, and only that workspace's. */
static void forget_drops_one_workspace(void **state)
{
    applied *c = *state;
    applied_entry e = entry(3, DIGEST_A, PROV_SUCCEEDED, "", 1), out;

    applied_put(c, "ws-a", &e);
    applied_put(c, "ws-b", &e);
    applied_forget(c, "ws-a");
    applied_forget(c, "ws-never-seen");
    assert_int_equal(applied_get(c, "ws-a", &out), 0);
    assert_int_equal(applied_get(c, "ws-b", &out), 1);
    assert_int_equal(applied_count(c), 1);
}

/* The decisions provision_event takes from the cache before any request:
 * older than applied is stale; the same version and digest is a duplicate
 * to confirm; a newer version or another digest takes the full path. */
static void check_decides_stale_and_duplicate(void **state)
{
    applied *c = *state;
    applied_entry e = entry(5, DIGEST_A, PROV_SUCCEEDED, "", 1), prior;

    assert_int_equal(applied_check(c, "ws-a", 5, DIGEST_A, &prior), APPLIED_UNKNOWN);
    applied_put(c, "ws-a", &e);
    assert_int_equal(applied_check(c, "ws-a", 4, DIGEST_A, &prior), APPLIED_STALE);
    assert_int_equal(applied_check(c, "ws-a", 4, DIGEST_B, &prior), APPLIED_STALE);
    memset(&prior, 0, sizeof(prior));
    assert_int_equal(applied_check(c, "ws-a", 5, DIGEST_A, &prior), APPLIED_DUPLICATE);
    assert_int_equal(prior.version, 5);
    assert_int_equal(prior.project, 1);
    assert_int_equal(applied_check(c, "ws-a", 5, DIGEST_B, &prior), APPLIED_UNKNOWN);
    assert_int_equal(applied_check(c, "ws-a", 6, DIGEST_A, &prior), APPLIED_UNKNOWN);
    assert_int_equal(applied_check(c, "ws-b", 1, DIGEST_A, &prior), APPLIED_UNKNOWN);
    applied_forget(c, "ws-a");
    assert_int_equal(applied_check(c, "ws-a", 4, DIGEST_A, &prior), APPLIED_UNKNOWN);
}

/* No cache is an empty one: everything takes the full path. */
static void a_null_cache_keeps_nothing(void **state)
{
    applied_entry e = entry(5, DIGEST_A, PROV_SUCCEEDED, "", 1), out;

    (void)state;
    applied_put(NULL, "ws-a", &e);
    assert_int_equal(applied_get(NULL, "ws-a", &out), 0);
    assert_int_equal(applied_check(NULL, "ws-a", 1, DIGEST_A, &out), APPLIED_UNKNOWN);
    applied_forget(NULL, "ws-a");
    assert_int_equal(applied_count(NULL), 0);
    applied_free(NULL);
}

/* Past its bound the cache starts over rather than grow: a shortcut
 * lost costs requests, never correctness. */
static void entries_stay_bounded(void **state)
{
    applied *c = applied_new(3);
    applied_entry e = entry(1, DIGEST_A, PROV_SUCCEEDED, "", 1), out;

    (void)state;
    assert_non_null(c);
    applied_put(c, "ws-1", &e);
    applied_put(c, "ws-2", &e);
    applied_put(c, "ws-3", &e);
    applied_put(c, "ws-3", &e); /* replacing one is not growing */
    assert_int_equal(applied_count(c), 3);
    applied_put(c, "ws-4", &e);
    assert_true(applied_count(c) <= 3);
    assert_int_equal(applied_get(c, "ws-4", &out), 1);
    applied_free(c);
}

#define THREADS   4
#define WORKSPACE 200
#define ROUNDS    50

typedef struct worker_arg {
    applied *c;
    int id;
    int wrong; /* entries read back that no put could have written */
} worker_arg;

/* Each thread puts, reads, checks and forgets workspaces that the others
 * touch too, as worker threads do with one workspace's events. */
static void *hammer(void *p)
{
    worker_arg *w = p;
    char id[32];

    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < WORKSPACE; i++) {
            applied_entry e = entry(r, (i + w->id) % 2 ? DIGEST_A : DIGEST_B, PROV_SUCCEEDED, "",
                                    1),
                          out;
            snprintf(id, sizeof(id), "ws-%d", i);
            applied_put(w->c, id, &e);
            if (applied_get(w->c, id, &out) &&
                (out.version < 0 || out.version >= ROUNDS ||
                 (strcmp(out.digest, DIGEST_A) && strcmp(out.digest, DIGEST_B))))
                w->wrong++;
            (void)applied_check(w->c, id, r, DIGEST_A, &out);
            if ((i + r + w->id) % 7 == 0)
                applied_forget(w->c, id);
        }
    }
    return NULL;
}

static void threads_share_one_cache(void **state)
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
        cmocka_unit_test_setup_teardown(get_returns_what_put_stored, fresh, release),
        cmocka_unit_test_setup_teardown(put_replaces_the_earlier_apply, fresh, release),
        cmocka_unit_test_setup_teardown(forget_drops_one_workspace, fresh, release),
        cmocka_unit_test_setup_teardown(check_decides_stale_and_duplicate, fresh, release),
        cmocka_unit_test(a_null_cache_keeps_nothing),
        cmocka_unit_test(entries_stay_bounded),
        cmocka_unit_test_setup_teardown(threads_share_one_cache, fresh, release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
