#include "trace.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "digest.h"

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* n lowercase hex digits at s, not all of them zero when nonzero is set. */
static int hex_field(const char *s, size_t n, int nonzero)
{
    int any = 0;

    for (size_t i = 0; i < n; i++) {
        if (!is_lower_hex(s[i]))
            return 0;
        any |= s[i] != '0';
    }
    return any || !nonzero;
}

int wf_trace_parse(wf_trace *t, const char *value, size_t len)
{
    memset(t, 0, sizeof(*t));
    if (value == NULL || len < WF_TRACEPARENT_LEN)
        return -1;
    /* version-traceid-parentid-flags: 2, 32, 16 and 2 hex digits. */
    if (!hex_field(value, 2, 0) || memcmp(value, "ff", 2) == 0 || value[2] != '-' ||
        !hex_field(value + 3, 32, 1) || value[35] != '-' || !hex_field(value + 36, 16, 1) ||
        value[52] != '-' || !hex_field(value + 53, 2, 0))
        return -1;
    if (memcmp(value, "00", 2) == 0 ? len != WF_TRACEPARENT_LEN
                                    : len > WF_TRACEPARENT_LEN && value[55] != '-')
        return -1;
    memcpy(t->traceparent, "00", 2);
    memcpy(t->traceparent + 2, value + 2, WF_TRACEPARENT_LEN - 2);
    t->traceparent[WF_TRACEPARENT_LEN] = '\0';
    memcpy(t->trace_id, value + 3, WF_TRACE_ID_LEN);
    t->trace_id[WF_TRACE_ID_LEN] = '\0';
    return 0;
}

int wf_trace_set_state(wf_trace *t, const char *value, size_t len)
{
    t->tracestate[0] = '\0';
    if (t->generated || t->traceparent[0] == '\0' || value == NULL || len == 0 ||
        len > WF_TRACESTATE_MAX)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (value[i] < 0x20 || value[i] > 0x7e)
            return -1;
    }
    memcpy(t->tracestate, value, len);
    t->tracestate[len] = '\0';
    return 0;
}

static void to_hex(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
}

int wf_trace_new(wf_trace *t, const char *seed, size_t seed_len)
{
    unsigned char id[32];

    memset(t, 0, sizeof(*t));
    if (seed != NULL ? wf_digest_sha256_of(seed, seed_len, id) != 0
                     : RAND_bytes(id, (int)sizeof(id)) != 1)
        return -1;
    /* An all-zero trace or parent id is invalid; one byte set keeps both
     * valid at a cost of one bit of 128 and of 64. */
    id[15] |= 1;
    id[23] |= 1;
    memcpy(t->traceparent, "00-", 3);
    to_hex(t->traceparent + 3, id, 16);
    t->traceparent[35] = '-';
    to_hex(t->traceparent + 36, id + 16, 8);
    memcpy(t->traceparent + 52, "-01", 4); /* sampled: downstream spans are kept */
    memcpy(t->trace_id, t->traceparent + 3, WF_TRACE_ID_LEN);
    t->trace_id[WF_TRACE_ID_LEN] = '\0';
    t->generated = 1;
    return 0;
}
