#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "desired.h"
#include "event.h"
#include "wsstate.h"
#include "wsstatus.h"

typedef struct fixture {
    wf_config cfg;
    ws_event ev; /* the seed's ws-ml-prod-001 */
    desired d;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char path[512], line[4096];
    FILE *fp;
    json_t *doc;
    wf_err err;

    wf_err_init(&err);
    wf_config_defaults(&f->cfg);
    snprintf(path, sizeof(path), "%s/events/seed.jsonl", WSFLYTE_TEST_DATA);
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    doc = json_loads(line, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(ws_event_from_json(doc, &f->ev, &err), 0);
    json_decref(doc);
    assert_int_equal(desired_build(&f->cfg, &f->ev, &f->d, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    desired_fini(&f->d);
    ws_event_fini(&f->ev);
    wf_config_fini(&f->cfg);
    free(f);
    return 0;
}

static wsstate rec(long long version, int complete)
{
    wsstate s;
    wsstate_init(&s);
    s.version = version;
    s.complete = complete;
    return s;
}

static void pick_takes_the_highest_version(void **state)
{
    wsstate three[] = {rec(3, 1), rec(5, 1), rec(4, 1)};
    (void)state;
    assert_int_equal(wsstatus_pick(three, 3), 1);
    assert_int_equal(wsstatus_pick(three, 0), -1);
}

static void pick_prefers_an_incomplete_record_of_the_same_version(void **state)
{
    wsstate a[] = {rec(5, 1), rec(5, 0), rec(5, 1)};
    wsstate b[] = {rec(5, 0), rec(5, 1)};
    wsstate c[] = {rec(5, 1), rec(5, 1)};
    (void)state;
    assert_int_equal(wsstatus_pick(a, 3), 1);
    assert_int_equal(wsstatus_pick(b, 2), 0);
    assert_int_equal(wsstatus_pick(c, 2), 0); /* the first given */
}

static void time_is_utc_with_milliseconds(void **state)
{
    char buf[32];
    (void)state;
    wsstatus_time(1764316800001LL, buf, sizeof(buf));
    assert_string_equal(buf, "2025-11-28T08:00:00.001Z");
    wsstatus_time(-1, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
}

static void identities_are_the_handlers(void **state)
{
    const char *project = "flyte-project\n\n\n\n", *attrs = "flyte-attributes\nstaging\n\n\n";
    const char *ns = "k8s\nv1\nNamespace\n\nws-a-staging";
    json_t *m = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                          "metadata", "name", "ws-a-staging");
    (void)state;
    assert_true(wsstatus_project_id() == wsstate_hash(project, strlen(project)));
    assert_true(wsstatus_attributes_id("staging") == wsstate_hash(attrs, strlen(attrs)));
    assert_true(wsstatus_object_id(m) == wsstate_hash(ns, strlen(ns)));
    json_decref(m);
}

typedef struct recorder {
    wsstate *s;
    size_t cap;
} recorder;

/* Records every walked object as the handler would: identity, content. */
static int record_object(void *ud, size_t index, const char *kind, const char *domain,
                         const json_t *obj)
{
    recorder *r = ud;
    uint64_t id = json_object_get(obj, "apiVersion")  ? wsstatus_object_id(obj)
                  : strcmp(kind, "FlyteProject") == 0 ? wsstatus_project_id()
                                                      : wsstatus_attributes_id(domain);
    assert_int_equal(index, r->s->n_objs);
    assert_true(r->s->n_objs < r->cap);
    r->s->objs[r->s->n_objs++] = (wsstate_obj){id, wsstate_hash_json(obj)};
    return 0;
}

static wsstate record_of(const desired *d, size_t extra)
{
    recorder r;
    wsstate s;

    wsstate_init(&s);
    s.workspace_id = strdup("ws-ml-prod-001");
    s.event_id = strdup("5b0c7a1e-8f0e-4d5e-9a51-0c2f6d1a0001");
    s.version = 1;
    s.flyte = s.complete = s.project = 1;
    r.cap = 256;
    r.s = &s;
    s.objs = calloc(r.cap, sizeof(*s.objs));
    assert_int_equal(wsstatus_each(d, record_object, &r), 0);
    for (size_t i = 0; i < extra; i++)
        s.objs[s.n_objs++] = (wsstate_obj){0x1234 + i, 7};
    wsstate_sort(&s);
    return s;
}

static const json_t *find(const json_t *objects, const char *kind, const char *ns, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(objects, i, o)
    {
        const char *ons = json_string_value(json_object_get(o, "namespace"));
        if (strcmp(json_string_value(json_object_get(o, "kind")), kind) == 0 &&
            strcmp(json_string_value(json_object_get(o, "name")), name) == 0 &&
            ((ns == NULL && ons == NULL) || (ns && ons && strcmp(ns, ons) == 0)))
            return o;
    }
    return NULL;
}

static void describe_pairs_every_object_with_its_hashes(void **state)
{
    fixture *f = *state;
    wsstate s = record_of(&f->d, 1);
    json_t *d = wsstatus_describe(&s, &f->ev, &f->d, NULL), *objects, *o;
    size_t i;

    assert_non_null(d);
    objects = json_object_get(d, "objects");
    assert_int_equal(json_array_size(objects), s.n_objs - 1);
    assert_int_equal(json_integer_value(json_object_get(d, "unnamed_objects")), 1);
    json_array_foreach(objects, i, o)
    {
        assert_non_null(json_string_value(json_object_get(o, "content")));
        assert_true(json_is_true(json_object_get(o, "rendered_matches")));
    }
    assert_non_null(find(objects, "FlyteProject", NULL, "ws-ml-prod-001"));
    assert_non_null(find(objects, "ProjectDomainAttributes", "ws-ml-prod-001", "staging"));
    assert_non_null(find(objects, "Namespace", NULL, f->d.domains[0].namespace_name));
    assert_string_equal(json_string_value(json_object_get(d, "event_type")), "WORKSPACE_CREATED");
    assert_string_equal(json_string_value(json_object_get(d, "project")), "ws-ml-prod-001");
    assert_int_equal(json_array_size(json_object_get(d, "namespaces")), f->d.n_domains);
    json_decref(d);
    wsstate_fini(&s);
}

static void describe_gives_members_and_their_domains(void **state)
{
    fixture *f = *state;
    wsstate s = record_of(&f->d, 0);
    json_t *d = wsstatus_describe(&s, &f->ev, &f->d, NULL), *m;
    size_t i, seen = 0;

    assert_non_null(d);
    json_array_foreach(json_object_get(d, "members"), i, m)
    {
        const char *user = json_string_value(json_object_get(m, "user_id"));
        const json_t *doms = json_object_get(m, "domains");
        if (strcmp(user, "bob") == 0) { /* a contributor never reaches production */
            seen++;
            assert_string_equal(json_string_value(json_object_get(m, "role")), "CONTRIBUTOR");
            assert_int_equal(json_array_size(doms), 2);
        } else if (strcmp(user, "alice") == 0) {
            seen++;
            assert_int_equal(json_array_size(doms), 3);
        }
    }
    assert_int_equal(seen, 2);
    json_decref(d);
    wsstate_fini(&s);
}

static void describe_without_a_rendering_says_why(void **state)
{
    wsstate s = rec(4, 0);
    json_t *d;
    (void)state;
    s.workspace_id = strdup("ws-b");
    d = wsstatus_describe(&s, NULL, NULL, "no readable event");
    assert_non_null(d);
    assert_int_equal(json_array_size(json_object_get(d, "objects")), 0);
    assert_true(json_is_null(json_object_get(d, "event_type")));
    assert_true(json_is_false(json_object_get(d, "complete")));
    assert_string_equal(json_string_value(json_object_get(d, "render_error")), "no readable event");
    json_decref(d);
    wsstate_fini(&s);
}

static int stop_at_third(void *ud, size_t index, const char *kind, const char *domain,
                         const json_t *obj)
{
    (void)kind;
    (void)domain;
    (void)obj;
    (*(size_t *)ud)++;
    return index == 2 ? 7 : 0;
}

static void each_stops_at_the_first_nonzero_answer(void **state)
{
    fixture *f = *state;
    size_t calls = 0;
    assert_int_equal(wsstatus_each(&f->d, stop_at_third, &calls), 7);
    assert_int_equal(calls, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pick_takes_the_highest_version),
        cmocka_unit_test(pick_prefers_an_incomplete_record_of_the_same_version),
        cmocka_unit_test(time_is_utc_with_milliseconds),
        cmocka_unit_test(identities_are_the_handlers),
        cmocka_unit_test_setup_teardown(describe_pairs_every_object_with_its_hashes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(describe_gives_members_and_their_domains, setup, teardown),
        cmocka_unit_test(describe_without_a_rendering_says_why),
        cmocka_unit_test_setup_teardown(each_stops_at_the_first_nonzero_answer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
