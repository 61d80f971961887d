/* Avro data <-> plain JSON, and Avro's schema resolution done on that form
 * (a writer's record projected onto our reader schema, defaults filled in).
 *
 * Longer than most modules because it covers every Avro type in both
 * directions plus the resolution rules, with a field path in every error;
 * splitting it would only spread one grammar over several files. */
#include "avro_json.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- field paths for error messages ("workspace.members[2].role") ---- */

typedef struct aj_path {
    char buf[256];
    size_t len;
} aj_path;

static void path_set_len(aj_path *p, size_t old, int n)
{
    size_t want = old + (n > 0 ? (size_t)n : 0);
    p->len = want < sizeof(p->buf) ? want : sizeof(p->buf) - 1;
}

/* Appends ".name" (or "name" at the root); returns the length to pop to. */
static size_t path_push_name(aj_path *p, const char *name)
{
    size_t old = p->len;
    int n = snprintf(p->buf + old, sizeof(p->buf) - old, "%s%s", old ? "." : "", name);
    path_set_len(p, old, n);
    return old;
}

static size_t path_push_index(aj_path *p, size_t i)
{
    size_t old = p->len;
    int n = snprintf(p->buf + old, sizeof(p->buf) - old, "[%zu]", i);
    path_set_len(p, old, n);
    return old;
}

static void path_pop(aj_path *p, size_t old)
{
    p->len = old;
    p->buf[old] = '\0';
}

static const char *path_str(const aj_path *p)
{
    return p->len ? p->buf : "(root)";
}

static const char *json_type_name(const json_t *v)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "an object",   [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "an integer", [JSON_REAL] = "a real",    [JSON_TRUE] = "true",
        [JSON_FALSE] = "false",        [JSON_NULL] = "null",
    };
    return v ? names[json_typeof(v)] : "nothing";
}

/* ---- bytes and fixed as strings of code points U+0000..U+00FF ---- */

static json_t *latin1_to_json(const unsigned char *b, size_t n)
{
    char *s = malloc(2 * n + 1);
    size_t k = 0;
    json_t *out;

    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (b[i] < 0x80) {
            s[k++] = (char)b[i];
        } else {
            s[k++] = (char)(0xC0 | (b[i] >> 6));
            s[k++] = (char)(0x80 | (b[i] & 0x3F));
        }
    }
    out = json_stringn(s, k);
    free(s);
    return out;
}

/* Returns 0 and a malloc'd *out, -1 when a code point is above U+00FF,
 * -2 on OOM.  s is valid UTF-8 (jansson guarantees it). */
static int json_to_latin1(const char *s, size_t n, unsigned char **out, size_t *out_len)
{
    unsigned char *b = malloc(n + 1);
    const unsigned char *u = (const unsigned char *)s;
    size_t k = 0;

    if (b == NULL)
        return -2;
    for (size_t i = 0; i < n; i++) {
        if (u[i] < 0x80) {
            b[k++] = u[i];
        } else if ((u[i] == 0xC2 || u[i] == 0xC3) && i + 1 < n) {
            b[k++] = (unsigned char)(((u[i] & 0x03) << 6) | (u[i + 1] & 0x3F));
            i++;
        } else {
            free(b);
            return -1;
        }
    }
    *out = b;
    *out_len = k;
    return 0;
}

/* ======================= binary decoding ======================= */

typedef struct dec {
    const unsigned char *start;
    const unsigned char *p;
    const unsigned char *end;
    aj_path path;
    wf_err *err;
} dec;

static int dec_fail(dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int dec_fail(dec *d, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    wf_err_set(d->err, WF_DESERIALIZATION, "avro.decode", "%s: %s (at byte %zu)",
               path_str(&d->path), what, (size_t)(d->p - d->start));
    return -1;
}

static int dec_oom(dec *d)
{
    wf_err_set(d->err, WF_INTERNAL, "oom", "%s: out of memory decoding Avro", path_str(&d->path));
    return -1;
}

static size_t dec_left(const dec *d)
{
    return (size_t)(d->end - d->p);
}

/* Sets *out on every path (0 on failure): callers inlined at -O3 would
 * otherwise read it as maybe-uninitialized. */
static int dec_long(dec *d, int64_t *out)
{
    uint64_t v = 0;

    *out = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (d->p == d->end)
            return dec_fail(d, "truncated: data ends inside a varint");
        unsigned char b = *d->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return dec_fail(d, "varint longer than 10 bytes");
}

/* Reads a length prefix and checks it against the bytes left; *out is 0
 * on failure. */
static int dec_length(dec *d, const char *what, size_t *out)
{
    int64_t n;

    *out = 0;
    if (dec_long(d, &n) != 0)
        return -1;
    if (n < 0)
        return dec_fail(d, "negative %s length %" PRId64, what, n);
    if ((uint64_t)n > dec_left(d))
        return dec_fail(d, "truncated: %s of %" PRId64 " bytes, %zu left", what, n, dec_left(d));
    *out = (size_t)n;
    return 0;
}

typedef int (*dec_fn)(dec *d, avro_schema_t s, int depth, json_t **out);
static int dec_value(dec *d, avro_schema_t s, int depth, json_t **out);

static int dec_null(dec *d, avro_schema_t s, int depth, json_t **out)
{
    (void)d, (void)s, (void)depth;
    *out = json_null();
    return 0;
}

static int dec_boolean(dec *d, avro_schema_t s, int depth, json_t **out)
{
    (void)s, (void)depth;
    if (d->p == d->end)
        return dec_fail(d, "truncated: boolean expected");
    if (*d->p > 1)
        return dec_fail(d, "boolean byte 0x%02x is neither 0 nor 1", *d->p);
    *out = json_boolean(*d->p++);
    return 0;
}

static int dec_int(dec *d, avro_schema_t s, int depth, json_t **out)
{
    int64_t v;

    (void)s, (void)depth;
    if (dec_long(d, &v) != 0)
        return -1;
    if (v < INT32_MIN || v > INT32_MAX)
        return dec_fail(d, "int %" PRId64 " out of range", v);
    *out = json_integer(v);
    return *out ? 0 : dec_oom(d);
}

static int dec_long_value(dec *d, avro_schema_t s, int depth, json_t **out)
{
    int64_t v;

    (void)s, (void)depth;
    if (dec_long(d, &v) != 0)
        return -1;
    *out = json_integer(v);
    return *out ? 0 : dec_oom(d);
}

/* Little-endian, as Avro writes floats and doubles. */
static int dec_le(dec *d, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (dec_left(d) < n)
        return dec_fail(d, "truncated: %zu-byte number, %zu left", n, dec_left(d));
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)d->p[i] << (8 * i);
    d->p += n;
    *out = v;
    return 0;
}

static int dec_real(dec *d, double v, json_t **out)
{
    if (!isfinite(v))
        return dec_fail(d, "non-finite number has no JSON form");
    *out = json_real(v);
    return *out ? 0 : dec_oom(d);
}

static int dec_float(dec *d, avro_schema_t s, int depth, json_t **out)
{
    uint64_t bits = 0;
    uint32_t b32;
    float f;

    (void)s, (void)depth;
    if (dec_le(d, 4, &bits) != 0)
        return -1;
    b32 = (uint32_t)bits;
    memcpy(&f, &b32, sizeof(f));
    return dec_real(d, f, out);
}

static int dec_double(dec *d, avro_schema_t s, int depth, json_t **out)
{
    uint64_t bits = 0;
    double v;

    (void)s, (void)depth;
    if (dec_le(d, 8, &bits) != 0)
        return -1;
    memcpy(&v, &bits, sizeof(v));
    return dec_real(d, v, out);
}

static int dec_string(dec *d, avro_schema_t s, int depth, json_t **out)
{
    size_t n;

    (void)s, (void)depth;
    if (dec_length(d, "string", &n) != 0)
        return -1;
    if (memchr(d->p, '\0', n) != NULL)
        return dec_fail(d, "string contains a NUL byte");
    *out = json_stringn((const char *)d->p, n);
    if (*out == NULL)
        return dec_fail(d, "string is not valid UTF-8");
    d->p += n;
    return 0;
}

static int dec_raw_bytes(dec *d, size_t n, json_t **out)
{
    *out = latin1_to_json(d->p, n);
    if (*out == NULL)
        return dec_oom(d);
    d->p += n;
    return 0;
}

static int dec_bytes(dec *d, avro_schema_t s, int depth, json_t **out)
{
    size_t n;

    (void)s, (void)depth;
    if (dec_length(d, "bytes", &n) != 0)
        return -1;
    return dec_raw_bytes(d, n, out);
}

static int dec_fixed(dec *d, avro_schema_t s, int depth, json_t **out)
{
    int64_t n = avro_schema_fixed_size(s);

    (void)depth;
    if (n < 0 || (uint64_t)n > dec_left(d))
        return dec_fail(d, "truncated: fixed of %" PRId64 " bytes, %zu left", n, dec_left(d));
    return dec_raw_bytes(d, (size_t)n, out);
}

static int dec_enum(dec *d, avro_schema_t s, int depth, json_t **out)
{
    int64_t i;
    int n = avro_schema_enum_number_of_symbols(s);

    (void)depth;
    if (dec_long(d, &i) != 0)
        return -1;
    if (i < 0 || i >= n)
        return dec_fail(d, "enum index %" PRId64 " out of range (%s has %d symbols)", i,
                        avro_schema_name(s), n);
    *out = json_string(avro_schema_enum_get(s, (int)i));
    return *out ? 0 : dec_oom(d);
}

static int dec_union(dec *d, avro_schema_t s, int depth, json_t **out)
{
    int64_t i;
    size_t n = avro_schema_union_size(s);

    if (dec_long(d, &i) != 0)
        return -1;
    if (i < 0 || (uint64_t)i >= n)
        return dec_fail(d, "union index %" PRId64 " out of range (%zu branches)", i, n);
    return dec_value(d, avro_schema_union_branch(s, (int)i), depth + 1, out);
}

static int dec_record(dec *d, avro_schema_t s, int depth, json_t **out)
{
    size_t n = avro_schema_record_size(s);
    json_t *obj = json_object();

    if (obj == NULL)
        return dec_oom(d);
    for (size_t i = 0; i < n; i++) {
        const char *name = avro_schema_record_field_name(s, (int)i);
        size_t mark = path_push_name(&d->path, name);
        json_t *v = NULL;

        if (dec_value(d, avro_schema_record_field_get_by_index(s, (int)i), depth + 1, &v) != 0)
            goto fail;
        path_pop(&d->path, mark);
        if (json_object_set_new(obj, name, v) != 0) {
            dec_oom(d);
            goto fail;
        }
    }
    *out = obj;
    return 0;
fail:
    json_decref(obj);
    return -1;
}

static avro_schema_t unlink_schema(avro_schema_t s)
{
    while (s != NULL && is_avro_link(s))
        s = avro_schema_link_target(s);
    return s;
}

/* Reads one block header: *count items follow (0 ends the array or map).
 * Each item of a type that takes at least one byte must fit in what is left. */
static int dec_block(dec *d, size_t total, int zero_size_items, size_t *count)
{
    int64_t n, block_bytes;

    if (dec_long(d, &n) != 0)
        return -1;
    if (n < 0) {
        if (n == INT64_MIN)
            return dec_fail(d, "block count out of range");
        n = -n;
        if (dec_long(d, &block_bytes) != 0)
            return -1;
    }
    if ((uint64_t)n > AVRO_JSON_MAX_ITEMS - total)
        return dec_fail(d, "more than %d items", AVRO_JSON_MAX_ITEMS);
    if (!zero_size_items && (uint64_t)n > dec_left(d))
        return dec_fail(d, "truncated: block of %" PRId64 " items, %zu bytes left", n, dec_left(d));
    *count = (size_t)n;
    return 0;
}

static int dec_array(dec *d, avro_schema_t s, int depth, json_t **out)
{
    avro_schema_t items = avro_schema_array_items(s);
    avro_schema_t target = unlink_schema(items);
    int zero = is_avro_null(target) || is_avro_record(target);
    json_t *arr = json_array();
    size_t total = 0, count;

    if (arr == NULL)
        return dec_oom(d);
    while (dec_block(d, total, zero, &count) == 0) {
        if (count == 0) {
            *out = arr;
            return 0;
        }
        for (size_t i = 0; i < count; i++, total++) {
            size_t mark = path_push_index(&d->path, total);
            json_t *v = NULL;
            if (dec_value(d, items, depth + 1, &v) != 0)
                goto fail;
            path_pop(&d->path, mark);
            if (json_array_append_new(arr, v) != 0) {
                dec_oom(d);
                goto fail;
            }
        }
    }
fail:
    json_decref(arr);
    return -1;
}

/* Reads a map key into a NUL-terminated malloc'd string. */
static int dec_key(dec *d, char **out)
{
    size_t n;

    if (dec_length(d, "map key", &n) != 0)
        return -1;
    if (memchr(d->p, '\0', n) != NULL)
        return dec_fail(d, "map key contains a NUL byte");
    *out = strndup((const char *)d->p, n);
    if (*out == NULL)
        return dec_oom(d);
    d->p += n;
    return 0;
}

static int dec_map_entry(dec *d, avro_schema_t values, int depth, json_t *obj)
{
    char *key = NULL;
    json_t *v = NULL;
    size_t mark;
    int rc = -1;

    if (dec_key(d, &key) != 0)
        return -1;
    mark = path_push_name(&d->path, key);
    if (dec_value(d, values, depth + 1, &v) != 0)
        goto out;
    if (json_object_set_new(obj, key, v) != 0) {
        dec_fail(d, "map key is not valid UTF-8");
        goto out;
    }
    path_pop(&d->path, mark);
    rc = 0;
out:
    free(key);
    return rc;
}

static int dec_map(dec *d, avro_schema_t s, int depth, json_t **out)
{
    avro_schema_t values = avro_schema_map_values(s);
    json_t *obj = json_object();
    size_t total = 0, count;

    if (obj == NULL)
        return dec_oom(d);
    while (dec_block(d, total, 0, &count) == 0) {
        if (count == 0) {
            *out = obj;
            return 0;
        }
        for (size_t i = 0; i < count; i++, total++)
            if (dec_map_entry(d, values, depth, obj) != 0)
                goto fail;
    }
fail:
    json_decref(obj);
    return -1;
}

static int dec_link(dec *d, avro_schema_t s, int depth, json_t **out)
{
    return dec_value(d, avro_schema_link_target(s), depth + 1, out);
}

static const dec_fn decoders[] = {
    [AVRO_STRING] = dec_string,    [AVRO_BYTES] = dec_bytes, [AVRO_INT32] = dec_int,
    [AVRO_INT64] = dec_long_value, [AVRO_FLOAT] = dec_float, [AVRO_DOUBLE] = dec_double,
    [AVRO_BOOLEAN] = dec_boolean,  [AVRO_NULL] = dec_null,   [AVRO_RECORD] = dec_record,
    [AVRO_ENUM] = dec_enum,        [AVRO_FIXED] = dec_fixed, [AVRO_MAP] = dec_map,
    [AVRO_ARRAY] = dec_array,      [AVRO_UNION] = dec_union, [AVRO_LINK] = dec_link,
};

static int dec_value(dec *d, avro_schema_t s, int depth, json_t **out)
{
    if (depth > AVRO_JSON_MAX_DEPTH)
        return dec_fail(d, "nested deeper than %d levels", AVRO_JSON_MAX_DEPTH);
    if (s == NULL || (size_t)avro_typeof(s) >= sizeof(decoders) / sizeof(decoders[0]))
        return dec_fail(d, "schema has an unknown type");
    return decoders[avro_typeof(s)](d, s, depth, out);
}

int avro_json_decode(avro_schema_t writer, const void *buf, size_t len, json_t **out, wf_err *err)
{
    dec d = {.start = buf, .p = buf, .end = (const unsigned char *)buf + len, .err = err};
    json_t *v = NULL;

    *out = NULL;
    if (dec_value(&d, writer, 0, &v) != 0)
        return -1;
    if (d.p != d.end) {
        json_decref(v);
        return dec_fail(&d, "%zu bytes left over after the record", dec_left(&d));
    }
    *out = v;
    return 0;
}

/* ======================= avro-c value -> JSON ======================= */

typedef struct conv {
    aj_path path;
    wf_err *err;
} conv;

static int conv_fail(conv *c, const char *what)
{
    wf_err_set(c->err, WF_INTERNAL, "avro.value", "%s: %s: %s", path_str(&c->path), what,
               avro_strerror());
    return -1;
}

static int from_value(conv *c, const avro_value_t *v, int depth, json_t **out);

static int from_string(conv *c, const avro_value_t *v, json_t **out)
{
    const char *s;
    size_t n;

    if (avro_value_get_string(v, &s, &n) != 0)
        return conv_fail(c, "reading string");
    *out = json_stringn(s, n > 0 ? n - 1 : 0); /* n counts the NUL */
    return *out ? 0 : conv_fail(c, "string is not valid UTF-8");
}

static int from_bytes(conv *c, const avro_value_t *v, json_t **out)
{
    const void *b;
    size_t n;
    int rc = avro_value_get_type(v) == AVRO_FIXED ? avro_value_get_fixed(v, &b, &n)
                                                  : avro_value_get_bytes(v, &b, &n);
    if (rc != 0)
        return conv_fail(c, "reading bytes");
    *out = latin1_to_json(b, n);
    return *out ? 0 : conv_fail(c, "out of memory");
}

static int from_scalar(conv *c, const avro_value_t *v, json_t **out)
{
    int32_t i32;
    int64_t i64;
    float f;
    double dbl;
    int b, rc = -1;

    switch (avro_value_get_type(v)) { /* one accessor per scalar type */
    case AVRO_INT32:
        if ((rc = avro_value_get_int(v, &i32)) == 0)
            *out = json_integer(i32);
        break;
    case AVRO_INT64:
        if ((rc = avro_value_get_long(v, &i64)) == 0)
            *out = json_integer(i64);
        break;
    case AVRO_FLOAT:
        if ((rc = avro_value_get_float(v, &f)) == 0)
            *out = json_real(f);
        break;
    case AVRO_DOUBLE:
        if ((rc = avro_value_get_double(v, &dbl)) == 0)
            *out = json_real(dbl);
        break;
    case AVRO_BOOLEAN:
        if ((rc = avro_value_get_boolean(v, &b)) == 0)
            *out = json_boolean(b);
        break;
    default:
        *out = json_null();
        rc = 0;
    }
    if (rc != 0 || *out == NULL)
        return conv_fail(c, "reading a number (or it is not finite)");
    return 0;
}

static int from_enum(conv *c, const avro_value_t *v, json_t **out)
{
    avro_schema_t s = avro_value_get_schema(v);
    int i;

    if (avro_value_get_enum(v, &i) != 0)
        return conv_fail(c, "reading enum");
    if (i < 0 || i >= avro_schema_enum_number_of_symbols(s))
        return conv_fail(c, "enum index out of range");
    *out = json_string(avro_schema_enum_get(s, i));
    return *out ? 0 : conv_fail(c, "out of memory");
}

/* Records, maps and arrays: children by index, named for records and maps. */
static int from_children(conv *c, const avro_value_t *v, int depth, json_t **out)
{
    int is_array = avro_value_get_type(v) == AVRO_ARRAY;
    json_t *agg = is_array ? json_array() : json_object();
    size_t n;

    if (agg == NULL || avro_value_get_size(v, &n) != 0)
        goto fail_read;
    for (size_t i = 0; i < n; i++) {
        avro_value_t child;
        const char *name = NULL;
        json_t *j = NULL;
        if (avro_value_get_by_index(v, i, &child, &name) != 0)
            goto fail_read;
        size_t mark = is_array ? path_push_index(&c->path, i) : path_push_name(&c->path, name);
        if (from_value(c, &child, depth + 1, &j) != 0)
            goto fail;
        path_pop(&c->path, mark);
        if ((is_array ? json_array_append_new(agg, j) : json_object_set_new(agg, name, j)) != 0)
            goto fail_read;
    }
    *out = agg;
    return 0;
fail_read:
    conv_fail(c, "reading children");
fail:
    json_decref(agg);
    return -1;
}

static int from_union(conv *c, const avro_value_t *v, int depth, json_t **out)
{
    avro_value_t branch;

    if (avro_value_get_current_branch(v, &branch) != 0)
        return conv_fail(c, "reading union branch");
    return from_value(c, &branch, depth + 1, out);
}

static int from_value(conv *c, const avro_value_t *v, int depth, json_t **out)
{
    avro_type_t t = avro_value_get_type(v);

    if (depth > AVRO_JSON_MAX_DEPTH)
        return conv_fail(c, "nested too deep");
    if (t == AVRO_STRING)
        return from_string(c, v, out);
    if (t == AVRO_BYTES || t == AVRO_FIXED)
        return from_bytes(c, v, out);
    if (t == AVRO_ENUM)
        return from_enum(c, v, out);
    if (t == AVRO_RECORD || t == AVRO_MAP || t == AVRO_ARRAY)
        return from_children(c, v, depth, out);
    if (t == AVRO_UNION)
        return from_union(c, v, depth, out);
    return from_scalar(c, v, out);
}

int avro_json_from_value(const avro_value_t *src, json_t **out, wf_err *err)
{
    conv c = {.err = err};

    *out = NULL;
    return from_value(&c, src, 0, out);
}

/* ======================= JSON -> avro-c value ======================= */

static int enc_fail(conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int enc_fail(conv *c, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    wf_err_set(c->err, WF_INTERNAL, "avro.encode", "%s: %s", path_str(&c->path), what);
    return -1;
}

static int to_value(conv *c, const json_t *in, avro_value_t *dest, int depth);

/* Whether `in` has the JSON form of a value of schema s. */
static int fits(avro_schema_t s, const json_t *in)
{
    s = unlink_schema(s);
    switch (avro_typeof(s)) { /* JSON shape per Avro type */
    case AVRO_NULL:
        return json_is_null(in);
    case AVRO_BOOLEAN:
        return json_is_boolean(in);
    case AVRO_INT32:
        return json_is_integer(in) && json_integer_value(in) >= INT32_MIN &&
               json_integer_value(in) <= INT32_MAX;
    case AVRO_INT64:
        return json_is_integer(in);
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        return json_is_number(in);
    case AVRO_ENUM:
        return json_is_string(in) && avro_schema_enum_get_by_name(s, json_string_value(in)) >= 0;
    case AVRO_STRING:
    case AVRO_BYTES:
    case AVRO_FIXED:
        return json_is_string(in);
    case AVRO_RECORD:
    case AVRO_MAP:
        return json_is_object(in);
    case AVRO_ARRAY:
        return json_is_array(in);
    default:
        return 0;
    }
}

static int to_union(conv *c, const json_t *in, avro_value_t *dest, int depth)
{
    avro_schema_t s = avro_value_get_schema(dest);
    size_t n = avro_schema_union_size(s);
    avro_value_t branch;

    for (size_t i = 0; i < n; i++) {
        if (!fits(avro_schema_union_branch(s, (int)i), in))
            continue;
        if (avro_value_set_branch(dest, (int)i, &branch) != 0)
            return enc_fail(c, "selecting union branch: %s", avro_strerror());
        return to_value(c, in, &branch, depth + 1);
    }
    return enc_fail(c, "%s fits no branch of the union", json_type_name(in));
}

static int to_record(conv *c, const json_t *in, avro_value_t *dest, int depth)
{
    avro_schema_t s = avro_value_get_schema(dest);
    size_t n = avro_schema_record_size(s);

    if (!json_is_object(in))
        return enc_fail(c, "expected an object, got %s", json_type_name(in));
    for (size_t i = 0; i < n; i++) {
        const char *name = avro_schema_record_field_name(s, (int)i);
        const json_t *v = json_object_get(in, name);
        avro_value_t field;
        size_t mark = path_push_name(&c->path, name);

        if (v == NULL)
            return enc_fail(c, "missing");
        if (avro_value_get_by_index(dest, i, &field, NULL) != 0)
            return enc_fail(c, "%s", avro_strerror());
        if (to_value(c, v, &field, depth + 1) != 0)
            return -1;
        path_pop(&c->path, mark);
    }
    return 0;
}

static int to_array(conv *c, const json_t *in, avro_value_t *dest, int depth)
{
    size_t i;
    const json_t *v;

    if (!json_is_array(in))
        return enc_fail(c, "expected an array, got %s", json_type_name(in));
    json_array_foreach(in, i, v)
    {
        avro_value_t item;
        size_t mark = path_push_index(&c->path, i);
        if (avro_value_append(dest, &item, NULL) != 0)
            return enc_fail(c, "%s", avro_strerror());
        if (to_value(c, v, &item, depth + 1) != 0)
            return -1;
        path_pop(&c->path, mark);
    }
    return 0;
}

static int to_map(conv *c, const json_t *in, avro_value_t *dest, int depth)
{
    const char *key;
    json_t *v;

    if (!json_is_object(in))
        return enc_fail(c, "expected an object, got %s", json_type_name(in));
    json_object_foreach((json_t *)in, key, v)
    {
        avro_value_t item;
        size_t mark = path_push_name(&c->path, key);
        if (avro_value_add(dest, key, &item, NULL, NULL) != 0)
            return enc_fail(c, "%s", avro_strerror());
        if (to_value(c, v, &item, depth + 1) != 0)
            return -1;
        path_pop(&c->path, mark);
    }
    return 0;
}

static int to_bytes(conv *c, const json_t *in, avro_value_t *dest)
{
    avro_schema_t s = avro_value_get_schema(dest);
    unsigned char *b = NULL;
    size_t n = 0;
    int rc;

    rc = json_to_latin1(json_string_value(in), json_string_length(in), &b, &n);
    if (rc != 0)
        return enc_fail(c, rc == -1 ? "character above U+00FF in bytes" : "out of memory");
    if (avro_typeof(s) == AVRO_FIXED && (int64_t)n != avro_schema_fixed_size(s))
        rc = enc_fail(c, "fixed of %" PRId64 " bytes given %zu", avro_schema_fixed_size(s), n);
    else if (avro_typeof(s) == AVRO_FIXED)
        rc = avro_value_set_fixed(dest, b, n);
    else
        rc = avro_value_set_bytes(dest, b, n);
    free(b);
    if (rc > 0)
        return enc_fail(c, "%s", avro_strerror());
    return rc;
}

static int to_scalar(conv *c, const json_t *in, avro_value_t *dest)
{
    avro_type_t t = avro_value_get_type(dest);
    int rc;

    if (!fits(avro_value_get_schema(dest), in))
        return enc_fail(c, "%s does not fit Avro type %s", json_type_name(in),
                        avro_schema_type_name(avro_value_get_schema(dest)));
    if (t == AVRO_STRING) {
        if (strlen(json_string_value(in)) != json_string_length(in))
            return enc_fail(c, "string contains a NUL character");
        rc = avro_value_set_string(dest, json_string_value(in));
    } else if (t == AVRO_BYTES || t == AVRO_FIXED) {
        return to_bytes(c, in, dest);
    } else if (t == AVRO_ENUM) {
        rc = avro_value_set_enum(
            dest, avro_schema_enum_get_by_name(avro_value_get_schema(dest), json_string_value(in)));
    } else if (t == AVRO_INT32) {
        rc = avro_value_set_int(dest, (int32_t)json_integer_value(in));
    } else if (t == AVRO_INT64) {
        rc = avro_value_set_long(dest, json_integer_value(in));
    } else if (t == AVRO_FLOAT) {
        rc = avro_value_set_float(dest, (float)json_number_value(in));
    } else if (t == AVRO_DOUBLE) {
        rc = avro_value_set_double(dest, json_number_value(in));
    } else if (t == AVRO_BOOLEAN) {
        rc = avro_value_set_boolean(dest, json_is_true(in));
    } else {
        rc = avro_value_set_null(dest);
    }
    return rc == 0 ? 0 : enc_fail(c, "%s", avro_strerror());
}

static int to_value(conv *c, const json_t *in, avro_value_t *dest, int depth)
{
    avro_type_t t = avro_value_get_type(dest);

    if (depth > AVRO_JSON_MAX_DEPTH)
        return enc_fail(c, "nested deeper than %d levels", AVRO_JSON_MAX_DEPTH);
    if (t == AVRO_RECORD)
        return to_record(c, in, dest, depth);
    if (t == AVRO_ARRAY)
        return to_array(c, in, dest, depth);
    if (t == AVRO_MAP)
        return to_map(c, in, dest, depth);
    if (t == AVRO_UNION)
        return to_union(c, in, dest, depth);
    return to_scalar(c, in, dest);
}

int avro_json_to_value(const json_t *in, avro_value_t *dest, wf_err *err)
{
    conv c = {.err = err};

    return to_value(&c, in, dest, 0);
}

int avro_json_encode(avro_schema_t schema, const json_t *in, size_t headroom, void **out,
                     size_t *out_len, wf_err *err)
{
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v = {0};
    avro_writer_t w = NULL;
    char *buf = NULL;
    size_t size = 0;
    int rc = -1;

    if (iface == NULL || avro_generic_value_new(iface, &v) != 0) {
        wf_err_set(err, WF_INTERNAL, "avro.encode", "creating a value: %s", avro_strerror());
        goto out;
    }
    if (avro_json_to_value(in, &v, err) != 0)
        goto out;
    if (avro_value_sizeof(&v, &size) != 0 || (buf = malloc(headroom + size + 1)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "avro.encode", "sizing the record: %s", avro_strerror());
        goto out;
    }
    w = avro_writer_memory(buf + headroom, (int64_t)size);
    if (w == NULL || avro_value_write(w, &v) != 0) {
        wf_err_set(err, WF_INTERNAL, "avro.encode", "writing the record: %s", avro_strerror());
        goto out;
    }
    *out = buf;
    *out_len = headroom + size;
    buf = NULL;
    rc = 0;
out:
    if (w != NULL)
        avro_writer_free(w);
    free(buf);
    if (v.self != NULL)
        avro_value_decref(&v);
    if (iface != NULL)
        avro_value_iface_decref(iface);
    return rc;
}

/* ======================= reader schema projection ======================= */

struct avro_json_reader {
    json_t *avsc;  /* the whole schema */
    json_t *names; /* full name -> definition inside avsc */
};

typedef struct proj {
    const avro_json_reader *r;
    aj_path path;
    wf_err *err;
} proj;

static int is_primitive(const char *name)
{
    static const char *const prims[] = {"null",  "boolean", "int",   "long",
                                        "float", "double",  "bytes", "string"};
    for (size_t i = 0; i < sizeof(prims) / sizeof(prims[0]); i++)
        if (strcmp(prims[i], name) == 0)
            return 1;
    return 0;
}

/* Full name of a named definition ("ns.name") into buf; *ns_len is the
 * length of its namespace within buf (0 for none). */
static int full_name(const json_t *def, const char *enclosing_ns, char *buf, size_t size,
                     size_t *ns_len)
{
    const char *name = json_string_value(json_object_get(def, "name"));
    const char *ns = json_string_value(json_object_get(def, "namespace"));
    const char *dot;
    int n;

    if (name == NULL || name[0] == '\0')
        return -1;
    if (ns == NULL)
        ns = enclosing_ns;
    if (strchr(name, '.') != NULL || ns[0] == '\0')
        n = snprintf(buf, size, "%s", name);
    else
        n = snprintf(buf, size, "%s.%s", ns, name);
    if (n < 0 || (size_t)n >= size)
        return -1;
    dot = strrchr(buf, '.');
    *ns_len = dot ? (size_t)(dot - buf) : 0;
    return 0;
}

static int is_named_kind(const char *t)
{
    return strcmp(t, "record") == 0 || strcmp(t, "error") == 0 || strcmp(t, "enum") == 0 ||
           strcmp(t, "fixed") == 0;
}

static int index_type(avro_json_reader *r, json_t *type, const char *ns, int depth, wf_err *err);

static int index_fields(avro_json_reader *r, json_t *def, const char *ns, int depth, wf_err *err)
{
    json_t *fields = json_object_get(def, "fields");
    json_t *f;
    size_t i;

    if (!json_is_array(fields)) {
        wf_err_set(err, WF_CONFIG, "avro.schema", "record %s has no fields array", ns);
        return -1;
    }
    json_array_foreach(fields, i, f)
    {
        if (!json_is_string(json_object_get(f, "name")) || !json_object_get(f, "type")) {
            wf_err_set(err, WF_CONFIG, "avro.schema", "field %zu of %s lacks name or type", i, ns);
            return -1;
        }
        if (index_type(r, json_object_get(f, "type"), ns, depth + 1, err) != 0)
            return -1;
    }
    return 0;
}

static int index_named(avro_json_reader *r, json_t *def, const char *kind, const char *ns,
                       int depth, wf_err *err)
{
    char fn[512];
    size_t ns_len;

    if (full_name(def, ns, fn, sizeof(fn), &ns_len) != 0) {
        wf_err_set(err, WF_CONFIG, "avro.schema", "a %s has no valid name", kind);
        return -1;
    }
    if (json_object_get(r->names, fn) != NULL) {
        wf_err_set(err, WF_CONFIG, "avro.schema", "type %s defined twice", fn);
        return -1;
    }
    if (json_object_set(r->names, fn, def) != 0) {
        wf_err_set(err, WF_INTERNAL, "oom", "indexing %s: out of memory", fn);
        return -1;
    }
    if (strcmp(kind, "record") != 0 && strcmp(kind, "error") != 0)
        return 0;
    fn[ns_len] = '\0'; /* the record's namespace encloses its fields */
    return index_fields(r, def, fn, depth, err);
}

static int index_type(avro_json_reader *r, json_t *type, const char *ns, int depth, wf_err *err)
{
    const char *kind;
    size_t i;
    json_t *branch;

    if (depth > AVRO_JSON_MAX_DEPTH) {
        wf_err_set(err, WF_CONFIG, "avro.schema", "schema nested deeper than %d levels",
                   AVRO_JSON_MAX_DEPTH);
        return -1;
    }
    if (json_is_string(type))
        return 0; /* a primitive or a reference */
    if (json_is_array(type)) {
        json_array_foreach(type, i, branch)
        {
            if (index_type(r, branch, ns, depth + 1, err) != 0)
                return -1;
        }
        return 0;
    }
    kind = json_string_value(json_object_get(type, "type"));
    if (kind == NULL) {
        wf_err_set(err, WF_CONFIG, "avro.schema", "a type in namespace %s has no \"type\"", ns);
        return -1;
    }
    if (is_named_kind(kind))
        return index_named(r, type, kind, ns, depth, err);
    if (strcmp(kind, "array") == 0)
        return index_type(r, json_object_get(type, "items"), ns, depth + 1, err);
    if (strcmp(kind, "map") == 0)
        return index_type(r, json_object_get(type, "values"), ns, depth + 1, err);
    return 0;
}

avro_json_reader *avro_json_reader_new(json_t *avsc, wf_err *err)
{
    avro_json_reader *r = calloc(1, sizeof(*r));

    if (r == NULL || (r->names = json_object()) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "reader schema: out of memory");
        free(r);
        return NULL;
    }
    r->avsc = json_incref(avsc);
    if (index_type(r, avsc, "", 0, err) != 0) {
        avro_json_reader_free(r);
        return NULL;
    }
    return r;
}

void avro_json_reader_free(avro_json_reader *r)
{
    if (r == NULL)
        return;
    json_decref(r->names);
    json_decref(r->avsc);
    free(r);
}

static int proj_fail(proj *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int proj_fail(proj *p, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    wf_err_set(p->err, WF_DESERIALIZATION, "avro.schema", "%s: %s", path_str(&p->path), what);
    return -1;
}

static int proj_oom(proj *p)
{
    wf_err_set(p->err, WF_INTERNAL, "oom", "%s: out of memory", path_str(&p->path));
    return -1;
}

static int project(proj *p, const json_t *type, const char *ns, const json_t *in, int depth,
                   json_t **out);

static int proj_primitive(proj *p, const char *t, const json_t *in, json_t **out)
{
    int ok;

    if (strcmp(t, "null") == 0)
        ok = json_is_null(in);
    else if (strcmp(t, "boolean") == 0)
        ok = json_is_boolean(in);
    else if (strcmp(t, "int") == 0)
        ok = json_is_integer(in) && json_integer_value(in) >= INT32_MIN &&
             json_integer_value(in) <= INT32_MAX;
    else if (strcmp(t, "long") == 0)
        ok = json_is_integer(in);
    else if (strcmp(t, "float") == 0 || strcmp(t, "double") == 0)
        ok = json_is_number(in);
    else
        ok = json_is_string(in); /* string, bytes (promotable to each other) */
    if (!ok)
        return proj_fail(p, "writer's %s does not resolve to the reader's %s", json_type_name(in),
                         t);
    if (json_is_integer(in) && (strcmp(t, "float") == 0 || strcmp(t, "double") == 0))
        *out = json_real((double)json_integer_value(in)); /* int/long promotion */
    else
        *out = json_incref((json_t *)in);
    return *out ? 0 : proj_oom(p);
}

/* The writer's value for reader field f: by name, else by one of its aliases. */
static const json_t *field_value(const json_t *in, const json_t *f)
{
    const json_t *v = json_object_get(in, json_string_value(json_object_get(f, "name")));
    const json_t *aliases = json_object_get(f, "aliases");
    size_t i;
    json_t *a;

    if (v != NULL || !json_is_array(aliases))
        return v;
    json_array_foreach(aliases, i, a)
    {
        if (json_is_string(a) && (v = json_object_get(in, json_string_value(a))) != NULL)
            return v;
    }
    return NULL;
}

static int proj_field(proj *p, const json_t *f, const char *ns, const json_t *in, int depth,
                      json_t *obj)
{
    const char *name = json_string_value(json_object_get(f, "name"));
    const json_t *v = field_value(in, f);
    size_t mark = path_push_name(&p->path, name);
    json_t *pv = NULL;

    if (v == NULL)
        v = json_object_get(f, "default");
    if (v == NULL)
        return proj_fail(p, "the writer has no such field and the reader declares no default");
    if (project(p, json_object_get(f, "type"), ns, v, depth + 1, &pv) != 0)
        return -1;
    path_pop(&p->path, mark);
    if (json_object_set_new(obj, name, pv) != 0)
        return proj_oom(p);
    return 0;
}

static int proj_record(proj *p, const json_t *def, const char *ns, const json_t *in, int depth,
                       json_t **out)
{
    json_t *obj;
    const json_t *f;
    size_t i;

    if (!json_is_object(in))
        return proj_fail(p, "writer's %s does not resolve to a record", json_type_name(in));
    if ((obj = json_object()) == NULL)
        return proj_oom(p);
    json_array_foreach(json_object_get(def, "fields"), i, f)
    {
        if (proj_field(p, f, ns, in, depth, obj) != 0) {
            json_decref(obj);
            return -1;
        }
    }
    *out = obj;
    return 0;
}

static int proj_enum(proj *p, const json_t *def, const char *ns, const json_t *in, int depth,
                     json_t **out)
{
    const json_t *sym;
    const char *dflt = json_string_value(json_object_get(def, "default"));
    size_t i;

    (void)ns, (void)depth;
    if (!json_is_string(in))
        return proj_fail(p, "writer's %s does not resolve to an enum", json_type_name(in));
    json_array_foreach(json_object_get(def, "symbols"), i, sym)
    {
        if (json_equal(sym, in)) {
            *out = json_incref((json_t *)in);
            return 0;
        }
    }
    if (dflt == NULL)
        return proj_fail(p, "symbol \"%s\" is not in the reader's enum %s", json_string_value(in),
                         json_string_value(json_object_get(def, "name")));
    *out = json_string(dflt);
    return *out ? 0 : proj_oom(p);
}

static int proj_array(proj *p, const json_t *def, const char *ns, const json_t *in, int depth,
                      json_t **out)
{
    const json_t *items = json_object_get(def, "items");
    json_t *arr, *v;
    size_t i;

    if (!json_is_array(in))
        return proj_fail(p, "writer's %s does not resolve to an array", json_type_name(in));
    if ((arr = json_array()) == NULL)
        return proj_oom(p);
    json_array_foreach(in, i, v)
    {
        size_t mark = path_push_index(&p->path, i);
        json_t *pv = NULL;
        if (project(p, items, ns, v, depth + 1, &pv) != 0 || json_array_append_new(arr, pv) != 0) {
            json_decref(arr);
            return wf_err_is_set(p->err) ? -1 : proj_oom(p);
        }
        path_pop(&p->path, mark);
    }
    *out = arr;
    return 0;
}

static int proj_map(proj *p, const json_t *def, const char *ns, const json_t *in, int depth,
                    json_t **out)
{
    const json_t *values = json_object_get(def, "values");
    const char *key;
    json_t *obj, *v;

    if (!json_is_object(in))
        return proj_fail(p, "writer's %s does not resolve to a map", json_type_name(in));
    if ((obj = json_object()) == NULL)
        return proj_oom(p);
    json_object_foreach((json_t *)in, key, v)
    {
        size_t mark = path_push_name(&p->path, key);
        json_t *pv = NULL;
        if (project(p, values, ns, v, depth + 1, &pv) != 0 || json_object_set_new(obj, key, pv)) {
            json_decref(obj);
            return wf_err_is_set(p->err) ? -1 : proj_oom(p);
        }
        path_pop(&p->path, mark);
    }
    *out = obj;
    return 0;
}

static int proj_fixed(proj *p, const json_t *def, const char *ns, const json_t *in, int depth,
                      json_t **out)
{
    (void)def, (void)ns, (void)depth;
    return proj_primitive(p, "bytes", in, out);
}

/* A union is resolved by its first branch the value projects onto.  With a
 * single non-null branch, that branch's own error explains a failure. */
static int proj_union(proj *p, const json_t *branches, const char *ns, const json_t *in, int depth,
                      json_t **out)
{
    const json_t *b, *only = NULL;
    size_t i, non_null = 0;

    json_array_foreach(branches, i, b)
    {
        if (json_is_string(b) && strcmp(json_string_value(b), "null") == 0) {
            if (json_is_null(in))
                return (*out = json_null()) ? 0 : proj_oom(p);
            continue;
        }
        non_null++;
        only = b;
    }
    if (non_null == 1)
        return project(p, only, ns, in, depth + 1, out);
    json_array_foreach(branches, i, b)
    {
        wf_err scratch;
        wf_err *saved = p->err;
        size_t mark = p->path.len;
        wf_err_init(&scratch);
        p->err = &scratch;
        int rc = project(p, b, ns, in, depth + 1, out);
        p->err = saved;
        if (rc == 0)
            return 0;
        path_pop(&p->path, mark);
    }
    return proj_fail(p, "writer's %s matches no branch of the reader's union", json_type_name(in));
}

typedef int (*proj_fn)(proj *p, const json_t *def, const char *ns, const json_t *in, int depth,
                       json_t **out);

static const struct {
    const char *kind;
    proj_fn fn;
} projectors[] = {
    {"record", proj_record}, {"error", proj_record}, {"enum", proj_enum},
    {"array", proj_array},   {"map", proj_map},      {"fixed", proj_fixed},
};

static int proj_named(proj *p, const char *ref, const char *ns, const json_t *in, int depth,
                      json_t **out);

static int proj_complex(proj *p, const json_t *def, const char *ns, const json_t *in, int depth,
                        json_t **out)
{
    const char *kind = json_string_value(json_object_get(def, "type"));
    char fn[512], inner_ns[512];
    size_t ns_len = 0;

    if (kind == NULL)
        return proj_fail(p, "reader schema type has no \"type\"");
    for (size_t i = 0; i < sizeof(projectors) / sizeof(projectors[0]); i++) {
        if (strcmp(projectors[i].kind, kind) != 0)
            continue;
        snprintf(inner_ns, sizeof(inner_ns), "%s", ns);
        if (is_named_kind(kind) && full_name(def, ns, fn, sizeof(fn), &ns_len) == 0)
            snprintf(inner_ns, sizeof(inner_ns), "%.*s", (int)ns_len, fn);
        return projectors[i].fn(p, def, inner_ns, in, depth, out);
    }
    if (is_primitive(kind))
        return proj_primitive(p, kind, in, out); /* e.g. a long with a logicalType */
    return proj_named(p, kind, ns, in, depth, out);
}

/* Resolves a reference: relative to the enclosing namespace first, then as
 * a full name.  The definition is projected in its own namespace. */
static int proj_named(proj *p, const char *ref, const char *ns, const json_t *in, int depth,
                      json_t **out)
{
    char fn[512];
    const json_t *def = NULL;
    const char *dot;

    if (strchr(ref, '.') == NULL && ns[0] != '\0') {
        snprintf(fn, sizeof(fn), "%s.%s", ns, ref);
        def = json_object_get(p->r->names, fn);
    }
    if (def == NULL) {
        snprintf(fn, sizeof(fn), "%s", ref);
        def = json_object_get(p->r->names, fn);
    }
    if (def == NULL)
        return proj_fail(p, "reader schema names unknown type %s", ref);
    dot = strrchr(fn, '.');
    fn[dot ? (size_t)(dot - fn) : 0] = '\0';
    return proj_complex(p, def, fn, in, depth + 1, out);
}

static int project(proj *p, const json_t *type, const char *ns, const json_t *in, int depth,
                   json_t **out)
{
    if (depth > AVRO_JSON_MAX_DEPTH)
        return proj_fail(p, "nested deeper than %d levels", AVRO_JSON_MAX_DEPTH);
    if (json_is_string(type) && is_primitive(json_string_value(type)))
        return proj_primitive(p, json_string_value(type), in, out);
    if (json_is_string(type))
        return proj_named(p, json_string_value(type), ns, in, depth, out);
    if (json_is_array(type))
        return proj_union(p, type, ns, in, depth, out);
    if (json_is_object(type))
        return proj_complex(p, type, ns, in, depth, out);
    return proj_fail(p, "reader schema has a malformed type");
}

int avro_json_reader_project(const avro_json_reader *r, const json_t *in, json_t **out, wf_err *err)
{
    proj p = {.r = r, .err = err};

    *out = NULL;
    return project(&p, r->avsc, "", in, 0, out);
}
