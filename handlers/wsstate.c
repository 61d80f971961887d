/* wsstate: the state record's model, its JSON form and its hashes. */
#include "wsstate.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wsstate_init(wsstate *s)
{
    memset(s, 0, sizeof(*s));
}

void wsstate_fini(wsstate *s)
{
    if (s == NULL)
        return;
    free(s->workspace_id);
    free(s->event_id);
    free(s->reason);
    free(s->objs);
    free(s->event);
    wsstate_init(s);
}

static int dup_or_null(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return src && *dst == NULL ? -1 : 0;
}

int wsstate_copy(wsstate *dst, const wsstate *src)
{
    *dst = *src;
    dst->workspace_id = dst->event_id = dst->reason = dst->event = NULL;
    dst->objs = NULL;
    if (src->n_objs && (dst->objs = malloc(src->n_objs * sizeof(*dst->objs))) == NULL)
        goto oom;
    if (src->n_objs)
        memcpy(dst->objs, src->objs, src->n_objs * sizeof(*dst->objs));
    if (dup_or_null(&dst->workspace_id, src->workspace_id) ||
        dup_or_null(&dst->event_id, src->event_id) || dup_or_null(&dst->reason, src->reason) ||
        dup_or_null(&dst->event, src->event))
        goto oom;
    return 0;
oom:
    wsstate_fini(dst);
    return -1;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const wsstate_obj *)a)->id, y = ((const wsstate_obj *)b)->id;
    return x < y ? -1 : x > y;
}

void wsstate_sort(wsstate *s)
{
    if (s->n_objs > 1)
        qsort(s->objs, s->n_objs, sizeof(*s->objs), by_id);
}

int wsstate_find(const wsstate *s, uint64_t id, uint64_t *hash)
{
    size_t lo = 0, hi = s->n_objs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->objs[mid].id == id) {
            *hash = s->objs[mid].hash;
            return 1;
        }
        if (s->objs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* The first 64 bits of SHA-256: change detection must not miss a change
 * by a collision, and the cost is small next to serialising the object. */
uint64_t wsstate_hash(const void *buf, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    uint64_t h = 0;

    if (!EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) || n < 8)
        return 0;
    for (int i = 0; i < 8; i++)
        h = (h << 8) | md[i];
    return h ? h : 1; /* 0 is "no hash" */
}

uint64_t wsstate_hash_json(const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    uint64_t h;

    if (text == NULL)
        return 0;
    h = wsstate_hash(text, strlen(text));
    free(text);
    return h;
}

int wsstate_event_of(const wsstate *s, ws_event *ev, wf_err *err)
{
    json_error_t jerr;
    json_t *doc = s->event ? json_loads(s->event, 0, &jerr) : NULL;
    int rc;

    memset(ev, 0, sizeof(*ev));
    if (doc == NULL) {
        wf_err_set(err, WF_DESERIALIZATION, "state.event", "state record of %s: no readable event",
                   s->workspace_id ? s->workspace_id : "?");
        return -1;
    }
    rc = ws_event_from_json(doc, ev, err);
    json_decref(doc);
    return rc;
}

/* ---- the topic form ---- */

static void hex64(uint64_t v, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, v);
}

static int parse_hex64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (s == NULL || strlen(s) != 16)
        return -1;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return 0;
}

/* "objects": {"<identity hash>": "<content hash>", ...} */
static json_t *objects_to_json(const wsstate *s)
{
    json_t *o = json_object();
    char id[17], h[17];

    for (size_t i = 0; o && i < s->n_objs; i++) {
        hex64(s->objs[i].id, id);
        hex64(s->objs[i].hash, h);
        if (json_object_set_new(o, id, json_string(h)) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

char *wsstate_encode(const wsstate *s, size_t *len)
{
    json_t *event = s->event ? json_loads(s->event, 0, NULL) : json_null();
    json_t *objs = objects_to_json(s), *doc = NULL;
    char digest[17], *text = NULL;

    hex64(s->digest, digest);
    if (event && objs)
        doc = json_pack("{s:i, s:s, s:I, s:s*, s:s, s:s*, s:b, s:b, s:b, s:s, s:O, s:O}", "format",
                        WSSTATE_FORMAT, "workspace_id", s->workspace_id, "version",
                        (json_int_t)s->version, "event_id", s->event_id, "status",
                        prov_status_name(s->status), "reason", s->reason, "project", s->project,
                        "flyte", s->flyte, "complete", s->complete, "digest", digest, "objects",
                        objs, "event", event);
    if (doc)
        text = json_dumps(doc, JSON_COMPACT);
    *len = text ? strlen(text) : 0;
    json_decref(doc);
    json_decref(objs);
    json_decref(event);
    return text;
}

static int bad(wf_err *err, const char *what)
{
    wf_err_set(err, WF_DESERIALIZATION, "state.field", "state record: %s", what);
    return -1;
}

static int objects_from_json(const json_t *o, wsstate *s, wf_err *err)
{
    const char *key;
    json_t *v;

    if (!json_is_object(o))
        return bad(err, "\"objects\" is not an object");
    if (json_object_size(o) && (s->objs = calloc(json_object_size(o), sizeof(*s->objs))) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "state record: out of memory");
        return -1;
    }
    json_object_foreach((json_t *)o, key, v)
    {
        wsstate_obj *x = &s->objs[s->n_objs];
        if (parse_hex64(key, &x->id) != 0 || parse_hex64(json_string_value(v), &x->hash) != 0)
            return bad(err, "an \"objects\" entry is not a pair of 16 hex digits");
        s->n_objs++;
    }
    wsstate_sort(s);
    return 0;
}

static int from_json(const json_t *doc, wsstate *s, wf_err *err)
{
    const char *ws = NULL, *eid = NULL, *status = NULL, *reason = NULL, *digest = NULL;
    json_int_t format = 0, version = 0;
    int project = 0, flyte = 0, complete = 0;
    json_t *objs = NULL, *event = NULL;
    json_error_t jerr;

    if (json_unpack_ex((json_t *)doc, &jerr, 0, "{s:I}", "format", &format) != 0)
        return bad(err, "no \"format\" number");
    if (format > WSSTATE_FORMAT || format < 1) {
        wf_err_set(err, WF_DESERIALIZATION, "state.format",
                   "state record format %" JSON_INTEGER_FORMAT " is not one this wsflyte reads "
                   "(1 to %d)",
                   format, WSSTATE_FORMAT);
        return -1;
    }
    if (json_unpack_ex((json_t *)doc, &jerr, 0,
                       "{s:s, s:I, s?s, s:s, s?s, s:b, s:b, s:b, s:s, s:o, s:o}", "workspace_id",
                       &ws, "version", &version, "event_id", &eid, "status", &status, "reason",
                       &reason, "project", &project, "flyte", &flyte, "complete", &complete,
                       "digest", &digest, "objects", &objs, "event", &event) != 0)
        return bad(err, jerr.text);
    s->version = version;
    s->project = project;
    s->flyte = flyte;
    s->complete = complete;
    if (prov_status_parse(status, &s->status) != 0 || s->status == PROV_FAILED)
        return bad(err, "\"status\" is not SUCCEEDED or SKIPPED");
    if (parse_hex64(digest, &s->digest) != 0)
        return bad(err, "\"digest\" is not 16 hex digits");
    if (!json_is_object(event))
        return bad(err, "\"event\" is not an object");
    if (dup_or_null(&s->workspace_id, ws) || dup_or_null(&s->event_id, eid) ||
        dup_or_null(&s->reason, reason) || (s->event = json_dumps(event, JSON_COMPACT)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "state record: out of memory");
        return -1;
    }
    return objects_from_json(objs, s, err);
}

int wsstate_decode(const void *buf, size_t len, wsstate *out, wf_err *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(buf, len, 0, &jerr);
    int rc;

    wsstate_init(out);
    if (doc == NULL) {
        wf_err_set(err, WF_DESERIALIZATION, "state.json", "state record is not JSON: %s",
                   jerr.text);
        return -1;
    }
    if (!json_is_object(doc))
        rc = bad(err, "not a JSON object");
    else
        rc = from_json(doc, out, err);
    json_decref(doc);
    if (rc != 0)
        wsstate_fini(out);
    return rc;
}
