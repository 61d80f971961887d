/* A blocking HTTP/1.1 JSON client on one kept-alive libcurl handle per API:
 * TLS verified, an auth provider for the bearer token, every answer reported
 * to an observer, failures classified. */
#include "httpc.h"

#include "jsonout.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define HTTPC_MAX_RETRY_AFTER_S 3600L

/* A copy of in-memory PEM data handed to libcurl as a blob. */
typedef struct pem_blob {
    char *data;
    size_t len;
} pem_blob;

struct httpc {
    CURL *curl;
    char *api;
    char *base_url;
    long timeout_ms;
    long connect_timeout_ms;
    char *ca_file;
    char *client_cert;
    char *client_key;
    pem_blob ca_pem;
    pem_blob client_cert_pem;
    pem_blob client_key_pem;
    httpc_observer observer;
    void *observer_ud;
    char *observed_as; /* handed to the observer */
    httpc_auth_fn auth;
    void *auth_ud;
    pacer *pacer;
    pacer_priority priority;
    int (*yield)(void *ud); /* the current job's own reason to give up, or NULL */
    void *yield_ud;
    size_t max_body; /* the largest answer accepted */
    char curl_error[CURL_ERROR_SIZE];
};

typedef struct body_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    int too_big;
} body_buf;

typedef struct header_state {
    long retry_after_ms;
} header_state;

static void set_fixed_options(httpc *c);

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

/* Returns 0 (an empty blob when data is NULL or empty), or -1 on OOM. */
static int blob_copy(pem_blob *b, const char *data, size_t len)
{
    if (data == NULL || len == 0)
        return 0;
    b->data = malloc(len);
    if (b->data == NULL)
        return -1;
    memcpy(b->data, data, len);
    b->len = len;
    return 0;
}

static void blob_wipe(pem_blob *b)
{
    if (b->data)
        memset(b->data, 0, b->len);
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

httpc *httpc_new(const httpc_opts *opts, wf_err *err)
{
    httpc *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "httpc: out of memory");
        return NULL;
    }
    c->curl = curl_easy_init();
    c->api = strdup(opts->api ? opts->api : "http");
    c->observed_as = strdup(opts->observed_as ? opts->observed_as : c->api ? c->api : "http");
    c->base_url = strdup(opts->base_url ? opts->base_url : "");
    if (c->curl == NULL || c->api == NULL || c->observed_as == NULL || c->base_url == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "httpc: cannot create a curl handle");
        httpc_free(c);
        return NULL;
    }
    /* A trailing '/' would double with the paths' leading '/'. */
    size_t n = strlen(c->base_url);
    while (n > 0 && c->base_url[n - 1] == '/')
        c->base_url[--n] = '\0';
    c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 5000;
    c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 3000;
    c->ca_file = dup_or_null(opts->ca_file);
    c->client_cert = dup_or_null(opts->client_cert);
    c->client_key = dup_or_null(opts->client_key);
    if (blob_copy(&c->ca_pem, opts->ca_pem, opts->ca_pem_len) != 0 ||
        blob_copy(&c->client_cert_pem, opts->client_cert_pem, opts->client_cert_pem_len) != 0 ||
        blob_copy(&c->client_key_pem, opts->client_key_pem, opts->client_key_pem_len) != 0) {
        wf_err_set(err, WF_INTERNAL, "oom", "httpc: out of memory");
        httpc_free(c);
        return NULL;
    }
    c->observer = opts->observer;
    c->observer_ud = opts->observer_ud;
    c->auth = opts->auth;
    c->auth_ud = opts->auth_ud;
    c->pacer = opts->pacer;
    c->priority = opts->priority;
    c->max_body = HTTPC_MAX_BODY_DEFAULT;
    set_fixed_options(c);
    return c;
}

void httpc_free(httpc *c)
{
    if (c == NULL)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->api);
    free(c->observed_as);
    free(c->base_url);
    free(c->ca_file);
    free(c->client_cert);
    free(c->client_key);
    blob_wipe(&c->ca_pem);
    blob_wipe(&c->client_cert_pem);
    blob_wipe(&c->client_key_pem);
    free(c);
}

const char *httpc_api(const httpc *c)
{
    return c->api;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    body_buf *b = ud;
    size_t n = size * nmemb;

    if (n > b->max || b->len + n > b->max) {
        b->too_big = 1;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > b->max + 1) /* a raised limit: no doubling past it */
            cap = b->max + 1;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* Retry-After is either delay-seconds (kube-apiserver APF, most proxies)
 * or an HTTP date (some gateways and load balancers). */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    header_state *h = ud;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";

    /* The line is not NUL-terminated: stay within its n bytes.  A huge value
     * is clamped (a fuzzer found the overflow of seconds * 1000). */
    if (n > sizeof(name) - 1 && strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
        size_t i = sizeof(name) - 1;
        long secs = 0;
        while (i < n && (ptr[i] == ' ' || ptr[i] == '\t'))
            i++;
        if (i < n && isdigit((unsigned char)ptr[i])) {
            for (; i < n && isdigit((unsigned char)ptr[i]); i++)
                if (secs < HTTPC_MAX_RETRY_AFTER_S)
                    secs = secs * 10 + (ptr[i] - '0');
            h->retry_after_ms =
                (secs < HTTPC_MAX_RETRY_AFTER_S ? secs : HTTPC_MAX_RETRY_AFTER_S) * 1000;
        } else if (i < n) {
            h->retry_after_ms = pacer_retry_after_ms(ptr + i, n - i, wf_clock_wall_ms(),
                                                     HTTPC_MAX_RETRY_AFTER_S * 1000);
        }
    }
    return n;
}

static void set_transport_error(httpc *c, CURLcode rc, const char *method, const char *path,
                                wf_err *err)
{
    const char *kind = rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "connect";
    char code[WF_ERR_CODE_MAX];

    snprintf(code, sizeof(code), "%s.%s", c->api, kind);
    wf_err_set(err, WF_TRANSIENT, code, "%s %s %s: %s", c->api, method, path,
               c->curl_error[0] ? c->curl_error : curl_easy_strerror(rc));
}

/* A paced request told to give up before it was sent (a stop, a revoke). */
static void set_cancelled(httpc *c, const char *method, const char *path, wf_err *err)
{
    char code[WF_ERR_CODE_MAX];

    snprintf(code, sizeof(code), "%s.cancelled", c->api);
    wf_err_set(err, WF_TRANSIENT, code, "%s %s %s: not sent: stopping while paced", c->api, method,
               path);
}

static struct curl_slist *build_headers(httpc *c, const char *const *headers, int invalidate,
                                        wf_err *err, int *failed)
{
    struct curl_slist *list = NULL;
    char auth[4096 + 32];

    *failed = 0;
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    /* Without this, curl waits for "100 Continue" on larger bodies. */
    list = curl_slist_append(list, "Expect:");
    if (c->auth) {
        char value[4096] = "";
        if (c->auth(c->auth_ud, invalidate, value, sizeof(value), err) != 0) {
            *failed = 1;
            return list;
        }
        if (value[0]) {
            snprintf(auth, sizeof(auth), "Authorization: %s", value);
            list = curl_slist_append(list, auth);
            /* The header value holds a secret: wipe our copies. */
            memset(auth, 0, sizeof(auth));
            memset(value, 0, sizeof(value));
        }
    }
    return list;
}

static void set_blob(CURL *h, CURLoption opt, const pem_blob *b)
{
    /* libcurl reads the blob during the transfer; ours outlives it. */
    struct curl_blob blob = {b->data, b->len, CURL_BLOB_NOCOPY};

    curl_easy_setopt(h, opt, &blob);
}

/* A blob replaces the file of the same kind. */
static void set_tls_material(httpc *c)
{
    CURL *h = c->curl;

    if (c->ca_pem.data)
        set_blob(h, CURLOPT_CAINFO_BLOB, &c->ca_pem);
    else if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (c->client_cert_pem.data)
        set_blob(h, CURLOPT_SSLCERT_BLOB, &c->client_cert_pem);
    else if (c->client_cert)
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->client_cert);
    if (c->client_key_pem.data)
        set_blob(h, CURLOPT_SSLKEY_BLOB, &c->client_key_pem);
    else if (c->client_key)
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->client_key);
}

/* Options that are the same for every request, set once: per request only
 * the URL, method, headers, body and the answer's buffers change.  (A reset
 * and a new set-up per request cost about 5 k instructions; the connection
 * was kept either way.) */
static void set_fixed_options(httpc *c)
{
    CURL *h = c->curl;

    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_error);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    set_tls_material(c);
}

/* "16 MiB", or the bytes when the limit is not whole mebibytes. */
static void limit_text(size_t bytes, char *buf, size_t len)
{
    const size_t mib = 1024 * 1024;

    if (bytes % mib == 0)
        snprintf(buf, len, "%zu MiB", bytes / mib);
    else
        snprintf(buf, len, "%zu bytes", bytes);
}

static int perform_once(httpc *c, const char *method, const char *url, struct curl_slist *hdrs,
                        const char *body, size_t body_len, http_response *resp)
{
    CURL *h = c->curl;
    body_buf buf = {.max = c->max_body};
    header_state hs = {-1};
    CURLcode rc;

    c->curl_error[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hs);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else {
        /* Back to a request without a body after one with a body: the
         * handle keeps its options between requests. */
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    rc = curl_easy_perform(h);
    /* Nothing the handle keeps may point at this request's memory. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    if (rc != CURLE_OK) {
        if (rc == CURLE_WRITE_ERROR && buf.too_big) { /* say why, not curl's "failure writing" */
            char limit[64];
            limit_text(c->max_body, limit, sizeof(limit));
            snprintf(c->curl_error, sizeof(c->curl_error), "the answer is larger than %s", limit);
        }
        free(buf.data);
        return (int)rc;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = buf.data ? buf.data : strdup("");
    resp->len = buf.len;
    resp->retry_after_ms = hs.retry_after_ms;
    return 0;
}

void httpc_set_max_body(httpc *c, size_t max_bytes)
{
    c->max_body = max_bytes ? max_bytes : HTTPC_MAX_BODY_DEFAULT;
}

void httpc_set_priority(httpc *c, pacer_priority priority)
{
    c->priority = priority;
}

void httpc_set_yield(httpc *c, int (*yield)(void *ud), void *ud)
{
    c->yield = yield;
    c->yield_ud = ud;
}

int httpc_request(httpc *c, const char *method, const char *path, const char *const *headers,
                  const char *body, size_t body_len, http_response *resp, wf_err *err)
{
    char *url;
    int rc = -1;

    memset(resp, 0, sizeof(*resp));
    resp->retry_after_ms = -1;
    if (asprintf(&url, "%s%s", c->base_url, path) < 0) {
        wf_err_set(err, WF_INTERNAL, "oom", "httpc: out of memory");
        return -1;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int failed;
        struct curl_slist *hdrs = build_headers(c, headers, attempt > 0, err, &failed);
        if (failed) {
            curl_slist_free_all(hdrs);
            break;
        }
        if (pacer_acquire_or_yield(c->pacer, c->priority, c->yield, c->yield_ud) != 0) {
            curl_slist_free_all(hdrs);
            set_cancelled(c, method, path, err);
            break;
        }
        int crc = perform_once(c, method, url, hdrs, body, body_len, resp);
        curl_slist_free_all(hdrs);
        pacer_answered(c->pacer, crc != 0 ? 0 : resp->status, crc != 0 ? -1 : resp->retry_after_ms);
        if (crc != 0) {
            if (c->observer)
                c->observer(c->observer_ud, c->observed_as, 0);
            set_transport_error(c, (CURLcode)crc, method, path, err);
            break;
        }
        if (c->observer)
            c->observer(c->observer_ud, c->observed_as, resp->status);
        /* A rotated credential: drop the cached one and try once more. */
        if (resp->status == 401 && c->auth && attempt == 0) {
            http_response_fini(resp);
            continue;
        }
        rc = 0;
        break;
    }
    free(url);
    return rc;
}

int httpc_json(httpc *c, const char *method, const char *path, const json_t *body,
               const char *content_type, http_response *resp, wf_err *err)
{
    char ct[128], accept[] = "Accept: application/json";
    const char *headers[3] = {accept, NULL, NULL};
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (body) {
        text = jsonout_compact(body, &len);
        if (text == NULL) {
            wf_err_set(err, WF_INTERNAL, "oom", "%s %s %s: cannot serialise body", c->api, method,
                       path);
            return -1;
        }
        snprintf(ct, sizeof(ct), "Content-Type: %s",
                 content_type ? content_type : "application/json");
        headers[1] = ct;
    }
    rc = httpc_request(c, method, path, headers, text, len, resp, err);
    free(text);
    return rc;
}

void http_response_fini(http_response *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}

json_t *http_response_json(const http_response *resp)
{
    if (resp->body == NULL || resp->len == 0)
        return NULL;
    return json_loadb(resp->body, resp->len, 0, NULL);
}

/* The server's own words: FlyteAdmin and kube-apiserver both answer with a
 * JSON "message"; proxies may answer with text or HTML. */
static void server_message(const http_response *resp, char *buf, size_t len)
{
    json_t *j = http_response_json(resp);
    const char *msg = NULL;

    if (j && json_is_object(j))
        msg = json_string_value(json_object_get(j, "message"));
    if (msg)
        snprintf(buf, len, "%s", msg);
    else
        snprintf(buf, len, "%.200s", resp->body ? resp->body : "");
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    json_decref(j);
}

void httpc_classify(const char *api, const http_response *resp, const char *what, wf_err *err)
{
    char code[WF_ERR_CODE_MAX];
    char msg[512];
    wf_class cls;

    if (wf_err_is_set(err))
        return;
    /* 408 is a timeout and 409 a conflict with a concurrent writer (the
     * "already exists" 409s are handled by the callers): both may pass. */
    cls = (resp->status == 408 || resp->status == 409 || resp->status == 429 || resp->status >= 500)
              ? WF_TRANSIENT
              : WF_PERMANENT;
    snprintf(code, sizeof(code), "%s.%ld", api, resp->status);
    server_message(resp, msg, sizeof(msg));
    wf_err_set(err, cls, code, "%s: HTTP %ld: %s", what, resp->status, msg);
    err->retry_after_ms = resp->retry_after_ms;
}

int httpc_read_credential(const char *path, char *buf, size_t len)
{
    FILE *fp = fopen(path, "r");
    size_t n, start = 0;

    if (fp == NULL)
        return -1;
    n = fread(buf, 1, len - 1, fp);
    fclose(fp);
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    while (start < n && isspace((unsigned char)buf[start]))
        start++;
    memmove(buf, buf + start, n - start);
    n -= start;
    buf[n] = '\0';
    return (int)n;
}

char *httpc_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *p = out;

    if (out == NULL)
        return NULL;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if (isalnum(*q) || *q == '-' || *q == '_' || *q == '.' || *q == '~') {
            *p++ = (char)*q;
        } else {
            *p++ = '%';
            *p++ = hex[*q >> 4];
            *p++ = hex[*q & 15];
        }
    }
    *p = '\0';
    return out;
}
