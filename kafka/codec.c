/* Kafka record values <-> ws_event and prov_result: Confluent-framed Avro
 * (schema ids through a Schema Registry or the local id map) and JSON.
 *
 * Over 600 lines because it holds the whole wire format in one place: the
 * framing, the registry client and its cache, the start-up check (and
 * registration) of the result schema, the lenient second reading of partly
 * readable records, and result encoding. */
#include "codec.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "avro_json.h"
#include "clock.h"
#include "config.h" /* wf_url_mask */
#include "log.h"

#define SCHEMA_FILE_MAX   (1 << 20) /* bytes in a .avsc or the id map */
#define REGISTRY_BODY_MAX (4 << 20) /* bytes in a registry response */
#define WIRE_HEADER       5         /* magic byte + 4-byte schema id */
#define DEFAULT_TIMEOUT   5000L
#define CHECK_BACKOFF_MIN 500L  /* ms before the start-up check's second try */
#define CHECK_BACKOFF_MAX 5000L /* and the longest pause between tries */
#define SCHEMA_CT         "application/vnd.schemaregistry.v1+json"

static const char EVENT_FILE[] = "workspace_lifecycle_event.avsc";
static const char RESULT_FILE[] = "provisioning_result.avsc";
static const char ID_MAP_FILE[] = "schema-ids.json";

/* One of our own schemas: what we read into and encode with. */
typedef struct our_schema {
    const char *file;
    char *path; /* the .avsc as configured, for messages */
    char *subject;
    char *text; /* compact JSON, as sent to the registry */
    avro_schema_t schema;
    avro_json_reader *reader;
    int32_t id; /* -1 until known */
} our_schema;

typedef struct writer_schema {
    int32_t id;
    avro_schema_t schema;
} writer_schema;

struct codec {
    char *registry_url; /* without trailing '/'; NULL for the local map */
    long timeout_ms;
    CURL *curl;
    our_schema event;
    our_schema result;
    writer_schema *writers; /* the id map, or the registry cache */
    size_t n_writers;
    size_t cap_writers;
};

/* ---------------- files and schemas ---------------- */

/* Reads a whole file of at most max bytes.  Returns 0 with a malloc'd,
 * NUL-terminated *text, or -1 with err set. */
static int read_file(const char *path, size_t max, char **text, size_t *len, wf_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;
    int rc = -1;

    if (f == NULL) {
        wf_err_set(err, WF_CONFIG, "schema.file", "%s: %s", path, strerror(errno));
        return -1;
    }
    if ((buf = malloc(max + 1)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "%s: out of memory", path);
        goto out;
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f) || n > max) {
        wf_err_set(err, WF_CONFIG, "schema.file", "%s: %s", path,
                   ferror(f) ? "read error" : "larger than 1 MiB");
        goto out;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

static int parse_schema(const char *text, size_t len, const char *what, avro_schema_t *out,
                        wf_class cls, wf_err *err)
{
    if (avro_schema_from_json_length(text, len, out) != 0) {
        wf_err_set(err, cls, "avro.schema", "%s: not a valid Avro schema: %s", what,
                   avro_strerror());
        return -1;
    }
    return 0;
}

static char *path_join(const char *dir, const char *file)
{
    char *p = NULL;

    if (file[0] == '/')
        return strdup(file);
    if (asprintf(&p, "%s/%s", dir, file) < 0)
        return NULL;
    return p;
}

static int our_schema_load(our_schema *o, const char *dir, const char *file, const char *subject,
                           wf_err *err)
{
    char *path = path_join(dir, file), *text = NULL;
    size_t len;
    json_t *avsc = NULL;
    json_error_t jerr;
    int rc = -1;

    o->file = file;
    o->path = path;
    o->id = -1;
    if (path == NULL || (o->subject = strdup(subject)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "loading %s: out of memory", file);
        goto out;
    }
    if (read_file(path, SCHEMA_FILE_MAX, &text, &len, err) != 0)
        goto out;
    if ((avsc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
        wf_err_set(err, WF_CONFIG, "avro.schema", "%s:%d:%d: %s", path, jerr.line, jerr.column,
                   jerr.text);
        goto out;
    }
    if ((o->text = json_dumps(avsc, JSON_COMPACT)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "%s: out of memory", path);
        goto out;
    }
    if (parse_schema(o->text, strlen(o->text), path, &o->schema, WF_CONFIG, err) != 0 ||
        (o->reader = avro_json_reader_new(avsc, err)) == NULL) {
        wf_err_prefix(err, "%s", path);
        goto out;
    }
    rc = 0;
out:
    json_decref(avsc);
    free(text);
    return rc;
}

static void our_schema_fini(our_schema *o)
{
    free(o->path);
    free(o->subject);
    free(o->text);
    if (o->schema != NULL)
        avro_schema_decref(o->schema);
    avro_json_reader_free(o->reader);
}

/* Takes schema, also on error. */
static int writers_add_take(codec *c, int32_t id, avro_schema_t schema, wf_err *err)
{
    if (c->n_writers == c->cap_writers) {
        size_t cap = c->cap_writers ? 2 * c->cap_writers : 8;
        writer_schema *w = realloc(c->writers, cap * sizeof(*w));
        if (w == NULL) {
            avro_schema_decref(schema);
            wf_err_set(err, WF_INTERNAL, "oom", "caching schema id %d: out of memory", (int)id);
            return -1;
        }
        c->writers = w;
        c->cap_writers = cap;
    }
    c->writers[c->n_writers].id = id;
    c->writers[c->n_writers].schema = schema;
    c->n_writers++;
    return 0;
}

static avro_schema_t writers_find(const codec *c, int32_t id)
{
    for (size_t i = 0; i < c->n_writers; i++)
        if (c->writers[i].id == id)
            return c->writers[i].schema;
    return NULL;
}

/* Parses a schema id: decimal digits, 0..INT32_MAX. */
static int parse_id(const char *s, int32_t *out)
{
    char *end;
    long v;

    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > INT32_MAX)
        return -1;
    *out = (int32_t)v;
    return 0;
}

static int load_map_entry(codec *c, const char *map_path, const char *dir, const char *key,
                          const json_t *file, wf_err *err)
{
    char *path = NULL, *text = NULL;
    size_t len;
    int32_t id;
    avro_schema_t schema = NULL;
    int rc = -1;

    if (parse_id(key, &id) != 0 || !json_is_string(file)) {
        wf_err_set(err, WF_CONFIG, "schema.ids",
                   "%s: \"%s\": want \"<id 0..2147483647>\": \"<file.avsc>\"", map_path, key);
        return -1;
    }
    if ((path = path_join(dir, json_string_value(file))) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "%s: out of memory", map_path);
        return -1;
    }
    if (read_file(path, SCHEMA_FILE_MAX, &text, &len, err) == 0 &&
        parse_schema(text, len, path, &schema, WF_CONFIG, err) == 0 &&
        writers_add_take(c, id, schema, err) == 0)
        rc = 0;
    free(text);
    free(path);
    return rc;
}

/* The smallest id whose schema equals ours, or -1. */
static int32_t map_id_of(const codec *c, avro_schema_t ours)
{
    int32_t best = -1;

    for (size_t i = 0; i < c->n_writers; i++)
        if ((best < 0 || c->writers[i].id < best) && avro_schema_equal(c->writers[i].schema, ours))
            best = c->writers[i].id;
    return best;
}

static int check_own_id(codec *c, our_schema *o, const char *map_path, wf_err *err)
{
    if ((o->id = map_id_of(c, o->schema)) >= 0)
        return 0;
    wf_err_set(err, WF_CONFIG, "schema.ids", "%s: no id maps to a schema equal to %s", map_path,
               o->file);
    return -1;
}

static int load_id_map(codec *c, const char *map_path, wf_err *err)
{
    char *text = NULL, *dir = NULL, *slash;
    size_t len;
    json_t *map = NULL, *file;
    json_error_t jerr;
    const char *key;
    int rc = -1;

    if (read_file(map_path, SCHEMA_FILE_MAX, &text, &len, err) != 0)
        goto out;
    map = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(map)) {
        wf_err_set(err, WF_CONFIG, "schema.ids", "%s:%d:%d: %s", map_path, jerr.line, jerr.column,
                   map ? "expected an object {\"<id>\": \"<file>\"}" : jerr.text);
        goto out;
    }
    if ((dir = strdup(map_path)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "%s: out of memory", map_path);
        goto out;
    }
    slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    json_object_foreach(map, key, file)
    {
        if (load_map_entry(c, map_path, slash ? dir : ".", key, file, err) != 0)
            goto out;
    }
    if (check_own_id(c, &c->event, map_path, err) != 0 ||
        check_own_id(c, &c->result, map_path, err) != 0)
        goto out;
    rc = 0;
out:
    json_decref(map);
    free(dir);
    free(text);
    return rc;
}

/* ---------------- the registry ---------------- */

typedef struct body_buf {
    char *data;
    size_t len;
} body_buf;

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    body_buf *b = userdata;
    size_t n = size * nmemb;
    char *grown;

    if (n > REGISTRY_BODY_MAX - b->len)
        return 0; /* makes curl fail the transfer */
    if ((grown = realloc(b->data, b->len + n + 1)) == NULL)
        return 0;
    memcpy(grown + b->len, ptr, n);
    b->data = grown;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static void registry_setup(codec *c, const char *url, body_buf *b, struct curl_slist *hdrs,
                           const char *post)
{
    curl_easy_reset(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
    if (post != NULL)
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, post);
}

/* GETs (post NULL) or POSTs path under the registry.  Returns 0 with the
 * HTTP status and a parsed JSON body (NULL when not JSON), or -1 with err
 * set (WF_TRANSIENT "registry.unreachable"). */
static int registry_call(codec *c, const char *path, const char *post, long *status, json_t **body,
                         wf_err *err)
{
    char *url = NULL, shown[1024];
    body_buf b = {0};
    struct curl_slist *hdrs = NULL;
    CURLcode cc;
    int rc = -1;

    *body = NULL;
    if (asprintf(&url, "%s%s", c->registry_url, path) < 0 ||
        (hdrs = curl_slist_append(NULL, "Accept: application/vnd.schemaregistry.v1+json, "
                                        "application/json")) == NULL ||
        (post && curl_slist_append(hdrs, "Content-Type: application/"
                                         "vnd.schemaregistry.v1+json") == NULL)) {
        wf_err_set(err, WF_INTERNAL, "oom", "schema registry request: out of memory");
        goto out;
    }
    registry_setup(c, url, &b, hdrs, post);
    if ((cc = curl_easy_perform(c->curl)) != CURLE_OK) {
        wf_err_set(err, WF_TRANSIENT, "registry.unreachable", "schema registry %s %s: %s",
                   post ? "POST" : "GET", wf_url_mask(url, shown, sizeof(shown)),
                   curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    if (b.data != NULL)
        *body = json_loadb(b.data, b.len, 0, NULL);
    rc = 0;
out:
    curl_slist_free_all(hdrs);
    free(b.data);
    free(url);
    return rc;
}

/* Classifies a non-2xx, non-404 registry status. */
static void registry_status_err(long status, const char *what, const json_t *body, wf_err *err)
{
    char code[WF_ERR_CODE_MAX];
    const char *msg = json_string_value(json_object_get(body, "message"));

    snprintf(code, sizeof(code), "registry.%ld", status);
    wf_err_set(err, WF_TRANSIENT, code, "schema registry %s: HTTP %ld%s%s", what, status,
               msg ? ": " : "", msg ? msg : "");
}

static int registry_fetch(codec *c, int32_t id, avro_schema_t *out, wf_err *err)
{
    char path[64], what[64];
    long status = 0;
    json_t *body = NULL;
    const char *text, *type;
    int rc = -1;

    snprintf(path, sizeof(path), "/schemas/ids/%d", (int)id);
    snprintf(what, sizeof(what), "schema id %d", (int)id);
    if (registry_call(c, path, NULL, &status, &body, err) != 0)
        goto out;
    if (status == 404) {
        wf_err_set(err, WF_DESERIALIZATION, "avro.schema",
                   "unknown schema id %d: the schema "
                   "registry has no such schema",
                   (int)id);
        goto out;
    }
    if (status < 200 || status > 299) {
        registry_status_err(status, what, body, err);
        goto out;
    }
    type = json_string_value(json_object_get(body, "schemaType"));
    if ((text = json_string_value(json_object_get(body, "schema"))) == NULL) {
        wf_err_set(err, WF_TRANSIENT, "registry.response",
                   "schema registry %s: response has no \"schema\" string", what);
        goto out;
    }
    if (type != NULL && strcmp(type, "AVRO") != 0) {
        wf_err_set(err, WF_DESERIALIZATION, "avro.schema", "%s is a %s schema, not Avro", what,
                   type);
        goto out;
    }
    rc = parse_schema(text, strlen(text), what, out, WF_DESERIALIZATION, err);
out:
    json_decref(body);
    return rc;
}

/* POSTs {"schema": <our schema>} to /subjects/<subject><suffix>: the
 * lookup (suffix "") or the registration ("/versions"). */
static int registry_post_schema(codec *c, const our_schema *o, const char *suffix, long *status,
                                json_t **body, wf_err *err)
{
    char *subject = curl_easy_escape(c->curl, o->subject, 0), *path = NULL, *post = NULL;
    json_t *req = json_pack("{s:s}", "schema", o->text);
    int rc = -1;

    *body = NULL;
    if (subject == NULL || req == NULL || asprintf(&path, "/subjects/%s%s", subject, suffix) < 0 ||
        (post = json_dumps(req, JSON_COMPACT)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "schema registry request: out of memory");
        goto out;
    }
    rc = registry_call(c, path, post, status, body, err);
out:
    json_decref(req);
    free(post);
    free(path);
    curl_free(subject);
    return rc;
}

/* Takes the "id" of a lookup or registration answer into o->id. */
static int take_id(our_schema *o, const json_t *body, const char *what, wf_err *err)
{
    const json_t *v = json_object_get(body, "id");
    json_int_t id = json_integer_value(v);

    if (!json_is_integer(v) || id < 0 || id > INT32_MAX) {
        wf_err_set(err, WF_TRANSIENT, "registry.response",
                   "schema registry %s of %s: response has no valid \"id\"", what, o->subject);
        return -1;
    }
    o->id = (int32_t)id;
    return 0;
}

static int registry_lookup(codec *c, our_schema *o, wf_err *err)
{
    long status = 0;
    json_t *body = NULL;
    int rc = -1;

    if (registry_post_schema(c, o, "", &status, &body, err) != 0)
        goto out;
    if (status == 404) {
        wf_err_set(err, WF_CONFIG, "registry.subject",
                   "schema registry has no version of %s under subject %s: register it first",
                   o->file, o->subject);
        goto out;
    }
    if (status < 200 || status > 299) {
        registry_status_err(status, o->subject, body, err);
        goto out;
    }
    rc = take_id(o, body, "lookup", err);
out:
    json_decref(body);
    return rc;
}

/* Registers o under its subject (Confluent answers the existing id when
 * the same schema is registered already). */
static int registry_register(codec *c, our_schema *o, wf_err *err)
{
    long status = 0;
    json_t *body = NULL;
    int rc = -1;

    if (registry_post_schema(c, o, "/versions", &status, &body, err) != 0)
        goto out;
    if (status < 200 || status > 299) {
        registry_status_err(status, o->subject, body, err);
        wf_err_prefix(err, "registering %s", o->file);
        goto out;
    }
    rc = take_id(o, body, "registration", err);
out:
    json_decref(body);
    return rc;
}

/* The writer schema of id, from the cache, else from the registry. */
static int writer_schema_for(codec *c, int32_t id, avro_schema_t *out, wf_err *err)
{
    avro_schema_t s = writers_find(c, id);

    if (s != NULL) {
        *out = s;
        return 0;
    }
    if (c->registry_url == NULL) {
        wf_err_set(err, WF_DESERIALIZATION, "avro.schema",
                   "unknown schema id %d: not in the local id map", (int)id);
        return -1;
    }
    if (registry_fetch(c, id, &s, err) != 0 || writers_add_take(c, id, s, err) != 0)
        return -1;
    *out = s;
    return 0;
}

static int own_id(codec *c, our_schema *o, int32_t *id, wf_err *err)
{
    if (o->id < 0 && registry_lookup(c, o, err) != 0)
        return -1;
    *id = o->id;
    return 0;
}

/* ---------------- the start-up check ---------------- */

/* Writes s single-quoted for a POSIX shell into buf (len >= 3). */
static void shell_quote(const char *s, char *buf, size_t len)
{
    size_t n = 0;

    buf[n++] = '\'';
    for (; *s && n + 6 < len; s++) {
        if (*s == '\'') {
            memcpy(buf + n, "'\\''", 4); /* close, escaped quote, reopen */
            n += 4;
        } else {
            buf[n++] = *s;
        }
    }
    buf[n++] = '\'';
    buf[n] = '\0';
}

/* The result schema is not registered and may not be registered by us:
 * say where it belongs and the command that puts it there. */
static void not_registered_err(codec *c, const our_schema *o, wf_err *err)
{
    char shown[512], url[700], quoted_url[800], file[600];
    char *subject = curl_easy_escape(c->curl, o->subject, 0);

    wf_url_mask(c->registry_url, shown, sizeof(shown));
    snprintf(url, sizeof(url), "%s/subjects/%s/versions", shown, subject ? subject : o->subject);
    curl_free(subject);
    shell_quote(url, quoted_url, sizeof(quoted_url));
    shell_quote(o->path, file, sizeof(file));
    wf_err_init(err);
    wf_err_set(err, WF_CONFIG, "registry.subject",
               "the schema registry has no version of the result schema %s under subject %s; "
               "register it first: jq -n --rawfile schema %s '{schema: $schema}' | curl -sS -X "
               "POST -H 'Content-Type: " SCHEMA_CT "' --data-binary @- %s (or set "
               "schemas.auto_register: true)",
               o->file, o->subject, file, quoted_url);
}

/* One try: the lookup, then the registration when it is allowed. */
static int result_schema_try(codec *c, int auto_register, wf_err *err)
{
    our_schema *o = &c->result;

    if (registry_lookup(c, o, err) == 0)
        return 0;
    if (strcmp(err->code, "registry.subject") != 0)
        return -1;
    if (!auto_register) {
        not_registered_err(c, o, err);
        return -1;
    }
    wf_err_init(err);
    if (registry_register(c, o, err) != 0)
        return -1;
    log_info(LOG_CTX_NONE, "registered %s under subject %s as schema id %d", o->file, o->subject,
             (int)o->id);
    return 0;
}

/* Worth another try: no answer, a server-side failure, or throttling.  Any
 * other 4xx (credentials, a URL that is no registry, a schema refused as
 * incompatible) stays until an operator acts. */
static int check_retryable(const wf_err *err)
{
    long status;

    if (err->cls != WF_TRANSIENT)
        return 0;
    if (sscanf(err->code, "registry.%ld", &status) != 1)
        return 1; /* registry.unreachable, registry.response */
    return status >= 500 || status == 408 || status == 429;
}

static void pause_ms(long ms, volatile sig_atomic_t *stop)
{
    struct timespec slice = {0, 100 * 1000000L};

    for (; ms > 0 && !(stop && *stop); ms -= 100)
        nanosleep(&slice, NULL);
}

int codec_check_result_schema(codec *c, int auto_register, long wait_ms,
                              volatile sig_atomic_t *stop, wf_err *err)
{
    int64_t until = wf_clock_mono_ms() + wait_ms;
    long backoff = CHECK_BACKOFF_MIN;
    char shown[512];

    if (c->registry_url == NULL)
        return 0; /* the id map's id, checked by codec_new */
    wf_url_mask(c->registry_url, shown, sizeof(shown));
    for (;;) {
        wf_err_init(err);
        if (result_schema_try(c, auto_register, err) == 0) {
            log_info(LOG_CTX_NONE, "results are written with schema id %d (subject %s on %s)",
                     (int)c->result.id, c->result.subject, shown);
            return 0;
        }
        if (strcmp(err->code, "registry.subject") == 0)
            return -1; /* the message names the registry already */
        if (!check_retryable(err) || (stop && *stop)) {
            wf_err_prefix(err, "the result schema could not be checked on %s", shown);
            return -1;
        }
        if (wf_clock_mono_ms() + backoff > until) {
            wf_err_prefix(err, "the result schema could not be checked on %s within %ld s", shown,
                          wait_ms / 1000);
            return -1;
        }
        log_warn(LOG_CTX_NONE, "checking the result schema: %s; trying again in %ld ms", err->msg,
                 backoff);
        pause_ms(backoff, stop);
        backoff = backoff * 2 > CHECK_BACKOFF_MAX ? CHECK_BACKOFF_MAX : backoff * 2;
    }
}

/* ---------------- life cycle ---------------- */

static int codec_init(codec *c, const codec_opts *opts, wf_err *err)
{
    const char *reg = opts->registry_url;
    char *map_path = NULL;
    int rc = -1;

    c->timeout_ms = opts->http_timeout_ms > 0 ? opts->http_timeout_ms : DEFAULT_TIMEOUT;
    if (our_schema_load(&c->event, opts->schema_dir, EVENT_FILE,
                        opts->event_subject ? opts->event_subject : "workspace.lifecycle.v1-value",
                        err) != 0 ||
        our_schema_load(&c->result, opts->schema_dir, RESULT_FILE,
                        opts->result_subject ? opts->result_subject
                                             : "workspace.provisioning.v1-value",
                        err) != 0)
        return -1;
    if (reg != NULL && reg[0] != '\0') {
        if ((c->registry_url = strndup(reg, strlen(reg) - (reg[strlen(reg) - 1] == '/'))) == NULL ||
            (c->curl = curl_easy_init()) == NULL) {
            wf_err_set(err, WF_INTERNAL, "oom", "schema registry client: out of memory");
            return -1;
        }
        return 0;
    }
    map_path =
        opts->id_map_path ? strdup(opts->id_map_path) : path_join(opts->schema_dir, ID_MAP_FILE);
    if (map_path == NULL)
        wf_err_set(err, WF_INTERNAL, "oom", "id map: out of memory");
    else
        rc = load_id_map(c, map_path, err);
    free(map_path);
    return rc;
}

codec *codec_new(const codec_opts *opts, wf_err *err)
{
    codec *c;

    if (opts == NULL || opts->schema_dir == NULL) {
        wf_err_set(err, WF_CONFIG, "config.key", "codec: schemas.directory is required");
        return NULL;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "codec: out of memory");
        return NULL;
    }
    if (codec_init(c, opts, err) != 0) {
        codec_free(c);
        return NULL;
    }
    return c;
}

void codec_free(codec *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_writers; i++)
        avro_schema_decref(c->writers[i].schema);
    free(c->writers);
    our_schema_fini(&c->event);
    our_schema_fini(&c->result);
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    free(c->registry_url);
    free(c);
}

int codec_format_parse(const char *name, codec_format *out)
{
    static const struct {
        const char *name;
        codec_format fmt;
    } formats[] = {{"avro", CODEC_AVRO}, {"json", CODEC_JSON}};

    for (size_t i = 0; name != NULL && i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(formats[i].name, name) == 0) {
            *out = formats[i].fmt;
            return 0;
        }
    }
    return -1;
}

/* ---------------- decoding ---------------- */

static int is_json(const unsigned char *buf, size_t len, const char *content_type)
{
    if (content_type != NULL && strncasecmp(content_type, "application/json", 16) == 0)
        return 1;
    for (size_t i = 0; i < len; i++)
        if (!isspace(buf[i]))
            return buf[i] == '{';
    return 0;
}

static int parse_json(const void *buf, size_t len, json_t **out, wf_err *err)
{
    json_error_t jerr;

    *out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (*out == NULL) {
        wf_err_set(err, WF_DESERIALIZATION, "json.parse", "JSON line %d, column %d: %s", jerr.line,
                   jerr.column, jerr.text);
        return -1;
    }
    if (!json_is_object(*out)) {
        wf_err_set(err, WF_DESERIALIZATION, "json.parse", "JSON value is not an object");
        json_decref(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* Reads the wire-format header.  Returns 0 with *id, or -1 with err set. */
static int read_header(const unsigned char *b, size_t len, int32_t *id, wf_err *err)
{
    uint32_t v;

    if (len == 0) {
        wf_err_set(err, WF_DESERIALIZATION, "avro.magic", "record value is empty");
        return -1;
    }
    if (b[0] != 0) {
        wf_err_set(err, WF_DESERIALIZATION, "avro.magic",
                   "magic byte 0x%02x: neither Avro (0x00) nor a JSON object", b[0]);
        return -1;
    }
    if (len < WIRE_HEADER) {
        wf_err_set(err, WF_DESERIALIZATION, "avro.magic",
                   "value of %zu bytes is shorter than the 5-byte Avro header", len);
        return -1;
    }
    v = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
    if (v > INT32_MAX) {
        wf_err_set(err, WF_DESERIALIZATION, "avro.schema", "unknown schema id %u", v);
        return -1;
    }
    *id = (int32_t)v;
    return 0;
}

static int decode_avro(codec *c, const our_schema *o, const unsigned char *buf, size_t len,
                       json_t **out, wf_err *err)
{
    int32_t id;
    avro_schema_t writer;
    json_t *raw = NULL;
    int rc = -1;

    if (read_header(buf, len, &id, err) != 0 || writer_schema_for(c, id, &writer, err) != 0)
        return -1;
    if (avro_json_decode(writer, buf + WIRE_HEADER, len - WIRE_HEADER, &raw, err) != 0 ||
        avro_json_reader_project(o->reader, raw, out, err) != 0) {
        wf_err_prefix(err, "Avro record with schema id %d", (int)id);
        goto out;
    }
    rc = 0;
out:
    json_decref(raw);
    return rc;
}

/* The plain-JSON form of a record value, Avro or JSON. */
static int decode_value(codec *c, const our_schema *o, const void *buf, size_t len,
                        const char *content_type, json_t **out, wf_err *err)
{
    *out = NULL;
    if (buf == NULL && len > 0) {
        wf_err_set(err, WF_INTERNAL, "codec.args", "decode: NULL buffer of %zu bytes", len);
        return -1;
    }
    if (is_json(buf, len, content_type))
        return parse_json(buf, len, out, err);
    return decode_avro(c, o, buf, len, out, err);
}

int codec_decode_event(codec *c, const void *buf, size_t len, const char *content_type,
                       ws_event *ev, wf_err *err)
{
    json_t *obj = NULL;
    int rc;

    memset(ev, 0, sizeof(*ev));
    if (decode_value(c, &c->event, buf, len, content_type, &obj, err) != 0)
        return -1;
    rc = ws_event_from_json(obj, ev, err);
    json_decref(obj);
    return rc;
}

/* An Avro record in its writer's own form, not projected onto our schema:
 * the projection is what refuses an enum symbol we do not know. */
static int decode_writer_form(codec *c, const unsigned char *buf, size_t len, json_t **out,
                              wf_err *err)
{
    avro_schema_t writer;
    int32_t id;

    if (read_header(buf, len, &id, err) != 0 || writer_schema_for(c, id, &writer, err) != 0)
        return -1;
    return avro_json_decode(writer, buf + WIRE_HEADER, len - WIRE_HEADER, out, err);
}

int codec_decode_event_ids(codec *c, const void *buf, size_t len, const char *content_type,
                           ws_event *ev)
{
    json_t *obj = NULL;
    wf_err err; /* why it cannot be read is what codec_decode_event said */
    int rc;

    memset(ev, 0, sizeof(*ev));
    wf_err_init(&err);
    if (buf == NULL)
        return -1;
    if (is_json(buf, len, content_type))
        rc = parse_json(buf, len, &obj, &err);
    else
        rc = decode_writer_form(c, buf, len, &obj, &err);
    if (rc == 0)
        rc = ws_event_ids_from_json(obj, ev);
    json_decref(obj);
    return rc;
}

int codec_decode_result(codec *c, const void *buf, size_t len, prov_result *r, wf_err *err)
{
    json_t *obj = NULL;
    int rc;

    memset(r, 0, sizeof(*r));
    if (decode_value(c, &c->result, buf, len, NULL, &obj, err) != 0)
        return -1;
    rc = prov_result_from_json(obj, r, err);
    json_decref(obj);
    return rc;
}

/* ---------------- encoding ---------------- */

static int encode_json(const json_t *obj, void **out, size_t *out_len, wf_err *err)
{
    char *text = json_dumps(obj, JSON_COMPACT);

    if (text == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "encoding JSON: out of memory");
        return -1;
    }
    *out = text;
    *out_len = strlen(text);
    return 0;
}

static int encode_avro(codec *c, our_schema *o, const json_t *obj, void **out, size_t *out_len,
                       wf_err *err)
{
    int32_t id;
    unsigned char *b;

    if (own_id(c, o, &id, err) != 0 ||
        avro_json_encode(o->schema, obj, WIRE_HEADER, out, out_len, err) != 0)
        return -1;
    b = *out;
    b[0] = 0;
    b[1] = (unsigned char)((uint32_t)id >> 24);
    b[2] = (unsigned char)((uint32_t)id >> 16);
    b[3] = (unsigned char)((uint32_t)id >> 8);
    b[4] = (unsigned char)id;
    return 0;
}

/* Takes obj (NULL when the caller's conversion failed). */
static int encode_take(codec *c, our_schema *o, json_t *obj, codec_format fmt, void **out,
                       size_t *out_len, wf_err *err)
{
    int rc;

    *out = NULL;
    *out_len = 0;
    if (obj == NULL) {
        wf_err_set(err, WF_INTERNAL, "codec.encode",
                   "encoding %s: a required string is NULL, or out of memory", o->file);
        return -1;
    }
    rc = fmt == CODEC_JSON ? encode_json(obj, out, out_len, err)
                           : encode_avro(c, o, obj, out, out_len, err);
    json_decref(obj);
    return rc;
}

int codec_encode_event(codec *c, const ws_event *ev, codec_format fmt, void **out, size_t *out_len,
                       wf_err *err)
{
    return encode_take(c, &c->event, ws_event_to_json(ev), fmt, out, out_len, err);
}

int codec_encode_result(codec *c, const prov_result *r, codec_format fmt, void **out,
                        size_t *out_len, wf_err *err)
{
    return encode_take(c, &c->result, prov_result_to_json(r), fmt, out, out_len, err);
}
