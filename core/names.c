/* Which strings may become Kubernetes names, label values, Flyte ids and S3
 * prefixes (the one DNS-label check), and stable, readable encodings of
 * free-form values into names. */
#include "names.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "utf8.h"

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int names_is_dns1123_label(const char *s, size_t max_len)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > max_len || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return 0;
    return 1;
}

int names_is_label_value(const char *s)
{
    size_t n = strlen(s);

    if (n == 0)
        return 1;
    if (n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

/* RFC 1123 subdomain: dot-separated labels, at most 253 bytes in all. */
static int is_dns1123_subdomain(const char *s, size_t n)
{
    size_t start = 0;

    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        if (i == start || !is_lower_alnum(s[start]) || !is_lower_alnum(s[i - 1]))
            return 0;
        for (size_t j = start; j < i; j++)
            if (!is_lower_alnum(s[j]) && s[j] != '-')
                return 0;
        start = i + 1;
    }
    return 1;
}

int names_is_label_key(const char *s)
{
    const char *slash = strchr(s, '/');
    const char *name = slash ? slash + 1 : s;

    if (slash && !is_dns1123_subdomain(s, (size_t)(slash - s)))
        return 0;
    return *name != '\0' && names_is_label_value(name);
}

int names_is_bucket(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    int dots = 0, digits_and_dots = 1;

    if (n < 3 || n > 63 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_lower_alnum(s[i]) && s[i] != '-' && s[i] != '.')
            return 0;
        if (s[i] == '.' && s[i + 1] == '.')
            return 0;
        dots += s[i] == '.';
        if (!isdigit((unsigned char)s[i]) && s[i] != '.')
            digits_and_dots = 0;
    }
    return !(digits_and_dots && dots == 3);
}

int names_is_quantity(const char *s)
{
    static const char *const suffixes[] = {"",  "n",  "u",  "m",  "k",  "M",  "G",  "T", "P",
                                           "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", NULL};
    const char *p = s;
    int digits = 0, dots = 0;

    if (p == NULL || *p == '\0' || strlen(p) > 64)
        return 0;
    if (*p == '+')
        p++;
    for (; isdigit((unsigned char)*p) || *p == '.'; p++) {
        digits += *p != '.';
        dots += *p == '.';
    }
    if (digits == 0 || dots > 1)
        return 0;
    if ((*p == 'e' || *p == 'E') && strcmp(p, "Ei") != 0) {
        const char *q = p + 1;
        if (*q == '+' || *q == '-')
            q++;
        if (isdigit((unsigned char)*q)) {
            while (isdigit((unsigned char)*q))
                q++;
            return *q == '\0';
        }
        return strcmp(p, "E") == 0;
    }
    for (size_t i = 0; suffixes[i]; i++)
        if (strcmp(p, suffixes[i]) == 0)
            return 1;
    return 0;
}

void names_hash_hex(const char *s, size_t nbytes, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    size_t mdlen = wf_digest_sha256_of(s, strlen(s), md) == 0 ? sizeof(md) : 0;

    if (nbytes > mdlen)
        nbytes = mdlen;
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

void names_user_key(const char *user_id, char *out)
{
    char readable[21];
    char hash[11];
    size_t n = 0;

    for (const char *p = user_id; *p && n < sizeof(readable) - 1; p++) {
        char c = (char)tolower((unsigned char)*p);
        if (is_lower_alnum(c) || (c == '-' && n > 0 && readable[n - 1] != '-'))
            readable[n++] = c;
    }
    while (n > 0 && readable[n - 1] == '-')
        n--;
    readable[n] = '\0';
    /* The hash of the exact id keeps "Alice" and "alice" apart. */
    names_hash_hex(user_id, 5, hash);
    if (n > 0)
        snprintf(out, NAMES_USER_KEY_MAX, "%s-%s", readable, hash);
    else
        snprintf(out, NAMES_USER_KEY_MAX, "u-%s", hash);
}

int names_is_user_key(const char *s)
{
    size_t n = strlen(s), readable;

    if (n < 12 || n > 20 + 11 || s[n - 11] != '-')
        return 0;
    for (size_t i = n - 10; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return 0;
    readable = n - 11;
    if (s[0] == '-' || s[readable - 1] == '-')
        return 0;
    for (size_t i = 0; i < readable; i++)
        if (!is_lower_alnum(s[i]) && !(s[i] == '-' && s[i - 1] != '-'))
            return 0;
    return 1;
}

int names_is_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        unsigned cp;
        int n;
        if (*p < 0x80) {
            p++;
            continue;
        }
        if ((*p & 0xE0) == 0xC0) {
            cp = *p & 0x1F;
            n = 1;
        } else if ((*p & 0xF0) == 0xE0) {
            cp = *p & 0x0F;
            n = 2;
        } else if ((*p & 0xF8) == 0xF0) {
            cp = *p & 0x07;
            n = 3;
        } else {
            return 0;
        }
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

char *names_display(const char *s)
{
    char *out = strdup(s);

    for (unsigned char *p = (unsigned char *)out; p && *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return out;
}

char *names_truncate_utf8(const char *s, size_t max_bytes)
{
    return strndup(s, utf8_prefix_len(s, max_bytes));
}

static char *replace_all(const char *s, const char *needle, const char *with)
{
    size_t nl = strlen(needle), wl = strlen(with), count = 0;
    const char *p;
    char *out, *o;

    for (p = s; (p = strstr(p, needle)) != NULL; p += nl)
        count++;
    out = malloc(strlen(s) + count * wl + 1);
    if (out == NULL)
        return NULL;
    for (o = out, p = s;;) {
        const char *hit = strstr(p, needle);
        if (hit == NULL)
            break;
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, with, wl);
        o += wl;
        p = hit + nl;
    }
    strcpy(o, p);
    return out;
}

char *names_render_template(const char *tmpl, const char *project, const char *domain)
{
    char *a = replace_all(tmpl, "{{ project }}", project);
    char *b;

    if (a == NULL || domain == NULL)
        return a;
    b = replace_all(a, "{{ domain }}", domain);
    free(a);
    return b;
}
