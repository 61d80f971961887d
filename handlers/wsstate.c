/* wsstate: the state record's model, its JSON form and its hashes. */
#include "wsstate.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "jsonout.h"

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
    free(s->ns_uids);
    free(s->event);
    free(s->cluster);
    free(s->moving_from);
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
    dst->cluster = dst->moving_from = NULL;
    dst->objs = dst->ns_uids = NULL;
    if (src->n_objs && (dst->objs = malloc(src->n_objs * sizeof(*dst->objs))) == NULL)
        goto oom;
    if (src->n_objs)
        memcpy(dst->objs, src->objs, src->n_objs * sizeof(*dst->objs));
    if (src->n_ns_uids && (dst->ns_uids = malloc(src->n_ns_uids * sizeof(*dst->ns_uids))) == NULL)
        goto oom;
    if (src->n_ns_uids)
        memcpy(dst->ns_uids, src->ns_uids, src->n_ns_uids * sizeof(*dst->ns_uids));
    if (dup_or_null(&dst->workspace_id, src->workspace_id) ||
        dup_or_null(&dst->event_id, src->event_id) || dup_or_null(&dst->reason, src->reason) ||
        dup_or_null(&dst->event, src->event) || dup_or_null(&dst->cluster, src->cluster) ||
        dup_or_null(&dst->moving_from, src->moving_from))
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

static wsstate_obj *ns_uid_entry(const wsstate *s, uint64_t key)
{
    for (size_t i = 0; i < s->n_ns_uids; i++)
        if (s->ns_uids[i].id == key)
            return &s->ns_uids[i];
    return NULL;
}

int wsstate_set_namespace_uid(wsstate *s, const char *ns, const char *uid)
{
    uint64_t key = wsstate_hash(ns, strlen(ns)), h = wsstate_hash(uid, strlen(uid));
    wsstate_obj *e = ns_uid_entry(s, key), *grown;

    if (e) {
        e->hash = h;
        return 0;
    }
    if ((grown = realloc(s->ns_uids, (s->n_ns_uids + 1) * sizeof(*grown))) == NULL)
        return -1;
    s->ns_uids = grown;
    s->ns_uids[s->n_ns_uids].id = key;
    s->ns_uids[s->n_ns_uids++].hash = h;
    return 0;
}

int wsstate_namespace_uid_is(const wsstate *s, const char *ns, const char *uid, int *same)
{
    const wsstate_obj *e = ns_uid_entry(s, wsstate_hash(ns, strlen(ns)));

    *same = 0;
    if (e == NULL)
        return 0;
    *same = uid != NULL && e->hash == wsstate_hash(uid, strlen(uid));
    return 1;
}

/* The first 8 bytes of md, big-endian; 0 is "no hash", so never that. */
static uint64_t first64(const unsigned char *md)
{
    uint64_t h = 0;

    for (int i = 0; i < 8; i++)
        h = (h << 8) | md[i];
    return h ? h : 1;
}

/* The first 64 bits of SHA-256: change detection must not miss a change
 * by a collision.  Records key their objects by this hash of the object's
 * identity, so it must stay what earlier records hold. */
uint64_t wsstate_hash(const void *buf, size_t len)
{
    unsigned char md[32];

    return wf_digest_sha256_of(buf, len, md) == 0 ? first64(md) : 0;
}

/* ---- the content hash: a canonical encoding of a JSON value, streamed
 * into BLAKE2b ----
 *
 * Each value is a tag and its content: 'n', 't', 'f'; 'i' and 8 bytes
 * big-endian; 'r' and the 8 bytes of the double; 's', a 4-byte length and
 * the bytes; '[' values ']'; '{' (key as a string, value) in byte order of
 * the keys '}'.  No text is formatted, escaped or parsed, and no container
 * is allocated: what json_dumps with sorted keys cost (about 80 k
 * instructions per object) was most of an event's handling.  BLAKE2b is a
 * cryptographic hash like SHA-256 and about twice as fast on CPUs without
 * SHA extensions. */

#define CANON_BUF      2048
#define CANON_DEPTH    64 /* desired objects nest about 8 deep; deeper is a cycle */
#define CANON_KEYS_MAX 32 /* keys sorted on the stack; larger objects allocate */

typedef struct canon {
    EVP_MD_CTX *ctx;    /* NULL: the bytes are kept in buf, which grows */
    wsstate_memo *memo; /* or NULL */
    unsigned char *buf;
    size_t n, cap;
    int depth_seen; /* the deepest value met */
    int failed;
} canon;

/* A shared container's encoding, and how much deeper than itself it goes. */
typedef struct memo_entry {
    const json_t *v;
    unsigned char *bytes;
    size_t len;
    int height;
} memo_entry;

struct wsstate_memo {
    memo_entry *e;
    size_t n, cap;
};

wsstate_memo *wsstate_memo_new(void)
{
    return calloc(1, sizeof(wsstate_memo));
}

void wsstate_memo_free(wsstate_memo *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->e[i].bytes);
    free(m->e);
    free(m);
}

static void canon_flush(canon *c)
{
    if (c->n && !EVP_DigestUpdate(c->ctx, c->buf, c->n))
        c->failed = 1;
    c->n = 0;
}

/* Keeping: the buffer grows.  Hashing: it is handed to the digest when full. */
static int canon_room(canon *c, size_t len)
{
    size_t cap = c->cap ? c->cap : 256;
    unsigned char *grown;

    if (c->ctx) {
        canon_flush(c);
        return len <= c->cap;
    }
    while (cap < c->n + len)
        cap *= 2;
    if ((grown = realloc(c->buf, cap)) == NULL) {
        c->failed = 1;
        return 0;
    }
    c->buf = grown;
    c->cap = cap;
    return 1;
}

static void canon_put(canon *c, const void *p, size_t len)
{
    if (c->n + len > c->cap && !canon_room(c, len)) {
        if (c->ctx && !c->failed && !EVP_DigestUpdate(c->ctx, p, len))
            c->failed = 1;
        return;
    }
    memcpy(c->buf + c->n, p, len);
    c->n += len;
}

static void canon_tag_u64(canon *c, char tag, uint64_t v)
{
    unsigned char b[9];

    b[0] = (unsigned char)tag;
    for (int i = 0; i < 8; i++)
        b[1 + i] = (unsigned char)(v >> (56 - 8 * i));
    canon_put(c, b, sizeof(b));
}

static void canon_string(canon *c, const char *s, size_t len)
{
    unsigned char b[5] = {'s', (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                          (unsigned char)(len >> 8), (unsigned char)len};

    if (len > 0xffffffffu) {
        c->failed = 1;
        return;
    }
    canon_put(c, b, sizeof(b));
    canon_put(c, s, len);
}

typedef struct canon_key {
    const char *key;
    size_t len;
    const json_t *value;
} canon_key;

static int key_before(const canon_key *a, const canon_key *b)
{
    int d = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    return d < 0 || (d == 0 && a->len < b->len);
}

static void canon_value(canon *c, const json_t *v, int depth);

/* Keys in byte order (insertion sort: desired objects have few keys). */
static void canon_object(canon *c, const json_t *o, int depth)
{
    canon_key small[CANON_KEYS_MAX], *keys = small;
    size_t n = json_object_size(o), i = 0;

    if (n > CANON_KEYS_MAX && (keys = malloc(n * sizeof(*keys))) == NULL) {
        c->failed = 1;
        return;
    }
    for (void *it = json_object_iter((json_t *)o); it && i < n;
         it = json_object_iter_next((json_t *)o, it)) {
        canon_key k = {json_object_iter_key(it), json_object_iter_key_len(it),
                       json_object_iter_value(it)};
        size_t j = i++;
        for (; j > 0 && key_before(&k, &keys[j - 1]); j--)
            keys[j] = keys[j - 1];
        keys[j] = k;
    }
    canon_put(c, "{", 1);
    for (i = 0; i < n && !c->failed; i++) {
        canon_string(c, keys[i].key, keys[i].len);
        canon_value(c, keys[i].value, depth + 1);
    }
    canon_put(c, "}", 1);
    if (keys != small)
        free(keys);
}

static void canon_plain(canon *c, const json_t *v, int depth)
{
    size_t i;
    json_t *x;
    double d;
    uint64_t bits;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        canon_object(c, v, depth);
        break;
    case JSON_ARRAY:
        canon_put(c, "[", 1);
        json_array_foreach(v, i, x) canon_value(c, x, depth + 1);
        canon_put(c, "]", 1);
        break;
    case JSON_STRING:
        canon_string(c, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        canon_tag_u64(c, 'i', (uint64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        d = json_real_value(v);
        memcpy(&bits, &d, sizeof(bits));
        canon_tag_u64(c, 'r', bits);
        break;
    case JSON_TRUE:
        canon_put(c, "t", 1);
        break;
    case JSON_FALSE:
        canon_put(c, "f", 1);
        break;
    default:
        canon_put(c, "n", 1);
        break;
    }
}

static memo_entry *memo_find(const wsstate_memo *m, const json_t *v)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].v == v)
            return &m->e[i];
    return NULL;
}

/* A container more than one holds: its bytes as the memo keeps them,
 * encoded the first time it is met, with the depth limit it would meet
 * here. */
static void canon_shared(canon *c, const json_t *v, int depth)
{
    wsstate_memo *m = c->memo;
    memo_entry *e = memo_find(m, v);

    if (e == NULL) {
        canon sub = {NULL, m, NULL, 0, 0, depth, 0};
        canon_plain(&sub, v, depth);
        if (!sub.failed && m->n == m->cap) {
            size_t cap = m->cap ? 2 * m->cap : 16;
            memo_entry *grown = realloc(m->e, cap * sizeof(*grown));
            if (grown == NULL) {
                sub.failed = 1;
            } else {
                m->e = grown;
                m->cap = cap;
            }
        }
        if (sub.failed) {
            free(sub.buf);
            c->failed = 1;
            return;
        }
        e = &m->e[m->n++];
        *e = (memo_entry){v, sub.buf, sub.n, sub.depth_seen - depth};
    }
    if (depth + e->height > CANON_DEPTH) {
        c->failed = 1;
        return;
    }
    if (depth + e->height > c->depth_seen)
        c->depth_seen = depth + e->height;
    canon_put(c, e->bytes, e->len);
}

static void canon_value(canon *c, const json_t *v, int depth)
{
    if (depth > c->depth_seen)
        c->depth_seen = depth;
    if (depth > CANON_DEPTH) {
        c->failed = 1;
        return;
    }
    if (c->memo && v->refcount > 1 && (json_is_object(v) || json_is_array(v)))
        canon_shared(c, v, depth);
    else
        canon_plain(c, v, depth);
}

uint64_t wsstate_hash_json(const json_t *v)
{
    return wsstate_hash_json_with(v, NULL);
}

uint64_t wsstate_hash_json_with(const json_t *v, wsstate_memo *memo)
{
    unsigned char md[EVP_MAX_MD_SIZE], buf[CANON_BUF];
    unsigned int n = 0;
    canon c = {NULL, memo, buf, 0, sizeof(buf), 0, v == NULL};

    c.ctx = c.failed ? NULL : wf_digest_begin(wf_digest_blake2b());
    if (c.ctx == NULL)
        return 0;
    canon_value(&c, v, 0);
    if (!c.failed)
        canon_flush(&c);
    if (!c.failed && EVP_DigestFinal_ex(c.ctx, md, &n) && n >= 8)
        return first64(md);
    return 0;
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

/* A hash as a JSON string of 16 hex digits, at out (18 bytes). */
static void hex_quoted(uint64_t v, char *out)
{
    static const char hex[] = "0123456789abcdef";

    out[0] = '"';
    for (int i = 16; i >= 1; i--, v >>= 4)
        out[i] = hex[v & 15];
    out[17] = '"';
}

static void put_hex(jsonout_buf *b, uint64_t v)
{
    char q[18];

    hex_quoted(v, q);
    jsonout_raw(b, q, sizeof(q));
}

/* ,"key": (keys are literals: nothing to escape). */
static void put_key(jsonout_buf *b, const char *key)
{
    jsonout_raw(b, ",\"", 2);
    jsonout_raw(b, key, strlen(key));
    jsonout_raw(b, "\":", 2);
}

static void put_text(jsonout_buf *b, const char *s)
{
    jsonout_string(b, s, s ? strlen(s) : 0);
}

/* "objects": {"<identity hash>": "<content hash>", ...}; the same form for
 * "namespace_uids": {"<name hash>": "<uid hash>", ...}.  As a JSON object
 * of them always held them: an id listed twice keeps its first place and
 * its last hash (sorted pairs, as records keep them, have it next). */
static void put_pairs(jsonout_buf *b, const wsstate_obj *objs, size_t n)
{
    int sorted = 1;
    /* "id":"hash", 37 bytes each and a comma, written in place. */
    char *text = n && n < SIZE_MAX / 38 ? malloc(n * 38) : NULL, *p = text;

    if (n && text == NULL) {
        b->failed = 1;
        return;
    }
    for (size_t i = 1; i < n && sorted; i++)
        sorted = objs[i - 1].id <= objs[i].id;
    for (size_t i = 0; i < n; i++) {
        uint64_t id = objs[i].id, h = objs[i].hash;
        int seen = 0;
        if (sorted) {
            while (i + 1 < n && objs[i + 1].id == id)
                h = objs[++i].hash;
        } else {
            for (size_t j = 0; j < i && !seen; j++)
                seen = objs[j].id == id;
            for (size_t k = i + 1; k < n && !seen; k++)
                if (objs[k].id == id)
                    h = objs[k].hash;
        }
        if (seen)
            continue;
        if (p != text)
            *p++ = ',';
        hex_quoted(id, p);
        p[18] = ':';
        hex_quoted(h, p + 19);
        p += 37;
    }
    jsonout_raw(b, "{", 1);
    if (p != text)
        jsonout_raw(b, text, (size_t)(p - text));
    jsonout_raw(b, "}", 1);
    free(text);
}

/* The kept event: its text as it is when it is already what a parse and
 * a write would make of it (the text wsflyte keeps always is), else
 * parsed and written; null when there is none. */
static void put_event(jsonout_buf *b, const char *event)
{
    size_t n = event ? strlen(event) : 0;
    json_t *doc;

    if (event == NULL) {
        jsonout_raw(b, "null", 4);
    } else if (jsonout_is_compact(event, n)) {
        jsonout_raw(b, event, n);
    } else if ((doc = json_loads(event, 0, NULL)) == NULL) {
        b->failed = 1;
    } else {
        jsonout_value(b, doc);
        json_decref(doc);
    }
}

/* Written piece by piece, the text the record's JSON document (keys in
 * this order) gets from jsonout_compact: a tree of it, with the event
 * parsed back into it, cost about 250 k instructions a write. */
char *wsstate_encode(const wsstate *s, size_t *len)
{
    jsonout_buf b = {0};
    char *text;

    b.failed = s->workspace_id == NULL || prov_status_name(s->status) == NULL;
    jsonout_raw(&b, "{\"format\":", 10);
    jsonout_integer(&b, WSSTATE_FORMAT);
    put_key(&b, "workspace_id");
    put_text(&b, s->workspace_id);
    put_key(&b, "version");
    jsonout_integer(&b, (json_int_t)s->version);
    if (s->event_id) {
        put_key(&b, "event_id");
        put_text(&b, s->event_id);
    }
    put_key(&b, "status");
    put_text(&b, prov_status_name(s->status));
    if (s->reason) {
        put_key(&b, "reason");
        put_text(&b, s->reason);
    }
    put_key(&b, "project");
    jsonout_raw(&b, s->project ? "true" : "false", s->project ? 4 : 5);
    put_key(&b, "flyte");
    jsonout_raw(&b, s->flyte ? "true" : "false", s->flyte ? 4 : 5);
    put_key(&b, "complete");
    jsonout_raw(&b, s->complete ? "true" : "false", s->complete ? 4 : 5);
    put_key(&b, "digest");
    put_hex(&b, s->digest);
    put_key(&b, "objects");
    put_pairs(&b, s->objs, s->n_objs);
    put_key(&b, "event");
    put_event(&b, s->event);
    /* Only when known, so that a record without uids reads as before. */
    if (s->n_ns_uids) {
        put_key(&b, "namespace_uids");
        put_pairs(&b, s->ns_uids, s->n_ns_uids);
    }
    /* Only with kubernetes.clusters: a single-cluster record reads as before. */
    if (s->cluster) {
        put_key(&b, "cluster");
        put_text(&b, s->cluster);
    }
    if (s->moving_from) {
        put_key(&b, "moving_from");
        put_text(&b, s->moving_from);
    }
    jsonout_raw(&b, "}", 1);
    if ((text = jsonout_finish(&b, len)) == NULL)
        *len = 0;
    return text;
}

char *wsstate_encode_stub(const wsstate *s, size_t *len)
{
    wsstate stub = *s;
    json_t *event = json_pack("{s:I, s:{s:s}}", "workspace_version", (json_int_t)s->version,
                              "workspace", "workspace_id", s->workspace_id);
    char *text = NULL;

    *len = 0;
    if (event == NULL || (stub.event = jsonout_compact(event, NULL)) == NULL) {
        json_decref(event);
        return NULL;
    }
    stub.event_id = NULL; /* an event id may be long; only a duplicate needs it */
    stub.reason = NULL;
    stub.complete = 0;
    stub.objs = NULL;
    stub.n_objs = 0;
    stub.ns_uids = NULL; /* an incomplete record is never a base */
    stub.n_ns_uids = 0;
    text = wsstate_encode(&stub, len);
    free(stub.event);
    json_decref(event);
    return text;
}

static int bad(wf_err *err, const char *what)
{
    wf_err_set(err, WF_DESERIALIZATION, "state.field", "state record: %s", what);
    return -1;
}

/* Reads a pairs object ("objects", "namespace_uids") into *out. */
static int pairs_from_json(const json_t *o, const char *field, wsstate_obj **out, size_t *n,
                           wf_err *err)
{
    const char *key;
    json_t *v;

    if (!json_is_object(o)) {
        wf_err_set(err, WF_DESERIALIZATION, "state.field", "state record: \"%s\" is not an object",
                   field);
        return -1;
    }
    if (json_object_size(o) && (*out = calloc(json_object_size(o), sizeof(**out))) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "state record: out of memory");
        return -1;
    }
    json_object_foreach((json_t *)o, key, v)
    {
        wsstate_obj *x = &(*out)[*n];
        if (parse_hex64(key, &x->id) != 0 || parse_hex64(json_string_value(v), &x->hash) != 0) {
            wf_err_set(err, WF_DESERIALIZATION, "state.field",
                       "state record: a \"%s\" entry is not a pair of 16 hex digits", field);
            return -1;
        }
        (*n)++;
    }
    return 0;
}

/* Whether the event a record keeps is of another workspace or version
 * than the record says (err set then): the repairer renders from the
 * event and the guards read the record's version, so both must agree. */
static int event_names_other(const json_t *event, const char *ws, json_int_t version, wf_err *err)
{
    const json_t *v = json_object_get(event, "workspace_version");
    const char *id =
        json_string_value(json_object_get(json_object_get(event, "workspace"), "workspace_id"));

    if (id == NULL || strcmp(id, ws) != 0) {
        wf_err_set(err, WF_DESERIALIZATION, "state.event",
                   "state record of %.80s keeps an event of workspace %.80s", ws,
                   id ? id : "(none)");
        return 1;
    }
    if (!json_is_integer(v) || json_integer_value(v) != version) {
        wf_err_set(err, WF_DESERIALIZATION, "state.event",
                   "state record of %.80s at version %" JSON_INTEGER_FORMAT
                   " keeps an event of another version",
                   ws, version);
        return 1;
    }
    return 0;
}

static int from_json(const json_t *doc, wsstate *s, wf_err *err)
{
    const char *ws = NULL, *eid = NULL, *status = NULL, *reason = NULL, *digest = NULL;
    const char *cluster = NULL, *moving_from = NULL;
    json_int_t format = 0, version = 0;
    int project = 0, flyte = 0, complete = 0;
    json_t *objs = NULL, *event = NULL, *uids;
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
                       "{s:s, s:I, s?s, s:s, s?s, s:b, s:b, s:b, s:s, s:o, s:o, s?s, s?s}",
                       "workspace_id", &ws, "version", &version, "event_id", &eid, "status",
                       &status, "reason", &reason, "project", &project, "flyte", &flyte, "complete",
                       &complete, "digest", &digest, "objects", &objs, "event", &event, "cluster",
                       &cluster, "moving_from", &moving_from) != 0)
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
    if (event_names_other(event, ws, version, err))
        return -1;
    if (dup_or_null(&s->workspace_id, ws) || dup_or_null(&s->event_id, eid) ||
        dup_or_null(&s->reason, reason) || dup_or_null(&s->cluster, cluster) ||
        dup_or_null(&s->moving_from, moving_from) ||
        (s->event = jsonout_compact(event, NULL)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "state record: out of memory");
        return -1;
    }
    if (pairs_from_json(objs, "objects", &s->objs, &s->n_objs, err) != 0)
        return -1;
    wsstate_sort(s);
    /* Absent from records written before namespace uids were kept. */
    uids = json_object_get(doc, "namespace_uids");
    return uids ? pairs_from_json(uids, "namespace_uids", &s->ns_uids, &s->n_ns_uids, err) : 0;
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
