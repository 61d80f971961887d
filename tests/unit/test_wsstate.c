#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonout.h"
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
    s.event = strdup(
        "{\"event_id\":\"e-7\",\"workspace_version\":7,\"workspace\":{\"workspace_id\":\"ws-a\"}}");
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

/* The record as a jansson document written by jsonout_compact, the way
 * wsstate_encode once made it: what it must still write, byte for byte. */
static json_t *pairs_as_tree(const wsstate_obj *objs, size_t n)
{
    json_t *o = json_object();
    char id[17], h[17];

    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%016llx", (unsigned long long)objs[i].id);
        snprintf(h, sizeof(h), "%016llx", (unsigned long long)objs[i].hash);
        json_object_set_new(o, id, json_string(h));
    }
    return o;
}

static char *encode_as_tree(const wsstate *s, size_t *len)
{
    json_t *event = s->event ? json_loads(s->event, 0, NULL) : json_null();
    json_t *objs = pairs_as_tree(s->objs, s->n_objs), *doc = NULL;
    char digest[17], *text = NULL;

    snprintf(digest, sizeof(digest), "%016llx", (unsigned long long)s->digest);
    if (event)
        doc = json_pack("{s:i, s:s, s:I, s:s*, s:s, s:s*, s:b, s:b, s:b, s:s, s:O, s:O}", "format",
                        WSSTATE_FORMAT, "workspace_id", s->workspace_id, "version",
                        (json_int_t)s->version, "event_id", s->event_id, "status",
                        prov_status_name(s->status), "reason", s->reason, "project", s->project,
                        "flyte", s->flyte, "complete", s->complete, "digest", digest, "objects",
                        objs, "event", event);
    if (doc && s->n_ns_uids &&
        json_object_set_new(doc, "namespace_uids", pairs_as_tree(s->ns_uids, s->n_ns_uids)))
        doc = (json_decref(doc), NULL);
    if (doc &&
        ((s->cluster && json_object_set_new(doc, "cluster", json_string(s->cluster))) ||
         (s->moving_from && json_object_set_new(doc, "moving_from", json_string(s->moving_from)))))
        doc = (json_decref(doc), NULL);
    if (doc)
        text = jsonout_compact(doc, len);
    json_decref(doc);
    json_decref(objs);
    json_decref(event);
    return text;
}

static void assert_encoded_as_tree(const wsstate *s)
{
    size_t want_len = 0, got_len = 0;
    char *want = encode_as_tree(s, &want_len), *got = wsstate_encode(s, &got_len);

    if (want == NULL) {
        assert_null(got);
        assert_int_equal(got_len, 0);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(got_len, want_len);
    free(want);
    free(got);
}

/* The kept event's text is copied when a parse and a write would give it
 * back as it is; any other text (spaces, other escapes, reals, repeated
 * keys, deep nesting, not JSON at all) is parsed and written, or fails the
 * encoding, as before. */
static void encode_writes_what_the_record_document_gave(void **state)
{
    static const char *events[] = {
        "{\"event_id\":\"e-7\",\"workspace_version\":7,\"workspace\":{\"workspace_id\":\"ws-a\"}}",
        "{\"a\": 1}",
        "{\"a\":\"x\\/y\",\"b\":\"\\u00e9\\u0041\",\"c\":\"\\u001F\\u001f\\u0008\\b\\t\\n\"}",
        "{\"a\":\"\\\"\\\\\\f\\r\\u0001\\u0010\\u007F\",\"\":[],\"e\":{}}",
        "{\"n\":[0,-1,12,-0,1.5,1e3,2E2]}",
        "{\"n\":-0}",
        "{\"n\":01}",
        "{\"n\":123456789012345678,\"m\":-123456789012345678,\"o\":1234567890123456789}",
        "{\"n\":99999999999999999999}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":{\"b\":1},\"c\":{\"b\":1,\"b\":[true,false,null]}}",
        "{\"caf\xC3\xA9\":\"\xF0\x9F\x9A\x80 \xE2\x80\x93 \xE6\x95\xB0\"}",
        "{\"bad\":\"\xC3\"}",
        "{\"nul\":\"\\u0000\"}",
        "[1,\"two\",{\"three\":3}]",
        "{\"a\":1} ",
        "{\"a\":1}x",
        "{",
        "[1,]",
        "{\"a\":tru}",
        "\"text\"",
        "7",
        "",
        "{\"deep\":[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]}",
    };
    char many[2048];
    size_t used = 0;
    wsstate s = sample();

    (void)state;
    used += (size_t)snprintf(many, sizeof(many), "{");
    for (int i = 0; i < 40; i++)
        used +=
            (size_t)snprintf(many + used, sizeof(many) - used, "%s\"k%d\":%d", i ? "," : "", i, i);
    snprintf(many + used, sizeof(many) - used, "}");
    for (size_t i = 0; i <= sizeof(events) / sizeof(events[0]); i++) {
        free(s.event);
        s.event = strdup(i < sizeof(events) / sizeof(events[0]) ? events[i] : many);
        assert_encoded_as_tree(&s);
    }
    free(s.event);
    s.event = NULL;
    assert_encoded_as_tree(&s);
    wsstate_fini(&s);
}

/* Every optional field, both ways; pairs sorted or not, an id listed twice;
 * text that is not UTF-8, and no workspace, fail as before. */
static void encode_writes_every_field_as_the_record_document_did(void **state)
{
    wsstate s = sample();

    (void)state;
    assert_encoded_as_tree(&s);
    assert_int_equal(wsstate_set_namespace_uid(&s, "ws-a-development", "uid-1"), 0);
    assert_int_equal(wsstate_set_namespace_uid(&s, "ws-a-production", "uid-2"), 0);
    s.cluster = strdup("east");
    s.moving_from = strdup("west \"old\"");
    s.project = 1;
    s.complete = 0;
    s.status = PROV_SUCCEEDED;
    assert_encoded_as_tree(&s);
    free(s.event_id);
    free(s.reason);
    s.event_id = s.reason = NULL;
    s.flyte = 0;
    assert_encoded_as_tree(&s);
    /* An id twice, next to each other (sorted) and apart (not sorted). */
    s.objs = realloc(s.objs, 5 * sizeof(*s.objs));
    s.objs[3] = (wsstate_obj){.id = 0xffffffffffffffffULL, .hash = 9};
    s.objs[4] = (wsstate_obj){.id = 0xffffffffffffffffULL, .hash = 10};
    s.n_objs = 5;
    assert_encoded_as_tree(&s);
    s.objs[1] = (wsstate_obj){.id = 0xffffffffffffffffULL, .hash = 11};
    s.objs[3] = (wsstate_obj){.id = 1, .hash = 12};
    assert_encoded_as_tree(&s);
    s.n_ns_uids = 2;
    s.ns_uids[1].id = s.ns_uids[0].id;
    assert_encoded_as_tree(&s);
    free(s.objs);
    s.objs = NULL;
    s.n_objs = 0;
    assert_encoded_as_tree(&s);
    s.reason = strdup("bad \xC3");
    assert_encoded_as_tree(&s);
    free(s.reason);
    s.reason = NULL;
    free(s.workspace_id);
    s.workspace_id = NULL;
    assert_encoded_as_tree(&s);
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

/* The event of workspace "a" at version 1, as a record of it keeps it. */
#define EV_A "{\"workspace_version\":1,\"workspace\":{\"workspace_id\":\"a\"}}"

/* A record keeping an event of another workspace, or of another version,
 * is refused: the repairer would render that event for this workspace. */
static void decode_refuses_an_event_other_than_the_records(void **state)
{
    static const char *bad[] = {
        "{\"workspace_version\":1,\"workspace\":{\"workspace_id\":\"b\"}}",
        "{\"workspace_version\":2,\"workspace\":{\"workspace_id\":\"a\"}}",
        "{\"workspace_version\":1}",
        "{\"workspace\":{\"workspace_id\":\"a\"}}",
    };
    char text[512];
    wsstate back;
    wf_err err;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text),
                 "{\"format\":1,\"workspace_id\":\"a\",\"version\":1,\"status\":\"SUCCEEDED\","
                 "\"project\":true,\"flyte\":true,\"complete\":true,\"digest\":"
                 "\"0000000000000001\",\"objects\":{},\"event\":%s}",
                 bad[i]);
        wf_err_init(&err);
        assert_int_equal(wsstate_decode(text, strlen(text), &back, &err), -1);
        assert_int_equal(err.cls, WF_DESERIALIZATION);
        assert_string_equal(err.code, "state.event");
        assert_null(back.workspace_id);
    }
}

/* The small form of a record too large for the topic keeps the version and
 * the tombstone bit, says incomplete, and reads back. */
static void the_stub_is_small_incomplete_and_reads_back(void **state)
{
    wsstate s = sample(), back;
    size_t len = 0;
    char *text, *big = malloc(200000);
    wf_err err;

    (void)state;
    memset(big, 'x', 199999);
    big[199999] = '\0';
    free(s.event_id);
    s.event_id = big; /* an event id may be long */
    text = wsstate_encode_stub(&s, &len);
    assert_non_null(text);
    assert_true(len <= WSSTATE_STUB_MAX);
    wf_err_init(&err);
    assert_int_equal(wsstate_decode(text, len, &back, &err), 0);
    assert_string_equal(back.workspace_id, "ws-a");
    assert_int_equal(back.version, 7);
    assert_int_equal(back.flyte, 1);
    assert_int_equal(back.complete, 0);
    assert_int_equal(back.n_objs, 0);
    assert_null(back.event_id);
    free(text);
    wsstate_fini(&back);
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
        "\"event\":" EV_A "}",
        "{\"format\":1,\"workspace_id\":\"a\",\"version\":1,\"status\":\"FAILED\","
        "\"project\":true,\"flyte\":true,\"complete\":true,\"digest\":\"0000000000000001\","
        "\"objects\":{},\"event\":" EV_A "}",
        "{\"format\":1,\"workspace_id\":\"a\",\"version\":1,\"status\":\"SUCCEEDED\","
        "\"project\":true,\"flyte\":true,\"complete\":true,\"digest\":\"0000000000000001\","
        "\"objects\":{\"01\":\"02\"},\"event\":" EV_A "}",
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

/* Values of different types or shapes never share a content hash: the
 * canonical encoding is typed and length-prefixed, so "1" is not 1, two
 * strings are not their concatenation, and an empty array is no object. */
static void content_hashes_tell_types_and_shapes_apart(void **state)
{
    const char *texts[] = {"\"1\"",
                           "1",
                           "1.0",
                           "true",
                           "false",
                           "null",
                           "[]",
                           "{}",
                           "[\"ab\"]",
                           "[\"a\",\"b\"]",
                           "{\"a\":\"b\"}",
                           "{\"ab\":\"\"}",
                           "[[]]",
                           "[[],[]]",
                           "{\"a\":[1]}",
                           "{\"a\":[1],\"b\":null}"};
    size_t n = sizeof(texts) / sizeof(texts[0]);
    uint64_t h[sizeof(texts) / sizeof(texts[0])];

    (void)state;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_loads(texts[i], JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        h[i] = wsstate_hash_json(v);
        assert_true(h[i] != 0);
        json_decref(v);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (h[i] == h[j])
                fail_msg("%s and %s have the same content hash", texts[i], texts[j]);
}

/* An object with more keys than are sorted on the stack, built in two
 * orders, hashes the same; a value nested deeper than any desired object
 * (a cycle ends there) hashes to 0, which matches nothing recorded. */
static void content_hashes_of_large_and_deep_values(void **state)
{
    json_t *a = json_object(), *b = json_object(), *deep = json_array(), *inner = deep;
    char key[16];

    (void)state;
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%03d", i);
        json_object_set_new(a, key, json_integer(i));
        snprintf(key, sizeof(key), "k%03d", 99 - i);
        json_object_set_new(b, key, json_integer(99 - i));
    }
    assert_true(wsstate_hash_json(a) == wsstate_hash_json(b));
    json_object_set_new(b, "k000", json_integer(1));
    assert_true(wsstate_hash_json(a) != wsstate_hash_json(b));
    for (int i = 0; i < 100; i++) {
        json_t *next = json_array();
        json_array_append_new(inner, next);
        inner = next;
    }
    assert_true(wsstate_hash_json(deep) == 0);
    assert_true(wsstate_hash_json(NULL) == 0);
    json_decref(a);
    json_decref(b);
    json_decref(deep);
}

/* Records key their objects by this hash of the object's identity: it must
 * stay the first 64 bits of SHA-256, or every record written before would
 * name objects the handler no longer finds (and deletes by name nothing). */
/* A container held twice (by reference) hashes the same with a memo as
 * walked in full, also where the second place is too deep to hash. */
static void memo_hashes_shared_containers_as_walked_in_full(void **state)
{
    json_t *shared = json_pack("{s:[s,{s:i}], s:{}}", "rules", "get", "n", 1, "empty");
    json_t *chain = json_object(), *deep = chain, *a, *b;
    wsstate_memo *memo = wsstate_memo_new();

    (void)state;
    assert_non_null(memo);
    a = json_pack("{s:O, s:O, s:[O]}", "x", shared, "y", shared, "z", shared);
    b = json_pack("{s:s, s:O}", "other", "b", "x", shared);
    /* 62 levels down: the shared value's own 3 levels go past the limit. */
    for (int i = 0; i < 62; i++) {
        json_object_set_new(deep, "d", json_object());
        deep = json_object_get(deep, "d");
    }
    json_object_set(deep, "x", shared);
    assert_true(wsstate_hash_json_with(a, memo) == wsstate_hash_json(a));
    assert_true(wsstate_hash_json_with(b, memo) == wsstate_hash_json(b));
    assert_true(wsstate_hash_json_with(shared, memo) == wsstate_hash_json(shared));
    assert_true(wsstate_hash_json(chain) == 0);
    assert_true(wsstate_hash_json_with(chain, memo) == 0);
    assert_true(wsstate_hash_json_with(a, memo) == wsstate_hash_json(a));
    assert_true(wsstate_hash_json_with(a, NULL) == wsstate_hash_json(a));
    wsstate_memo_free(memo);
    wsstate_memo_free(NULL);
    json_decref(a);
    json_decref(b);
    json_decref(chain);
    json_decref(shared);
}

static void identity_hash_is_sha256(void **state)
{
    (void)state;
    /* SHA-256("abc") = ba7816bf8f01cfea 414140de... */
    assert_true(wsstate_hash("abc", 3) == 0xba7816bf8f01cfeaULL);
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

/* The uid of each namespace the apply found or created is kept, so that a
 * namespace someone deleted and re-created under the same name is told
 * apart; records written before uids were kept read as knowing none. */
static void namespace_uids_read_back_and_old_records_know_none(void **state)
{
    wsstate s = sample(), back, c;
    size_t len = 0;
    char *text;
    int same = -1;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    text = wsstate_encode(&s, &len);
    assert_null(strstr(text, "namespace_uids"));
    assert_int_equal(wsstate_decode(text, len, &back, &err), 0);
    assert_int_equal(back.n_ns_uids, 0);
    assert_int_equal(wsstate_namespace_uid_is(&back, "ws-a-development", "u-1", &same), 0);
    assert_int_equal(same, 0);
    wsstate_fini(&back);
    free(text);

    assert_int_equal(wsstate_set_namespace_uid(&s, "ws-a-development", "u-0"), 0);
    assert_int_equal(wsstate_set_namespace_uid(&s, "ws-a-staging", "u-2"), 0);
    assert_int_equal(wsstate_set_namespace_uid(&s, "ws-a-development", "u-1"), 0);
    assert_int_equal(s.n_ns_uids, 2);
    text = wsstate_encode(&s, &len);
    assert_non_null(strstr(text, "\"namespace_uids\":{"));
    assert_int_equal(wsstate_decode(text, len, &back, &err), 0);
    assert_int_equal(wsstate_copy(&c, &back), 0);
    assert_int_equal(wsstate_namespace_uid_is(&c, "ws-a-development", "u-1", &same), 1);
    assert_int_equal(same, 1);
    assert_int_equal(wsstate_namespace_uid_is(&c, "ws-a-development", "u-0", &same), 1);
    assert_int_equal(same, 0);
    assert_int_equal(wsstate_namespace_uid_is(&c, "ws-a-staging", NULL, &same), 1);
    assert_int_equal(same, 0);
    assert_int_equal(wsstate_namespace_uid_is(&c, "ws-a-production", "u-2", &same), 0);
    wsstate_fini(&c);
    wsstate_fini(&back);
    free(text);
    wsstate_fini(&s);

    static const char corrupt[] =
        "{\"format\":1,\"workspace_id\":\"a\",\"version\":1,\"status\":\"SUCCEEDED\","
        "\"project\":true,\"flyte\":true,\"complete\":true,\"digest\":\"0000000000000001\","
        "\"objects\":{},\"event\":{},\"namespace_uids\":{\"01\":\"02\"}}";
    assert_int_equal(wsstate_decode(corrupt, strlen(corrupt), &back, &err), -1);
    assert_int_equal(err.cls, WF_DESERIALIZATION);
    assert_null(back.ns_uids);
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

static void cluster_fields_read_back_and_single_cluster_records_have_none(void **state)
{
    wsstate s = sample(), back, c;
    size_t len = 0;
    char *text;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    text = wsstate_encode(&s, &len);
    assert_null(strstr(text, "cluster"));
    assert_null(strstr(text, "moving_from"));
    assert_int_equal(wsstate_decode(text, len, &back, &err), 0);
    assert_null(back.cluster);
    assert_null(back.moving_from);
    wsstate_fini(&back);
    free(text);

    s.cluster = strdup("east-1");
    text = wsstate_encode(&s, &len);
    assert_non_null(strstr(text, "\"cluster\":\"east-1\""));
    assert_null(strstr(text, "moving_from"));
    assert_int_equal(wsstate_decode(text, len, &back, &err), 0);
    assert_string_equal(back.cluster, "east-1");
    assert_null(back.moving_from);
    assert_non_null(strstr(text, "\"format\":1"));
    wsstate_fini(&back);
    free(text);

    s.moving_from = strdup("west-2");
    text = wsstate_encode(&s, &len);
    assert_int_equal(wsstate_decode(text, len, &back, &err), 0);
    assert_int_equal(wsstate_copy(&c, &back), 0);
    assert_string_equal(c.cluster, "east-1");
    assert_string_equal(c.moving_from, "west-2");
    wsstate_fini(&c);
    wsstate_fini(&back);
    free(text);

    /* The small form keeps where the workspace is. */
    text = wsstate_encode_stub(&s, &len);
    assert_int_equal(wsstate_decode(text, len, &back, &err), 0);
    assert_string_equal(back.cluster, "east-1");
    assert_string_equal(back.moving_from, "west-2");
    wsstate_fini(&back);
    free(text);
    wsstate_fini(&s);

    static const char mistyped[] =
        "{\"format\":1,\"workspace_id\":\"a\",\"version\":1,\"status\":\"SUCCEEDED\","
        "\"project\":true,\"flyte\":true,\"complete\":true,\"digest\":\"0000000000000001\","
        "\"objects\":{},\"event\":{\"workspace_version\":1,\"workspace\":{\"workspace_id\":"
        "\"a\"}},\"cluster\":7}";
    assert_int_equal(wsstate_decode(mistyped, strlen(mistyped), &back, &err), -1);
    assert_int_equal(err.cls, WF_DESERIALIZATION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_reads_back_what_encode_wrote),
        cmocka_unit_test(encode_writes_what_the_record_document_gave),
        cmocka_unit_test(encode_writes_every_field_as_the_record_document_did),
        cmocka_unit_test(decode_refuses_a_newer_format),
        cmocka_unit_test(decode_refuses_corrupt_records),
        cmocka_unit_test(hashes_follow_content_not_key_order),
        cmocka_unit_test(content_hashes_tell_types_and_shapes_apart),
        cmocka_unit_test(content_hashes_of_large_and_deep_values),
        cmocka_unit_test(memo_hashes_shared_containers_as_walked_in_full),
        cmocka_unit_test(identity_hash_is_sha256),
        cmocka_unit_test(copy_is_deep),
        cmocka_unit_test(namespace_uids_read_back_and_old_records_know_none),
        cmocka_unit_test(the_kept_event_reads_back),
        cmocka_unit_test(decode_refuses_an_event_other_than_the_records),
        cmocka_unit_test(the_stub_is_small_incomplete_and_reads_back),
        cmocka_unit_test(cluster_fields_read_back_and_single_cluster_records_have_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
