/* wsflyte-produce: publishes workspace lifecycle events given as JSON (one
 * object per line, or a file holding one object or an array of them, from
 * files or stdin), encoded as Avro or JSON and keyed by workspace_id, so
 * that per-workspace order holds. */
#include <curl/curl.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "config.h"
#include "kafka.h"

extern char **environ;

typedef struct producer_state {
    rd_kafka_t *rk;
    codec *codec;
    codec_format format;
    const char *topic;
    long sent, bad, failed;
} producer_state;

static void usage(FILE *fp)
{
    fprintf(
        fp,
        "Usage: wsflyte-produce --config FILE [--format avro|json] [--topic T] [FILE...]\n"
        "\n"
        "Reads workspace lifecycle events as JSON from each FILE or from stdin, checks\n"
        "each against the event schema, and publishes it keyed by workspace_id.  Input is\n"
        "either JSON lines, one object per line (blank lines and lines starting with #\n"
        "are skipped), or one JSON document: an event object, pretty-printed or not, or\n"
        "an array of event objects.  The first line that is not blank or a comment\n"
        "decides: when it is a JSON object by itself, the input is JSON lines, sent line\n"
        "by line as it is read (a pipe works as a feed); otherwise the whole input is\n"
        "read as one document.  A bad event is reported with where it is (file:line for\n"
        "JSON lines, file[index] for an array) and its field, and not sent; the others\n"
        "are.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE    wsflyte configuration (Kafka settings, schemas)\n"
        "  -f, --format FMT     avro (Confluent wire format, default) or json\n"
        "  -t, --topic T        topic (default: kafka.topics.events)\n"
        "  -h, --help           this help\n"
        "  -V, --version        print the version\n"
        "\n"
        "Examples:\n"
        "  wsflyte-produce --config dev.yaml tests/data/events/seed.jsonl\n"
        "  wsflyte-produce --config dev.yaml event.json       # one event, pretty-printed\n"
        "  wsflyte-produce --config dev.yaml events.json      # a JSON array of events\n"
        "  echo '{\"event_id\":\"e1\", ...}' | wsflyte-produce --config dev.yaml --format json\n"
        "\n"
        "Exit status: 0 when every event was delivered, 1 otherwise.\n");
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    producer_state *ps = opaque;

    (void)rk;
    if (m->err) {
        fprintf(stderr, "wsflyte-produce: delivery failed: %s\n", rd_kafka_err2str(m->err));
        ps->failed++;
    }
}

/* Checks, encodes and publishes one event; where names it in errors. */
static int send_event(producer_state *ps, const char *where, const json_t *obj)
{
    ws_event ev;
    wf_err err;
    void *buf = NULL;
    size_t len = 0;
    int rc = -1;

    wf_err_init(&err);
    memset(&ev, 0, sizeof(ev));
    if (!json_is_object(obj)) {
        fprintf(stderr, "%s: not a JSON object (an event is one object)\n", where);
        return -1;
    }
    if (ws_event_from_json(obj, &ev, &err) != 0 ||
        codec_encode_event(ps->codec, &ev, ps->format, &buf, &len, &err) != 0) {
        fprintf(stderr, "%s: %s\n", where, err.msg);
        goto out;
    }
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(
        h, "content-type", -1,
        ps->format == CODEC_JSON ? "application/json" : "application/vnd.confluent.avro", -1);
    rd_kafka_resp_err_t kerr;
    while ((kerr = rd_kafka_producev(
                ps->rk, RD_KAFKA_V_TOPIC(ps->topic),
                RD_KAFKA_V_KEY(ev.ws.workspace_id, strlen(ev.ws.workspace_id)),
                RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(ps->rk, 100);
    if (kerr) {
        rd_kafka_headers_destroy(h);
        fprintf(stderr, "%s: produce: %s\n", where, rd_kafka_err2str(kerr));
        goto out;
    }
    rd_kafka_poll(ps->rk, 0);
    rc = 0;
out:
    free(buf);
    ws_event_fini(&ev);
    return rc;
}

static void count(producer_state *ps, int rc)
{
    if (rc == 0)
        ps->sent++;
    else
        ps->bad++;
}

/* Blank lines and # comments carry no record, in either form of input. */
static int is_record(const char *line)
{
    while (*line == ' ' || *line == '\t' || *line == '\r')
        line++;
    return *line != '\0' && *line != '\n' && *line != '#';
}

/* One JSON line: an event, or an error with its line number. */
static void send_line(producer_state *ps, const char *name, long lineno, const json_t *obj,
                      const json_error_t *jerr)
{
    char where[600];

    snprintf(where, sizeof(where), "%s:%ld", name, lineno);
    if (obj == NULL) {
        fprintf(stderr, "%s:%d: invalid JSON: %s\n", where, jerr->column, jerr->text);
        ps->bad++;
        return;
    }
    count(ps, send_event(ps, where, obj));
}

/* The whole input as one JSON document: an event or an array of events.
 * Comment lines are blanked, not removed, so that jansson's line numbers
 * are the file's. */
static void send_document(producer_state *ps, FILE *fp, const char *name, long skipped,
                          const char *first, long first_lineno)
{
    char *line = NULL, *text = NULL, where[600];
    size_t cap = 0, len = 0;
    FILE *mem = open_memstream(&text, &len);
    json_error_t jerr;
    json_t *doc, *item;
    size_t i;

    if (mem == NULL) {
        perror(name);
        ps->bad++;
        return;
    }
    for (long n = 0; n < skipped; n++)
        fputc('\n', mem);
    fputs(first, mem);
    while (getline(&line, &cap, fp) >= 0)
        fputs(is_record(line) ? line : "\n", mem);
    free(line);
    fclose(mem);
    doc = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (doc == NULL) {
        fprintf(stderr,
                "%s:%d:%d: invalid JSON: %s (read as one JSON document, since line %ld is not "
                "a JSON object by itself)\n",
                name, jerr.line, jerr.column, jerr.text, first_lineno);
        ps->bad++;
    } else if (json_is_array(doc)) {
        json_array_foreach(doc, i, item)
        {
            snprintf(where, sizeof(where), "%s[%zu]", name, i);
            count(ps, send_event(ps, where, item));
        }
    } else if (json_is_object(doc)) {
        count(ps, send_event(ps, name, doc));
    } else {
        fprintf(stderr, "%s: not a JSON object or an array of event objects\n", name);
        ps->bad++;
    }
    json_decref(doc);
    free(text);
}

/* Reads JSON lines or one JSON document, as the first record line says:
 * deciding on that line alone lets JSON lines stream from a pipe. */
static void send_stream(producer_state *ps, FILE *fp, const char *name)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, first = 0;

    while (getline(&line, &cap, fp) >= 0) {
        lineno++;
        if (!is_record(line))
            continue;
        json_error_t jerr;
        json_t *obj = json_loads(line, 0, &jerr);
        if (first == 0) {
            first = lineno;
            if (!json_is_object(obj)) {
                json_decref(obj);
                send_document(ps, fp, name, lineno - 1, line, lineno);
                break;
            }
        }
        send_line(ps, name, lineno, obj, &jerr);
        json_decref(obj);
    }
    free(line);
}

static rd_kafka_t *make_producer(const wf_config *cfg, producer_state *ps, wf_err *err)
{
    kafka_producer_opts o = {.on_delivery = on_delivery, .opaque = ps};

    return kafka_producer_new(cfg, &o, err);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"format", required_argument, NULL, 'f'},
        {"topic", required_argument, NULL, 't'},  {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *format = "avro", *topic = NULL;
    producer_state ps = {0};
    char *report = NULL;
    wf_config cfg;
    wf_err err;
    int c, rc = 1;

    while ((c = getopt_long(argc, argv, "c:f:t:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'V':
            printf("wsflyte-produce %s\n", WSFLYTE_VERSION);
            exit(0);
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (codec_format_parse(format, &ps.format) != 0) {
        fprintf(stderr, "wsflyte-produce: --format: \"%s\" is not avro or json\n", format);
        return 2;
    }
    wf_err_init(&err);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (wf_config_load(&cfg, config_path, environ, &report, &err) != 0) {
        fprintf(stderr, "wsflyte-produce: configuration is invalid:\n%s",
                report ? report : err.msg);
        goto out;
    }
    ps.topic = topic ? topic : cfg.kafka.topic_events;
    if ((ps.codec = kafka_codec_new(&cfg, &err)) == NULL ||
        (ps.rk = make_producer(&cfg, &ps, &err)) == NULL) {
        fprintf(stderr, "wsflyte-produce: %s\n", err.msg);
        goto out;
    }
    if (optind == argc)
        send_stream(&ps, stdin, "<stdin>");
    for (int i = optind; i < argc; i++) {
        FILE *fp = fopen(argv[i], "r");
        if (fp == NULL) {
            perror(argv[i]);
            ps.bad++;
            continue;
        }
        send_stream(&ps, fp, argv[i]);
        fclose(fp);
    }
    if (rd_kafka_flush(ps.rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        ps.failed += rd_kafka_outq_len(ps.rk);
    fprintf(stderr, "wsflyte-produce: %ld event(s) sent to %s, %ld delivered, %ld rejected\n",
            ps.sent, ps.topic, ps.sent - ps.failed, ps.bad);
    rc = (ps.bad || ps.failed) ? 1 : 0;
out:
    if (ps.rk)
        rd_kafka_destroy(ps.rk);
    codec_free(ps.codec);
    free(report);
    wf_config_fini(&cfg);
    curl_global_cleanup();
    return rc;
}
