/* Kubernetes quantities as exact int64 milli-units.  The mantissa is kept
 * as a decimal digit string while the suffix is applied (a binary suffix
 * doubles it, a decimal one shifts it), so "1.5Ki" or "0.1e1" come out
 * exact and a value too large is noticed before it wraps. */
#include "quantity.h"

#include <stdio.h>
#include <string.h>

#define QUANTITY_TEXT_MAX 64
#define DIGITS_MAX        (QUANTITY_TEXT_MAX + 32) /* mantissa + doublings by up to 2^60 */
#define EXPONENT_MAX      100

typedef struct digits {
    unsigned char d[DIGITS_MAX]; /* most significant first */
    size_t n;
} digits;

typedef struct suffix {
    const char *text;
    int exp10; /* value * 10^exp10 */
    int exp2;  /* value * 2^exp2 */
} suffix;

static const suffix suffixes[] = {
    {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
    {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
    {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
};

static int fail(char *why, size_t len, const char *msg)
{
    if (why)
        snprintf(why, len, "%s", msg);
    return -1;
}

/* Reads the mantissa ("12.50") into m without the dot and leading zeros;
 * *frac counts the digits after the dot.  Returns the end of the
 * mantissa, or NULL when it has no digit or more than one dot. */
static const char *read_mantissa(const char *p, digits *m, int *frac)
{
    int dots = 0, seen = 0;

    m->n = 0;
    *frac = 0;
    for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
        if (*p == '.') {
            dots++;
            continue;
        }
        seen++;
        if (m->n == 0 && *p == '0' && dots == 0)
            continue; /* leading zeros of the integer part carry nothing */
        m->d[m->n++] = (unsigned char)(*p - '0');
        *frac += dots;
    }
    return dots > 1 || seen == 0 ? NULL : p;
}

/* The suffix at p as powers of 10 and 2; -1 when it is none.  "E" and
 * "Ei" are suffixes, "E3" and "e-2" exponents. */
static int read_suffix(const char *p, int *exp10, int *exp2)
{
    int sign = 1, e = 0;

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strcmp(p, suffixes[i].text) == 0) {
            *exp10 = suffixes[i].exp10;
            *exp2 = suffixes[i].exp2;
            return 0;
        }
    }
    if (*p != 'e' && *p != 'E')
        return -1;
    p++;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (*p == '\0')
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (e <= EXPONENT_MAX)
            e = e * 10 + (*p - '0');
    }
    *exp10 = sign * (e > EXPONENT_MAX ? EXPONENT_MAX + 1 : e);
    *exp2 = 0;
    return 0;
}

static void double_digits(digits *m)
{
    int carry = 0;

    for (size_t i = m->n; i-- > 0;) {
        int v = m->d[i] * 2 + carry;
        m->d[i] = (unsigned char)(v % 10);
        carry = v / 10;
    }
    if (carry) {
        memmove(m->d + 1, m->d, m->n);
        m->d[0] = (unsigned char)carry;
        m->n++;
    }
}

/* The first n digits of m times 10^shift as int64; -1 on overflow. */
static int to_int64(const digits *m, size_t n, int shift, int64_t *out)
{
    int64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        if (v > (INT64_MAX - m->d[i]) / 10)
            return -1;
        v = v * 10 + m->d[i];
    }
    for (; shift > 0 && v != 0; shift--) {
        if (v > INT64_MAX / 10)
            return -1;
        v *= 10;
    }
    *out = v;
    return 0;
}

int quantity_parse_milli(const char *s, int64_t *milli, char *why, size_t why_len)
{
    const char *p = s;
    digits m;
    int frac, exp10, exp2, shift;
    size_t keep;
    int64_t v;

    if (s == NULL || *s == '\0' || strlen(s) > QUANTITY_TEXT_MAX)
        return fail(why, why_len, "not a Kubernetes quantity");
    if (*p == '+')
        p++;
    if ((p = read_mantissa(p, &m, &frac)) == NULL || read_suffix(p, &exp10, &exp2) != 0)
        return fail(why, why_len, "not a Kubernetes quantity");
    if (m.n == 0) {
        *milli = 0;
        return 0;
    }
    for (int i = 0; i < exp2; i++)
        double_digits(&m);
    shift = exp10 + 3 - frac; /* milli-units: three more decimal places */
    keep = shift >= 0 ? m.n : (size_t)-shift >= m.n ? 0 : m.n - (size_t)-shift;
    if (to_int64(&m, keep, shift > 0 ? shift : 0, &v) != 0)
        return fail(why, why_len, "larger than 9223372036854775807m");
    *milli = v;
    return 0;
}

int64_t quantity_share(int64_t total, int64_t weight, int64_t sum)
{
    /* total = q*sum + r, so total*weight/sum = q*weight + r*weight/sum,
     * where q*weight <= total and r*weight < sum*sum. */
    return total / sum * weight + total % sum * weight / sum;
}

void quantity_format_cpu(int64_t milli, char *buf, size_t len)
{
    if (milli % 1000 == 0)
        snprintf(buf, len, "%lld", (long long)(milli / 1000));
    else
        snprintf(buf, len, "%lldm", (long long)milli);
}

void quantity_format_bytes(int64_t bytes, char *buf, size_t len)
{
    static const char *const binary[] = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};

    for (size_t i = 0; bytes != 0 && i < sizeof(binary) / sizeof(binary[0]); i++) {
        int64_t unit = (int64_t)1 << (10 * (6 - i));
        if (bytes % unit == 0) {
            snprintf(buf, len, "%lld%s", (long long)(bytes / unit), binary[i]);
            return;
        }
    }
    snprintf(buf, len, "%lld", (long long)bytes);
}
