/* Strict decimal integers for options and headers: the whole string, in
 * range, or a message saying why not. */
#include "numparse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int numparse_i64(const char *s, int64_t min, int64_t max, int64_t *out, char *why, size_t why_len)
{
    const char *digits = s && *s == '-' ? s + 1 : s;
    char *end = NULL;
    long long v;

    /* strtoll alone accepts leading spaces and '+', and an empty string. */
    if (digits == NULL || *digits < '0' || *digits > '9') {
        if (why)
            snprintf(why, why_len, "not a number");
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0') {
        if (why)
            snprintf(why, why_len, "not a number");
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        if (why)
            snprintf(why, why_len, "out of range %" PRId64 "..%" PRId64, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int numparse_int(const char *s, int min, int max, int *out, char *why, size_t why_len)
{
    int64_t v;

    if (numparse_i64(s, min, max, &v, why, why_len) != 0)
        return -1;
    *out = (int)v;
    return 0;
}
