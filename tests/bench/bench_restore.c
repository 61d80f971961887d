/* bench_restore: how long restoring a fleet's state records takes, and the
 * memory they hold (`make bench-restore`; not part of `make test`).
 *
 * Starts librdkafka's mock cluster in this process, creates the state topic
 * with P partitions and produces one state record per workspace to it, as
 * the compacted topic would hold them: each built from a realistic event
 * (three domains, five members, two labels) by desired_build, with the
 * content hash of every desired object and the event inside, and written by
 * wsstate_encode, so the sizes are the handler's.  Then this program runs
 * itself again as a fresh process (so that the cluster, the producer and
 * the records it built do not count) which restores all P partitions at once
 * with restore_partitions, the path wsflyte takes on assignment, into an
 * applied store, and prints the time, the records, the store's size and its
 * peak RSS with every workspace in memory.
 *
 *   bench_restore [--workspaces N] [--partitions P]
 *
 * The mock cluster keeps about 5 MB per partition (older records are
 * dropped), so P must leave each partition under that: 10,000 records of
 * about 2.4 KB over 8 partitions are 3 MB each.  The restore reads over
 * loopback TCP from the mock brokers, which run on threads of the parent
 * process. */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "applied.h"
#include "clock.h"
#include "config.h"
#include "desired.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "restore.h"
#include "wsstate.h"

#define TIMEOUT_MS 120000

typedef struct opts {
    int workspaces;
    int partitions;
    const char *bootstrap; /* set: this is the restoring child */
} opts;

static int usage(void)
{
    fprintf(stderr, "usage: bench_restore [--workspaces N] [--partitions P]\n");
    return 2;
}

static int parse_args(int argc, char **argv, opts *o)
{
    o->workspaces = 10000;
    o->partitions = 8;
    o->bootstrap = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && strcmp(argv[i], "--workspaces") == 0)
            o->workspaces = atoi(v);
        else if (v && strcmp(argv[i], "--partitions") == 0)
            o->partitions = atoi(v);
        else if (v && strcmp(argv[i], "--child") == 0)
            o->bootstrap = v;
        else
            return -1;
        i++;
    }
    return o->workspaces > 0 && o->partitions > 0 ? 0 : -1;
}

/* Peak and current RSS of this process, in MiB, from /proc. */
static void rss_mib(double *peak, double *now)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");

    *peak = *now = -1;
    while (f && fgets(line, sizeof(line), f)) {
        long kb;
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            *peak = kb / 1024.0;
        else if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            *now = kb / 1024.0;
    }
    if (f)
        fclose(f);
}

/* ---- the records ---- */

/* The event of workspace i, as the platform would publish it. */
static json_t *event_json(int i)
{
    char id[64], name[96], bucket[96], eid[64];
    static const char *const roles[] = {"OWNER", "CONTRIBUTOR", "CONTRIBUTOR", "VIEWER", "VIEWER"};
    json_t *members = json_array();

    snprintf(id, sizeof(id), "ws-fleet-%05d", i);
    snprintf(name, sizeof(name), "Fleet workspace %d", i);
    snprintf(bucket, sizeof(bucket), "%s-data", id);
    snprintf(eid, sizeof(eid), "00000000-0000-4000-8000-%012d", i);
    for (int m = 0; m < 5; m++) {
        char user[64], email[96];
        snprintf(user, sizeof(user), "user%d-%d", m, i);
        snprintf(email, sizeof(email), "user%d-%d@company.com", m, i);
        json_array_append_new(members, json_pack("{s:s, s:s, s:s}", "user_id", user, "email", email,
                                                 "role", roles[m]));
    }
    return json_pack("{s:s, s:s, s:I, s:I, s:s, s:n, s:{s:s, s:s, s:[s,s], s:o, s:s, s:n, "
                     "s:{s:s, s:s}}}",
                     "event_id", eid, "event_type", "MEMBERS_CHANGED", "occurred_at",
                     (json_int_t)1764316800000, "workspace_version", (json_int_t)7, "actor",
                     "alice", "service", "workspace", "workspace_id", id, "workspace_name", name,
                     "services", "flyte", "sagemaker", "members", members, "data_bucket", bucket,
                     "quota", "labels", "team", "ml-platform", "cost-center", "cc-1042");
}

/* An object's identity as the handler hashes it (provision.c). */
static uint64_t object_id(const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "k8s\n%s\n%s\n%s\n%s",
                     json_string_value(json_object_get(obj, "apiVersion")),
                     json_string_value(json_object_get(obj, "kind")), ns ? ns : "",
                     json_string_value(json_object_get(meta, "name")));
    return wsstate_hash(buf, (size_t)n);
}

static int add(wsstate *s, size_t cap, uint64_t id, uint64_t hash)
{
    if (s->n_objs >= cap)
        return -1;
    s->objs[s->n_objs++] = (wsstate_obj){id, hash};
    return 0;
}

/* The record the handler keeps after applying ev: per desired object its
 * identity and content hash (the project, each domain's attributes, every
 * manifest), the event itself.  Returns 0, or -1 with err set. */
static int record_of(const wf_config *cfg, const ws_event *ev, wsstate *s, wf_err *err)
{
    const char *fixed_ids[] = {"flyte-project\n\n\n\n", "flyte-attributes\n%s\n\n\n"};
    json_t *doc = ws_event_to_json(ev);
    size_t cap = 1;
    desired d;
    int rc = -1;

    wsstate_init(s);
    if (doc == NULL || desired_build(cfg, ev, &d, err) != 0)
        goto out;
    cap += json_array_size(d.cluster_objects);
    for (size_t i = 0; i < d.n_domains; i++)
        cap += 1 + json_array_size(d.domains[i].objects);
    if ((s->objs = calloc(cap, sizeof(*s->objs))) == NULL)
        goto out;
    add(s, cap, wsstate_hash(fixed_ids[0], strlen(fixed_ids[0])), wsstate_hash_json(d.project));
    for (size_t i = 0; i <= d.n_domains; i++) {
        json_t *objs = i < d.n_domains ? d.domains[i].objects : d.cluster_objects, *obj;
        size_t j;
        if (i < d.n_domains) {
            char id[128];
            int n = snprintf(id, sizeof(id), fixed_ids[1], d.domains[i].domain);
            add(s, cap, wsstate_hash(id, (size_t)n), wsstate_hash_json(d.domains[i].attributes));
        }
        json_array_foreach(objs, j, obj) add(s, cap, object_id(obj), wsstate_hash_json(obj));
    }
    wsstate_sort(s);
    s->workspace_id = strdup(ev->ws.workspace_id);
    s->event_id = strdup(ev->event_id);
    s->version = ev->workspace_version;
    s->status = PROV_SUCCEEDED;
    s->project = s->flyte = s->complete = 1;
    s->digest = wsstate_hash(s->objs, s->n_objs * sizeof(*s->objs));
    s->event = json_dumps(doc, JSON_COMPACT);
    rc = s->workspace_id && s->event_id && s->event ? 0 : -1;
out:
    if (rc != 0 && err->code[0] == '\0')
        wf_err_set(err, WF_INTERNAL, "oom", "bench: out of memory");
    desired_fini(&d);
    json_decref(doc);
    return rc;
}

/* Produces one record per workspace, workspace i to partition i % P.
 * Returns 0, or -1 with err set. */
static int produce(const wf_config *cfg, const char *topic, const opts *o, size_t *bytes,
                   wf_err *err)
{
    kafka_producer_opts po = {.linger_ms = 50};
    rd_kafka_t *p = kafka_producer_new(cfg, &po, err);
    int rc = p ? 0 : -1;

    *bytes = 0;
    for (int i = 0; rc == 0 && i < o->workspaces; i++) {
        json_t *j = event_json(i);
        ws_event ev;
        wsstate s;
        size_t len = 0;
        char *value = NULL;

        wsstate_init(&s);
        if (ws_event_from_json(j, &ev, err) != 0) {
            json_decref(j);
            rc = -1;
            break;
        }
        if (record_of(cfg, &ev, &s, err) != 0 || (value = wsstate_encode(&s, &len)) == NULL)
            rc = -1;
        while (rc == 0 && rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                            RD_KAFKA_V_PARTITION(i % o->partitions),
                                            RD_KAFKA_V_KEY(s.workspace_id, strlen(s.workspace_id)),
                                            RD_KAFKA_V_VALUE(value, len),
                                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                            RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 100);
        *bytes += len;
        free(value);
        wsstate_fini(&s);
        ws_event_fini(&ev);
        json_decref(j);
    }
    if (p && rd_kafka_flush(p, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR && rc == 0) {
        wf_err_set(err, WF_TRANSIENT, "kafka", "bench: records not acknowledged within 60 s");
        rc = -1;
    }
    if (p)
        rd_kafka_destroy(p);
    return rc;
}

/* ---- the restore, in a fresh process ---- */

static int restore_child(wf_config *cfg, const char *topic, const opts *o)
{
    char group[128];
    kafka_reader_opts ro = {.group_id = group};
    restore_part *parts = calloc((size_t)o->partitions, sizeof(*parts));
    applied *store = applied_new();
    double peak0, now0, peak, now;
    size_t records = 0, count;
    rd_kafka_t *reader;
    int64_t t0, ms;
    wf_err err;
    int rc;

    wf_err_init(&err);
    snprintf(group, sizeof(group), "%s.state-restore", cfg->kafka.group_id);
    if (parts == NULL || store == NULL || (reader = kafka_reader_new(cfg, &ro, &err)) == NULL) {
        fprintf(stderr, "bench_restore: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < o->partitions; i++)
        parts[i].partition = i;
    rss_mib(&peak0, &now0);
    t0 = wf_clock_mono_ms();
    rc = restore_partitions(reader, topic, parts, (size_t)o->partitions, store, TIMEOUT_MS, &err);
    ms = wf_clock_mono_ms() - t0;
    rss_mib(&peak, &now);
    for (int i = 0; i < o->partitions; i++)
        records += parts[i].records;
    if (rc != 0)
        fprintf(stderr, "bench_restore: %s\n", err.msg);
    printf("restored %zu record(s) of %d partition(s) in %.3f s (%.0f records/s)\n", records,
           o->partitions, ms / 1000.0, ms > 0 ? records * 1000.0 / ms : 0.0);
    count = applied_count(store);
    printf("workspaces in memory: %zu; the store's own estimate: %.1f MiB\n", count,
           applied_bytes(store) / 1048576.0);
    printf("RSS before the restore: %.1f MiB (the reader client); after: %.1f MiB; peak: %.1f "
           "MiB\n",
           now0, now, peak);
    rd_kafka_consumer_close(reader);
    rd_kafka_destroy(reader);
    applied_free(store);
    free(parts);
    if (count != (size_t)o->workspaces)
        fprintf(stderr, "bench_restore: %zu of %d workspaces restored\n", count, o->workspaces);
    return rc == 0 && count == (size_t)o->workspaces ? 0 : 1;
}

/* Runs this program again with --child and waits for it. */
static int run_child(char **argv, const opts *o, const char *bootstrap)
{
    char ws[32], parts[32];
    pid_t pid;
    int status = 0;

    snprintf(ws, sizeof(ws), "%d", o->workspaces);
    snprintf(parts, sizeof(parts), "%d", o->partitions);
    fflush(NULL);
    if ((pid = fork()) == 0) {
        execl("/proc/self/exe", argv[0], "--workspaces", ws, "--partitions", parts, "--child",
              bootstrap, (char *)NULL);
        perror("bench_restore: exec");
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
    rd_kafka_mock_cluster_t *mc = NULL;
    rd_kafka_t *host = NULL;
    char topic[512];
    wf_config cfg;
    size_t bytes = 0;
    int64_t t0;
    wf_err err;
    opts o;
    int rc = 1;

    if (parse_args(argc, argv, &o) != 0)
        return usage();
    log_setup(WF_LOG_TEXT, WF_LOG_WARN);
    wf_err_init(&err);
    wf_config_defaults(&cfg);
    wf_config_state_topic(&cfg, topic, sizeof(topic));
    if (o.bootstrap) {
        free(cfg.kafka.bootstrap_servers);
        cfg.kafka.bootstrap_servers = strdup(o.bootstrap);
        rc = restore_child(&cfg, topic, &o);
        wf_config_fini(&cfg);
        return rc;
    }
    if ((host = kafka_mock_host_new(&err)) == NULL ||
        (mc = rd_kafka_mock_cluster_new(host, 1)) == NULL ||
        rd_kafka_mock_topic_create(mc, topic, o.partitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "bench_restore: cannot start the mock cluster: %s\n", err.msg);
        goto out;
    }
    free(cfg.kafka.bootstrap_servers);
    cfg.kafka.bootstrap_servers = strdup(rd_kafka_mock_cluster_bootstraps(mc));
    t0 = wf_clock_mono_ms();
    if (produce(&cfg, topic, &o, &bytes, &err) != 0) {
        fprintf(stderr, "bench_restore: %s\n", err.msg);
        goto out;
    }
    printf("produced %d state record(s) to %s over %d partition(s) in %.1f s: %.0f bytes each on "
           "average, %.1f MiB per partition\n",
           o.workspaces, topic, o.partitions, (wf_clock_mono_ms() - t0) / 1000.0,
           (double)bytes / o.workspaces, bytes / 1048576.0 / o.partitions);
    rc = run_child(argv, &o, cfg.kafka.bootstrap_servers);
out:
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (host)
        rd_kafka_destroy(host);
    wf_config_fini(&cfg);
    return rc;
}
