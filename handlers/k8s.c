/* The Kubernetes API calls: server-side apply as field manager wsflyte,
 * reads, lists and deletes with uid preconditions, and the reading of the
 * API server's Status answers. */
#include "k8s.h"

#include "jsonskim.h"
#include "kubeconfig.h"
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SA_DIR            "/var/run/secrets/kubernetes.io/serviceaccount"
#define TOKEN_REREAD_SECS 60
#define TOKEN_MAX         8192

/* The kinds wsflyte manages.  Plurals are per group: "roles" exists in
 * rbac.authorization.k8s.io and in iam.services.k8s.aws. */
typedef struct k8s_kind {
    const char *api_version;
    const char *kind;
    const char *plural;
    int namespaced;
} k8s_kind;

static const k8s_kind kinds[] = {
    {"v1", "Namespace", "namespaces", 0},
    {"v1", "ResourceQuota", "resourcequotas", 1},
    {"v1", "LimitRange", "limitranges", 1},
    {"v1", "ServiceAccount", "serviceaccounts", 1},
    {"v1", "ConfigMap", "configmaps", 1},
    {"networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", 1},
    {"rbac.authorization.k8s.io/v1", "Role", "roles", 1},
    {"rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", 1},
    {"iam.services.k8s.aws/v1alpha1", "Role", "roles", 1},
    {"iam.services.k8s.aws/v1alpha1", "Policy", "policies", 1},
};

/* One token file's token, shared by every client of the process that reads
 * that file: a rotation then costs one refusal per request in flight, and
 * the file is read once per refusal or minute, not once per client. */
typedef struct token_source {
    pthread_mutex_t lock;
    char *path;
    char token[TOKEN_MAX];
    time_t read_at;
    int refs;                  /* under sources_lock */
    struct token_source *next; /* under sources_lock */
} token_source;

static pthread_mutex_t sources_lock = PTHREAD_MUTEX_INITIALIZER;
static token_source *sources;

/* The shared source of path (a new reference), or NULL out of memory. */
static token_source *token_source_get(const char *path)
{
    token_source *ts;

    pthread_mutex_lock(&sources_lock);
    for (ts = sources; ts && strcmp(ts->path, path) != 0; ts = ts->next)
        ;
    if (ts == NULL && (ts = calloc(1, sizeof(*ts))) != NULL) {
        if ((ts->path = strdup(path)) == NULL) {
            free(ts);
            ts = NULL;
        } else {
            pthread_mutex_init(&ts->lock, NULL);
            ts->next = sources;
            sources = ts;
        }
    }
    if (ts)
        ts->refs++;
    pthread_mutex_unlock(&sources_lock);
    return ts;
}

static void token_source_put(token_source *ts)
{
    token_source **at;

    if (ts == NULL)
        return;
    pthread_mutex_lock(&sources_lock);
    if (--ts->refs > 0) {
        pthread_mutex_unlock(&sources_lock);
        return;
    }
    for (at = &sources; *at != ts; at = &(*at)->next)
        ;
    *at = ts->next;
    pthread_mutex_unlock(&sources_lock);
    memset(ts->token, 0, sizeof(ts->token));
    pthread_mutex_destroy(&ts->lock);
    free(ts->path);
    free(ts);
}

struct k8s {
    httpc *http;
    token_source *tokens; /* shared; NULL: no token file */
    kubeconfig kc; /* kubernetes.api_url "kubeconfig:PATH"; its strings back httpc_new's opts */
    /* What http was made from, for k8s_conn: pointers into k only. */
    char url[512];
    char *ca_file;
    char observed_as[128]; /* "k8s@<cluster>" with kubernetes.clusters; else "" */
    httpc_opts conn;
};

static const k8s_kind *find_kind(const char *api_version, const char *kind)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].api_version, api_version) == 0 && strcmp(kinds[i].kind, kind) == 0)
            return &kinds[i];
    return NULL;
}

int k8s_path(const char *api_version, const char *kind, const char *ns, const char *name, char *buf,
             size_t len)
{
    const k8s_kind *k = find_kind(api_version, kind);
    const char *root = strchr(api_version, '/') ? "/apis/" : "/api/";
    size_t n;

    if (k == NULL)
        return -1;
    n = (size_t)snprintf(buf, len, "%s%s", root, api_version);
    if (k->namespaced && ns)
        n += (size_t)snprintf(buf + n, len > n ? len - n : 0, "/namespaces/%s", ns);
    n += (size_t)snprintf(buf + n, len > n ? len - n : 0, "/%s", k->plural);
    if (name)
        n += (size_t)snprintf(buf + n, len > n ? len - n : 0, "/%s", name);
    return n < len ? 0 : -1;
}

/* Reads the token file; keeps the previous token if the file is briefly
 * unreadable during a rotation. */
static int token_reload(token_source *ts, wf_err *err)
{
    char buf[TOKEN_MAX];
    int n = httpc_read_credential(ts->path, buf, sizeof(buf));

    if (n < 0) {
        if (ts->token[0])
            return 0;
        wf_err_set(err, WF_TRANSIENT, "k8s.token", "read token file %s: %s", ts->path,
                   strerror(errno));
        return -1;
    }
    memcpy(ts->token, buf, (size_t)n + 1);
    memset(buf, 0, sizeof(buf));
    ts->read_at = time(NULL);
    return 0;
}

static int token_auth(void *ud, int invalidate, char *out, size_t len, wf_err *err)
{
    token_source *ts = ud;
    int rc = 0;

    pthread_mutex_lock(&ts->lock);
    if (invalidate || ts->token[0] == '\0' || time(NULL) - ts->read_at >= TOKEN_REREAD_SECS)
        rc = token_reload(ts, err);
    if (rc == 0 && ts->token[0])
        snprintf(out, len, "Bearer %s", ts->token);
    pthread_mutex_unlock(&ts->lock);
    return rc;
}

/* Where the API server is and how to trust and authenticate to it, from
 * kubernetes.api_url: "" = in-cluster (KUBERNETES_SERVICE_HOST/PORT, the
 * service account's ca.crt and rotated token), "kubeconfig:PATH" = the
 * kubeconfig's current context, else the URL itself with token_file and
 * ca_file.  token_file and ca_file, when set, override what in-cluster or
 * the kubeconfig would use.  Fills *o with pointers into cfg, k->kc or url,
 * and returns the token file to re-read (or NULL). */
static int resolve_endpoint(k8s *k, const char *api, const char *cfg_token, const char *cfg_ca,
                            char *url, size_t url_len, httpc_opts *o, const char **token_file,
                            wf_err *err)
{
    const char *ca = cfg_ca[0] ? cfg_ca : NULL;

    *token_file = cfg_token[0] ? cfg_token : NULL;
    if (api[0] == '\0') {
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        if (host == NULL || port == NULL || !host[0] || !port[0]) {
            wf_err_set(err, WF_CONFIG, "config.kubernetes",
                       "kubernetes.api_url: empty means in-cluster, but "
                       "KUBERNETES_SERVICE_HOST/PORT are not set");
            return -1;
        }
        /* An IPv6 service host needs brackets in a URL. */
        snprintf(url, url_len, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
        o->base_url = url;
        o->ca_file = ca ? ca : SA_DIR "/ca.crt";
        if (*token_file == NULL)
            *token_file = SA_DIR "/token";
        return 0;
    }
    if (strncmp(api, "kubeconfig:", 11) == 0) {
        const char *path = api + 11;
        while (*path == ' ')
            path++; /* "kubeconfig: PATH", as the contract writes it */
        if (kubeconfig_load(path, &k->kc, err) != 0)
            return -1;
        kubeconfig_httpc_opts(&k->kc, o);
        if (*token_file == NULL)
            *token_file = k->kc.token_file;
        if (*token_file)
            o->auth = NULL; /* the re-reading token source below takes over */
        if (ca) {
            o->ca_file = ca;
            o->ca_pem = NULL;
            o->ca_pem_len = 0;
        }
        return 0;
    }
    snprintf(url, url_len, "%s", api);
    o->base_url = url;
    o->ca_file = ca;
    return 0;
}

k8s *k8s_new(const wf_config *cfg, pacer *pace, httpc_observer observer, void *observer_ud,
             wf_err *err)
{
    return k8s_new_cluster(cfg, -1, pace, observer, observer_ud, err);
}

k8s *k8s_new_cluster(const wf_config *cfg, int cluster, pacer *pace, httpc_observer observer,
                     void *observer_ud, wf_err *err)
{
    k8s *k = calloc(1, sizeof(*k));
    const wf_cluster *cl = cluster >= 0 && (size_t)cluster < cfg->kubernetes.n_clusters
                               ? &cfg->kubernetes.clusters[cluster]
                               : NULL;
    const char *token_file;
    httpc_opts o = {0};

    if (k == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "k8s: out of memory");
        return NULL;
    }
    if (resolve_endpoint(k, cl ? cl->api_url : cfg->kubernetes.api_url,
                         cl ? cl->token_file : cfg->kubernetes.token_file,
                         cl ? cl->ca_file : cfg->kubernetes.ca_file, k->url, sizeof(k->url), &o,
                         &token_file, err) != 0) {
        if (cl)
            wf_err_prefix(err, "kubernetes.clusters %s", cl->name);
        k8s_free(k);
        return NULL;
    }
    o.api = "k8s";
    o.pacer = pace;
    o.observer = observer;
    o.observer_ud = observer_ud;
    /* With clusters each API server counts apart (metrics_api). */
    if (cfg->kubernetes.n_clusters > 0) {
        snprintf(k->observed_as, sizeof(k->observed_as), "k8s@%s",
                 cl ? cl->name : METRICS_CONTROL_PLANE);
        o.observed_as = k->observed_as;
    }
    if (token_file) {
        if ((k->tokens = token_source_get(token_file)) == NULL) {
            wf_err_set(err, WF_INTERNAL, "oom", "k8s: out of memory");
            k8s_free(k);
            return NULL;
        }
        o.auth = token_auth;
        o.auth_ud = k->tokens;
    }
    /* ca_file may point into cfg, which need not outlive k. */
    if (o.ca_file && (k->ca_file = strdup(o.ca_file)) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "k8s: out of memory");
        k8s_free(k);
        return NULL;
    }
    o.ca_file = k->ca_file;
    k->http = httpc_new(&o, err);
    if (k->http == NULL) {
        k8s_free(k);
        return NULL;
    }
    k->conn = o;
    return k;
}

const httpc_opts *k8s_conn(const k8s *k)
{
    return &k->conn;
}

void k8s_set_priority(k8s *k, pacer_priority priority)
{
    httpc_set_priority(k->http, priority);
}

void k8s_set_yield(k8s *k, int (*yield)(void *ud), void *ud)
{
    httpc_set_yield(k->http, yield, ud);
}

void k8s_free(k8s *k)
{
    if (k == NULL)
        return;
    httpc_free(k->http);
    kubeconfig_fini(&k->kc);
    token_source_put(k->tokens);
    free(k->ca_file);
    free(k);
}

/* The object or list of a successful answer, without metadata.managedFields,
 * which nothing here reads and which costs more to parse than the rest.  A
 * body that does not scan is parsed as it is.  NULL when it is not JSON. */
static json_t *object_json(const http_response *resp)
{
    size_t len = 0;
    char *text;
    json_t *j;

    if (resp->body == NULL || resp->len == 0)
        return NULL;
    text = jsonskim_without(resp->body, resp->len, "metadata", "managedFields", &len);
    if (text == NULL)
        return http_response_json(resp);
    j = len ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    return j;
}

/* What tells an applied namespace's state, of a successful answer: its
 * uid, deletionTimestamp and phase; the rest (most of all managedFields)
 * is only scanned.  A body that does not scan is parsed as it is. */
static json_t *state_json(const http_response *resp)
{
    static const char *const keep[] = {"metadata.uid", "metadata.deletionTimestamp",
                                       "status.phase"};
    size_t len = 0;
    char *text;
    json_t *j;

    if (resp->body == NULL || resp->len == 0)
        return NULL;
    text = jsonskim_only(resp->body, resp->len, keep, sizeof(keep) / sizeof(keep[0]), &len);
    if (text == NULL)
        return http_response_json(resp);
    j = json_loadb(text, len, 0, NULL);
    free(text);
    return j;
}

/* True when a Status carries a cause of the given type (JSON key "reason"). */
static int status_has_cause(const json_t *status, const char *cause)
{
    json_t *causes = json_object_get(json_object_get(status, "details"), "causes");
    size_t i;
    json_t *c;

    json_array_foreach(causes, i, c)
    {
        const char *r = json_string_value(json_object_get(c, "reason"));
        if (r && strcmp(r, cause) == 0)
            return 1;
    }
    return 0;
}

static int string_is(const json_t *v, const char *want)
{
    const char *s = json_string_value(v);
    return s && strcmp(s, want) == 0;
}

/* True when st is the API server's own NotFound Status. */
static int status_not_found(const json_t *st)
{
    return string_is(json_object_get(st, "kind"), "Status") &&
           string_is(json_object_get(st, "reason"), "NotFound");
}

/* True when a 404's body is the API server's NotFound for this very object:
 * a Status, reason NotFound, whose details name it (and give its resource
 * plural as details.kind, when they give a kind).  A 404 from anything else
 * on the way (an ingress, a proxy, a gateway's unknown route) says nothing
 * about the object, so it must never read as "it does not exist". */
static int object_not_found(const http_response *resp, const char *api_version, const char *kind,
                            const char *name)
{
    json_t *st = resp->status == 404 ? http_response_json(resp) : NULL;
    json_t *details = json_object_get(st, "details"), *dkind = json_object_get(details, "kind");
    const k8s_kind *k = find_kind(api_version, kind);
    int yes = status_not_found(st) && string_is(json_object_get(details, "name"), name) &&
              (dkind == NULL || (k && string_is(dkind, k->plural)));

    json_decref(st);
    return yes;
}

/* Classifies a non-2xx answer, with the cases where the status code alone
 * misleads: a terminating namespace is a wait, not a refusal; an SSA schema
 * error is a 500 that no retry will fix; a 404 is only the server's word
 * when it comes as its own Status (a missing kind: permanent), otherwise it
 * is whatever stands in front of the server, and transient. */
static void classify(const http_response *resp, const char *what, wf_err *err)
{
    json_t *st = http_response_json(resp);
    const char *msg = st ? json_string_value(json_object_get(st, "message")) : NULL;

    if (resp->status == 403 && st && status_has_cause(st, "NamespaceTerminating")) {
        wf_err_set(err, WF_TRANSIENT, "k8s.namespace-terminating", "%s: %s", what,
                   msg ? msg : "namespace is terminating");
    } else if (resp->status == 500 && msg && strstr(msg, "field not declared in schema")) {
        wf_err_set(err, WF_PERMANENT, "k8s.schema", "%s: %s", what, msg);
    } else if (resp->status == 404 && status_not_found(st) &&
               !json_is_string(json_object_get(json_object_get(st, "details"), "name"))) {
        wf_err_set(err, WF_PERMANENT, "k8s.no-kind",
                   "%s: the API server does not serve this kind (CRD not installed?)", what);
    } else if (resp->status == 404) {
        wf_err_set(err, WF_TRANSIENT, "k8s.404",
                   "%s: 404 that is not the API server's NotFound for this object (a proxy or "
                   "gateway in between?): %.200s",
                   what,
                   msg          ? msg
                   : resp->body ? resp->body
                                : "");
    } else {
        httpc_classify("k8s", resp, what, err);
    }
    json_decref(st);
}

/* k8s_apply, the answer read by answer_json (object_json, state_json). */
static int apply_with(k8s *k, const json_t *obj, json_t **live, int *created,
                      json_t *(*answer_json)(const http_response *), wf_err *err)
{
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    char path[1024], what[600];
    http_response resp;
    int rc = -1;

    if (live)
        *live = NULL;
    if (created)
        *created = 0;
    if (av == NULL || kind == NULL || name == NULL ||
        k8s_path(av, kind, ns, name, path, sizeof(path) - 64) != 0) {
        wf_err_set(err, WF_INTERNAL, "k8s.kind", "apply: unmanaged or incomplete object %s/%s",
                   av ? av : "?", kind ? kind : "?");
        return -1;
    }
    snprintf(what, sizeof(what), "apply %s %s%s%s", kind, ns ? ns : "", ns ? "/" : "", name);
    strcat(path, "?fieldManager=" K8S_FIELD_MANAGER "&force=true");
    if (httpc_json(k->http, "PATCH", path, obj, "application/apply-patch+yaml", &resp, err) != 0) {
        wf_err_prefix(err, "%s", what);
        return -1;
    }
    if (resp.status == 200 || resp.status == 201) {
        rc = 0;
        if (created)
            *created = resp.status == 201;
        if (live)
            *live = answer_json(&resp);
    } else {
        classify(&resp, what, err);
    }
    http_response_fini(&resp);
    return rc;
}

int k8s_apply(k8s *k, const json_t *obj, json_t **live, int *created, wf_err *err)
{
    return apply_with(k, obj, live, created, object_json, err);
}

int k8s_apply_state(k8s *k, const json_t *obj, json_t **state, wf_err *err)
{
    return apply_with(k, obj, state, NULL, state_json, err);
}

int k8s_get(k8s *k, const char *api_version, const char *kind, const char *ns, const char *name,
            json_t **obj, wf_err *err)
{
    char path[1024];
    http_response resp;
    int rc = -1;

    *obj = NULL;
    if (k8s_path(api_version, kind, ns, name, path, sizeof(path)) != 0) {
        wf_err_set(err, WF_INTERNAL, "k8s.kind", "get: unmanaged kind %s", kind);
        return -1;
    }
    if (httpc_json(k->http, "GET", path, NULL, NULL, &resp, err) != 0)
        return -1;
    if (object_not_found(&resp, api_version, kind, name)) {
        rc = 0;
    } else if (resp.status == 200) {
        /* Whole: drift repair and the live diff read who manages what. */
        *obj = http_response_json(&resp);
        rc = 0;
    } else {
        classify(&resp, path, err);
    }
    http_response_fini(&resp);
    return rc;
}

int k8s_list(k8s *k, const char *api_version, const char *kind, const char *ns,
             const char *selector, json_t **items, wf_err *err)
{
    char path[2048];
    char *esel = httpc_escape(selector ? selector : "");
    http_response resp;
    json_t *list;
    int rc = -1;

    *items = NULL;
    if (esel == NULL || k8s_path(api_version, kind, ns, NULL, path, sizeof(path) - 1024) != 0) {
        free(esel);
        wf_err_set(err, WF_INTERNAL, "k8s.kind", "list: unmanaged kind %s", kind);
        return -1;
    }
    if (esel[0]) {
        strcat(path, "?labelSelector=");
        strncat(path, esel, sizeof(path) - strlen(path) - 1);
    }
    free(esel);
    if (httpc_json(k->http, "GET", path, NULL, NULL, &resp, err) != 0)
        return -1;
    if (resp.status == 200) {
        list = object_json(&resp);
        json_t *arr = json_object_get(list, "items");
        if (json_is_array(arr)) {
            *items = json_incref(arr);
            rc = 0;
        } else {
            wf_err_set(err, WF_TRANSIENT, "k8s.body", "list %s: no items array", path);
        }
        json_decref(list);
    } else {
        classify(&resp, path, err);
    }
    http_response_fini(&resp);
    return rc;
}

int k8s_delete(k8s *k, const char *api_version, const char *kind, const char *ns, const char *name,
               const char *uid, wf_err *err)
{
    char path[1024];
    http_response resp;
    json_t *opts;
    int rc = -1;

    if (k8s_path(api_version, kind, ns, name, path, sizeof(path)) != 0) {
        wf_err_set(err, WF_INTERNAL, "k8s.kind", "delete: unmanaged kind %s", kind);
        return -1;
    }
    opts = json_pack("{s:s, s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1",
                     "propagationPolicy", "Background");
    if (opts && uid)
        json_object_set_new(opts, "preconditions", json_pack("{s:s}", "uid", uid));
    if (opts == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "delete %s %s: out of memory", kind, name);
        return -1;
    }
    if (httpc_json(k->http, "DELETE", path, opts, NULL, &resp, err) == 0) {
        if (resp.status == 200 || resp.status == 202 ||
            object_not_found(&resp, api_version, kind, name) || (uid && resp.status == 409))
            rc = 0;
        else
            classify(&resp, path, err);
        wf_err_prefix(err, "delete %s %s", kind, name);
        http_response_fini(&resp);
    }
    json_decref(opts);
    return rc;
}

long k8s_probe(k8s *k)
{
    http_response resp;
    wf_err err;
    long status;

    wf_err_init(&err);
    if (httpc_json(k->http, "GET", "/version", NULL, NULL, &resp, &err) != 0)
        return 0;
    status = resp.status;
    http_response_fini(&resp);
    return status;
}
