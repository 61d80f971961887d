/* Connection settings from a kubeconfig file, read the way client-go reads
 * them (current context, relative paths, -data fields, token files). */
#include "kubeconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "log.h"
#include "url.h"

#define KC_CODE      "config.kubeconfig"
#define KC_MAX_FILES 16

/* One loaded file of the list. */
typedef struct kc_file {
    const char *path; /* as given, for messages */
    char *dir;        /* absolute directory, for relative paths */
    yaml_document_t doc;
    int loaded;
} kc_file;

typedef struct kc_load {
    kc_file files[KC_MAX_FILES];
    size_t n;
    kubeconfig *kc;
    wf_err *err;
} kc_load;

/* A mapping found in one of the files, with the key path that names it. */
typedef struct kc_node {
    kc_file *file;
    yaml_node_t *node;
    char where[160]; /* e.g. clusters["prod"].cluster */
} kc_node;

static void wipe_free(char *p, size_t n)
{
    if (p)
        memset(p, 0, n);
    free(p);
}

void kubeconfig_fini(kubeconfig *kc)
{
    if (kc == NULL)
        return;
    free(kc->path);
    free(kc->context);
    free(kc->namespace);
    free(kc->server);
    free(kc->ca_file);
    free(kc->ca_pem);
    free(kc->token_file);
    wipe_free(kc->token, kc->token ? strlen(kc->token) : 0);
    free(kc->client_cert_file);
    free(kc->client_key_file);
    free(kc->client_cert_pem);
    wipe_free(kc->client_key_pem, kc->client_key_pem_len);
    memset(kc, 0, sizeof(*kc));
}

/* Sets err to "kubeconfig FILE:LINE:COL: KEY: message" (libyaml marks count
 * from 0; we print from 1 as the config loader does). */
static void fail(kc_load *L, const kc_file *f, const yaml_node_t *n, const char *key,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void fail(kc_load *L, const kc_file *f, const yaml_node_t *n, const char *key,
                 const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (f && n)
        wf_err_set(L->err, WF_CONFIG, KC_CODE, "kubeconfig %s:%zu:%zu: %s: %s", f->path,
                   n->start_mark.line + 1, n->start_mark.column + 1, key, msg);
    else if (f)
        wf_err_set(L->err, WF_CONFIG, KC_CODE, "kubeconfig %s: %s: %s", f->path, key, msg);
    else
        wf_err_set(L->err, WF_CONFIG, KC_CODE, "kubeconfig: %s: %s", key, msg);
}

static int oom(kc_load *L)
{
    wf_err_set(L->err, WF_INTERNAL, "oom", "kubeconfig: out of memory");
    return -1;
}

static int is_null_scalar(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;

    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
            strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0);
}

/* The value of key in mapping map, or NULL. */
static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

/* Reads a string.  Returns 1 and sets *out, 0 when absent or null, -1 (err
 * set) when it is not a scalar. */
static int get_str(kc_load *L, const kc_node *in, const char *key, const char **out)
{
    yaml_node_t *v = map_get(&in->file->doc, in->node, key);
    char path[224];

    *out = NULL;
    if (v == NULL || (v->type == YAML_SCALAR_NODE && is_null_scalar(v)))
        return 0;
    if (v->type != YAML_SCALAR_NODE) {
        snprintf(path, sizeof(path), "%s.%s", in->where, key);
        fail(L, in->file, v, path, "expected a string");
        return -1;
    }
    *out = (const char *)v->data.scalar.value;
    return 1;
}

/* Reads a boolean (YAML 1.2 core: true/True/TRUE, false/False/FALSE).
 * Absent is false.  Returns 0, or -1 with err set. */
static int get_bool(kc_load *L, const kc_node *in, const char *key, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"}, *const no[] = {"false", "False",
                                                                              "FALSE"};
    yaml_node_t *v = map_get(&in->file->doc, in->node, key);
    char path[224];

    *out = 0;
    if (v == NULL || (v->type == YAML_SCALAR_NODE && is_null_scalar(v)))
        return 0;
    for (size_t i = 0; v->type == YAML_SCALAR_NODE && i < 3; i++) {
        if (strcmp((const char *)v->data.scalar.value, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp((const char *)v->data.scalar.value, no[i]) == 0)
            return 0;
    }
    snprintf(path, sizeof(path), "%s.%s", in->where, key);
    fail(L, in->file, v, path, "expected true or false");
    return -1;
}

/* Loads one file into f.  Returns 0, or -1 with err set. */
static int load_file(kc_load *L, kc_file *f)
{
    yaml_parser_t parser;
    char real[PATH_MAX], *slash;
    FILE *fp = fopen(f->path, "rb");
    int rc = -1;

    if (fp == NULL) {
        fail(L, f, NULL, "file", "cannot read: %s", strerror(errno));
        return -1;
    }
    if (realpath(f->path, real) == NULL)
        snprintf(real, sizeof(real), "%s", f->path);
    slash = strrchr(real, '/');
    f->dir = slash ? strndup(real, (size_t)(slash - real)) : strdup(".");
    if (f->dir && f->dir[0] == '\0') {
        free(f->dir);
        f->dir = strdup("/");
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &f->doc)) {
        wf_err_set(L->err, WF_CONFIG, KC_CODE, "kubeconfig %s:%zu:%zu: syntax error: %s", f->path,
                   parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                   parser.problem ? parser.problem : "unreadable");
    } else {
        f->loaded = 1;
        yaml_node_t *root = yaml_document_get_root_node(&f->doc);
        if (root != NULL && root->type != YAML_MAPPING_NODE)
            fail(L, f, root, "(top level)", "expected a mapping");
        else if (f->dir == NULL)
            wf_err_set(L->err, WF_INTERNAL, "oom", "kubeconfig: out of memory");
        else
            rc = 0;
    }
    yaml_parser_delete(&parser);
    fclose(fp);
    return rc;
}

/* The first file's non-empty current-context.  Returns 0, or -1. */
static int find_current_context(kc_load *L, const char **name)
{
    for (size_t i = 0; i < L->n; i++) {
        kc_node top = {&L->files[i], yaml_document_get_root_node(&L->files[i].doc), ""};
        if (top.node == NULL)
            continue;
        if (get_str(L, &top, "current-context", name) < 0)
            return -1;
        if (*name && **name)
            return 0;
    }
    fail(L, &L->files[0], NULL, "current-context", "not set%s",
         L->n > 1 ? " in any of the files" : "");
    return -1;
}

/* Finds list[name == name].field in the first file that defines it.
 * Returns 0 with *out filled, or -1 with err set. */
static int find_entry(kc_load *L, const char *list, const char *field, const char *name,
                      const char *wanted_by, kc_node *out)
{
    for (size_t i = 0; i < L->n; i++) {
        kc_file *f = &L->files[i];
        yaml_node_t *seq = map_get(&f->doc, yaml_document_get_root_node(&f->doc), list);
        if (seq == NULL || (seq->type == YAML_SCALAR_NODE && is_null_scalar(seq)))
            continue;
        if (seq->type != YAML_SEQUENCE_NODE) {
            fail(L, f, seq, list, "expected a list");
            return -1;
        }
        for (yaml_node_item_t *it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(&f->doc, *it);
            yaml_node_t *n = map_get(&f->doc, item, "name");
            if (n == NULL || n->type != YAML_SCALAR_NODE ||
                strcmp((const char *)n->data.scalar.value, name) != 0)
                continue;
            out->file = f;
            snprintf(out->where, sizeof(out->where), "%s[\"%.64s\"].%s", list, name, field);
            out->node = map_get(&f->doc, item, field);
            if (out->node == NULL || out->node->type != YAML_MAPPING_NODE) {
                fail(L, f, item, out->where, "missing or not a mapping");
                return -1;
            }
            return 0;
        }
    }
    fail(L, &L->files[0], NULL, wanted_by, "\"%.64s\": no entry of that name in %s", name, list);
    return -1;
}

/* dir + "/" + p unless p is absolute.  NULL on OOM. */
static char *resolve(const kc_file *f, const char *p)
{
    char *out;

    if (p[0] == '/')
        return strdup(p);
    if (asprintf(&out, "%s/%s", f->dir, p) < 0)
        return NULL;
    return out;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64, whitespace ignored, padding optional.  Returns a
 * malloc'd NUL-terminated buffer and its length, or NULL when malformed. */
static char *b64_decode(const char *in, size_t *out_len)
{
    size_t n = strlen(in), o = 0, pad = 0;
    unsigned acc = 0;
    int bits = 0;
    char *out = malloc(n / 4 * 3 + 4);

    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
            continue;
        if (*p == '=') {
            pad++;
            continue;
        }
        int v = b64_value(*p);
        if (v < 0 || pad > 0)
            goto bad;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    /* 6 leftover bits cannot come from whole bytes; nor can 3+ pads. */
    if (bits >= 6 || pad > 2 || o == 0)
        goto bad;
    out[o] = '\0';
    *out_len = o;
    return out;
bad:
    free(out);
    return NULL;
}

/* Decodes a "-data" field that must hold PEM.  Returns 1 with *out set, 0
 * when absent, -1 with err set. */
static int get_pem(kc_load *L, const kc_node *in, const char *key, char **out, size_t *len)
{
    const char *v;
    char path[224];
    int rc = get_str(L, in, key, &v);

    *out = NULL;
    if (rc <= 0)
        return rc;
    snprintf(path, sizeof(path), "%s.%s", in->where, key);
    *out = b64_decode(v, len);
    if (*out == NULL) {
        fail(L, in->file, map_get(&in->file->doc, in->node, key), path, "not valid base64");
        return -1;
    }
    if (strstr(*out, "-----BEGIN ") == NULL) {
        fail(L, in->file, map_get(&in->file->doc, in->node, key), path,
             "does not decode to PEM (no -----BEGIN line)");
        wipe_free(*out, *len);
        *out = NULL;
        return -1;
    }
    return 1;
}

/* Reads a path field, resolved against the file's directory.  Returns 1, 0
 * when absent, -1 with err set. */
static int get_path(kc_load *L, const kc_node *in, const char *key, char **out)
{
    const char *v;
    int rc = get_str(L, in, key, &v);

    *out = NULL;
    if (rc <= 0)
        return rc;
    *out = resolve(in->file, v);
    if (*out == NULL) {
        return oom(L);
    }
    return 1;
}

static int read_cluster(kc_load *L, const kc_node *c)
{
    kubeconfig *kc = L->kc;
    const char *server, *ignored;
    char path[224];
    int insecure;

    if (get_str(L, c, "server", &server) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s.server", c->where);
    if (server == NULL || !url_is_http(server)) {
        fail(L, c->file, server ? map_get(&c->file->doc, c->node, "server") : c->node, path,
             server ? "must be an http:// or https:// URL" : "missing");
        return -1;
    }
    if (get_bool(L, c, "insecure-skip-tls-verify", &insecure) < 0)
        return -1;
    if (insecure) {
        snprintf(path, sizeof(path), "%s.insecure-skip-tls-verify", c->where);
        fail(L, c->file, map_get(&c->file->doc, c->node, "insecure-skip-tls-verify"), path,
             "wsflyte always verifies the API server's certificate; give "
             "certificate-authority or certificate-authority-data instead");
        return -1;
    }
    kc->server = strdup(server);
    if (kc->server == NULL)
        return oom(L);
    /* certificate-authority-data takes precedence, as in client-go. */
    int rc = get_pem(L, c, "certificate-authority-data", &kc->ca_pem, &kc->ca_pem_len);
    if (rc < 0 || (rc == 0 && get_path(L, c, "certificate-authority", &kc->ca_file) < 0))
        return -1;
    static const char *const unsupported[] = {"tls-server-name", "proxy-url"};
    for (size_t i = 0; i < 2; i++)
        if (get_str(L, c, unsupported[i], &ignored) > 0)
            log_warn(LOG_CTX_NONE, "kubeconfig %s: %s.%s is not supported and is ignored",
                     c->file->path, c->where, unsupported[i]);
    return 0;
}

/* Client certificate and key: each as a file or data; both or neither. */
static int read_client_cert(kc_load *L, const kc_node *u)
{
    kubeconfig *kc = L->kc;
    int cert, key;
    char path[224];

    cert = get_pem(L, u, "client-certificate-data", &kc->client_cert_pem, &kc->client_cert_pem_len);
    if (cert == 0)
        cert = get_path(L, u, "client-certificate", &kc->client_cert_file);
    if (cert < 0)
        return -1;
    key = get_pem(L, u, "client-key-data", &kc->client_key_pem, &kc->client_key_pem_len);
    if (key == 0)
        key = get_path(L, u, "client-key", &kc->client_key_file);
    if (key < 0)
        return -1;
    if (cert != key) {
        snprintf(path, sizeof(path), "%s.%s", u->where, cert ? "client-key" : "client-certificate");
        fail(L, u->file, u->node, path, "missing: a client certificate needs its key");
        return -1;
    }
    return 0;
}

/* A bearer token: printable ASCII without spaces. */
static int header_safe(const char *t)
{
    if (*t == '\0')
        return 0;
    for (; *t; t++)
        if (*t <= 0x20 || *t >= 0x7f)
            return 0;
    return 1;
}

static int read_user(kc_load *L, const kc_node *u)
{
    static const char *const plugins[] = {"exec", "auth-provider", "username"};
    kubeconfig *kc = L->kc;
    const char *token;
    char path[224];

    if (get_path(L, u, "tokenFile", &kc->token_file) < 0 || get_str(L, u, "token", &token) < 0 ||
        read_client_cert(L, u) < 0)
        return -1;
    if (token && !header_safe(token)) {
        snprintf(path, sizeof(path), "%s.token", u->where);
        fail(L, u->file, map_get(&u->file->doc, u->node, "token"), path,
             "holds characters an HTTP header cannot carry");
        return -1;
    }
    /* tokenFile is re-read and wins over a static token. */
    if (token && kc->token_file == NULL && (kc->token = strdup(token)) == NULL)
        return oom(L);
    if (kc->token || kc->token_file || kc->client_cert_pem || kc->client_cert_file)
        return 0;
    for (size_t i = 0; i < 3; i++) {
        yaml_node_t *p = map_get(&u->file->doc, u->node, plugins[i]);
        if (p == NULL)
            continue;
        snprintf(path, sizeof(path), "%s.%s", u->where, plugins[i]);
        fail(L, u->file, p, path,
             "not supported by wsflyte; use token, tokenFile or a client certificate "
             "(e.g. a ServiceAccount token)");
        return -1;
    }
    return 0;
}

/* Splits the list and loads every file.  Returns 0, or -1 with err set. */
static int load_files(kc_load *L, char *list)
{
    char *save = NULL;

    for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
        if (L->n == KC_MAX_FILES) {
            fail(L, NULL, NULL, "path", "more than %d files", KC_MAX_FILES);
            return -1;
        }
        L->files[L->n].path = p;
        if (load_file(L, &L->files[L->n++]) != 0)
            return -1;
    }
    if (L->n == 0) {
        fail(L, NULL, NULL, "path", "no file given");
        return -1;
    }
    return 0;
}

/* The list to read: path, else $KUBECONFIG, else ~/.kube/config. */
static char *default_list(const char *path)
{
    const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
    char *out;

    if (path && *path)
        return strdup(path);
    if (env && *env)
        return strdup(env);
    if (asprintf(&out, "%s/.kube/config", home && *home ? home : "") < 0)
        return NULL;
    return out;
}

static int resolve_context(kc_load *L)
{
    kubeconfig *kc = L->kc;
    const char *name, *cluster, *user, *ns;
    kc_node ctx, c, u;
    char key[224];

    if (find_current_context(L, &name) != 0 ||
        find_entry(L, "contexts", "context", name, "current-context", &ctx) != 0)
        return -1;
    if (get_str(L, &ctx, "cluster", &cluster) < 0 || get_str(L, &ctx, "user", &user) < 0 ||
        get_str(L, &ctx, "namespace", &ns) < 0)
        return -1;
    kc->context = strdup(name);
    kc->path = strdup(ctx.file->path);
    kc->namespace = ns ? strdup(ns) : NULL;
    if (kc->context == NULL || kc->path == NULL || (ns && kc->namespace == NULL))
        return oom(L);
    snprintf(key, sizeof(key), "%s.cluster", ctx.where);
    if (cluster == NULL) {
        fail(L, ctx.file, ctx.node, key, "missing");
        return -1;
    }
    if (find_entry(L, "clusters", "cluster", cluster, key, &c) != 0 || read_cluster(L, &c) != 0)
        return -1;
    /* A context without a user sends no credentials. */
    if (user == NULL)
        return 0;
    snprintf(key, sizeof(key), "%s.user", ctx.where);
    if (find_entry(L, "users", "user", user, key, &u) != 0 || read_user(L, &u) != 0)
        return -1;
    return 0;
}

int kubeconfig_load(const char *path, kubeconfig *kc, wf_err *err)
{
    kc_load L = {.kc = kc, .err = err};
    char *list = default_list(path);
    int rc = -1;

    memset(kc, 0, sizeof(*kc));
    if (list == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "kubeconfig: out of memory");
        return -1;
    }
    if (load_files(&L, list) == 0 && resolve_context(&L) == 0)
        rc = 0;
    for (size_t i = 0; i < L.n; i++) {
        if (L.files[i].loaded)
            yaml_document_delete(&L.files[i].doc);
        free(L.files[i].dir);
    }
    free(list);
    return rc;
}

void kubeconfig_httpc_opts(const kubeconfig *kc, httpc_opts *o)
{
    o->base_url = kc->server;
    o->ca_file = kc->ca_file;
    o->ca_pem = kc->ca_pem;
    o->ca_pem_len = kc->ca_pem_len;
    o->client_cert = kc->client_cert_file;
    o->client_key = kc->client_key_file;
    o->client_cert_pem = kc->client_cert_pem;
    o->client_cert_pem_len = kc->client_cert_pem_len;
    o->client_key_pem = kc->client_key_pem;
    o->client_key_pem_len = kc->client_key_pem_len;
    if (kc->token && kc->token_file == NULL) {
        o->auth = kubeconfig_token_auth;
        o->auth_ud = (void *)kc;
    }
}

int kubeconfig_token_auth(void *ud, int invalidate, char *buf, size_t len, wf_err *err)
{
    const kubeconfig *kc = ud;

    (void)invalidate;
    if (kc->token == NULL || (size_t)snprintf(buf, len, "Bearer %s", kc->token) >= len) {
        if (len)
            memset(buf, 0, len);
        wf_err_set(err, WF_CONFIG, KC_CODE, "kubeconfig %s: the user's token is too long",
                   kc->path ? kc->path : "");
        return -1;
    }
    return 0;
}
