/* bench_status: how long wsflyte-status takes to answer for one workspace
 * when the state topic holds a fleet's records (`make bench-status`; not
 * part of `make test`).
 *
 * Starts librdkafka's mock cluster in this process, creates the state topic
 * with P partitions and produces one state record per workspace to it, as
 * bench_restore does (each built from a realistic event: three domains, five
 * members, two labels, by desired_build, written by wsstate_encode).  Then
 * it runs the wsflyte-status program beside it (a separate process, as an
 * operator would) for one workspace, R times, and prints each run's wall
 * time and CPU time (user + system, from wait4): the whole program, from
 * its start through reading every partition to its end to its exit.
 *
 *   bench_status [--workspaces N] [--partitions P] [--runs R] [--status PATH]
 *
 * PATH defaults to wsflyte-status beside this program.  The mock cluster
 * keeps about 5 MB per partition, so P must leave each partition under
 * that (10,000 records over 8 partitions are about 3 MB each). */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "desired.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "wsstate.h"

typedef struct opts {
    int workspaces;
    int partitions;
    int runs;
    const char *status;
} opts;

static int usage(void)
{
    fprintf(stderr, "usage: bench_status [--workspaces N] [--partitions P] [--runs R] "
                    "[--status PATH]\n");
    return 2;
}

static int parse_args(int argc, char **argv, opts *o)
{
    o->workspaces = 10000;
    o->partitions = 8;
    o->runs = 3;
    o->status = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && strcmp(argv[i], "--workspaces") == 0)
            o->workspaces = atoi(v);
        else if (v && strcmp(argv[i], "--partitions") == 0)
            o->partitions = atoi(v);
        else if (v && strcmp(argv[i], "--runs") == 0)
            o->runs = atoi(v);
        else if (v && strcmp(argv[i], "--status") == 0)
            o->status = v;
        else
            return -1;
        i++;
    }
    return o->workspaces > 0 && o->partitions > 0 && o->runs > 0 ? 0 : -1;
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

/* ---- wsflyte-status, timed ---- */

/* A configuration for wsflyte-status: the mock cluster and placeholders
 * for the APIs it does not read without --live. */
static int write_config(const char *path, const char *bootstrap)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return -1;
    fprintf(
        f,
        "kafka: {bootstrap_servers: \"%s\", group_id: wsflyte}\n"
        "schemas: {directory: \"%s\"}\n"
        "flyte: {admin_url: \"http://127.0.0.1:1\", console_url: \"http://127.0.0.1:1/console\"}\n"
        "kubernetes: {api_url: \"http://127.0.0.1:1\"}\n",
        bootstrap, WSFLYTE_SCHEMA_DIR);
    return fclose(f);
}

/* Runs status once for workspace id; returns its exit status (-1: did not
 * run) with its wall and CPU seconds. */
static int run_status(const char *status, const char *config, const char *id, double *wall,
                      double *cpu)
{
    int64_t t0 = wf_clock_mono_ms();
    struct rusage ru;
    int st = 0;
    pid_t pid;

    fflush(NULL);
    if ((pid = fork()) == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        execl(status, status, "--config", config, "--json", id, (char *)NULL);
        perror("bench_status: exec");
        _exit(127);
    }
    if (pid < 0 || wait4(pid, &st, 0, &ru) != pid)
        return -1;
    *wall = (wf_clock_mono_ms() - t0) / 1000.0;
    *cpu =
        ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int time_runs(const opts *o, const char *status, const char *bootstrap)
{
    char config[] = "/tmp/bench_status-XXXXXX", id[64];
    double worst = 0, sum = 0;
    int fd = mkstemp(config), rc = 0;

    if (fd < 0 || close(fd) != 0 || write_config(config, bootstrap) != 0) {
        perror("bench_status: config");
        return 1;
    }
    /* A workspace in the middle of the fleet: every partition is read whatever it is. */
    snprintf(id, sizeof(id), "ws-fleet-%05d", o->workspaces / 2);
    for (int i = 0; i < o->runs && rc == 0; i++) {
        double wall = 0, cpu = 0;
        int st = run_status(status, config, id, &wall, &cpu);
        if (st != 0) {
            fprintf(stderr, "bench_status: %s exited with %d\n", status, st);
            rc = 1;
            break;
        }
        printf("run %d: wsflyte-status %s answered in %.3f s (CPU %.3f s)\n", i + 1, id, wall, cpu);
        worst = wall > worst ? wall : worst;
        sum += wall;
    }
    if (rc == 0)
        printf("wsflyte-status over %d workspaces' records: mean %.3f s, worst %.3f s (target: at "
               "most 2 s)\n",
               o->workspaces, sum / o->runs, worst);
    unlink(config);
    return rc;
}

int main(int argc, char **argv)
{
    rd_kafka_mock_cluster_t *mc = NULL;
    rd_kafka_t *host = NULL;
    char topic[512], self[4096], status[4200];
    wf_config cfg;
    size_t bytes = 0;
    ssize_t n;
    int64_t t0;
    wf_err err;
    opts o;
    int rc = 1;

    if (parse_args(argc, argv, &o) != 0)
        return usage();
    if (o.status == NULL) {
        if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0)
            return usage();
        self[n] = '\0';
        snprintf(status, sizeof(status), "%s/wsflyte-status", dirname(self));
        o.status = status;
    }
    log_setup(WF_LOG_TEXT, WF_LOG_WARN);
    wf_err_init(&err);
    wf_config_defaults(&cfg);
    wf_config_state_topic(&cfg, topic, sizeof(topic));
    if ((host = kafka_mock_host_new(&err)) == NULL ||
        (mc = rd_kafka_mock_cluster_new(host, 1)) == NULL ||
        rd_kafka_mock_topic_create(mc, topic, o.partitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "bench_status: cannot start the mock cluster: %s\n", err.msg);
        goto out;
    }
    free(cfg.kafka.bootstrap_servers);
    cfg.kafka.bootstrap_servers = strdup(rd_kafka_mock_cluster_bootstraps(mc));
    t0 = wf_clock_mono_ms();
    if (produce(&cfg, topic, &o, &bytes, &err) != 0) {
        fprintf(stderr, "bench_status: %s\n", err.msg);
        goto out;
    }
    printf("produced %d state record(s) to %s over %d partition(s) in %.1f s: %.0f bytes each on "
           "average, %.1f MiB per partition\n",
           o.workspaces, topic, o.partitions, (wf_clock_mono_ms() - t0) / 1000.0,
           (double)bytes / o.workspaces, bytes / 1048576.0 / o.partitions);
    rc = time_runs(&o, o.status, cfg.kafka.bootstrap_servers);
out:
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (host)
        rd_kafka_destroy(host);
    wf_config_fini(&cfg);
    return rc;
}
