#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "applied.h"
#include "config.h"
#include "desired.h"
#include "drift.h"
#include "event.h"
#include "plan.h"

#define MAX_REPORTS 64

/* What drift reported, in order. */
typedef struct reports {
    char ws[MAX_REPORTS][64];
    uint64_t id[MAX_REPORTS];
    json_t *seen[MAX_REPORTS]; /* owned */
    size_t n;
    uint64_t matched[MAX_REPORTS];
    size_t n_matched;
} reports;

typedef struct fixture {
    wf_config cfg;
    applied *store;
    desired d; /* the seed event rendered: what the record describes */
    drift *dr;
    reports got;
} fixture;

static void on_hand_off(void *ud, const char *ws, uint64_t id, json_t *seen)
{
    reports *r = ud;

    assert_true(r->n < MAX_REPORTS);
    snprintf(r->ws[r->n], sizeof(r->ws[r->n]), "%s", ws);
    r->id[r->n] = id;
    r->seen[r->n++] = seen;
}

static void on_matches(void *ud, const char *ws, uint64_t id, const json_t *seen)
{
    reports *r = ud;

    (void)ws;
    assert_non_null(seen);
    assert_true(r->n_matched < MAX_REPORTS);
    r->matched[r->n_matched++] = id;
}

/* Stores the record an apply of the seed event leaves (partition 0). */
static void store_seed_record(fixture *f)
{
    char path[512], line[4096];
    json_t *doc;
    ws_event ev;
    wsstate rec;
    wf_err err;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/events/seed.jsonl", WSFLYTE_TEST_DATA);
    assert_non_null(fp = fopen(path, "r"));
    assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    assert_non_null(doc = json_loads(line, 0, NULL));
    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(doc, &ev, &err), 0);
    json_decref(doc);
    assert_int_equal(desired_build(&f->cfg, &ev, &f->d, &err), 0);
    assert_true(f->d.flyte_wanted);
    assert_int_equal(plan_hashes(&f->d, &rec, &err), 0);
    rec.workspace_id = strdup(f->d.project_id);
    rec.event_id = strdup(ev.event_id);
    rec.version = ev.workspace_version;
    rec.flyte = rec.complete = rec.project = 1;
    assert_non_null(doc = ws_event_to_json(&ev));
    rec.event = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    ws_event_fini(&ev);
    assert_int_equal(applied_put_take(f->store, 0, &rec), 0);
    wsstate_fini(&rec);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    drift_opts o;
    wf_err err;

    assert_non_null(f);
    wf_config_defaults(&f->cfg);
    assert_non_null(f->store = applied_new());
    store_seed_record(f);
    o = (drift_opts){.cfg = &f->cfg,
                     .store = f->store,
                     .report = {.hand_off = on_hand_off, .matches = on_matches, .ud = &f->got}};
    wf_err_init(&err);
    assert_non_null(f->dr = drift_new(&o, &err));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    drift_free(f->dr);
    for (size_t i = 0; i < f->got.n; i++)
        json_decref(f->got.seen[i]);
    desired_fini(&f->d);
    applied_free(f->store);
    wf_config_fini(&f->cfg);
    free(f);
    return 0;
}

/* The rendered manifest of the given kind in the first domain. */
static const json_t *rendered(const fixture *f, const char *kind)
{
    const json_t *obj;
    size_t i;

    json_array_foreach(f->d.domains[0].objects, i, obj)
    {
        if (strcmp(json_string_value(json_object_get(obj, "kind")), kind) == 0)
            return obj;
    }
    fail_msg("no %s rendered", kind);
    return NULL;
}

/* m as a LIST item carries it (no apiVersion, no kind), and its kind. */
static json_t *as_listed(const json_t *m, kwatch_kind *kind)
{
    json_t *item = json_deep_copy(m);

    kind->api_version = json_string_value(json_object_get(m, "apiVersion"));
    kind->kind = json_string_value(json_object_get(m, "kind"));
    json_object_del(item, "apiVersion");
    json_object_del(item, "kind");
    return item;
}

static size_t rendered_count(const fixture *f)
{
    size_t n = json_array_size(f->d.cluster_objects);

    for (size_t i = 0; i < f->d.n_domains; i++)
        n += json_array_size(f->d.domains[i].objects);
    return n;
}

static void every_kind(fixture *f, kwatch_event_type type)
{
    size_t n;
    const kwatch_kind *kinds = drift_kinds(f->dr, &n);

    for (size_t i = 0; i < n; i++)
        drift_on_watch(f->dr, type, &kinds[i], NULL);
}

static void an_object_as_rendered_matches(void **state)
{
    fixture *f = *state;
    const json_t *want = rendered(f, "ResourceQuota");
    kwatch_kind kind;
    json_t *item = as_listed(want, &kind);

    drift_on_watch(f->dr, KWATCH_SYNC, &kind, item);
    assert_int_equal(f->got.n, 0);
    assert_int_equal(f->got.n_matched, 1);
    assert_true(f->got.matched[0] == plan_manifest_id(want));
    json_decref(item);
}

static void a_changed_object_is_handed_off_with_its_copy(void **state)
{
    fixture *f = *state;
    const json_t *want = rendered(f, "ResourceQuota");
    kwatch_kind kind;
    json_t *item = as_listed(want, &kind);

    json_object_set_new(json_object_get(json_object_get(item, "spec"), "hard"), "pods",
                        json_string("999"));
    drift_on_watch(f->dr, KWATCH_MODIFIED, &kind, item);
    assert_int_equal(f->got.n_matched, 0);
    assert_int_equal(f->got.n, 1);
    assert_string_equal(f->got.ws[0], f->d.project_id);
    assert_true(f->got.id[0] == plan_manifest_id(want));
    /* The copy handed off is whole (kind restored) and the watch's own is
     * left as it was. */
    assert_non_null(f->got.seen[0]);
    assert_string_equal(json_string_value(json_object_get(f->got.seen[0], "kind")),
                        "ResourceQuota");
    assert_null(json_object_get(item, "kind"));
    json_decref(item);
}

static void a_deleted_object_is_handed_off_as_gone(void **state)
{
    fixture *f = *state;
    const json_t *want = rendered(f, "NetworkPolicy");
    kwatch_kind kind;
    json_t *item = as_listed(want, &kind);

    drift_on_watch(f->dr, KWATCH_DELETED, &kind, item);
    assert_int_equal(f->got.n, 1);
    assert_true(f->got.id[0] == plan_manifest_id(want));
    assert_null(f->got.seen[0]);
    json_decref(item);
}

/* The workspace label is only a hint: a workspace without a record here,
 * or a name its record does not list, is never reported. */
static void objects_the_records_do_not_list_are_ignored(void **state)
{
    fixture *f = *state;
    kwatch_kind kind;
    json_t *other = as_listed(rendered(f, "ResourceQuota"), &kind);
    json_t *renamed = as_listed(rendered(f, "ResourceQuota"), &kind);
    json_t *labels = json_object_get(json_object_get(other, "metadata"), "labels");

    json_object_set_new(labels, LABEL_WORKSPACE, json_string("ws-owned-elsewhere"));
    json_object_set_new(json_object_get(renamed, "metadata"), "name", json_string("not-rendered"));
    drift_on_watch(f->dr, KWATCH_DELETED, &kind, other);
    drift_on_watch(f->dr, KWATCH_MODIFIED, &kind, renamed);
    drift_on_watch(f->dr, KWATCH_DELETED, &kind, renamed);
    assert_int_equal(f->got.n, 0);
    assert_int_equal(f->got.n_matched, 0);
    json_decref(other);
    json_decref(renamed);
}

/* After every kind listed, the one recorded object no list held is
 * missing; the record's Flyte identities are no Kubernetes objects. */
static void after_every_list_an_unlisted_object_is_missing(void **state)
{
    fixture *f = *state;
    const json_t *gone = rendered(f, "LimitRange"), *obj;
    size_t n_objs = 0;

    every_kind(f, KWATCH_RELIST);
    for (size_t i = 0; i <= f->d.n_domains; i++) {
        json_t *objs = i < f->d.n_domains ? f->d.domains[i].objects : f->d.cluster_objects;
        size_t j;
        json_array_foreach(objs, j, obj)
        {
            kwatch_kind kind;
            json_t *item;
            if (obj == gone)
                continue;
            item = as_listed(obj, &kind);
            drift_on_watch(f->dr, KWATCH_SYNC, &kind, item);
            json_decref(item);
            n_objs++;
        }
    }
    assert_int_equal(f->got.n_matched, n_objs);
    assert_int_equal(f->got.n, 0);
    every_kind(f, KWATCH_SYNCED);
    assert_int_equal(f->got.n, 1);
    assert_string_equal(f->got.ws[0], f->d.project_id);
    assert_true(f->got.id[0] == plan_manifest_id(gone));
    assert_null(f->got.seen[0]);
}

/* Until every kind has listed, nothing counts as missing. */
static void nothing_is_missing_before_every_kind_listed(void **state)
{
    fixture *f = *state;
    size_t n;
    const kwatch_kind *kinds = drift_kinds(f->dr, &n);

    every_kind(f, KWATCH_RELIST);
    for (size_t i = 0; i + 1 < n; i++)
        drift_on_watch(f->dr, KWATCH_SYNCED, &kinds[i], NULL);
    assert_int_equal(f->got.n, 0);
    drift_on_watch(f->dr, KWATCH_SYNCED, &kinds[n - 1], NULL);
    /* Nothing was listed: every rendered Kubernetes object is missing. */
    assert_int_equal(f->got.n, rendered_count(f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(an_object_as_rendered_matches, setup, teardown),
        cmocka_unit_test_setup_teardown(a_changed_object_is_handed_off_with_its_copy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_deleted_object_is_handed_off_as_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(objects_the_records_do_not_list_are_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(after_every_list_an_unlisted_object_is_missing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(nothing_is_missing_before_every_kind_listed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
