/* Compact JSON text from a jansson document in one pass over one buffer,
 * with jansson's own rules for escapes, UTF-8 and integers. */
#include "jsonout.h"

#include <stdlib.h>
#include <string.h>

typedef struct outbuf {
    char *data;
    size_t len;
    size_t cap;
} outbuf;

typedef enum { OUT_OK, OUT_FAIL, OUT_DELEGATE } out_rc;

/* Makes room for n more bytes (and a NUL); -1 on OOM. */
static int reserve(outbuf *b, size_t n)
{
    size_t need = b->len + n + 1, cap = b->cap ? b->cap : 256;
    char *p;

    if (need <= b->cap)
        return 0;
    if (need < n)
        return -1; /* overflow */
    while (cap < need)
        cap *= 2;
    if ((p = realloc(b->data, cap)) == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int put(outbuf *b, const char *s, size_t n)
{
    if (reserve(b, n) != 0)
        return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0: the
 * checks of jansson's utf8_check_first/utf8_check_full (no overlong forms,
 * no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char u = s[0];
    size_t len = u >= 0xC2 && u <= 0xDF   ? 2
                 : u >= 0xE0 && u <= 0xEF ? 3
                 : u >= 0xF0 && u <= 0xF4 ? 4
                                          : 0;
    unsigned long v;

    if (len == 0 || len > n)
        return 0;
    v = u & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (len == 3 && v < 0x800) ||
        (len == 4 && v < 0x10000))
        return 0;
    return len;
}

/* A string with jansson's escapes: \" \\ \b \f \n \r \t, \u00XX (upper
 * case) for the other control characters, everything else as it is. */
static out_rc put_string(outbuf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)str;
    char *p;

    if (n > ((size_t)-1 - 8) / 6 || reserve(b, n * 6 + 2) != 0)
        return OUT_FAIL;
    p = b->data + b->len;
    *p++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t len = utf8_seq(s + i, n - i);
            if (len == 0)
                return OUT_FAIL;
            memcpy(p, s + i, len);
            p += len;
            i += len;
            continue;
        }
        i++;
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = (char)c;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"':
            *p++ = '"';
            break;
        case '\\':
            *p++ = '\\';
            break;
        case '\b':
            *p++ = 'b';
            break;
        case '\f':
            *p++ = 'f';
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        default:
            memcpy(p, "u00", 3);
            p[3] = hex[c >> 4];
            p[4] = hex[c & 15];
            p += 5;
        }
    }
    *p++ = '"';
    b->len = (size_t)(p - b->data);
    return OUT_OK;
}

static out_rc put_integer(outbuf *b, json_int_t v)
{
    char digits[24], *p = digits + sizeof(digits);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return put(b, p, (size_t)(digits + sizeof(digits) - p)) == 0 ? OUT_OK : OUT_FAIL;
}

static out_rc put_value(outbuf *b, const json_t *v, int depth);

static out_rc put_object(outbuf *b, const json_t *o, int depth)
{
    void *it = json_object_iter((json_t *)o);
    out_rc rc;

    if (put(b, "{", 1) != 0)
        return OUT_FAIL;
    for (int first = 1; it; it = json_object_iter_next((json_t *)o, it), first = 0) {
        if ((!first && put(b, ",", 1) != 0))
            return OUT_FAIL;
        rc = put_string(b, json_object_iter_key(it), json_object_iter_key_len(it));
        if (rc == OUT_OK)
            rc = put(b, ":", 1) == 0 ? OUT_OK : OUT_FAIL;
        if (rc == OUT_OK)
            rc = put_value(b, json_object_iter_value(it), depth + 1);
        if (rc != OUT_OK)
            return rc;
    }
    return put(b, "}", 1) == 0 ? OUT_OK : OUT_FAIL;
}

static out_rc put_array(outbuf *b, const json_t *a, int depth)
{
    size_t n = json_array_size(a);
    out_rc rc;

    if (put(b, "[", 1) != 0)
        return OUT_FAIL;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && put(b, ",", 1) != 0)
            return OUT_FAIL;
        if ((rc = put_value(b, json_array_get(a, i), depth + 1)) != OUT_OK)
            return rc;
    }
    return put(b, "]", 1) == 0 ? OUT_OK : OUT_FAIL;
}

static out_rc put_value(outbuf *b, const json_t *v, int depth)
{
    if (depth > JSONOUT_MAX_DEPTH)
        return OUT_DELEGATE;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return put_object(b, v, depth);
    case JSON_ARRAY:
        return put_array(b, v, depth);
    case JSON_STRING:
        return put_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return put_integer(b, json_integer_value(v));
    case JSON_TRUE:
        return put(b, "true", 4) == 0 ? OUT_OK : OUT_FAIL;
    case JSON_FALSE:
        return put(b, "false", 5) == 0 ? OUT_OK : OUT_FAIL;
    case JSON_NULL:
        return put(b, "null", 4) == 0 ? OUT_OK : OUT_FAIL;
    default:
        return OUT_DELEGATE; /* a real: jansson's %.17g and its ".0" rule */
    }
}

char *jsonout_compact(const json_t *doc, size_t *len)
{
    outbuf b = {0};
    out_rc rc = OUT_DELEGATE;
    char *text;

    if (doc && (json_is_object(doc) || json_is_array(doc)))
        rc = put_value(&b, doc, 0);
    if (rc == OUT_OK) {
        b.data[b.len] = '\0';
        if (len)
            *len = b.len;
        return b.data;
    }
    free(b.data);
    if (rc == OUT_FAIL)
        return NULL;
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text && len)
        *len = strlen(text);
    return text;
}
