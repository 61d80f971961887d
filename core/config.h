/* config: wsflyte's configuration (CONTRACT.md §5).
 *
 * Loaded from YAML with libyaml; every key may be overridden by an
 * environment variable WSFLYTE_<SECTION>_<KEY> (upper case, nested keys
 * joined with '_', e.g. WSFLYTE_KAFKA_BOOTSTRAP_SERVERS,
 * WSFLYTE_FLYTE_AUTH_CLIENT_ID, WSFLYTE_AWS_ACK_ENABLED; lists as
 * comma-separated values; WSFLYTE_KAFKA_PROPERTIES_<NAME> sets the librdkafka
 * property <name> with '_' read as '.' and "__" as '_'; kubernetes.clusters,
 * a list of mappings, is read from the file only).  Any other WSFLYTE_*
 * variable within two edits of a real key is reported as a typo; others are
 * ignored (Kubernetes service links use the same prefix).  Loading collects every problem, one line
 * each:
 * "<file>:<line>:<col>: <key.path>: <problem>" or "env <VAR>: <key.path>:
 * <problem>", and fails if there is any.  Values of kafka.properties never
 * appear in messages. */
#ifndef WF_CONFIG_H
#define WF_CONFIG_H

#include <stddef.h>

#include "wf_err.h"

typedef struct wf_kv {
    char *key;
    char *value;
} wf_kv;

typedef enum wf_auth_type { WF_AUTH_NONE, WF_AUTH_CLIENT_CREDENTIALS } wf_auth_type;
typedef enum wf_log_format { WF_LOG_JSON, WF_LOG_TEXT } wf_log_format;
typedef enum wf_log_level { WF_LOG_DEBUG, WF_LOG_INFO, WF_LOG_WARN, WF_LOG_ERROR } wf_log_level;
/* kubernetes.quota_scope: the event's quota per namespace, or for the
 * whole workspace (split by kubernetes.quota_split). */
typedef enum wf_quota_scope { WF_QUOTA_NAMESPACE, WF_QUOTA_WORKSPACE } wf_quota_scope;

/* One entry of kubernetes.quota_split (as an env var or default:
 * "development=1,staging=1,production=2"). */
typedef struct wf_weight {
    char *name;
    int weight; /* 1..WF_WEIGHT_MAX */
} wf_weight;
#define WF_WEIGHT_MAX 1000

/* One entry of kubernetes.clusters: an execution cluster that holds the
 * namespaces of the workspaces placed on it.  api_url, token_file, ca_file,
 * qps and burst mean and are checked as their kubernetes.<key> namesakes,
 * oidc_provider as aws.oidc_provider. */
typedef struct wf_cluster {
    char *name;    /* DNS-1123 label, unique: the EXECUTION_CLUSTER_LABEL value */
    char *api_url; /* "" = in-cluster; "kubeconfig:PATH"; or a URL */
    char *token_file;
    char *ca_file;
    int qps; /* client-side pacing of this cluster's API server and its burst */
    int burst;
    int weight;          /* 0..WF_WEIGHT_MAX: share of the new workspaces; 0 = none */
    char *oidc_provider; /* its IAM OIDC issuer without https://, for IRSA trust */
} wf_cluster;
#define WF_CLUSTERS_MAX 64

typedef struct wf_config {
    struct {
        char *bootstrap_servers;
        char *group_id;
        char *topic_events;
        char *topic_results;
        wf_kv *properties; /* passed to librdkafka as is */
        size_t n_properties;
    } kafka;
    struct {
        char *directory;
        char *registry_url; /* "" = local id map */
        int auto_register;  /* register the result schema at start-up */
    } schemas;
    struct {
        char *format; /* "avro" | "json" */
    } results;
    struct {
        char *admin_url;
        char *console_url;
        char **domains;
        size_t n_domains;
        char *authz_namespace;
        char *ca_file; /* "" = system trust store */
        wf_auth_type auth_type;
        char *auth_client_id;
        char *auth_client_secret_file;
        char **auth_scopes;
        size_t n_auth_scopes;
        int qps; /* client-side pacing (requests/s, 0 = unpaced) and its burst */
        int burst;
    } flyte;
    struct {
        char *api_url; /* "" = in-cluster; "kubeconfig:PATH"; or a URL */
        char *token_file;
        char *ca_file;
        char *namespace_template;
        char *system_namespace;
        wf_quota_scope quota_scope;
        wf_weight *quota_split; /* checked against flyte.domains with scope workspace */
        size_t n_quota_split;
        /* kubernetes.limit_range: Container defaults of LimitRange
         * workspace-defaults, each a valid quantity, requests <= limits */
        char *limit_default_cpu;
        char *limit_default_memory;
        char *limit_default_request_cpu;
        char *limit_default_request_memory;
        int qps; /* client-side pacing (requests/s, 0 = unpaced) and its burst */
        int burst;
        /* Execution clusters; none: the one cluster of api_url above.  At
         * most WF_CLUSTERS_MAX, names unique, one weight at least above 0. */
        wf_cluster *clusters;
        size_t n_clusters;
        char *placement_label;   /* workspace label naming the cluster: a label key */
        char *placement_default; /* "" or the name of one of clusters */
    } kubernetes;
    struct {
        char *account_id;
        char *role_name_template;
        char *oidc_provider; /* the cluster's IAM OIDC provider, for IRSA trust;
                              * with kubernetes.clusters, each cluster's own */
        int ack_enabled;
    } aws;
    struct {
        int in_place_attempts;
        long *tiers_ms; /* delays of the retry tiers, ascending as given */
        size_t n_tiers;
    } retry;
    struct {
        int watch;               /* LIST+WATCH the managed kinds, repair drift */
        long resync_interval_ms; /* 0 = no periodic resync */
    } reconcile;
    struct {
        int concurrency;
    } processing;
    struct {
        char *listen;
        wf_log_format log_format;
        wf_log_level log_level;
    } observability;
} wf_config;

/* Fills *cfg with the contract's defaults. Aborts on OOM. */
void wf_config_defaults(wf_config *cfg);

/* Loads path (may be NULL: defaults only), then applies the environment
 * (envp: NULL-terminated "NAME=value" strings, usually environ).  Returns 0,
 * or -1 with err set (class WF_CONFIG) to the first problem and every
 * problem appended, one per line, to *report (malloc'd; caller frees; may be
 * NULL when there is nothing to report).  *cfg is filled in either case and
 * must be released with wf_config_fini. */
int wf_config_load(wf_config *cfg, const char *path, char *const *envp, char **report, wf_err *err);
void wf_config_fini(wf_config *cfg);

/* Parses "30s", "5m", "1h", "250ms", "2h30m".  Returns 0 and sets *ms,
 * or -1 for a malformed or non-positive duration.  (A single-duration key
 * such as reconcile.resync_interval also takes "0", meaning off.) */
int wf_duration_parse(const char *s, long *ms);
/* Formats ms as the shortest exact duration ("30s", "5m", "1h", "1500ms"). */
void wf_duration_format(long ms, char *buf, size_t len);

/* Writes url into buf (of len bytes, truncating) with the userinfo of its
 * authority replaced by three asterisks ("user:pw@registry:8081" becomes
 * "***@registry:8081"), so that credentials in a URL are never printed; a
 * URL without userinfo is copied as is.  Returns buf. */
char *wf_url_mask(const char *url, char *buf, size_t len);

/* Topic names derived per CONTRACT.md §1: <events>.<group_id>.retry-<delay>
 * and <events>.<group_id>.dlt.  Write into buf; return buf. */
char *wf_config_retry_topic(const wf_config *cfg, size_t tier, char *buf, size_t len);
char *wf_config_dlt_topic(const wf_config *cfg, char *buf, size_t len);
/* The state topic "<events>.<group_id>.state" (compacted: one record per
 * workspace of what wsflyte last applied). */
char *wf_config_state_topic(const wf_config *cfg, char *buf, size_t len);

/* The kubernetes.quota_split weight of domain, or 0 when it has none. */
int wf_config_quota_weight(const wf_config *cfg, const char *domain);

/* The index in kubernetes.clusters of the cluster named name, or -1. */
long wf_config_cluster(const wf_config *cfg, const char *name);

/* The value of kafka.properties entry name, or NULL when it is not set. */
const char *wf_config_property(const wf_config *cfg, const char *name);

/* Writes the effective configuration as YAML to fp, with secrets never
 * printed (only the secret file's path is). */
#include <stdio.h>
void wf_config_dump(const wf_config *cfg, FILE *fp);

#endif
