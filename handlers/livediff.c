/* The field-by-field comparison of a wanted object with a live one, read
 * the way the write would read it (server-side apply or FlyteAdmin's PUT),
 * with managedFields deciding what an apply would remove. */
#include "livediff.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

#define PATH_MAX_LEN    1024
#define VALUE_SHOWN_MAX 200

typedef enum mode {
    MODE_APPLY,   /* live-only fields are someone else's */
    MODE_REPLACE, /* live-only fields are lost, unless proto3's "unset" */
    MODE_EXACT,   /* a whole document replaced: every field counts */
} mode;

typedef struct walk {
    mode mode;
    json_t *changes;
    int count;
    int oom;
} walk;

/* Maps whose values are quantities (ResourceQuota spec.hard, LimitRange
 * spec.limits[].default...): the API server stores them canonical, so
 * "1000m" applied over "1" changes nothing. */
static const char *const quantity_maps[] = {
    "hard", "default", "defaultRequest", "max", "min", "maxLimitRequestRatio", "limits", "requests",
};

static int is_quantity_map(const char *key)
{
    for (size_t i = 0; key && i < sizeof(quantity_maps) / sizeof(quantity_maps[0]); i++)
        if (strcmp(key, quantity_maps[i]) == 0)
            return 1;
    return 0;
}

/* ---- quantities ---- */

typedef __int128 i128;

#define NANO_LIMIT ((i128)1 << 120)

static int scale(i128 *v, i128 by)
{
    if (*v > NANO_LIMIT / by)
        return -1;
    *v *= by;
    return 0;
}

/* Suffix -> power of ten and power of two. */
static int quantity_suffix(const char *p, int *exp10, int *exp2)
{
    static const struct {
        const char *suffix;
        int exp10, exp2;
    } suffixes[] = {{"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},
                    {"k", 3, 0},   {"M", 6, 0},   {"G", 9, 0},   {"T", 12, 0},
                    {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
                    {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60}};
    char *end;

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strcmp(p, suffixes[i].suffix) == 0) {
            *exp10 = suffixes[i].exp10;
            *exp2 = suffixes[i].exp2;
            return 0;
        }
    }
    if ((*p == 'e' || *p == 'E') && p[1]) {
        long e = strtol(p + 1, &end, 10);
        if (*end || e < -40 || e > 40)
            return -1;
        *exp10 = (int)e;
        *exp2 = 0;
        return 0;
    }
    return -1;
}

/* The amount in nano-units, exactly; -1 for what is not a quantity, is
 * finer than a nano-unit or too large to compare this way. */
static int quantity_nano(const char *s, i128 *out)
{
    const char *p = s;
    i128 v = 0;
    int fraction = -1, digits = 0, exp10, exp2;

    if (!names_is_quantity(s))
        return -1;
    if (*p == '+')
        p++;
    for (; isdigit((unsigned char)*p) || *p == '.'; p++) {
        if (*p == '.') {
            fraction = 0;
            continue;
        }
        if (++digits > 30 || scale(&v, 10) != 0)
            return -1;
        v += *p - '0';
        if (fraction >= 0)
            fraction++;
    }
    if (quantity_suffix(p, &exp10, &exp2) != 0)
        return -1;
    exp10 += 9 - (fraction > 0 ? fraction : 0);
    for (; exp10 > 0; exp10--)
        if (scale(&v, 10) != 0)
            return -1;
    for (; exp10 < 0; exp10++) {
        if (v % 10 != 0)
            return -1;
        v /= 10;
    }
    for (; exp2 > 0; exp2--)
        if (scale(&v, 2) != 0)
            return -1;
    *out = v;
    return 0;
}

int livediff_same_quantity(const char *a, const char *b)
{
    i128 x, y;

    if (a && b && strcmp(a, b) == 0)
        return 1;
    return quantity_nano(a, &x) == 0 && quantity_nano(b, &y) == 0 && x == y;
}

/* ---- paths and values ---- */

static int plain_key(const char *k)
{
    if (*k == '\0')
        return 0;
    for (; *k; k++)
        if (!isalnum((unsigned char)*k) && *k != '_' && *k != '-')
            return 0;
    return 1;
}

/* Appends .key (or ["key"] when key holds dots, slashes...) to path. */
static void path_key(char *path, const char *base, const char *key)
{
    json_t *quoted = NULL;
    char *q = NULL;

    if (plain_key(key)) {
        snprintf(path, PATH_MAX_LEN, "%s%s%s", base, base[0] ? "." : "", key);
        return;
    }
    if ((quoted = json_string(key)) != NULL)
        q = json_dumps(quoted, JSON_ENCODE_ANY);
    snprintf(path, PATH_MAX_LEN, "%s[%s]", base, q ? q : "\"?\"");
    free(q);
    json_decref(quoted);
}

static void path_index(char *path, const char *base, size_t i)
{
    snprintf(path, PATH_MAX_LEN, "%s[%zu]", base, i);
}

/* A value as shown in a change line: compact JSON, cut after
 * VALUE_SHOWN_MAX bytes on a UTF-8 boundary. */
static char *shown(const json_t *v)
{
    char *text, *cut;
    size_t n;

    if (v == NULL)
        return strdup("(absent)");
    if ((text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)) == NULL)
        return NULL;
    if ((n = strlen(text)) <= VALUE_SHOWN_MAX)
        return text;
    cut = names_truncate_utf8(text, VALUE_SHOWN_MAX);
    free(text);
    if (cut == NULL || asprintf(&text, "%s...", cut) < 0)
        text = NULL;
    free(cut);
    return text;
}

static void change(walk *w, const char *path, const json_t *live, const json_t *want)
{
    char *from = shown(live), *to = shown(want), *line = NULL;

    if (from == NULL || to == NULL ||
        asprintf(&line, "%s: %s -> %s", path[0] ? path : ".", from, to) < 0 ||
        json_array_append_new(w->changes, json_string(line)) != 0)
        w->oom = 1;
    else
        w->count++;
    free(line);
    free(from);
    free(to);
}

/* ---- the comparison ---- */

/* What the servers drop: an empty value is no value. */
static int empty(const json_t *v)
{
    return json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0);
}

/* What proto3 JSON prints for an unset field, recursively for messages. */
static int unpopulated(const json_t *v)
{
    const char *k;
    json_t *x;

    if (empty(v) || json_is_false(v) || (json_is_string(v) && json_string_length(v) == 0) ||
        (json_is_number(v) && json_number_value(v) == 0))
        return 1;
    if (!json_is_object(v))
        return 0;
    json_object_foreach((json_t *)v, k, x)
    {
        if (!unpopulated(x))
            return 0;
    }
    return 1;
}

static void compare(walk *w, const char *path, const char *parent, const char *key,
                    const json_t *want, const json_t *live);

/* A JSON document held in a string (ConfigMap data, IAM policies): parsed,
 * both sides, or NULL. */
static json_t *embedded(const char *s)
{
    return (s[0] == '{' || s[0] == '[') ? json_loads(s, 0, NULL) : NULL;
}

static void compare_strings(walk *w, const char *path, const char *parent, const json_t *want,
                            const json_t *live)
{
    const char *a = json_string_value(want), *b = json_string_value(live);
    json_t *da, *db;
    mode saved = w->mode;

    if (strcmp(a, b) == 0)
        return;
    if (w->mode == MODE_APPLY && is_quantity_map(parent) && strncmp(path, "spec", 4) == 0 &&
        livediff_same_quantity(a, b))
        return;
    da = embedded(a);
    db = da ? embedded(b) : NULL;
    if (da && db) {
        w->mode = MODE_EXACT; /* the string is replaced as a whole */
        compare(w, path, NULL, NULL, da, db);
        w->mode = saved;
    } else {
        change(w, path, live, want);
    }
    json_decref(da);
    json_decref(db);
}

static void compare_objects(walk *w, const char *path, const char *key, const json_t *want,
                            const json_t *live)
{
    char sub[PATH_MAX_LEN];
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)want, k, v)
    {
        path_key(sub, path, k);
        compare(w, sub, key, k, v, json_object_get(live, k));
    }
    if (w->mode == MODE_APPLY)
        return;
    json_object_foreach((json_t *)live, k, v)
    {
        if (json_object_get(want, k) == NULL) {
            path_key(sub, path, k);
            compare(w, sub, key, k, NULL, v);
        }
    }
}

/* Lists are atomic: a different length is one change of the whole list;
 * otherwise each element is compared by the same rules (so a field the
 * server defaulted inside an element is no difference). */
static void compare_arrays(walk *w, const char *path, const char *key, const json_t *want,
                           const json_t *live)
{
    char sub[PATH_MAX_LEN];

    if (json_array_size(want) != json_array_size(live)) {
        change(w, path, live, want);
        return;
    }
    for (size_t i = 0; i < json_array_size(want); i++) {
        path_index(sub, path, i);
        compare(w, sub, key, key, json_array_get(want, i), json_array_get(live, i));
    }
}

static void compare(walk *w, const char *path, const char *parent, const char *key,
                    const json_t *want, const json_t *live)
{
    if (w->oom)
        return;
    if (json_is_null(live))
        live = NULL;    /* proto3 JSON's unset message, a null the server keeps */
    if (want == NULL) { /* only on the live side, outside an apply */
        if (live && (w->mode == MODE_EXACT || !unpopulated(live)))
            change(w, path, live, NULL);
    } else if (live == NULL) {
        if (!empty(want) && !(w->mode == MODE_REPLACE && unpopulated(want)))
            change(w, path, NULL, want);
    } else if (json_is_object(want) && json_is_object(live)) {
        compare_objects(w, path, key, want, live);
    } else if (json_is_array(want) && json_is_array(live)) {
        compare_arrays(w, path, key, want, live);
    } else if (json_is_string(want) && json_is_string(live)) {
        compare_strings(w, path, parent, want, live);
    } else if (json_is_number(want) && json_is_number(live)) {
        if (json_number_value(want) != json_number_value(live))
            change(w, path, live, want);
    } else if (!json_equal((json_t *)want, (json_t *)live)) {
        change(w, path, live, want); /* booleans, nulls, a changed type */
    }
}

/* ---- removals: fields the manager owns that the manifest dropped ---- */

static int has_field_children(const json_t *fields)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)fields, k, v)
    {
        if (strncmp(k, "f:", 2) == 0)
            return 1;
    }
    return 0;
}

/* The same fieldsV1 member in each of the other managers' sets. */
static json_t *children_of(const json_t *others, const char *member)
{
    json_t *out = json_array(), *node;
    size_t i;

    json_array_foreach(others, i, node)
    {
        json_t *c = json_object_get(node, member);
        if (out && c && json_array_append(out, c) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* Walks the manager's fieldsV1 (f:<field> members; list items k:/v:/i: are
 * covered by the atomic list comparison).  A field the manifest no longer
 * sets is removed by the apply, unless another manager owns it too: then
 * only the ownership moves and the value stays. */
static void removals(walk *w, const char *path, const json_t *fields, const json_t *want,
                     const json_t *live, const json_t *others)
{
    char sub[PATH_MAX_LEN];
    const char *k;
    json_t *f;

    json_object_foreach((json_t *)fields, k, f)
    {
        const char *name;
        json_t *lv, *wv, *oc;

        if (strncmp(k, "f:", 2) != 0 || w->oom)
            continue;
        name = k + 2;
        if ((lv = json_object_get(live, name)) == NULL)
            continue;
        wv = json_object_get(want, name);
        if (wv && !(json_is_object(wv) && json_is_object(lv)))
            continue; /* compared as a whole above */
        if ((oc = children_of(others, k)) == NULL) {
            w->oom = 1;
            return;
        }
        path_key(sub, path, name);
        if (has_field_children(f) && json_is_object(lv))
            removals(w, sub, f, wv, lv, oc);
        else if (wv == NULL && json_array_size(oc) == 0)
            change(w, sub, lv, NULL);
        json_decref(oc);
    }
}

/* The fieldsV1 of manager's Apply entry, and the others' in *others. */
static const json_t *owned_fields(const json_t *live, const char *manager, json_t *others)
{
    json_t *mf = json_object_get(json_object_get(live, "metadata"), "managedFields"), *e;
    const json_t *mine = NULL;
    size_t i;

    json_array_foreach(mf, i, e)
    {
        const char *m = json_string_value(json_object_get(e, "manager"));
        const char *op = json_string_value(json_object_get(e, "operation"));
        json_t *fields = json_object_get(e, "fieldsV1");

        if (!json_is_object(fields))
            continue;
        if (m && op && strcmp(m, manager) == 0 && strcmp(op, "Apply") == 0)
            mine = fields;
        else
            json_array_append(others, fields);
    }
    return mine;
}

int livediff_apply(const json_t *want, const json_t *live, const char *manager, json_t *changes)
{
    walk w = {MODE_APPLY, changes, 0, 0};
    json_t *others = json_array();
    const json_t *mine;

    if (others == NULL)
        return -1;
    compare(&w, "", NULL, NULL, want, live);
    if (manager && (mine = owned_fields(live, manager, others)) != NULL)
        removals(&w, "", mine, want, live, others);
    json_decref(others);
    return w.oom ? -1 : w.count;
}

int livediff_replace(const json_t *want, const json_t *live, json_t *changes)
{
    walk w = {MODE_REPLACE, changes, 0, 0};

    compare(&w, "", NULL, NULL, want, live);
    return w.oom ? -1 : w.count;
}
