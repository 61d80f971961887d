/* wsflyte-status: what wsflyte last recorded for each named workspace, read
 * from the state topic without joining the consumer group (every partition
 * assigned, read from its start to the high watermark seen at start-up),
 * with the managed objects re-rendered from the recorded event; with
 * --live, whether each live object still matches (GETs only). */
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
#include "names.h"
#include "numparse.h"
#include "oauth.h"
#include "wsstate.h"
#include "wsstatus.h"

#define PROG "wsflyte-status"

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
            "Usage: " PROG " --config FILE [--json] [--live] [--timeout SEC] WORKSPACE_ID...\n"
            "\n"
            "Prints what wsflyte last recorded for each workspace, read from the state topic\n"
            "<events>.<group_id>.state without joining the consumer group: every partition is\n"
            "read from its start to its end at start-up (a workspace's record sits on the\n"
            "partition its event was read from; after partitions were added it may have records\n"
            "on several, and the highest version wins, as wsflyte's restore decides).\n"
            "\n"
            "Per workspace: the version applied, the event (id, type, time), the outcome a\n"
            "duplicate gets, whether the record is complete, whether Flyte is wanted, the Flyte\n"
            "project, the namespaces, every managed object (apiVersion, kind, namespace, name,\n"
            "re-rendered from the recorded event, with the record's identity and content\n"
            "hashes), and the members with their role and the domains it grants.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE   wsflyte configuration (Kafka; with --live FlyteAdmin and\n"
            "                      Kubernetes access)\n"
            "  -j, --json          one JSON object per workspace per line\n"
            "  -l, --live          also read each managed object (GETs only, never a write) and\n"
            "                      say whether it is unchanged, differs (with the fields), is\n"
            "                      missing, or lies in a namespace that is not wsflyte's\n"
            "  -t, --timeout SEC   give up after SEC seconds without progress (default 30)\n"
            "  -h, --help          this help\n"
            "  -V, --version       print the version\n"
            "\n"
            "Exit status: 0 every workspace has a record; 1 some workspace has none (never\n"
            "provisioned, or its record was removed); 2 an error (configuration, arguments,\n"
            "the broker or, with --live, the APIs could not be read).\n"
            "\n"
            "Examples:\n"
            "  " PROG " --config prod.yaml ws-ml-prod-001\n"
            "  " PROG " --config prod.yaml --live ws-ml-prod-001\n"
            "  " PROG
            " --config prod.yaml --json ws-a ws-b | jq '{workspace_id, version, complete}'\n");
}

/* ---- reading the state topic ---- */

/* The newest record of one workspace on one partition. */
typedef struct slot {
    int seen;    /* a record (or tombstone) was read */
    char *value; /* NULL: a tombstone */
    size_t len;
    int64_t offset;
} slot;

typedef struct reading {
    const char *topic;
    char **ids;
    size_t *id_len;
    size_t n_ids;
    int n_parts;
    slot *slots;    /* [id][partition] */
    int64_t *end;   /* per partition at start-up; -1 when read to its end */
    int left;       /* partitions not read to their end */
    size_t records; /* read in all */
} reading;

static void reading_fini(reading *r)
{
    for (size_t i = 0; r->slots && i < r->n_ids * (size_t)r->n_parts; i++)
        free(r->slots[i].value);
    free(r->slots);
    free(r->end);
    free(r->id_len);
}

static int oom(wf_err *err)
{
    wf_err_set(err, WF_INTERNAL, "oom", "out of memory");
    return -1;
}

/* Notes the partitions' ends and assigns every one from its start. */
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
    r->slots = calloc(r->n_ids * (size_t)r->n_parts + 1, sizeof(*r->slots));
    l = rd_kafka_topic_partition_list_new(r->n_parts);
    if (r->end == NULL || r->slots == NULL) {
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

/* Keeps m when its key names one of the workspaces: the newest record of
 * each partition (offset order) replaces an earlier one. */
static int keep(reading *r, const rd_kafka_message_t *m, wf_err *err)
{
    for (size_t i = 0; i < r->n_ids; i++) {
        if (m->key_len != r->id_len[i] || memcmp(m->key, r->ids[i], m->key_len) != 0)
            continue;
        slot *s = &r->slots[i * (size_t)r->n_parts + (size_t)m->partition];
        char *copy = NULL;
        if (m->payload && (copy = malloc(m->len ? m->len : 1)) == NULL)
            return oom(err);
        if (copy)
            memcpy(copy, m->payload, m->len);
        free(s->value);
        *s = (slot){1, copy, m->len, m->offset};
    }
    return 0;
}

/* Reads until every partition reached its end at start-up; gives up after
 * timeout_ms without a record.  Returns 0, or -1 with err set. */
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

static int read_state(const wf_config *cfg, reading *r, int timeout_ms, wf_err *err)
{
    char group[64];
    kafka_reader_opts o = {.group_id = group};
    rd_kafka_t *rk;
    int rc;

    /* assign() still needs a group id; a private one, never committed. */
    snprintf(group, sizeof(group), PROG "-%ld", (long)getpid());
    if ((rk = kafka_reader_new(cfg, &o, err)) == NULL)
        return -1;
    rc = assign_all(rk, r, timeout_ms, err);
    if (rc == 0)
        rc = read_to_end(rk, r, timeout_ms, err);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- the live state (--live) ---- */

typedef struct live {
    const wf_config *cfg;
    oauth *auth;
    httpc *flyte;
    k8s *kube;       /* kubernetes.api_url */
    k8s **exec_kube; /* per kubernetes.clusters entry */
} live;

static void live_fini(live *l)
{
    for (size_t i = 0; l->exec_kube && i < l->cfg->kubernetes.n_clusters; i++)
        k8s_free(l->exec_kube[i]);
    free(l->exec_kube);
    k8s_free(l->kube);
    httpc_free(l->flyte);
    oauth_free(l->auth);
    memset(l, 0, sizeof(*l));
}

/* The clients wsflyte-render --diff uses (handlers/liveplan.c). */
static int live_init(live *l, const wf_config *cfg, wf_err *err)
{
    const char *ca = cfg->flyte.ca_file[0] ? cfg->flyte.ca_file : NULL;
    httpc_opts fo = {0};

    memset(l, 0, sizeof(*l));
    l->cfg = cfg;
    if (cfg->flyte.auth_type == WF_AUTH_CLIENT_CREDENTIALS &&
        (l->auth = oauth_new(cfg, ca, err)) == NULL)
        return -1;
    fo.api = "flyte";
    fo.base_url = cfg->flyte.admin_url;
    fo.ca_file = ca;
    if (l->auth) {
        fo.auth = oauth_auth;
        fo.auth_ud = l->auth;
    }
    if ((l->flyte = httpc_new(&fo, err)) == NULL ||
        (l->kube = k8s_new(cfg, NULL, NULL, NULL, err)) == NULL) {
        live_fini(l);
        return -1;
    }
    if (cfg->kubernetes.n_clusters > 0 &&
        (l->exec_kube = calloc(cfg->kubernetes.n_clusters, sizeof(*l->exec_kube))) == NULL) {
        live_fini(l);
        return oom(err);
    }
    for (size_t i = 0; i < cfg->kubernetes.n_clusters; i++)
        if ((l->exec_kube[i] = k8s_new_cluster(cfg, (int)i, NULL, NULL, NULL, err)) == NULL) {
            live_fini(l);
            return -1;
        }
    return 0;
}

typedef struct live_walk {
    live *l;
    const desired *d;
    json_t *objects;  /* the description's entries, in wsstatus_each's order */
    json_t *project;  /* the live project, once read */
    json_t *ns_state; /* namespace name -> "missing" | "foreign" */
    wf_err *err;
    size_t counts[4];
} live_walk;

enum { L_UNCHANGED, L_DIFFERS, L_MISSING, L_FOREIGN };
static const char *const live_names[] = {"unchanged", "differs", "missing", "foreign-namespace"};

static int mark(live_walk *w, size_t index, int state, json_t *changes, const char *note)
{
    json_t *e = json_array_get(w->objects, index);
    json_t *v = json_pack("{s:s}", "state", live_names[state]);

    if (v && changes && json_array_size(changes))
        json_object_set(v, "changes", changes);
    if (v && note)
        json_object_set_new(v, "note", json_string(note));
    w->counts[state]++;
    return e == NULL || v == NULL || json_object_set_new(e, "live", v) != 0 ? oom(w->err) : 0;
}

static int diffed(live_walk *w, size_t index, int n, json_t *changes)
{
    int rc = n < 0 ? oom(w->err) : mark(w, index, n ? L_DIFFERS : L_UNCHANGED, changes, NULL);
    json_decref(changes);
    return rc;
}

static int live_project(live_walk *w, size_t index)
{
    json_t *changes;
    int n;

    if (flyte_get_project(w->l->flyte, w->d->project_id, &w->project, w->err) != 0)
        return -1;
    if (w->project == NULL)
        return mark(w, index, L_MISSING, NULL, NULL);
    if (!desired_project_is_ours(w->project))
        return mark(w, index, L_DIFFERS, NULL, "not managed by wsflyte");
    changes = json_array();
    n = changes ? plan_compare_project(w->d->project, w->project, changes) : -1;
    return diffed(w, index, n, changes);
}

static int live_attributes(live_walk *w, size_t index, const char *domain, const json_t *want)
{
    json_t *got = NULL, *changes;
    const char *live_domain;

    if (w->project == NULL || !desired_project_is_ours(w->project))
        return mark(w, index, L_MISSING, NULL, "no project of wsflyte's");
    if (flyte_project_archived(w->project))
        return mark(w, index, L_DIFFERS, NULL, "the project is archived");
    if (flyte_get_domain_attributes(w->l->flyte, w->d->project_id, domain,
                                    wsstatus_is_cluster_attributes(want)
                                        ? "EXECUTION_CLUSTER_LABEL"
                                        : "WORKFLOW_EXECUTION_CONFIG",
                                    &got, w->err) != 0)
        return -1;
    live_domain = json_string_value(json_object_get(got, "domain"));
    if (got == NULL || live_domain == NULL || strcmp(live_domain, domain) != 0) {
        json_decref(got);
        return mark(w, index, L_MISSING, NULL, NULL);
    }
    changes = json_array();
    int n = changes ? plan_compare_attributes(want, got, changes) : -1;
    json_decref(got);
    return diffed(w, index, n, changes);
}

/* A domain's objects are on the workspace's cluster (d->cluster), the
 * others on the control plane. */
static int live_manifest(live_walk *w, size_t index, const char *domain, const json_t *want)
{
    k8s *kube = domain && w->d->cluster >= 0 ? w->l->exec_kube[w->d->cluster] : w->l->kube;
    const json_t *meta = json_object_get(want, "metadata");
    const char *kind = json_string_value(json_object_get(want, "kind"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns_state = ns ? json_string_value(json_object_get(w->ns_state, ns)) : NULL;
    json_t *got = NULL, *changes;
    int is_ns = strcmp(kind, "Namespace") == 0 && ns == NULL, n;

    if (ns_state) /* nothing of wsflyte's in a missing or foreign namespace */
        return mark(w, index, strcmp(ns_state, "missing") == 0 ? L_MISSING : L_FOREIGN, NULL,
                    strcmp(ns_state, "missing") == 0 ? "its namespace is missing" : NULL);
    if (k8s_get(kube, json_string_value(json_object_get(want, "apiVersion")), kind, ns, name, &got,
                w->err) != 0)
        return -1;
    if (got == NULL || (is_ns && !desired_object_is_ours(got, w->d->project_id))) {
        int state = got == NULL ? L_MISSING : L_FOREIGN;
        json_decref(got);
        if (is_ns)
            json_object_set_new(w->ns_state, name,
                                json_string(state == L_MISSING ? "missing" : "foreign"));
        return mark(w, index, state, NULL, state == L_FOREIGN ? "not wsflyte's" : NULL);
    }
    changes = json_array();
    n = changes ? plan_compare_object(want, got, changes) : -1;
    json_decref(got);
    return diffed(w, index, n, changes);
}

static int live_object(void *ud, size_t index, const char *kind, const char *domain,
                       const json_t *obj)
{
    live_walk *w = ud;

    if (json_object_get(obj, "apiVersion") == NULL)
        return strcmp(kind, "FlyteProject") == 0 ? live_project(w, index)
                                                 : live_attributes(w, index, domain, obj);
    return live_manifest(w, index, domain, obj);
}

/* Adds "live" to each object of desc and a "live" summary.  Returns 0, or
 * -1 with err set (an API could not be read). */
static int live_check(live *l, const desired *d, json_t *desc, wf_err *err)
{
    live_walk w = {l, d, json_object_get(desc, "objects"), NULL, json_object(), err, {0}};
    int rc = w.ns_state ? wsstatus_each(d, live_object, &w) : oom(err);

    if (rc == 0 && json_object_set_new(desc, "live",
                                       json_pack("{s:I, s:I, s:I, s:I}", "unchanged",
                                                 (json_int_t)w.counts[L_UNCHANGED], "differs",
                                                 (json_int_t)w.counts[L_DIFFERS], "missing",
                                                 (json_int_t)w.counts[L_MISSING], "foreign",
                                                 (json_int_t)w.counts[L_FOREIGN])) != 0)
        rc = oom(err);
    json_decref(w.project);
    json_decref(w.ns_state);
    return rc < 0 ? -1 : 0;
}

/* ---- one workspace ---- */

/* The winning record of workspace i, decoded into *out with its partition
 * and offset; unreadable records are listed in bad.  Returns 1 when there
 * is one, 0 when none, -1 out of memory. */
static int winner(const reading *r, size_t i, wsstate *out, int *partition, int64_t *offset,
                  json_t *bad)
{
    wsstate *recs = calloc((size_t)r->n_parts + 1, sizeof(*recs));
    int *part = calloc((size_t)r->n_parts + 1, sizeof(*part));
    size_t n = 0;
    int best, rc = -1;

    if (recs == NULL || part == NULL)
        goto out;
    for (int p = 0; p < r->n_parts; p++) {
        const slot *s = &r->slots[i * (size_t)r->n_parts + (size_t)p];
        wf_err err;
        wf_err_init(&err);
        if (!s->seen || s->value == NULL)
            continue;
        if (wsstate_decode(s->value, s->len, &recs[n], &err) != 0 ||
            strcmp(recs[n].workspace_id, r->ids[i]) != 0) {
            json_array_append_new(bad, json_pack("{s:i, s:I, s:s}", "partition", p, "offset",
                                                 (json_int_t)s->offset, "error",
                                                 err.msg[0] ? err.msg : "another workspace's"));
            wsstate_fini(&recs[n]);
            continue;
        }
        part[n++] = p;
    }
    rc = 0;
    if ((best = wsstatus_pick(recs, n)) >= 0) {
        *partition = part[best];
        *offset = r->slots[i * (size_t)r->n_parts + (size_t)part[best]].offset;
        *out = recs[best];
        wsstate_init(&recs[best]);
        rc = 1;
    }
out:
    for (size_t k = 0; recs && k < n; k++)
        wsstate_fini(&recs[k]);
    free(recs);
    free(part);
    return rc;
}

/* The Kubernetes cluster the configuration names, as an operator knows
 * it: "in-cluster", "kubeconfig:PATH", or the URL without userinfo. */
static void cluster_name(const wf_config *cfg, char *buf, size_t len)
{
    const char *url = cfg->kubernetes.api_url, *host = strstr(url, "://"), *at;

    if (url[0] == '\0') {
        snprintf(buf, len, "in-cluster");
        return;
    }
    at = host ? strchr(host + 3, '@') : NULL;
    if (at && (strchr(host + 3, '/') == NULL || at < strchr(host + 3, '/')))
        snprintf(buf, len, "%.*s***%s", (int)(host + 3 - url), url, at);
    else
        snprintf(buf, len, "%s", url);
}

/* "cluster": without kubernetes.clusters, the one API server (api, as
 * cluster_name says it); with them, the record's cluster (null: none
 * recorded) and "moving_from" when a move left namespaces behind. */
static int set_cluster(const wf_config *cfg, const wsstate *s, const char *api, json_t *desc)
{
    if (cfg->kubernetes.n_clusters == 0)
        return json_object_set_new(desc, "cluster", json_string(api));
    if (json_object_set_new(desc, "cluster", s->cluster ? json_string(s->cluster) : json_null()))
        return -1;
    return s->moving_from ? json_object_set_new(desc, "moving_from", json_string(s->moving_from))
                          : 0;
}

/* Describes workspace i: a new object, NULL out of memory; *found says
 * whether it has a record. */
static json_t *describe(const wf_config *cfg, const reading *r, size_t i, live *l, int *found,
                        wf_err *err)
{
    json_t *bad = json_array(), *desc = NULL;
    int partition = -1, rc;
    int64_t offset = -1;
    wsstate s;
    ws_event ev;
    desired d;
    wf_err rerr;
    int have_ev = 0, have_d = 0, on;
    char cluster[512];

    wsstate_init(&s);
    memset(&d, 0, sizeof(d));
    wf_err_init(&rerr);
    if ((rc = winner(r, i, &s, &partition, &offset, bad)) <= 0) {
        *found = 0;
        desc = rc < 0 ? NULL
                      : json_pack("{s:s, s:b, s:O}", "workspace_id", r->ids[i], "record", 0,
                                  "unreadable_records", bad);
        goto out;
    }
    *found = 1;
    cluster_name(cfg, cluster, sizeof(cluster));
    on = plan_record_cluster(cfg, &s);
    have_ev = wsstate_event_of(&s, &ev, &rerr) == 0;
    have_d = have_ev && desired_build_on(cfg, &ev, on, &d, &rerr) == 0;
    desc =
        wsstatus_describe(&s, have_ev ? &ev : NULL, have_d ? &d : NULL, have_d ? NULL : rerr.msg);
    if (desc == NULL || json_object_set_new(desc, "partition", json_integer(partition)) ||
        json_object_set_new(desc, "offset", json_integer(offset)) ||
        set_cluster(cfg, &s, cluster, desc) != 0 ||
        json_object_set(desc, "unreadable_records", bad)) {
        json_decref(desc);
        desc = NULL;
        goto out;
    }
    /* With clusters, a record that names no configured cluster has no API
     * server to read its namespaces on. */
    if (cfg->kubernetes.n_clusters > 0 && on < 0 && l && have_d && s.flyte) {
        if (json_object_set_new(desc, "live_skipped",
                                json_string("the record names no configured cluster")) != 0) {
            json_decref(desc);
            desc = NULL;
        }
    } else if (l && have_d && s.flyte && live_check(l, &d, desc, err) != 0) {
        json_decref(desc);
        desc = NULL;
    }
out:
    if (have_d)
        desired_fini(&d);
    if (have_ev)
        ws_event_fini(&ev);
    wsstate_fini(&s);
    json_decref(bad);
    return desc;
}

/* ---- output ---- */

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static void print_list(const char *label, const json_t *arr)
{
    size_t i;
    json_t *v;

    printf("  %s:", label);
    json_array_foreach(arr, i, v) printf("%s %s", i ? "," : "", json_string_value(v));
    printf("%s\n", json_array_size(arr) ? "" : " none");
}

static void print_object(const json_t *o)
{
    const json_t *lv = json_object_get(o, "live"), *c;
    const char *ns = json_string_value(json_object_get(o, "namespace"));
    size_t i;

    printf("    %s %s %s%s%s%s%s  identity %s content %s%s", str(o, "apiVersion"), str(o, "kind"),
           ns ? ns : "", ns ? "/" : "", str(o, "name"),
           json_object_get(o, "resource_type") ? " " : "",
           json_object_get(o, "resource_type") ? str(o, "resource_type") : "", str(o, "identity"),
           str(o, "content"),
           json_is_true(json_object_get(o, "rendered_matches")) ? "" : " (not as rendered now)");
    if (lv)
        printf("  live: %s%s%s%s", str(lv, "state"), json_object_get(lv, "note") ? " (" : "",
               json_object_get(lv, "note") ? str(lv, "note") : "",
               json_object_get(lv, "note") ? ")" : "");
    printf("\n");
    json_array_foreach(json_object_get(lv, "changes"), i, c)
        printf("      %s\n", json_string_value(c));
}

static void print_human(const json_t *d)
{
    const json_t *out = json_object_get(d, "outcome"), *o, *lv = json_object_get(d, "live");
    size_t i;

    printf("workspace %s\n", str(d, "workspace_id"));
    json_array_foreach(json_object_get(d, "unreadable_records"), i, o)
        printf("  unreadable record at partition %lld offset %lld: %s\n",
               (long long)json_integer_value(json_object_get(o, "partition")),
               (long long)json_integer_value(json_object_get(o, "offset")), str(o, "error"));
    if (!json_is_true(json_object_get(d, "record"))) {
        printf("  no record\n");
        return;
    }
    printf("  version: %lld (partition %lld, offset %lld)\n",
           (long long)json_integer_value(json_object_get(d, "version")),
           (long long)json_integer_value(json_object_get(d, "partition")),
           (long long)json_integer_value(json_object_get(d, "offset")));
    printf("  event: %s %s at %s\n", str(d, "event_id"), str(d, "event_type"),
           str(d, "event_time"));
    printf("  outcome: %s%s%s\n", str(out, "status"),
           json_is_string(json_object_get(out, "reason")) ? " " : "",
           json_is_string(json_object_get(out, "reason")) ? str(out, "reason") : "");
    printf("  complete: %s\n", json_is_true(json_object_get(d, "complete"))
                                   ? "yes"
                                   : "no (an apply failed or was cut short: the next event "
                                     "takes the full path)");
    printf("  flyte: %s\n", json_is_true(json_object_get(d, "flyte_wanted"))
                                ? "wanted"
                                : "not wanted (deleted, removed or never enabled)");
    printf("  cluster: %s", str(d, "cluster"));
    if (json_object_get(d, "moving_from"))
        printf(" (moving from %s: its namespaces there are not deleted yet)",
               str(d, "moving_from"));
    printf("\n");
    printf("  project: %s\n", str(d, "project"));
    print_list("namespaces", json_object_get(d, "namespaces"));
    if (json_object_get(d, "render_error"))
        printf("  objects: not re-rendered: %s\n", str(d, "render_error"));
    printf("  objects: %zu", json_array_size(json_object_get(d, "objects")));
    if (json_integer_value(json_object_get(d, "unnamed_objects")))
        printf(" (and %lld recorded that no rendered object names)",
               (long long)json_integer_value(json_object_get(d, "unnamed_objects")));
    if (json_object_get(d, "live_skipped"))
        printf("; live: not read (%s)", str(d, "live_skipped"));
    if (lv)
        printf("; live: %lld unchanged, %lld differ, %lld missing, %lld in a foreign namespace",
               (long long)json_integer_value(json_object_get(lv, "unchanged")),
               (long long)json_integer_value(json_object_get(lv, "differs")),
               (long long)json_integer_value(json_object_get(lv, "missing")),
               (long long)json_integer_value(json_object_get(lv, "foreign")));
    printf("\n");
    json_array_foreach(json_object_get(d, "objects"), i, o) print_object(o);
    printf("  members: %zu\n", json_array_size(json_object_get(d, "members")));
    json_array_foreach(json_object_get(d, "members"), i, o)
    {
        printf("    %s <%s> %s:", str(o, "user_id"), str(o, "email"), str(o, "role"));
        const json_t *doms = json_object_get(o, "domains"), *x;
        size_t j;
        json_array_foreach(doms, j, x) printf("%s %s", j ? "," : "", json_string_value(x));
        printf("%s\n", json_array_size(doms) ? "" : " no domain");
    }
}

static int print_json(const json_t *d)
{
    char *text = json_dumps(d, JSON_COMPACT);

    if (text == NULL)
        return -1;
    printf("%s\n", text);
    free(text);
    return 0;
}

/* ---- the command line ---- */

typedef struct args {
    const char *config;
    int json, live;
    int timeout_s;
} args;

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, args *a)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"live", no_argument, NULL, 'l'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    char why[64];
    int64_t v;
    int c;

    while ((c = getopt_long(argc, argv, "c:jlt:hV", opts, NULL)) != -1) {
        if (c == 'c') {
            a->config = optarg;
        } else if (c == 'j') {
            a->json = 1;
        } else if (c == 'l') {
            a->live = 1;
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
    if (optind >= argc) {
        fprintf(stderr, PROG ": name at least one workspace id\n");
        usage(stderr);
        return 2;
    }
    for (int i = optind; i < argc; i++) {
        if (!names_is_dns1123_label(argv[i], WORKSPACE_ID_MAX)) {
            fprintf(stderr,
                    PROG ": workspace id \"%s\" is not valid: a DNS label of at most %d "
                         "characters (lowercase letters, digits and '-', starting and ending "
                         "with a letter or digit)\n",
                    argv[i], WORKSPACE_ID_MAX);
            return 2;
        }
    }
    return -1;
}

static int report(const wf_config *cfg, reading *r, const args *a, live *l)
{
    int missing = 0;

    for (size_t i = 0; i < r->n_ids; i++) {
        wf_err err;
        int found = 0;
        json_t *d;

        wf_err_init(&err);
        if ((d = describe(cfg, r, i, a->live ? l : NULL, &found, &err)) == NULL) {
            fprintf(stderr, PROG ": %s: %s\n", r->ids[i], err.msg[0] ? err.msg : "out of memory");
            return 2;
        }
        missing |= !found;
        if (a->json)
            print_json(d);
        else
            print_human(d);
        fflush(stdout);
        json_decref(d);
    }
    return missing ? 1 : 0;
}

int main(int argc, char **argv)
{
    args a = {NULL, 0, 0, 30};
    char topic[512], *rep = NULL;
    reading r = {0};
    live l = {0};
    wf_config cfg;
    wf_err err;
    int rc = parse_args(argc, argv, &a);

    if (rc >= 0)
        return rc;
    rc = 2;
    wf_err_init(&err);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    r.ids = argv + optind;
    r.n_ids = (size_t)(argc - optind);
    if ((r.id_len = calloc(r.n_ids, sizeof(*r.id_len))) == NULL)
        goto out_nocfg;
    for (size_t i = 0; i < r.n_ids; i++)
        r.id_len[i] = strlen(r.ids[i]);
    if (wf_config_load(&cfg, a.config, environ, &rep, &err) != 0) {
        fprintf(stderr, PROG ": configuration is invalid:\n%s", rep ? rep : err.msg);
        goto out;
    }
    r.topic = wf_config_state_topic(&cfg, topic, sizeof(topic));
    if (a.live && live_init(&l, &cfg, &err) != 0) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        goto out;
    }
    if (read_state(&cfg, &r, a.timeout_s * 1000, &err) != 0) {
        fprintf(stderr, PROG ": cannot read the state topic: %s\n", err.msg);
        goto out;
    }
    rc = report(&cfg, &r, &a, &l);
out:
    if (a.live)
        live_fini(&l);
    wf_config_fini(&cfg);
out_nocfg:
    reading_fini(&r);
    free(rep);
    curl_global_cleanup();
    return rc;
}
