#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jsonskim.h"

/* What the skimmed text must parse to: doc without metadata.managedFields
 * at any depth, done on the parsed values. */
static void drop_managed_fields(json_t *v)
{
    const char *k;
    json_t *m;
    size_t i;

    if (json_is_array(v))
        json_array_foreach(v, i, m) drop_managed_fields(m);
    if (!json_is_object(v))
        return;
    m = json_object_get(v, "metadata");
    if (json_is_object(m))
        json_object_del(m, "managedFields");
    json_object_foreach(v, k, m) drop_managed_fields(m);
}

/* Skims text and checks it parses to the original minus the members. */
static void assert_skims(const char *text)
{
    size_t len = 0;
    char *out = jsonskim_without(text, strlen(text), "metadata", "managedFields", &len);
    json_t *want = json_loads(text, 0, NULL), *got;

    assert_non_null(want);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    got = json_loads(out, 0, NULL);
    if (got == NULL)
        fail_msg("skimmed text does not parse: %s", out);
    drop_managed_fields(want);
    if (!json_equal(got, want)) {
        char *a = json_dumps(got, JSON_COMPACT), *b = json_dumps(want, JSON_COMPACT);
        fail_msg("skimmed %s\n   got %s\n  want %s", text, a, b);
    }
    json_decref(want);
    json_decref(got);
    free(out);
}

static void drops_managed_fields_of_an_object_and_of_every_list_item(void **state)
{
    (void)state;
    assert_skims("{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"ws-a-development\",\"labels\":"
                 "{\"app.kubernetes.io/managed-by\":\"wsflyte\"},\"managedFields\":[{\"manager\":"
                 "\"wsflyte\",\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:a\":{}}}}}]},"
                 "\"status\":{\"phase\":\"Active\"}}");
    assert_skims(
        "{\"kind\":\"RoleBindingList\",\"metadata\":{\"resourceVersion\":\"7\"},\"items\":["
        "{\"metadata\":{\"managedFields\":[{\"f:x\":{}}],\"name\":\"a\",\"uid\":\"1\"}},"
        "{\"metadata\":{\"name\":\"b\",\"managedFields\":[],\"uid\":\"2\"}},"
        "{\"metadata\":{\"name\":\"c\",\"managedFields\":null}},"
        "{\"metadata\":{\"managedFields\":[1,2]}}]}");
    /* Pretty-printed, as kubectl proxies may answer. */
    assert_skims("{\n  \"metadata\" : {\n    \"name\" : \"a\" ,\n    \"managedFields\" : [ { } ]\n"
                 "  } ,\n  \"spec\" : [ 1 , true , null , -2.5e3 ]\n}\n");
}

/* Only metadata's own member goes: a label, an annotation or a spec field
 * of that name stays, and so does text that merely looks like one. */
static void keeps_look_alikes(void **state)
{
    (void)state;
    assert_skims("{\"metadata\":{\"labels\":{\"managedFields\":\"x\"},\"annotations\":{\"note\":"
                 "\"\\\"managedFields\\\":[1]\"}},\"spec\":{\"managedFields\":[2]}}");
    assert_skims(
        "{\"metadata\":[{\"managedFields\":1}],\"x\":\"metadata\",\"y\":{\"managedFields\":1}}");
    assert_skims("{\"metadata\":{\"a\":\"}]{[\\\\\",\"managedFields\":[{\"x\":\"]}\\\"\"}],\"b\":"
                 "\"\\u0041\"}}");
    /* An escaped key is compared as written: kept, and still correct. */
    {
        const char *t = "{\"metadata\":{\"managed\\u0046ields\":[],\"n\":1}}";
        char *out = jsonskim_without(t, strlen(t), "metadata", "managedFields", NULL);
        assert_non_null(out);
        assert_string_equal(out, t);
        free(out);
    }
}

static void refuses_what_does_not_scan(void **state)
{
    static const char *bad[] = {
        "{\"metadata\":{\"managedFields\":[}}",  "{\"a\":\"unterminated}", "{\"a\":[1}", "]",
        "{\"metadata\":{\"managedFields\":[1,2",
    };
    char deep[600];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(jsonskim_without(bad[i], strlen(bad[i]), "metadata", "managedFields", NULL));
    memset(deep, '[', 300);
    memset(deep + 300, ']', 300);
    assert_null(jsonskim_without(deep, sizeof(deep), "metadata", "managedFields", NULL));
}

/* Random documents with metadata and managedFields in random places,
 * written compact and indented. */
static json_t *random_doc(unsigned *seed, int depth)
{
    static const char *keys[] = {
        "metadata", "managedFields",    "name", "items", "x\"y", "}", "", "uid", "phase",
        "status",   "deletionTimestamp"};
    int kind = rand_r(seed) % (depth > 5 ? 3 : 6);

    switch (kind) {
    case 0:
        return json_string(keys[rand_r(seed) % 7]);
    case 1:
        return json_integer(rand_r(seed) % 100 - 50);
    case 2:
        return rand_r(seed) % 2 ? json_true() : json_null();
    case 3: {
        json_t *a = json_array();
        for (int i = rand_r(seed) % 4; i > 0; i--)
            json_array_append_new(a, random_doc(seed, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = rand_r(seed) % 5; i > 0; i--)
            json_object_set_new(o, keys[rand_r(seed) % 11], random_doc(seed, depth + 1));
        return o;
    }
    }
}

static void skims_random_documents(void **state)
{
    unsigned seed = 1205;

    (void)state;
    for (int n = 0; n < 3000; n++) {
        json_t *doc = json_pack("{s:o}", "metadata", random_doc(&seed, 0));
        json_object_set_new(doc, "items", random_doc(&seed, 0));
        char *text = json_dumps(doc, n % 2 ? JSON_INDENT(1) : JSON_COMPACT);
        assert_skims(text);
        free(text);
        json_decref(doc);
    }
}

/* ---- only some members ---- */

static const char *const state_paths[] = {"metadata.uid", "metadata.deletionTimestamp",
                                          "status.phase"};

/* What the whole text holds at the kept paths, as one document. */
static json_t *at_paths(const json_t *whole)
{
    json_t *out = json_object();

    for (size_t i = 0; i < 3; i++) {
        char parent[32];
        const char *dot = strchr(state_paths[i], '.');
        json_t *p, *v;
        snprintf(parent, sizeof(parent), "%.*s", (int)(dot - state_paths[i]), state_paths[i]);
        if ((p = json_object_get(whole, parent)) == NULL)
            continue;
        if (!json_is_object(p)) {
            json_object_set(out, parent, p);
            continue;
        }
        if (json_object_get(out, parent) == NULL)
            json_object_set_new(out, parent, json_object());
        if ((v = json_object_get(p, dot + 1)) != NULL)
            json_object_set(json_object_get(out, parent), dot + 1, v);
    }
    return out;
}

/* The kept text parses to what the whole text holds at the paths. */
static void assert_keeps_state(const char *text)
{
    json_t *whole = json_loads(text, 0, NULL), *want, *got;
    size_t len = 0;
    char *kept = jsonskim_only(text, strlen(text), state_paths, 3, &len);

    assert_non_null(whole);
    assert_non_null(kept);
    assert_int_equal(len, strlen(kept));
    assert_true(len <= strlen(text));
    got = json_loads(kept, 0, NULL);
    assert_non_null(got);
    want = at_paths(whole);
    assert_true(json_equal(got, want));
    free(kept);
    json_decref(got);
    json_decref(want);
    json_decref(whole);
}

static void keeps_only_the_named_members(void **state)
{
    static const char *texts[] = {
        "{\"kind\":\"Namespace\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"ws-a-dev\","
        "\"uid\":\"81c6\",\"resourceVersion\":\"10\",\"labels\":{\"a\":\"}\"},"
        "\"managedFields\":[{\"manager\":\"wsflyte\",\"fieldsV1\":{\"f:metadata\":{}}}]},"
        "\"spec\":{\"finalizers\":[\"kubernetes\"]},\"status\":{\"phase\":\"Active\"}}",
        "{\n  \"metadata\" : {\"deletionTimestamp\" : \"2026-12-07T22:10:27Z\" , "
        "\"uid\":\"x\\\"y\"},\n"
        "  \"status\": {\"phase\": \"Terminating\", \"conditions\": [{\"type\": \"{[\"}]}\n}\n",
        "{\"status\":{},\"metadata\":null}",
        "{\"metadata\":\"text\",\"status\":[1,2]}",
        "{\"metadata\":{\"uid\":\"a\",\"uid\":\"b\"},\"metadata\":{\"name\":\"n\",\"uid\":7}}",
        "{}",
        "{\"uid\":\"top\",\"spec\":{\"uid\":\"no\"},\"metadata\":{\"uidx\":1,\"uid\":[{\"uid\":2}]}"
        "}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        assert_keeps_state(texts[i]);
}

static void keeps_nothing_of_what_does_not_scan(void **state)
{
    static const char *bad[] = {
        "",           "[1]",        "\"x\"",       "{\"a\":1",
        "{\"a\" 1}",  "{\"a\":1}}", "{\"a\":\"1}", "{\"metadata\":{\"uid\":1}",
        "{\"a\":1,}x"};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(jsonskim_only(bad[i], strlen(bad[i]), state_paths, 3, NULL));
}

static void keeps_the_state_of_random_documents(void **state)
{
    unsigned seed = 1207;

    (void)state;
    for (int n = 0; n < 3000; n++) {
        json_t *doc = json_pack("{s:o}", "metadata", random_doc(&seed, 0));
        json_object_set_new(doc, "status", random_doc(&seed, 0));
        json_object_set_new(doc, "uid", random_doc(&seed, 0));
        char *text = json_dumps(doc, n % 2 ? JSON_INDENT(1) : JSON_COMPACT);
        assert_keeps_state(text);
        free(text);
        json_decref(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(drops_managed_fields_of_an_object_and_of_every_list_item),
        cmocka_unit_test(keeps_look_alikes),
        cmocka_unit_test(refuses_what_does_not_scan),
        cmocka_unit_test(skims_random_documents),
        cmocka_unit_test(keeps_only_the_named_members),
        cmocka_unit_test(keeps_nothing_of_what_does_not_scan),
        cmocka_unit_test(keeps_the_state_of_random_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
