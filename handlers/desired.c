/* What Flyte and Kubernetes must hold for one event, computed as data: the
 * project, per-domain attributes and objects, the cluster-wide objects, and
 * what to remove by name.  No I/O; wsflyte-render prints the same data.
 *
 * Over 600 lines because it renders every object the contract gives a
 * workspace (namespaces, quota, isolation policy, runner, roles, bindings,
 * authz matrix, ACK objects), each from validated input and each checked
 * for allocation failure. */
#include "desired.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyte.h"
#include "jsonout.h"
#include "names.h"
#include "placement.h"
#include "quantity.h"
#include "utf8.h"

#define PROJECT_NAME_MAX  64
#define PROJECT_DESC_MAX  300
#define IAM_ROLE_NAME_MAX 64
#define USER_ID_MAX       256
#define EMAIL_MAX         320
/* The authz ConfigMap: its one key, and what the API server lets a
 * ConfigMap's data hold (keys and values together). */
#define AUTHZ_KEY          "workspace.json"
#define CONFIGMAP_DATA_MAX (1024 * 1024)
#define WORKSPACE_NAME_MAX 1024
#define FLYTE_LABELS_MAX   16 /* FlyteAdmin refuses projects with more labels */
#define FLYTE_OWN_LABELS   2  /* FLYTE_LABEL_MANAGED, FLYTE_LABEL_VERSION */
#define SHOWN_MAX          100

/* Label prefixes (with their subdomains) that belong to Kubernetes and to
 * wsflyte: a workspace label under them could override what the API server
 * or wsflyte itself relies on (app.kubernetes.io/managed-by,
 * wsflyte.io/workspace, kubernetes.io/metadata.name). */
static const char *const reserved_prefixes[] = {"kubernetes.io", "k8s.io", "wsflyte.io"};
/* wsflyte's own keys on the Flyte project, which has no prefixes. */
static const char *const reserved_flyte_keys[] = {FLYTE_LABEL_MANAGED, FLYTE_LABEL_VERSION};

/* ResourceQuota spec.hard, in the order of ws_quota's fields. */
typedef enum quota_kind { Q_CPU, Q_BYTES, Q_COUNT } quota_kind;
static const struct {
    const char *hard;  /* spec.hard key */
    const char *field; /* workspace.quota field */
    const char *def;   /* CONTRACT.md §4 default */
    quota_kind kind;
} quota_fields[] = {
    {"requests.cpu", "requests_cpu", "20", Q_CPU},
    {"requests.memory", "requests_memory", "40Gi", Q_BYTES},
    {"limits.cpu", "limits_cpu", "40", Q_CPU},
    {"limits.memory", "limits_memory", "80Gi", Q_BYTES},
    {"pods", "pods", "100", Q_COUNT},
    {"persistentvolumeclaims", "persistent_volume_claims", "20", Q_COUNT},
};
#define N_QUOTA_FIELDS (sizeof(quota_fields) / sizeof(quota_fields[0]))
#define QUOTA_TEXT_MAX 72
typedef char quota_text[N_QUOTA_FIELDS][QUOTA_TEXT_MAX];

/* Which domains a role's members are bound in.  Contributors never reach
 * production: they develop and stage, owners release. */
typedef struct role_spec {
    ws_role role;
    const char *k8s_role;
    int production;
    const char *const *permissions;
} role_spec;

static const char *const owner_permissions[] = {
    "workflows:create",   "workflows:read",      "workflows:update",
    "workflows:delete",   "workflows:execute",   "workflows:terminate",
    "launchplans:create", "launchplans:read",    "launchplans:update",
    "launchplans:delete", "launchplans:execute", "launchplans:terminate",
    "executions:create",  "executions:read",     "executions:update",
    "executions:delete",  "executions:execute",  "executions:terminate",
    "data:read",          "data:write",          NULL};
static const char *const contributor_permissions[] = {"workflows:create",  "workflows:read",
                                                      "workflows:execute", "launchplans:create",
                                                      "launchplans:read",  "executions:read",
                                                      "executions:create", "data:read",
                                                      "data:write",        NULL};
static const char *const viewer_permissions[] = {"workflows:read", "launchplans:read",
                                                 "executions:read", "data:read", NULL};

static const role_spec roles[WS_ROLE_COUNT] = {
    [WS_ROLE_OWNER] = {WS_ROLE_OWNER, "workspace-owner", 1, owner_permissions},
    [WS_ROLE_CONTRIBUTOR] = {WS_ROLE_CONTRIBUTOR, "workspace-contributor", 0,
                             contributor_permissions},
    [WS_ROLE_VIEWER] = {WS_ROLE_VIEWER, "workspace-viewer", 1, viewer_permissions},
};

static int role_allows_domain(const role_spec *r, const char *domain)
{
    return r->production || strcmp(domain, "production") != 0;
}

/* Every builder below returns a new reference, or NULL when jansson ran out
 * of memory: a missing piece must fail the build, never shrink the desired
 * state (pruning would then delete what the event still wants). */

/* Sets o[key] to v, stealing v; on failure releases o and v and returns
 * NULL, so builders chain it as o = with(o, key, v).  Keys are literals
 * (ASCII), so jansson need not check them.  The hot builders use this
 * rather than json_pack, which costs several times as much per value
 * (it parses its format on every call). */
static json_t *with(json_t *o, const char *key, json_t *v)
{
    if (o == NULL) {
        json_decref(v);
        return NULL;
    }
    if (json_object_set_new_nocheck(o, key, v) != 0) { /* it released v */
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Appends v to a, stealing v; returns -1 when either is missing. */
static int append(json_t *a, json_t *v)
{
    if (a == NULL) {
        json_decref(v);
        return -1;
    }
    return json_array_append_new(a, v);
}

/* json_dumps, checked.  jansson 2.14 ignores a failed write of an object
 * key when memory runs out and returns the text without it, so the text
 * is parsed back and compared; NULL when it is not the document. */
static char *dumps_checked(const json_t *doc, size_t flags)
{
    char *text = doc ? json_dumps(doc, flags) : NULL;
    json_t *back = text ? json_loads(text, 0, NULL) : NULL;

    if (back == NULL || !json_equal(back, doc)) {
        free(text);
        text = NULL;
    }
    json_decref(back);
    return text;
}

static json_t *labels_for(const char *workspace_id)
{
    json_t *l = with(json_object(), LABEL_MANAGED_BY, json_string_nocheck(MANAGER_NAME));
    return with(l, LABEL_WORKSPACE, json_string(workspace_id));
}

/* {name, labels (stolen), namespace (when ns)}. */
static json_t *metadata_with(const char *name, const char *ns, json_t *labels)
{
    json_t *m = with(with(json_object(), "name", json_string(name)), "labels", labels);
    return m && ns ? with(m, "namespace", json_string(ns)) : m;
}

static json_t *metadata(const char *name, const char *ns, const char *workspace_id)
{
    return metadata_with(name, ns, labels_for(workspace_id));
}

/* Pieces that are the same in every domain of one desired state (they
 * depend on the configuration, the workspace id and the role only), built
 * once per desired_build and shared by reference: the roles alone were a
 * third of the nodes, and building and hashing the desired state is most of
 * what an event costs.  Desired objects are read-only once built. */
typedef struct shared_parts {
    json_t *labels;                  /* wsflyte's two labels */
    json_t *rules[WS_ROLE_COUNT];    /* a Role's rules */
    json_t *role_ref[WS_ROLE_COUNT]; /* a RoleBinding's roleRef */
    json_t *limit_spec;              /* the LimitRange's spec */
    json_t *policy_spec;             /* the NetworkPolicy's spec */
    json_t *runner_annotations;      /* the runner ServiceAccount's */
    /* Per member (ws->members[i]): its key in binding names and the hash
     * in its binding label, each a SHA-256 of the user id. */
    char (*user_key)[NAMES_USER_KEY_MAX];
    char (*member_hash)[17];
    unsigned char *effective; /* per member: it counts (effective_members) */
} shared_parts;

/* Metadata whose labels are wsflyte's two, shared: never add to them. */
static json_t *metadata_shared(const char *name, const char *ns, const shared_parts *sp)
{
    return metadata_with(name, ns, json_incref(sp->labels));
}

/* Adds a label to a metadata object built by metadata(). */
static json_t *with_label(json_t *meta, const char *key, const char *value)
{
    if (meta &&
        json_object_set_new(json_object_get(meta, "labels"), key, json_string(value)) != 0) {
        json_decref(meta);
        return NULL;
    }
    return meta;
}

/* The workspace's labels with own (stolen) set on top: validation keeps
 * the two apart, and this makes wsflyte's labels win even if it did not.
 * Returns a new object, or NULL. */
static json_t *workspace_labels(const workspace *ws, json_t *own)
{
    json_t *out = own ? json_object() : NULL;

    for (size_t i = 0; out && i < ws->n_labels; i++) {
        if (json_object_set_new(out, ws->labels[i].key, json_string(ws->labels[i].value)) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    if (out && json_object_update(out, own) != 0) {
        json_decref(out);
        out = NULL;
    }
    json_decref(own);
    return out;
}

/* api_version and kind are literals (ASCII). */
static json_t *manifest(const char *api_version, const char *kind, json_t *meta)
{
    json_t *o = with(json_object(), "apiVersion", json_string_nocheck(api_version));
    return with(with(o, "kind", json_string_nocheck(kind)), "metadata", meta);
}

/* ---- validation of event fields that reach names, labels and URLs ---- */

static int has_control_chars(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

/* Kubernetes reserves the "system:" prefix for its own identities
 * (system:anonymous, system:serviceaccount:...); binding one would grant
 * workspace rights to something that is not a workspace member. */
static int validate_member(const ws_member *m, size_t i, wf_err *err)
{
    size_t n = strlen(m->user_id);

    if (n == 0 || n > USER_ID_MAX || has_control_chars(m->user_id) || !names_is_utf8(m->user_id)) {
        wf_err_set(err, WF_VALIDATION, "event.member",
                   "workspace.members[%zu].user_id: must be 1..%d printable UTF-8 characters", i,
                   USER_ID_MAX);
        return -1;
    }
    if (strncmp(m->user_id, "system:", 7) == 0) {
        wf_err_set(err, WF_VALIDATION, "event.member",
                   "workspace.members[%zu].user_id: the prefix \"system:\" is reserved by "
                   "Kubernetes",
                   i);
        return -1;
    }
    if (has_control_chars(m->email) || strlen(m->email) > EMAIL_MAX || !names_is_utf8(m->email)) {
        wf_err_set(err, WF_VALIDATION, "event.member",
                   "workspace.members[%zu].email: control characters, not UTF-8 or too long", i);
        return -1;
    }
    return 0;
}

static int validate_members(const workspace *ws, wf_err *err)
{
    for (size_t i = 0; i < ws->n_members; i++)
        if (validate_member(&ws->members[i], i, err) != 0)
            return -1;
    return 0;
}

static int validate_quota(const ws_quota *q, wf_err *err)
{
    const struct {
        const char *field;
        const char *value;
    } fields[] = {{"requests_cpu", q->requests_cpu},
                  {"requests_memory", q->requests_memory},
                  {"limits_cpu", q->limits_cpu},
                  {"limits_memory", q->limits_memory}};

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (!names_is_quantity(fields[i].value)) {
            wf_err_set(err, WF_VALIDATION, "event.quota",
                       "workspace.quota.%s: \"%.64s\" is not a Kubernetes quantity (e.g. 20, "
                       "500m, 40Gi)",
                       fields[i].field, fields[i].value);
            return -1;
        }
    }
    if (q->pods < 0 || q->persistent_volume_claims < 0) {
        wf_err_set(err, WF_VALIDATION, "event.quota", "workspace.quota: counts must be >= 0");
        return -1;
    }
    return 0;
}

/* True when key's prefix is a reserved one or a subdomain of one
 * ("kubernetes.io/x", "app.kubernetes.io/x"). */
static int has_reserved_prefix(const char *key)
{
    const char *slash = strchr(key, '/');
    size_t n = slash ? (size_t)(slash - key) : 0;

    for (size_t i = 0; i < sizeof(reserved_prefixes) / sizeof(reserved_prefixes[0]); i++) {
        const char *r = reserved_prefixes[i];
        size_t rn = strlen(r);
        if ((n == rn || (n > rn && key[n - rn - 1] == '.')) && strncmp(key + n - rn, r, rn) == 0)
            return 1;
    }
    return 0;
}

static int label_problem(const ws_label *l, const char *why, wf_err *err)
{
    wf_err_set(err, WF_VALIDATION, "event.label", "workspace.labels[\"%.*s\"]: %s",
               (int)utf8_prefix_len(l->key, SHOWN_MAX), l->key, why);
    return -1;
}

/* Workspace labels go onto the namespaces and the Flyte project, where the
 * API server and FlyteAdmin check them as Kubernetes labels. */
static int validate_label(const ws_label *l, wf_err *err)
{
    if (!names_is_label_key(l->key))
        return label_problem(l,
                             "not a valid Kubernetes label key (an optional DNS subdomain prefix "
                             "and '/', then 1-63 of [A-Za-z0-9._-], starting and ending "
                             "alphanumeric)",
                             err);
    if (has_reserved_prefix(l->key))
        return label_problem(l,
                             "the prefixes kubernetes.io/, k8s.io/ and wsflyte.io/ and their "
                             "subdomains are reserved for Kubernetes and wsflyte",
                             err);
    for (size_t i = 0; i < sizeof(reserved_flyte_keys) / sizeof(reserved_flyte_keys[0]); i++)
        if (strcmp(l->key, reserved_flyte_keys[i]) == 0)
            return label_problem(l, "reserved for wsflyte's own label on the Flyte project", err);
    if (!names_is_label_value(l->value))
        return label_problem(l,
                             "the value is not a valid Kubernetes label value (at most 63 of "
                             "[A-Za-z0-9._-], starting and ending alphanumeric, or empty)",
                             err);
    return 0;
}

/* With kubernetes.clusters wsflyte sets one more label of its own on the
 * project (FLYTE_LABEL_CLUSTER), which then is reserved too. */
static int validate_labels(const workspace *ws, int placed, wf_err *err)
{
    int own = FLYTE_OWN_LABELS + (placed ? 1 : 0);

    if (ws->n_labels > (size_t)(FLYTE_LABELS_MAX - own)) {
        wf_err_set(err, WF_VALIDATION, "event.label",
                   "workspace.labels: %zu labels, at most %d allowed (FlyteAdmin takes %d per "
                   "project and wsflyte sets %d)",
                   ws->n_labels, FLYTE_LABELS_MAX - own, FLYTE_LABELS_MAX, own);
        return -1;
    }
    for (size_t i = 0; i < ws->n_labels; i++) {
        if (validate_label(&ws->labels[i], err) != 0)
            return -1;
        if (placed && strcmp(ws->labels[i].key, FLYTE_LABEL_CLUSTER) == 0)
            return label_problem(&ws->labels[i],
                                 "reserved for wsflyte's own label on the Flyte project", err);
    }
    return 0;
}

static int validate_event(const ws_event *ev, int flyte_wanted, int placed, wf_err *err)
{
    const workspace *ws = &ev->ws;

    if (!names_is_dns1123_label(ws->workspace_id, WORKSPACE_ID_MAX)) {
        wf_err_set(err, WF_VALIDATION, "event.workspace_id",
                   "workspace.workspace_id \"%.80s\": must be a DNS-1123 label "
                   "([a-z0-9]([-a-z0-9]*[a-z0-9])?) of at most %d characters",
                   ws->workspace_id, WORKSPACE_ID_MAX);
        return -1;
    }
    if (ev->workspace_version < 0) {
        wf_err_set(err, WF_VALIDATION, "event.version", "workspace_version %lld: must be >= 0",
                   (long long)ev->workspace_version);
        return -1;
    }
    if (!flyte_wanted)
        return 0;
    if (strlen(ws->workspace_name) > WORKSPACE_NAME_MAX || !names_is_utf8(ws->workspace_name)) {
        wf_err_set(err, WF_VALIDATION, "event.workspace_name",
                   "workspace.workspace_name: must be UTF-8 of at most %d bytes",
                   WORKSPACE_NAME_MAX);
        return -1;
    }
    if (!names_is_bucket(ws->data_bucket)) {
        wf_err_set(err, WF_VALIDATION, "event.data_bucket",
                   "workspace.data_bucket \"%.80s\": not a valid S3 bucket name", ws->data_bucket);
        return -1;
    }
    if (validate_members(ws, err) != 0 || validate_labels(ws, placed, err) != 0)
        return -1;
    return ws->quota ? validate_quota(ws->quota, err) : 0;
}

/* ---- Flyte ---- */

/* The workspace name is display text only: control characters become
 * spaces and the whole is cut on a UTF-8 boundary to FlyteAdmin's limits. */
static json_t *build_project(const ws_event *ev, const char *cluster)
{
    const workspace *ws = &ev->ws;
    char version[32], *shown, *full = NULL, *name = NULL, *desc_full = NULL, *desc = NULL;
    json_t *p = NULL;

    snprintf(version, sizeof(version), "%lld", (long long)ev->workspace_version);
    if ((shown = names_display(ws->workspace_name)) == NULL)
        return NULL;
    if (asprintf(&full, "Flyte - %s", shown) < 0)
        full = NULL;
    if (asprintf(&desc_full, "Flyte project of workspace %s (%s), managed by wsflyte",
                 ws->workspace_id, shown) < 0)
        desc_full = NULL;
    if (full && desc_full) {
        name = names_truncate_utf8(full, PROJECT_NAME_MAX);
        desc = names_truncate_utf8(desc_full, PROJECT_DESC_MAX);
    }
    if (name && desc) {
        json_t *own = json_pack("{s:s, s:s}", FLYTE_LABEL_MANAGED, MANAGER_NAME,
                                FLYTE_LABEL_VERSION, version);
        if (own && cluster && json_object_set_new(own, FLYTE_LABEL_CLUSTER, json_string(cluster)))
            own = (json_decref(own), NULL);
        p = json_pack("{s:s, s:s, s:s, s:{s:o}, s:s}", "id", ws->workspace_id, "name", name,
                      "description", desc, "labels", "values", workspace_labels(ws, own), "state",
                      "ACTIVE");
    }
    free(shown);
    free(full);
    free(desc_full);
    free(name);
    free(desc);
    return p;
}

/* {"key": key, "value": value} of a Flyte envs entry. */
static json_t *env_entry(const char *key, const char *value)
{
    return with(with(json_object(), "key", json_string_nocheck(key)), "value", json_string(value));
}

/* {key: v} (v stolen). */
static json_t *object_of(const char *key, json_t *v)
{
    return with(json_object(), key, v);
}

static json_t *build_domain_attributes(const workspace *ws, const char *domain)
{
    char prefix[256];
    json_t *envs = json_array(), *wec;

    snprintf(prefix, sizeof(prefix), "s3://%s/flyte/%s", ws->data_bucket, domain);
    if (append(envs, env_entry("WORKSPACE_ID", ws->workspace_id)) != 0 ||
        append(envs, env_entry("WORKSPACE_DATA_BUCKET", ws->data_bucket)) != 0) {
        json_decref(envs);
        envs = NULL;
    }
    wec = object_of(
        "security_context",
        object_of("run_as", object_of("k8s_service_account", json_string_nocheck(RUNNER_SA))));
    wec = with(wec, "raw_output_data_config",
               object_of("output_location_prefix", json_string(prefix)));
    wec = with(wec, "labels",
               object_of("values", object_of("workspace-id", json_string(ws->workspace_id))));
    wec = with(wec, "envs", object_of("values", envs));
    return with(with(with(json_object(), "project", json_string(ws->workspace_id)), "domain",
                     json_string(domain)),
                "matching_attributes", object_of("workflow_execution_config", wec));
}

/* Flyte's choice of execution cluster for the project-domain
 * (MatchingAttributes.execution_cluster_label): FlyteAdmin's
 * clusters.labelClusterMap maps the label to the cluster. */
static json_t *build_cluster_attributes(const workspace *ws, const char *domain,
                                        const char *cluster)
{
    return json_pack("{s:s, s:s, s:{s:{s:s}}}", "project", ws->workspace_id, "domain", domain,
                     "matching_attributes", "execution_cluster_label", "value", cluster);
}

/* ---- Kubernetes ---- */

/* The workspace's labels are on its namespaces for cost allocation and
 * policy engines; a label dropped from the workspace is dropped by the
 * next apply, which no longer lists it. */
static json_t *build_namespace(const ws_event *ev, const char *ns, const char *domain)
{
    char version[32];
    json_t *meta = with_label(metadata(ns, NULL, ev->ws.workspace_id), LABEL_DOMAIN, domain);

    if (meta)
        meta = with(meta, "labels",
                    workspace_labels(&ev->ws, json_incref(json_object_get(meta, "labels"))));

    snprintf(version, sizeof(version), "%lld", (long long)ev->workspace_version);
    meta = with(meta, "annotations", object_of(ANNOTATION_VERSION, json_string_nocheck(version)));
    return manifest("v1", "Namespace", meta);
}

/* The quota as the event (or the contract's default) gives it. */
static void quota_given(const ws_quota *q, quota_text out)
{
    const char *text[N_QUOTA_FIELDS] = {NULL};

    if (q) {
        text[0] = q->requests_cpu;
        text[1] = q->requests_memory;
        text[2] = q->limits_cpu;
        text[3] = q->limits_memory;
    }
    for (size_t i = 0; i < N_QUOTA_FIELDS; i++)
        snprintf(out[i], QUOTA_TEXT_MAX, "%s", text[i] ? text[i] : quota_fields[i].def);
    if (q) {
        snprintf(out[4], QUOTA_TEXT_MAX, "%lld", (long long)q->pods);
        snprintf(out[5], QUOTA_TEXT_MAX, "%lld", (long long)q->persistent_volume_claims);
    }
}

static int quota_weight_sum(const wf_config *cfg)
{
    int sum = 0;

    for (size_t i = 0; i < cfg->flyte.n_domains; i++)
        sum += wf_config_quota_weight(cfg, cfg->flyte.domains[i]);
    return sum;
}

/* Replaces value (a workspace total) with domain's share of it, rounded
 * down to whole millicores, bytes or counts. */
static int quota_share(const wf_config *cfg, const char *domain, size_t i, char *value, wf_err *err)
{
    int64_t total, weight = wf_config_quota_weight(cfg, domain), sum = quota_weight_sum(cfg);
    char why[64];

    if (weight <= 0 || sum <= 0) { /* the configuration check rules this out */
        wf_err_set(err, WF_PERMANENT, "config.quota_split",
                   "kubernetes.quota_split has no weight for domain %s", domain);
        return -1;
    }
    if (quantity_parse_milli(value, &total, why, sizeof(why)) != 0) {
        wf_err_set(err, WF_VALIDATION, "event.quota",
                   "workspace.quota.%s \"%s\": %s; too large to split across the domains "
                   "(kubernetes.quota_scope workspace)",
                   quota_fields[i].field, value, why);
        return -1;
    }
    if (quota_fields[i].kind == Q_CPU)
        quantity_format_cpu(quantity_share(total, weight, sum), value, QUOTA_TEXT_MAX);
    else if (quota_fields[i].kind == Q_BYTES)
        quantity_format_bytes(quantity_share(total, weight, sum) / 1000, value, QUOTA_TEXT_MAX);
    else
        snprintf(value, QUOTA_TEXT_MAX, "%lld",
                 (long long)quantity_share(total / 1000, weight, sum));
    return 0;
}

/* A namespace name the template renders must be a DNS-1123 label. */
static int check_namespace_name(const char *ns, wf_err *err)
{
    if (names_is_dns1123_label(ns, 63))
        return 0;
    wf_err_set(err, WF_VALIDATION, "event.namespace",
               "namespace \"%.80s\" from kubernetes.namespace_template is not a DNS-1123 "
               "label of at most 63 characters",
               ns);
    return -1;
}

/* The hard limits of domain's ResourceQuota: the whole quota in every
 * namespace (quota_scope namespace), or the domain's share of it as the
 * workspace's total (quota_scope workspace). */
static int quota_hard(const wf_config *cfg, const workspace *ws, const char *domain, quota_text out,
                      wf_err *err)
{
    quota_given(ws->quota, out);
    if (cfg->kubernetes.quota_scope != WF_QUOTA_WORKSPACE)
        return 0;
    for (size_t i = 0; i < N_QUOTA_FIELDS; i++)
        if (quota_share(cfg, domain, i, out[i], err) != 0)
            return -1;
    return 0;
}

static json_t *build_quota(const char *ns, quota_text hard, const shared_parts *sp)
{
    json_t *o = manifest("v1", "ResourceQuota", metadata_shared("workspace-quota", ns, sp));
    json_t *h = json_object();

    for (size_t i = 0; h && i < N_QUOTA_FIELDS; i++) {
        if (json_object_set_new(h, quota_fields[i].hard, json_string(hard[i])) != 0) {
            json_decref(h);
            h = NULL;
        }
    }
    return with(o, "spec", h ? object_of("hard", h) : NULL);
}

/* Containers that declare no resources get these, so that a quota on
 * limits.cpu and limits.memory does not make the API server refuse them
 * (many Flyte tasks start that way). */
static json_t *limit_spec(const wf_config *cfg)
{
    return json_pack("{s:[{s:s, s:{s:s, s:s}, s:{s:s, s:s}}]}", "limits", "type", "Container",
                     "default", "cpu", cfg->kubernetes.limit_default_cpu, "memory",
                     cfg->kubernetes.limit_default_memory, "defaultRequest", "cpu",
                     cfg->kubernetes.limit_default_request_cpu, "memory",
                     cfg->kubernetes.limit_default_request_memory);
}

static json_t *build_limit_range(const char *ns, const shared_parts *sp)
{
    json_t *o = manifest("v1", "LimitRange", metadata_shared("workspace-defaults", ns, sp));

    return with(o, "spec", json_incref(sp->limit_spec));
}

/* Peers are selected by kubernetes.io/metadata.name, which the API server
 * sets and tenants cannot forge; DNS is allowed explicitly. */
static json_t *policy_spec(const wf_config *cfg)
{
    const char *sys = cfg->kubernetes.system_namespace;

    return json_pack(
        "{s:{}, s:[s,s],"
        " s:[{s:[{s:{}}, {s:{s:{s:s}}}]}],"
        " s:[{s:[{s:{}}, {s:{s:{s:s}}}]},"
        "    {s:[{s:{s:{s:s}}, s:{s:{s:s}}}], s:[{s:s, s:i}, {s:s, s:i}]},"
        "    {s:[{s:s, s:i}]}]}",
        "podSelector", "policyTypes", "Ingress", "Egress", "ingress", "from", "podSelector",
        "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name", sys, "egress", "to",
        "podSelector", "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name", sys, "to",
        "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name", "kube-system",
        "podSelector", "matchLabels", "k8s-app", "kube-dns", "ports", "protocol", "UDP", "port", 53,
        "protocol", "TCP", "port", 53, "ports", "protocol", "TCP", "port", 443);
}

static json_t *build_network_policy(const char *ns, const shared_parts *sp)
{
    json_t *o = manifest("networking.k8s.io/v1", "NetworkPolicy",
                         metadata_shared("workspace-isolation", ns, sp));

    return with(o, "spec", json_incref(sp->policy_spec));
}

/* IAM role names are at most 64 characters; a longer rendered name keeps
 * its start and gets a hash of the whole name, so it stays unique. */
static char *iam_role_name(const wf_config *cfg, const char *project)
{
    char *name = names_render_template(cfg->aws.role_name_template, project, NULL);
    char hash[9];

    if (name == NULL || strlen(name) <= IAM_ROLE_NAME_MAX)
        return name;
    names_hash_hex(name, 4, hash);
    name[IAM_ROLE_NAME_MAX - 9] = '-';
    memcpy(name + IAM_ROLE_NAME_MAX - 8, hash, 9);
    return name;
}

static json_t *runner_annotations(const wf_config *cfg, const char *workspace_id)
{
    char *role = iam_role_name(cfg, workspace_id);
    char arn[256];

    if (role == NULL)
        return NULL;
    snprintf(arn, sizeof(arn), "arn:aws:iam::%s:role/%s", cfg->aws.account_id, role);
    free(role);
    return json_pack("{s:s}", "eks.amazonaws.com/role-arn", arn);
}

static json_t *build_service_account(const char *ns, const shared_parts *sp)
{
    json_t *meta = with(metadata_shared(RUNNER_SA, ns, sp), "annotations",
                        json_incref(sp->runner_annotations));
    return manifest("v1", "ServiceAccount", meta);
}

/* A Role's rules, as data: {apiGroups: [group], resources, verbs}. */
typedef struct rule_spec {
    const char *group;
    const char *const *resources; /* NULL-terminated */
    const char *const *verbs;
} rule_spec;

static const char *const verbs_rw[] = {"get",    "list",  "watch",  "create",
                                       "update", "patch", "delete", NULL};
static const char *const verbs_ro[] = {"get", "list", "watch", NULL};
static const char *const verbs_create[] = {"get", "list", "watch", "create", NULL};
static const char *const res_owner[] = {"pods", "configmaps", "secrets", "services", NULL};
static const char *const res_contributor[] = {"pods", "configmaps", NULL};
static const char *const res_viewer[] = {"pods", "pods/log", "events", NULL};
static const char *const res_logs[] = {"pods/log", "events", NULL};
static const char *const res_jobs[] = {"jobs", NULL};
static const char *const res_flyte[] = {"flyteworkflows", NULL};

static const rule_spec owner_rules[] = {{"", res_owner, verbs_rw},
                                        {"", res_logs, verbs_ro},
                                        {"batch", res_jobs, verbs_rw},
                                        {"flyte.lyft.com", res_flyte, verbs_ro},
                                        {NULL, NULL, NULL}};
static const rule_spec contributor_rules[] = {{"", res_contributor, verbs_create},
                                              {"", res_logs, verbs_ro},
                                              {"batch", res_jobs, verbs_create},
                                              {"flyte.lyft.com", res_flyte, verbs_ro},
                                              {NULL, NULL, NULL}};
static const rule_spec viewer_rules[] = {{"", res_viewer, verbs_ro},
                                         {"batch", res_jobs, verbs_ro},
                                         {"flyte.lyft.com", res_flyte, verbs_ro},
                                         {NULL, NULL, NULL}};
static const rule_spec *const role_rule_specs[WS_ROLE_COUNT] = {
    [WS_ROLE_OWNER] = owner_rules,
    [WS_ROLE_CONTRIBUTOR] = contributor_rules,
    [WS_ROLE_VIEWER] = viewer_rules,
};

/* A JSON array of the literals v (NULL-terminated). */
static json_t *literals(const char *const *v)
{
    json_t *a = json_array();

    for (size_t i = 0; a && v[i]; i++)
        if (append(a, json_string_nocheck(v[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

static json_t *role_rules(ws_role r)
{
    json_t *rules = json_array();

    for (const rule_spec *x = role_rule_specs[r]; rules && x->resources; x++) {
        const char *group[] = {x->group, NULL};
        json_t *rule = with(json_object(), "apiGroups", literals(group));
        rule = with(with(rule, "resources", literals(x->resources)), "verbs", literals(x->verbs));
        if (append(rules, rule) != 0) {
            json_decref(rules);
            rules = NULL;
        }
    }
    return rules;
}

static json_t *build_role(const char *ns, const role_spec *r, const shared_parts *sp)
{
    json_t *o =
        manifest("rbac.authorization.k8s.io/v1", "Role", metadata_shared(r->k8s_role, ns, sp));
    return with(o, "rules", json_incref(sp->rules[r->role]));
}

static json_t *role_ref(const role_spec *r)
{
    json_t *o = with(json_object(), "apiGroup", json_string_nocheck("rbac.authorization.k8s.io"));
    return with(with(o, "kind", json_string_nocheck("Role")), "name", json_string(r->k8s_role));
}

/* The role is part of the name because roleRef is immutable: a role change
 * creates a new binding and prunes the old one. */
static json_t *build_binding(const workspace *ws, const char *ns, size_t i, const role_spec *r,
                             const shared_parts *sp)
{
    const ws_member *m = &ws->members[i];
    char name[128];
    json_t *meta, *o, *subject, *subjects;

    snprintf(name, sizeof(name), "%s-%s", r->k8s_role, sp->user_key[i]);
    meta = with_label(metadata(name, ns, ws->workspace_id), LABEL_MEMBER, sp->member_hash[i]);
    meta = with_label(meta, LABEL_ROLE, ws_role_name(r->role));
    o = manifest("rbac.authorization.k8s.io/v1", "RoleBinding", meta);
    subject = with(with(json_object(), "kind", json_string_nocheck("User")), "apiGroup",
                   json_string_nocheck("rbac.authorization.k8s.io"));
    subject = with(subject, "name", json_string(m->user_id));
    subjects = json_array();
    if (append(subjects, subject) != 0) {
        json_decref(subjects);
        subjects = NULL;
    }
    o = with(o, "subjects", subjects);
    return with(o, "roleRef", json_incref(sp->role_ref[r->role]));
}

typedef struct member_at {
    const ws_member *m;
    size_t i;
} member_at;

static int by_id_role_index(const void *a, const void *b)
{
    const member_at *x = a, *y = b;
    int c = strcmp(x->m->user_id, y->m->user_id);

    if (c != 0)
        return c;
    if (x->m->role != y->m->role)
        return x->m->role < y->m->role ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Which members count (a malloc'd flag per member, or NULL when out of
 * memory): a member listed twice keeps the most privileged role (owner <
 * contributor < viewer in enum order), the first listed among equals.
 * Sorting makes this O(n log n): a large workspace's members are many. */
static unsigned char *effective_members(const workspace *ws)
{
    size_t n = ws->n_members;
    member_at *at = calloc(n ? n : 1, sizeof(*at));
    unsigned char *keep = calloc(n ? n : 1, 1);

    if (at == NULL || keep == NULL) {
        free(at);
        free(keep);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        at[i] = (member_at){&ws->members[i], i};
    qsort(at, n, sizeof(*at), by_id_role_index);
    for (size_t i = 0; i < n; i++)
        keep[at[i].i] = i == 0 || strcmp(at[i - 1].m->user_id, at[i].m->user_id) != 0;
    free(at);
    return keep;
}

static int oom(wf_err *err)
{
    wf_err_set(err, WF_INTERNAL, "oom", "desired state: out of memory");
    return -1;
}

static void shared_parts_fini(shared_parts *sp)
{
    json_decref(sp->labels);
    for (size_t r = 0; r < WS_ROLE_COUNT; r++) {
        json_decref(sp->rules[r]);
        json_decref(sp->role_ref[r]);
    }
    json_decref(sp->limit_spec);
    json_decref(sp->policy_spec);
    json_decref(sp->runner_annotations);
    free(sp->user_key);
    free(sp->member_hash);
    free(sp->effective);
}

/* Returns 0, or -1 out of memory (sp then holds what was built). */
static int shared_parts_init(shared_parts *sp, const wf_config *cfg, const workspace *ws)
{
    const char *workspace_id = ws->workspace_id;
    size_t n = ws->n_members ? ws->n_members : 1;
    int rc = 0;

    memset(sp, 0, sizeof(*sp));
    sp->user_key = calloc(n, sizeof(*sp->user_key));
    sp->member_hash = calloc(n, sizeof(*sp->member_hash));
    sp->effective = effective_members(ws);
    if (sp->user_key == NULL || sp->member_hash == NULL || sp->effective == NULL)
        return -1;
    for (size_t i = 0; i < ws->n_members; i++) {
        names_user_key(ws->members[i].user_id, sp->user_key[i]);
        names_hash_hex(ws->members[i].user_id, 8, sp->member_hash[i]);
    }
    rc |= (sp->labels = labels_for(workspace_id)) == NULL;
    for (size_t r = 0; r < WS_ROLE_COUNT; r++) {
        rc |= (sp->rules[r] = role_rules(roles[r].role)) == NULL;
        rc |= (sp->role_ref[r] = role_ref(&roles[r])) == NULL;
    }
    rc |= (sp->limit_spec = limit_spec(cfg)) == NULL;
    rc |= (sp->policy_spec = policy_spec(cfg)) == NULL;
    rc |= (sp->runner_annotations = runner_annotations(cfg, workspace_id)) == NULL;
    return rc ? -1 : 0;
}

static int build_domain(const wf_config *cfg, const ws_event *ev, const char *domain,
                        const char *cluster, const shared_parts *sp, desired_domain *dd,
                        wf_err *err)
{
    const workspace *ws = &ev->ws;
    quota_text hard;
    int rc = 0;

    if (quota_hard(cfg, ws, domain, hard, err) != 0)
        return -1;
    dd->domain = strdup(domain);
    dd->namespace_name =
        names_render_template(cfg->kubernetes.namespace_template, ws->workspace_id, domain);
    if (dd->domain == NULL || dd->namespace_name == NULL)
        return oom(err);
    if (check_namespace_name(dd->namespace_name, err) != 0)
        return -1;
    dd->attributes = build_domain_attributes(ws, domain);
    dd->objects = json_array();
    dd->bindings = json_array();
    if (dd->attributes == NULL || dd->bindings == NULL)
        return oom(err);
    if (cluster && (dd->cluster_attributes = build_cluster_attributes(ws, domain, cluster)) == NULL)
        return oom(err);
    rc |= append(dd->objects, build_namespace(ev, dd->namespace_name, domain));
    rc |= append(dd->objects, build_quota(dd->namespace_name, hard, sp));
    rc |= append(dd->objects, build_limit_range(dd->namespace_name, sp));
    rc |= append(dd->objects, build_network_policy(dd->namespace_name, sp));
    rc |= append(dd->objects, build_service_account(dd->namespace_name, sp));
    for (size_t r = 0; r < WS_ROLE_COUNT; r++)
        rc |= append(dd->objects, build_role(dd->namespace_name, &roles[r], sp));
    for (size_t i = 0; rc == 0 && i < ws->n_members; i++) {
        const ws_member *m = &ws->members[i];
        if (!sp->effective[i] || !role_allows_domain(&roles[m->role], domain))
            continue;
        json_t *b = build_binding(ws, dd->namespace_name, i, &roles[m->role], sp);
        json_t *name = json_object_get(json_object_get(b, "metadata"), "name");
        rc |= b == NULL || json_array_append(dd->bindings, name) != 0;
        rc |= append(dd->objects, b);
    }
    return rc == 0 ? 0 : oom(err);
}

/* The authz document is written as text with its keys in byte order (the
 * order json_dumps with JSON_SORT_KEYS gave it before), piece by piece:
 * a tree of it cost more to build and free than the text. */
static void put_lit(jsonout_buf *b, const char *s)
{
    jsonout_raw(b, s, strlen(s));
}

static void put_text(jsonout_buf *b, const char *s)
{
    jsonout_string(b, s, s ? strlen(s) : 0);
}

/* {"domains": [...], "email", "permissions": [...], "role"}. */
static void member_permissions(jsonout_buf *b, const wf_config *cfg, const role_spec *r,
                               const char *email)
{
    int first = 1;

    put_lit(b, "{\"domains\":[");
    for (size_t i = 0; i < cfg->flyte.n_domains; i++)
        if (role_allows_domain(r, cfg->flyte.domains[i])) {
            if (!first)
                put_lit(b, ",");
            first = 0;
            put_text(b, cfg->flyte.domains[i]);
        }
    put_lit(b, "],\"email\":");
    put_text(b, email);
    put_lit(b, ",\"permissions\":[");
    for (size_t i = 0; r->permissions[i]; i++) {
        if (i > 0)
            put_lit(b, ",");
        put_text(b, r->permissions[i]);
    }
    put_lit(b, "],\"role\":");
    put_text(b, ws_role_name(r->role));
    put_lit(b, "}");
}

static int by_user_id(const void *a, const void *b)
{
    return strcmp((*(const ws_member *const *)a)->user_id, (*(const ws_member *const *)b)->user_id);
}

/* The permission matrix's text: {"members": {user id: entry, ...} in byte
 * order of the ids, "project", "workspace_id", "workspace_version"}; NULL
 * when out of memory. */
static char *authz_text(const wf_config *cfg, const ws_event *ev, size_t *len)
{
    const workspace *ws = &ev->ws;
    const ws_member **sorted = calloc(ws->n_members ? ws->n_members : 1, sizeof(*sorted));
    unsigned char *keep = effective_members(ws);
    jsonout_buf b = {0};
    size_t n = 0;

    b.failed = sorted == NULL || keep == NULL;
    for (size_t i = 0; !b.failed && i < ws->n_members; i++)
        if (keep[i])
            sorted[n++] = &ws->members[i];
    if (n > 1)
        qsort(sorted, n, sizeof(*sorted), by_user_id);
    put_lit(&b, "{\"members\":{");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            put_lit(&b, ",");
        put_text(&b, sorted[i]->user_id);
        put_lit(&b, ":");
        member_permissions(&b, cfg, &roles[sorted[i]->role], sorted[i]->email);
    }
    put_lit(&b, "},\"project\":");
    put_text(&b, ws->workspace_id);
    put_lit(&b, ",\"workspace_id\":");
    put_text(&b, ws->workspace_id);
    put_lit(&b, ",\"workspace_version\":");
    jsonout_integer(&b, (json_int_t)ev->workspace_version);
    put_lit(&b, "}");
    free(sorted);
    free(keep);
    return jsonout_finish(&b, len);
}

/* The permission matrix for the authorization proxy in front of FlyteAdmin;
 * kube-mgmt loads each key of the ConfigMap as one JSON object.  The API
 * server refuses a ConfigMap whose data (keys and values) exceeds 1 MiB, so
 * a matrix larger than that is refused here, before anything is written:
 * the member limit is what fits (README, "Members").  Returns 0 with *out,
 * or -1 with err set. */
static int build_authz_configmap(const wf_config *cfg, const ws_event *ev, json_t **out,
                                 wf_err *err)
{
    const workspace *ws = &ev->ws;
    char name[128], *text;
    size_t len = 0;
    json_t *meta;

    *out = NULL;
    /* jsonout, unlike json_dumps, never drops a key when memory runs out. */
    if ((text = authz_text(cfg, ev, &len)) == NULL)
        return oom(err);
    if (len + strlen(AUTHZ_KEY) > CONFIGMAP_DATA_MAX) {
        free(text);
        wf_err_set(err, WF_VALIDATION, "event.limit",
                   "workspace.members: the permission matrix of %zu members is %zu bytes, more "
                   "than the %d bytes a ConfigMap (wsflyte-authz-%s) holds; wsflyte provisions "
                   "as many members as fit: about 2,700 with ids and emails of 40 characters "
                   "(1,800 owners, 4,300 viewers), at least 950",
                   ws->n_members, len + strlen(AUTHZ_KEY), CONFIGMAP_DATA_MAX, ws->workspace_id);
        return -1;
    }
    snprintf(name, sizeof(name), "wsflyte-authz-%s", ws->workspace_id);
    meta = with_label(metadata(name, cfg->flyte.authz_namespace, ws->workspace_id),
                      "openpolicyagent.org/data", "opa");
    /* jsonout checked every string's UTF-8: the text needs no check. */
    *out = with(manifest("v1", "ConfigMap", meta), "data",
                object_of(AUTHZ_KEY, json_stringn_nocheck(text, len)));
    free(text);
    return *out ? 0 : oom(err);
}

/* The ACK Policy: get/put/delete/list on the data bucket only.  Its IAM
 * name is the whole role name plus "-data": role names are unique (a long
 * one ends in a hash of the full name) and at most 64 characters, and IAM
 * allows 128 for policy names, so nothing is cut and no two workspaces
 * share a policy. */
static json_t *build_ack_policy(const wf_config *cfg, const workspace *ws, const char *role,
                                const char *object)
{
    char policy_name[IAM_ROLE_NAME_MAX + 8], b1[128], b2[128], *text;
    json_t *doc, *o;

    snprintf(policy_name, sizeof(policy_name), "%s-data", role);
    snprintf(b1, sizeof(b1), "arn:aws:s3:::%s", ws->data_bucket);
    snprintf(b2, sizeof(b2), "arn:aws:s3:::%s/*", ws->data_bucket);
    doc = json_pack("{s:s, s:[{s:s, s:[s,s,s,s], s:[s,s]}]}", "Version", "2012-10-17", "Statement",
                    "Effect", "Allow", "Action", "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                    "s3:ListBucket", "Resource", b1, b2);
    text = dumps_checked(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return NULL;
    o = manifest("iam.services.k8s.aws/v1alpha1", "Policy",
                 metadata(object, cfg->flyte.authz_namespace, ws->workspace_id));
    o = with(o, "spec", json_pack("{s:s, s:s}", "name", policy_name, "policyDocument", text));
    free(text);
    return o;
}

/* The ACK Role: trusts the OIDC provider of the workspace's cluster (its
 * kubernetes.clusters entry's, else aws.oidc_provider) for exactly the
 * workspace's runner service accounts (IRSA, matching their
 * eks.amazonaws.com/role-arn annotation). */
static json_t *build_ack_role(const wf_config *cfg, const ws_event *ev, const desired *d,
                              const char *role, const char *object, const char *policy_object)
{
    const workspace *ws = &ev->ws;
    const char *oidc = d->cluster >= 0 && cfg->kubernetes.clusters[d->cluster].oidc_provider[0]
                           ? cfg->kubernetes.clusters[d->cluster].oidc_provider
                           : cfg->aws.oidc_provider;
    char provider[512], aud_key[512], sub_key[512], *text;
    json_t *doc, *o, *subjects = json_array();
    int rc = 0;

    for (size_t i = 0; i < d->n_domains; i++) {
        char sub[256];
        snprintf(sub, sizeof(sub), "system:serviceaccount:%s:%s", d->domains[i].namespace_name,
                 RUNNER_SA);
        rc |= append(subjects, json_string(sub));
    }
    if (rc != 0) {
        json_decref(subjects);
        return NULL;
    }
    snprintf(provider, sizeof(provider), "arn:aws:iam::%s:oidc-provider/%s", cfg->aws.account_id,
             oidc);
    snprintf(aud_key, sizeof(aud_key), "%s:aud", oidc);
    snprintf(sub_key, sizeof(sub_key), "%s:sub", oidc);
    doc = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:{s:{s:s, s:o}}}]}", "Version", "2012-10-17",
                    "Statement", "Effect", "Allow", "Principal", "Federated", provider, "Action",
                    "sts:AssumeRoleWithWebIdentity", "Condition", "StringEquals", aud_key,
                    "sts.amazonaws.com", sub_key, subjects);
    text = dumps_checked(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    if (text == NULL)
        return NULL;
    o = manifest("iam.services.k8s.aws/v1alpha1", "Role",
                 metadata(object, cfg->flyte.authz_namespace, ws->workspace_id));
    o = with(o, "spec",
             json_pack("{s:s, s:s, s:[{s:{s:s, s:s}}]}", "name", role, "assumeRolePolicyDocument",
                       text, "policyRefs", "from", "name", policy_object, "namespace",
                       cfg->flyte.authz_namespace));
    free(text);
    return o;
}

/* ACK IAM objects giving the runner service accounts the data bucket only.
 * The objects' metadata.name is derived from the workspace id, a DNS-1123
 * label, because IAM names (spec.name, from aws.role_name_template) may hold
 * capitals that Kubernetes refuses in object names.  No service account
 * other than the workspace's runners, in this cluster or another, can
 * assume the role.  Returns 0, or -1 out of memory. */
static int build_ack_objects(const wf_config *cfg, const ws_event *ev, const desired *d,
                             json_t *out)
{
    char *role = iam_role_name(cfg, ev->ws.workspace_id);
    char object[96], policy_object[96];
    int rc;

    if (role == NULL)
        return -1;
    snprintf(object, sizeof(object), "wsflyte-%s", ev->ws.workspace_id);
    snprintf(policy_object, sizeof(policy_object), "wsflyte-%s-data", ev->ws.workspace_id);
    rc = append(out, build_ack_policy(cfg, &ev->ws, role, policy_object));
    rc |= append(out, build_ack_role(cfg, ev, d, role, object, policy_object));
    free(role);
    return rc;
}

/* One desired.cleanup entry: an object wsflyte would have created, by name. */
static json_t *cleanup_entry(const char *api_version, const char *kind, const char *ns,
                             const char *name)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "apiVersion", api_version, "kind", kind, "name", name);
    return e && ns ? with(e, "namespace", json_string(ns)) : e;
}

/* The namespaces the template renders for the configured domains.  A name
 * that is not a DNS-1123 label cannot exist, so it is left out rather than
 * failing the removal of everything else. */
static int absent_namespaces(const wf_config *cfg, const char *id, json_t *cleanup)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < cfg->flyte.n_domains; i++) {
        char *ns =
            names_render_template(cfg->kubernetes.namespace_template, id, cfg->flyte.domains[i]);
        if (ns == NULL)
            return -1;
        if (names_is_dns1123_label(ns, 63))
            rc = append(cleanup, cleanup_entry("v1", "Namespace", NULL, ns));
        free(ns);
    }
    return rc;
}

/* Flyte absent: the project is archived (FlyteAdmin has no delete) with
 * the version recorded, so that no stale event brings it back; the
 * namespaces (and with them everything inside), the authz ConfigMap and
 * the ACK objects are looked up and deleted by the names wsflyte renders
 * for the workspace, never found by label. */
static int build_absent(const wf_config *cfg, const ws_event *ev, desired *d)
{
    const char *id = ev->ws.workspace_id, *authz = cfg->flyte.authz_namespace;
    char version[32], name[128];
    int rc;

    snprintf(version, sizeof(version), "%lld", (long long)ev->workspace_version);
    d->archive =
        json_pack("{s:s, s:s, s:{s:{s:s, s:s}}}", "id", id, "state", "ARCHIVED", "labels", "values",
                  FLYTE_LABEL_MANAGED, MANAGER_NAME, FLYTE_LABEL_VERSION, version);
    d->cleanup = json_array();
    rc = d->archive && d->cleanup ? absent_namespaces(cfg, id, d->cleanup) : -1;
    snprintf(name, sizeof(name), "wsflyte-authz-%s", id);
    rc |= append(d->cleanup, cleanup_entry("v1", "ConfigMap", authz, name));
    if (cfg->aws.ack_enabled) {
        snprintf(name, sizeof(name), "wsflyte-%s", id);
        rc |=
            append(d->cleanup, cleanup_entry("iam.services.k8s.aws/v1alpha1", "Role", authz, name));
        snprintf(name, sizeof(name), "wsflyte-%s-data", id);
        rc |= append(d->cleanup,
                     cleanup_entry("iam.services.k8s.aws/v1alpha1", "Policy", authz, name));
    }
    return rc;
}

static int build_domains(const wf_config *cfg, const ws_event *ev, desired *d, wf_err *err)
{
    const char *cluster = d->cluster >= 0 ? cfg->kubernetes.clusters[d->cluster].name : NULL;
    shared_parts sp;
    int rc = shared_parts_init(&sp, cfg, &ev->ws) == 0 ? 0 : oom(err);

    for (size_t i = 0; rc == 0 && i < d->n_domains; i++)
        rc = build_domain(cfg, ev, cfg->flyte.domains[i], cluster, &sp, &d->domains[i], err);
    shared_parts_fini(&sp);
    return rc;
}

int desired_build(const wf_config *cfg, const ws_event *ev, desired *d, wf_err *err)
{
    return desired_build_on(cfg, ev, -1, d, err);
}

int desired_build_on(const wf_config *cfg, const ws_event *ev, int cluster, desired *d, wf_err *err)
{
    json_t *authz;

    memset(d, 0, sizeof(*d));
    d->cluster = cfg->kubernetes.n_clusters > 0 && cluster >= 0 &&
                         (size_t)cluster < cfg->kubernetes.n_clusters
                     ? cluster
                     : -1;
    d->flyte_wanted = ev->type != WS_WORKSPACE_DELETED && workspace_has_service(&ev->ws, "flyte");
    if (validate_event(ev, d->flyte_wanted, cfg->kubernetes.n_clusters > 0, err) != 0)
        return -1;
    d->project_id = strdup(ev->ws.workspace_id);
    if (d->project_id == NULL)
        return oom(err);
    if (!d->flyte_wanted)
        return build_absent(cfg, ev, d) == 0 ? 0 : oom(err);
    d->project =
        build_project(ev, d->cluster >= 0 ? cfg->kubernetes.clusters[d->cluster].name : NULL);
    d->domains = calloc(cfg->flyte.n_domains, sizeof(*d->domains));
    if (d->project == NULL || d->domains == NULL)
        return oom(err);
    d->n_domains = cfg->flyte.n_domains;
    if (build_domains(cfg, ev, d, err) != 0)
        return -1;
    d->cluster_objects = json_array();
    if (d->cluster_objects == NULL)
        return oom(err);
    if (build_authz_configmap(cfg, ev, &authz, err) != 0)
        return -1;
    if (append(d->cluster_objects, authz) != 0 ||
        (cfg->aws.ack_enabled && build_ack_objects(cfg, ev, d, d->cluster_objects) != 0))
        return oom(err);
    if (asprintf(&d->console_url, "%s/projects/%s/domains/%s/executions", cfg->flyte.console_url,
                 ev->ws.workspace_id, cfg->flyte.domains[0]) < 0) {
        d->console_url = NULL;
        return oom(err);
    }
    return 0;
}

/* With kubernetes.clusters, a placement label must name a configured
 * cluster: decided without a server, like the rest of desired_check. */
static int placement_check(const wf_config *cfg, const ws_event *ev, wf_err *err)
{
    placement_in in = {cfg->kubernetes.clusters,
                       cfg->kubernetes.n_clusters,
                       cfg->kubernetes.placement_label,
                       ev->ws.labels,
                       ev->ws.n_labels,
                       NULL,
                       cfg->kubernetes.placement_default,
                       ev->ws.workspace_id};
    placement out;

    if (cfg->kubernetes.n_clusters == 0)
        return 0;
    return placement_choose(&in, &out, err);
}

int desired_check(const wf_config *cfg, const ws_event *ev, wf_err *err)
{
    int flyte_wanted = ev->type != WS_WORKSPACE_DELETED && workspace_has_service(&ev->ws, "flyte");
    quota_text hard;

    if (validate_event(ev, flyte_wanted, cfg->kubernetes.n_clusters > 0, err) != 0 ||
        (flyte_wanted && placement_check(cfg, ev, err) != 0))
        return -1;
    for (size_t i = 0; flyte_wanted && i < cfg->flyte.n_domains; i++) {
        const char *domain = cfg->flyte.domains[i];
        char *ns =
            names_render_template(cfg->kubernetes.namespace_template, ev->ws.workspace_id, domain);
        int rc;

        if (ns == NULL)
            return oom(err);
        rc = check_namespace_name(ns, err);
        free(ns);
        if (rc != 0 || quota_hard(cfg, &ev->ws, domain, hard, err) != 0)
            return -1;
    }
    /* The permission matrix must fit its ConfigMap: only rendering it
     * tells (the README's member limit). */
    if (flyte_wanted) {
        json_t *authz = NULL;
        int rc = build_authz_configmap(cfg, ev, &authz, err);

        json_decref(authz);
        if (rc != 0)
            return -1;
    }
    return 0;
}

void desired_fini(desired *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n_domains; i++) {
        free(d->domains[i].domain);
        free(d->domains[i].namespace_name);
        json_decref(d->domains[i].attributes);
        json_decref(d->domains[i].cluster_attributes);
        json_decref(d->domains[i].objects);
        json_decref(d->domains[i].bindings);
    }
    free(d->domains);
    free(d->project_id);
    json_decref(d->project);
    json_decref(d->cluster_objects);
    free(d->console_url);
    json_decref(d->archive);
    json_decref(d->cleanup);
    memset(d, 0, sizeof(*d));
}

void desired_digest(const desired *d, char *out)
{
    json_t *doc =
        json_pack("{s:b, s:s, s:O*, s:O*, s:s*, s:O*, s:O*, s:[]}", "flyte_wanted", d->flyte_wanted,
                  "project_id", d->project_id ? d->project_id : "", "project", d->project,
                  "cluster_objects", d->cluster_objects, "console_url", d->console_url, "archive",
                  d->archive, "cleanup", d->cleanup, "domains");
    json_t *domains = json_object_get(doc, "domains");
    char *text;

    for (size_t i = 0; doc && i < d->n_domains; i++) {
        json_t *dom =
            json_pack("{s:s, s:O, s:O}", "namespace", d->domains[i].namespace_name, "attributes",
                      d->domains[i].attributes, "objects", d->domains[i].objects);
        /* Only with a cluster: a single-cluster digest stays what it was. */
        if (dom && d->domains[i].cluster_attributes)
            json_object_set(dom, "cluster_attributes", d->domains[i].cluster_attributes);
        json_array_append_new(domains, dom);
    }
    text = dumps_checked(doc, JSON_COMPACT | JSON_SORT_KEYS);
    /* Without a text the digest matches nothing a successful apply stored. */
    names_hash_hex(text ? text : "", DESIRED_DIGEST_LEN / 2, out);
    if (text == NULL)
        out[0] = '!';
    free(text);
    json_decref(doc);
}

void desired_member_selector(const char *workspace_id, char *buf, size_t len)
{
    snprintf(buf, len, "%s=%s,%s=%s,%s", LABEL_MANAGED_BY, MANAGER_NAME, LABEL_WORKSPACE,
             workspace_id, LABEL_MEMBER);
}

int desired_is_binding_name(const char *name)
{
    for (size_t r = 0; r < WS_ROLE_COUNT; r++) {
        size_t n = strlen(roles[r].k8s_role);
        if (strncmp(name, roles[r].k8s_role, n) == 0 && name[n] == '-')
            return names_is_user_key(name + n + 1);
    }
    return 0;
}

/* ---- what the objects themselves record ---- */

long long desired_parse_version(const char *v)
{
    char *end;
    long long n;

    if (v == NULL || *v == '\0')
        return -1;
    errno = 0;
    n = strtoll(v, &end, 10);
    return (errno || *end || n < 0) ? -1 : n;
}

long long desired_recorded_version(const json_t *project)
{
    return project ? desired_parse_version(flyte_project_label(project, FLYTE_LABEL_VERSION)) : -1;
}

int desired_project_is_ours(const json_t *project)
{
    const char *m = flyte_project_label(project, FLYTE_LABEL_MANAGED);
    return m && strcmp(m, MANAGER_NAME) == 0;
}

int desired_project_archived(const json_t *project)
{
    return flyte_project_archived(project);
}

static const char *label_of(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"), key));
}

int desired_object_is_ours(const json_t *obj, const char *workspace_id)
{
    const char *managed = label_of(obj, LABEL_MANAGED_BY), *ws = label_of(obj, LABEL_WORKSPACE);
    return managed && ws && strcmp(managed, MANAGER_NAME) == 0 && strcmp(ws, workspace_id) == 0;
}
