/* codec and avro_json: wire format, schema evolution with real writer
 * schemas (tests/data/schemas), every failure path, the schema registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include "avro_json.h"
#include "codec.h"

#define TEST_SCHEMAS WSFLYTE_TEST_DATA "/schemas"

static const char SEED_EVENT[] =
    "{\"event_id\": \"7f1c2a9e-4b1d-4c3e-9a55-0d2f8e6b1a01\","
    " \"event_type\": \"WORKSPACE_CREATED\", \"occurred_at\": 1718000000123,"
    " \"workspace_version\": 3, \"actor\": \"alice\", \"service\": null,"
    " \"workspace\": {\"workspace_id\": \"ws-ml-prod-001\","
    "   \"workspace_name\": \"ML Production \\u00e9\","
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

typedef struct fixture {
    codec *c;
    ws_event seed;
    void *avro; /* the seed, Avro-encoded with our schema */
    size_t avro_len;
} fixture;

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (j == NULL)
        fail_msg("test JSON line %d: %s", jerr.line, jerr.text);
    return j;
}

/* result_subject NULL: the default, workspace.provisioning.v1-value. */
static codec *new_codec_for(const char *registry_url, const char *result_subject)
{
    codec_opts opts = {.schema_dir = WSFLYTE_SCHEMA_DIR,
                       .id_map_path = TEST_SCHEMAS "/schema-ids.json",
                       .registry_url = registry_url,
                       .http_timeout_ms = 2000,
                       .result_subject = result_subject};
    wf_err err;
    codec *c;

    wf_err_init(&err);
    c = codec_new(&opts, &err);
    if (c == NULL)
        fail_msg("codec_new: %s: %s", err.code, err.msg);
    return c;
}

static codec *new_codec(const char *registry_url)
{
    return new_codec_for(registry_url, NULL);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    json_t *obj = load(SEED_EVENT);
    wf_err err;

    wf_err_init(&err);
    f->c = new_codec(NULL);
    assert_int_equal(ws_event_from_json(obj, &f->seed, &err), 0);
    assert_int_equal(codec_encode_event(f->c, &f->seed, CODEC_AVRO, &f->avro, &f->avro_len, &err),
                     0);
    json_decref(obj);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    free(f->avro);
    ws_event_fini(&f->seed);
    codec_free(f->c);
    free(f);
    return 0;
}

static avro_schema_t test_schema(const char *file)
{
    char path[512], *text;
    FILE *fp;
    long n;
    avro_schema_t s;

    snprintf(path, sizeof(path), "%s/%s", TEST_SCHEMAS, file);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    rewind(fp);
    text = malloc((size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    if (avro_schema_from_json_length(text, (size_t)n, &s) != 0)
        fail_msg("%s: %s", path, avro_strerror());
    free(text);
    return s;
}

/* Writes the wire-format header for id into buf[0..5). */
static void put_header(unsigned char *buf, uint32_t id)
{
    buf[0] = 0;
    buf[1] = (unsigned char)(id >> 24);
    buf[2] = (unsigned char)(id >> 16);
    buf[3] = (unsigned char)(id >> 8);
    buf[4] = (unsigned char)id;
}

/* Encodes a plain-JSON record with a writer schema through avro-c. */
static void *encode_obj_with(const char *schema_file, uint32_t id, const json_t *obj, size_t *len)
{
    avro_schema_t s = test_schema(schema_file);
    void *out = NULL;
    wf_err err;

    wf_err_init(&err);
    if (avro_json_encode(s, obj, 5, &out, len, &err) != 0)
        fail_msg("encode with %s: %s", schema_file, err.msg);
    put_header(out, id);
    avro_schema_decref(s);
    return out;
}

static void *encode_with(const char *schema_file, uint32_t id, const char *json, size_t *len)
{
    json_t *obj = load(json);
    void *out = encode_obj_with(schema_file, id, obj, len);

    json_decref(obj);
    return out;
}

static void expect_decode_error(codec *c, const void *buf, size_t len, const char *ct, wf_class cls,
                                const char *code, const char *msg_part)
{
    ws_event ev;
    wf_err err;

    wf_err_init(&err);
    assert_int_equal(codec_decode_event(c, buf, len, ct, &ev, &err), -1);
    if (err.cls != cls || strcmp(err.code, code) != 0 || strstr(err.msg, msg_part) == NULL)
        fail_msg("want %s %s \"...%s...\", got %s %s \"%s\"", wf_class_name(cls), code, msg_part,
                 wf_class_name(err.cls), err.code, err.msg);
    assert_null(ev.event_id);
}

static void assert_same_event(const ws_event *a, const ws_event *b)
{
    json_t *ja = ws_event_to_json(a), *jb = ws_event_to_json(b);

    assert_non_null(ja);
    assert_non_null(jb);
    if (!json_equal(ja, jb)) {
        char *sa = json_dumps(ja, JSON_SORT_KEYS), *sb = json_dumps(jb, JSON_SORT_KEYS);
        fail_msg("events differ:\n%s\n%s", sa, sb);
    }
    json_decref(ja);
    json_decref(jb);
}

/* ---------------- JSON ---------------- */

static void json_seed_event_decodes(void **state)
{
    fixture *f = *state;
    char buf[sizeof(SEED_EVENT) + 8];
    ws_event ev;
    wf_err err;

    snprintf(buf, sizeof(buf), " \n\t%s\n", SEED_EVENT); /* leading blanks still say JSON */
    wf_err_init(&err);
    assert_int_equal(codec_decode_event(f->c, buf, strlen(buf), NULL, &ev, &err), 0);
    assert_string_equal(ev.ws.workspace_name, "ML Production \xc3\xa9");
    assert_int_equal(ev.ws.members[2].role, WS_ROLE_VIEWER);
    assert_same_event(&ev, &f->seed);
    ws_event_fini(&ev);
}

static void json_round_trip(void **state)
{
    fixture *f = *state;
    void *buf = NULL;
    size_t len = 0;
    ws_event ev;
    wf_err err;

    wf_err_init(&err);
    assert_int_equal(codec_encode_event(f->c, &f->seed, CODEC_JSON, &buf, &len, &err), 0);
    assert_int_equal(((char *)buf)[0], '{');
    assert_int_equal(len, strlen(buf));
    assert_int_equal(codec_decode_event(f->c, buf, len, "application/json", &ev, &err), 0);
    assert_same_event(&ev, &f->seed);
    ws_event_fini(&ev);
    free(buf);
}

static void json_syntax_error_reports_line_and_column(void **state)
{
    fixture *f = *state;
    const char bad[] = "{\"event_id\": \"e\",\n \"event_type\": WORKSPACE_CREATED}";

    expect_decode_error(f->c, bad, strlen(bad), NULL, WF_DESERIALIZATION, "json.parse",
                        "JSON line 2, column ");
    expect_decode_error(f->c, "[1]", 3, "application/json; charset=utf-8", WF_DESERIALIZATION,
                        "json.parse", "not an object");
    expect_decode_error(f->c, "{\"a\":1,\"a\":2}", 13, NULL, WF_DESERIALIZATION, "json.parse",
                        "duplicate");
}

static void json_field_errors_are_event_field(void **state)
{
    fixture *f = *state;
    const char missing[] = "{\"event_id\": \"e\", \"event_type\": \"WORKSPACE_CREATED\","
                           " \"occurred_at\": 1, \"workspace_version\": 1}";
    const char wrong[] = "{\"event_id\": 5}";
    const char unknown[] = "{\"event_id\": \"e\", \"event_type\": \"WORKSPACE_EXPLODED\"}";

    expect_decode_error(f->c, missing, strlen(missing), NULL, WF_DESERIALIZATION, "event.field",
                        "workspace: required field is missing");
    expect_decode_error(f->c, wrong, strlen(wrong), NULL, WF_DESERIALIZATION, "event.field",
                        "event_id: expected a string, got an integer");
    expect_decode_error(f->c, unknown, strlen(unknown), NULL, WF_DESERIALIZATION, "event.field",
                        "event_type: unknown event type \"WORKSPACE_EXPLODED\"");
}

/* ---------------- Avro ---------------- */

static void avro_round_trip(void **state)
{
    fixture *f = *state;
    const unsigned char *b = f->avro;
    ws_event ev;
    wf_err err;

    assert_true(f->avro_len > 5);
    assert_memory_equal(b, "\0\0\0\0\1", 5); /* magic 0, id 1 */
    wf_err_init(&err);
    assert_int_equal(codec_decode_event(f->c, f->avro, f->avro_len, NULL, &ev, &err), 0);
    assert_same_event(&ev, &f->seed);
    ws_event_fini(&ev);
}

/* Our decoder and avro-c's own reader agree on the same bytes. */
static void decoder_agrees_with_avro_c(void **state)
{
    fixture *f = *state;
    avro_schema_t s = test_schema("../../../schemas/workspace_lifecycle_event.avsc");
    avro_value_iface_t *iface = avro_generic_class_from_schema(s);
    avro_value_t v;
    avro_reader_t r = avro_reader_memory((const char *)f->avro + 5, (int64_t)f->avro_len - 5);
    json_t *mine = NULL, *theirs = NULL;
    wf_err err;

    wf_err_init(&err);
    assert_int_equal(avro_generic_value_new(iface, &v), 0);
    assert_int_equal(avro_value_read(r, &v), 0);
    assert_int_equal(avro_json_from_value(&v, &theirs, &err), 0);
    assert_int_equal(avro_json_decode(s, (const char *)f->avro + 5, f->avro_len - 5, &mine, &err),
                     0);
    assert_true(json_equal(mine, theirs));
    assert_string_equal(json_string_value(json_object_get(mine, "event_type")),
                        "WORKSPACE_CREATED");
    json_decref(mine);
    json_decref(theirs);
    avro_reader_free(r);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(s);
}

static avro_value_t field(avro_value_t *rec, const char *name)
{
    avro_value_t f = {0}; /* cmocka's fail_msg is not marked noreturn */
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        fail_msg("no field %s: %s", name, avro_strerror());
    return f;
}

static void set_str(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f = field(rec, name);
    assert_int_equal(avro_value_set_string(&f, s), 0);
}

static void set_sym(avro_value_t *rec, const char *name, const char *symbol)
{
    avro_value_t f = field(rec, name);
    int i = avro_schema_enum_get_by_name(avro_value_get_schema(&f), symbol);
    assert_true(i >= 0);
    assert_int_equal(avro_value_set_enum(&f, i), 0);
}

/* A record of the older writer schema (id 10), built with avro-c's own
 * value API and written by avro_value_write. */
static void *v0_record(size_t *len)
{
    avro_schema_t s = test_schema("workspace_lifecycle_event.v0.avsc");
    avro_value_iface_t *iface = avro_generic_class_from_schema(s);
    avro_value_t ev, f, ws, item, branch;
    size_t size;
    unsigned char *buf;
    avro_writer_t w;

    assert_int_equal(avro_generic_value_new(iface, &ev), 0);
    set_str(&ev, "event_id", "e-old");
    set_sym(&ev, "event_type", "MEMBERS_CHANGED");
    f = field(&ev, "occurred_at");
    assert_int_equal(avro_value_set_long(&f, 1600000000000LL), 0);
    f = field(&ev, "workspace_version");
    assert_int_equal(avro_value_set_long(&f, 41), 0);
    f = field(&ev, "service");
    assert_int_equal(avro_value_set_branch(&f, 0, &branch), 0);
    assert_int_equal(avro_value_set_null(&branch), 0);
    ws = field(&ev, "workspace");
    set_str(&ws, "workspace_id", "ws-old");
    set_str(&ws, "workspace_name", "Old");
    set_str(&ws, "data_bucket", "old-bucket");
    f = field(&ws, "services");
    assert_int_equal(avro_value_append(&f, &item, NULL), 0);
    assert_int_equal(avro_value_set_string(&item, "flyte"), 0);
    f = field(&ws, "members");
    assert_int_equal(avro_value_append(&f, &item, NULL), 0);
    set_str(&item, "user_id", "dana");
    set_str(&item, "email", "dana@example.com");
    set_sym(&item, "role", "OWNER");
    f = field(&ws, "quota");
    assert_int_equal(avro_value_set_branch(&f, 0, &branch), 0);

    assert_int_equal(avro_value_sizeof(&ev, &size), 0);
    buf = malloc(size + 5);
    put_header(buf, 10);
    w = avro_writer_memory((char *)buf + 5, (int64_t)size);
    assert_int_equal(avro_value_write(w, &ev), 0);
    avro_writer_free(w);
    avro_value_decref(&ev);
    avro_value_iface_decref(iface);
    avro_schema_decref(s);
    *len = size + 5;
    return buf;
}

static void older_writer_gets_reader_defaults(void **state)
{
    fixture *f = *state;
    size_t len;
    void *buf = v0_record(&len);
    ws_event ev;
    wf_err err;

    wf_err_init(&err);
    if (codec_decode_event(f->c, buf, len, NULL, &ev, &err) != 0)
        fail_msg("%s: %s", err.code, err.msg);
    assert_string_equal(ev.event_id, "e-old");
    assert_int_equal(ev.type, WS_MEMBERS_CHANGED);
    assert_int_equal(ev.occurred_at, 1600000000000LL);
    assert_int_equal(ev.workspace_version, 41);
    assert_null(ev.actor);               /* absent from the writer: default null */
    assert_int_equal(ev.ws.n_labels, 0); /* absent from the writer: default {} */
    assert_null(ev.service);
    assert_null(ev.ws.quota);
    assert_string_equal(ev.ws.data_bucket, "old-bucket");
    assert_int_equal(ev.ws.n_members, 1);
    assert_string_equal(ev.ws.members[0].email, "dana@example.com");
    assert_int_equal(ev.ws.members[0].role, WS_ROLE_OWNER);
    assert_true(workspace_has_service(&ev.ws, "flyte"));
    ws_event_fini(&ev);
    free(buf);
}

static const char V2_EVENT[] =
    "{\"event_id\": \"e-new\", \"trace_id\": \"trace-9\", \"event_type\": \"SERVICE_ADDED\","
    " \"occurred_at\": 1800000000000, \"workspace_version\": 7, \"actor\": \"erin\","
    " \"service\": \"flyte\", \"workspace\": {\"workspace_id\": \"ws-new\","
    " \"workspace_name\": \"New\", \"cost_center\": \"cc-42\", \"services\": [\"flyte\"],"
    " \"members\": [], \"data_bucket\": \"new-bucket\", \"quota\": {\"requests_cpu\": \"1\","
    " \"requests_memory\": \"1Gi\", \"limits_cpu\": \"2\", \"limits_memory\": \"2Gi\","
    " \"pods\": 3, \"persistent_volume_claims\": 0}, \"labels\": {\"tier\": \"gold\"}}}";

static void newer_writer_extra_fields_are_ignored(void **state)
{
    fixture *f = *state;
    size_t len;
    void *buf = encode_with("workspace_lifecycle_event.v2.avsc", 11, V2_EVENT, &len);
    ws_event ev;
    json_t *back;
    wf_err err;

    wf_err_init(&err);
    if (codec_decode_event(f->c, buf, len, NULL, &ev, &err) != 0)
        fail_msg("%s: %s", err.code, err.msg);
    assert_string_equal(ev.event_id, "e-new");
    assert_int_equal(ev.type, WS_SERVICE_ADDED);
    assert_string_equal(ev.service, "flyte");
    assert_string_equal(ev.ws.data_bucket, "new-bucket");
    assert_int_equal(ev.ws.quota->pods, 3);
    assert_string_equal(ev.ws.labels[0].value, "gold");
    back = ws_event_to_json(&ev);
    assert_null(json_object_get(back, "trace_id"));
    assert_null(json_object_get(json_object_get(back, "workspace"), "cost_center"));
    json_decref(back);
    ws_event_fini(&ev);
    free(buf);
}

static void newer_writer_unknown_symbol_is_avro_schema(void **state)
{
    fixture *f = *state;
    json_t *obj = load(V2_EVENT);
    size_t len;
    void *buf;

    json_object_set_new(obj, "event_type", json_string("WORKSPACE_ARCHIVED"));
    buf = encode_obj_with("workspace_lifecycle_event.v2.avsc", 11, obj, &len);
    json_decref(obj);
    expect_decode_error(f->c, buf, len, NULL, WF_DESERIALIZATION, "avro.schema",
                        "event_type: symbol \"WORKSPACE_ARCHIVED\" is not in the reader's enum");
    free(buf);
}

/* ---------------- partly readable events ---------------- */

/* Decodes buf expecting failure cls/code, then reads its ids and checks
 * them against the expected ones. */
static void expect_ids_after_failure(codec *c, const void *buf, size_t len, const char *ct,
                                     wf_class cls, const char *code, const char *event_id,
                                     const char *workspace_id, int type, int64_t version)
{
    ws_event ev;
    wf_err err;

    wf_err_init(&err);
    assert_int_equal(codec_decode_event(c, buf, len, ct, &ev, &err), -1);
    if (err.cls != cls || strcmp(err.code, code) != 0)
        fail_msg("want %s %s, got %s %s \"%s\"", wf_class_name(cls), code, wf_class_name(err.cls),
                 err.code, err.msg);
    assert_int_equal(codec_decode_event_ids(c, buf, len, ct, &ev), 0);
    assert_string_equal(ev.event_id, event_id);
    assert_string_equal(ev.ws.workspace_id, workspace_id);
    assert_int_equal(ev.type, type);
    assert_int_equal(ev.workspace_version, version);
    ws_event_fini(&ev);
}

static void json_without_version_still_has_ids(void **state)
{
    fixture *f = *state;
    json_t *obj = load(SEED_EVENT);
    char *text;

    json_object_del(obj, "workspace_version");
    text = json_dumps(obj, JSON_COMPACT);
    expect_ids_after_failure(f->c, text, strlen(text), "application/json", WF_DESERIALIZATION,
                             "event.field", "7f1c2a9e-4b1d-4c3e-9a55-0d2f8e6b1a01",
                             "ws-ml-prod-001", WS_WORKSPACE_CREATED, WS_VERSION_UNREADABLE);
    free(text);
    json_decref(obj);
}

static void avro_over_the_member_limit_still_has_ids(void **state)
{
    fixture *f = *state;
    json_t *obj = load(SEED_EVENT), *members = json_array();
    size_t len;
    void *buf;

    for (int i = 0; i <= WS_MAX_MEMBERS; i++)
        json_array_append_new(members, json_pack("{s:s, s:s, s:s}", "user_id", "u", "email",
                                                 "u@example.com", "role", "VIEWER"));
    json_object_set_new(json_object_get(obj, "workspace"), "members", members);
    json_object_set_new(obj, "event_type", json_string("MEMBERS_CHANGED"));
    buf = encode_obj_with("../../../schemas/workspace_lifecycle_event.avsc", 1, obj, &len);
    json_decref(obj);
    expect_ids_after_failure(f->c, buf, len, NULL, WF_VALIDATION, "event.limit",
                             "7f1c2a9e-4b1d-4c3e-9a55-0d2f8e6b1a01", "ws-ml-prod-001",
                             WS_MEMBERS_CHANGED, 3);
    free(buf);
}

/* The projection onto our schema refuses the symbol; the writer's own
 * form still names the event. */
static void avro_with_unknown_symbol_still_has_ids(void **state)
{
    fixture *f = *state;
    json_t *obj = load(V2_EVENT);
    size_t len;
    void *buf;

    json_object_set_new(obj, "event_type", json_string("WORKSPACE_ARCHIVED"));
    buf = encode_obj_with("workspace_lifecycle_event.v2.avsc", 11, obj, &len);
    json_decref(obj);
    expect_ids_after_failure(f->c, buf, len, NULL, WF_DESERIALIZATION, "avro.schema", "e-new",
                             "ws-new", WS_EVENT_TYPE_UNREADABLE, 7);
    free(buf);
}

static void unreadable_records_have_no_ids(void **state)
{
    fixture *f = *state;
    const char no_ws[] = "{\"event_id\": \"e\", \"event_type\": \"WORKSPACE_CREATED\"}";
    const char broken[] = "{\"event_id\": \"e\", \"workspace\":";
    unsigned char *trunc = malloc(f->avro_len);
    ws_event ev;

    memcpy(trunc, f->avro, f->avro_len);
    assert_int_equal(codec_decode_event_ids(f->c, no_ws, strlen(no_ws), NULL, &ev), -1);
    assert_null(ev.event_id);
    assert_int_equal(codec_decode_event_ids(f->c, broken, strlen(broken), NULL, &ev), -1);
    assert_int_equal(codec_decode_event_ids(f->c, "\x07garbage", 8, NULL, &ev), -1);
    assert_int_equal(codec_decode_event_ids(f->c, trunc, 20, NULL, &ev), -1); /* cut short */
    put_header(trunc, 99);
    assert_int_equal(codec_decode_event_ids(f->c, trunc, f->avro_len, NULL, &ev), -1);
    assert_int_equal(codec_decode_event_ids(f->c, NULL, 0, NULL, &ev), -1);
    /* A whole event has its ids too. */
    assert_int_equal(codec_decode_event_ids(f->c, f->avro, f->avro_len, NULL, &ev), 0);
    assert_string_equal(ev.ws.workspace_id, "ws-ml-prod-001");
    ws_event_fini(&ev);
    free(trunc);
}

static void writer_missing_field_without_default_is_avro_schema(void **state)
{
    fixture *f = *state;
    size_t len;
    void *buf = encode_with("workspace_lifecycle_event.no-bucket.avsc", 12, SEED_EVENT, &len);

    expect_decode_error(f->c, buf, len, NULL, WF_DESERIALIZATION, "avro.schema",
                        "schema id 12: workspace.data_bucket: the writer has no such field");
    free(buf);
}

static void bad_magic_is_avro_magic(void **state)
{
    fixture *f = *state;
    unsigned char *buf = malloc(f->avro_len);

    memcpy(buf, f->avro, f->avro_len);
    buf[0] = 1;
    expect_decode_error(f->c, buf, f->avro_len, NULL, WF_DESERIALIZATION, "avro.magic",
                        "magic byte 0x01");
    expect_decode_error(f->c, buf, 0, NULL, WF_DESERIALIZATION, "avro.magic", "empty");
    buf[0] = 0;
    expect_decode_error(f->c, buf, 3, NULL, WF_DESERIALIZATION, "avro.magic",
                        "shorter than the 5-byte");
    free(buf);
}

static void unknown_schema_id_is_avro_schema(void **state)
{
    fixture *f = *state;
    unsigned char *buf = malloc(f->avro_len);

    memcpy(buf, f->avro, f->avro_len);
    put_header(buf, 99);
    expect_decode_error(f->c, buf, f->avro_len, NULL, WF_DESERIALIZATION, "avro.schema",
                        "unknown schema id 99");
    put_header(buf, 0x80000001u);
    expect_decode_error(f->c, buf, f->avro_len, NULL, WF_DESERIALIZATION, "avro.schema",
                        "unknown schema id 2147483649");
    free(buf);
}

static void every_truncation_is_avro_decode(void **state)
{
    fixture *f = *state;

    for (size_t len = 5; len < f->avro_len; len++)
        expect_decode_error(f->c, f->avro, len, NULL, WF_DESERIALIZATION, "avro.decode",
                            "truncated");
}

static void trailing_bytes_are_avro_decode(void **state)
{
    fixture *f = *state;
    unsigned char *buf = malloc(f->avro_len + 2);

    memcpy(buf, f->avro, f->avro_len);
    buf[f->avro_len] = 0;
    buf[f->avro_len + 1] = 0;
    expect_decode_error(f->c, buf, f->avro_len + 2, NULL, WF_DESERIALIZATION, "avro.decode",
                        "2 bytes left over after the record");
    free(buf);
}

static void bad_union_index_is_avro_decode(void **state)
{
    fixture *f = *state;
    unsigned char *buf = malloc(f->avro_len);
    const unsigned char *b = f->avro;
    size_t at;

    /* After event_id (length 36 + 1-byte prefix), event_type, occurred_at
     * and workspace_version comes actor's union index (2 = string). */
    memcpy(buf, f->avro, f->avro_len);
    at = 5 + 1 + 36 + 1;
    while (b[at] & 0x80) /* occurred_at varint */
        at++;
    at += 2; /* its last byte, then workspace_version (one byte) */
    assert_int_equal(buf[at], 2);
    buf[at] = 0x12; /* index 9 */
    expect_decode_error(f->c, buf, f->avro_len, NULL, WF_DESERIALIZATION, "avro.decode",
                        "actor: union index 9 out of range (2 branches)");
    free(buf);
}

/* ---------------- avro_json on small schemas ---------------- */

static void expect_raw_decode_error(const char *schema_json, const char *bytes, size_t n,
                                    const char *msg_part)
{
    avro_schema_t s;
    json_t *out = NULL;
    wf_err err;

    assert_int_equal(avro_schema_from_json_length(schema_json, strlen(schema_json), &s), 0);
    wf_err_init(&err);
    assert_int_equal(avro_json_decode(s, bytes, n, &out, &err), -1);
    assert_null(out);
    assert_int_equal(err.cls, WF_DESERIALIZATION);
    assert_string_equal(err.code, "avro.decode");
    if (strstr(err.msg, msg_part) == NULL)
        fail_msg("want \"...%s...\", got \"%s\"", msg_part, err.msg);
    avro_schema_decref(s);
}

static void decoder_rejects_malformed_data(void **state)
{
    const char rec[] = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"e\",\"type\":"
                       "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}}]}";

    (void)state;
    expect_raw_decode_error(rec, "\x10", 1, "e: enum index 8 out of range (E has 2 symbols)");
    expect_raw_decode_error("[\"null\",\"string\"]", "\x01", 1, "union index -1 out of range");
    /* 2^31 null items claimed in 5 bytes: refused, not looped over */
    expect_raw_decode_error("{\"type\":\"array\",\"items\":\"null\"}", "\xfe\xff\xff\xff\x0f", 5,
                            "more than 1000000 items");
    expect_raw_decode_error("{\"type\":\"array\",\"items\":\"long\"}", "\x0a\x02", 2,
                            "block of 5 items, 1 bytes left");
    expect_raw_decode_error("\"string\"", "\x01", 1, "negative string length -1");
    expect_raw_decode_error("\"string\"", "\x04\xff\xfe", 3, "not valid UTF-8");
    expect_raw_decode_error("\"long\"", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11,
                            "varint longer than 10 bytes");
    expect_raw_decode_error("\"int\"", "\x80\x80\x80\x80\x10", 5, "out of range");
    expect_raw_decode_error("\"boolean\"", "\x02", 1, "neither 0 nor 1");
    expect_raw_decode_error("{\"type\":\"map\",\"values\":\"int\"}", "\x02\x02\x61", 3,
                            "truncated");
}

static void decoder_reads_every_type(void **state)
{
    const char schema[] =
        "{\"type\":\"record\",\"name\":\"All\",\"fields\":["
        "{\"name\":\"b\",\"type\":\"boolean\"},{\"name\":\"f\",\"type\":\"float\"},"
        "{\"name\":\"d\",\"type\":\"double\"},{\"name\":\"y\",\"type\":\"bytes\"},"
        "{\"name\":\"x\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"int\"}},"
        "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":[\"null\",\"long\"]}}]}";
    const char want[] = "{\"b\": true, \"f\": 1.5, \"d\": -0.25, \"y\": \"a\\u00ff\","
                        " \"x\": \"\\u0001\\u0080\", \"m\": {\"k\": -3},"
                        " \"a\": [null, 123456789012]}";
    avro_schema_t s;
    json_t *in = load(want), *out = NULL;
    void *buf = NULL;
    size_t len = 0;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    assert_int_equal(avro_schema_from_json_length(schema, strlen(schema), &s), 0);
    assert_int_equal(avro_json_encode(s, in, 0, &buf, &len, &err), 0);
    assert_int_equal(avro_json_decode(s, buf, len, &out, &err), 0);
    assert_true(json_equal(in, out));
    json_decref(out);
    json_decref(in);
    free(buf);
    avro_schema_decref(s);
}

static const char READER[] =
    "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"t\",\"fields\":["
    " {\"name\":\"id\",\"type\":\"long\"},"
    " {\"name\":\"ratio\",\"type\":\"double\"},"
    " {\"name\":\"renamed\",\"type\":\"string\",\"aliases\":[\"old_name\"]},"
    " {\"name\":\"color\",\"type\":{\"type\":\"enum\",\"name\":\"Color\","
    "   \"symbols\":[\"RED\",\"OTHER\"],\"default\":\"OTHER\"}},"
    " {\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
    "   \"name\":\"Item\",\"fields\":[{\"name\":\"n\",\"type\":\"int\"},"
    "   {\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":\"string\"},\"default\":{}}]}}},"
    " {\"name\":\"best\",\"type\":[\"null\",\"Item\"],\"default\":null},"
    " {\"name\":\"added\",\"type\":[\"null\",\"string\"],\"default\":null},"
    " {\"name\":\"count\",\"type\":\"int\",\"default\":7}]}";

static int project(const char *reader, const char *in, json_t **out, wf_err *err)
{
    json_t *avsc = load(reader), *obj = load(in);
    avro_json_reader *r = avro_json_reader_new(avsc, err);
    int rc;

    assert_non_null(r);
    rc = avro_json_reader_project(r, obj, out, err);
    avro_json_reader_free(r);
    json_decref(obj);
    json_decref(avsc);
    return rc;
}

static void projection_follows_avro_resolution(void **state)
{
    const char in[] = "{\"id\": 5, \"ratio\": 2, \"old_name\": \"x\", \"color\": \"GREEN\","
                      " \"items\": [{\"n\": 1, \"gone\": true}],"
                      " \"best\": {\"n\": 2}, \"dropped\": [1, 2]}";
    const char want[] = "{\"id\": 5, \"ratio\": 2.0, \"renamed\": \"x\", \"color\": \"OTHER\","
                        " \"items\": [{\"n\": 1, \"tags\": {}}],"
                        " \"best\": {\"n\": 2, \"tags\": {}}, \"added\": null, \"count\": 7}";
    json_t *out = NULL, *expected = load(want);
    wf_err err;

    (void)state;
    wf_err_init(&err);
    if (project(READER, in, &out, &err) != 0)
        fail_msg("%s", err.msg);
    if (!json_equal(out, expected))
        fail_msg("got %s", json_dumps(out, JSON_SORT_KEYS));
    assert_true(json_is_real(json_object_get(out, "ratio"))); /* int promoted to double */
    json_decref(out);
    json_decref(expected);
}

static void projection_failures_name_the_field(void **state)
{
    json_t *out = NULL;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    assert_int_equal(project(READER,
                             "{\"id\": 5, \"ratio\": 1, \"renamed\": \"x\", \"color\": \"RED\","
                             " \"items\": [{\"n\": 1}, {\"tags\": {}}]}",
                             &out, &err),
                     -1);
    assert_null(out);
    assert_string_equal(err.code, "avro.schema");
    assert_string_equal(err.msg, "items[1].n: the writer has no such field and the reader "
                                 "declares no default");
    wf_err_init(&err);
    assert_int_equal(project(READER,
                             "{\"id\": \"5\", \"ratio\": 1, \"renamed\": \"x\", \"color\": \"RED\","
                             " \"items\": []}",
                             &out, &err),
                     -1);
    assert_string_equal(err.msg, "id: writer's a string does not resolve to the reader's long");
    wf_err_init(&err);
    assert_int_equal(project(READER,
                             "{\"id\": 1, \"ratio\": 1, \"renamed\": \"x\", \"color\": \"RED\","
                             " \"items\": [], \"count\": 3000000000}",
                             &out, &err),
                     -1);
    assert_string_equal(err.msg, "count: writer's an integer does not resolve to the reader's int");
}

static void reader_schema_must_be_well_formed(void **state)
{
    json_t *avsc = load("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                        "{\"name\":\"a\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
                        "\"symbols\":[\"X\"]}},{\"name\":\"b\",\"type\":{\"type\":\"enum\","
                        "\"name\":\"E\",\"symbols\":[\"Y\"]}}]}");
    wf_err err;

    (void)state;
    wf_err_init(&err);
    assert_null(avro_json_reader_new(avsc, &err));
    assert_int_equal(err.cls, WF_CONFIG);
    assert_string_equal(err.msg, "type E defined twice");
    json_decref(avsc);
}

/* ---------------- results ---------------- */

static void fill_result(prov_result *r, int with_error)
{
    static char *ns[] = {"ws-1-development", "ws-1-staging", "ws-1-production"};

    memset(r, 0, sizeof(*r));
    r->result_id = "res-1";
    r->event_id = "ev-1";
    r->event_type = WS_WORKSPACE_DELETED;
    r->workspace_id = "ws-1";
    r->workspace_version = 12;
    r->status = with_error ? PROV_FAILED : PROV_SUCCEEDED;
    r->flyte_project = "ws-1";
    r->console_url = "http://localhost:8089/console/projects/ws-1";
    r->namespaces = ns;
    r->n_namespaces = 3;
    r->attempts = 2;
    r->duration_ms = 420;
    r->completed_at = 1718000002000LL;
    if (with_error) {
        r->reason = "flyte-unavailable";
        r->has_error = 1;
        r->error_class = "TRANSIENT";
        r->error_code = "flyte.503";
        r->error_message = "project ws-1: FlyteAdmin answered 503";
    }
}

static void result_round_trips_in_both_formats(void **state)
{
    fixture *f = *state;
    static const codec_format formats[] = {CODEC_AVRO, CODEC_JSON};

    for (int with_error = 0; with_error < 2; with_error++) {
        for (size_t i = 0; i < 2; i++) {
            prov_result r, back;
            void *buf = NULL;
            size_t len = 0;
            json_t *a, *b;
            wf_err err;

            fill_result(&r, with_error);
            wf_err_init(&err);
            assert_int_equal(codec_encode_result(f->c, &r, formats[i], &buf, &len, &err), 0);
            if (formats[i] == CODEC_AVRO)
                assert_memory_equal(buf, "\0\0\0\0\2", 5); /* id 2 */
            if (codec_decode_result(f->c, buf, len, &back, &err) != 0)
                fail_msg("%s: %s", err.code, err.msg);
            assert_int_equal(back.has_error, with_error);
            assert_int_equal(back.status, r.status);
            assert_string_equal(back.namespaces[2], "ws-1-production");
            a = prov_result_to_json(&r);
            b = prov_result_to_json(&back);
            assert_true(json_equal(a, b));
            json_decref(a);
            json_decref(b);
            prov_result_fini(&back);
            free(buf);
        }
    }
}

static void result_decode_rejects_event_record(void **state)
{
    fixture *f = *state;
    prov_result r;
    wf_err err;

    wf_err_init(&err);
    assert_int_equal(codec_decode_result(f->c, f->avro, f->avro_len, &r, &err), -1);
    assert_int_equal(err.cls, WF_DESERIALIZATION);
    assert_string_equal(err.code, "avro.schema");
    assert_null(r.result_id);
}

/* ---------------- construction ---------------- */

static void codec_new_reports_bad_configuration(void **state)
{
    codec_opts opts = {.schema_dir = "/nonexistent/schemas"};
    wf_err err;

    (void)state;
    wf_err_init(&err);
    assert_null(codec_new(&opts, &err));
    assert_int_equal(err.cls, WF_CONFIG);
    assert_non_null(strstr(err.msg, "/nonexistent/schemas/workspace_lifecycle_event.avsc"));

    /* An id map without our result schema leaves encoding without an id. */
    char dir[] = "/tmp/wsflyte-codec-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ids.json", dir);
    FILE *fp = fopen(path, "w");
    fprintf(fp, "{\"3\": \"%s/workspace_lifecycle_event.avsc\"}", WSFLYTE_SCHEMA_DIR);
    fclose(fp);
    opts.schema_dir = WSFLYTE_SCHEMA_DIR;
    opts.id_map_path = path;
    wf_err_init(&err);
    assert_null(codec_new(&opts, &err));
    assert_int_equal(err.cls, WF_CONFIG);
    assert_string_equal(err.code, "schema.ids");
    assert_non_null(strstr(err.msg, "no id maps to a schema equal to provisioning_result.avsc"));
    remove(path);
    remove(dir);
}

static void the_shipped_id_map_loads(void **state)
{
    codec_opts opts = {.schema_dir = WSFLYTE_SCHEMA_DIR};
    codec_format fmt;
    wf_err err;
    codec *c;

    (void)state;
    wf_err_init(&err);
    c = codec_new(&opts, &err);
    if (c == NULL)
        fail_msg("%s", err.msg);
    codec_free(c);
    codec_free(NULL);
    assert_int_equal(codec_format_parse("json", &fmt), 0);
    assert_int_equal(fmt, CODEC_JSON);
    assert_int_equal(codec_format_parse("avro", &fmt), 0);
    assert_int_equal(fmt, CODEC_AVRO);
    assert_int_equal(codec_format_parse("xml", &fmt), -1);
}

/* ---------------- the schema registry ---------------- */

typedef struct fake_registry {
    struct MHD_Daemon *d;
    char url[64];
    int gets;
    int posts;
    int registrations;
    unsigned fail_status; /* answer every request with this status, if set */
    char accept[128];
    char *schema_text; /* served as id 1 */
} fake_registry;

static int conn_marker;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);

    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result registry_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                        const char *method, const char *version, const char *upload,
                                        size_t *upload_size, void **con_cls)
{
    fake_registry *fr = cls;
    const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");

    (void)version, (void)upload;
    if (*con_cls == NULL) {
        *con_cls = &conn_marker;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        *upload_size = 0; /* the lookup body is not checked here */
        return MHD_YES;
    }
    snprintf(fr->accept, sizeof(fr->accept), "%s", accept ? accept : "");
    if (strcmp(method, "POST") == 0) {
        size_t n = strlen(url);
        fr->posts++;
        if (fr->fail_status != 0)
            return reply(conn, fr->fail_status,
                         "{\"error_code\":40101,\"message\":\"Unauthorized\"}");
        if (n > 9 && strcmp(url + n - 9, "/versions") == 0) {
            fr->registrations++;
            return reply(conn, 200, "{\"id\":7}");
        }
        if (strcmp(url, "/subjects/workspace.provisioning.v1-value") == 0)
            return reply(conn, 200,
                         "{\"subject\":\"workspace.provisioning.v1-value\","
                         "\"id\":42,\"version\":1,\"schema\":\"...\"}");
        return reply(conn, 404, "{\"error_code\":40401,\"message\":\"Subject not found.\"}");
    }
    fr->gets++;
    if (strcmp(url, "/schemas/ids/1") == 0)
        return reply(conn, 200, fr->schema_text);
    if (strcmp(url, "/schemas/ids/5") == 0)
        return reply(conn, 503, "{\"error_code\":50302,\"message\":\"Busy\"}");
    return reply(conn, 404, "{\"error_code\":40403,\"message\":\"Schema not found\"}");
}

static fake_registry *registry_start(void)
{
    fake_registry *fr = calloc(1, sizeof(*fr));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    json_t *avsc, *body;
    json_error_t jerr;
    char path[512], *text;

    snprintf(path, sizeof(path), "%s/workspace_lifecycle_event.avsc", WSFLYTE_SCHEMA_DIR);
    avsc = json_load_file(path, 0, &jerr);
    assert_non_null(avsc);
    text = json_dumps(avsc, JSON_COMPACT);
    body = json_pack("{s:s}", "schema", text); /* the schema as an escaped string */
    fr->schema_text = json_dumps(body, 0);
    free(text);
    json_decref(body);
    json_decref(avsc);
    fr->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, registry_handler, fr,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_END);
    assert_non_null(fr->d);
    snprintf(fr->url, sizeof(fr->url), "http://127.0.0.1:%u/",
             (unsigned)MHD_get_daemon_info(fr->d, MHD_DAEMON_INFO_BIND_PORT)->port);
    return fr;
}

static void registry_stop(fake_registry *fr)
{
    MHD_stop_daemon(fr->d);
    free(fr->schema_text);
    free(fr);
}

static void registry_supplies_and_caches_writer_schemas(void **state)
{
    fixture *f = *state;
    fake_registry *fr = registry_start();
    codec *c = new_codec(fr->url);
    ws_event ev;
    wf_err err;

    for (int i = 0; i < 2; i++) {
        wf_err_init(&err);
        if (codec_decode_event(c, f->avro, f->avro_len, NULL, &ev, &err) != 0)
            fail_msg("%s: %s", err.code, err.msg);
        assert_same_event(&ev, &f->seed);
        ws_event_fini(&ev);
    }
    assert_int_equal(fr->gets, 1); /* cached per id */
    assert_non_null(strstr(fr->accept, "application/vnd.schemaregistry.v1+json"));
    codec_free(c);
    registry_stop(fr);
}

static void registry_errors_are_classified(void **state)
{
    fixture *f = *state;
    fake_registry *fr = registry_start();
    codec *c = new_codec(fr->url);
    unsigned char *buf = malloc(f->avro_len);

    memcpy(buf, f->avro, f->avro_len);
    put_header(buf, 77);
    expect_decode_error(c, buf, f->avro_len, NULL, WF_DESERIALIZATION, "avro.schema",
                        "unknown schema id 77: the schema registry has no such schema");
    put_header(buf, 5);
    expect_decode_error(c, buf, f->avro_len, NULL, WF_TRANSIENT, "registry.503", "Busy");
    codec_free(c);
    registry_stop(fr);

    c = new_codec("http://127.0.0.1:1");
    expect_decode_error(c, buf, f->avro_len, NULL, WF_TRANSIENT, "registry.unreachable",
                        "GET http://127.0.0.1:1/schemas/ids/5");
    codec_free(c);
    free(buf);
}

static void registry_credentials_never_appear_in_errors(void **state)
{
    fixture *f = *state;
    codec *c = new_codec("http://wsflyte:s3cr3t-pw@127.0.0.1:1/");
    prov_result r;
    void *buf = NULL;
    size_t len;
    wf_err err;

    expect_decode_error(c, f->avro, f->avro_len, NULL, WF_TRANSIENT, "registry.unreachable",
                        "schema registry GET http://***@127.0.0.1:1/schemas/ids/1: ");
    fill_result(&r, 0);
    wf_err_init(&err);
    assert_int_equal(codec_encode_result(c, &r, CODEC_AVRO, &buf, &len, &err), -1);
    assert_string_equal(err.code, "registry.unreachable");
    assert_non_null(strstr(err.msg, "POST http://***@127.0.0.1:1/subjects/"));
    assert_null(strstr(err.msg, "s3cr3t"));
    assert_null(strstr(err.msg, "wsflyte:"));
    codec_free(c);
}

static void registry_encoding_looks_up_our_id(void **state)
{
    fixture *f = *state;
    fake_registry *fr = registry_start();
    codec *c = new_codec(fr->url);
    prov_result r;
    void *buf = NULL;
    size_t len;
    wf_err err;

    fill_result(&r, 0);
    for (int i = 0; i < 2; i++) {
        wf_err_init(&err);
        assert_int_equal(codec_encode_result(c, &r, CODEC_AVRO, &buf, &len, &err), 0);
        assert_memory_equal(buf, "\0\0\0\0\x2a", 5); /* the registry's id 42 */
        free(buf);
    }
    assert_int_equal(fr->posts, 1);

    /* Our event schema is not registered under its subject. */
    wf_err_init(&err);
    assert_int_equal(codec_encode_event(c, &f->seed, CODEC_AVRO, &buf, &len, &err), -1);
    assert_int_equal(err.cls, WF_CONFIG);
    assert_string_equal(err.code, "registry.subject");
    assert_non_null(strstr(err.msg, "workspace.lifecycle.v1-value"));
    assert_null(buf);
    codec_free(c);
    registry_stop(fr);

    c = new_codec("http://127.0.0.1:1");
    wf_err_init(&err);
    assert_int_equal(codec_encode_result(c, &r, CODEC_AVRO, &buf, &len, &err), -1);
    assert_int_equal(err.cls, WF_TRANSIENT);
    assert_string_equal(err.code, "registry.unreachable");
    codec_free(c);
}

static void startup_check_names_subject_and_command(void **state)
{
    fake_registry *fr = registry_start();
    char url[128];
    codec *c;
    wf_err err;

    (void)state;
    /* userinfo in the URL: the command shows it masked */
    snprintf(url, sizeof(url), "http://wsflyte:s3cr3t@%s", fr->url + strlen("http://"));
    c = new_codec_for(url, "other.results-value");
    wf_err_init(&err);
    assert_int_equal(codec_check_result_schema(c, 0, 5000, NULL, &err), -1);
    assert_int_equal(err.cls, WF_CONFIG);
    assert_string_equal(err.code, "registry.subject");
    assert_non_null(strstr(err.msg, "under subject other.results-value"));
    assert_non_null(strstr(err.msg, "jq -n --rawfile schema '" WSFLYTE_SCHEMA_DIR
                                    "/provisioning_result.avsc' '{schema: $schema}' | curl "));
    assert_non_null(strstr(err.msg, "'http://***@127.0.0.1:"));
    assert_non_null(strstr(err.msg, "/subjects/other.results-value/versions'"));
    assert_null(strstr(err.msg, "s3cr3t"));
    assert_int_equal(fr->registrations, 0);
    codec_free(c);
    registry_stop(fr);
}

static void startup_check_registers_when_allowed(void **state)
{
    fake_registry *fr = registry_start();
    codec *c = new_codec_for(fr->url, "other.results-value");
    prov_result r;
    void *buf = NULL;
    size_t len;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    if (codec_check_result_schema(c, 1, 5000, NULL, &err) != 0)
        fail_msg("%s: %s", err.code, err.msg);
    assert_int_equal(fr->registrations, 1);
    fill_result(&r, 0);
    assert_int_equal(codec_encode_result(c, &r, CODEC_AVRO, &buf, &len, &err), 0);
    assert_memory_equal(buf, "\0\0\0\0\x07", 5); /* the id the registration answered */
    free(buf);
    assert_int_equal(fr->posts, 2); /* lookup, registration; encoding asks nothing */
    codec_free(c);
    registry_stop(fr);
}

static void startup_check_gives_up_or_stops(void **state)
{
    fake_registry *fr = registry_start();
    codec *c = new_codec("http://127.0.0.1:1");
    wf_err err;

    (void)state;
    wf_err_init(&err);
    assert_int_equal(codec_check_result_schema(c, 1, 1200, NULL, &err), -1);
    assert_int_equal(err.cls, WF_TRANSIENT);
    assert_string_equal(err.code, "registry.unreachable");
    assert_non_null(strstr(err.msg, "could not be checked on http://127.0.0.1:1 within 1 s"));
    codec_free(c);

    /* A refusal (credentials) is not retried. */
    fr->fail_status = 401;
    c = new_codec(fr->url);
    wf_err_init(&err);
    assert_int_equal(codec_check_result_schema(c, 1, 60000, NULL, &err), -1);
    assert_string_equal(err.code, "registry.401");
    assert_non_null(strstr(err.msg, "could not be checked on http://127.0.0.1:"));
    assert_int_equal(fr->posts, 1);
    codec_free(c);
    registry_stop(fr);
}

static void startup_check_without_registry_is_a_no_op(void **state)
{
    fixture *f = *state;
    wf_err err;

    wf_err_init(&err);
    assert_int_equal(codec_check_result_schema(f->c, 0, 0, NULL, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(json_seed_event_decodes, setup, teardown),
        cmocka_unit_test_setup_teardown(json_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(json_syntax_error_reports_line_and_column, setup, teardown),
        cmocka_unit_test_setup_teardown(json_field_errors_are_event_field, setup, teardown),
        cmocka_unit_test_setup_teardown(avro_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(decoder_agrees_with_avro_c, setup, teardown),
        cmocka_unit_test_setup_teardown(older_writer_gets_reader_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_writer_extra_fields_are_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_writer_unknown_symbol_is_avro_schema, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(json_without_version_still_has_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(avro_over_the_member_limit_still_has_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(avro_with_unknown_symbol_still_has_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(unreadable_records_have_no_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(writer_missing_field_without_default_is_avro_schema, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_magic_is_avro_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_schema_id_is_avro_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(every_truncation_is_avro_decode, setup, teardown),
        cmocka_unit_test_setup_teardown(trailing_bytes_are_avro_decode, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_union_index_is_avro_decode, setup, teardown),
        cmocka_unit_test(decoder_rejects_malformed_data),
        cmocka_unit_test(decoder_reads_every_type),
        cmocka_unit_test(projection_follows_avro_resolution),
        cmocka_unit_test(projection_failures_name_the_field),
        cmocka_unit_test(reader_schema_must_be_well_formed),
        cmocka_unit_test_setup_teardown(result_round_trips_in_both_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(result_decode_rejects_event_record, setup, teardown),
        cmocka_unit_test(codec_new_reports_bad_configuration),
        cmocka_unit_test(the_shipped_id_map_loads),
        cmocka_unit_test_setup_teardown(registry_supplies_and_caches_writer_schemas, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(registry_errors_are_classified, setup, teardown),
        cmocka_unit_test_setup_teardown(registry_credentials_never_appear_in_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(registry_encoding_looks_up_our_id, setup, teardown),
        cmocka_unit_test(startup_check_names_subject_and_command),
        cmocka_unit_test(startup_check_registers_when_allowed),
        cmocka_unit_test(startup_check_gives_up_or_stops),
        cmocka_unit_test_setup_teardown(startup_check_without_registry_is_a_no_op, setup, teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
