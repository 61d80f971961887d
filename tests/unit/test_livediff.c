#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "livediff.h"

/* The changes livediff reports for want over live, joined by '\n' (""
 * when none); the caller frees.  manager NULL: a FlyteAdmin PUT. */
static char *diff(const char *want_text, const char *live_text, const char *manager, int apply)
{
    json_t *want = json_loads(want_text, 0, NULL), *live = json_loads(live_text, 0, NULL);
    json_t *changes = json_array(), *c;
    size_t i, len = 1;
    char *out;
    int n;

    assert_non_null(want);
    assert_non_null(live);
    n = apply ? livediff_apply(want, live, manager, changes)
              : livediff_replace(want, live, changes);
    assert_int_equal(n, (int)json_array_size(changes));
    json_array_foreach(changes, i, c) len += strlen(json_string_value(c)) + 1;
    out = calloc(1, len);
    assert_non_null(out);
    json_array_foreach(changes, i, c)
    {
        if (i)
            strcat(out, "\n");
        strcat(out, json_string_value(c));
    }
    json_decref(changes);
    json_decref(want);
    json_decref(live);
    return out;
}

static void assert_diff(const char *want, const char *live, const char *manager, int apply,
                        const char *expected)
{
    char *got = diff(want, live, manager, apply);
    assert_string_equal(got, expected);
    free(got);
}

#define APPLY(want, live, expected)   assert_diff(want, live, "wsflyte", 1, expected)
#define REPLACE(want, live, expected) assert_diff(want, live, NULL, 0, expected)

/* What the API server adds (uid, resourceVersion, status, other
 * managers' labels, defaulted fields) is not a difference. */
static void apply_ignores_fields_only_the_server_holds(void **state)
{
    (void)state;
    APPLY(
        "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"ws-a-dev\","
        "\"labels\":{\"wsflyte.io/workspace\":\"ws-a\"}}}",
        "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"ws-a-dev\","
        "\"uid\":\"u-1\",\"resourceVersion\":\"42\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\","
        "\"labels\":{\"wsflyte.io/workspace\":\"ws-a\",\"kubernetes.io/metadata.name\":"
        "\"ws-a-dev\"}},\"spec\":{\"finalizers\":[\"kubernetes\"]},\"status\":{\"phase\":"
        "\"Active\"}}",
        "");
}

static void apply_reports_nested_map_changes_by_path(void **state)
{
    (void)state;
    APPLY("{\"metadata\":{\"labels\":{\"team\":\"b\",\"wsflyte.io/workspace\":\"ws-a\"},"
          "\"annotations\":{\"wsflyte.io/workspace-version\":\"4\"}}}",
          "{\"metadata\":{\"labels\":{\"team\":\"a\",\"wsflyte.io/workspace\":\"ws-a\"}}}",
          "metadata.labels.team: \"a\" -> \"b\"\n"
          "metadata.annotations: (absent) -> {\"wsflyte.io/workspace-version\":\"4\"}");
}

/* A list is atomic: a new length is one change; same length compares the
 * elements, where a defaulted field (protocol) is no difference. */
static void apply_compares_lists_atomically(void **state)
{
    (void)state;
    APPLY("{\"subjects\":[{\"kind\":\"User\",\"name\":\"bob\"}]}",
          "{\"subjects\":[{\"kind\":\"User\",\"name\":\"alice\",\"apiGroup\":\"rbac.authorization."
          "k8s.io\"}]}",
          "subjects[0].name: \"alice\" -> \"bob\"");
    APPLY("{\"subjects\":[{\"name\":\"a\"},{\"name\":\"b\"}]}", "{\"subjects\":[{\"name\":\"a\"}]}",
          "subjects: [{\"name\":\"a\"}] -> [{\"name\":\"a\"},{\"name\":\"b\"}]");
    APPLY("{\"spec\":{\"egress\":[{\"ports\":[{\"port\":443}]}]}}",
          "{\"spec\":{\"egress\":[{\"ports\":[{\"port\":443,\"protocol\":\"TCP\"}]}]}}", "");
}

static void apply_reports_type_changes(void **state)
{
    (void)state;
    APPLY("{\"data\":{\"n\":\"1\"},\"spec\":{\"replicas\":2,\"paused\":true}}",
          "{\"data\":{\"n\":1},\"spec\":{\"replicas\":2.0,\"paused\":\"true\"}}",
          "data.n: 1 -> \"1\"\nspec.paused: \"true\" -> true");
}

/* The API server stores quantities canonical; only resource maps under
 * spec compare by amount. */
static void apply_compares_quantities_by_amount(void **state)
{
    (void)state;
    APPLY("{\"spec\":{\"hard\":{\"limits.cpu\":\"1000m\",\"requests.memory\":\"1Gi\","
          "\"pods\":\"10\"}}}",
          "{\"spec\":{\"hard\":{\"limits.cpu\":\"1\",\"requests.memory\":\"1024Mi\","
          "\"pods\":\"11\"}}}",
          "spec.hard.pods: \"11\" -> \"10\"");
    APPLY("{\"metadata\":{\"labels\":{\"size\":\"1000m\"}}}",
          "{\"metadata\":{\"labels\":{\"size\":\"1\"}}}",
          "metadata.labels.size: \"1\" -> \"1000m\"");
    assert_true(livediff_same_quantity("0.5", "500m"));
    assert_true(livediff_same_quantity("1.5Gi", "1536Mi"));
    assert_true(livediff_same_quantity("2e3", "2k"));
    assert_false(livediff_same_quantity("1Gi", "1G"));
    assert_false(livediff_same_quantity("abc", "abc2"));
}

/* A label only wsflyte's apply set, now gone from the manifest, is removed
 * by the apply; one another manager owns too stays. */
static void apply_reports_removals_from_managed_fields(void **state)
{
    (void)state;
    APPLY("{\"metadata\":{\"labels\":{\"keep\":\"1\"}}}",
          "{\"metadata\":{\"labels\":{\"keep\":\"1\",\"team\":\"a\",\"shared\":\"x\",\"theirs\":"
          "\"y\"},\"managedFields\":["
          "{\"manager\":\"wsflyte\",\"operation\":\"Apply\",\"fieldsV1\":{\"f:metadata\":{"
          "\"f:labels\":{\".\":{},\"f:keep\":{},\"f:team\":{},\"f:shared\":{}}}}},"
          "{\"manager\":\"kubectl\",\"operation\":\"Update\",\"fieldsV1\":{\"f:metadata\":{"
          "\"f:labels\":{\"f:shared\":{},\"f:theirs\":{}}}}}]}}",
          "metadata.labels.team: \"a\" -> (absent)");
    /* Another manager's Apply entry is not ours. */
    assert_diff("{\"metadata\":{}}",
                "{\"metadata\":{\"labels\":{\"team\":\"a\"},\"managedFields\":[{\"manager\":"
                "\"other\",\"operation\":\"Apply\",\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{"
                "\"f:team\":{}}}}}]}}",
                "wsflyte", 1, "");
}

/* The authz matrix is JSON inside a ConfigMap string: compared inside,
 * as a whole document (a member gone is a difference). */
static void apply_compares_embedded_json_documents(void **state)
{
    (void)state;
    APPLY("{\"data\":{\"workspace.json\":\"{\\\"members\\\":{\\\"bob\\\":{\\\"role\\\":"
          "\\\"OWNER\\\"}},\\\"v\\\":2}\"}}",
          "{\"data\":{\"workspace.json\":\"{\\\"members\\\":{\\\"alice\\\":{\\\"role\\\":"
          "\\\"OWNER\\\"}},\\\"v\\\":1}\"}}",
          "data[\"workspace.json\"].members.bob: (absent) -> {\"role\":\"OWNER\"}\n"
          "data[\"workspace.json\"].members.alice: {\"role\":\"OWNER\"} -> (absent)\n"
          "data[\"workspace.json\"].v: 1 -> 2");
}

/* FlyteAdmin's answer prints unset fields (null, "", 0, false); a field
 * really set there that the PUT does not send is lost. */
static void replace_ignores_unset_fields_but_not_set_ones(void **state)
{
    (void)state;
    REPLACE(
        "{\"project\":\"p\",\"matching_attributes\":{\"workflow_execution_config\":{"
        "\"labels\":{\"values\":{\"a\":\"1\"}}}}}",
        "{\"project\":\"p\",\"org\":\"\",\"matching_attributes\":{\"workflow_execution_config\":"
        "{\"labels\":{\"values\":{\"a\":\"1\"}},\"max_parallelism\":0,\"annotations\":null,"
        "\"interruptible\":false,\"security_context\":{\"secrets\":[],\"run_as\":null}}}}",
        "");
    REPLACE("{\"labels\":{\"values\":{\"a\":\"1\"}}}",
            "{\"labels\":{\"values\":{\"a\":\"2\",\"b\":\"x\"}},\"max_parallelism\":25}",
            "labels.values.a: \"2\" -> \"1\"\nlabels.values.b: \"x\" -> (absent)\n"
            "max_parallelism: 25 -> (absent)");
    REPLACE("{\"security_context\":{\"run_as\":{\"k8s_service_account\":\"r\"}}}",
            "{\"security_context\":null}",
            "security_context: (absent) -> {\"run_as\":{\"k8s_service_account\":\"r\"}}");
}

/* Long values are cut, so a line stays readable. */
static void long_values_are_cut(void **state)
{
    char want[1024], *got;

    (void)state;
    snprintf(want, sizeof(want), "{\"a\":\"%0500d\"}", 7);
    got = diff(want, "{\"a\":\"x\"}", NULL, 0);
    assert_true(strlen(got) < 260);
    assert_string_equal(got + strlen(got) - 3, "...");
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(apply_ignores_fields_only_the_server_holds),
        cmocka_unit_test(apply_reports_nested_map_changes_by_path),
        cmocka_unit_test(apply_compares_lists_atomically),
        cmocka_unit_test(apply_reports_type_changes),
        cmocka_unit_test(apply_compares_quantities_by_amount),
        cmocka_unit_test(apply_reports_removals_from_managed_fields),
        cmocka_unit_test(apply_compares_embedded_json_documents),
        cmocka_unit_test(replace_ignores_unset_fields_but_not_set_ones),
        cmocka_unit_test(long_values_are_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
