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
#include "jsonout.h"

/* Text jsonout_is_compact accepts comes back as it is from a parse and a
 * write. */
static void assert_compact_only_when_exact(const char *text, size_t len)
{
    json_t *back;
    char *again;

    if (!jsonout_is_compact(text, len))
        return;
    assert_non_null(back = json_loadb(text, len, 0, NULL));
    assert_non_null(again = jsonout_compact(back, NULL));
    assert_int_equal(strlen(again), len);
    assert_memory_equal(again, text, len);
    free(again);
    json_decref(back);
}

/* The writer's text is json_dumps's, byte for byte, and its length is
 * returned; both NULL when json_dumps fails.  The text reads as compact
 * (when expect_compact) and only when it is. */
static void assert_written_as_jansson(const json_t *doc, int expect_compact)
{
    char *want = json_dumps(doc, JSON_COMPACT);
    size_t len = 0;
    char *got = jsonout_compact(doc, &len);

    if (want == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    assert_compact_only_when_exact(got, len);
    if (expect_compact)
        assert_true(jsonout_is_compact(got, len));
    free(want);
    free(got);
}

static void assert_same_as_jansson(const json_t *doc)
{
    assert_written_as_jansson(doc, 0);
}

static void writes_scalars_and_nesting_as_jansson_does(void **state)
{
    json_t *doc = json_pack(
        "{s:s, s:I, s:I, s:I, s:b, s:b, s:n, s:{}, s:[], s:[{s:[i,[],{}]}], s:s}", "name", "ws-a",
        "zero", (json_int_t)0, "min", (json_int_t)INT64_MIN, "max", (json_int_t)INT64_MAX, "yes", 1,
        "no", 0, "none", "empty", "list", "deep", "x", -42, "last", "");
    (void)state;
    assert_non_null(doc);
    assert_same_as_jansson(doc);
    /* Key order is insertion order, also after a key is removed and re-added. */
    json_object_del(doc, "zero");
    json_object_set_new(doc, "zero", json_integer(-1));
    assert_same_as_jansson(doc);
    json_decref(doc);
}

static void escapes_every_control_character_quote_and_backslash(void **state)
{
    char all[128];
    json_t *doc;

    (void)state;
    for (int i = 0; i < 128; i++)
        all[i] = (char)i; /* NUL, \b \f \n \r \t, the rest of 0x01-0x1F, '"', '\\', '/', DEL */
    doc = json_pack("{s:s%}", "ascii", all, sizeof(all));
    assert_non_null(doc);
    /* A key with the same characters, an embedded NUL included. */
    assert_int_equal(json_object_setn_new(doc, all, sizeof(all), json_true()), 0);
    assert_same_as_jansson(doc);
    json_decref(doc);
}

static void copies_utf8_and_refuses_invalid_utf8_like_jansson(void **state)
{
    static const char *invalid[] = {
        "\xC3",             /* cut short */
        "\xC0\xAF",         /* overlong '/' */
        "\xE0\x80\xAF",     /* overlong, three bytes */
        "\xED\xA0\x80",     /* a UTF-16 surrogate */
        "\xF4\x90\x80\x80", /* above U+10FFFF */
        "\x80",             /* a continuation byte first */
        "a\xFF",
    };
    json_t *doc = json_pack("{s:s, s:[s]}", "name", "Équipe données – 数据 🚀", "caf\xC3\xA9",
                            "\xF0\x9F\x98\x80\xE2\x80\xA8");
    (void)state;
    assert_non_null(doc);
    assert_same_as_jansson(doc);
    json_decref(doc);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        doc = json_object();
        json_object_set_new(doc, "bad", json_string_nocheck(invalid[i]));
        assert_null(jsonout_compact(doc, NULL));
        assert_same_as_jansson(doc);
        json_decref(doc);
    }
}

/* Reals, a bare string, deep nesting and cycles: what json_dumps answers. */
static void leaves_reals_scalars_and_cycles_to_jansson(void **state)
{
    json_t *doc = json_pack("{s:f, s:f, s:[f]}", "half", 0.5, "whole", 3.0, "tiny", 1e-300);
    json_t *s = json_string("bare"), *a = json_array(), *o = json_object(), *deep = json_array();
    json_t *at = deep;

    (void)state;
    assert_same_as_jansson(doc);
    assert_same_as_jansson(s);
    assert_null(jsonout_compact(s, NULL));
    /* a -> o -> a: jansson's loop check says NULL. */
    json_array_append(a, o);
    json_object_set(o, "back", a);
    assert_same_as_jansson(a);
    assert_null(jsonout_compact(a, NULL));
    json_object_del(o, "back");
    for (int i = 0; i < 2 * JSONOUT_MAX_DEPTH; i++) {
        json_t *next = json_array();
        json_array_append_new(at, next);
        at = next;
    }
    assert_same_as_jansson(deep);
    json_decref(doc);
    json_decref(s);
    json_decref(a);
    json_decref(o);
    json_decref(deep);
}

/* Every request body wsflyte sends for the seed workspace. */
static void writes_every_desired_object_as_jansson_does(void **state)
{
    wf_config cfg;
    char path[512], line[4096];
    FILE *fp;
    json_t *ev_json, *obj;
    ws_event ev;
    desired d;
    wf_err err;
    size_t i;

    (void)state;
    wf_config_defaults(&cfg);
    snprintf(path, sizeof(path), "%s/events/seed.jsonl", WSFLYTE_TEST_DATA);
    assert_non_null(fp = fopen(path, "r"));
    assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    assert_non_null(ev_json = json_loads(line, 0, NULL));
    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(ev_json, &ev, &err), 0);
    assert_int_equal(desired_build(&cfg, &ev, &d, &err), 0);
    assert_written_as_jansson(d.project, 1);
    assert_written_as_jansson(d.archive, 1);
    json_array_foreach(d.cluster_objects, i, obj) assert_written_as_jansson(obj, 1);
    for (size_t k = 0; k < d.n_domains; k++) {
        assert_written_as_jansson(d.domains[k].attributes, 1);
        json_array_foreach(d.domains[k].objects, i, obj) assert_written_as_jansson(obj, 1);
    }
    /* The event as a state record keeps it. */
    {
        json_t *kept = ws_event_to_json(&ev);
        assert_written_as_jansson(kept, 1);
        json_decref(kept);
    }
    desired_fini(&d);
    ws_event_fini(&ev);
    json_decref(ev_json);
    wf_config_fini(&cfg);
}

/* Random documents of strings drawn from escapes, ASCII and UTF-8. */
static json_t *random_value(unsigned *seed, int depth)
{
    static const char *pieces[] = {"a",    "Z", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f",
                                   "\x7f", "é", "€",  "😀",  " ", "{",  "]",  ":",    ","};
    char text[64] = "";
    int kind = rand_r(seed) % (depth > 4 ? 4 : 7);

    for (int i = rand_r(seed) % 8; i > 0; i--)
        strncat(text, pieces[rand_r(seed) % (sizeof(pieces) / sizeof(pieces[0]))],
                sizeof(text) - strlen(text) - 1);
    switch (kind) {
    case 0:
        return json_string(text);
    case 1:
        return json_integer((json_int_t)rand_r(seed) * (rand_r(seed) % 2 ? -1 : 1) * 977);
    case 2:
        return rand_r(seed) % 3 ? json_boolean(rand_r(seed) % 2) : json_null();
    case 3:
        return json_string("");
    case 4:
    case 5: {
        json_t *o = json_object();
        for (int i = rand_r(seed) % 5; i > 0; i--) {
            char key[80];
            snprintf(key, sizeof(key), "%s%d", text, i);
            json_object_set_new(o, key, random_value(seed, depth + 1));
        }
        return o;
    }
    default: {
        json_t *a = json_array();
        for (int i = rand_r(seed) % 5; i > 0; i--)
            json_array_append_new(a, random_value(seed, depth + 1));
        return a;
    }
    }
}

static void writes_random_documents_as_jansson_does(void **state)
{
    unsigned seed = 20261205;

    (void)state;
    for (int n = 0; n < 2000; n++) {
        json_t *doc = json_object();
        json_object_set_new(doc, "v", random_value(&seed, 0));
        json_object_set_new(doc, "w", random_value(&seed, 0));
        assert_written_as_jansson(doc, 1);
        json_decref(doc);
    }
}

/* Text that a parse and a write would change is not compact: spaces,
 * escapes jsonout does not write, reals, signed or padded zeros, repeated
 * keys, anything after the document, or what json_loads refuses. */
static void tells_text_a_round_trip_would_change(void **state)
{
    static const char *changed[] = {
        "{\"a\": 1}",
        "{\"a\":1} ",
        "{\"a\":1}x",
        "{\"a\":\"x\\/y\"}",
        "{\"a\":\"\\u00e9\"}",
        "{\"a\":\"\\u0041\"}",
        "{\"a\":\"\\u001f\"}",
        "{\"a\":\"\\u0008\"}",
        "{\"a\":\"\\u000A\"}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":1.5}",
        "{\"a\":1e3}",
        "{\"a\":-0}",
        "{\"a\":01}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":\"\xC3\"}",
        "{\"a\":\"\x01\"}",
        "\"text\"",
        "7",
        "",
        "{",
        "[1,]",
        "{\"a\":tru}",
        "{\"a\"1}",
        "{,}",
        "{\"a\":\"\\u007F\"}",
        "[1 ]",
    };
    static const char *same[] = {
        "{}",
        "[]",
        "[1,-2,true,false,null,\"\",{},[]]",
        "{\"a\":\"\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001F\x7f\"}",
        "{\"caf\xC3\xA9\":\"\xF0\x9F\x9A\x80\",\"b\":{\"a\":1},\"c\":{\"a\":2}}",
        "{\"n\":123456789012345678,\"m\":-123456789012345678,\"z\":0}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
        assert_false(jsonout_is_compact(changed[i], strlen(changed[i])));
        assert_compact_only_when_exact(changed[i], strlen(changed[i]));
    }
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        assert_true(jsonout_is_compact(same[i], strlen(same[i])));
        assert_compact_only_when_exact(same[i], strlen(same[i]));
    }
}

/* Pieces written one by one make the text the document would get; a
 * failed piece fails the whole. */
static void writes_a_document_piece_by_piece(void **state)
{
    json_t *v = json_pack("{s:[i,s,f]}", "x", 1, "caf\xC3\xA9", 0.5), *doc;
    jsonout_buf b = {0};
    size_t len = 0;
    char *text, *want;

    (void)state;
    jsonout_raw(&b, "{\"s\":", 5);
    jsonout_string(&b, "a\"b\n", 4);
    jsonout_raw(&b, ",\"i\":", 5);
    jsonout_integer(&b, -42);
    jsonout_raw(&b, ",\"v\":", 5);
    jsonout_value(&b, v);
    jsonout_raw(&b, "}", 1);
    assert_non_null(text = jsonout_finish(&b, &len));
    doc = json_pack("{s:s, s:i, s:O}", "s", "a\"b\n", "i", -42, "v", v);
    want = json_dumps(doc, JSON_COMPACT);
    assert_string_equal(text, want);
    assert_int_equal(len, strlen(want));
    free(text);
    free(want);
    json_decref(doc);
    jsonout_raw(&b, "[", 1);
    jsonout_string(&b, "bad \xC3", 5);
    jsonout_raw(&b, "]", 1);
    assert_null(jsonout_finish(&b, &len));
    assert_null(b.data);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writes_scalars_and_nesting_as_jansson_does),
        cmocka_unit_test(escapes_every_control_character_quote_and_backslash),
        cmocka_unit_test(copies_utf8_and_refuses_invalid_utf8_like_jansson),
        cmocka_unit_test(leaves_reals_scalars_and_cycles_to_jansson),
        cmocka_unit_test(writes_every_desired_object_as_jansson_does),
        cmocka_unit_test(writes_random_documents_as_jansson_does),
        cmocka_unit_test(tells_text_a_round_trip_would_change),
        cmocka_unit_test(writes_a_document_piece_by_piece),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
