/* wsflyte: the consumer.  Reads workspace lifecycle events and makes Flyte
 * and Kubernetes match each workspace. */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "loop.h"

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
            "Usage: wsflyte --config FILE [--check-config]\n"
            "\n"
            "Consumes workspace lifecycle events from Kafka and provisions, for every\n"
            "workspace with the flyte service, a Flyte project with per-domain execution\n"
            "settings and per-domain Kubernetes namespaces (quota, network policy, runner\n"
            "service account, roles and member bindings).  Emits one result per event.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE   YAML configuration (keys: see README); WSFLYTE_<SECTION>_<KEY>\n"
            "                      environment variables override it\n"
            "      --check-config  validate the configuration, print every problem, exit\n"
            "  -h, --help          this help\n"
            "  -V, --version       print the version\n"
            "\n"
            "Examples:\n"
            "  wsflyte --config /etc/wsflyte/config.yaml\n"
            "  WSFLYTE_KAFKA_BOOTSTRAP_SERVERS=kafka:9092 wsflyte --config c.yaml --check-config\n"
            "\n"
            "SIGTERM/SIGINT stop fetching, finish or hand back in-flight work, commit, exit 0.\n");
}

static int check_config(const wf_config *cfg, int ok, const char *report)
{
    if (!ok) {
        fprintf(stderr, "configuration is invalid:\n%s", report ? report : "");
        return 2;
    }
    printf("configuration is valid; effective settings (secrets masked):\n");
    wf_config_dump(cfg, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check-config", no_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    const char *config_path = NULL;
    int check = 0, c, rc;
    char *report = NULL;
    wf_config cfg;
    wf_err err;

    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'k':
            check = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("wsflyte %s\n", WSFLYTE_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "wsflyte: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    wf_err_init(&err);
    rc = wf_config_load(&cfg, config_path, environ, &report, &err);
    if (check) {
        int status = check_config(&cfg, rc == 0, report);
        free(report);
        wf_config_fini(&cfg);
        return status;
    }
    if (rc != 0) {
        fprintf(stderr, "wsflyte: configuration is invalid:\n%s", report ? report : err.msg);
        free(report);
        wf_config_fini(&cfg);
        return 2;
    }
    free(report);
    log_setup(cfg.observability.log_format, cfg.observability.log_level);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = loop_run(&cfg, &stop_requested, &err);
    if (rc != 0)
        log_error(LOG_CTX_NONE, "wsflyte stopped: %s (%s)", err.msg, err.code);
    else
        log_info(LOG_CTX_NONE, "wsflyte stopped cleanly");
    curl_global_cleanup();
    wf_config_fini(&cfg);
    return rc == 0 ? 0 : 1;
}
