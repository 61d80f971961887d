/* wsflyte-devkafka: an embedded Kafka-protocol cluster for local runs and
 * tests (librdkafka's mock cluster), with the contract's topics created.
 * Any Kafka client, kcat included, can talk to it.  Not for production: it
 * keeps everything in memory and at most ~5 MiB per partition. */
#include <getopt.h>
#include <poll.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kafka.h"
#include "numparse.h"

extern char **environ;

#define MAX_EXTRA 32

/* Topics beyond the configuration's: retry tiers and dead-letter topics of
 * other consumer groups, and topics with a partition count of their own. */
typedef struct extras {
    const char *groups[MAX_EXTRA];
    int n_groups;
    const char *topics[MAX_EXTRA]; /* "NAME:N" */
    size_t name_len[MAX_EXTRA];
    int counts[MAX_EXTRA];
    int n_topics;
} extras;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: wsflyte-devkafka [--partitions N] [--brokers N] [--config FILE]\n"
            "                        [--group ID]... [--topic NAME:N]...\n"
            "\n"
            "Starts an in-memory Kafka-protocol cluster (librdkafka's mock cluster) with\n"
            "the events, results, retry-tier, dead-letter and state topics, prints its\n"
            "bootstrap.servers as the first line of stdout, and runs until SIGINT/SIGTERM.\n"
            "Topic names follow the configuration (defaults: CONTRACT names, group wsflyte).\n"
            "\n"
            "Options:\n"
            "  -p, --partitions N  partitions per topic (default 3)\n"
            "  -b, --brokers N     number of brokers (default 1)\n"
            "  -c, --config FILE   wsflyte configuration to take topic names from\n"
            "  -g, --group ID      also the retry-tier, dead-letter and state topics of group ID\n"
            "                      (repeatable)\n"
            "  -t, --topic NAME:N  give NAME, one of the topics above, N partitions instead\n"
            "                      of --partitions (repeatable; for tests of mismatched\n"
            "                      topics, which wsflyte refuses to start with; N 0\n"
            "                      leaves NAME out)\n"
            "  -h, --help          this help\n"
            "  -V, --version       print the version\n"
            "\n"
            "Fault injection, one command per line on stdin (for tests):\n"
            "  down BROKER | up BROKER         take a broker off the network / back\n"
            "  rtt BROKER MS                   add round-trip latency to a broker\n"
            "  errors APIKEY COUNT ERRCODE     fail the next COUNT requests of an API\n"
            "                                  (e.g. errors 0 3 7: three Produce requests\n"
            "                                  fail with REQUEST_TIMED_OUT)\n"
            "\n"
            "Examples:\n"
            "  bootstrap=$(wsflyte-devkafka --partitions 6 | head -1)\n"
            "  kcat -b \"$bootstrap\" -L\n"
            "  wsflyte-devkafka --brokers 3 --config dev.yaml   # topic names from dev.yaml\n");
}

/* The partition count --topic gives name, or partitions. */
static int count_for(const extras *x, const char *name, int partitions)
{
    for (int i = 0; i < x->n_topics; i++)
        if (x->name_len[i] == strlen(name) && strncmp(x->topics[i], name, x->name_len[i]) == 0)
            return x->counts[i];
    return partitions;
}

static int create(rd_kafka_mock_cluster_t *mc, const extras *x, const char *name, int partitions)
{
    int n = count_for(x, name, partitions);

    if (n == 0)
        return 0; /* --topic NAME:0 leaves it out */
    if (rd_kafka_mock_topic_create(mc, name, n, 1)) {
        fprintf(stderr, "wsflyte-devkafka: cannot create topic %s\n", name);
        return -1;
    }
    return 0;
}

/* The retry tiers, dead-letter and state topics of cfg's events topic for
 * group. */
static int create_group_topics(rd_kafka_mock_cluster_t *mc, const extras *x, wf_config *cfg,
                               const char *group, int partitions)
{
    const char *own = cfg->kafka.group_id;
    char name[512];
    int rc = 0;

    cfg->kafka.group_id = (char *)group;
    for (size_t i = 0; rc == 0 && i < cfg->retry.n_tiers; i++)
        rc = create(mc, x, wf_config_retry_topic(cfg, i, name, sizeof(name)), partitions);
    if (rc == 0)
        rc = create(mc, x, wf_config_dlt_topic(cfg, name, sizeof(name)), partitions);
    /* The mock cluster keeps every record (it knows no cleanup.policy):
     * readers of the state topic take the newest record per key anyway. */
    if (rc == 0)
        rc = create(mc, x, wf_config_state_topic(cfg, name, sizeof(name)), partitions);
    cfg->kafka.group_id = (char *)own;
    return rc;
}

static int create_topics(rd_kafka_mock_cluster_t *mc, const extras *x, wf_config *cfg,
                         int partitions)
{
    if (create(mc, x, cfg->kafka.topic_events, partitions) ||
        create(mc, x, cfg->kafka.topic_results, partitions) ||
        create_group_topics(mc, x, cfg, cfg->kafka.group_id, partitions))
        return -1;
    for (int i = 0; i < x->n_groups; i++)
        if (create_group_topics(mc, x, cfg, x->groups[i], partitions))
            return -1;
    return 0;
}

/* Applies one fault-injection command; answers "ok" or an error on stderr. */
static void run_command(rd_kafka_mock_cluster_t *mc, char *line)
{
    char cmd[16];
    int a = 0, b = 0, c = 0, n = sscanf(line, "%15s %d %d %d", cmd, &a, &b, &c);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (n >= 2 && strcmp(cmd, "down") == 0) {
        err = rd_kafka_mock_broker_set_down(mc, a);
    } else if (n >= 2 && strcmp(cmd, "up") == 0) {
        err = rd_kafka_mock_broker_set_up(mc, a);
    } else if (n >= 3 && strcmp(cmd, "rtt") == 0) {
        err = rd_kafka_mock_broker_set_rtt(mc, a, b);
    } else if (n >= 4 && strcmp(cmd, "errors") == 0 && b > 0 && b <= 1000) {
        for (int i = 0; i < b; i++)
            rd_kafka_mock_push_request_errors(mc, (int16_t)a, 1, (rd_kafka_resp_err_t)c);
    } else if (n >= 1) {
        fprintf(stderr, "wsflyte-devkafka: unknown command: %s", line);
        return;
    }
    if (err)
        fprintf(stderr, "wsflyte-devkafka: %s: %s\n", cmd, rd_kafka_err2str(err));
    else
        fprintf(stderr, "wsflyte-devkafka: ok %s\n", cmd);
}

/* Serves stdin commands until a stop signal; EOF on stdin just stops
 * reading (the cluster keeps running). */
static void serve(rd_kafka_mock_cluster_t *mc)
{
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    char line[256];
    int reading = 1;

    while (!stop_requested) {
        if (!reading || poll(&pfd, 1, 100) <= 0) {
            if (!reading)
                usleep(100 * 1000);
            continue;
        }
        if (fgets(line, sizeof(line), stdin) == NULL)
            reading = 0;
        else
            run_command(mc, line);
    }
}

/* Reads --topic NAME:N into x.  Returns 0, or -1 after saying why. */
static int add_topic(extras *x, const char *arg)
{
    const char *colon = strrchr(arg, ':');
    char why[64];

    if (x->n_topics == MAX_EXTRA || colon == NULL || colon == arg) {
        fprintf(stderr, "wsflyte-devkafka: --topic %s: give NAME:PARTITIONS (at most %d)\n", arg,
                MAX_EXTRA);
        return -1;
    }
    if (numparse_int(colon + 1, 0, 1000, &x->counts[x->n_topics], why, sizeof(why)) != 0) {
        fprintf(stderr, "wsflyte-devkafka: --topic %s: partitions \"%s\": %s\n", arg, colon + 1,
                why);
        return -1;
    }
    x->topics[x->n_topics] = arg;
    x->name_len[x->n_topics++] = (size_t)(colon - arg);
    return 0;
}

/* Reads the options.  Returns 0 to run, 1 after --help or --version, or -1
 * after saying what is wrong. */
static int parse_args(int argc, char **argv, int *partitions, int *brokers,
                      const char **config_path, extras *x)
{
    static const struct option opts[] = {
        {"partitions", required_argument, NULL, 'p'}, {"brokers", required_argument, NULL, 'b'},
        {"config", required_argument, NULL, 'c'},     {"group", required_argument, NULL, 'g'},
        {"topic", required_argument, NULL, 't'},      {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},          {NULL, 0, NULL, 0}};
    char why[64];
    int c;

    while ((c = getopt_long(argc, argv, "p:b:c:g:t:hV", opts, NULL)) != -1) {
        if (c == 'p' && numparse_int(optarg, 1, 1000, partitions, why, sizeof(why)) != 0) {
            fprintf(stderr, "wsflyte-devkafka: --partitions \"%s\": %s\n", optarg, why);
            return -1;
        } else if (c == 'b' && numparse_int(optarg, 1, 10, brokers, why, sizeof(why)) != 0) {
            fprintf(stderr, "wsflyte-devkafka: --brokers \"%s\": %s\n", optarg, why);
            return -1;
        } else if (c == 'c') {
            *config_path = optarg;
        } else if (c == 'g') {
            if (x->n_groups == MAX_EXTRA) {
                fprintf(stderr, "wsflyte-devkafka: at most %d --group options\n", MAX_EXTRA);
                return -1;
            }
            x->groups[x->n_groups++] = optarg;
        } else if (c == 't') {
            if (add_topic(x, optarg) != 0)
                return -1;
        } else if (c == 'h') {
            usage(stdout);
            return 1;
        } else if (c == 'V') {
            printf("wsflyte-devkafka %s\n", WSFLYTE_VERSION);
            return 1;
        } else if (c != 'p' && c != 'b') {
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int partitions = 3, brokers = 1, rc = 1;
    const char *config_path = NULL;
    char *report = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    wf_config cfg;
    wf_err err;
    extras x;

    memset(&x, 0, sizeof(x));
    switch (parse_args(argc, argv, &partitions, &brokers, &config_path, &x)) {
    case 0:
        break;
    case 1:
        return 0;
    default:
        usage(stderr);
        return 2;
    }
    wf_err_init(&err);
    if (wf_config_load(&cfg, config_path, environ, &report, &err) != 0) {
        fprintf(stderr, "wsflyte-devkafka: configuration is invalid:\n%s",
                report ? report : err.msg);
        goto out;
    }
    if ((rk = kafka_mock_host_new(&err)) == NULL) {
        fprintf(stderr, "wsflyte-devkafka: %s\n", err.msg);
        goto out;
    }
    mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (mc == NULL || create_topics(mc, &x, &cfg, partitions) != 0) {
        fprintf(stderr, "wsflyte-devkafka: cannot start the mock cluster\n");
        goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    fprintf(stderr, "wsflyte-devkafka: %d broker(s), %d partition(s) per topic; events %s\n",
            brokers, partitions, cfg.kafka.topic_events);
    serve(mc);
    rc = 0;
out:
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (rk)
        rd_kafka_destroy(rk);
    free(report);
    wf_config_fini(&cfg);
    return rc;
}
