/* ws_event / prov_result <-> plain JSON: field checks and round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"

/* The seed's workspace ws-ml-prod-001: alice owner, bob contributor,
 * charlie viewer, with Flyte next to SageMaker and Bedrock. */
static const char SEED_EVENT[] =
    "{\"event_id\": \"7f1c2a9e-4b1d-4c3e-9a55-0d2f8e6b1a01\","
    " \"event_type\": \"WORKSPACE_CREATED\", \"occurred_at\": 1718000000123,"
    " \"workspace_version\": 3, \"actor\": \"alice\", \"service\": null,"
    " \"workspace\": {\"workspace_id\": \"ws-ml-prod-001\","
    "   \"workspace_name\": \"ML Production\","
    "   \"services\": [\"sagemaker\", \"flyte\", \"bedrock\"],"
    "   \"members\": ["
    "     {\"user_id\": \"alice\", \"email\": \"alice@example.com\", \"role\": \"OWNER\"},"
    "     {\"user_id\": \"bob\", \"email\": \"bob@example.com\", \"role\": \"CONTRIBUTOR\"},"
    "     {\"user_id\": \"charlie\", \"email\": \"charlie@example.com\", \"role\": \"VIEWER\"}],"
    "   \"data_bucket\": \"ws-ml-prod-001-data\","
    "   \"quota\": {\"requests_cpu\": \"8\", \"requests_memory\": \"16Gi\","
    "     \"limits_cpu\": \"16\", \"limits_memory\": \"32Gi\", \"pods\": 50,"
    "     \"persistent_volume_claims\": 10},"
    "   \"labels\": {\"team\": \"ml-platform\", \"env\": \"prod\"}}}";

static const char RESULT_JSON[] =
    "{\"result_id\": \"r-7f1c\", \"event_id\": \"7f1c\", \"event_type\": \"SERVICE_ADDED\","
    " \"workspace_id\": \"ws-1\", \"workspace_version\": 9, \"status\": \"FAILED\","
    " \"reason\": null, \"flyte_project\": \"ws-1\", \"console_url\": null,"
    " \"namespaces\": [\"ws-1-development\", \"ws-1-staging\"], \"attempts\": 4,"
    " \"duration_ms\": 1234, \"error\": {\"class\": \"PERMANENT\", \"code\": \"flyte.400\","
    " \"message\": \"bad project\"}, \"completed_at\": 1718000001000}";

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (j == NULL)
        fail_msg("test JSON line %d: %s", jerr.line, jerr.text);
    return j;
}

/* Decodes obj (taken), expecting failure with class, code and message. */
static void expect_event_failure(json_t *obj, wf_class cls, const char *code, const char *msg)
{
    ws_event ev;
    wf_err err;

    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(obj, &ev, &err), -1);
    assert_int_equal(err.cls, cls);
    assert_string_equal(err.code, code);
    assert_string_equal(err.msg, msg);
    assert_null(ev.event_id);
    assert_null(ev.ws.members);
    json_decref(obj);
}

/* A field that does not decode: DESERIALIZATION event.field. */
static void expect_event_error(json_t *obj, const char *msg)
{
    expect_event_failure(obj, WF_DESERIALIZATION, "event.field", msg);
}

static json_t *seed_with(const char *path, json_t *value)
{
    json_t *obj = load(SEED_EVENT), *parent = obj;
    char buf[128], *tok, *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    tok = strtok_r(buf, ".", &save);
    for (char *next; (next = strtok_r(NULL, ".", &save)) != NULL; tok = next)
        parent = json_object_get(parent, tok);
    if (value == NULL)
        json_object_del(parent, tok);
    else
        json_object_set_new(parent, tok, value);
    return obj;
}

static void decodes_full_seed_event(void **state)
{
    json_t *obj = load(SEED_EVENT);
    ws_event ev;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(obj, &ev, &err), 0);
    assert_string_equal(ev.event_id, "7f1c2a9e-4b1d-4c3e-9a55-0d2f8e6b1a01");
    assert_int_equal(ev.type, WS_WORKSPACE_CREATED);
    assert_int_equal(ev.occurred_at, 1718000000123LL);
    assert_int_equal(ev.workspace_version, 3);
    assert_string_equal(ev.actor, "alice");
    assert_null(ev.service);
    assert_string_equal(ev.ws.workspace_id, "ws-ml-prod-001");
    assert_string_equal(ev.ws.workspace_name, "ML Production");
    assert_int_equal(ev.ws.n_services, 3);
    assert_string_equal(ev.ws.services[1], "flyte");
    assert_int_equal(ev.ws.n_members, 3);
    assert_string_equal(ev.ws.members[1].user_id, "bob");
    assert_string_equal(ev.ws.members[1].email, "bob@example.com");
    assert_int_equal(ev.ws.members[1].role, WS_ROLE_CONTRIBUTOR);
    assert_int_equal(ev.ws.members[2].role, WS_ROLE_VIEWER);
    assert_string_equal(ev.ws.data_bucket, "ws-ml-prod-001-data");
    assert_non_null(ev.ws.quota);
    assert_string_equal(ev.ws.quota->requests_memory, "16Gi");
    assert_int_equal(ev.ws.quota->pods, 50);
    assert_int_equal(ev.ws.quota->persistent_volume_claims, 10);
    assert_int_equal(ev.ws.n_labels, 2);
    assert_string_equal(ev.ws.labels[0].key, "team");
    assert_string_equal(ev.ws.labels[0].value, "ml-platform");
    assert_true(workspace_has_service(&ev.ws, "flyte"));
    assert_false(workspace_has_service(&ev.ws, "emr"));
    ws_event_fini(&ev);
    json_decref(obj);
}

static void absent_optional_fields_decode_as_null_and_empty(void **state)
{
    json_t *obj = load(SEED_EVENT), *ws = json_object_get(obj, "workspace");
    ws_event ev;
    wf_err err;

    (void)state;
    json_object_del(obj, "actor");
    json_object_del(obj, "service");
    json_object_del(ws, "quota");
    json_object_set_new(ws, "labels", json_null());
    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(obj, &ev, &err), 0);
    assert_null(ev.actor);
    assert_null(ev.service);
    assert_null(ev.ws.quota);
    assert_int_equal(ev.ws.n_labels, 0);
    ws_event_fini(&ev);
    json_decref(obj);
}

static void to_json_round_trips(void **state)
{
    json_t *obj = load(SEED_EVENT), *back;
    ws_event ev;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(obj, &ev, &err), 0);
    back = ws_event_to_json(&ev);
    assert_non_null(back);
    assert_true(json_equal(obj, back));
    json_decref(back);
    ws_event_fini(&ev);
    json_decref(obj);
}

static void to_json_writes_null_for_absent_optionals(void **state)
{
    json_t *obj = load(SEED_EVENT), *back;
    ws_event ev;
    wf_err err;

    (void)state;
    json_object_set_new(json_object_get(obj, "workspace"), "quota", json_null());
    json_object_set_new(obj, "actor", json_null());
    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(obj, &ev, &err), 0);
    back = ws_event_to_json(&ev);
    assert_true(json_is_null(json_object_get(back, "actor")));
    assert_true(json_is_null(json_object_get(json_object_get(back, "workspace"), "quota")));
    assert_true(json_equal(obj, back));
    json_decref(back);
    ws_event_fini(&ev);
    json_decref(obj);
}

static void missing_required_field_names_its_path(void **state)
{
    (void)state;
    expect_event_error(seed_with("workspace.data_bucket", NULL),
                       "workspace.data_bucket: required field is missing");
    expect_event_error(seed_with("event_id", NULL), "event_id: required field is missing");
    expect_event_error(seed_with("workspace.services", json_null()),
                       "workspace.services: must not be null");
}

static void wrong_types_are_rejected(void **state)
{
    (void)state;
    expect_event_error(seed_with("occurred_at", json_string("yesterday")),
                       "occurred_at: expected an integer, got a string");
    expect_event_error(seed_with("workspace_version", json_real(3.5)),
                       "workspace_version: expected an integer, got a real");
    expect_event_error(seed_with("actor", json_integer(7)),
                       "actor: expected a string, got an integer");
    expect_event_error(seed_with("workspace.quota.pods", json_string("50")),
                       "workspace.quota.pods: expected an integer, got a string");
    expect_event_error(seed_with("workspace.quota", json_array()),
                       "workspace.quota: expected an object or null, got an array");
    expect_event_error(seed_with("workspace.labels", load("{\"team\": 1}")),
                       "workspace.labels.team: expected a string, got an integer");
    expect_event_error(seed_with("workspace.services", load("[\"flyte\", false]")),
                       "workspace.services[1]: expected a string, got false");
    expect_event_error(load("[1]"), "event: expected an object, got an array");
}

static void unknown_enum_symbols_are_rejected(void **state)
{
    json_t *obj = load(SEED_EVENT);
    json_t *members = json_object_get(json_object_get(obj, "workspace"), "members");

    (void)state;
    json_object_set_new(json_array_get(members, 2), "role", json_string("ADMIN"));
    expect_event_error(obj, "workspace.members[2].role: unknown role \"ADMIN\"");
    expect_event_error(seed_with("event_type", json_string("WORKSPACE_ARCHIVED")),
                       "event_type: unknown event type \"WORKSPACE_ARCHIVED\"");
}

static void out_of_range_numbers_are_rejected(void **state)
{
    (void)state;
    expect_event_error(seed_with("workspace.quota.pods", json_integer(1LL << 31)),
                       "workspace.quota.pods: 2147483648 is out of range [0, 2147483647]");
    expect_event_error(seed_with("workspace.quota.persistent_volume_claims", json_integer(-1)),
                       "workspace.quota.persistent_volume_claims: -1 is out of range [0, "
                       "2147483647]");
}

static void embedded_nul_is_rejected(void **state)
{
    (void)state;
    expect_event_error(seed_with("workspace.workspace_id", json_stringn("ws\0x", 4)),
                       "workspace.workspace_id: string contains a NUL character");
}

static void absurd_member_count_is_rejected_but_large_is_fine(void **state)
{
    json_t *members = json_array(), *obj;
    ws_event ev;
    wf_err err;

    (void)state;
    for (int i = 0; i < WS_MAX_MEMBERS; i++)
        json_array_append_new(members, json_pack("{s:s, s:s, s:s}", "user_id", "u", "email",
                                                 "u@example.com", "role", "VIEWER"));
    obj = seed_with("workspace.members", json_incref(members));
    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(obj, &ev, &err), 0);
    assert_int_equal(ev.ws.n_members, WS_MAX_MEMBERS);
    ws_event_fini(&ev);
    json_decref(obj);

    json_array_append_new(members, json_pack("{s:s, s:s, s:s}", "user_id", "u", "email",
                                             "u@example.com", "role", "VIEWER"));
    expect_event_failure(seed_with("workspace.members", members), WF_VALIDATION, "event.limit",
                         "workspace.members: 10001 items exceed the limit of 10000");
}

static void every_limit_is_validation_not_deserialization(void **state)
{
    json_t *labels = json_object();
    char *big = calloc(WS_MAX_STRING + 2, 1);
    char key[16];

    (void)state;
    memset(big, 'x', WS_MAX_STRING + 1);
    expect_event_failure(seed_with("workspace.workspace_name", json_string(big)), WF_VALIDATION,
                         "event.limit",
                         "workspace.workspace_name: string of 65537 bytes exceeds the limit of "
                         "65536");
    free(big);
    for (int i = 0; i <= WS_MAX_LABELS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        json_object_set_new(labels, key, json_string("v"));
    }
    expect_event_failure(seed_with("workspace.labels", labels), WF_VALIDATION, "event.limit",
                         "workspace.labels: 1001 labels exceed the limit of 1000");
}

/* Reads the ids of obj (taken); returns what ws_event_ids_from_json did. */
static int ids_of(json_t *obj, ws_event *ev)
{
    int rc = ws_event_ids_from_json(obj, ev);

    json_decref(obj);
    return rc;
}

static void ids_are_read_from_events_that_fail_to_decode(void **state)
{
    json_t *members = json_array();
    ws_event ev;

    (void)state;
    /* workspace_version missing: the known type is kept. */
    assert_int_equal(ids_of(seed_with("workspace_version", NULL), &ev), 0);
    assert_string_equal(ev.event_id, "7f1c2a9e-4b1d-4c3e-9a55-0d2f8e6b1a01");
    assert_string_equal(ev.ws.workspace_id, "ws-ml-prod-001");
    assert_int_equal(ev.type, WS_WORKSPACE_CREATED);
    assert_int_equal(ev.workspace_version, WS_VERSION_UNREADABLE);
    assert_null(ev.ws.workspace_name);
    ws_event_fini(&ev);

    /* An unknown event type: the placeholder, and the version is kept. */
    assert_int_equal(ids_of(seed_with("event_type", json_string("WORKSPACE_ARCHIVED")), &ev), 0);
    assert_int_equal(ev.type, WS_EVENT_TYPE_UNREADABLE);
    assert_int_equal(ev.workspace_version, 3);
    ws_event_fini(&ev);
    assert_int_equal(ids_of(seed_with("event_type", json_integer(2)), &ev), 0);
    assert_int_equal(ev.type, WS_EVENT_TYPE_UNREADABLE);
    ws_event_fini(&ev);

    /* Over a limit. */
    for (int i = 0; i <= WS_MAX_MEMBERS; i++)
        json_array_append_new(members, json_pack("{s:s, s:s, s:s}", "user_id", "u", "email",
                                                 "u@example.com", "role", "VIEWER"));
    assert_int_equal(ids_of(seed_with("workspace.members", members), &ev), 0);
    assert_string_equal(ev.ws.workspace_id, "ws-ml-prod-001");
    assert_int_equal(ev.workspace_version, 3);
    assert_int_equal(ev.ws.n_members, 0);
    ws_event_fini(&ev);
}

static void ids_need_event_id_and_workspace_id(void **state)
{
    ws_event ev;

    (void)state;
    assert_int_equal(ids_of(seed_with("event_id", NULL), &ev), -1);
    assert_null(ev.event_id);
    assert_null(ev.ws.workspace_id);
    assert_int_equal(ids_of(seed_with("event_id", json_integer(7)), &ev), -1);
    assert_int_equal(ids_of(seed_with("workspace.workspace_id", json_null()), &ev), -1);
    assert_null(ev.event_id);
    assert_int_equal(ids_of(seed_with("workspace.workspace_id", json_stringn("a\0b", 3)), &ev), -1);
    assert_int_equal(ids_of(seed_with("workspace", json_string("ws-1")), &ev), -1);
    assert_int_equal(ids_of(json_array(), &ev), -1);
    assert_int_equal(ws_event_ids_from_json(NULL, &ev), -1);
}

static void partial_member_is_released_on_error(void **state)
{
    json_t *obj = load(SEED_EVENT);
    json_t *members = json_object_get(json_object_get(obj, "workspace"), "members");

    (void)state;
    json_object_del(json_array_get(members, 1), "role");
    expect_event_error(obj, "workspace.members[1].role: required field is missing");
}

static void name_tables_round_trip(void **state)
{
    ws_event_type t;
    ws_role r;
    prov_status s;

    (void)state;
    for (int i = 0; i < WS_EVENT_TYPE_COUNT; i++) {
        assert_int_equal(ws_event_type_parse(ws_event_type_name((ws_event_type)i), &t), 0);
        assert_int_equal(t, i);
    }
    for (int i = 0; i < WS_ROLE_COUNT; i++) {
        assert_int_equal(ws_role_parse(ws_role_name((ws_role)i), &r), 0);
        assert_int_equal(r, i);
    }
    assert_int_equal(prov_status_parse("SKIPPED", &s), 0);
    assert_int_equal(s, PROV_SKIPPED);
    assert_string_equal(ws_event_type_name(WS_MEMBERS_CHANGED), "MEMBERS_CHANGED");
    assert_int_equal(ws_role_parse("owner", &r), -1);
    assert_int_equal(ws_event_type_parse(NULL, &t), -1);
}

static void result_round_trips(void **state)
{
    json_t *obj = load(RESULT_JSON), *back;
    prov_result r;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    assert_int_equal(prov_result_from_json(obj, &r, &err), 0);
    assert_string_equal(r.result_id, "r-7f1c");
    assert_int_equal(r.event_type, WS_SERVICE_ADDED);
    assert_int_equal(r.status, PROV_FAILED);
    assert_null(r.reason);
    assert_string_equal(r.flyte_project, "ws-1");
    assert_int_equal(r.n_namespaces, 2);
    assert_string_equal(r.namespaces[1], "ws-1-staging");
    assert_int_equal(r.attempts, 4);
    assert_int_equal(r.duration_ms, 1234);
    assert_true(r.has_error);
    assert_string_equal(r.error_code, "flyte.400");
    assert_int_equal(r.completed_at, 1718000001000LL);
    back = prov_result_to_json(&r);
    assert_true(json_equal(obj, back));
    json_decref(back);
    prov_result_fini(&r);
    json_decref(obj);
}

static void result_field_errors_use_result_code(void **state)
{
    json_t *obj = load(RESULT_JSON);
    prov_result r;
    wf_err err;

    (void)state;
    json_object_set_new(json_object_get(obj, "error"), "code", json_null());
    wf_err_init(&err);
    assert_int_equal(prov_result_from_json(obj, &r, &err), -1);
    assert_int_equal(err.cls, WF_DESERIALIZATION);
    assert_string_equal(err.code, "result.field");
    assert_string_equal(err.msg, "error.code: must not be null");
    assert_null(r.result_id);
    json_decref(obj);
}

static void to_json_refuses_null_required_string(void **state)
{
    json_t *obj = load(SEED_EVENT);
    ws_event ev;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(obj, &ev, &err), 0);
    free(ev.ws.data_bucket);
    ev.ws.data_bucket = NULL;
    assert_null(ws_event_to_json(&ev));
    ws_event_fini(&ev);
    json_decref(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_full_seed_event),
        cmocka_unit_test(absent_optional_fields_decode_as_null_and_empty),
        cmocka_unit_test(to_json_round_trips),
        cmocka_unit_test(to_json_writes_null_for_absent_optionals),
        cmocka_unit_test(missing_required_field_names_its_path),
        cmocka_unit_test(wrong_types_are_rejected),
        cmocka_unit_test(unknown_enum_symbols_are_rejected),
        cmocka_unit_test(out_of_range_numbers_are_rejected),
        cmocka_unit_test(embedded_nul_is_rejected),
        cmocka_unit_test(absurd_member_count_is_rejected_but_large_is_fine),
        cmocka_unit_test(every_limit_is_validation_not_deserialization),
        cmocka_unit_test(ids_are_read_from_events_that_fail_to_decode),
        cmocka_unit_test(ids_need_event_id_and_workspace_id),
        cmocka_unit_test(partial_member_is_released_on_error),
        cmocka_unit_test(name_tables_round_trip),
        cmocka_unit_test(result_round_trips),
        cmocka_unit_test(result_field_errors_use_result_code),
        cmocka_unit_test(to_json_refuses_null_required_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
