/* Compact JSON text from a jansson document in one pass over one buffer,
 * with jansson's own rules for escapes, UTF-8 and integers. */
#include "jsonout.h"

#include <stdlib.h>
#include <string.h>

typedef jsonout_buf outbuf;

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

/* ---- a document written piece by piece ---- */

void jsonout_raw(jsonout_buf *b, const char *s, size_t n)
{
    if (!b->failed && put(b, s, n) != 0)
        b->failed = 1;
}

void jsonout_string(jsonout_buf *b, const char *s, size_t n)
{
    if (!b->failed && (s == NULL || put_string(b, s, n) != OUT_OK))
        b->failed = 1;
}

void jsonout_integer(jsonout_buf *b, json_int_t v)
{
    if (!b->failed && put_integer(b, v) != OUT_OK)
        b->failed = 1;
}

void jsonout_value(jsonout_buf *b, const json_t *v)
{
    size_t mark = b->len;
    out_rc rc;
    char *text;

    if (b->failed || v == NULL) {
        b->failed = 1;
        return;
    }
    /* Depth 1: where a value inside a document starts. */
    if ((rc = put_value(b, v, 1)) == OUT_OK)
        return;
    b->len = mark;
    if (rc == OUT_FAIL) {
        b->failed = 1;
        return;
    }
    /* What jansson writes of a value is the same inside a document. */
    if ((text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
        b->failed = 1;
        return;
    }
    jsonout_raw(b, text, strlen(text));
    free(text);
}

char *jsonout_finish(jsonout_buf *b, size_t *len)
{
    char *text = NULL;

    if (!b->failed && reserve(b, 0) == 0) {
        b->data[b->len] = '\0';
        text = b->data;
        if (len)
            *len = b->len;
    } else {
        free(b->data);
    }
    memset(b, 0, sizeof(*b));
    return text;
}

/* ---- whether text is already what jsonout writes ----
 *
 * A recursive descent over the forms put_value writes and nothing else:
 * whatever it does not accept is left to a parse and a write. */

#define COMPACT_MAX_DEPTH  16
#define COMPACT_MAX_KEYS   32
#define COMPACT_MAX_DIGITS 18 /* fewer than json_int_t's 19: no overflow */

typedef struct compact_scan {
    const char *s;
    size_t n;
    size_t i;
} compact_scan;

typedef struct compact_span {
    const char *s;
    size_t n;
} compact_span;

static int compact_value(compact_scan *sc, int depth);

/* A "\\u" escape at s (6 bytes there) as put_string writes one: a control
 * character without a short escape, "00" and two upper-case hex digits. */
static int compact_u_escape(const char *s)
{
    char h = s[4], l = s[5];
    int v;

    if (memcmp(s, "\\u00", 4) != 0 || (h != '0' && h != '1') ||
        !((l >= '0' && l <= '9') || (l >= 'A' && l <= 'F')))
        return 0;
    v = (h - '0') * 16 + (l <= '9' ? l - '0' : l - 'A' + 10);
    /* NUL: json_loads refuses it; the others have short escapes. */
    return v != 0 && v != '\b' && v != '\t' && v != '\n' && v != '\f' && v != '\r';
}

/* The string at sc->i, its bytes between the quotes in *out. */
static int compact_string(compact_scan *sc, compact_span *out)
{
    size_t i = sc->i + 1;

    if (sc->i >= sc->n || sc->s[sc->i] != '"')
        return 0;
    out->s = sc->s + i;
    while (i < sc->n) {
        unsigned char c = (unsigned char)sc->s[i];
        if (c == '"') {
            out->n = (size_t)(sc->s + i - out->s);
            sc->i = i + 1;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c >= 0x80) {
            size_t len = utf8_seq((const unsigned char *)sc->s + i, sc->n - i);
            if (len == 0)
                return 0;
            i += len;
        } else if (c != '\\') {
            i++;
        } else if (i + 1 < sc->n && memchr("\"\\bfnrt", sc->s[i + 1], 7)) {
            i += 2;
        } else if (i + 6 <= sc->n && compact_u_escape(sc->s + i)) {
            i += 6;
        } else {
            return 0;
        }
    }
    return 0;
}

/* An integer as put_integer writes it: no "-0", no leading zero, no
 * fraction or exponent (a real goes through json_dumps's %.17g). */
static int compact_number(compact_scan *sc)
{
    size_t i = sc->i, start;

    if (i < sc->n && sc->s[i] == '-')
        i++;
    start = i;
    while (i < sc->n && sc->s[i] >= '0' && sc->s[i] <= '9')
        i++;
    if (i == start || i - start > COMPACT_MAX_DIGITS ||
        (sc->s[start] == '0' && (i - start > 1 || start > sc->i)))
        return 0;
    if (i < sc->n && (sc->s[i] == '.' || sc->s[i] == 'e' || sc->s[i] == 'E'))
        return 0;
    sc->i = i;
    return 1;
}

static int compact_literal(compact_scan *sc, const char *word, size_t n)
{
    if (sc->n - sc->i < n || memcmp(sc->s + sc->i, word, n) != 0)
        return 0;
    sc->i += n;
    return 1;
}

/* Keys unique: json_loads keeps one value of a repeated key. */
static int compact_object(compact_scan *sc, int depth)
{
    compact_span keys[COMPACT_MAX_KEYS];
    size_t n = 0;

    if (++sc->i < sc->n && sc->s[sc->i] == '}') {
        sc->i++;
        return 1;
    }
    for (;;) {
        if (n == COMPACT_MAX_KEYS || !compact_string(sc, &keys[n]))
            return 0;
        for (size_t k = 0; k < n; k++)
            if (keys[k].n == keys[n].n && memcmp(keys[k].s, keys[n].s, keys[n].n) == 0)
                return 0;
        n++;
        if (sc->i >= sc->n || sc->s[sc->i++] != ':' || !compact_value(sc, depth) || sc->i >= sc->n)
            return 0;
        if (sc->s[sc->i] == '}') {
            sc->i++;
            return 1;
        }
        if (sc->s[sc->i++] != ',')
            return 0;
    }
}

static int compact_array(compact_scan *sc, int depth)
{
    if (++sc->i < sc->n && sc->s[sc->i] == ']') {
        sc->i++;
        return 1;
    }
    for (;;) {
        if (!compact_value(sc, depth) || sc->i >= sc->n)
            return 0;
        if (sc->s[sc->i] == ']') {
            sc->i++;
            return 1;
        }
        if (sc->s[sc->i++] != ',')
            return 0;
    }
}

static int compact_value(compact_scan *sc, int depth)
{
    compact_span str;

    if (sc->i >= sc->n)
        return 0;
    switch (sc->s[sc->i]) {
    case '{':
        return depth < COMPACT_MAX_DEPTH && compact_object(sc, depth + 1);
    case '[':
        return depth < COMPACT_MAX_DEPTH && compact_array(sc, depth + 1);
    case '"':
        return compact_string(sc, &str);
    case 't':
        return compact_literal(sc, "true", 4);
    case 'f':
        return compact_literal(sc, "false", 5);
    case 'n':
        return compact_literal(sc, "null", 4);
    default:
        return compact_number(sc);
    }
}

int jsonout_is_compact(const char *text, size_t len)
{
    compact_scan sc = {text, len, 0};

    /* json_loads reads only an object or an array at the top. */
    if (text == NULL || len == 0 || (text[0] != '{' && text[0] != '['))
        return 0;
    return compact_value(&sc, 0) && sc.i == len;
}
