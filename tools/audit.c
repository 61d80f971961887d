/* wsflyte-audit: one pass over the state topic, FlyteAdmin and the
 * Kubernetes cluster, telling what disagrees.  The number of requests does
 * not grow with the number of workspaces: per managed kind one paginated
 * cluster-wide LIST by wsflyte's label, ListProjects (paginated, archived
 * projects included) and ListMatchableAttributes for the one resource type
 * wsflyte writes.  Everything is then compared in memory, one workspace at
 * a time, with the live diff's reading (livediff.h).  GETs only. */
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
#include "livediff.h"
#include "numparse.h"
#include "oauth.h"
#include "wsstate.h"
#include "wsstatus.h"

#define PROG "wsflyte-audit"

#define K8S_PAGE        500
#define FLYTE_PAGE      500
#define LIST_TIMEOUT_MS 60000L
#define ATTRIBUTES_TYPE "WORKFLOW_EXECUTION_CONFIG"
/* ListMatchableAttributes answers every row of the type at once (FlyteAdmin
 * does not page it): about 560 bytes a row, 30,000 rows at 10,000
 * workspaces of three domains are some 17 MiB. */
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

typedef struct live {
    oauth *auth;
    httpc *flyte;
    k8s *kube;
    httpc *kube_http; /* k8s's connection, with a longer timeout for big pages */
    json_t *objects;  /* "apiVersion|kind|namespace|name" -> object (with apiVersion, kind) */
    json_t *projects; /* id -> Project */
    json_t *attrs;    /* "project|domain" -> ProjectDomainAttributes as GET returns it */
    json_t *claimed;  /* keys of objects, "project:<id>", "attrs:<p>|<d>" a record owns */
    json_t *records;  /* workspace id -> "wanted" | "not wanted" | "unreadable" */
    size_t requests;
    size_t attr_rows; /* all rows of the type, also of others' projects */
} live;

static void live_fini(live *l)
{
    httpc_free(l->kube_http);
    k8s_free(l->kube);
    httpc_free(l->flyte);
    oauth_free(l->auth);
    json_decref(l->objects);
    json_decref(l->projects);
    json_decref(l->attrs);
    json_decref(l->claimed);
    json_decref(l->records);
    memset(l, 0, sizeof(*l));
}

static int live_init(live *l, const wf_config *cfg, wf_err *err)
{
    const char *ca = cfg->flyte.ca_file[0] ? cfg->flyte.ca_file : NULL;
    httpc_opts fo = {0}, ko;

    memset(l, 0, sizeof(*l));
    l->objects = json_object();
    l->projects = json_object();
    l->attrs = json_object();
    l->claimed = json_object();
    l->records = json_object();
    if (!l->objects || !l->projects || !l->attrs || !l->claimed || !l->records)
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
    if ((l->flyte = httpc_new(&fo, err)) == NULL ||
        (l->kube = k8s_new(cfg, NULL, NULL, NULL, err)) == NULL)
        return -1;
    ko = *k8s_conn(l->kube);
    ko.timeout_ms = LIST_TIMEOUT_MS;
    return (l->kube_http = httpc_new(&ko, err)) == NULL ? -1 : 0;
}

static void object_key(const char *api, const char *kind, const char *ns, const char *name,
                       char *buf, size_t len)
{
    snprintf(buf, len, "%s|%s|%s|%s", api, kind, ns ? ns : "", name ? name : "");
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

/* One kind, cluster-wide, page by page. */
static int list_kind(live *l, const kind_ref *k, wf_err *err)
{
    char path[1024], key[1024], *cont = NULL;
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
        if (asprintf(&target, "%s?labelSelector=%s&limit=%d%s%s", path, sel, K8S_PAGE,
                     econt ? "&continue=" : "", econt ? econt : "") < 0)
            target = NULL;
        free(econt);
        free(cont);
        cont = NULL;
        page = target ? get_json(l, l->kube_http, "k8s", target, err) : NULL;
        free(target);
        if (page == NULL)
            goto out;
        json_array_foreach(json_object_get(page, "items"), i, item)
        {
            const json_t *meta = json_object_get(item, "metadata");
            object_key(k->api_version, k->kind,
                       json_string_value(json_object_get(meta, "namespace")),
                       json_string_value(json_object_get(meta, "name")), key, sizeof(key));
            json_object_set_new(item, "apiVersion", json_string(k->api_version));
            json_object_set_new(item, "kind", json_string(k->kind));
            json_object_set(l->objects, key, item);
        }
        const char *c =
            json_string_value(json_object_get(json_object_get(page, "metadata"), "continue"));
        if (c && c[0] && (cont = strdup(c)) == NULL) {
            json_decref(page);
            oom(err);
            goto out;
        }
        json_decref(page);
    } while (cont);
    rc = 0;
out:
    free(cont);
    free(sel);
    if (rc != 0)
        wf_err_prefix(err, "list %s %s", k->api_version, k->kind);
    return rc;
}

/* Every project, archived ones too (without a filter ListProjects leaves
 * them out), by identifier so that the pages do not shift. */
static int list_projects(live *l, wf_err *err)
{
    char *filter = httpc_escape(PROJECTS_ALL_STATE), *token = NULL;
    int rc = -1;

    if (filter == NULL)
        return oom(err);
    do {
        char *target = NULL;
        json_t *page, *p;
        size_t i;
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
            const char *id = json_string_value(json_object_get(p, "id"));
            if (id)
                json_object_set(l->projects, id, p);
        }
        const char *t = json_string_value(json_object_get(page, "token"));
        if (t && t[0] && json_array_size(json_object_get(page, "projects")) &&
            (token = httpc_escape(t)) == NULL) {
            json_decref(page);
            oom(err);
            goto out;
        }
        json_decref(page);
    } while (token);
    rc = 0;
out:
    free(token);
    free(filter);
    if (rc != 0)
        wf_err_prefix(err, "list projects");
    return rc;
}

/* The project-domain rows of the type, shaped as GetProjectDomainAttributes
 * answers, so that the comparison is the live diff's. */
static int list_attributes(live *l, wf_err *err)
{
    json_t *body, *c;
    size_t i;
    char key[600];

    httpc_set_max_body(l->flyte, ATTRIBUTES_MAX_BODY);
    body = get_json(l, l->flyte, "flyte",
                    "/api/v1/matchable_attributes?resource_type=" ATTRIBUTES_TYPE, err);
    httpc_set_max_body(l->flyte, 0);
    if (body == NULL) {
        wf_err_prefix(err, "list matchable attributes");
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
        snprintf(key, sizeof(key), "%s|%s", p, d);
        json_object_set_new(l->attrs, key,
                            json_pack("{s:s, s:s, s:O?, s:s}", "project", p, "domain", d,
                                      "matching_attributes", json_object_get(c, "attributes"),
                                      "org", org ? org : ""));
    }
    json_decref(body);
    return 0;
}

static int read_live(live *l, const wf_config *cfg, wf_err *err)
{
    for (size_t i = 0; i < sizeof(base_kinds) / sizeof(base_kinds[0]); i++)
        if (list_kind(l, &base_kinds[i], err) != 0)
            return -1;
    for (size_t i = 0; cfg->aws.ack_enabled && i < sizeof(ack_kinds) / sizeof(ack_kinds[0]); i++)
        if (list_kind(l, &ack_kinds[i], err) != 0)
            return -1;
    return list_projects(l, err) != 0 || list_attributes(l, err) != 0 ? -1 : 0;
}

/* ---- findings ---- */

typedef struct audit {
    live *l;
    json_t *findings;
    const char *ws; /* the workspace being checked */
    const desired *d;
    wf_err *err;
    size_t checked; /* recorded objects compared */
} audit;

/* Adds a finding; object fields may be NULL.  changes is borrowed. */
static int finding(audit *a, const char *ws, const char *what, const char *api, const char *kind,
                   const char *ns, const char *name, const char *detail, const json_t *changes)
{
    json_t *f = json_pack("{s:s?, s:s, s:s?, s:s?, s:s?, s:s?, s:s?}", "workspace_id", ws,
                          "finding", what, "api_version", api, "kind", kind, "namespace", ns,
                          "name", name, "detail", detail);

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
    return f == NULL || json_array_append_new(a->findings, f) ? oom(a->err) : 0;
}

/* Marks key as a record's; a project's value says whether Flyte is wanted. */
static int claim_as(audit *a, const char *key, const char *what)
{
    return json_object_set_new(a->l->claimed, key, json_string(what)) ? oom(a->err) : 0;
}

static int claim(audit *a, const char *key)
{
    return claim_as(a, key, "yes");
}

/* What an UpdateProject writes, as comparable JSON (as wsflyte-status). */
static json_t *project_view(const json_t *p, int is_live)
{
    json_t *v = json_object(), *labels = json_object_get(json_object_get(p, "labels"), "values");
    const char *state = json_string_value(json_object_get(p, "state"));
    const char *keys[] = {"name", "description"};

    for (size_t i = 0; v && i < 2; i++)
        if (json_is_string(json_object_get(p, keys[i])))
            json_object_set(v, keys[i], json_object_get(p, keys[i]));
    if (v && json_is_object(labels))
        json_object_set_new(v, "labels", json_pack("{s:O}", "values", labels));
    if (is_live)
        state = flyte_project_archived(p) ? FLYTE_STATE_ARCHIVED : FLYTE_STATE_ACTIVE;
    if (v && state)
        json_object_set_new(v, "state", json_string(state));
    return v;
}

static int check_project(audit *a, const json_t *want)
{
    const char *id = a->d->project_id;
    json_t *got = json_object_get(a->l->projects, id), *x, *y, *changes, *v;
    char key[600];
    const char *k;
    void *tmp;
    int n;

    snprintf(key, sizeof(key), "project:%s", id);
    if (got == NULL)
        return finding(a, a->ws, "project-missing", "flyteadmin/v1", "FlyteProject", NULL, id,
                       "Flyte is wanted but FlyteAdmin has no such project", NULL);
    if (claim_as(a, key, "wanted") != 0)
        return -1;
    if (!desired_project_is_ours(got))
        return finding(a, a->ws, "project-not-ours", "flyteadmin/v1", "FlyteProject", NULL, id,
                       "the project is not labelled managed-by=wsflyte", NULL);
    if (flyte_project_archived(got))
        return finding(a, a->ws, "project-archived", "flyteadmin/v1", "FlyteProject", NULL, id,
                       "Flyte is wanted but the project is archived", NULL);
    x = project_view(want, 0);
    y = project_view(got, 1);
    json_object_foreach_safe(y, tmp, k, v)
    {
        if (json_object_get(x, k) == NULL) /* what the PUT leaves alone */
            json_object_del(y, k);
    }
    changes = json_array();
    n = x && y && changes ? livediff_replace(x, y, changes) : -1;
    json_decref(x);
    json_decref(y);
    if (n > 0)
        n = finding(a, a->ws, "differs", "flyteadmin/v1", "FlyteProject", NULL, id, NULL, changes);
    json_decref(changes);
    return n < 0 ? oom(a->err) : 0;
}

static int check_attributes(audit *a, const char *domain, const json_t *want)
{
    char key[600], name[700];
    json_t *got, *changes;
    int n;

    snprintf(key, sizeof(key), "%s|%s", a->d->project_id, domain);
    snprintf(name, sizeof(name), "%s/%s", a->d->project_id, domain);
    if ((got = json_object_get(a->l->attrs, key)) == NULL)
        return finding(a, a->ws, "missing", "flyteadmin/v1", "ProjectDomainAttributes", NULL, name,
                       ATTRIBUTES_TYPE, NULL);
    snprintf(name, sizeof(name), "attrs:%s", key);
    if (claim(a, name) != 0 || (changes = json_array()) == NULL)
        return -1;
    n = livediff_replace(want, got, changes);
    snprintf(name, sizeof(name), "%s/%s", a->d->project_id, domain);
    if (n > 0)
        n = finding(a, a->ws, "differs", "flyteadmin/v1", "ProjectDomainAttributes", NULL, name,
                    ATTRIBUTES_TYPE, changes);
    json_decref(changes);
    return n < 0 ? oom(a->err) : 0;
}

static int check_manifest(audit *a, const json_t *want)
{
    const json_t *meta = json_object_get(want, "metadata");
    const char *api = json_string_value(json_object_get(want, "apiVersion"));
    const char *kind = json_string_value(json_object_get(want, "kind"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    char key[1024];
    json_t *got, *changes;
    int n;

    object_key(api, kind, ns, name, key, sizeof(key));
    if ((got = json_object_get(a->l->objects, key)) == NULL)
        return finding(a, a->ws, "missing", api, kind, ns, name, NULL, NULL);
    if (!desired_object_is_ours(got, a->d->project_id)) {
        const char *other = json_string_value(json_object_get(
            json_object_get(json_object_get(got, "metadata"), "labels"), LABEL_WORKSPACE));
        char why[256];
        snprintf(why, sizeof(why), "labelled for workspace %s", other ? other : "(none)");
        return finding(a, a->ws, "foreign", api, kind, ns, name, why, NULL);
    }
    if (claim(a, key) != 0 || (changes = json_array()) == NULL)
        return -1;
    n = livediff_apply(want, got, K8S_FIELD_MANAGER, changes);
    if (n > 0)
        n = finding(a, a->ws, "differs", api, kind, ns, name, NULL, changes);
    json_decref(changes);
    return n < 0 ? oom(a->err) : 0;
}

static int check_object(void *ud, size_t index, const char *kind, const char *domain,
                        const json_t *obj)
{
    audit *a = ud;

    (void)index;
    a->checked++;
    if (json_object_get(obj, "apiVersion") == NULL)
        return strcmp(kind, "FlyteProject") == 0 ? check_project(a, obj)
                                                 : check_attributes(a, domain, obj);
    return check_manifest(a, obj);
}

/* Flyte not wanted: the project, when there is one, is the record's and
 * must be archived; everything in Kubernetes left over is an orphan. */
static int check_unwanted(audit *a, const char *project_id)
{
    json_t *got = json_object_get(a->l->projects, project_id);
    char key[600];

    snprintf(key, sizeof(key), "project:%s", project_id);
    if (got == NULL || !desired_project_is_ours(got))
        return 0;
    if (claim_as(a, key, "not wanted") != 0)
        return -1;
    return flyte_project_archived(got)
               ? 0
               : finding(a, a->ws, "project-active", "flyteadmin/v1", "FlyteProject", NULL,
                         project_id, "Flyte is not wanted but the project is active", NULL);
}

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

/* Checks the workspace of key id against the live state. */
static int check_workspace(audit *a, const wf_config *cfg, const reading *r, const char *id,
                           const json_t *list)
{
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
    if ((rc = winner(r, list, &s, &rerr)) == 0) {
        wsstate_fini(&s);
        return 0; /* every partition's record removed: no record */
    }
    if (rc > 0) {
        have_ev = wsstate_event_of(&s, &ev, &rerr) == 0;
        have_d = have_ev && desired_build(cfg, &ev, &d, &rerr) == 0;
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
    if (rc == 0)
        rc = s.flyte && d.flyte_wanted ? wsstatus_each(&d, check_object, a)
                                       : check_unwanted(a, d.project_id);
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

/* What no record claimed. */
static int sweep(audit *a)
{
    const char *key, *ws;
    char ck[700];
    json_t *v;

    json_object_foreach(a->l->objects, key, v)
    {
        const json_t *meta = json_object_get(v, "metadata");
        if (json_object_get(a->l->claimed, key))
            continue;
        ws = json_string_value(json_object_get(json_object_get(meta, "labels"), LABEL_WORKSPACE));
        if (ws && json_object_get(a->l->records, ws) &&
            strcmp(json_string_value(json_object_get(a->l->records, ws)), "unreadable") == 0)
            continue; /* told under its unreadable record */
        if (finding(a, ws, "orphan", json_string_value(json_object_get(v, "apiVersion")),
                    json_string_value(json_object_get(v, "kind")),
                    json_string_value(json_object_get(meta, "namespace")),
                    json_string_value(json_object_get(meta, "name")), record_note(a->l, ws),
                    NULL) != 0)
            return -1;
    }
    json_object_foreach(a->l->projects, key, v)
    {
        snprintf(ck, sizeof(ck), "project:%s", key);
        if (!desired_project_is_ours(v) || json_object_get(a->l->claimed, ck) ||
            json_object_get(a->l->records, key))
            continue;
        if (finding(a, key, "orphan-project", "flyteadmin/v1", "FlyteProject", NULL, key,
                    flyte_project_archived(v) ? "archived; no record" : "active; no record",
                    NULL) != 0)
            return -1;
    }
    json_object_foreach(a->l->attrs, key, v)
    {
        const char *p = json_string_value(json_object_get(v, "project"));
        json_t *proj = json_object_get(a->l->projects, p);
        char name[600];
        const char *owner;
        snprintf(ck, sizeof(ck), "project:%s", p);
        owner = json_string_value(json_object_get(a->l->claimed, ck));
        snprintf(ck, sizeof(ck), "attrs:%s", key);
        /* A project whose record does not want Flyte keeps its attributes
         * (wsflyte archives it, deleting nothing); an unreadable record's
         * are told under it. */
        if (proj == NULL || !desired_project_is_ours(proj) || json_object_get(a->l->claimed, ck) ||
            (owner && strcmp(owner, "not wanted") == 0) ||
            (owner == NULL && json_object_get(a->l->records, p)))
            continue;
        snprintf(name, sizeof(name), "%s/%s", p, json_string_value(json_object_get(v, "domain")));
        if (finding(a, p, "orphan-attributes", "flyteadmin/v1", "ProjectDomainAttributes", NULL,
                    name, ATTRIBUTES_TYPE, NULL) != 0)
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

/* A finding and the order it was found in. */
typedef struct ranked {
    const json_t *f;
    size_t order;
} ranked;

/* By workspace (findings without one last), then in the order found. */
static int by_workspace(const void *x, const void *y)
{
    const ranked *p = x, *q = y;
    const char *a = str_or(p->f, "workspace_id", NULL), *b = str_or(q->f, "workspace_id", NULL);
    int c = a == NULL || b == NULL ? (a == NULL) - (b == NULL) : strcmp(a, b);

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
    printf("%s%s%s\n", detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
    json_array_foreach(json_object_get(f, "changes"), i, c)
        printf("      %s\n", json_string_value(c));
}

typedef struct totals {
    size_t records, objects, projects, attrs, requests, checked, workspaces;
    double seconds;
} totals;

static int print_all(json_t *findings, int json, const totals *t)
{
    size_t n = json_array_size(findings);
    ranked *sorted = calloc(n + 1, sizeof(*sorted));
    const char *prev = "";
    FILE *sum = json ? stderr : stdout;

    if (sorted == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        sorted[i] = (ranked){json_array_get(findings, i), i};
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

/* Compares every record with the live state.  Returns 0, or -1 with err. */
static int audit_all(const wf_config *cfg, reading *r, live *l, json_t *findings, totals *t,
                     wf_err *err)
{
    audit a = {l, findings, NULL, NULL, err, 0};
    const char *id;
    json_t *list;

    json_object_foreach(r->keys, id, list)
    {
        if (check_workspace(&a, cfg, r, id, list) != 0)
            return -1;
    }
    t->checked = a.checked;
    t->records = json_object_size(l->records);
    return sweep(&a);
}

int main(int argc, char **argv)
{
    args a = {NULL, 0, 30};
    char topic[512], *rep = NULL;
    reading r = {0};
    live l = {0};
    wf_config cfg;
    wf_err err;
    json_t *findings = NULL;
    totals t = {0};
    int64_t started = wf_clock_mono_ms();
    int rc = parse_args(argc, argv, &a), have_cfg = 0;

    if (rc >= 0)
        return rc;
    rc = 2;
    wf_err_init(&err);
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
    if (read_live(&l, &cfg, &err) != 0) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        goto out;
    }
    if ((findings = json_array()) == NULL || audit_all(&cfg, &r, &l, findings, &t, &err) != 0) {
        fprintf(stderr, PROG ": %s\n", err.msg[0] ? err.msg : "out of memory");
        goto out;
    }
    t.objects = json_object_size(l.objects);
    t.projects = json_object_size(l.projects);
    t.attrs = l.attr_rows;
    t.requests = l.requests;
    t.seconds = (double)(wf_clock_mono_ms() - started) / 1000.0;
    if (print_all(findings, a.json, &t) != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        goto out;
    }
    rc = json_array_size(findings) ? 1 : 0;
out:
    json_decref(findings);
    live_fini(&l);
    if (have_cfg)
        wf_config_fini(&cfg);
    reading_fini(&r);
    free(rep);
    curl_global_cleanup();
    return rc;
}
