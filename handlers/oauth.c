/* FlyteAdmin OAuth2 client credentials as an httpc auth provider: the token
 * endpoint discovered, tokens cached until shortly before they expire. */
#include "oauth.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "httpc.h"
#include "log.h"
#include "url.h"

#define OAUTH_CODE          "flyte.auth"
#define OAUTH_TOKEN_MAX     4000 /* httpc's header value holds 4096 bytes */
#define OAUTH_SECRET_MAX    4096
#define OAUTH_DEFAULT_TTL_S 300
#define OAUTH_MAX_MARGIN_MS 60000LL
#define DISCOVERY_PATH      "/.well-known/oauth-authorization-server"

struct oauth {
    pthread_mutex_t lock;
    httpc *http; /* no base URL: every call gives a full URL */
    char *admin_url;
    char *client_id;
    char *secret_file;
    char *scope; /* space-separated */
    char *token_endpoint;
    char token[OAUTH_TOKEN_MAX + 1];
    long long fetched_ms;    /* when token was obtained */
    long long refresh_at_ms; /* when to ask for a new one */
    long long expires_at_ms; /* when the server stops accepting it */
    unsigned long requests;
};

static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

/* Joins the configured scopes with ' '; "all" (what FlyteAdmin's
 * BlanketAuthorization requires) when none are configured. */
static char *join_scopes(const wf_config *cfg)
{
    size_t n = 1;
    char *s;

    for (size_t i = 0; i < cfg->flyte.n_auth_scopes; i++)
        n += strlen(cfg->flyte.auth_scopes[i]) + 1;
    if (cfg->flyte.n_auth_scopes == 0)
        return strdup("all");
    s = calloc(1, n);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->flyte.n_auth_scopes; i++) {
        if (cfg->flyte.auth_scopes[i][0] == '\0')
            continue;
        if (s[0])
            strcat(s, " ");
        strcat(s, cfg->flyte.auth_scopes[i]);
    }
    if (s[0] == '\0') {
        free(s);
        return strdup("all");
    }
    return s;
}

static int check_settings(const wf_config *cfg, wf_err *err)
{
    if (cfg->flyte.auth_type != WF_AUTH_CLIENT_CREDENTIALS) {
        wf_err_set(err, WF_CONFIG, "config.flyte.auth",
                   "flyte.auth.type: oauth needs client_credentials");
        return -1;
    }
    if (cfg->flyte.auth_client_id == NULL || cfg->flyte.auth_client_id[0] == '\0' ||
        cfg->flyte.auth_client_secret_file == NULL ||
        cfg->flyte.auth_client_secret_file[0] == '\0') {
        wf_err_set(err, WF_CONFIG, "config.flyte.auth",
                   "flyte.auth: client_id and client_secret_file are required for "
                   "client_credentials");
        return -1;
    }
    if (cfg->flyte.admin_url == NULL || cfg->flyte.admin_url[0] == '\0') {
        wf_err_set(err, WF_CONFIG, "config.flyte.auth",
                   "flyte.admin_url: required for client_credentials discovery");
        return -1;
    }
    return 0;
}

oauth *oauth_new(const wf_config *cfg, const char *ca_file, wf_err *err)
{
    httpc_opts ho = {0};
    oauth *o;

    if (check_settings(cfg, err) != 0)
        return NULL;
    o = calloc(1, sizeof(*o));
    if (o == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "flyte auth: out of memory");
        return NULL;
    }
    pthread_mutex_init(&o->lock, NULL);
    o->admin_url = strdup(cfg->flyte.admin_url);
    o->client_id = strdup(cfg->flyte.auth_client_id);
    o->secret_file = strdup(cfg->flyte.auth_client_secret_file);
    o->scope = join_scopes(cfg);
    if (o->admin_url == NULL || o->client_id == NULL || o->secret_file == NULL ||
        o->scope == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "flyte auth: out of memory");
        oauth_free(o);
        return NULL;
    }
    /* Discovery paths are appended to admin_url: drop trailing '/'. */
    for (size_t n = strlen(o->admin_url); n > 0 && o->admin_url[n - 1] == '/'; n--)
        o->admin_url[n - 1] = '\0';
    ho.api = "flyte";
    ho.base_url = "";
    ho.ca_file = ca_file;
    o->http = httpc_new(&ho, err);
    if (o->http == NULL) {
        oauth_free(o);
        return NULL;
    }
    return o;
}

void oauth_free(oauth *o)
{
    if (o == NULL)
        return;
    httpc_free(o->http);
    free(o->admin_url);
    free(o->client_id);
    free(o->secret_file);
    free(o->scope);
    free(o->token_endpoint);
    wipe(o->token, sizeof(o->token));
    pthread_mutex_destroy(&o->lock);
    free(o);
}

unsigned long oauth_token_requests(oauth *o)
{
    unsigned long n;

    pthread_mutex_lock(&o->lock);
    n = o->requests;
    pthread_mutex_unlock(&o->lock);
    return n;
}

/* Replaces every occurrence of secret in msg with "***". */
static void scrub(char *msg, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    char *p;

    if (n == 0)
        return;
    while ((p = strstr(msg, secret)) != NULL) {
        memcpy(p, "***", 3);
        memmove(p + 3, p + n, strlen(p + n) + 1);
    }
}

/* The server's own explanation, printable ASCII only: RFC 6749 "error" and
 * "error_description", else the start of the body. */
static void server_reason(const http_response *r, char *buf, size_t len)
{
    json_t *j = http_response_json(r);
    const char *e = json_string_value(json_object_get(j, "error"));
    const char *d = json_string_value(json_object_get(j, "error_description"));

    if (e == NULL)
        e = json_string_value(json_object_get(j, "message"));
    if (e)
        snprintf(buf, len, "%.100s%s%.200s", e, d ? ": " : "", d ? d : "");
    else
        snprintf(buf, len, "%.120s", r->body ? r->body : "");
    json_decref(j);
    for (char *p = buf; *p; p++)
        if (!isprint((unsigned char)*p))
            *p = ' ';
}

/* GET the RFC 8414 metadata and keep token_endpoint.  Caller holds lock. */
static int discover(oauth *o, wf_err *err)
{
    static const char *const headers[] = {"Accept: application/json", NULL};
    http_response r = {0};
    char *url = NULL, why[400];
    const char *ep;
    json_t *j = NULL;
    int rc = -1;

    if (asprintf(&url, "%s%s", o->admin_url, DISCOVERY_PATH) < 0) {
        wf_err_set(err, WF_INTERNAL, "oom", "flyte auth: out of memory");
        return -1;
    }
    if (httpc_request(o->http, "GET", url, headers, NULL, 0, &r, err) != 0) {
        wf_err_prefix(err, "flyte auth: discovery");
        goto out;
    }
    if (r.status == 501) {
        wf_err_set(err, WF_TRANSIENT, OAUTH_CODE,
                   "flyte auth: GET %s: HTTP 501: FlyteAdmin has authentication switched off, "
                   "but flyte.auth.type is client_credentials",
                   url);
        goto out;
    }
    if (r.status != 200) {
        server_reason(&r, why, sizeof(why));
        wf_err_set(err, WF_TRANSIENT, OAUTH_CODE, "flyte auth: GET %s: HTTP %ld: %s", url, r.status,
                   why);
        goto out;
    }
    j = http_response_json(&r);
    ep = json_string_value(json_object_get(j, "token_endpoint"));
    if (ep == NULL || !url_is_http(ep)) {
        wf_err_set(err, WF_TRANSIENT, OAUTH_CODE,
                   "flyte auth: GET %s: no http(s) token_endpoint in the metadata", url);
        goto out;
    }
    /* The secret must not travel in clear when FlyteAdmin itself is TLS. */
    if (strncmp(o->admin_url, "https://", 8) == 0 && strncmp(ep, "https://", 8) != 0) {
        wf_err_set(err, WF_TRANSIENT, OAUTH_CODE,
                   "flyte auth: GET %s: token_endpoint %.200s is not https", url, ep);
        goto out;
    }
    free(o->token_endpoint);
    o->token_endpoint = strdup(ep);
    if (o->token_endpoint == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "flyte auth: out of memory");
        goto out;
    }
    rc = 0;
out:
    json_decref(j);
    http_response_fini(&r);
    free(url);
    return rc;
}

/* Reads the secret file into buf, trimmed.  Returns its length or -1. */
static int read_secret(const oauth *o, char *buf, size_t len, wf_err *err)
{
    int n = httpc_read_credential(o->secret_file, buf, len);

    if (n < 0) {
        wf_err_set(err, WF_TRANSIENT, OAUTH_CODE, "flyte auth: read client_secret_file %s: %s",
                   o->secret_file, strerror(errno));
        return -1;
    }
    if (n == 0) {
        wf_err_set(err, WF_TRANSIENT, OAUTH_CODE, "flyte auth: client_secret_file %s is empty",
                   o->secret_file);
        return -1;
    }
    return n;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding; out needs 4 * ((n + 2) / 3) + 1 bytes. */
static void base64(const unsigned char *in, size_t n, char *out)
{
    size_t i;

    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *out++ = b64chars[v >> 18];
        *out++ = b64chars[(v >> 12) & 63];
        *out++ = b64chars[(v >> 6) & 63];
        *out++ = b64chars[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
        *out++ = b64chars[v >> 18];
        *out++ = b64chars[(v >> 12) & 63];
        *out++ = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    *out = '\0';
}

/* "Authorization: Basic base64(urlenc(id) ':' urlenc(secret))" (RFC 6749
 * §2.3.1) into a malloc'd string the caller wipes and frees. */
static char *basic_header(const char *client_id, const char *secret)
{
    char *id = httpc_escape(client_id), *sec = httpc_escape(secret);
    char *pair = NULL, *hdr = NULL;
    size_t n;

    if (id == NULL || sec == NULL)
        goto out;
    n = strlen(id) + 1 + strlen(sec);
    pair = malloc(n + 1);
    hdr = malloc(sizeof("Authorization: Basic ") + 4 * ((n + 2) / 3) + 1);
    if (pair == NULL || hdr == NULL) {
        free(hdr);
        hdr = NULL;
        goto out;
    }
    snprintf(pair, n + 1, "%s:%s", id, sec);
    strcpy(hdr, "Authorization: Basic ");
    base64((const unsigned char *)pair, n, hdr + strlen(hdr));
out:
    if (pair)
        wipe(pair, strlen(pair));
    if (sec)
        wipe(sec, strlen(sec));
    free(pair);
    free(id);
    free(sec);
    return hdr;
}

/* A token goes into a header: printable ASCII without spaces only. */
static int token_ok(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > OAUTH_TOKEN_MAX)
        return 0;
    for (; *t; t++)
        if (*t <= 0x20 || *t >= 0x7f)
            return 0;
    return 1;
}

/* Takes access_token and expires_in from a 200 answer.  Caller holds lock. */
static int accept_token(oauth *o, const http_response *r, wf_err *err)
{
    json_t *j = http_response_json(r);
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    const char *type = json_string_value(json_object_get(j, "token_type"));
    json_t *exp = json_object_get(j, "expires_in");
    long long ttl_ms = OAUTH_DEFAULT_TTL_S * 1000LL, margin, now = wf_clock_mono_ms();
    int rc = -1;

    if (tok == NULL || !token_ok(tok)) {
        wf_err_set(err, WF_TRANSIENT, OAUTH_CODE,
                   "flyte auth: POST %s: no usable access_token in the answer", o->token_endpoint);
        goto out;
    }
    if (type && strcasecmp(type, "bearer") != 0) {
        wf_err_set(err, WF_TRANSIENT, OAUTH_CODE,
                   "flyte auth: POST %s: token_type %.40s is not bearer", o->token_endpoint, type);
        goto out;
    }
    if (json_is_integer(exp) && json_integer_value(exp) > 0 &&
        json_integer_value(exp) < 10LL * 365 * 86400)
        ttl_ms = json_integer_value(exp) * 1000LL;
    else if (json_is_real(exp) && json_real_value(exp) > 0 && json_real_value(exp) < 3.2e8)
        ttl_ms = (long long)(json_real_value(exp) * 1000);
    margin = ttl_ms / 10 < OAUTH_MAX_MARGIN_MS ? ttl_ms / 10 : OAUTH_MAX_MARGIN_MS;
    snprintf(o->token, sizeof(o->token), "%s", tok);
    o->fetched_ms = now;
    o->expires_at_ms = now + ttl_ms;
    o->refresh_at_ms = now + ttl_ms - margin;
    log_debug(LOG_CTX_NONE, "flyte auth: new access token for client %s, valid %lld s",
              o->client_id, ttl_ms / 1000);
    rc = 0;
out:
    /* jansson keeps its own copy of the token; wipe it before release. */
    if (tok)
        wipe((char *)tok, strlen(tok));
    json_decref(j);
    return rc;
}

static void token_error(oauth *o, const http_response *r, const char *secret, wf_err *err)
{
    char why[400];

    server_reason(r, why, sizeof(why));
    scrub(why, secret);
    scrub(why, o->token);
    wf_err_set(err, WF_TRANSIENT, OAUTH_CODE, "flyte auth: POST %s as client %s: HTTP %ld: %s",
               o->token_endpoint, o->client_id, r->status, why);
    /* The metadata may have moved: discover again next time. */
    if (r->status == 404) {
        free(o->token_endpoint);
        o->token_endpoint = NULL;
    }
}

/* POST the client-credentials grant.  Caller holds lock. */
static int request_token(oauth *o, wf_err *err)
{
    char secret[OAUTH_SECRET_MAX], *basic = NULL, *scope = NULL, *body = NULL;
    const char *headers[4] = {"Accept: application/json",
                              "Content-Type: application/x-www-form-urlencoded", NULL, NULL};
    http_response r = {0};
    int rc = -1;

    if (read_secret(o, secret, sizeof(secret), err) < 0)
        goto out;
    basic = basic_header(o->client_id, secret);
    scope = httpc_escape(o->scope);
    if (basic == NULL || scope == NULL ||
        asprintf(&body, "grant_type=client_credentials&scope=%s", scope) < 0) {
        body = NULL;
        wf_err_set(err, WF_INTERNAL, "oom", "flyte auth: out of memory");
        goto out;
    }
    headers[2] = basic;
    o->requests++;
    if (httpc_request(o->http, "POST", o->token_endpoint, headers, body, strlen(body), &r, err) !=
        0) {
        wf_err_prefix(err, "flyte auth: token request");
        goto out;
    }
    if (r.status != 200) {
        token_error(o, &r, secret, err);
        goto out;
    }
    rc = accept_token(o, &r, err);
out:
    /* An answer that echoes the secret must not leave it in memory. */
    if (r.body)
        wipe(r.body, r.len);
    http_response_fini(&r);
    if (basic)
        wipe(basic, strlen(basic));
    wipe(secret, sizeof(secret));
    free(basic);
    free(scope);
    free(body);
    if (rc != 0 && err)
        scrub(err->msg, o->token);
    return rc;
}

/* Makes o->token usable, fetching a new one when needed.  Caller holds
 * lock. */
static int ensure_token(oauth *o, int invalidate, wf_err *err)
{
    long long now = wf_clock_mono_ms();
    wf_err tmp;

    /* A 401 for a token another thread has just replaced: use the new one. */
    if (invalidate && o->token[0] && now - o->fetched_ms >= OAUTH_FRESH_MS) {
        wipe(o->token, sizeof(o->token));
        o->expires_at_ms = 0;
    }
    if (o->token[0] && now < o->refresh_at_ms)
        return 0;
    wf_err_init(&tmp);
    if ((o->token_endpoint || discover(o, &tmp) == 0) && request_token(o, &tmp) == 0)
        return 0;
    /* Refreshing early failed: the old token still works until it expires. */
    if (o->token[0] && now < o->expires_at_ms) {
        log_warn(LOG_CTX_NONE, "%s; using the current token until it expires", tmp.msg);
        return 0;
    }
    wipe(o->token, sizeof(o->token));
    wf_err_set(err, tmp.cls, tmp.code, "%s", tmp.msg);
    return -1;
}

int oauth_auth(void *ud, int invalidate, char *buf, size_t len, wf_err *err)
{
    oauth *o = ud;
    int rc;

    pthread_mutex_lock(&o->lock);
    rc = ensure_token(o, invalidate, err);
    if (rc == 0 && (size_t)snprintf(buf, len, "Bearer %s", o->token) >= len) {
        wipe(buf, len);
        wf_err_set(err, WF_INTERNAL, OAUTH_CODE, "flyte auth: the access token is too long");
        rc = -1;
    }
    pthread_mutex_unlock(&o->lock);
    return rc;
}
