/* The configuration: YAML file plus WSFLYTE_<SECTION>_<KEY> overrides, one
 * table of every key with its default and check, every problem reported with
 * its key path, and the effective configuration printed with secrets masked.
 *
 * Over 600 lines because the key table and the checks of every value are
 * the contract's section 5 in one place; the YAML walking and the
 * did-you-mean hints serve only that table. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "names.h"
#include "numparse.h"
#include "quantity.h"
#include "url.h"

/* ---- allocation: configuration is start-up work, so OOM aborts ---- */

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL) {
        fputs("wsflyte: out of memory loading the configuration\n", stderr);
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

/* ---- a growing string for the report ---- */

typedef struct strbuf {
    char *s;
    size_t len, cap;
} strbuf;

static void sb_vprintf(strbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    b->len += (size_t)n;
}

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

/* ---- the key table ---- */

typedef enum key_type {
    K_MAP,
    K_STR,
    K_INT,
    K_BOOL,
    K_ENUM,
    K_STRLIST,
    K_DUR,
    K_DURLIST,
    K_PROPS,
    K_WEIGHTS,
    K_CLUSTERS /* kubernetes.clusters: a list of mappings of cluster_keys */
} key_type;

#define REQ 1u /* must not be empty */

typedef struct key_def {
    const char *path;         /* "kafka.topics.events"; cluster_keys: "name" */
    key_type type;            /* K_MAP: a section holding the keys below it */
    size_t off;               /* offsetof the value in wf_config (cluster_keys: wf_cluster) */
    size_t n_off;             /* lists and K_PROPS: offsetof the count */
    const char *def;          /* default, written as an env var would give it */
    int min, max;             /* K_INT; K_CLUSTERS: max = most entries */
    const char *const *names; /* K_ENUM: value = index; K_STR: allowed values */
    int (*check)(const char *v, char *why, size_t len); /* each non-empty value or item */
    unsigned flags;
} key_def;

static int check_http_url(const char *v, char *why, size_t len);
static int check_api_url(const char *v, char *why, size_t len);
static int check_topic(const char *v, char *why, size_t len);
static int check_group_id(const char *v, char *why, size_t len);
static int check_dns_label(const char *v, char *why, size_t len);
static int check_ns_template(const char *v, char *why, size_t len);
static int check_account_id(const char *v, char *why, size_t len);
static int check_listen(const char *v, char *why, size_t len);
static int check_oidc_provider(const char *v, char *why, size_t len);
static int check_quantity(const char *v, char *why, size_t len);
static int check_label_key(const char *v, char *why, size_t len);

static const char *const format_names[] = {"avro", "json", NULL};
/* Indexed by wf_auth_type, wf_log_format and wf_log_level. */
static const char *const auth_names[] = {"none", "client_credentials", NULL};
static const char *const log_format_names[] = {"json", "text", NULL};
static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const quota_scope_names[] = {"namespace", "workspace", NULL};

/* Row builders, one per kind of key. */
/* clang-format off */
#define F(field) offsetof(wf_config, field)
#define SECTION(p)              {p, K_MAP, 0, 0, NULL, 0, 0, NULL, NULL, 0}
#define STR_AT(p, o, d, chk, fl) {p, K_STR, o, 0, d, 0, 0, NULL, chk, fl}
#define STR(p, f, d, chk, fl)   STR_AT(p, F(f), d, chk, fl)
#define ONEOF(p, f, d, names)   {p, K_STR, F(f), 0, d, 0, 0, names, NULL, 0}
#define ENUM(p, f, d, names)    {p, K_ENUM, F(f), 0, d, 0, 0, names, NULL, 0}
#define INT_AT(p, o, d, lo, hi) {p, K_INT, o, 0, d, lo, hi, NULL, NULL, 0}
#define INT(p, f, d, lo, hi)    INT_AT(p, F(f), d, lo, hi)
#define BOOL(p, f, d)           {p, K_BOOL, F(f), 0, d, 0, 0, NULL, NULL, 0}
#define LIST(p, f, n, d, c, fl) {p, K_STRLIST, F(f), F(n), d, 0, 0, NULL, c, fl}
#define DUR(p, f, d)            {p, K_DUR, F(f), 0, d, 0, 0, NULL, NULL, 0}
#define DURS(p, f, n, d)        {p, K_DURLIST, F(f), F(n), d, 0, 0, NULL, NULL, 0}
#define PROPS(p, f, n)          {p, K_PROPS, F(f), F(n), NULL, 0, 0, NULL, NULL, 0}
#define WEIGHTS(p, f, n, d)     {p, K_WEIGHTS, F(f), F(n), d, 1, WF_WEIGHT_MAX, NULL, NULL, 0}
#define CLUSTERS(p, f, n)       {p, K_CLUSTERS, F(f), F(n), NULL, 0, WF_CLUSTERS_MAX, NULL, NULL, 0}
/* clang-format on */

#define PACE_MAX 100000 /* requests per second */

/* CONTRACT.md §5, in its order.  A section comes before its keys. */
static const key_def keys[] = {
    SECTION("kafka"),
    STR("kafka.bootstrap_servers", kafka.bootstrap_servers, "localhost:9092", NULL, REQ),
    STR("kafka.group_id", kafka.group_id, "wsflyte", check_group_id, REQ),
    SECTION("kafka.topics"),
    STR("kafka.topics.events", kafka.topic_events, "workspace.lifecycle.v1", check_topic, REQ),
    STR("kafka.topics.results", kafka.topic_results, "workspace.provisioning.v1", check_topic, REQ),
    PROPS("kafka.properties", kafka.properties, kafka.n_properties),
    SECTION("schemas"),
    STR("schemas.directory", schemas.directory, "schemas", NULL, 0),
    STR("schemas.registry_url", schemas.registry_url, "", check_http_url, 0),
    BOOL("schemas.auto_register", schemas.auto_register, "false"),
    SECTION("results"),
    ONEOF("results.format", results.format, "avro", format_names),
    SECTION("flyte"),
    STR("flyte.admin_url", flyte.admin_url, "http://localhost:8089", check_http_url, REQ),
    STR("flyte.console_url", flyte.console_url, "http://localhost:8089/console", check_http_url, 0),
    LIST("flyte.domains", flyte.domains, flyte.n_domains, "development,staging,production",
         check_dns_label, REQ),
    STR("flyte.authz_namespace", flyte.authz_namespace, "flyte", check_dns_label, REQ),
    STR("flyte.ca_file", flyte.ca_file, "", NULL, 0),
    INT("flyte.qps", flyte.qps, "50", 0, PACE_MAX),
    INT("flyte.burst", flyte.burst, "100", 0, PACE_MAX),
    SECTION("flyte.auth"),
    ENUM("flyte.auth.type", flyte.auth_type, "none", auth_names),
    STR("flyte.auth.client_id", flyte.auth_client_id, "", NULL, 0),
    STR("flyte.auth.client_secret_file", flyte.auth_client_secret_file, "", NULL, 0),
    LIST("flyte.auth.scopes", flyte.auth_scopes, flyte.n_auth_scopes, "", NULL, 0),
    SECTION("kubernetes"),
    STR("kubernetes.api_url", kubernetes.api_url, "", check_api_url, 0),
    STR("kubernetes.token_file", kubernetes.token_file, "", NULL, 0),
    STR("kubernetes.ca_file", kubernetes.ca_file, "", NULL, 0),
    STR("kubernetes.namespace_template", kubernetes.namespace_template,
        "{{ project }}-{{ domain }}", check_ns_template, REQ),
    STR("kubernetes.system_namespace", kubernetes.system_namespace, "flyte", check_dns_label, REQ),
    ENUM("kubernetes.quota_scope", kubernetes.quota_scope, "namespace", quota_scope_names),
    WEIGHTS("kubernetes.quota_split", kubernetes.quota_split, kubernetes.n_quota_split,
            "development=1,staging=1,production=2"),
    SECTION("kubernetes.limit_range"),
    STR("kubernetes.limit_range.default_cpu", kubernetes.limit_default_cpu, "1", check_quantity,
        REQ),
    STR("kubernetes.limit_range.default_memory", kubernetes.limit_default_memory, "2Gi",
        check_quantity, REQ),
    STR("kubernetes.limit_range.default_request_cpu", kubernetes.limit_default_request_cpu, "100m",
        check_quantity, REQ),
    STR("kubernetes.limit_range.default_request_memory", kubernetes.limit_default_request_memory,
        "256Mi", check_quantity, REQ),
    INT("kubernetes.qps", kubernetes.qps, "50", 0, PACE_MAX),
    INT("kubernetes.burst", kubernetes.burst, "100", 0, PACE_MAX),
    CLUSTERS("kubernetes.clusters", kubernetes.clusters, kubernetes.n_clusters),
    SECTION("kubernetes.placement"),
    STR("kubernetes.placement.label", kubernetes.placement_label, "flyte-cluster", check_label_key,
        REQ),
    STR("kubernetes.placement.default", kubernetes.placement_default, "", check_dns_label, 0),
    SECTION("aws"),
    STR("aws.account_id", aws.account_id, "000000000000", check_account_id, REQ),
    STR("aws.role_name_template", aws.role_name_template, "FlyteWorkspace-{{ project }}-Role", NULL,
        REQ),
    STR("aws.oidc_provider", aws.oidc_provider, "", check_oidc_provider, 0),
    SECTION("aws.ack"),
    BOOL("aws.ack.enabled", aws.ack_enabled, "false"),
    SECTION("retry"),
    INT("retry.in_place_attempts", retry.in_place_attempts, "3", 1, 20),
    DURS("retry.tiers", retry.tiers_ms, retry.n_tiers, "30s,5m,30m"),
    SECTION("reconcile"),
    BOOL("reconcile.watch", reconcile.watch, "true"),
    DUR("reconcile.resync_interval", reconcile.resync_interval_ms, "1h"),
    SECTION("processing"),
    INT("processing.concurrency", processing.concurrency, "64", 1, 1024),
    SECTION("observability"),
    STR("observability.listen", observability.listen, "0.0.0.0:9464", check_listen, REQ),
    ENUM("observability.log_format", observability.log_format, "json", log_format_names),
    ENUM("observability.log_level", observability.log_level, "info", log_level_names),
};

/* The keys of each entry of kubernetes.clusters, checked as their
 * kubernetes.<key> (and aws.oidc_provider) namesakes. */
#define C(field) offsetof(wf_cluster, field)
static const key_def cluster_keys[] = {
    STR_AT("name", C(name), "", check_dns_label, REQ),
    STR_AT("api_url", C(api_url), "", check_api_url, 0),
    STR_AT("token_file", C(token_file), "", NULL, 0),
    STR_AT("ca_file", C(ca_file), "", NULL, 0),
    INT_AT("qps", C(qps), "50", 0, PACE_MAX),
    INT_AT("burst", C(burst), "100", 0, PACE_MAX),
    INT_AT("weight", C(weight), "1", 0, WF_WEIGHT_MAX),
    STR_AT("oidc_provider", C(oidc_provider), "", check_oidc_provider, 0),
};

#define N_KEYS         (sizeof(keys) / sizeof(keys[0]))
#define N_CLUSTER_KEYS (sizeof(cluster_keys) / sizeof(cluster_keys[0]))
#define ENV_PREFIX     "WSFLYTE_"
#define ENV_PROPS      "WSFLYTE_KAFKA_PROPERTIES_"
#define KEY_PATH_MAX   256
#define SECRET_MASK    "***"
#define TOPIC_NAME_MAX 249

/* K_INT, K_BOOL and K_ENUM values are stored through an int. */
_Static_assert(sizeof(wf_auth_type) == sizeof(int) && sizeof(wf_log_format) == sizeof(int) &&
                   sizeof(wf_log_level) == sizeof(int) && sizeof(wf_quota_scope) == sizeof(int),
               "enum fields are stored as int");

/* k's value in base: the wf_config, or one wf_cluster for cluster_keys. */
static void *field(const void *base, const key_def *k)
{
    return (char *)base + k->off;
}

static size_t *count_field(const void *base, const key_def *k)
{
    return (size_t *)((char *)base + k->n_off);
}

static const key_def *find_key(const char *path)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].path, path) == 0)
            return &keys[i];
    return NULL;
}

static const char *leaf_name(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

/* "flyte.auth.client_id" -> "WSFLYTE_FLYTE_AUTH_CLIENT_ID" */
static void env_name(const key_def *k, char *buf, size_t len)
{
    size_t n = snprintf(buf, len, "%s", ENV_PREFIX);

    for (const char *p = k->path; *p && n + 1 < len; p++)
        buf[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    buf[n < len ? n : len - 1] = '\0';
}

static int name_index(const char *const *names, const char *v)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], v) == 0)
            return i;
    return -1;
}

static void join_names(const char *const *names, char *buf, size_t len)
{
    size_t n = 0;

    buf[0] = '\0';
    for (int i = 0; names[i] && n < len; i++)
        n += snprintf(buf + n, len - n, "%s%s", i ? "|" : "", names[i]);
}

/* kafka.properties whose name says they hold a secret: never printed. */
static int is_secret_property(const char *name)
{
    static const char *const words[] = {"password", "secret", "token", "key"};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(name, words[i]))
            return 1;
    return 0;
}

/* ---- suggestions ---- */

#define EDIT_MAX 64

static int same_char(char a, char b)
{
    return tolower((unsigned char)a) == tolower((unsigned char)b);
}

/* Optimal string alignment distance (a swap counts as one edit), ignoring
 * case; EDIT_MAX for longer strings.  Keeps the last three rows only. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t rows[3][EDIT_MAX + 1];

    if (la > EDIT_MAX || lb > EDIT_MAX)
        return EDIT_MAX;
    for (size_t j = 0; j <= lb; j++)
        rows[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t *cur = rows[i % 3], *up = rows[(i - 1) % 3], *up2 = rows[(i + 1) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t best = up[j - 1] + !same_char(a[i - 1], b[j - 1]);
            if (up[j] + 1 < best)
                best = up[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && same_char(a[i - 1], b[j - 2]) && same_char(a[i - 2], b[j - 1]) &&
                up2[j - 2] + 1 < best)
                best = up2[j - 2] + 1;
            cur[j] = best;
        }
    }
    return rows[la % 3][lb];
}

static int is_close(const char *typed, const char *known, size_t *best)
{
    size_t lt = strlen(typed), lk = strlen(known), d;

    /* Strings whose lengths differ by more than 2 are more than 2 edits
     * apart: most keys are ruled out without the distance table. */
    if ((lt > lk ? lt - lk : lk - lt) > 2)
        return 0;
    d = edit_distance(typed, known);

    if (d > 2 || d >= strlen(known) || d >= *best)
        return 0;
    *best = d;
    return 1;
}

static int same_parent(const char *a, const char *b)
{
    size_t la = leaf_name(a) - a, lb = leaf_name(b) - b;
    return la == lb && strncmp(a, b, la) == 0;
}

/* A known key close to path among its siblings, else a key of the same name
 * in another section; NULL if none. */
static const char *suggest_key(const char *path)
{
    const char *hit = NULL;
    size_t best = SIZE_MAX;

    for (size_t i = 0; i < N_KEYS; i++)
        if (same_parent(keys[i].path, path) &&
            is_close(leaf_name(path), leaf_name(keys[i].path), &best))
            hit = keys[i].path;
    for (size_t i = 0; hit == NULL && i < N_KEYS; i++)
        if (strcmp(leaf_name(keys[i].path), leaf_name(path)) == 0)
            hit = keys[i].path;
    return hit;
}

/* ---- the loader: where values came from, and the problems found ---- */

typedef enum at_kind { AT_DEFAULT, AT_FILE, AT_ENV } at_kind;

typedef struct origin {
    at_kind kind;
    size_t line, col; /* AT_FILE: libyaml marks, from 0 */
    const char *env;  /* AT_ENV: "NAME=value" */
    size_t env_len;   /* length of NAME */
} origin;

typedef struct item {
    const char *text; /* NULL: YAML null */
    origin at;
} item;

typedef struct loader {
    wf_config *cfg;
    void *dst;        /* where store_* write: cfg, or the wf_cluster being read */
    const char *file; /* NULL: no file */
    origin at[N_KEYS];
    origin cluster_at[WF_CLUSTERS_MAX]; /* where each kubernetes.clusters entry starts */
    strbuf report;
    size_t n_problems;
    wf_err *err;
} loader;

static void where(const loader *ld, const origin *at, strbuf *b)
{
    if (at->kind == AT_FILE)
        sb_printf(b, "%s:%zu:%zu: ", ld->file, at->line + 1, at->col + 1);
    else if (at->kind == AT_ENV)
        sb_printf(b, "env %.*s: ", (int)at->env_len, at->env);
    else if (ld->file)
        sb_printf(b, "%s: ", ld->file);
}

/* Appends "<where><path>: <message>" to the report; the first one also goes
 * to err.  path may be NULL. */
static void problem(loader *ld, const char *code, const origin *at, const char *path,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void problem(loader *ld, const char *code, const origin *at, const char *path,
                    const char *fmt, ...)
{
    size_t start = ld->report.len;
    va_list ap;

    where(ld, at, &ld->report);
    if (path)
        sb_printf(&ld->report, "%s: ", path);
    va_start(ap, fmt);
    sb_vprintf(&ld->report, fmt, ap);
    va_end(ap);
    wf_err_set(ld->err, WF_CONFIG, code, "%s", ld->report.s + start);
    sb_printf(&ld->report, "\n");
    ld->n_problems++;
}

/* The path of a value or of item idx of a list (idx < 0: the key itself). */
static const char *item_path(const key_def *k, long idx, char *buf, size_t len)
{
    if (idx < 0)
        return k->path;
    snprintf(buf, len, "%s[%ld]", k->path, idx);
    return buf;
}

/* ---- value checks: 0, or -1 with why ---- */

static int fail(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
}

char *wf_url_mask(const char *url, char *buf, size_t len)
{
    size_t scheme =
        strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
    const char *host = scheme > 0 && strncmp(url + scheme, "://", 3) == 0 ? url + scheme + 3 : url;
    const char *at = memrchr(host, '@', strcspn(host, "/?#"));

    if (at == NULL)
        snprintf(buf, len, "%s", url);
    else
        snprintf(buf, len, "%.*s" SECRET_MASK "%s", (int)(host - url), url, at);
    return buf;
}

static int check_http_url(const char *v, char *why, size_t len)
{
    char shown[512];

    if (url_is_http(v))
        return 0;
    return fail(why, len, "\"%s\" is not an http:// or https:// URL",
                wf_url_mask(v, shown, sizeof(shown)));
}

static int check_api_url(const char *v, char *why, size_t len)
{
    char shown[512];

    /* "kubeconfig:" alone means $KUBECONFIG, else ~/.kube/config. */
    if (url_is_http(v) || strncmp(v, "kubeconfig:", 11) == 0)
        return 0;
    return fail(why, len, "\"%s\" is neither kubeconfig:PATH nor an http:// or https:// URL",
                wf_url_mask(v, shown, sizeof(shown)));
}

static int is_topic_chars(const char *v)
{
    return v[strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")] ==
           '\0';
}

static int check_topic(const char *v, char *why, size_t len)
{
    if (!is_topic_chars(v))
        return fail(why, len, "\"%s\" is not a valid topic name (use a-z A-Z 0-9 . _ -)", v);
    if (strlen(v) > TOPIC_NAME_MAX)
        return fail(why, len, "topic name is longer than %d characters", TOPIC_NAME_MAX);
    if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
        return fail(why, len, "\"%s\" is not a valid topic name", v);
    return 0;
}

static int check_group_id(const char *v, char *why, size_t len)
{
    if (is_topic_chars(v))
        return 0;
    return fail(why, len,
                "\"%s\" may only use a-z A-Z 0-9 . _ - (it is part of the retry and "
                "dead-letter topic names)",
                v);
}

static int check_dns_label(const char *v, char *why, size_t len)
{
    if (names_is_dns1123_label(v, 63))
        return 0;
    return fail(why, len,
                "\"%s\" is not a DNS-1123 label (a-z 0-9 -, starting and ending alphanumeric, "
                "at most 63 characters)",
                v);
}

static int check_label_key(const char *v, char *why, size_t len)
{
    if (names_is_label_key(v))
        return 0;
    return fail(why, len,
                "\"%s\" is not a Kubernetes label key (an optional DNS subdomain prefix and '/', "
                "then 1-63 of [A-Za-z0-9._-], starting and ending alphanumeric)",
                v);
}

static int check_ns_template(const char *v, char *why, size_t len)
{
    if (strstr(v, "{{ project }}") && strstr(v, "{{ domain }}"))
        return 0;
    return fail(why, len, "\"%s\" must contain both {{ project }} and {{ domain }}", v);
}

static int check_account_id(const char *v, char *why, size_t len)
{
    if (strlen(v) == 12 && strspn(v, "0123456789") == 12)
        return 0;
    return fail(why, len, "\"%s\" is not a 12-digit AWS account id", v);
}

/* The provider as IAM names it in its ARN: the issuer URL without
 * "https://", e.g. oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53. */
static int check_oidc_provider(const char *v, char *why, size_t len)
{
    static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789.-/_";

    if (strncmp(v, "https://", 8) == 0)
        return fail(why, len, "\"%s\": give the issuer without \"https://\", as in IAM's ARN", v);
    if (strspn(v, allowed) != strlen(v) || !strchr(v, '.') || v[strlen(v) - 1] == '/')
        return fail(why, len, "\"%s\" is not an OIDC issuer host and path", v);
    return 0;
}

static int check_listen(const char *v, char *why, size_t len)
{
    const char *colon = strrchr(v, ':');
    char *end;
    long port;
    int host_ok;

    if (colon == NULL || colon == v)
        return fail(why, len, "\"%s\" is not host:port", v);
    host_ok = v[0] != '[' || colon[-1] == ']';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (!host_ok || !isdigit((unsigned char)colon[1]) || *end || errno || port < 0 || port > 65535)
        return fail(why, len, "\"%s\" is not host:port with a port from 0 (any free port) to 65535",
                    v);
    return 0;
}

/* Quantities are parsed as the quota split and the LimitRange use them. */
static int check_quantity(const char *v, char *why, size_t len)
{
    char reason[64];
    int64_t milli;

    if (quantity_parse_milli(v, &milli, reason, sizeof(reason)) == 0)
        return 0;
    return fail(why, len, "\"%s\": %s (e.g. 500m, 2, 256Mi, 2Gi)", v, reason);
}

/* Allowed values (k->names) and k->check; reports and returns -1 if bad. */
static int check_value(loader *ld, const key_def *k, const item *it, long idx, const char *v)
{
    char why[512], names[128], path[KEY_PATH_MAX];

    if (k->names && name_index(k->names, v) < 0) {
        join_names(k->names, names, sizeof(names));
        problem(ld, "config.value", &it->at, k->path, "expected %s, got \"%s\"", names, v);
        return -1;
    }
    if (k->check && *v && k->check(v, why, sizeof(why)) != 0) {
        problem(ld, "config.value", &it->at, item_path(k, idx, path, sizeof(path)), "%s", why);
        return -1;
    }
    return 0;
}

/* ---- durations ---- */

static const struct {
    const char *name;
    long ms;
} units[] = {{"ms", 1}, {"h", 3600000L}, {"m", 60000L}, {"s", 1000L}};

#define N_UNITS (sizeof(units) / sizeof(units[0]))

static long unit_ms(const char **s)
{
    for (size_t i = 0; i < N_UNITS; i++) {
        size_t n = strlen(units[i].name);
        if (strncmp(*s, units[i].name, n) == 0) {
            *s += n;
            return units[i].ms;
        }
    }
    return 0;
}

int wf_duration_parse(const char *s, long *ms)
{
    long total = 0;

    if (s == NULL || *s == '\0')
        return -1;
    while (*s) {
        long n = 0, unit;
        if (!isdigit((unsigned char)*s))
            return -1;
        for (; isdigit((unsigned char)*s); s++) {
            if (n > (LONG_MAX - 9) / 10)
                return -1;
            n = n * 10 + (*s - '0');
        }
        unit = unit_ms(&s);
        if (unit == 0 || n > (LONG_MAX - total) / unit)
            return -1;
        total += n * unit;
    }
    if (total <= 0)
        return -1;
    *ms = total;
    return 0;
}

void wf_duration_format(long ms, char *buf, size_t len)
{
    static const size_t order[] = {1, 2, 3, 0}; /* h, m, s, ms */

    if (ms == 0) {
        snprintf(buf, len, "0s");
        return;
    }
    for (size_t i = 0; i < N_UNITS; i++) {
        size_t u = order[i];
        if (ms % units[u].ms == 0) {
            snprintf(buf, len, "%ld%s", ms / units[u].ms, units[u].name);
            return;
        }
    }
}

/* ---- storing values: each returns 0, or -1 with a problem reported ---- */

static int store_str(loader *ld, const key_def *k, const item *it, size_t n)
{
    const char *v = it->text ? it->text : "";
    char **dst = field(ld->dst, k);

    (void)n;
    if (check_value(ld, k, it, -1, v) != 0)
        return -1;
    free(*dst);
    *dst = xstrdup(v);
    return 0;
}

static int store_int(loader *ld, const key_def *k, const item *it, size_t n)
{
    char *end;
    long v;

    (void)n;
    if (it->text == NULL) {
        problem(ld, "config.type", &it->at, k->path, "expected an integer, got null");
        return -1;
    }
    errno = 0;
    v = strtol(it->text, &end, 10);
    if (end == it->text || *end || errno) {
        problem(ld, "config.type", &it->at, k->path, "expected an integer, got \"%s\"", it->text);
        return -1;
    }
    if (v < k->min || v > k->max) {
        problem(ld, "config.range", &it->at, k->path, "must be between %d and %d, got %ld", k->min,
                k->max, v);
        return -1;
    }
    *(int *)field(ld->dst, k) = (int)v;
    return 0;
}

static int store_bool(loader *ld, const key_def *k, const item *it, size_t n)
{
    static const char *const bools[] = {"false", "true", NULL};
    int v = it->text ? name_index(bools, it->text) : -1;

    (void)n;
    if (v < 0) {
        problem(ld, "config.type", &it->at, k->path, "expected true or false, got %s%s%s",
                it->text ? "\"" : "", it->text ? it->text : "null", it->text ? "\"" : "");
        return -1;
    }
    *(int *)field(ld->dst, k) = v;
    return 0;
}

static int store_enum(loader *ld, const key_def *k, const item *it, size_t n)
{
    char names[128];

    (void)n;
    if (it->text == NULL) {
        join_names(k->names, names, sizeof(names));
        problem(ld, "config.value", &it->at, k->path, "expected %s, got null", names);
        return -1;
    }
    if (check_value(ld, k, it, -1, it->text) != 0)
        return -1;
    *(int *)field(ld->dst, k) = name_index(k->names, it->text);
    return 0;
}

static void release_strlist(const void *base, const key_def *k)
{
    char ***list = field(base, k);
    size_t *n = count_field(base, k);

    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

static int store_strlist(loader *ld, const key_def *k, const item *items, size_t n)
{
    char path[KEY_PATH_MAX];
    char **list;
    int bad = 0;

    for (size_t i = 0; i < n; i++) {
        if (items[i].text == NULL) {
            problem(ld, "config.type", &items[i].at, item_path(k, (long)i, path, sizeof(path)),
                    "expected a string, got null");
            bad = 1;
        } else if (check_value(ld, k, &items[i], (long)i, items[i].text) != 0) {
            bad = 1;
        }
    }
    if (bad)
        return -1;
    list = xrealloc(NULL, n * sizeof(*list));
    for (size_t i = 0; i < n; i++)
        list[i] = xstrdup(items[i].text);
    release_strlist(ld->dst, k);
    *(char ***)field(ld->dst, k) = list;
    *count_field(ld->dst, k) = n;
    return 0;
}

/* Parses item i into *ms and checks it follows prev_ms (0: none). */
static int parse_tier(loader *ld, const key_def *k, const item *it, long i, long prev_ms, long *ms)
{
    char path[KEY_PATH_MAX], a[32], b[32];

    item_path(k, i, path, sizeof(path));
    if (it->text == NULL || wf_duration_parse(it->text, ms) != 0) {
        problem(ld, "config.duration", &it->at, path, "bad duration \"%s\" (use e.g. 30s, 5m, 1h)",
                it->text ? it->text : "null");
        return -1;
    }
    if (prev_ms > 0 && *ms <= prev_ms) {
        wf_duration_format(*ms, a, sizeof(a));
        wf_duration_format(prev_ms, b, sizeof(b));
        problem(ld, "config.value", &it->at, path,
                "%s does not follow %s: tiers must be strictly ascending", a, b);
        return -1;
    }
    return 0;
}

static int store_durlist(loader *ld, const key_def *k, const item *items, size_t n)
{
    long *ms = xrealloc(NULL, n * sizeof(*ms));
    long prev = 0;
    int bad = 0;

    for (size_t i = 0; i < n; i++) {
        if (parse_tier(ld, k, &items[i], (long)i, prev, &ms[i]) != 0)
            bad = 1;
        else
            prev = ms[i];
    }
    if (bad) {
        free(ms);
        return -1;
    }
    free(*(long **)field(ld->dst, k));
    *(long **)field(ld->dst, k) = ms;
    *count_field(ld->dst, k) = n;
    return 0;
}

/* True for "0", or zero with a unit ("0s"): a single duration's "off". */
static int is_zero_duration(const char *v)
{
    const char *p = v + strspn(v, "0");

    if (p == v)
        return 0;
    return *p == '\0' || (unit_ms(&p) != 0 && *p == '\0');
}

/* One duration, as a long of ms; 0 turns the feature off. */
static int store_dur(loader *ld, const key_def *k, const item *it, size_t n)
{
    const char *v = it->text;
    long ms = 0;

    (void)n;
    if (v && !is_zero_duration(v) && wf_duration_parse(v, &ms) != 0)
        v = NULL;
    if (v == NULL) {
        problem(ld, "config.duration", &it->at, k->path,
                "bad duration \"%s\" (use e.g. 30s, 5m, 1h, or 0 for off)",
                it->text ? it->text : "null");
        return -1;
    }
    *(long *)field(ld->dst, k) = ms;
    return 0;
}

static void release_str(const void *base, const key_def *k)
{
    char **p = field(base, k);
    free(*p);
    *p = NULL;
}

static void release_durlist(const void *base, const key_def *k)
{
    long **p = field(base, k);
    free(*p);
    *p = NULL;
    *count_field(base, k) = 0;
}

static void release_props(const void *base, const key_def *k)
{
    wf_kv **p = field(base, k);
    size_t *n = count_field(base, k);

    for (size_t i = 0; i < *n; i++) {
        free((*p)[i].key);
        free((*p)[i].value);
    }
    free(*p);
    *p = NULL;
    *n = 0;
}

/* ---- kubernetes.quota_split: items "name=weight" ---- */

static void release_weights(const void *base, const key_def *k)
{
    wf_weight **p = field(base, k);
    size_t *n = count_field(base, k);

    for (size_t i = 0; i < *n; i++)
        free((*p)[i].name);
    free(*p);
    *p = NULL;
    *n = 0;
}

/* Reads one "name=weight" into w (name malloc'd); reports and returns -1
 * when it is malformed or the weight is out of range. */
static int parse_weight(loader *ld, const key_def *k, const item *it, wf_weight *w)
{
    const char *text = it->text ? it->text : "";
    const char *eq = strrchr(text, '=');
    char path[KEY_PATH_MAX];
    int v;

    if (eq == NULL || eq == text) {
        problem(ld, "config.type", &it->at, k->path, "expected domain=weight, got \"%s\"", text);
        return -1;
    }
    snprintf(path, sizeof(path), "%s.%.*s", k->path, (int)(eq - text), text);
    if (numparse_int(eq + 1, k->min, k->max, &v, NULL, 0) != 0) {
        problem(ld, "config.range", &it->at, path,
                "weight must be an integer from %d to %d, got \"%s\"", k->min, k->max, eq + 1);
        return -1;
    }
    w->name = xstrdup(text);
    w->name[eq - text] = '\0';
    w->weight = v;
    return 0;
}

static int store_weights(loader *ld, const key_def *k, const item *items, size_t n)
{
    wf_weight *w = xrealloc(NULL, n * sizeof(*w));
    size_t got = 0;
    int bad = 0;

    for (size_t i = 0; i < n; i++) {
        if (parse_weight(ld, k, &items[i], &w[got]) != 0) {
            bad = 1;
            continue;
        }
        for (size_t j = 0; j < got; j++) {
            if (strcmp(w[j].name, w[got].name) == 0) {
                problem(ld, "config.key", &items[i].at, k->path, "duplicate domain \"%s\"",
                        w[got].name);
                bad = 1;
            }
        }
        got++;
    }
    if (bad) {
        for (size_t i = 0; i < got; i++)
            free(w[i].name);
        free(w);
        return -1;
    }
    release_weights(ld->dst, k);
    *(wf_weight **)field(ld->dst, k) = w;
    *count_field(ld->dst, k) = n;
    return 0;
}

long wf_config_cluster(const wf_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->kubernetes.n_clusters; i++)
        if (strcmp(cfg->kubernetes.clusters[i].name, name) == 0)
            return (long)i;
    return -1;
}

int wf_config_quota_weight(const wf_config *cfg, const char *domain)
{
    for (size_t i = 0; i < cfg->kubernetes.n_quota_split; i++)
        if (strcmp(cfg->kubernetes.quota_split[i].name, domain) == 0)
            return cfg->kubernetes.quota_split[i].weight;
    return 0;
}

/* ---- kafka.properties ---- */

static long find_property(const wf_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->kafka.n_properties; i++)
        if (strcmp(cfg->kafka.properties[i].key, name) == 0)
            return (long)i;
    return -1;
}

const char *wf_config_property(const wf_config *cfg, const char *name)
{
    long i = find_property(cfg, name);

    return i >= 0 ? cfg->kafka.properties[i].value : NULL;
}

static void set_property(wf_config *cfg, const char *name, const char *value)
{
    long i = find_property(cfg, name);
    wf_kv *kv;

    if (i >= 0) {
        free(cfg->kafka.properties[i].value);
        cfg->kafka.properties[i].value = xstrdup(value);
        return;
    }
    cfg->kafka.properties =
        xrealloc(cfg->kafka.properties, (cfg->kafka.n_properties + 1) * sizeof(wf_kv));
    kv = &cfg->kafka.properties[cfg->kafka.n_properties++];
    kv->key = xstrdup(name);
    kv->value = xstrdup(value);
}

/* Checks and sets one property; messages never quote the value, which may
 * be a secret. */
static void store_property(loader *ld, const origin *at, const char *name, const char *value)
{
    char path[KEY_PATH_MAX];

    snprintf(path, sizeof(path), "kafka.properties.%s", name);
    if (*name == '\0' || !is_topic_chars(name)) {
        problem(ld, "config.key", at, path, "not a librdkafka property name");
        return;
    }
    for (const char *p = value; *p; p++) {
        if (iscntrl((unsigned char)*p)) {
            problem(ld, "config.value", at, path,
                    "value contains a line break or control character");
            return;
        }
    }
    set_property(ld->cfg, name, value);
}

/* ---- the type table ---- */

typedef struct emitter emitter;

typedef struct type_ops {
    const char *expect; /* "expected <expect>, got ..." */
    int is_list;        /* values come as items */
    int (*store)(loader *ld, const key_def *k, const item *items, size_t n);
    /* base: the wf_config, or one wf_cluster for the rows of cluster_keys */
    void (*release)(const void *base, const key_def *k);
    void (*emit)(emitter *out, const void *base, const key_def *k);
} type_ops;

static void emit_str(emitter *out, const void *base, const key_def *k);
static void emit_int(emitter *out, const void *base, const key_def *k);
static void emit_bool(emitter *out, const void *base, const key_def *k);
static void emit_enum(emitter *out, const void *base, const key_def *k);
static void emit_strlist(emitter *out, const void *base, const key_def *k);
static void emit_dur(emitter *out, const void *base, const key_def *k);
static void emit_durlist(emitter *out, const void *base, const key_def *k);
static void emit_props(emitter *out, const void *base, const key_def *k);
static void emit_weights(emitter *out, const void *base, const key_def *k);
static void release_clusters(const void *base, const key_def *k);
static void emit_clusters(emitter *out, const void *base, const key_def *k);

static const type_ops types[] = {
    [K_MAP] = {"a mapping", 0, NULL, NULL, NULL},
    [K_STR] = {"a string", 0, store_str, release_str, emit_str},
    [K_INT] = {"an integer", 0, store_int, NULL, emit_int},
    [K_BOOL] = {"true or false", 0, store_bool, NULL, emit_bool},
    [K_ENUM] = {NULL, 0, store_enum, NULL, emit_enum},
    [K_STRLIST] = {"a list of strings", 1, store_strlist, release_strlist, emit_strlist},
    [K_DUR] = {"a duration", 0, store_dur, NULL, emit_dur},
    [K_DURLIST] = {"a list of durations", 1, store_durlist, release_durlist, emit_durlist},
    [K_PROPS] = {"a mapping of strings", 0, NULL, release_props, emit_props},
    [K_WEIGHTS] = {"a mapping of domains to weights", 1, store_weights, release_weights,
                   emit_weights},
    [K_CLUSTERS] = {"a list of clusters", 0, NULL, release_clusters, emit_clusters},
};

static const char *expected(const key_def *k, char *buf, size_t len)
{
    if (k->names == NULL)
        return types[k->type].expect;
    join_names(k->names, buf, len);
    return buf;
}

/* Splits text at commas into trimmed, non-empty items pointing into *copy. */
static size_t split_list(const char *text, const origin *at, char **copy, item **out)
{
    size_t n = 0;
    char *save = NULL;

    *copy = xstrdup(text);
    *out = xrealloc(NULL, (strlen(text) / 2 + 1) * sizeof(item));
    for (char *t = strtok_r(*copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *end = t + strlen(t);
        while (isspace((unsigned char)*t))
            t++;
        while (end > t && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (*t)
            (*out)[n++] = (item){t, *at};
    }
    return n;
}

/* Sets k from text as given by a default or an env var (lists: a,b,c). */
static void apply_text(loader *ld, const key_def *k, const char *text, const origin *at)
{
    item one = {text, *at};
    item *items = &one;
    char *copy = NULL;
    size_t n = 1;

    if (types[k->type].is_list)
        n = split_list(text, at, &copy, &items);
    ld->at[k - keys] = *at;
    types[k->type].store(ld, k, items, n);
    if (items != &one)
        free(items);
    free(copy);
}

/* ---- defaults ---- */

static void apply_defaults(loader *ld)
{
    static const origin none = {AT_DEFAULT, 0, 0, NULL, 0};

    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].def)
            apply_text(ld, &keys[i], keys[i].def, &none);
}

void wf_config_defaults(wf_config *cfg)
{
    loader ld = {.cfg = cfg, .dst = cfg};

    memset(cfg, 0, sizeof(*cfg));
    apply_defaults(&ld);
    if (ld.n_problems) { /* the table above is wrong */
        fprintf(stderr, "wsflyte: bad built-in default: %s", ld.report.s);
        abort();
    }
}

void wf_config_fini(wf_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < N_KEYS; i++)
        if (types[keys[i].type].release)
            types[keys[i].type].release(cfg, &keys[i]);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- YAML ---- */

static origin mark_at(yaml_mark_t m)
{
    return (origin){AT_FILE, m.line, m.column, NULL, 0};
}

static int is_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};

    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           name_index(nulls, (const char *)n->data.scalar.value) >= 0;
}

static const char *node_kind(const yaml_node_t *n)
{
    static const char *const kinds[] = {
        [YAML_SCALAR_NODE] = "a scalar",
        [YAML_SEQUENCE_NODE] = "a sequence",
        [YAML_MAPPING_NODE] = "a mapping",
    };

    if (is_null(n))
        return "null";
    if ((size_t)n->type >= sizeof(kinds) / sizeof(kinds[0]) || kinds[n->type] == NULL)
        return "nothing";
    return kinds[n->type];
}

static const char *scalar_text(const yaml_node_t *n)
{
    return is_null(n) ? NULL : (const char *)n->data.scalar.value;
}

static void type_problem(loader *ld, const key_def *k, const char *path, const yaml_node_t *v)
{
    char buf[128];
    origin at = mark_at(v->start_mark);

    problem(ld, "config.type", &at, path, "expected %s, got %s", expected(k, buf, sizeof(buf)),
            node_kind(v));
}

static void load_list(loader *ld, yaml_document_t *doc, const key_def *k, yaml_node_t *v)
{
    size_t n = 0, cap;
    item *items;
    int bad = 0;

    if (is_null(v)) {
        types[k->type].store(ld, k, NULL, 0);
        return;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        type_problem(ld, k, k->path, v);
        return;
    }
    cap = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    items = xrealloc(NULL, cap * sizeof(item));
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
         i++, n++) {
        yaml_node_t *e = yaml_document_get_node(doc, *i);
        char path[KEY_PATH_MAX];
        origin at = mark_at(e->start_mark);
        if (e->type != YAML_SCALAR_NODE) {
            problem(ld, "config.type", &at, item_path(k, (long)n, path, sizeof(path)),
                    "expected %s, got %s", k->type == K_DURLIST ? "a duration" : "a string",
                    node_kind(e));
            bad = 1;
        }
        items[n] = (item){e->type == YAML_SCALAR_NODE ? scalar_text(e) : NULL, at};
    }
    if (!bad)
        types[k->type].store(ld, k, items, n);
    free(items);
}

static void load_props(loader *ld, yaml_document_t *doc, const key_def *k, yaml_node_t *v)
{
    if (is_null(v))
        return;
    if (v->type != YAML_MAPPING_NODE) {
        type_problem(ld, k, k->path, v);
        return;
    }
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        origin kat = mark_at(kn->start_mark), vat = mark_at(vn->start_mark);
        char path[KEY_PATH_MAX];
        if (kn->type != YAML_SCALAR_NODE) {
            problem(ld, "config.key", &kat, k->path, "property names must be scalars");
            continue;
        }
        snprintf(path, sizeof(path), "%s.%s", k->path, (const char *)kn->data.scalar.value);
        if (find_property(ld->cfg, (const char *)kn->data.scalar.value) >= 0)
            problem(ld, "config.key", &kat, path, "duplicate key");
        else if (vn->type != YAML_SCALAR_NODE || is_null(vn))
            problem(ld, "config.type", &vat, path, "expected a string, got %s", node_kind(vn));
        else
            store_property(ld, &vat, (const char *)kn->data.scalar.value,
                           (const char *)vn->data.scalar.value);
    }
}

/* A YAML mapping {domain: weight} as the items "domain=weight". */
static void load_weights(loader *ld, yaml_document_t *doc, const key_def *k, yaml_node_t *v)
{
    size_t n = 0, cap;
    item *items;
    char **texts;
    int bad = 0;

    if (v->type != YAML_MAPPING_NODE) {
        type_problem(ld, k, k->path, v);
        return;
    }
    cap = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    items = xrealloc(NULL, cap * sizeof(*items));
    texts = xrealloc(NULL, cap * sizeof(*texts));
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        origin at = mark_at(kn->start_mark);
        if (kn->type != YAML_SCALAR_NODE || vn->type != YAML_SCALAR_NODE || is_null(vn) ||
            strchr((const char *)kn->data.scalar.value, '=')) {
            problem(ld, "config.type", &at, k->path, "expected %s", types[k->type].expect);
            bad = 1;
            continue;
        }
        texts[n] = xrealloc(NULL, strlen((const char *)kn->data.scalar.value) +
                                      strlen((const char *)vn->data.scalar.value) + 2);
        sprintf(texts[n], "%s=%s", kn->data.scalar.value, vn->data.scalar.value);
        items[n] = (item){texts[n], at};
        n++;
    }
    if (!bad)
        types[k->type].store(ld, k, items, n);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(items);
}

/* ---- kubernetes.clusters: a list of mappings, each key a row of cluster_keys ---- */

static void release_cluster(wf_cluster *c)
{
    for (size_t j = 0; j < N_CLUSTER_KEYS; j++)
        if (types[cluster_keys[j].type].release)
            types[cluster_keys[j].type].release(c, &cluster_keys[j]);
}

static void release_clusters(const void *base, const key_def *k)
{
    wf_cluster **p = field(base, k);
    size_t *n = count_field(base, k);

    for (size_t i = 0; i < *n; i++)
        release_cluster(&(*p)[i]);
    free(*p);
    *p = NULL;
    *n = 0;
}

/* "kubernetes.clusters[idx]" or, with row, "kubernetes.clusters[idx].<row>". */
static const char *cluster_path(const key_def *k, size_t idx, const key_def *row, char *buf,
                                size_t len)
{
    snprintf(buf, len, "%s[%zu]%s%s", k->path, idx, row ? "." : "", row ? row->path : "");
    return buf;
}

/* Stores it into row of c, entry idx of k; problems name the row's path.
 * Returns 0, or -1 with the problem reported. */
static int store_cluster_key(loader *ld, const key_def *k, size_t idx, const key_def *row,
                             wf_cluster *c, const item *it)
{
    char path[KEY_PATH_MAX];
    key_def named = *row;
    int rc;

    named.path = cluster_path(k, idx, row, path, sizeof(path));
    ld->dst = c;
    rc = types[row->type].store(ld, &named, it, 1);
    ld->dst = ld->cfg;
    return rc;
}

static void cluster_defaults(loader *ld, const key_def *k, size_t idx, wf_cluster *c)
{
    static const origin none = {AT_DEFAULT, 0, 0, NULL, 0};

    for (size_t j = 0; j < N_CLUSTER_KEYS; j++) {
        item it = {cluster_keys[j].def, none};
        (void)store_cluster_key(ld, k, idx, &cluster_keys[j], c, &it);
    }
}

static const key_def *find_cluster_key(const char *name)
{
    for (size_t j = 0; j < N_CLUSTER_KEYS; j++)
        if (strcmp(cluster_keys[j].path, name) == 0)
            return &cluster_keys[j];
    return NULL;
}

static void unknown_cluster_key(loader *ld, const key_def *k, size_t idx, const char *name,
                                const origin *at)
{
    char path[KEY_PATH_MAX], hint[KEY_PATH_MAX] = "";
    size_t best = SIZE_MAX;

    for (size_t j = 0; j < N_CLUSTER_KEYS; j++)
        if (is_close(name, cluster_keys[j].path, &best))
            cluster_path(k, idx, &cluster_keys[j], hint, sizeof(hint));
    cluster_path(k, idx, NULL, path, sizeof(path));
    snprintf(path + strlen(path), sizeof(path) - strlen(path), ".%s", name);
    problem(ld, "config.key", at, path, "unknown key%s%s%s", *hint ? " (did you mean " : "", hint,
            *hint ? "?)" : "");
}

/* Where each row of one entry was set (kind AT_DEFAULT: not set), and
 * whether its value was refused. */
typedef struct cluster_seen {
    origin at[N_CLUSTER_KEYS];
    unsigned char refused[N_CLUSTER_KEYS];
} cluster_seen;

/* Reads the mapping v into c, entry idx of k, which holds the defaults. */
static void load_cluster(loader *ld, yaml_document_t *doc, const key_def *k, size_t idx,
                         yaml_node_t *v, wf_cluster *c, cluster_seen *seen)
{
    origin *at = seen->at;

    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        origin kat = mark_at(kn->start_mark);
        const key_def *row = NULL;
        char path[KEY_PATH_MAX];
        item it = {NULL, mark_at(vn->start_mark)};
        if (kn->type != YAML_SCALAR_NODE) {
            problem(ld, "config.key", &kat, cluster_path(k, idx, NULL, path, sizeof(path)),
                    "keys must be scalars, got %s", node_kind(kn));
            continue;
        }
        row = find_cluster_key((const char *)kn->data.scalar.value);
        if (row == NULL) {
            unknown_cluster_key(ld, k, idx, (const char *)kn->data.scalar.value, &kat);
        } else if (at[row - cluster_keys].kind == AT_FILE) {
            problem(ld, "config.key", &it.at, cluster_path(k, idx, row, path, sizeof(path)),
                    "duplicate key (first set at line %zu)", at[row - cluster_keys].line + 1);
        } else if (vn->type != YAML_SCALAR_NODE) {
            type_problem(ld, row, cluster_path(k, idx, row, path, sizeof(path)), vn);
        } else {
            at[row - cluster_keys] = it.at;
            it.text = scalar_text(vn);
            seen->refused[row - cluster_keys] = store_cluster_key(ld, k, idx, row, c, &it) != 0;
        }
    }
}

/* Where row name of an entry was set, else where the entry starts. */
static const origin *cluster_key_at(const origin *at, const origin *entry, const char *name)
{
    const key_def *row = find_cluster_key(name);

    return at[row - cluster_keys].kind != AT_DEFAULT ? &at[row - cluster_keys] : entry;
}

/* Entry idx of list on its own: required keys, a name no earlier entry
 * has, and room in the bucket of a paced API server (as kubernetes.burst). */
static void check_cluster(loader *ld, const key_def *k, const wf_cluster *list, size_t idx,
                          const cluster_seen *seen)
{
    const origin *at = seen->at;
    const wf_cluster *c = &list[idx];
    const origin *entry = &ld->cluster_at[idx];
    char path[KEY_PATH_MAX], qps[KEY_PATH_MAX];

    for (size_t j = 0; j < N_CLUSTER_KEYS; j++)
        if ((cluster_keys[j].flags & REQ) && !seen->refused[j] &&
            **(char **)field(c, &cluster_keys[j]) == '\0')
            problem(ld, "config.required", at[j].kind != AT_DEFAULT ? &at[j] : entry,
                    cluster_path(k, idx, &cluster_keys[j], path, sizeof(path)),
                    "missing required value");
    for (size_t j = 0; j < idx && *c->name; j++)
        if (strcmp(list[j].name, c->name) == 0)
            problem(ld, "config.value", cluster_key_at(at, entry, "name"),
                    cluster_path(k, idx, find_cluster_key("name"), path, sizeof(path)),
                    "duplicate cluster name \"%s\" (also %s[%zu])", c->name, k->path, j);
    if (c->qps > 0 && c->burst < 1)
        problem(ld, "config.range", cluster_key_at(at, entry, "burst"),
                cluster_path(k, idx, find_cluster_key("burst"), path, sizeof(path)),
                "must be at least 1 when %s is above 0, got %d",
                cluster_path(k, idx, find_cluster_key("qps"), qps, sizeof(qps)), c->burst);
}

/* Entry i of kubernetes.clusters from node e into list[i]. */
static void load_cluster_entry(loader *ld, yaml_document_t *doc, const key_def *k, yaml_node_t *e,
                               wf_cluster *list, size_t i)
{
    cluster_seen seen;
    char path[KEY_PATH_MAX];

    memset(&seen, 0, sizeof(seen));
    ld->cluster_at[i] = mark_at(e->start_mark);
    cluster_defaults(ld, k, i, &list[i]);
    if (e->type != YAML_MAPPING_NODE) {
        problem(ld, "config.type", &ld->cluster_at[i], cluster_path(k, i, NULL, path, sizeof(path)),
                "expected a mapping of cluster keys (name, api_url, ...), got %s", node_kind(e));
        return;
    }
    load_cluster(ld, doc, k, i, e, &list[i], &seen);
    check_cluster(ld, k, list, i, &seen);
}

/* The whole list replaces the default (none), even with problems in it, so
 * that the checks across keys see every name that was given. */
static void load_clusters(loader *ld, yaml_document_t *doc, const key_def *k, yaml_node_t *v)
{
    size_t n;
    wf_cluster *list;
    origin at = mark_at(v->start_mark);

    if (is_null(v)) {
        release_clusters(ld->cfg, k);
        return;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        type_problem(ld, k, k->path, v);
        return;
    }
    n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n > (size_t)k->max) {
        problem(ld, "config.range", &at, k->path, "at most %d clusters, got %zu", k->max, n);
        return;
    }
    list = memset(xrealloc(NULL, n * sizeof(*list)), 0, n * sizeof(*list));
    for (size_t i = 0; i < n; i++)
        load_cluster_entry(ld, doc, k, yaml_document_get_node(doc, v->data.sequence.items.start[i]),
                           list, i);
    release_clusters(ld->cfg, k);
    *(wf_cluster **)field(ld->cfg, k) = list;
    *count_field(ld->cfg, k) = n;
}

static void load_value(loader *ld, yaml_document_t *doc, const key_def *k, yaml_node_t *v)
{
    item it = {NULL, mark_at(v->start_mark)};

    if (ld->at[k - keys].kind == AT_FILE) {
        problem(ld, "config.key", &it.at, k->path, "duplicate key (first set at line %zu)",
                ld->at[k - keys].line + 1);
        return;
    }
    ld->at[k - keys] = it.at;
    if (k->type == K_PROPS) {
        load_props(ld, doc, k, v);
    } else if (k->type == K_CLUSTERS) {
        load_clusters(ld, doc, k, v);
    } else if (k->type == K_WEIGHTS) {
        load_weights(ld, doc, k, v);
    } else if (types[k->type].is_list) {
        load_list(ld, doc, k, v);
    } else if (v->type != YAML_SCALAR_NODE) {
        type_problem(ld, k, k->path, v);
    } else {
        it.text = scalar_text(v);
        types[k->type].store(ld, k, &it, 1);
    }
}

static void load_map(loader *ld, yaml_document_t *doc, yaml_node_t *map, const char *prefix);

static void load_key(loader *ld, yaml_document_t *doc, const char *path, yaml_node_t *kn,
                     yaml_node_t *vn)
{
    const key_def *k = find_key(path);
    origin at = mark_at(kn->start_mark);
    const char *hint;

    if (k == NULL) {
        hint = suggest_key(path);
        problem(ld, "config.key", &at, path, "unknown key%s%s%s", hint ? " (did you mean " : "",
                hint ? hint : "", hint ? "?)" : "");
    } else if (k->type != K_MAP) {
        load_value(ld, doc, k, vn);
    } else if (vn->type == YAML_MAPPING_NODE) {
        load_map(ld, doc, vn, path);
    } else if (!is_null(vn)) {
        type_problem(ld, k, path, vn);
    }
}

static void load_map(loader *ld, yaml_document_t *doc, yaml_node_t *map, const char *prefix)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        char path[KEY_PATH_MAX];
        origin at = mark_at(kn->start_mark);
        if (kn->type != YAML_SCALAR_NODE) {
            problem(ld, "config.key", &at, prefix, "keys must be scalars, got %s", node_kind(kn));
            continue;
        }
        snprintf(path, sizeof(path), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                 (const char *)kn->data.scalar.value);
        load_key(ld, doc, path, kn, vn);
    }
}

static void syntax_problem(loader *ld, const yaml_parser_t *p)
{
    origin at = mark_at(p->problem_mark);

    if (p->error == YAML_READER_ERROR) {
        at.kind = AT_DEFAULT;
        problem(ld, "config.syntax", &at, NULL, "syntax error: %s at byte %zu",
                p->problem ? p->problem : "unreadable", p->problem_offset);
    } else if (p->context) {
        problem(ld, "config.syntax", &at, NULL, "syntax error: %s (%s at line %zu, column %zu)",
                p->problem, p->context, p->context_mark.line + 1, p->context_mark.column + 1);
    } else {
        problem(ld, "config.syntax", &at, NULL, "syntax error: %s",
                p->problem ? p->problem : "unknown");
    }
}

static void load_document(loader *ld, yaml_document_t *doc)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    origin at;

    if (root == NULL || is_null(root))
        return; /* empty file: defaults */
    if (root->type != YAML_MAPPING_NODE) {
        at = mark_at(root->start_mark);
        problem(ld, "config.type", &at, NULL, "expected a mapping at the top level, got %s",
                node_kind(root));
        return;
    }
    load_map(ld, doc, root, NULL);
}

static void load_file(loader *ld)
{
    static const origin whole = {AT_DEFAULT, 0, 0, NULL, 0};
    yaml_parser_t parser;
    yaml_document_t doc;
    FILE *fp = fopen(ld->file, "rb");

    if (fp == NULL) {
        problem(ld, "config.io", &whole, NULL, "cannot open: %s", strerror(errno));
        return;
    }
    if (!yaml_parser_initialize(&parser)) {
        fputs("wsflyte: out of memory loading the configuration\n", stderr);
        abort();
    }
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &doc)) {
        if (ferror(fp))
            problem(ld, "config.io", &whole, NULL, "cannot read: %s", strerror(errno));
        else
            syntax_problem(ld, &parser);
    } else {
        load_document(ld, &doc);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(fp);
}

/* ---- environment ---- */

/* Keys set by one variable of their own name: not sections, not
 * kafka.properties (a variable per property) and not kubernetes.clusters. */
static int has_env(const key_def *k)
{
    return k->type != K_MAP && k->type != K_PROPS && k->type != K_CLUSTERS;
}

static const key_def *find_env_key(const char *name, size_t len)
{
    char buf[KEY_PATH_MAX];

    for (size_t i = 0; i < N_KEYS; i++) {
        if (!has_env(&keys[i]))
            continue;
        env_name(&keys[i], buf, sizeof(buf));
        if (strlen(buf) == len && strncmp(buf, name, len) == 0)
            return &keys[i];
    }
    return NULL;
}

static void unknown_env(loader *ld, const origin *at)
{
    char typed[KEY_PATH_MAX], buf[KEY_PATH_MAX], hint[KEY_PATH_MAX] = "";
    size_t best = SIZE_MAX;

    snprintf(typed, sizeof(typed), "%.*s", (int)at->env_len, at->env);
    for (size_t i = 0; i < N_KEYS; i++) {
        if (!has_env(&keys[i]))
            continue;
        env_name(&keys[i], buf, sizeof(buf));
        if (is_close(typed, buf, &best))
            snprintf(hint, sizeof(hint), "%s", buf);
    }
    /* Only a near miss of a real key is a problem: other WSFLYTE_* names are
     * someone else's, e.g. the service links Kubernetes injects for a
     * Service named wsflyte-metrics (WSFLYTE_METRICS_SERVICE_HOST). */
    if (*hint)
        problem(ld, "config.key", at, NULL, "unknown key (did you mean %s?)", hint);
}

/* WSFLYTE_KAFKA_PROPERTIES_SASL_PASSWORD -> sasl.password ("__" -> "_"). */
static void apply_env_property(loader *ld, const origin *at, const char *value)
{
    const char *p = at->env + strlen(ENV_PROPS), *end = at->env + at->env_len;
    char name[KEY_PATH_MAX];
    size_t n = 0;

    for (; p < end && n + 1 < sizeof(name); p++) {
        if (p[0] == '_' && p + 1 < end && p[1] == '_')
            name[n++] = *p++;
        else
            name[n++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
    }
    name[n] = '\0';
    store_property(ld, at, name, value);
}

/* A list of mappings has no comma-separated form: kubernetes.clusters is
 * read from the file only, and WSFLYTE_KUBERNETES_CLUSTERS or any
 * WSFLYTE_KUBERNETES_CLUSTERS_* is refused rather than ignored. */
static const key_def *find_file_only_key(const char *name, size_t len)
{
    char buf[KEY_PATH_MAX];

    for (size_t i = 0; i < N_KEYS; i++) {
        size_t n;
        if (keys[i].type != K_CLUSTERS)
            continue;
        env_name(&keys[i], buf, sizeof(buf));
        n = strlen(buf);
        if (len >= n && strncmp(name, buf, n) == 0 && (len == n || name[n] == '_'))
            return &keys[i];
    }
    return NULL;
}

static void apply_env(loader *ld, char *const *envp)
{
    for (; envp && *envp; envp++) {
        const char *eq = strchr(*envp, '=');
        origin at = {AT_ENV, 0, 0, *envp, eq ? (size_t)(eq - *envp) : 0};
        const key_def *k;
        if (eq == NULL || strncmp(*envp, ENV_PREFIX, strlen(ENV_PREFIX)) != 0)
            continue;
        if (strncmp(*envp, ENV_PROPS, strlen(ENV_PROPS)) == 0)
            apply_env_property(ld, &at, eq + 1);
        else if ((k = find_env_key(*envp, at.env_len)) != NULL)
            apply_text(ld, k, eq + 1, &at);
        else if ((k = find_file_only_key(*envp, at.env_len)) != NULL)
            problem(ld, "config.key", &at, k->path,
                    "cannot be set from the environment (a list of mappings): set it in the "
                    "configuration file");
        else
            unknown_env(ld, &at);
    }
}

/* ---- checks across keys, once file and environment are applied ---- */

static int is_empty(const wf_config *cfg, const key_def *k)
{
    if (types[k->type].is_list)
        return *count_field(cfg, k) == 0;
    return k->type == K_STR && **(char **)field(cfg, k) == '\0';
}

static void check_required(loader *ld)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if ((keys[i].flags & REQ) && is_empty(ld->cfg, &keys[i]))
            problem(ld, "config.required", &ld->at[i], keys[i].path, "missing required value");
}

static void check_auth(loader *ld)
{
    static const char *const needed[] = {"flyte.auth.client_id", "flyte.auth.client_secret_file"};
    const key_def *type = find_key("flyte.auth.type");

    if (ld->cfg->flyte.auth_type != WF_AUTH_CLIENT_CREDENTIALS)
        return;
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
        const key_def *k = find_key(needed[i]);
        if (is_empty(ld->cfg, k))
            problem(ld, "config.required",
                    ld->at[k - keys].kind != AT_DEFAULT ? &ld->at[k - keys] : &ld->at[type - keys],
                    k->path, "required when flyte.auth.type is client_credentials");
    }
}

/* ACK's IAM role trusts the OIDC provider of the cluster where the
 * workspace's service account lives (IRSA): it must be known to write the
 * trust policy.  With kubernetes.clusters that is each cluster's own, and
 * aws.oidc_provider is not used. */
static void check_ack(loader *ld)
{
    const wf_config *cfg = ld->cfg;
    const key_def *k = find_key("aws.oidc_provider"), *on = find_key("aws.ack.enabled");
    char path[KEY_PATH_MAX];

    if (!cfg->aws.ack_enabled)
        return;
    if (cfg->kubernetes.n_clusters == 0 && is_empty(cfg, k))
        problem(ld, "config.required",
                ld->at[k - keys].kind != AT_DEFAULT ? &ld->at[k - keys] : &ld->at[on - keys],
                k->path, "required when aws.ack.enabled is true");
    for (size_t i = 0; i < cfg->kubernetes.n_clusters; i++) {
        if (*cfg->kubernetes.clusters[i].oidc_provider)
            continue;
        snprintf(path, sizeof(path), "kubernetes.clusters[%zu].oidc_provider", i);
        problem(ld, "config.required", &ld->cluster_at[i], path,
                "required when aws.ack.enabled is true");
    }
}

/* A paced API needs room for at least one request in its bucket. */
static void check_pacing(loader *ld)
{
    static const char *const qps_keys[] = {"flyte.qps", "kubernetes.qps"};
    static const char *const burst_keys[] = {"flyte.burst", "kubernetes.burst"};

    for (size_t i = 0; i < 2; i++) {
        const key_def *q = find_key(qps_keys[i]), *b = find_key(burst_keys[i]);
        int qps = *(int *)field(ld->cfg, q), burst = *(int *)field(ld->cfg, b);
        if (qps == 0 || burst >= 1)
            continue;
        problem(ld, "config.range",
                ld->at[b - keys].kind != AT_DEFAULT ? &ld->at[b - keys] : &ld->at[q - keys],
                b->path, "must be at least 1 when %s is above 0, got %d", q->path, burst);
    }
}

static void check_derived_topics(loader *ld)
{
    const wf_config *cfg = ld->cfg;
    const key_def *group = find_key("kafka.group_id");
    char name[1024];

    for (size_t i = 0; i <= cfg->retry.n_tiers + 1; i++) {
        if (i < cfg->retry.n_tiers)
            wf_config_retry_topic(cfg, i, name, sizeof(name));
        else if (i == cfg->retry.n_tiers)
            wf_config_dlt_topic(cfg, name, sizeof(name));
        else
            wf_config_state_topic(cfg, name, sizeof(name));
        if (strlen(name) > TOPIC_NAME_MAX) {
            problem(ld, "config.value", &ld->at[group - keys], group->path,
                    "derived topic \"%s\" is longer than %d characters", name, TOPIC_NAME_MAX);
            return;
        }
    }
}

/* Where a problem with key `path` is reported: where it was set, else
 * where `because` (the key that makes it matter) was set. */
static const origin *blame(const loader *ld, const char *path, const char *because)
{
    const key_def *k = find_key(path), *b = find_key(because);

    return ld->at[k - keys].kind != AT_DEFAULT ? &ld->at[k - keys] : &ld->at[b - keys];
}

static int is_domain(const wf_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->flyte.n_domains; i++)
        if (strcmp(cfg->flyte.domains[i], name) == 0)
            return 1;
    return 0;
}

/* With quota_scope workspace every configured domain needs a weight, and
 * every weight a configured domain: a share for a domain that does not
 * exist would silently shrink the others. */
static void check_quota_split(loader *ld)
{
    const wf_config *cfg = ld->cfg;
    const origin *at = blame(ld, "kubernetes.quota_split", "kubernetes.quota_scope");

    if (cfg->kubernetes.quota_scope != WF_QUOTA_WORKSPACE)
        return;
    for (size_t i = 0; i < cfg->flyte.n_domains; i++)
        if (wf_config_quota_weight(cfg, cfg->flyte.domains[i]) == 0)
            problem(ld, "config.value", at, "kubernetes.quota_split",
                    "no weight for domain \"%s\" of flyte.domains (required when "
                    "kubernetes.quota_scope is workspace)",
                    cfg->flyte.domains[i]);
    for (size_t i = 0; i < cfg->kubernetes.n_quota_split; i++) {
        const char *name = cfg->kubernetes.quota_split[i].name;
        if (!is_domain(cfg, name))
            problem(ld, "config.value", at, "kubernetes.quota_split",
                    "\"%s\" is not one of flyte.domains", name);
    }
}

/* A default request above the default limit is refused by the API server
 * for every namespace: caught here instead. */
static void check_limit_range(loader *ld)
{
    static const struct {
        const char *request, *limit;
    } pairs[] = {
        {"kubernetes.limit_range.default_request_cpu", "kubernetes.limit_range.default_cpu"},
        {"kubernetes.limit_range.default_request_memory", "kubernetes.limit_range.default_memory"},
    };

    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        const key_def *rk = find_key(pairs[i].request), *lk = find_key(pairs[i].limit);
        const char *request = *(char **)field(ld->cfg, rk), *limit = *(char **)field(ld->cfg, lk);
        int64_t r, l;
        if (quantity_parse_milli(request, &r, NULL, 0) != 0 ||
            quantity_parse_milli(limit, &l, NULL, 0) != 0 || r <= l)
            continue; /* a bad quantity is reported by itself */
        problem(ld, "config.value", blame(ld, pairs[i].request, pairs[i].limit), rk->path,
                "%s is more than %s %s (a container's request cannot exceed its limit)", request,
                lk->path, limit);
    }
}

/* With clusters, the weights place every new workspace that no label and
 * no default places, so at least one must be above 0; the default must be
 * one of the clusters. */
static void check_clusters(loader *ld)
{
    const wf_config *cfg = ld->cfg;
    const key_def *k = find_key("kubernetes.clusters"),
                  *def = find_key("kubernetes.placement.default");
    const char *name = cfg->kubernetes.placement_default;
    int weighted = 0;

    for (size_t i = 0; i < cfg->kubernetes.n_clusters; i++)
        weighted |= cfg->kubernetes.clusters[i].weight > 0;
    if (cfg->kubernetes.n_clusters > 0 && !weighted)
        problem(ld, "config.value", &ld->at[k - keys], k->path,
                "every weight is 0: at least one cluster needs a weight above 0 to place new "
                "workspaces");
    if (*name && wf_config_cluster(cfg, name) < 0)
        problem(ld, "config.value", &ld->at[def - keys], def->path,
                "\"%s\" is not the name of a cluster of kubernetes.clusters", name);
}

static void (*const cross_checks[])(loader *ld) = {
    check_required,       check_auth,        check_ack,         check_pacing,
    check_derived_topics, check_quota_split, check_limit_range, check_clusters,
};

/* ---- public ---- */

int wf_config_load(wf_config *cfg, const char *path, char *const *envp, char **report, wf_err *err)
{
    loader ld = {.cfg = cfg, .dst = cfg, .file = path, .err = err};

    if (report)
        *report = NULL;
    wf_config_defaults(cfg);
    if (path)
        load_file(&ld);
    apply_env(&ld, envp);
    for (size_t i = 0; i < sizeof(cross_checks) / sizeof(cross_checks[0]); i++)
        cross_checks[i](&ld);
    if (ld.n_problems == 0) {
        free(ld.report.s);
        return 0;
    }
    if (report)
        *report = ld.report.s;
    else
        free(ld.report.s);
    return -1;
}

char *wf_config_retry_topic(const wf_config *cfg, size_t tier, char *buf, size_t len)
{
    char delay[32];

    if (tier >= cfg->retry.n_tiers) {
        snprintf(buf, len, "%s", "");
        return buf;
    }
    wf_duration_format(cfg->retry.tiers_ms[tier], delay, sizeof(delay));
    snprintf(buf, len, "%s.%s.retry-%s", cfg->kafka.topic_events, cfg->kafka.group_id, delay);
    return buf;
}

char *wf_config_dlt_topic(const wf_config *cfg, char *buf, size_t len)
{
    snprintf(buf, len, "%s.%s.dlt", cfg->kafka.topic_events, cfg->kafka.group_id);
    return buf;
}

char *wf_config_state_topic(const wf_config *cfg, char *buf, size_t len)
{
    snprintf(buf, len, "%s.%s.state", cfg->kafka.topic_events, cfg->kafka.group_id);
    return buf;
}

/* ---- dump ---- */

struct emitter {
    yaml_emitter_t e;
    int ok;
};

/* Emits ev, or drops it after an earlier failure. */
static void emit(emitter *out, yaml_event_t *ev, int made)
{
    if (!made)
        out->ok = 0;
    else if (!out->ok)
        yaml_event_delete(ev);
    else if (!yaml_emitter_emit(&out->e, ev))
        out->ok = 0;
}

static void emit_scalar(emitter *out, const char *s, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    int made = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
                                            style);
    emit(out, &ev, made);
}

static void emit_map_start(emitter *out, yaml_mapping_style_t style)
{
    yaml_event_t ev;
    emit(out, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, style));
}

static void emit_map_end(emitter *out)
{
    yaml_event_t ev;
    emit(out, &ev, yaml_mapping_end_event_initialize(&ev));
}

static void emit_seq_start(emitter *out, yaml_sequence_style_t style)
{
    yaml_event_t ev;
    emit(out, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, style));
}

static void emit_seq_end(emitter *out)
{
    yaml_event_t ev;
    emit(out, &ev, yaml_sequence_end_event_initialize(&ev));
}

static void emit_str(emitter *out, const void *base, const key_def *k)
{
    const char *v = *(char **)field(base, k);
    size_t room = strlen(v) + sizeof(SECRET_MASK); /* "a@h" -> "***@h" */
    char *shown = NULL;

    /* A URL may carry credentials (https://user:pw@registry:8081). */
    if (k->check == check_http_url || k->check == check_api_url)
        v = wf_url_mask(v, shown = xrealloc(NULL, room), room);
    emit_scalar(out, v, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    free(shown);
}

static void emit_int(emitter *out, const void *base, const key_def *k)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%d", *(int *)field(base, k));
    emit_scalar(out, buf, YAML_PLAIN_SCALAR_STYLE);
}

static void emit_bool(emitter *out, const void *base, const key_def *k)
{
    emit_scalar(out, *(int *)field(base, k) ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
}

static void emit_enum(emitter *out, const void *base, const key_def *k)
{
    emit_scalar(out, k->names[*(int *)field(base, k)], YAML_PLAIN_SCALAR_STYLE);
}

static void emit_strlist(emitter *out, const void *base, const key_def *k)
{
    char **list = *(char ***)field(base, k);

    emit_seq_start(out, YAML_FLOW_SEQUENCE_STYLE);
    for (size_t i = 0; i < *count_field(base, k); i++)
        emit_scalar(out, list[i], YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    emit_seq_end(out);
}

static void emit_dur(emitter *out, const void *base, const key_def *k)
{
    char buf[32];

    wf_duration_format(*(long *)field(base, k), buf, sizeof(buf));
    emit_scalar(out, buf, YAML_PLAIN_SCALAR_STYLE);
}

static void emit_durlist(emitter *out, const void *base, const key_def *k)
{
    long *ms = *(long **)field(base, k);
    char buf[32];

    emit_seq_start(out, YAML_FLOW_SEQUENCE_STYLE);
    for (size_t i = 0; i < *count_field(base, k); i++) {
        wf_duration_format(ms[i], buf, sizeof(buf));
        emit_scalar(out, buf, YAML_PLAIN_SCALAR_STYLE);
    }
    emit_seq_end(out);
}

static void emit_props(emitter *out, const void *base, const key_def *k)
{
    const wf_kv *kv = *(wf_kv **)field(base, k);
    size_t n = *count_field(base, k);

    emit_map_start(out, n ? YAML_BLOCK_MAPPING_STYLE : YAML_FLOW_MAPPING_STYLE);
    for (size_t i = 0; i < n; i++) {
        emit_scalar(out, kv[i].key, YAML_PLAIN_SCALAR_STYLE);
        emit_scalar(out, is_secret_property(kv[i].key) ? SECRET_MASK : kv[i].value,
                    YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    }
    emit_map_end(out);
}

static void emit_weights(emitter *out, const void *base, const key_def *k)
{
    const wf_weight *w = *(wf_weight **)field(base, k);
    char buf[32];

    emit_map_start(out, YAML_FLOW_MAPPING_STYLE);
    for (size_t i = 0; i < *count_field(base, k); i++) {
        snprintf(buf, sizeof(buf), "%d", w[i].weight);
        emit_scalar(out, w[i].name, YAML_PLAIN_SCALAR_STYLE);
        emit_scalar(out, buf, YAML_PLAIN_SCALAR_STYLE);
    }
    emit_map_end(out);
}

/* Each cluster as a block mapping of cluster_keys, in their order. */
static void emit_clusters(emitter *out, const void *base, const key_def *k)
{
    const wf_cluster *c = *(wf_cluster **)field(base, k);
    size_t n = *count_field(base, k);

    emit_seq_start(out, n ? YAML_BLOCK_SEQUENCE_STYLE : YAML_FLOW_SEQUENCE_STYLE);
    for (size_t i = 0; i < n; i++) {
        emit_map_start(out, YAML_BLOCK_MAPPING_STYLE);
        for (size_t j = 0; j < N_CLUSTER_KEYS; j++) {
            emit_scalar(out, cluster_keys[j].path, YAML_PLAIN_SCALAR_STYLE);
            types[cluster_keys[j].type].emit(out, &c[i], &cluster_keys[j]);
        }
        emit_map_end(out);
    }
    emit_seq_end(out);
}

static int is_under(const char *path, const char *section)
{
    size_t n = strlen(section);
    return strncmp(path, section, n) == 0 && path[n] == '.';
}

/* Walks the table in order, opening a mapping per section. */
static void emit_keys(emitter *out, const wf_config *cfg)
{
    const key_def *open[8];
    size_t depth = 0;

    emit_map_start(out, YAML_BLOCK_MAPPING_STYLE);
    for (size_t i = 0; i < N_KEYS; i++) {
        const key_def *k = &keys[i];
        for (; depth > 0 && !is_under(k->path, open[depth - 1]->path); depth--)
            emit_map_end(out);
        emit_scalar(out, leaf_name(k->path), YAML_PLAIN_SCALAR_STYLE);
        if (k->type == K_MAP) {
            emit_map_start(out, YAML_BLOCK_MAPPING_STYLE);
            open[depth++] = k;
        } else {
            types[k->type].emit(out, cfg, k);
        }
    }
    for (; depth > 0; depth--)
        emit_map_end(out);
    emit_map_end(out);
}

void wf_config_dump(const wf_config *cfg, FILE *fp)
{
    emitter out = {.ok = 1};
    yaml_event_t ev;

    if (!yaml_emitter_initialize(&out.e))
        return;
    yaml_emitter_set_output_file(&out.e, fp);
    yaml_emitter_set_unicode(&out.e, 1);
    yaml_emitter_set_width(&out.e, -1);
    emit(&out, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    emit(&out, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    emit_keys(&out, cfg);
    emit(&out, &ev, yaml_document_end_event_initialize(&ev, 1));
    emit(&out, &ev, yaml_stream_end_event_initialize(&ev));
    yaml_emitter_flush(&out.e);
    yaml_emitter_delete(&out.e);
}
