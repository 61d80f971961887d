/* httpc: a blocking HTTP/1.1 client for one API (FlyteAdmin or Kubernetes),
 * on one reused libcurl handle, so connections stay open between calls.
 *
 * An httpc is used by one thread at a time.  TLS peers are verified unless
 * the base URL is plain http://.  Transport failures (connect, timeout,
 * reset) are reported as WF_TRANSIENT with code "<api>.timeout" or
 * "<api>.connect"; any HTTP answer, whatever its status, is a success of
 * httpc_request and is classified by the caller (see httpc_classify). */
#ifndef WF_HTTPC_H
#define WF_HTTPC_H

#include <jansson.h>
#include <stddef.h>

#include "pacer.h"
#include "wf_err.h"

typedef struct httpc httpc;

/* Called after every answered or failed request, e.g. for metrics.
 * status is 0 for a transport failure. */
typedef void (*httpc_observer)(void *ud, const char *api, long status);

/* Supplies the Authorization header value ("Bearer ...") for a request, or
 * leaves buf empty for none.  invalidate is set after a 401 so the provider
 * drops a cached credential.  Returns 0, or -1 with err set. */
typedef int (*httpc_auth_fn)(void *ud, int invalidate, char *buf, size_t len, wf_err *err);

typedef struct httpc_opts {
    const char *api;         /* "flyte" or "k8s": prefix of error codes */
    const char *base_url;    /* scheme://host[:port][/prefix], no trailing '/' needed */
    long timeout_ms;         /* whole request; 0 = 5000 */
    long connect_timeout_ms; /* 0 = 3000 */
    const char *ca_file;     /* NULL = system trust store */
    const char *client_cert; /* PEM files for mutual TLS, or NULL */
    const char *client_key;
    /* In-memory PEM alternatives to the three files above (kubeconfig
     * "-data" fields); copied, and a file of the same kind is ignored when
     * given.  The key copy is wiped on httpc_free. */
    const char *ca_pem;
    size_t ca_pem_len;
    const char *client_cert_pem;
    size_t client_cert_pem_len;
    const char *client_key_pem;
    size_t client_key_pem_len;
    httpc_observer observer;
    void *observer_ud;
    /* The api handed to the observer (copied); NULL: api.  With
     * kubernetes.clusters a Kubernetes client is "k8s@<cluster>" (see
     * metrics_api), so that each API server's requests count apart. */
    const char *observed_as;
    httpc_auth_fn auth;
    void *auth_ud;
    /* The API's pacer (borrowed, shared by every client of the API; NULL:
     * unpaced): each request waits for it, and a 429 or a 503 with
     * Retry-After pauses it (pacer.h).  priority: PACER_BACKGROUND for
     * resync and repairs, which yield to events. */
    pacer *pacer;
    pacer_priority priority;
} httpc_opts;

typedef struct http_response {
    long status;
    char *body; /* NUL-terminated, owned */
    size_t len;
    long retry_after_ms; /* -1 when absent; delay-seconds or an HTTP date, at most 1 h */
} http_response;

/* Copies what it needs from opts.  Returns NULL with err set. */
httpc *httpc_new(const httpc_opts *opts, wf_err *err);
void httpc_free(httpc *c);

/* The largest answer body a request accepts unless told otherwise. */
#define HTTPC_MAX_BODY_DEFAULT ((size_t)16 * 1024 * 1024)

/* Sets the largest answer body c's later requests accept (0: the default,
 * HTTPC_MAX_BODY_DEFAULT).  A longer answer fails the request, WF_TRANSIENT
 * "<api>.connect", with a message naming the request and the limit.  For
 * the few calls whose answer cannot be paged (FlyteAdmin's
 * ListMatchableAttributes): raise it for that call, then set it back. */
void httpc_set_max_body(httpc *c, size_t max_bytes);

/* Sets the priority of c's later requests at its pacer (c is used by one
 * thread at a time): a worker's repair job yields to events. */
void httpc_set_priority(httpc *c, pacer_priority priority);
/* Makes c's later requests give up (as on a stop: "<api>.cancelled") when
 * yield(ud) says so, before they go or while they wait for the pacer: a
 * repair stops for an event of its workspace.  NULL: never. */
void httpc_set_yield(httpc *c, int (*yield)(void *ud), void *ud);

/* Sends method path (relative to the base URL, already escaped) with the
 * NULL-terminated extra headers and an optional body.  Returns 0 with *resp
 * filled (release with http_response_fini), or -1 with err set.  A 401 is
 * retried once with a fresh credential when an auth provider is set.  With
 * a pacer, a request that is told to give up while it waits for it (a stop)
 * fails WF_TRANSIENT, code "<api>.cancelled", unsent. */
int httpc_request(httpc *c, const char *method, const char *path, const char *const *headers,
                  const char *body, size_t body_len, http_response *resp, wf_err *err);

/* As httpc_request with a JSON body (may be NULL) and Accept/Content-Type
 * set to content_type (NULL = application/json). */
int httpc_json(httpc *c, const char *method, const char *path, const json_t *body,
               const char *content_type, http_response *resp, wf_err *err);

void http_response_fini(http_response *resp);

/* Parses the body as JSON; NULL when it is not JSON. New reference. */
json_t *http_response_json(const http_response *resp);

/* Sets err from a non-2xx answer: 408, 409, 429 and 5xx are WF_TRANSIENT,
 * other statuses WF_PERMANENT; code "<api>.<status>"; message "<what>: <status>
 * <server message>".  Retry-After is copied. */
void httpc_classify(const char *api, const http_response *resp, const char *what, wf_err *err);

/* Reads a credential file (a token, a client secret) into buf, without
 * the surrounding whitespace editors and kubelets leave.  Returns its
 * length, or -1 with errno set.  Files longer than len - 1 are cut; the
 * caller wipes buf when done. */
int httpc_read_credential(const char *path, char *buf, size_t len);

/* Percent-encodes one path segment or query value.  Returns a malloc'd
 * string, or NULL on OOM. */
char *httpc_escape(const char *s);

const char *httpc_api(const httpc *c);

#endif
