/* wsflyte-results: prints provisioning results from the results topic as
 * JSON lines (Avro or JSON values alike), for people and scripts that wait
 * for "provisioning complete".  Reads without a consumer group: it never
 * moves anybody's offsets. */
#include <curl/curl.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "config.h"
#include "kafka.h"
#include "numparse.h"

extern char **environ;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: wsflyte-results --config FILE [--count N] [--timeout SEC] [--follow]\n"
                "                       [--to-end] [--workspace ID]\n"
                "\n"
                "Prints the results on kafka.topics.results from the beginning, one JSON object\n"
                "per line.  Stops after N results (--count), after SEC seconds without a new\n"
                "one (--timeout, default 5), or never (--follow).  --to-end stops once every\n"
                "result that was on the topic at start-up is printed, however slowly the\n"
                "brokers answer (exit 1 when SEC seconds pass without progress before that).\n"
                "--workspace ID shows one workspace's results only.\n"
                "-h, --help: this help; -V, --version: the version.\n"
                "\n"
                "Example:\n"
                "  wsflyte-results --config dev.yaml --workspace ws-ml-prod-001 --timeout 2\n");
}

static rd_kafka_t *make_consumer(const wf_config *cfg, wf_err *err)
{
    char group[64];
    kafka_reader_opts o = {.group_id = group};

    /* assign() still needs a group id; a private one, never committed. */
    snprintf(group, sizeof(group), "wsflyte-results-%ld", (long)getpid());
    return kafka_reader_new(cfg, &o, err);
}

/* Where each partition of the topic ended at start-up (--to-end). */
typedef struct topic_ends {
    int64_t *end; /* per partition id: the offset after its last record; -1: reached */
    int n;        /* partitions */
    int left;     /* partitions not read to their end yet */
} topic_ends;

/* Reads the high watermark of every partition of topic into ends. */
static int read_ends(rd_kafka_t *rk, const char *topic, int n, topic_ends *ends, wf_err *err)
{
    if ((ends->end = calloc((size_t)n, sizeof(*ends->end))) == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "out of memory");
        return -1;
    }
    ends->n = n;
    ends->left = 0;
    for (int p = 0; p < n; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t rerr = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (rerr) {
            wf_err_set(err, WF_TRANSIENT, "kafka.watermarks", "end offset of %s[%d]: %s", topic, p,
                       rd_kafka_err2str(rerr));
            return -1;
        }
        ends->end[p] = hi > lo ? hi : -1;
        ends->left += hi > lo;
    }
    return 0;
}

/* Notes that the record at offset of partition p was read. */
static void reached(topic_ends *ends, int32_t p, int64_t offset)
{
    if (ends->end == NULL || p < 0 || p >= ends->n || ends->end[p] < 0 || offset + 1 < ends->end[p])
        return;
    ends->end[p] = -1;
    ends->left--;
}

/* Assigns every partition of topic from the beginning; with ends, first
 * notes where each one ends now. */
static int assign_all(rd_kafka_t *rk, const char *topic, topic_ends *ends, wf_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t rerr = rd_kafka_metadata(rk, 0, t, &md, 10000);
    rd_kafka_topic_partition_list_t *l;
    int rc = -1;

    if (rerr || md->topic_cnt != 1 || md->topics[0].err) {
        wf_err_set(err, WF_TRANSIENT, "kafka.metadata", "metadata of %s: %s", topic,
                   rd_kafka_err2str(rerr ? rerr : md->topics[0].err));
        goto out;
    }
    if (ends && read_ends(rk, topic, md->topics[0].partition_cnt, ends, err) != 0)
        goto out;
    l = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rerr = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (rerr)
        wf_err_set(err, WF_TRANSIENT, "kafka.assign", "assign %s: %s", topic,
                   rd_kafka_err2str(rerr));
    else
        rc = 0;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return rc;
}

static int print_result(codec *c, const rd_kafka_message_t *m, const char *only_workspace)
{
    prov_result r;
    wf_err err;
    json_t *j;
    char *text;

    memset(&r, 0, sizeof(r));
    wf_err_init(&err);
    if (codec_decode_result(c, m->payload, m->len, &r, &err) != 0) {
        fprintf(stderr, "wsflyte-results: offset %lld: %s\n", (long long)m->offset, err.msg);
        return 0;
    }
    int shown = only_workspace == NULL || strcmp(r.workspace_id, only_workspace) == 0;
    if (shown && (j = prov_result_to_json(&r)) != NULL) {
        text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        if (text)
            printf("%s\n", text);
        fflush(stdout);
        free(text);
        json_decref(j);
    }
    prov_result_fini(&r);
    return shown;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"count", required_argument, NULL, 'n'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"follow", no_argument, NULL, 'f'},
                                         {"to-end", no_argument, NULL, 'e'},
                                         {"workspace", required_argument, NULL, 'w'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *only_ws = NULL;
    long count = -1, timeout_s = 5, seen = 0;
    int follow = 0, to_end = 0, c, rc = 1;
    topic_ends ends = {0};
    int64_t v;
    char why[64];
    char *report = NULL;
    rd_kafka_t *rk = NULL;
    codec *cd = NULL;
    wf_config cfg;
    wf_err err;

    while ((c = getopt_long(argc, argv, "c:n:t:few:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'n':
        case 't':
            if (numparse_i64(optarg, c == 'n' ? 0 : 1, INT32_MAX, &v, why, sizeof(why)) != 0) {
                fprintf(stderr, "wsflyte-results: --%s \"%s\": %s\n",
                        c == 'n' ? "count" : "timeout", optarg, why);
                return 2;
            }
            *(c == 'n' ? &count : &timeout_s) = (long)v;
            break;
        case 'f':
            follow = 1;
            break;
        case 'e':
            to_end = 1;
            break;
        case 'w':
            only_ws = optarg;
            break;
        case 'V':
            printf("wsflyte-results %s\n", WSFLYTE_VERSION);
            exit(0);
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    wf_err_init(&err);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (wf_config_load(&cfg, config_path, environ, &report, &err) != 0) {
        fprintf(stderr, "wsflyte-results: configuration is invalid:\n%s",
                report ? report : err.msg);
        goto out;
    }
    if ((cd = kafka_codec_new(&cfg, &err)) == NULL || (rk = make_consumer(&cfg, &err)) == NULL ||
        assign_all(rk, cfg.kafka.topic_results, to_end ? &ends : NULL, &err) != 0) {
        fprintf(stderr, "wsflyte-results: %s\n", err.msg);
        goto out;
    }
    time_t last = time(NULL);
    while (!stop_requested && (count < 0 || seen < count) && !(to_end && ends.left == 0) &&
           (follow || time(NULL) - last < timeout_s)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            seen += print_result(cd, m, only_ws);
            reached(&ends, m->partition, m->offset);
            last = time(NULL);
        }
        rd_kafka_message_destroy(m);
    }
    if (to_end) {
        rc = ends.left == 0 || (count >= 0 && seen >= count) ? 0 : 1;
        if (rc)
            fprintf(stderr,
                    "wsflyte-results: %d partition(s) not read to their end before the timeout\n",
                    ends.left);
    } else {
        rc = (count < 0 || seen >= count) ? 0 : 1;
        if (rc)
            fprintf(stderr, "wsflyte-results: %ld of %ld result(s) seen before the timeout\n", seen,
                    count);
    }
out:
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    codec_free(cd);
    free(ends.end);
    free(report);
    wf_config_fini(&cfg);
    curl_global_cleanup();
    return rc;
}
