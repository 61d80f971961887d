/* wsflyte-audit: one pass over the state topic, FlyteAdmin and every
 * Kubernetes API server (the control plane and each execution cluster),
 * telling what disagrees.  The number of requests does
 * not grow with the number of workspaces: per managed kind one paginated
 * cluster-wide LIST by wsflyte's label, ListProjects (paginated, archived
 * projects included) and ListMatchableAttributes for the one resource type
 * wsflyte writes.  Each record is rendered first and the identities it
 * wants noted; each page of a list is then compared as it arrives, with
 * the planner's reading (plan_compare_*), and dropped, so that memory holds
 * a few hundred bytes per object, not the objects.  GETs only. */
#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "desired.h"
#include "event.h"
#include "flyte.h"
#include "k8s.h"
#include "kafka.h"
#include "plan.h"
#include "numparse.h"
#include "oauth.h"
#include "wsstate.h"
#include "wsstatus.h"

#define PROG "wsflyte-audit"

#define K8S_PAGE                500
#define FLYTE_PAGE              500
#define LIST_TIMEOUT_MS         60000L
#define ATTRIBUTES_TYPE         "WORKFLOW_EXECUTION_CONFIG"
#define CLUSTER_ATTRIBUTES_TYPE "EXECUTION_CLUSTER_LABEL"
#define CONTROL_PLANE           "control-plane"
/* ListMatchableAttributes answers every row of the type at once (FlyteAdmin
 * does not page it): about 670 bytes a row, so 30,000 rows (10,000
 * workspaces of three domains) are some 19 MiB; 512 MiB is about 800,000
 * rows. */
#define ATTRIBUTES_MAX_BODY ((size_t)512 * 1024 * 1024)
/* Every state: ACTIVE, ARCHIVED, SYSTEM_GENERATED, SYSTEM_ARCHIVED. */
#define PROJECTS_ALL_STATE "value_in(state,0;1;2;3)"

extern char **environ;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: " PROG " --config FILE [--json] [--timeout SEC]\n"
            "\n"
            "Compares, in one pass, what wsflyte recorded (the state topic\n"
            "<events>.<group_id>.state, every partition read to its end without joining the\n"
            "consumer group; per workspace the highest version wins, a tombstone removes) with\n"
            "what FlyteAdmin and the Kubernetes cluster hold, and reports what disagrees:\n"
            "  orphan              an object carrying wsflyte's labels that no record owns\n"
            "  orphan-project      a Flyte project labelled managed-by=wsflyte without a record\n"
            "  orphan-attributes   attributes of such a project that no record wants\n"
            "  missing, differs    a recorded object is absent, or differs from what the\n"
            "                      record's event renders (the fields shown, as the live diff)\n"
            "  foreign             a recorded object's name holds another workspace's object\n"
            "  project-missing, project-archived, project-not-ours\n"
            "                      Flyte is wanted but its project is not there to use\n"
            "  project-active      Flyte is not wanted but the project is still active\n"
            "  incomplete-record, unreadable-record\n"
            "                      a record that cannot be checked in full\n"
            "\n"
            "Requests (GET only, never a write), constant in the number of workspaces: per\n"
            "managed kind one cluster-wide LIST with labelSelector=" LABEL_MANAGED_BY
            "=" MANAGER_NAME "\n"
            "(limit 500, continue), ListProjects (500 a page, archived ones included) and\n"
            "ListMatchableAttributes for " ATTRIBUTES_TYPE ".\n"
            "With kubernetes.clusters, the LISTs are made on the control plane and on every\n"
            "execution cluster, ListMatchableAttributes also for " CLUSTER_ATTRIBUTES_TYPE ", and\n"
            "each Kubernetes finding names its cluster (\"on east\"; JSON: \"cluster\"): a\n"
            "workspace's namespaced objects belong on its record's cluster, so the same\n"
            "objects on another cluster are orphans there.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE   wsflyte configuration (Kafka, FlyteAdmin, Kubernetes)\n"
            "  -j, --json          one finding per line as JSON; the summary goes to stderr\n"
            "  -t, --timeout SEC   give up reading the state topic after SEC seconds without\n"
            "                      progress (default 30)\n"
            "  -h, --help          this help\n"
            "  -V, --version       print the version\n"
            "\n"
            "Exit status: 0 everything agrees; 1 something disagrees (the findings); 2 an error\n"
            "(configuration, arguments, the broker or an API could not be read).\n"
            "\n"
            "Examples:\n"
            "  " PROG " --config prod.yaml\n"
            "  " PROG
            " --config prod.yaml --json | jq -r 'select(.finding == \"orphan\") | .name'\n");
}

static int oom(wf_err *err)
{
    wf_err_set(err, WF_INTERNAL, "oom", "out of memory");
    return -1;
}

/* ---- reading the state topic: every key ---- */

/* The newest record of one key on one partition. */
typedef struct entry {
    char *key;
    int partition;
    int64_t offset;
    char *value; /* NULL: a tombstone */
    size_t len;
} entry;

typedef struct reading {
    const char *topic;
    int n_parts;
    int64_t *end; /* per partition at start-up; -1 when read to its end */
    int left;
    size_t records;
    entry *entries;
    size_t n, cap;
    json_t *index; /* "<partition>/<key>" -> index into entries */
    json_t *keys;  /* key -> [entry indexes] (built after reading) */
} reading;

static void reading_fini(reading *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->entries[i].key);
        free(r->entries[i].value);
    }
    free(r->entries);
    free(r->end);
    json_decref(r->index);
    json_decref(r->keys);
}

static int assign_all(rd_kafka_t *rk, reading *r, int timeout_ms, wf_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, r->topic, NULL);
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t rerr = rd_kafka_metadata(rk, 0, t, &md, timeout_ms);
    int rc = -1;

    if (rerr || md->topic_cnt != 1 || md->topics[0].err) {
        wf_err_set(err, WF_TRANSIENT, "kafka.metadata", "metadata of %s: %s", r->topic,
                   rd_kafka_err2str(rerr ? rerr : md->topics[0].err));
        goto out;
    }
    r->n_parts = md->topics[0].partition_cnt;
    r->end = calloc((size_t)r->n_parts + 1, sizeof(*r->end));
    l = rd_kafka_topic_partition_list_new(r->n_parts);
    if (r->end == NULL) {
        oom(err);
        goto out;
    }
    for (int p = 0; p < r->n_parts; p++) {
        int64_t lo = 0, hi = 0;
        if ((rerr = rd_kafka_query_watermark_offsets(rk, r->topic, p, &lo, &hi, timeout_ms))) {
            wf_err_set(err, WF_TRANSIENT, "kafka.watermarks", "end offset of %s[%d]: %s", r->topic,
                       p, rd_kafka_err2str(rerr));
            goto out;
        }
        r->end[p] = hi > lo ? hi : -1;
        r->left += hi > lo;
        if (hi > lo)
            rd_kafka_topic_partition_list_add(l, r->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    if (l->cnt && (rerr = rd_kafka_assign(rk, l)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        wf_err_set(err, WF_TRANSIENT, "kafka.assign", "assign %s: %s", r->topic,
                   rd_kafka_err2str(rerr));
        goto out;
    }
    rc = 0;
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return rc;
}

/* Keeps m as the newest record of its key on its partition. */
static int keep(reading *r, const rd_kafka_message_t *m, wf_err *err)
{
    char ik[600];
    json_t *at;
    entry *e;

    if (m->key_len == 0 || m->key_len > 512 || memchr(m->key, '\0', m->key_len))
        return 0; /* no workspace's key */
    snprintf(ik, sizeof(ik), "%d/%.*s", (int)m->partition, (int)m->key_len, (const char *)m->key);
    if ((at = json_object_get(r->index, ik)) != NULL) {
        e = &r->entries[json_integer_value(at)];
        free(e->value);
        e->value = NULL;
    } else {
        if (r->n == r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 1024;
            entry *grown = realloc(r->entries, cap * sizeof(*grown));
            if (grown == NULL)
                return oom(err);
            r->entries = grown;
            r->cap = cap;
        }
        e = &r->entries[r->n];
        /* The key is not NUL-terminated: strndup would read past it. */
        *e = (entry){malloc(m->key_len + 1), (int)m->partition, 0, NULL, 0};
        if (e->key == NULL || json_object_set_new(r->index, ik, json_integer((json_int_t)r->n++)))
            return oom(err);
        memcpy(e->key, m->key, m->key_len);
        e->key[m->key_len] = '\0';
    }
    e->offset = m->offset;
    e->len = m->len;
    if (m->payload) {
        if ((e->value = malloc(m->len ? m->len : 1)) == NULL)
            return oom(err);
        memcpy(e->value, m->payload, m->len);
    }
    return 0;
}

static int read_to_end(rd_kafka_t *rk, reading *r, int timeout_ms, wf_err *err)
{
    int64_t last = wf_clock_mono_ms();

    while (r->left > 0) {
        rd_kafka_message_t *m;
        int rc = 0;

        if (stop_requested) {
            wf_err_set(err, WF_TRANSIENT, "stopped", "interrupted");
            return -1;
        }
        if (wf_clock_mono_ms() - last > timeout_ms) {
            wf_err_set(err, WF_TRANSIENT, "kafka.state",
                       "reading %s: %d partition(s) not read to their end after %d s without "
                       "progress",
                       r->topic, r->left, timeout_ms / 1000);
            return -1;
        }
        if ((m = rd_kafka_consumer_poll(rk, 200)) == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->partition >= 0 &&
            m->partition < r->n_parts && r->end[m->partition] >= 0) {
            last = wf_clock_mono_ms();
            r->records++;
            if (m->key)
                rc = keep(r, m, err);
            if (m->offset + 1 >= r->end[m->partition]) {
                r->end[m->partition] = -1;
                r->left--;
            }
        } else if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            fprintf(stderr, PROG ": reading %s: %s\n", r->topic, rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Groups the entries by key: r->keys maps each key to its entries. */
static int group_keys(reading *r, wf_err *err)
{
    if ((r->keys = json_object()) == NULL)
        return oom(err);
    for (size_t i = 0; i < r->n; i++) {
        json_t *list = json_object_get(r->keys, r->entries[i].key);
        if (list == NULL && (json_object_set_new(r->keys, r->entries[i].key, json_array()) ||
                             (list = json_object_get(r->keys, r->entries[i].key)) == NULL))
            return oom(err);
        if (json_array_append_new(list, json_integer((json_int_t)i)))
            return oom(err);
    }
    return 0;
}

static int read_state(const wf_config *cfg, reading *r, int timeout_ms, wf_err *err)
{
    char group[64];
    kafka_reader_opts o = {.group_id = group};
    rd_kafka_t *rk;
    int rc;

    if ((r->index = json_object()) == NULL)
        return oom(err);
    /* assign() still needs a group id; a private one, never committed. */
    snprintf(group, sizeof(group), PROG "-%ld", (long)getpid());
    if ((rk = kafka_reader_new(cfg, &o, err)) == NULL)
        return -1;
    rc = assign_all(rk, r, timeout_ms, err);
    if (rc == 0)
        rc = read_to_end(rk, r, timeout_ms, err);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc == 0 ? group_keys(r, err) : -1;
}

/* ---- the live state: a few paginated lists ---- */

typedef struct kind_ref {
    const char *api_version, *kind;
} kind_ref;

#define RBAC_V1 "rbac.authorization.k8s.io/v1"
#define ACK_IAM "iam.services.k8s.aws/v1alpha1"

/* The kinds wsflyte renders (consumer/reconcile.c watches the same). */
static const kind_ref base_kinds[] = {
    {"v1", "Namespace"},      {"v1", "ResourceQuota"},
    {"v1", "LimitRange"},     {"networking.k8s.io/v1", "NetworkPolicy"},
    {"v1", "ServiceAccount"}, {RBAC_V1, "Role"},
    {RBAC_V1, "RoleBinding"}, {"v1", "ConfigMap"},
};
static const kind_ref ack_kinds[] = {{ACK_IAM, "Role"}, {ACK_IAM, "Policy"}};

/* Project flags: what the comparison of the attributes needs of a listed
 * project after the project itself is gone. */
enum {
    PROJECT_OURS = 1, /* labelled managed-by=wsflyte */
    PROJECT_ARCHIVED = 2,
    PROJECT_WANTED = 4,     /* a record wanting Flyte claimed it */
    PROJECT_NOT_WANTED = 8, /* a record not wanting Flyte claimed it (last claim wins) */
};

/* Listed objects are compared with the records as their page arrives and
 * then dropped: memory holds the identities the records want, not the
 * objects. */
/* One Kubernetes API server: the control plane (kubernetes.api_url) or an
 * execution cluster of kubernetes.clusters. */
typedef struct api_server {
    const char *name; /* CONTROL_PLANE or the cluster's name */
    k8s *kube;
    httpc *http; /* k8s's connection, with a longer timeout for big pages */
} api_server;

typedef struct live {
    oauth *auth;
    httpc *flyte;
    api_server *servers; /* [0] the control plane, then each cluster's */
    size_t n_servers;
    /* identity ("<server>|apiVersion|kind|namespace|name", "project:<id>",
     * "attrs:<project>|<domain>", "cattrs:<project>|<domain>") -> a WANT()
     * integer, or an array of them when several records render the same
     * identity */
    json_t *wants;
    json_t *unowned;  /* identities of listed objects no record wants */
    json_t *projects; /* id -> PROJECT_* flags, every listed project */
    json_t *records;  /* workspace id -> "wanted" | "not wanted" | "unreadable" */
    size_t requests;
    size_t objects;   /* labelled objects listed */
    size_t attr_rows; /* all rows of the type, also of others' projects */
} live;

static void live_fini(live *l)
{
    for (size_t i = 0; i < l->n_servers; i++) {
        httpc_free(l->servers[i].http);
        k8s_free(l->servers[i].kube);
    }
    free(l->servers);
    httpc_free(l->flyte);
    oauth_free(l->auth);
    json_decref(l->wants);
    json_decref(l->unowned);
    json_decref(l->projects);
    json_decref(l->records);
    memset(l, 0, sizeof(*l));
}

static int live_init(live *l, const wf_config *cfg, wf_err *err)
{
    const char *ca = cfg->flyte.ca_file[0] ? cfg->flyte.ca_file : NULL;
    httpc_opts fo = {0}, ko;

    memset(l, 0, sizeof(*l));
    l->wants = json_object();
    l->unowned = json_object();
    l->projects = json_object();
    l->records = json_object();
    if (!l->wants || !l->unowned || !l->projects || !l->records)
        return oom(err);
    if (cfg->flyte.auth_type == WF_AUTH_CLIENT_CREDENTIALS &&
        (l->auth = oauth_new(cfg, ca, err)) == NULL)
        return -1;
    fo.api = "flyte";
    fo.base_url = cfg->flyte.admin_url;
    fo.ca_file = ca;
    fo.timeout_ms = LIST_TIMEOUT_MS;
    if (l->auth) {
        fo.auth = oauth_auth;
        fo.auth_ud = l->auth;
    }
    if ((l->flyte = httpc_new(&fo, err)) == NULL)
        return -1;
    if ((l->servers = calloc(cfg->kubernetes.n_clusters + 1, sizeof(*l->servers))) == NULL)
        return oom(err);
    for (size_t i = 0; i <= cfg->kubernetes.n_clusters; i++) {
        api_server *sv = &l->servers[l->n_servers++];
        sv->name = i ? cfg->kubernetes.clusters[i - 1].name : CONTROL_PLANE;
        if ((sv->kube = k8s_new_cluster(cfg, (int)i - 1, NULL, NULL, NULL, err)) == NULL)
            return -1;
        ko = *k8s_conn(sv->kube);
        ko.timeout_ms = LIST_TIMEOUT_MS;
        if ((sv->http = httpc_new(&ko, err)) == NULL)
            return -1;
    }
    return 0;
}

static void object_key(const char *server, const char *api, const char *kind, const char *ns,
                       const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s|%s|%s|%s|%s", server, api, kind, ns ? ns : "", name ? name : "");
}

static void manifest_key(const char *server, const json_t *m, char *buf, size_t len)
{
    const json_t *meta = json_object_get(m, "metadata");

    object_key(server, json_string_value(json_object_get(m, "apiVersion")),
               json_string_value(json_object_get(m, "kind")),
               json_string_value(json_object_get(meta, "namespace")),
               json_string_value(json_object_get(meta, "name")), buf, len);
}

/* GETs path and parses the answer; non-2xx is an error naming what. */
static json_t *get_json(live *l, httpc *h, const char *api, const char *path, wf_err *err)
{
    http_response resp;
    json_t *body = NULL;

    l->requests++;
    if (httpc_json(h, "GET", path, NULL, NULL, &resp, err) != 0)
        return NULL;
    if (resp.status != 200) {
        httpc_classify(api, &resp, path, err);
    } else if ((body = http_response_json(&resp)) == NULL || !json_is_object(body)) {
        json_decref(body);
        body = NULL;
        wf_err_set(err, WF_TRANSIENT, "body", "GET %s: the answer is not a JSON object", path);
    }
    http_response_fini(&resp);
    return body;
}

/* ---- what the records want ---- */

/* One record's wanted object in one integer: the record's place among the
 * keys and the object's index in wsstatus_each; WANT_SEEN once compared
 * with what the lists held. */
#define WANT_IDX_BITS  24
#define WANT_IDX_MASK  (((json_int_t)1 << WANT_IDX_BITS) - 1)
#define WANT_NO_FLYTE  WANT_IDX_MASK /* the project of a record not wanting Flyte */
#define WANT_SEEN      ((json_int_t)1 << 62)
#define WANT(rec, idx) (((json_int_t)(rec) << WANT_IDX_BITS) | (json_int_t)(idx))
#define WANT_REC(w)    ((size_t)(((w) & ~WANT_SEEN) >> WANT_IDX_BITS))
#define WANT_IDX(w)    ((size_t)((w)&WANT_IDX_MASK))

typedef struct record_ref {
    const char *id;     /* the key: the workspace id */
    const json_t *list; /* its entries in the reading */
} record_ref;

typedef struct wanted_obj {
    const char *kind, *domain;
    const json_t *obj;
} wanted_obj;

/* The last record rendered again: a kind's list holds a workspace's
 * objects next to each other. */
typedef struct rendered {
    size_t rec; /* SIZE_MAX: none */
    wsstate s;
    ws_event ev;
    desired d;
    wanted_obj *objs; /* by wsstatus_each index */
    size_t n, cap;
} rendered;

/* What a comparison claimed for the record: the object is the record's. */
typedef enum claim { CLAIM_NONE, CLAIM_YES, CLAIM_WANTED, CLAIM_NOT_WANTED } claim;

typedef struct audit {
    live *l;
    const wf_config *cfg;
    const reading *r;
    record_ref *recs; /* r->keys in their order */
    size_t n_recs;
    rendered cache;
    json_t *findings;
    uint64_t *ranks; /* per finding: its place in its workspace's report */
    size_t ranks_cap;
    uint64_t rank;  /* of the next finding */
    uint64_t swept; /* findings of the sweep so far */
    claim claim;    /* what the last comparison claimed */
    size_t rec;     /* the record being indexed */
    const char *ws; /* the workspace being checked */
    const desired *d;
    const char *where; /* with kubernetes.clusters: the API server of the object at hand */
    wf_err *err;
    size_t checked; /* recorded objects compared */
} audit;

/* The API server where d has an object of one of its domains (domain set)
 * or one outside the namespaces. */
static const char *server_of(const audit *a, const desired *d, const char *domain)
{
    return domain && d->cluster >= 0 ? a->cfg->kubernetes.clusters[d->cluster].name : CONTROL_PLANE;
}

/* The cluster a record's workspace is on: its own, else (a record written
 * before kubernetes.clusters) placement.default; -1 without clusters or
 * when neither names a configured one. */
static int record_cluster(const wf_config *cfg, const wsstate *s)
{
    if (cfg->kubernetes.n_clusters == 0)
        return -1;
    if (s->cluster)
        return plan_record_cluster(cfg, s);
    return (int)wf_config_cluster(cfg, cfg->kubernetes.placement_default);
}

/* ---- findings ---- */

/* A workspace's findings are told in the order of a comparison done one
 * record at a time, whatever order the lists bring the objects in: the
 * record's own (rank 0), then its objects in wsstatus_each order (index +
 * 1); then the sweep: orphans in list order, orphan projects, orphan
 * attributes. */
#define RANK_SWEEP(phase) ((uint64_t)(phase) << 56)
enum { SWEEP_OBJECTS = 1, SWEEP_PROJECTS = 2, SWEEP_ATTRIBUTES = 3 };

static void sweep_rank(audit *a, int phase)
{
    a->rank = RANK_SWEEP(phase) | a->swept++;
}

/* Adds a finding of rank a->rank; object fields may be NULL.  changes is
 * borrowed. */
static int finding(audit *a, const char *ws, const char *what, const char *api, const char *kind,
                   const char *ns, const char *name, const char *detail, const json_t *changes)
{
    json_t *f = json_pack("{s:s?, s:s, s:s?, s:s?, s:s?, s:s?, s:s?}", "workspace_id", ws,
                          "finding", what, "api_version", api, "kind", kind, "namespace", ns,
                          "name", name, "detail", detail);
    size_t n = json_array_size(a->findings);
    const char *k;
    json_t *v;
    void *tmp;

    json_object_foreach_safe(f, tmp, k, v)
    {
        if (json_is_null(v)) /* absent rather than null */
            json_object_del(f, k);
    }
    if (f && changes && json_array_size(changes))
        json_object_set(f, "changes", (json_t *)changes);
    if (f && a->where && api && strcmp(api, "flyteadmin/v1") != 0 &&
        json_object_set_new(f, "cluster", json_string(a->where)) != 0) {
        json_decref(f);
        return oom(a->err);
    }
    if (n == a->ranks_cap) {
        size_t cap = a->ranks_cap ? 2 * a->ranks_cap : 64;
        uint64_t *grown = realloc(a->ranks, cap * sizeof(*grown));
        if (grown == NULL) {
            json_decref(f);
            return oom(a->err);
        }
        a->ranks = grown;
        a->ranks_cap = cap;
    }
    if (f == NULL || json_array_append_new(a->findings, f))
        return oom(a->err);
    a->ranks[n] = a->rank;
    return 0;
}

/* The checks of one wanted object against got, the live object of its
 * identity (NULL: the lists did not hold it); each sets a->claim when the
 * object is the record's. */
static int check_project(audit *a, const json_t *want, const json_t *got)
{
    const char *id = a->d->project_id;
    json_t *changes;
    int n;

    if (got == NULL)
        return finding(a, a->ws, "project-missing", "flyteadmin/v1", "FlyteProject", NULL, id,
                       "Flyte is wanted but FlyteAdmin has no such project", NULL);
    a->claim = CLAIM_WANTED;
    if (!desired_project_is_ours(got))
        return finding(a, a->ws, "project-not-ours", "flyteadmin/v1", "FlyteProject", NULL, id,
                       "the project is not labelled managed-by=wsflyte", NULL);
    if (flyte_project_archived(got))
        return finding(a, a->ws, "project-archived", "flyteadmin/v1", "FlyteProject", NULL, id,
                       "Flyte is wanted but the project is archived", NULL);
    changes = json_array();
    n = changes ? plan_compare_project(want, got, changes) : -1;
    if (n > 0)
        n = finding(a, a->ws, "differs", "flyteadmin/v1", "FlyteProject", NULL, id, NULL, changes);
    json_decref(changes);
    return n < 0 ? oom(a->err) : 0;
}

static int check_attributes(audit *a, const char *domain, const json_t *want, const json_t *got)
{
    const char *type =
        wsstatus_is_cluster_attributes(want) ? CLUSTER_ATTRIBUTES_TYPE : ATTRIBUTES_TYPE;
    char name[700];
    json_t *changes;
    int n;

    snprintf(name, sizeof(name), "%s/%s", a->d->project_id, domain);
    if (got == NULL)
        return finding(a, a->ws, "missing", "flyteadmin/v1", "ProjectDomainAttributes", NULL, name,
                       type, NULL);
    a->claim = CLAIM_YES;
    if ((changes = json_array()) == NULL)
        return oom(a->err);
    n = plan_compare_attributes(want, got, changes);
    if (n > 0)
        n = finding(a, a->ws, "differs", "flyteadmin/v1", "ProjectDomainAttributes", NULL, name,
                    type, changes);
    json_decref(changes);
    return n < 0 ? oom(a->err) : 0;
}

static int check_manifest(audit *a, const json_t *want, const json_t *got)
{
    const json_t *meta = json_object_get(want, "metadata");
    const char *api = json_string_value(json_object_get(want, "apiVersion"));
    const char *kind = json_string_value(json_object_get(want, "kind"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    json_t *changes;
    int n;

    if (got == NULL)
        return finding(a, a->ws, "missing", api, kind, ns, name, NULL, NULL);
    if (!desired_object_is_ours(got, a->d->project_id)) {
        const char *other = json_string_value(json_object_get(
            json_object_get(json_object_get(got, "metadata"), "labels"), LABEL_WORKSPACE));
        char why[256];
        snprintf(why, sizeof(why), "labelled for workspace %s", other ? other : "(none)");
        return finding(a, a->ws, "foreign", api, kind, ns, name, why, NULL);
    }
    a->claim = CLAIM_YES;
    if ((changes = json_array()) == NULL)
        return oom(a->err);
    n = plan_compare_object(want, got, changes);
    if (n > 0)
        n = finding(a, a->ws, "differs", api, kind, ns, name, NULL, changes);
    json_decref(changes);
    return n < 0 ? oom(a->err) : 0;
}

/* Flyte not wanted: the project, when there is one, is the record's and
 * must be archived; everything in Kubernetes left over is an orphan. */
static int check_unwanted(audit *a, const char *project_id, const json_t *got)
{
    if (got == NULL || !desired_project_is_ours(got))
        return 0;
    a->claim = CLAIM_NOT_WANTED;
    return flyte_project_archived(got)
               ? 0
               : finding(a, a->ws, "project-active", "flyteadmin/v1", "FlyteProject", NULL,
                         project_id, "Flyte is not wanted but the project is active", NULL);
}

/* ---- the records, one at a time ---- */

/* The winning record of one key, decoded; 1 with *out, 0 none (all
 * tombstones), -1 unreadable (why in err). */
static int winner(const reading *r, const json_t *list, wsstate *out, wf_err *err)
{
    size_t n = json_array_size(list), k = 0;
    wsstate *recs = calloc(n + 1, sizeof(*recs));
    int best, rc = -1;

    if (recs == NULL)
        return oom(err);
    for (size_t i = 0; i < n; i++) {
        const entry *e = &r->entries[json_integer_value(json_array_get(list, i))];
        if (e->value == NULL)
            continue; /* a tombstone removes the partition's record */
        if (wsstate_decode(e->value, e->len, &recs[k], err) != 0) {
            wf_err_prefix(err, "partition %d offset %" PRId64, e->partition, e->offset);
            goto out;
        }
        if (strcmp(recs[k].workspace_id, e->key) != 0) {
            wf_err_set(err, WF_DESERIALIZATION, "key",
                       "partition %d offset %" PRId64 ": the record is workspace %s's",
                       e->partition, e->offset, recs[k].workspace_id);
            wsstate_fini(&recs[k]);
            goto out;
        }
        k++;
    }
    rc = 0;
    if ((best = wsstatus_pick(recs, k)) >= 0) {
        *out = recs[best];
        wsstate_init(&recs[best]);
        rc = 1;
    }
out:
    for (size_t i = 0; i < k; i++)
        wsstate_fini(&recs[i]);
    free(recs);
    return rc;
}

/* Adds w to what the records want under key. */
static int want(audit *a, const char *key, json_int_t w)
{
    json_t *v = json_object_get(a->l->wants, key), *list;

    if (v == NULL)
        return json_object_set_new(a->l->wants, key, json_integer(w)) ? oom(a->err) : 0;
    if (json_is_array(v))
        return json_array_append_new(v, json_integer(w)) ? oom(a->err) : 0;
    if ((list = json_pack("[O, I]", v, w)) == NULL || json_object_set_new(a->l->wants, key, list))
        return oom(a->err);
    return 0;
}

static int index_object(void *ud, size_t index, const char *kind, const char *domain,
                        const json_t *obj)
{
    audit *a = ud;
    char key[1024];

    a->checked++;
    if ((json_int_t)index >= WANT_NO_FLYTE) {
        wf_err_set(a->err, WF_INTERNAL, "audit", "workspace %s: more than %lld objects", a->ws,
                   (long long)WANT_NO_FLYTE);
        return -1;
    }
    if (json_object_get(obj, "apiVersion") == NULL && strcmp(kind, "FlyteProject") == 0)
        snprintf(key, sizeof(key), "project:%s", a->d->project_id);
    else if (json_object_get(obj, "apiVersion") == NULL)
        snprintf(key, sizeof(key), "%s:%s|%s",
                 wsstatus_is_cluster_attributes(obj) ? "cattrs" : "attrs", a->d->project_id,
                 domain);
    else
        manifest_key(server_of(a, a->d, domain), obj, key, sizeof(key));
    return want(a, key, WANT(a->rec, index));
}

/* Renders record rec and notes what it wants (the objects are compared
 * when the lists bring them); tells what is wrong with the record itself. */
static int index_workspace(audit *a, size_t rec)
{
    const char *id = a->recs[rec].id;
    char key[600];
    wsstate s;
    ws_event ev;
    desired d;
    wf_err rerr;
    int rc, have_ev = 0, have_d = 0;
    const char *state = "unreadable";

    wsstate_init(&s);
    memset(&d, 0, sizeof(d));
    wf_err_init(&rerr);
    a->ws = id;
    a->rec = rec;
    a->rank = 0;
    if ((rc = winner(a->r, a->recs[rec].list, &s, &rerr)) == 0) {
        wsstate_fini(&s);
        return 0; /* every partition's record removed: no record */
    }
    if (rc > 0) {
        have_ev = wsstate_event_of(&s, &ev, &rerr) == 0;
        have_d =
            have_ev && desired_build_on(a->cfg, &ev, record_cluster(a->cfg, &s), &d, &rerr) == 0;
    }
    if (!have_d) {                 /* nothing compared; its objects are not called orphans */
        if (rc > 0 && !s.complete) /* a stub: its full form was too large to keep */
            rc = finding(a, id, "incomplete-record", NULL, NULL, NULL, NULL,
                         "the record keeps no event to render (a stub); not compared", NULL);
        else
            rc = finding(a, id, "unreadable-record", NULL, NULL, NULL, NULL, rerr.msg, NULL);
        goto out;
    }
    a->d = &d;
    state = s.flyte && d.flyte_wanted ? "wanted" : "not wanted";
    rc = 0;
    if (!s.complete)
        rc = finding(a, id, "incomplete-record", NULL, NULL, NULL, NULL,
                     "an apply failed or was cut short: the next event takes the full path", NULL);
    snprintf(key, sizeof(key), "project:%s", d.project_id);
    if (rc == 0)
        rc = s.flyte && d.flyte_wanted ? wsstatus_each(&d, index_object, a)
                                       : want(a, key, WANT(rec, WANT_NO_FLYTE));
out:
    if (rc >= 0 && json_object_set_new(a->l->records, id, json_string(state)))
        rc = oom(a->err);
    a->d = NULL;
    if (have_d)
        desired_fini(&d);
    if (have_ev)
        ws_event_fini(&ev);
    wsstate_fini(&s);
    return rc < 0 ? -1 : 0;
}

static void rendered_clear(rendered *c)
{
    if (c->rec != SIZE_MAX) {
        desired_fini(&c->d);
        ws_event_fini(&c->ev);
        wsstate_fini(&c->s);
    }
    c->rec = SIZE_MAX;
    c->n = 0;
}

static int collect(void *ud, size_t index, const char *kind, const char *domain, const json_t *obj)
{
    rendered *c = ud;

    if (index != c->n)
        return -1;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        wanted_obj *grown = realloc(c->objs, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        c->objs = grown;
        c->cap = cap;
    }
    c->objs[c->n++] = (wanted_obj){kind, domain, obj};
    return 0;
}

/* Renders record rec again, as index_workspace did, unless it is the last
 * one rendered. */
static int render(audit *a, size_t rec)
{
    rendered *c = &a->cache;
    int rc;

    if (c->rec == rec)
        return 0;
    rendered_clear(c);
    wsstate_init(&c->s);
    memset(&c->d, 0, sizeof(c->d));
    if ((rc = winner(a->r, a->recs[rec].list, &c->s, a->err)) <= 0) {
        if (rc == 0)
            wf_err_set(a->err, WF_INTERNAL, "audit", "the record is gone");
    } else if (wsstate_event_of(&c->s, &c->ev, a->err) == 0) {
        if (desired_build_on(a->cfg, &c->ev, record_cluster(a->cfg, &c->s), &c->d, a->err) == 0) {
            c->rec = rec;
            if (wsstatus_each(&c->d, collect, c) == 0)
                return 0;
            oom(a->err);
            rendered_clear(c);
            wf_err_prefix(a->err, "workspace %s", a->recs[rec].id);
            return -1;
        }
        ws_event_fini(&c->ev);
    }
    wsstate_fini(&c->s);
    wf_err_prefix(a->err, "workspace %s: rendering again", a->recs[rec].id);
    return -1;
}

/* Compares what w wants with got, the live object of identity key (NULL:
 * the lists did not hold it). */
static int compare_wanted(audit *a, json_int_t w, const char *key, const json_t *got)
{
    size_t rec = WANT_REC(w), idx = WANT_IDX(w);
    const wanted_obj *o;

    a->ws = a->recs[rec].id;
    a->claim = CLAIM_NONE;
    if ((json_int_t)idx == WANT_NO_FLYTE) {
        a->rank = 1;
        return check_unwanted(a, key + strlen("project:"), got);
    }
    if (render(a, rec) != 0)
        return -1;
    if (idx >= a->cache.n) {
        wf_err_set(a->err, WF_INTERNAL, "audit", "workspace %s: no object %zu when rendered again",
                   a->ws, idx);
        return -1;
    }
    o = &a->cache.objs[idx];
    a->d = &a->cache.d;
    a->rank = idx + 1;
    a->where = a->cfg->kubernetes.n_clusters ? server_of(a, a->d, o->domain) : NULL;
    if (json_object_get(o->obj, "apiVersion") == NULL)
        return strcmp(o->kind, "FlyteProject") == 0 ? check_project(a, o->obj, got)
                                                    : check_attributes(a, o->domain, o->obj, got);
    return check_manifest(a, o->obj, got);
}

/* The object of identity key arrived (got; NULL once the lists are done):
 * compared for every record wanting it, once.  Returns 0 when no record
 * wants it, 1 when compared, 2 when compared before (a repeat), with
 * *claimed the last claim made; -1 with err set. */
static int arrived(audit *a, const char *key, const json_t *got, claim *claimed)
{
    json_t *v = json_object_get(a->l->wants, key);
    size_t n = json_is_array(v) ? json_array_size(v) : v != NULL;
    int rc = n ? 2 : 0;

    *claimed = CLAIM_NONE;
    for (size_t i = 0; i < n; i++) {
        json_t *w = json_is_array(v) ? json_array_get(v, i) : v;
        json_int_t x = json_integer_value(w);
        if (x & WANT_SEEN)
            continue;
        json_integer_set(w, x | WANT_SEEN);
        rc = 1;
        if (compare_wanted(a, x, key, got) != 0)
            return -1;
        if (a->claim != CLAIM_NONE)
            *claimed = a->claim;
    }
    return rc;
}

/* ---- the lists, compared page by page ---- */

static const char *record_note(const live *l, const char *ws)
{
    const char *st = ws ? json_string_value(json_object_get(l->records, ws)) : NULL;

    if (ws == NULL)
        return "no workspace label";
    if (st == NULL)
        return "no record";
    if (strcmp(st, "wanted") == 0)
        return "its record renders no object of this name";
    return strcmp(st, "not wanted") == 0 ? "its record does not want Flyte" : NULL;
}

/* A labelled object of kind k: compared with what the records want, or an
 * orphan. */
static int on_object(audit *a, const api_server *sv, const kind_ref *k, json_t *item)
{
    const json_t *meta = json_object_get(item, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ws, *st;
    char key[1024];
    claim claimed;
    int rc;

    object_key(sv->name, k->api_version, k->kind, ns, name, key, sizeof(key));
    json_object_set_new(item, "apiVersion", json_string(k->api_version));
    json_object_set_new(item, "kind", json_string(k->kind));
    if ((rc = arrived(a, key, item, &claimed)) < 0)
        return -1;
    if (rc == 2 || (rc == 0 && json_object_get(a->l->unowned, key)))
        return 0; /* again on a later page */
    if (rc == 0 && json_object_set_new(a->l->unowned, key, json_true()))
        return oom(a->err);
    a->l->objects++;
    if (claimed != CLAIM_NONE)
        return 0;
    ws = json_string_value(json_object_get(json_object_get(meta, "labels"), LABEL_WORKSPACE));
    st = ws ? json_string_value(json_object_get(a->l->records, ws)) : NULL;
    if (st && strcmp(st, "unreadable") == 0)
        return 0; /* told under its unreadable record */
    sweep_rank(a, SWEEP_OBJECTS);
    a->where = a->cfg->kubernetes.n_clusters ? sv->name : NULL;
    return finding(a, ws, "orphan", k->api_version, k->kind, ns, name, record_note(a->l, ws), NULL);
}

/* One kind, cluster-wide on one API server, page by page. */
static int list_kind(audit *a, const api_server *sv, const kind_ref *k)
{
    live *l = a->l;
    wf_err *err = a->err;
    char path[1024], *cont = NULL;
    char *sel = httpc_escape(LABEL_MANAGED_BY "=" MANAGER_NAME);
    int rc = -1;

    if (sel == NULL || k8s_path(k->api_version, k->kind, NULL, NULL, path, sizeof(path)) != 0) {
        free(sel);
        return oom(err);
    }
    do {
        char *target = NULL, *econt = cont ? httpc_escape(cont) : NULL;
        json_t *page, *item;
        size_t i;
        int failed = 0;
        if (asprintf(&target, "%s?labelSelector=%s&limit=%d%s%s", path, sel, K8S_PAGE,
                     econt ? "&continue=" : "", econt ? econt : "") < 0)
            target = NULL;
        free(econt);
        free(cont);
        cont = NULL;
        page = target ? get_json(l, sv->http, "k8s", target, err) : NULL;
        free(target);
        if (page == NULL)
            goto out;
        json_array_foreach(json_object_get(page, "items"), i, item)
        {
            if ((failed = on_object(a, sv, k, item)) != 0)
                break;
        }
        const char *c =
            json_string_value(json_object_get(json_object_get(page, "metadata"), "continue"));
        if (!failed && c && c[0] && (cont = strdup(c)) == NULL)
            failed = oom(err);
        json_decref(page);
        if (failed)
            goto out;
    } while (cont);
    rc = 0;
out:
    free(cont);
    free(sel);
    if (rc != 0 && a->cfg->kubernetes.n_clusters)
        wf_err_prefix(err, "list %s %s on %s", k->api_version, k->kind, sv->name);
    else if (rc != 0)
        wf_err_prefix(err, "list %s %s", k->api_version, k->kind);
    return rc;
}

/* A listed project: compared with the records wanting it, or an orphan;
 * what its attributes need of it is kept. */
static int on_project(audit *a, const json_t *p)
{
    const char *id = json_string_value(json_object_get(p, "id"));
    char key[600];
    claim owner;
    int flags;

    if (id == NULL || json_object_get(a->l->projects, id))
        return 0; /* again on a later page */
    snprintf(key, sizeof(key), "project:%s", id);
    if (arrived(a, key, p, &owner) < 0)
        return -1;
    flags = (desired_project_is_ours(p) ? PROJECT_OURS : 0) |
            (flyte_project_archived(p) ? PROJECT_ARCHIVED : 0) |
            (owner == CLAIM_WANTED ? PROJECT_WANTED : 0) |
            (owner == CLAIM_NOT_WANTED ? PROJECT_NOT_WANTED : 0);
    if (json_object_set_new(a->l->projects, id, json_integer(flags)))
        return oom(a->err);
    if (!(flags & PROJECT_OURS) || owner != CLAIM_NONE || json_object_get(a->l->records, id))
        return 0;
    sweep_rank(a, SWEEP_PROJECTS);
    return finding(a, id, "orphan-project", "flyteadmin/v1", "FlyteProject", NULL, id,
                   (flags & PROJECT_ARCHIVED) ? "archived; no record" : "active; no record", NULL);
}

/* Every project, archived ones too (without a filter ListProjects leaves
 * them out), by identifier so that the pages do not shift. */
static int list_projects(audit *a)
{
    live *l = a->l;
    wf_err *err = a->err;
    char *filter = httpc_escape(PROJECTS_ALL_STATE), *token = NULL;
    int rc = -1;

    if (filter == NULL)
        return oom(err);
    do {
        char *target = NULL;
        json_t *page, *p;
        size_t i;
        int failed = 0;
        if (asprintf(&target,
                     "/api/v1/projects?limit=%d&filters=%s&sort_by.key=identifier"
                     "&sort_by.direction=ASCENDING%s%s",
                     FLYTE_PAGE, filter, token ? "&token=" : "", token ? token : "") < 0)
            target = NULL;
        free(token);
        token = NULL;
        page = target ? get_json(l, l->flyte, "flyte", target, err) : NULL;
        free(target);
        if (page == NULL)
            goto out;
        json_array_foreach(json_object_get(page, "projects"), i, p)
        {
            if ((failed = on_project(a, p)) != 0)
                break;
        }
        const char *t = json_string_value(json_object_get(page, "token"));
        if (!failed && t && t[0] && json_array_size(json_object_get(page, "projects")) &&
            (token = httpc_escape(t)) == NULL)
            failed = oom(err);
        json_decref(page);
        if (failed)
            goto out;
    } while (token);
    rc = 0;
out:
    free(token);
    free(filter);
    if (rc != 0)
        wf_err_prefix(err, "list projects");
    return rc;
}

/* One project-domain row (key "<project>|<domain>"): compared with the
 * record wanting it, or an orphan when its project is wsflyte's and no
 * record keeps it. */
static int on_attributes(audit *a, const char *type, const char *key, const json_t *row)
{
    const char *p = json_string_value(json_object_get(row, "project"));
    json_t *proj = json_object_get(a->l->projects, p);
    int flags = (int)json_integer_value(proj);
    char ck[700], name[600];
    claim claimed;

    snprintf(ck, sizeof(ck), "%s:%s", strcmp(type, ATTRIBUTES_TYPE) == 0 ? "attrs" : "cattrs", key);
    if (arrived(a, ck, row, &claimed) < 0)
        return -1;
    /* A project whose record does not want Flyte keeps its attributes
     * (wsflyte archives it, deleting nothing); an unreadable record's are
     * told under it. */
    if (proj == NULL || !(flags & PROJECT_OURS) || claimed != CLAIM_NONE ||
        (flags & PROJECT_NOT_WANTED) ||
        (!(flags & (PROJECT_WANTED | PROJECT_NOT_WANTED)) && json_object_get(a->l->records, p)))
        return 0;
    snprintf(name, sizeof(name), "%s/%s", p, json_string_value(json_object_get(row, "domain")));
    sweep_rank(a, SWEEP_ATTRIBUTES);
    return finding(a, p, "orphan-attributes", "flyteadmin/v1", "ProjectDomainAttributes", NULL,
                   name, type, NULL);
}

/* The project-domain rows of the type, shaped as GetProjectDomainAttributes
 * answers, so that the comparison is the live diff's.  The one answer holds
 * every row; it is dropped once compared. */
static int list_attributes(audit *a, const char *type)
{
    live *l = a->l;
    char path[128];
    json_t *body, *rows = json_object(), *c, *v;
    const char *key;
    size_t i;
    char k[600];
    int rc = -1;

    if (rows == NULL)
        return oom(a->err);
    snprintf(path, sizeof(path), "/api/v1/matchable_attributes?resource_type=%s", type);
    httpc_set_max_body(l->flyte, ATTRIBUTES_MAX_BODY);
    body = get_json(l, l->flyte, "flyte", path, a->err);
    httpc_set_max_body(l->flyte, 0);
    if (body == NULL) {
        wf_err_prefix(a->err, "list %s attributes", type);
        json_decref(rows);
        return -1;
    }
    json_array_foreach(json_object_get(body, "configurations"), i, c)
    {
        const char *p = json_string_value(json_object_get(c, "project"));
        const char *d = json_string_value(json_object_get(c, "domain"));
        const char *wf = json_string_value(json_object_get(c, "workflow"));
        const char *lp = json_string_value(json_object_get(c, "launch_plan"));
        const char *org = json_string_value(json_object_get(c, "org"));
        l->attr_rows++;
        if (!p || !p[0] || !d || !d[0] || (wf && wf[0]) || (lp && lp[0]))
            continue; /* not a project-domain row: wsflyte writes no other */
        snprintf(k, sizeof(k), "%s|%s", p, d);
        if (json_object_set_new(rows, k,
                                json_pack("{s:s, s:s, s:O?, s:s}", "project", p, "domain", d,
                                          "matching_attributes", json_object_get(c, "attributes"),
                                          "org", org ? org : ""))) {
            oom(a->err);
            goto out;
        }
    }
    json_object_foreach(rows, key, v)
    {
        if (on_attributes(a, type, key, v) != 0)
            goto out;
    }
    rc = 0;
out:
    json_decref(rows);
    json_decref(body);
    return rc;
}

/* Every API server's kinds (the ACK kinds on the control plane only,
 * where wsflyte writes them), then FlyteAdmin. */
static int read_live(audit *a)
{
    for (size_t s = 0; s < a->l->n_servers; s++) {
        const api_server *sv = &a->l->servers[s];
        for (size_t i = 0; i < sizeof(base_kinds) / sizeof(base_kinds[0]); i++)
            if (list_kind(a, sv, &base_kinds[i]) != 0)
                return -1;
        for (size_t i = 0;
             s == 0 && a->cfg->aws.ack_enabled && i < sizeof(ack_kinds) / sizeof(ack_kinds[0]); i++)
            if (list_kind(a, sv, &ack_kinds[i]) != 0)
                return -1;
    }
    if (list_projects(a) != 0 || list_attributes(a, ATTRIBUTES_TYPE) != 0)
        return -1;
    return a->cfg->kubernetes.n_clusters ? list_attributes(a, CLUSTER_ATTRIBUTES_TYPE) : 0;
}

/* What the lists did not hold: missing. */
static int finish(audit *a)
{
    const char *key;
    json_t *v;
    claim claimed;

    json_object_foreach(a->l->wants, key, v)
    {
        if (arrived(a, key, NULL, &claimed) < 0)
            return -1;
    }
    return 0;
}

/* ---- output ---- */

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

/* A finding, its rank in its workspace and the order it was found in. */
typedef struct ranked {
    const json_t *f;
    uint64_t rank;
    size_t order;
} ranked;

/* By workspace (findings without one last), then by rank, then in the
 * order found. */
static int by_workspace(const void *x, const void *y)
{
    const ranked *p = x, *q = y;
    const char *a = str_or(p->f, "workspace_id", NULL), *b = str_or(q->f, "workspace_id", NULL);
    int c = a == NULL || b == NULL ? (a == NULL) - (b == NULL) : strcmp(a, b);

    if (c == 0)
        c = (p->rank > q->rank) - (p->rank < q->rank);
    return c ? c : (p->order > q->order) - (p->order < q->order);
}

static void print_finding(const json_t *f)
{
    const char *ns = str_or(f, "namespace", NULL), *detail = str_or(f, "detail", NULL);
    const json_t *c;
    size_t i;

    printf("  %s:", str_or(f, "finding", "?"));
    if (json_object_get(f, "kind"))
        printf(" %s %s %s%s%s", str_or(f, "api_version", "-"), str_or(f, "kind", "-"), ns ? ns : "",
               ns ? "/" : "", str_or(f, "name", "-"));
    if (json_object_get(f, "cluster"))
        printf(" on %s", str_or(f, "cluster", "-"));
    printf("%s%s%s\n", detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
    json_array_foreach(json_object_get(f, "changes"), i, c)
        printf("      %s\n", json_string_value(c));
}

typedef struct totals {
    size_t records, objects, projects, attrs, requests, checked, workspaces;
    double seconds;
} totals;

static int print_all(json_t *findings, const uint64_t *ranks, int json, const totals *t)
{
    size_t n = json_array_size(findings);
    ranked *sorted = calloc(n + 1, sizeof(*sorted));
    const char *prev = "";
    FILE *sum = json ? stderr : stdout;

    if (sorted == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        sorted[i] = (ranked){json_array_get(findings, i), ranks[i], i};
    qsort(sorted, n, sizeof(*sorted), by_workspace);
    for (size_t i = 0; i < n; i++) {
        const char *ws = str_or(sorted[i].f, "workspace_id", NULL);
        if (json) {
            char *text = json_dumps(sorted[i].f, JSON_COMPACT);
            if (text)
                printf("%s\n", text);
            free(text);
            continue;
        }
        if (prev == NULL ? ws != NULL : (ws == NULL || strcmp(prev, ws) != 0)) {
            if (ws)
                printf("workspace %s\n", ws);
            else
                printf("no workspace label\n");
        }
        prev = ws;
        print_finding(sorted[i].f);
    }
    free(sorted);
    fprintf(sum,
            "%s: %zu record(s), %zu compared object(s); live: %zu labelled object(s), %zu "
            "project(s), %zu attribute row(s); %zu request(s) in %.1f s; %zu finding(s)\n",
            PROG, t->records, t->checked, t->objects, t->projects, t->attrs, t->requests,
            t->seconds, n);
    fflush(stdout);
    return 0;
}

/* ---- the command line ---- */

typedef struct args {
    const char *config;
    int json;
    int timeout_s;
} args;

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0}};
    char why[64];
    int64_t v;
    int c;

    while ((c = getopt_long(argc, argv, "c:jt:hV", opts, NULL)) != -1) {
        if (c == 'c') {
            a->config = optarg;
        } else if (c == 'j') {
            a->json = 1;
        } else if (c == 't') {
            if (numparse_i64(optarg, 1, 86400, &v, why, sizeof(why)) != 0) {
                fprintf(stderr, PROG ": --timeout \"%s\": %s\n", optarg, why);
                return 2;
            }
            a->timeout_s = (int)v;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else if (c == 'V') {
            printf(PROG " %s\n", WSFLYTE_VERSION);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (a->config == NULL) {
        fprintf(stderr, PROG ": --config FILE is required\n");
        usage(stderr);
        return 2;
    }
    return -1;
}

/* Notes what every record wants (one record at a time), then compares the
 * lists with it page by page, then tells what the lists did not hold.
 * Returns 0, or -1 with a->err set. */
static int audit_all(audit *a)
{
    const char *id;
    json_t *list;
    size_t i = 0;

    a->n_recs = json_object_size(a->r->keys);
    if ((a->recs = calloc(a->n_recs + 1, sizeof(*a->recs))) == NULL)
        return oom(a->err);
    json_object_foreach(a->r->keys, id, list)
    {
        a->recs[i] = (record_ref){id, list};
        if (index_workspace(a, i++) != 0)
            return -1;
    }
    if (read_live(a) != 0)
        return -1;
    return finish(a);
}

static void audit_fini(audit *a)
{
    rendered_clear(&a->cache);
    free(a->cache.objs);
    free(a->recs);
    free(a->ranks);
    json_decref(a->findings);
}

int main(int argc, char **argv)
{
    args a = {NULL, 0, 30};
    char topic[512], *rep = NULL;
    reading r = {0};
    live l = {0};
    audit au = {0};
    wf_config cfg;
    wf_err err;
    totals t = {0};
    int64_t started = wf_clock_mono_ms();
    int rc = parse_args(argc, argv, &a), have_cfg = 0;

    if (rc >= 0)
        return rc;
    rc = 2;
    wf_err_init(&err);
    au.cache.rec = SIZE_MAX;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (wf_config_load(&cfg, a.config, environ, &rep, &err) != 0) {
        fprintf(stderr, PROG ": configuration is invalid:\n%s", rep ? rep : err.msg);
        goto out;
    }
    have_cfg = 1;
    r.topic = wf_config_state_topic(&cfg, topic, sizeof(topic));
    if (live_init(&l, &cfg, &err) != 0) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        goto out;
    }
    if (read_state(&cfg, &r, a.timeout_s * 1000, &err) != 0) {
        fprintf(stderr, PROG ": cannot read the state topic: %s\n", err.msg);
        goto out;
    }
    au.l = &l;
    au.cfg = &cfg;
    au.r = &r;
    au.err = &err;
    if ((au.findings = json_array()) == NULL || audit_all(&au) != 0) {
        fprintf(stderr, PROG ": %s\n", err.msg[0] ? err.msg : "out of memory");
        goto out;
    }
    t.checked = au.checked;
    t.records = json_object_size(l.records);
    t.objects = l.objects;
    t.projects = json_object_size(l.projects);
    t.attrs = l.attr_rows;
    t.requests = l.requests;
    t.seconds = (double)(wf_clock_mono_ms() - started) / 1000.0;
    if (print_all(au.findings, au.ranks, a.json, &t) != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        goto out;
    }
    rc = json_array_size(au.findings) ? 1 : 0;
out:
    audit_fini(&au);
    live_fini(&l);
    if (have_cfg)
        wf_config_fini(&cfg);
    reading_fini(&r);
    free(rep);
    curl_global_cleanup();
    return rc;
}
