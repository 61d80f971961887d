/* The in-memory lifecycle event and provisioning result: validation of
 * every field, the plain-JSON form both are read from and written as, and
 * their release.
 *
 * Over 600 lines because each of the contract's event fields is checked
 * here, with its own limit and message. */
#include "event.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- enum name tables (the Avro symbols, in schema order) ---- */

static const char *const event_type_names[] = {
    [WS_WORKSPACE_CREATED] = "WORKSPACE_CREATED", [WS_SERVICE_ADDED] = "SERVICE_ADDED",
    [WS_SERVICE_REMOVED] = "SERVICE_REMOVED",     [WS_MEMBERS_CHANGED] = "MEMBERS_CHANGED",
    [WS_WORKSPACE_DELETED] = "WORKSPACE_DELETED",
};

static const char *const role_names[] = {
    [WS_ROLE_OWNER] = "OWNER",
    [WS_ROLE_CONTRIBUTOR] = "CONTRIBUTOR",
    [WS_ROLE_VIEWER] = "VIEWER",
};

static const char *const status_names[] = {
    [PROV_SUCCEEDED] = "SUCCEEDED",
    [PROV_SKIPPED] = "SKIPPED",
    [PROV_FAILED] = "FAILED",
};

static const char *name_of(const char *const *names, size_t n, int i)
{
    return i >= 0 && (size_t)i < n ? names[i] : "UNKNOWN";
}

/* Returns the index of name in names, or -1. */
static int index_of(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name != NULL && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

const char *ws_event_type_name(ws_event_type t)
{
    return name_of(event_type_names, COUNT(event_type_names), (int)t);
}

int ws_event_type_parse(const char *name, ws_event_type *out)
{
    int i = index_of(event_type_names, COUNT(event_type_names), name);
    if (i < 0)
        return -1;
    *out = (ws_event_type)i;
    return 0;
}

const char *ws_role_name(ws_role r)
{
    return name_of(role_names, COUNT(role_names), (int)r);
}

int ws_role_parse(const char *name, ws_role *out)
{
    int i = index_of(role_names, COUNT(role_names), name);
    if (i < 0)
        return -1;
    *out = (ws_role)i;
    return 0;
}

const char *prov_status_name(prov_status s)
{
    return name_of(status_names, COUNT(status_names), (int)s);
}

int prov_status_parse(const char *name, prov_status *out)
{
    int i = index_of(status_names, COUNT(status_names), name);
    if (i < 0)
        return -1;
    *out = (prov_status)i;
    return 0;
}

/* ---- typed field access with a field path for errors ---- */

typedef struct jp {
    char path[256];
    size_t len;
    const char *code;       /* "event.field" or "result.field" */
    const char *limit_code; /* "event.limit" or "result.limit" */
    const char *root;       /* named in errors about the whole object */
    wf_err *err;
} jp;

static size_t jp_mark(jp *p, int n, size_t old)
{
    size_t want = old + (n > 0 ? (size_t)n : 0);
    p->len = want < sizeof(p->path) ? want : sizeof(p->path) - 1;
    return old;
}

static size_t jp_push(jp *p, const char *name)
{
    size_t old = p->len;
    return jp_mark(p, snprintf(p->path + old, sizeof(p->path) - old, "%s%s", old ? "." : "", name),
                   old);
}

static size_t jp_push_index(jp *p, size_t i)
{
    size_t old = p->len;
    return jp_mark(p, snprintf(p->path + old, sizeof(p->path) - old, "[%zu]", i), old);
}

static void jp_pop(jp *p, size_t mark)
{
    p->len = mark;
    p->path[mark] = '\0';
}

static int jp_vset(jp *p, wf_class cls, const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int jp_vset(jp *p, wf_class cls, const char *code, const char *fmt, va_list ap)
{
    char what[512];

    vsnprintf(what, sizeof(what), fmt, ap);
    wf_err_set(p->err, cls, code, "%s: %s", p->len ? p->path : p->root, what);
    return -1;
}

static int jp_fail(jp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int jp_fail(jp *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    jp_vset(p, WF_DESERIALIZATION, p->code, fmt, ap);
    va_end(ap);
    return -1;
}

/* A value that decodes but is beyond a limit: invalid rather than
 * undecodable, so the event can still be answered (its ids are readable). */
static int jp_limit(jp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int jp_limit(jp *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    jp_vset(p, WF_VALIDATION, p->limit_code, fmt, ap);
    va_end(ap);
    return -1;
}

static int jp_oom(jp *p)
{
    wf_err_set(p->err, WF_INTERNAL, "oom", "%s: out of memory", p->len ? p->path : p->root);
    return -1;
}

static const char *jtype(const json_t *v)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "an object",   [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "an integer", [JSON_REAL] = "a real",    [JSON_TRUE] = "true",
        [JSON_FALSE] = "false",        [JSON_NULL] = "null",
    };
    return names[json_typeof(v)];
}

/* Looks field `name` up and pushes it on the path.  Returns 1 with *out set,
 * 0 when absent or null and optional (path popped), or -1 with err set;
 * *out is NULL unless it returns 1. */
static int jp_field(jp *p, const json_t *obj, const char *name, int optional, const json_t **out)
{
    size_t mark = jp_push(p, name);
    const json_t *v = json_object_get(obj, name);

    *out = NULL;
    if (v != NULL && !json_is_null(v)) {
        *out = v;
        return 1;
    }
    if (!optional)
        return jp_fail(p, v ? "must not be null" : "required field is missing");
    jp_pop(p, mark);
    return 0;
}

static int str_value(jp *p, const json_t *v, char **out)
{
    if (!json_is_string(v))
        return jp_fail(p, "expected a string, got %s", jtype(v));
    if (json_string_length(v) > WS_MAX_STRING)
        return jp_limit(p, "string of %zu bytes exceeds the limit of %d", json_string_length(v),
                        WS_MAX_STRING);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return jp_fail(p, "string contains a NUL character");
    if ((*out = strdup(json_string_value(v))) == NULL)
        return jp_oom(p);
    return 0;
}

static int get_str(jp *p, const json_t *obj, const char *name, int optional, char **out)
{
    size_t mark = p->len;
    const json_t *v;
    int rc = jp_field(p, obj, name, optional, &v);

    *out = NULL;
    if (rc <= 0)
        return rc;
    if (str_value(p, v, out) != 0)
        return -1;
    jp_pop(p, mark);
    return 0;
}

static int get_int(jp *p, const json_t *obj, const char *name, int64_t min, int64_t max,
                   int64_t *out)
{
    size_t mark = p->len;
    const json_t *v;

    if (jp_field(p, obj, name, 0, &v) < 0)
        return -1;
    if (!json_is_integer(v))
        return jp_fail(p, "expected an integer, got %s", jtype(v));
    if (json_integer_value(v) < min || json_integer_value(v) > max)
        return jp_fail(p, "%" JSON_INTEGER_FORMAT " is out of range [%" PRId64 ", %" PRId64 "]",
                       json_integer_value(v), min, max);
    *out = json_integer_value(v);
    jp_pop(p, mark);
    return 0;
}

static int get_enum(jp *p, const json_t *obj, const char *name, const char *const *names, size_t n,
                    const char *what, int *out)
{
    size_t mark = p->len;
    const json_t *v;

    if (jp_field(p, obj, name, 0, &v) < 0)
        return -1;
    if (!json_is_string(v))
        return jp_fail(p, "expected a string, got %s", jtype(v));
    if ((*out = index_of(names, n, json_string_value(v))) < 0)
        return jp_fail(p, "unknown %s \"%s\"", what, json_string_value(v));
    jp_pop(p, mark);
    return 0;
}

/* Returns 1 with *out set to an array of at most max items, 0 when optional
 * and absent, or -1.  Leaves the field on the path when it returns 1. */
static int get_array(jp *p, const json_t *obj, const char *name, size_t max, const json_t **out)
{
    int rc = jp_field(p, obj, name, 0, out);

    if (rc <= 0)
        return rc;
    if (!json_is_array(*out))
        return jp_fail(p, "expected an array, got %s", jtype(*out));
    if (json_array_size(*out) > max)
        return jp_limit(p, "%zu items exceed the limit of %zu", json_array_size(*out), max);
    return 1;
}

static int get_strings(jp *p, const json_t *obj, const char *name, size_t max, char ***out,
                       size_t *n)
{
    size_t mark = p->len, i;
    const json_t *arr, *v;

    *out = NULL;
    *n = 0;
    if (get_array(p, obj, name, max, &arr) < 0)
        return -1;
    if ((*out = calloc(json_array_size(arr) + 1, sizeof(char *))) == NULL)
        return jp_oom(p);
    json_array_foreach(arr, i, v)
    {
        size_t item = jp_push_index(p, i);
        if (str_value(p, v, &(*out)[i]) != 0)
            return -1;
        (*n)++;
        jp_pop(p, item);
    }
    jp_pop(p, mark);
    return 0;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- workspace ---- */

static int get_member(jp *p, const json_t *v, ws_member *m)
{
    int role;

    if (!json_is_object(v))
        return jp_fail(p, "expected an object, got %s", jtype(v));
    if (get_str(p, v, "user_id", 0, &m->user_id) != 0 || get_str(p, v, "email", 0, &m->email) ||
        get_enum(p, v, "role", role_names, COUNT(role_names), "role", &role) != 0)
        return -1;
    m->role = (ws_role)role;
    return 0;
}

static int get_members(jp *p, const json_t *obj, workspace *ws)
{
    size_t mark = p->len, i;
    const json_t *arr, *v;

    if (get_array(p, obj, "members", WS_MAX_MEMBERS, &arr) < 0)
        return -1;
    if ((ws->members = calloc(json_array_size(arr) + 1, sizeof(ws_member))) == NULL)
        return jp_oom(p);
    json_array_foreach(arr, i, v)
    {
        size_t item = jp_push_index(p, i);
        ws->n_members++; /* counted first: a half-filled member is freed too */
        if (get_member(p, v, &ws->members[i]) != 0)
            return -1;
        jp_pop(p, item);
    }
    jp_pop(p, mark);
    return 0;
}

static int get_quota(jp *p, const json_t *obj, ws_quota **out)
{
    size_t mark = p->len;
    const json_t *q;
    ws_quota *quota;
    int rc = jp_field(p, obj, "quota", 1, &q);

    if (rc <= 0)
        return rc;
    if (!json_is_object(q))
        return jp_fail(p, "expected an object or null, got %s", jtype(q));
    if ((quota = *out = calloc(1, sizeof(*quota))) == NULL)
        return jp_oom(p);
    if (get_str(p, q, "requests_cpu", 0, &quota->requests_cpu) != 0 ||
        get_str(p, q, "requests_memory", 0, &quota->requests_memory) != 0 ||
        get_str(p, q, "limits_cpu", 0, &quota->limits_cpu) != 0 ||
        get_str(p, q, "limits_memory", 0, &quota->limits_memory) != 0 ||
        get_int(p, q, "pods", 0, INT32_MAX, &quota->pods) != 0 ||
        get_int(p, q, "persistent_volume_claims", 0, INT32_MAX, &quota->persistent_volume_claims) !=
            0)
        return -1;
    jp_pop(p, mark);
    return 0;
}

static int get_label(jp *p, const char *key, size_t key_len, const json_t *v, ws_label *l)
{
    size_t mark = jp_push(p, key);

    if (strlen(key) != key_len)
        return jp_fail(p, "label key contains a NUL character");
    if ((l->key = strdup(key)) == NULL)
        return jp_oom(p);
    if (str_value(p, v, &l->value) != 0)
        return -1;
    jp_pop(p, mark);
    return 0;
}

static int get_labels(jp *p, const json_t *obj, workspace *ws)
{
    size_t mark = p->len, key_len;
    const json_t *labels;
    const char *key;
    json_t *v;
    int rc = jp_field(p, obj, "labels", 1, &labels);

    if (rc <= 0)
        return rc;
    if (!json_is_object(labels))
        return jp_fail(p, "expected an object of strings, got %s", jtype(labels));
    if (json_object_size(labels) > WS_MAX_LABELS)
        return jp_limit(p, "%zu labels exceed the limit of %d", json_object_size(labels),
                        WS_MAX_LABELS);
    if ((ws->labels = calloc(json_object_size(labels) + 1, sizeof(ws_label))) == NULL)
        return jp_oom(p);
    json_object_keylen_foreach((json_t *)labels, key, key_len, v)
    {
        if (get_label(p, key, key_len, v, &ws->labels[ws->n_labels++]) != 0)
            return -1;
    }
    jp_pop(p, mark);
    return 0;
}

static int get_workspace(jp *p, const json_t *obj, workspace *ws)
{
    size_t mark = p->len;
    const json_t *w;

    if (jp_field(p, obj, "workspace", 0, &w) < 0)
        return -1;
    if (!json_is_object(w))
        return jp_fail(p, "expected an object, got %s", jtype(w));
    if (get_str(p, w, "workspace_id", 0, &ws->workspace_id) != 0 ||
        get_str(p, w, "workspace_name", 0, &ws->workspace_name) != 0 ||
        get_strings(p, w, "services", WS_MAX_SERVICES, &ws->services, &ws->n_services) != 0 ||
        get_members(p, w, ws) != 0 || get_str(p, w, "data_bucket", 0, &ws->data_bucket) != 0 ||
        get_quota(p, w, &ws->quota) != 0 || get_labels(p, w, ws) != 0)
        return -1;
    jp_pop(p, mark);
    return 0;
}

int ws_event_from_json(const json_t *obj, ws_event *ev, wf_err *err)
{
    jp p = {.code = "event.field", .limit_code = "event.limit", .root = "event", .err = err};
    int type;

    memset(ev, 0, sizeof(*ev));
    if (!json_is_object(obj)) {
        jp_fail(&p, "expected an object, got %s", obj ? jtype(obj) : "nothing");
        return -1;
    }
    if (get_str(&p, obj, "event_id", 0, &ev->event_id) != 0 ||
        get_enum(&p, obj, "event_type", event_type_names, COUNT(event_type_names), "event type",
                 &type) != 0 ||
        get_int(&p, obj, "occurred_at", INT64_MIN, INT64_MAX, &ev->occurred_at) != 0 ||
        get_int(&p, obj, "workspace_version", INT64_MIN, INT64_MAX, &ev->workspace_version) != 0 ||
        get_str(&p, obj, "actor", 1, &ev->actor) != 0 ||
        get_str(&p, obj, "service", 1, &ev->service) != 0 || get_workspace(&p, obj, &ev->ws) != 0)
        goto fail;
    ev->type = (ws_event_type)type;
    return 0;
fail:
    ws_event_fini(ev);
    return -1;
}

int ws_event_ids_from_json(const json_t *obj, ws_event *ev)
{
    wf_err ignored;
    jp p = {.code = "event.field", .limit_code = "event.limit", .root = "event", .err = &ignored};
    const json_t *ws = json_object_get(obj, "workspace");
    int type;
    int64_t version;

    memset(ev, 0, sizeof(*ev));
    wf_err_init(&ignored);
    if (!json_is_object(obj) || !json_is_object(ws) ||
        get_str(&p, obj, "event_id", 0, &ev->event_id) != 0 ||
        get_str(&p, ws, "workspace_id", 0, &ev->ws.workspace_id) != 0) {
        ws_event_fini(ev);
        return -1;
    }
    /* The rest is optional here: a failed lookup leaves a stale path in p,
     * which only an error message (ignored) would show. */
    ev->type = WS_EVENT_TYPE_UNREADABLE;
    if (get_enum(&p, obj, "event_type", event_type_names, COUNT(event_type_names), "event type",
                 &type) == 0)
        ev->type = (ws_event_type)type;
    jp_pop(&p, 0);
    ev->workspace_version = WS_VERSION_UNREADABLE;
    if (get_int(&p, obj, "workspace_version", INT64_MIN, INT64_MAX, &version) == 0)
        ev->workspace_version = version;
    return 0;
}

static void workspace_fini(workspace *ws)
{
    free(ws->workspace_id);
    free(ws->workspace_name);
    free_strings(ws->services, ws->n_services);
    for (size_t i = 0; i < ws->n_members; i++) {
        free(ws->members[i].user_id);
        free(ws->members[i].email);
    }
    free(ws->members);
    free(ws->data_bucket);
    if (ws->quota != NULL) {
        free(ws->quota->requests_cpu);
        free(ws->quota->requests_memory);
        free(ws->quota->limits_cpu);
        free(ws->quota->limits_memory);
        free(ws->quota);
    }
    for (size_t i = 0; i < ws->n_labels; i++) {
        free(ws->labels[i].key);
        free(ws->labels[i].value);
    }
    free(ws->labels);
}

void ws_event_fini(ws_event *ev)
{
    if (ev == NULL)
        return;
    free(ev->event_id);
    free(ev->actor);
    free(ev->service);
    workspace_fini(&ev->ws);
    memset(ev, 0, sizeof(*ev));
}

int workspace_has_service(const workspace *ws, const char *service)
{
    for (size_t i = 0; i < ws->n_services; i++)
        if (ws->services[i] != NULL && strcmp(ws->services[i], service) == 0)
            return 1;
    return 0;
}

/* ---- to JSON ---- */

static json_t *strings_to_json(char *const *v, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < n; i++) {
        if (v[i] == NULL || json_array_append_new(arr, json_string(v[i])) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *members_to_json(const ws_member *m, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "user_id", m[i].user_id, "email", m[i].email,
                              "role", ws_role_name(m[i].role));
        if (json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *quota_to_json(const ws_quota *q)
{
    if (q == NULL)
        return json_null();
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "requests_cpu", q->requests_cpu,
                     "requests_memory", q->requests_memory, "limits_cpu", q->limits_cpu,
                     "limits_memory", q->limits_memory, "pods", (json_int_t)q->pods,
                     "persistent_volume_claims", (json_int_t)q->persistent_volume_claims);
}

static json_t *labels_to_json(const ws_label *l, size_t n)
{
    json_t *obj = json_object();

    for (size_t i = 0; obj != NULL && i < n; i++) {
        if (l[i].key == NULL || l[i].value == NULL ||
            json_object_set_new(obj, l[i].key, json_string(l[i].value)) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *workspace_to_json(const workspace *ws)
{
    /* "o" steals each reference, also when packing fails. */
    return json_pack(
        "{s:s, s:s, s:o, s:o, s:s, s:o, s:o}", "workspace_id", ws->workspace_id, "workspace_name",
        ws->workspace_name, "services", strings_to_json(ws->services, ws->n_services), "members",
        members_to_json(ws->members, ws->n_members), "data_bucket", ws->data_bucket, "quota",
        quota_to_json(ws->quota), "labels", labels_to_json(ws->labels, ws->n_labels));
}

json_t *ws_event_to_json(const ws_event *ev)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:s?, s:s?, s:o}", "event_id", ev->event_id,
                     "event_type", ws_event_type_name(ev->type), "occurred_at",
                     (json_int_t)ev->occurred_at, "workspace_version",
                     (json_int_t)ev->workspace_version, "actor", ev->actor, "service", ev->service,
                     "workspace", workspace_to_json(&ev->ws));
}

/* ---- provisioning result ---- */

static int get_prov_error(jp *p, const json_t *obj, prov_result *r)
{
    size_t mark = p->len;
    const json_t *e;
    int rc = jp_field(p, obj, "error", 1, &e);

    if (rc <= 0)
        return rc;
    if (!json_is_object(e))
        return jp_fail(p, "expected an object or null, got %s", jtype(e));
    r->has_error = 1;
    if (get_str(p, e, "class", 0, &r->error_class) != 0 ||
        get_str(p, e, "code", 0, &r->error_code) != 0 ||
        get_str(p, e, "message", 0, &r->error_message) != 0)
        return -1;
    jp_pop(p, mark);
    return 0;
}

int prov_result_from_json(const json_t *obj, prov_result *r, wf_err *err)
{
    jp p = {.code = "result.field", .limit_code = "result.limit", .root = "result", .err = err};
    int type, status;
    int64_t attempts;

    memset(r, 0, sizeof(*r));
    if (!json_is_object(obj)) {
        jp_fail(&p, "expected an object, got %s", obj ? jtype(obj) : "nothing");
        return -1;
    }
    if (get_str(&p, obj, "result_id", 0, &r->result_id) != 0 ||
        get_str(&p, obj, "event_id", 0, &r->event_id) != 0 ||
        get_enum(&p, obj, "event_type", event_type_names, COUNT(event_type_names), "event type",
                 &type) != 0 ||
        get_str(&p, obj, "workspace_id", 0, &r->workspace_id) != 0 ||
        get_int(&p, obj, "workspace_version", INT64_MIN, INT64_MAX, &r->workspace_version) ||
        get_enum(&p, obj, "status", status_names, COUNT(status_names), "status", &status) != 0 ||
        get_str(&p, obj, "reason", 1, &r->reason) != 0 ||
        get_str(&p, obj, "flyte_project", 1, &r->flyte_project) != 0 ||
        get_str(&p, obj, "console_url", 1, &r->console_url) != 0 ||
        get_strings(&p, obj, "namespaces", WS_MAX_SERVICES, &r->namespaces, &r->n_namespaces) ||
        get_int(&p, obj, "attempts", 0, INT32_MAX, &attempts) != 0 ||
        get_int(&p, obj, "duration_ms", 0, INT64_MAX, &r->duration_ms) != 0 ||
        get_prov_error(&p, obj, r) != 0 ||
        get_int(&p, obj, "completed_at", INT64_MIN, INT64_MAX, &r->completed_at) != 0)
        goto fail;
    r->event_type = (ws_event_type)type;
    r->status = (prov_status)status;
    r->attempts = (int32_t)attempts;
    return 0;
fail:
    prov_result_fini(r);
    return -1;
}

static json_t *prov_error_to_json(const prov_result *r)
{
    if (!r->has_error)
        return json_null();
    return json_pack("{s:s, s:s, s:s}", "class", r->error_class, "code", r->error_code, "message",
                     r->error_message);
}

json_t *prov_result_to_json(const prov_result *r)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s?, s:s?, s:s?, s:o, s:i, s:I, s:o, s:I}",
                     "result_id", r->result_id, "event_id", r->event_id, "event_type",
                     ws_event_type_name(r->event_type), "workspace_id", r->workspace_id,
                     "workspace_version", (json_int_t)r->workspace_version, "status",
                     prov_status_name(r->status), "reason", r->reason, "flyte_project",
                     r->flyte_project, "console_url", r->console_url, "namespaces",
                     strings_to_json(r->namespaces, r->n_namespaces), "attempts", (int)r->attempts,
                     "duration_ms", (json_int_t)r->duration_ms, "error", prov_error_to_json(r),
                     "completed_at", (json_int_t)r->completed_at);
}

void prov_result_fini(prov_result *r)
{
    if (r == NULL)
        return;
    free(r->result_id);
    free(r->event_id);
    free(r->workspace_id);
    free(r->reason);
    free(r->flyte_project);
    free(r->console_url);
    free_strings(r->namespaces, r->n_namespaces);
    free(r->error_class);
    free(r->error_code);
    free(r->error_message);
    memset(r, 0, sizeof(*r));
}
