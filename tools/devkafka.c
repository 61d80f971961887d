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

extern char **environ;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: wsflyte-devkafka [--partitions N] [--brokers N] [--config FILE]\n"
                "\n"
                "Starts an in-memory Kafka-protocol cluster (librdkafka's mock cluster) with\n"
                "the events, results, retry-tier and dead-letter topics, prints its\n"
                "bootstrap.servers as the first line of stdout, and runs until SIGINT/SIGTERM.\n"
                "Topic names follow the configuration (defaults: CONTRACT names, group wsflyte).\n"
                "\n"
                "Options:\n"
                "  -p, --partitions N  partitions per topic (default 3)\n"
                "  -b, --brokers N     number of brokers (default 1)\n"
                "  -c, --config FILE   wsflyte configuration to take topic names from\n"
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

static int parse_count(const char *s, int max, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < 1 || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static int create_topics(rd_kafka_mock_cluster_t *mc, const wf_config *cfg, int partitions)
{
    char name[512];
    const char *fixed[] = {cfg->kafka.topic_events, cfg->kafka.topic_results};

    for (size_t i = 0; i < 2; i++)
        if (rd_kafka_mock_topic_create(mc, fixed[i], partitions, 1))
            return -1;
    for (size_t i = 0; i < cfg->retry.n_tiers; i++)
        if (rd_kafka_mock_topic_create(mc, wf_config_retry_topic(cfg, i, name, sizeof(name)),
                                       partitions, 1))
            return -1;
    return rd_kafka_mock_topic_create(mc, wf_config_dlt_topic(cfg, name, sizeof(name)), partitions,
                                      1)
               ? -1
               : 0;
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

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"partitions", required_argument, NULL, 'p'}, {"brokers", required_argument, NULL, 'b'},
        {"config", required_argument, NULL, 'c'},     {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},          {NULL, 0, NULL, 0}};
    int partitions = 3, brokers = 1, c, rc = 1;
    const char *config_path = NULL;
    char errstr[512], *report = NULL;
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    wf_config cfg;
    wf_err err;

    while ((c = getopt_long(argc, argv, "p:b:c:hV", opts, NULL)) != -1) {
        if (c == 'p' && parse_count(optarg, 1000, &partitions) == 0)
            continue;
        if (c == 'b' && parse_count(optarg, 10, &brokers) == 0)
            continue;
        if (c == 'c') {
            config_path = optarg;
            continue;
        }
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c == 'V') {
            printf("wsflyte-devkafka %s\n", WSFLYTE_VERSION);
            return 0;
        }
        fprintf(stderr,
                "wsflyte-devkafka: bad option or value (partitions 1..1000, brokers 1..10)\n");
        usage(stderr);
        return 2;
    }
    wf_err_init(&err);
    if (wf_config_load(&cfg, config_path, environ, &report, &err) != 0) {
        fprintf(stderr, "wsflyte-devkafka: configuration is invalid:\n%s",
                report ? report : err.msg);
        goto out;
    }
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "wsflyte-devkafka: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (mc == NULL || create_topics(mc, &cfg, partitions) != 0) {
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
