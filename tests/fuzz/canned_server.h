/* A loopback HTTP server (libmicrohttpd) that answers every request with the
 * status, Retry-After and body taken from the current fuzz input, so that
 * the real client code (httpc, k8s, flyte) parses attacker-chosen answers.
 *
 * Input: byte 0 picks the status (canned_statuses[byte % N], or byte + 300
 * past the table), byte 1 bit 0 adds a Retry-After header whose value is the
 * text up to the first '\n'; the rest is the body.
 *
 * Header-only: included by one fuzz target each. */
#ifndef WF_FUZZ_CANNED_SERVER_H
#define WF_FUZZ_CANNED_SERVER_H

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned canned_statuses[] = {200, 201, 202, 204, 400, 401, 403, 404,
                                           409, 410, 422, 429, 500, 501, 503, 504};
#define CANNED_N_STATUS (sizeof(canned_statuses) / sizeof(canned_statuses[0]))

typedef struct canned {
    struct MHD_Daemon *daemon;
    unsigned port;
    /* the answer; written by the fuzz thread between requests */
    unsigned status;
    char retry_after[64];
    int has_retry_after;
    const uint8_t *body;
    size_t body_len;
} canned;

static enum MHD_Result canned_request(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version, const char *data,
                                      size_t *data_len, void **con_cls)
{
    canned *s = cls;
    struct MHD_Response *r;
    enum MHD_Result rc;

    (void)url, (void)method, (void)version, (void)data;
    /* Swallow the request body first, then answer. */
    if (*con_cls == NULL) {
        *con_cls = s;
        return MHD_YES;
    }
    if (*data_len) {
        *data_len = 0;
        return MHD_YES;
    }
    r = MHD_create_response_from_buffer(s->body_len, (void *)s->body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (s->has_retry_after)
        MHD_add_response_header(r, "Retry-After", s->retry_after);
    rc = MHD_queue_response(c, s->status, r);
    MHD_destroy_response(r);
    return rc;
}

static void canned_start(canned *s)
{
    struct sockaddr_in sa = {0};

    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, canned_request, s,
                                 MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (s->daemon == NULL)
        abort();
    s->port = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
}

/* Sets the answer from the input; returns 0, or -1 when too short. */
static int canned_set(canned *s, const uint8_t *data, size_t size)
{
    size_t i = 2, n = 0;

    if (size < 2)
        return -1;
    s->status = data[0] < CANNED_N_STATUS ? canned_statuses[data[0]] : 300u + data[0];
    if (s->status > 599)
        s->status = 599;
    s->has_retry_after = data[1] & 1;
    if (s->has_retry_after) {
        for (; i < size && data[i] != '\n'; i++)
            if (n + 1 < sizeof(s->retry_after))
                s->retry_after[n++] = isprint(data[i]) ? (char)data[i] : ' ';
        s->retry_after[n] = '\0';
        if (i < size)
            i++;
    }
    s->body = data + i;
    s->body_len = size - i;
    return 0;
}

#endif
