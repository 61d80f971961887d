#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wsstate.h"

static wsstate sample(void)
{
    wsstate s;

    wsstate_init(&s);
    s.workspace_id = strdup("ws-a");
    s.event_id = strdup("e-7");
    s.version = 7;
    s.status = PROV_SKIPPED;
    s.reason = strdup("flyte-not-enabled");
    s.project = 0;
    s.flyte = 1;
    s.complete = 1;
    s.digest = 0xfedcba9876543210ULL;
    s.objs = calloc(3, sizeof(*s.objs));
    s.objs[0] = (wsstate_obj){.id = 0xffffffffffffffffULL, .hash = 1};
    s.objs[1] = (wsstate_obj){.id = 2, .hash = 0x8000000000000000ULL};
    s.objs[2] = (wsstate_obj){.id = 1, .hash = 3};
    s.n_objs = 3;
    wsstate_sort(&s);
    s.event = strdup("{\"event_id\":\"e-7\",\"workspace\":{\"workspace_id\":\"ws-a\"}}");
    return s;
}

static void decode_reads_back_what_encode_wrote(void **state)
{
    wsstate s = sample(), back;
    size_t len = 0;
    char *text = wsstate_encode(&s, &len);
    uint64_t h;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"format\":1"));
    assert_int_equal(wsstate_decode(text, len, &back, &err), 0);
    assert_string_equal(back.workspace_id, "ws-a");
    assert_string_equal(back.event_id, "e-7");
    assert_int_equal(back.version, 7);
    assert_int_equal(back.status, PROV_SKIPPED);
    assert_string_equal(back.reason, "flyte-not-enabled");
    assert_int_equal(back.project, 0);
    assert_int_equal(back.flyte, 1);
    assert_int_equal(back.complete, 1);
    assert_true(back.digest == 0xfedcba9876543210ULL);
    assert_int_equal(back.n_objs, 3);
    assert_int_equal(wsstate_find(&back, 0xffffffffffffffffULL, &h), 1);
    assert_true(h == 1);
    assert_int_equal(wsstate_find(&back, 2, &h), 1);
    assert_true(h == 0x8000000000000000ULL);
    assert_string_equal(back.event, s.event);
    free(text);
    wsstate_fini(&back);
    wsstate_fini(&s);
}

/* A newer wsflyte's record is not guessed at: the workspace takes the
 * full path. */
static void decode_refuses_a_newer_format(void **state)
{
    wsstate s = sample(), back;
    size_t len = 0;
    char *text = wsstate_encode(&s, &len), *at;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    at = strstr(text, "\"format\":1");
    assert_non_null(at);
    at[9] = '2';
    assert_int_equal(wsstate_decode(text, len, &back, &err), -1);
    assert_int_equal(err.cls, WF_DESERIALIZATION);
    assert_string_equal(err.code, "state.format");
    assert_null(back.workspace_id);
    free(text);
    wsstate_fini(&s);
}

static void decode_refuses_corrupt_records(void **state)
{
    static const char *bad[] = {
        "not json",
        "[1,2]",
        "{\"format\":1}",
        "{\"format\":1,\"workspace_id\":\"a\",\"version\":1,\"status\":\"SUCCEEDED\","
        "\"project\":true,\"flyte\":true,\"complete\":true,\"digest\":\"xyz\",\"objects\":{},"
        "\"event\":{}}",
        "{\"format\":1,\"workspace_id\":\"a\",\"version\":1,\"status\":\"FAILED\","
        "\"project\":true,\"flyte\":true,\"complete\":true,\"digest\":\"0000000000000001\","
        "\"objects\":{},\"event\":{}}",
        "{\"format\":1,\"workspace_id\":\"a\",\"version\":1,\"status\":\"SUCCEEDED\","
        "\"project\":true,\"flyte\":true,\"complete\":true,\"digest\":\"0000000000000001\","
        "\"objects\":{\"01\":\"02\"},\"event\":{}}",
    };
    wsstate back;
    wf_err err;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wf_err_init(&err);
        assert_int_equal(wsstate_decode(bad[i], strlen(bad[i]), &back, &err), -1);
        assert_int_equal(err.cls, WF_DESERIALIZATION);
        assert_null(back.objs);
    }
}

static void hashes_follow_content_not_key_order(void **state)
{
    json_t *a = json_pack("{s:s, s:i}", "x", "1", "y", 2);
    json_t *b = json_pack("{s:i, s:s}", "y", 2, "x", "1");
    json_t *c = json_pack("{s:i, s:s}", "y", 3, "x", "1");

    (void)state;
    assert_true(wsstate_hash_json(a) == wsstate_hash_json(b));
    assert_true(wsstate_hash_json(a) != wsstate_hash_json(c));
    assert_true(wsstate_hash_json(a) != 0);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void copy_is_deep(void **state)
{
    wsstate s = sample(), c;

    (void)state;
    assert_int_equal(wsstate_copy(&c, &s), 0);
    wsstate_fini(&s);
    assert_string_equal(c.workspace_id, "ws-a");
    assert_int_equal(c.n_objs, 3);
    wsstate_fini(&c);
    wsstate_fini(NULL);
}

/* The event a record keeps reads back as the event: issue 14's drift
 * repair re-renders every owned workspace from it. */
static void the_kept_event_reads_back(void **state)
{
    FILE *fp = fopen(WSFLYTE_TEST_DATA "/events/ws-ml-prod-001.json", "r");
    json_t *doc = json_loadf(fp, 0, NULL);
    wsstate s;
    ws_event ev;
    wf_err err;

    (void)state;
    assert_non_null(doc);
    fclose(fp);
    wsstate_init(&s);
    s.event = json_dumps(doc, JSON_COMPACT);
    wf_err_init(&err);
    assert_int_equal(wsstate_event_of(&s, &ev, &err), 0);
    assert_string_equal(ev.ws.workspace_id, "ws-ml-prod-001");
    assert_true(ev.workspace_version > 0);
    ws_event_fini(&ev);
    free(s.event);
    s.event = strdup("{\"event_id\": 1}");
    assert_int_equal(wsstate_event_of(&s, &ev, &err), -1);
    ws_event_fini(&ev);
    wsstate_fini(&s);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_reads_back_what_encode_wrote),
        cmocka_unit_test(decode_refuses_a_newer_format),
        cmocka_unit_test(decode_refuses_corrupt_records),
        cmocka_unit_test(hashes_follow_content_not_key_order),
        cmocka_unit_test(copy_is_deep),
        cmocka_unit_test(the_kept_event_reads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
