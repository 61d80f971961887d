/* A copying scan over JSON text that drops one member of the objects under
 * one parent key.  It tracks only what it must: strings (so that brackets
 * and quotes inside them are text), nesting, and whether the next string of
 * an object is a key. */
#include "jsonskim.h"

#include <stdlib.h>
#include <string.h>

#define SKIM_MAX_DEPTH 256

typedef struct frame {
    char is_object;
    char under_parent; /* the object is the value of member `parent` */
    char expect_key;   /* the next string is a key */
} frame;

typedef struct scan {
    const char *s;
    size_t n;
    char *out;
    size_t out_len;
} scan;

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const scan *sc, size_t i)
{
    while (i < sc->n && is_ws(sc->s[i]))
        i++;
    return i;
}

/* i is at an opening quote: the index after the closing one, or 0. */
static size_t skip_string(const scan *sc, size_t i)
{
    for (i++; i < sc->n; i++) {
        if (sc->s[i] == '\\')
            i++;
        else if (sc->s[i] == '"')
            return i + 1;
    }
    return 0;
}

/* i is at the start of a value: the index after it, or 0. */
static size_t skip_value(const scan *sc, size_t i)
{
    size_t depth = 0;

    while (i < sc->n) {
        char c = sc->s[i];
        if (c == '"') {
            if ((i = skip_string(sc, i)) == 0)
                return 0;
            if (depth == 0)
                return i;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return i; /* the end of a scalar before its container closes */
            if (--depth == 0)
                return i + 1;
        } else if (depth == 0 && (c == ',' || is_ws(c))) {
            return i;
        }
        i++;
    }
    return 0;
}

static void emit(scan *sc, size_t from, size_t to)
{
    if (to > from)
        memcpy(sc->out + sc->out_len, sc->s + from, to - from);
    sc->out_len += to - from;
}

/* Drops the member whose value ends at end (nothing of it is copied): a
 * comma after it goes with it, else the one before it (already copied). */
static size_t drop_member(scan *sc, frame *top, size_t end)
{
    size_t next = skip_ws(sc, end);

    if (next < sc->n && sc->s[next] == ',') {
        top->expect_key = 1;
        return next + 1;
    }
    while (sc->out_len > 0 && is_ws(sc->out[sc->out_len - 1]))
        sc->out_len--;
    if (sc->out_len > 0 && sc->out[sc->out_len - 1] == ',')
        sc->out_len--;
    return next;
}

static int key_is(const scan *sc, size_t start, size_t end, const char *want)
{
    size_t n = strlen(want);
    return end - start == n + 2 && memcmp(sc->s + start + 1, want, n) == 0;
}

/* Handles the string at i: a key (possibly dropping its member) or a
 * value.  Returns the index to go on from and the index up to which the
 * text is copied (*copy_to), or 0 when the text does not scan. */
static size_t on_string(scan *sc, frame *top, size_t i, const char *parent, const char *key,
                        int *parent_next, size_t *copy_to)
{
    size_t end = skip_string(sc, i), colon, value_end;

    *copy_to = end;
    if (end == 0 || top == NULL || !top->is_object || !top->expect_key) {
        *parent_next = 0;
        return end;
    }
    top->expect_key = 0;
    colon = skip_ws(sc, end);
    if (colon >= sc->n || sc->s[colon] != ':')
        return 0;
    *parent_next = key_is(sc, i, end, parent);
    if (!top->under_parent || !key_is(sc, i, end, key)) {
        *copy_to = colon + 1; /* past the colon, which would end *parent_next */
        return colon + 1;
    }
    value_end = skip_value(sc, skip_ws(sc, colon + 1));
    if (value_end == 0)
        return 0;
    *copy_to = i; /* nothing of the member is copied */
    *parent_next = 0;
    return drop_member(sc, top, value_end);
}

char *jsonskim_without(const char *text, size_t len, const char *parent, const char *key,
                       size_t *out_len)
{
    scan sc = {text, len, malloc(len + 1), 0};
    frame stack[SKIM_MAX_DEPTH];
    size_t depth = 0, i = 0, copied = 0;
    int parent_next = 0;

    if (sc.out == NULL)
        return NULL;
    while (i < len) {
        char c = text[i];
        frame *top = depth ? &stack[depth - 1] : NULL;
        if (c == '"') {
            size_t copy_to, next;
            emit(&sc, copied, i); /* a dropped member may take back the comma before it */
            next = on_string(&sc, top, i, parent, key, &parent_next, &copy_to);
            if (next == 0)
                goto fail;
            emit(&sc, i, copy_to);
            copied = i = next;
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth == SKIM_MAX_DEPTH)
                goto fail;
            stack[depth++] = (frame){c == '{', c == '{' && parent_next, c == '{'};
        } else if (c == '}' || c == ']') {
            if (depth == 0 || stack[depth - 1].is_object != (c == '}'))
                goto fail;
            depth--;
        } else if (c == ',' && top && top->is_object) {
            top->expect_key = 1;
        }
        if (!is_ws(c))
            parent_next = 0;
        i++;
    }
    if (depth != 0)
        goto fail;
    emit(&sc, copied, len);
    sc.out[sc.out_len] = '\0';
    if (out_len)
        *out_len = sc.out_len;
    return sc.out;
fail:
    free(sc.out);
    return NULL;
}

/* ---- only some members ---- */

/* Whether the key at text[start..end) (quotes included) is one of keep's
 * parents (level 0) or, under parent, one of its keys (level 1). */
static int kept(const char *const *keep, size_t n_keep, const char *parent, size_t parent_len,
                const scan *sc, size_t start, size_t end)
{
    const char *k = sc->s + start + 1;
    size_t n = end - start - 2;

    for (size_t i = 0; i < n_keep; i++) {
        const char *dot = strchr(keep[i], '.');
        size_t plen = dot ? (size_t)(dot - keep[i]) : strlen(keep[i]);
        if (parent == NULL) {
            if (plen == n && memcmp(keep[i], k, n) == 0)
                return 1;
        } else if (dot && plen == parent_len && memcmp(keep[i], parent, plen) == 0 &&
                   strlen(dot + 1) == n && memcmp(dot + 1, k, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Copies the members of the object at i that keep names (under parent, or
 * at the top when parent is NULL), each value copied as written, or an
 * object of a kept parent filtered in turn.  Returns the index after the
 * object, or 0 when it does not scan. */
static size_t only_members(scan *sc, size_t i, const char *const *keep, size_t n_keep,
                           const char *parent, size_t parent_len)
{
    int first = 1;

    if (i >= sc->n || sc->s[i] != '{')
        return 0;
    emit(sc, i, i + 1);
    for (i = skip_ws(sc, i + 1); i < sc->n && sc->s[i] != '}';) {
        size_t key = i, key_end, value, value_end;
        if (sc->s[i] != '"' || (key_end = skip_string(sc, i)) == 0)
            return 0;
        i = skip_ws(sc, key_end);
        if (i >= sc->n || sc->s[i] != ':')
            return 0;
        value = skip_ws(sc, i + 1);
        if (value >= sc->n || (value_end = skip_value(sc, value)) == 0)
            return 0;
        if (kept(keep, n_keep, parent, parent_len, sc, key, key_end)) {
            if (!first)
                sc->out[sc->out_len++] = ',';
            first = 0;
            emit(sc, key, key_end);
            sc->out[sc->out_len++] = ':';
            if (parent == NULL && sc->s[value] == '{') {
                if (only_members(sc, value, keep, n_keep, sc->s + key + 1, key_end - key - 2) !=
                    value_end)
                    return 0;
            } else {
                emit(sc, value, value_end);
            }
        }
        i = skip_ws(sc, value_end);
        if (i < sc->n && sc->s[i] == ',')
            i = skip_ws(sc, i + 1);
        else if (i >= sc->n || sc->s[i] != '}')
            return 0;
    }
    if (i >= sc->n)
        return 0;
    emit(sc, i, i + 1);
    return i + 1;
}

char *jsonskim_only(const char *text, size_t len, const char *const *keep, size_t n_keep,
                    size_t *out_len)
{
    scan sc = {text, len, malloc(len + 1), 0};
    size_t start = skip_ws(&sc, 0), end;

    if (sc.out == NULL)
        return NULL;
    end = only_members(&sc, start, keep, n_keep, NULL, 0);
    if (end == 0 || skip_ws(&sc, end) != len) {
        free(sc.out);
        return NULL;
    }
    sc.out[sc.out_len] = '\0';
    if (out_len)
        *out_len = sc.out_len;
    return sc.out;
}
