/* wsflyte-dlt: inspect the dead-letter topic and replay chosen records.
 *
 * list and show read without a consumer group.  replay reads with its own
 * group (<group_id>.dlt-replay-<hash of the options>), so an interrupted
 * replay resumes where it stopped; it commits a record's offset only after
 * the republished copy is acknowledged, so nothing is published twice by a
 * resumed run.  The commits also carry the time window the run resolved
 * (--since 2h means "2 hours before the run started"), so that a resumed
 * run filters with the same window as the run it continues.
 *
 * Over 600 lines because its three commands share the filters, the reading
 * of dead letters and the options; each command alone would repeat them. */
#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "codec.h"
#include "config.h"
#include "kafka.h"
#include "names.h"
#include "numparse.h"
#include "trace.h"

extern char **environ;

#define MAX_PARTITIONS 1024

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct filters {
    const char *workspace;
    const char *error_class;
    const char *error_code;
    int64_t since_ms, until_ms;     /* 0 = open */
    long since_ago, until_ago;      /* > 0: given as a duration before now */
    int partition;                  /* -1 = all */
    int64_t from_offset, to_offset; /* -1 = open */
} filters;

typedef struct options {
    const char *config_path;
    const char *command;
    filters f;
    int dry_run;
    int to_main;
    int max_replays;
    long ack_timeout_ms;
    int64_t show_offset;
} options;

typedef struct tool {
    wf_config cfg;
    codec *codec;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    char dlt[512];
    char target[512];
    int64_t end[MAX_PARTITIONS]; /* high watermark per partition at start */
    int64_t pos[MAX_PARTITIONS]; /* next offset to read; == end when done */
    unsigned char assigned[MAX_PARTITIONS];
    int n_partitions;
    int target_partitions; /* of the replay's target topic */
    long delivery_errors;
    int window_resumed; /* the time window came from an interrupted run */
} tool;

/* Formats epoch ms as UTC ISO 8601; leaves buf alone for 0 (open). */
static void format_time(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    if (ms != 0 && gmtime_r(&secs, &tm))
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: wsflyte-dlt --config FILE list   [filters]\n"
            "       wsflyte-dlt --config FILE show   --partition P --offset O\n"
            "       wsflyte-dlt --config FILE replay [filters] [--dry-run] [--to main|retry]\n"
            "                                        [--max-replays N] [--ack-timeout D]\n"
            "\n"
            "Inspects the dead-letter topic (<events>.<group_id>.dlt) and replays chosen\n"
            "records with their key and headers, adding x-replay-count, to the partition\n"
            "named in x-original-partition (the one the event was first read from).\n"
            "\n"
            "Filters:\n"
            "  -w, --workspace ID        records keyed by this workspace\n"
            "      --class CLASS         x-error-class (TRANSIENT, PERMANENT, DESERIALIZATION,\n"
            "                            VALIDATION)\n"
            "      --code CODE           x-error-code (e.g. k8s.422, flyte.400, avro.schema)\n"
            "      --since T, --until T  dead-lettered at or after / before T: epoch ms,\n"
            "                            2026-11-28T10:00:00Z, or a duration ago (2h, 30m)\n"
            "  -p, --partition P         one partition\n"
            "      --from-offset N, --to-offset N   offset range (inclusive)\n"
            "\n"
            "Replay:\n"
            "      --to main|retry       the events topic, or the first retry tier (default),\n"
            "                            where replays cannot hold up live traffic\n"
            "      --dry-run             show what would be replayed; publish and commit nothing\n"
            "      --max-replays N       refuse records already replayed N times (default 3):\n"
            "                            the loop guard against endless replays\n"
            "      --ack-timeout D       how long to wait for the broker to acknowledge each\n"
            "                            copy (default 30s); when it does not, replay stops\n"
            "                            with status 1 before committing that record\n"
            "\n"
            "Resuming: replay reads as consumer group <group_id>.dlt-replay-<hash of the\n"
            "filters and --to>, and commits each record once its copy is acknowledged, so\n"
            "running the same command again continues after the last record the interrupted\n"
            "run committed.  Relative times are part of that identity as written, not as\n"
            "the instant they resolve to: --since 2h names the same replay tomorrow.  A\n"
            "resumed run keeps the window the interrupted run resolved when it started;\n"
            "once a run reaches the end, the next run with the same options resolves\n"
            "\"2h ago\" afresh and looks only at records after those already done.\n"
            "\n"
            "Other: -h, --help this help; -V, --version the version.\n"
            "\n"
            "Examples:\n"
            "  wsflyte-dlt --config c.yaml list --class TRANSIENT --since 2h\n"
            "  wsflyte-dlt --config c.yaml show --partition 0 --offset 42\n"
            "  wsflyte-dlt --config c.yaml replay --workspace ws-ml-prod-001 --dry-run\n"
            "  wsflyte-dlt --config c.yaml replay --class TRANSIENT --since 2h --to main\n");
}

/* ---- filters ---- */

/* Reads T into *out (epoch ms); *ago is the duration when T was given as one. */
static int parse_time(const char *s, int64_t *out, long *ago)
{
    struct tm tm;
    long ms;
    char *end;

    memset(&tm, 0, sizeof(tm));
    *ago = 0;
    if (wf_duration_parse(s, &ms) == 0) {
        *ago = ms;
        *out = wf_clock_wall_ms() - ms;
        return 0;
    }
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end && (*end == 'Z' || *end == '\0')) {
        *out = (int64_t)timegm(&tm) * 1000;
        return 0;
    }
    long long v = strtoll(s, &end, 10);
    if (*s && *end == '\0' && v > 0) {
        *out = v;
        return 0;
    }
    return -1;
}

static void header(const rd_kafka_message_t *m, const char *name, char *buf, size_t len)
{
    rd_kafka_headers_t *h = NULL;

    buf[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR)
        kafka_header_get(h, name, buf, len);
}

static int matches(const filters *f, const rd_kafka_message_t *m)
{
    char buf[256];
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);

    if (f->workspace &&
        (m->key_len != strlen(f->workspace) || memcmp(m->key, f->workspace, m->key_len) != 0))
        return 0;
    if (f->error_class) {
        header(m, "x-error-class", buf, sizeof(buf));
        if (strcasecmp(buf, f->error_class) != 0)
            return 0;
    }
    if (f->error_code) {
        header(m, "x-error-code", buf, sizeof(buf));
        if (strcmp(buf, f->error_code) != 0)
            return 0;
    }
    if ((f->since_ms && ts < f->since_ms) || (f->until_ms && ts >= f->until_ms))
        return 0;
    if (f->from_offset >= 0 && m->offset < f->from_offset)
        return 0;
    if (f->to_offset >= 0 && m->offset > f->to_offset)
        return 0;
    return 1;
}

/* ---- Kafka set-up ---- */

/* list and show read with a group of their own per run, replay with its
 * resumable one; either way they assign and commit by themselves. */
static rd_kafka_t *make_consumer(tool *t, const char *group, wf_err *err)
{
    kafka_reader_opts o = {.group_id = group};

    return kafka_reader_new(&t->cfg, &o, err);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    tool *t = opaque;
    (void)rk;
    if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
        t->delivery_errors++; /* already reported by acknowledged() */
    } else if (m->err) {
        fprintf(stderr, "wsflyte-dlt: publish to %s failed: %s\n", rd_kafka_topic_name(m->rkt),
                rd_kafka_err2str(m->err));
        t->delivery_errors++;
    }
}

static rd_kafka_t *make_producer(tool *t, wf_err *err)
{
    kafka_producer_opts o = {.on_delivery = on_delivery, .opaque = t};

    return kafka_producer_new(&t->cfg, &o, err);
}

/* ---- the replay's window, kept in its commits ---- */

#define WINDOW_TAG "wsflyte-dlt/1"

/* Reads commit metadata written by window_metadata; returns 1 for a run
 * that was interrupted, 2 for one that reached its end, 0 for anything else
 * (no metadata, or commits of an older wsflyte-dlt). */
static int window_parse(const rd_kafka_topic_partition_t *tp, int64_t *since, int64_t *until)
{
    char buf[128], state[16];
    long long s, u;

    if (tp->metadata == NULL || tp->metadata_size == 0 || tp->metadata_size >= sizeof(buf))
        return 0;
    memcpy(buf, tp->metadata, tp->metadata_size);
    buf[tp->metadata_size] = '\0';
    if (sscanf(buf, WINDOW_TAG " since=%lld until=%lld %15s", &s, &u, state) != 3)
        return 0;
    *since = s;
    *until = u;
    return strcmp(state, "running") == 0 ? 1 : strcmp(state, "done") == 0 ? 2 : 0;
}

static void window_metadata(const filters *f, int done, char *buf, size_t len)
{
    snprintf(buf, len, WINDOW_TAG " since=%lld until=%lld %s", (long long)f->since_ms,
             (long long)f->until_ms, done ? "done" : "running");
}

/* A resumed replay filters with the window its interrupted run resolved:
 * with "--since 2h" re-resolved now, records the first run would have
 * replayed could fall out of the window and be committed as skipped. */
static void resume_window(tool *t, filters *f, const rd_kafka_topic_partition_list_t *c)
{
    int64_t since = 0, until = 0, s, u;
    int running = 0;

    for (int i = 0; i < c->cnt; i++) {
        int state = window_parse(&c->elems[i], &s, &u);
        if (state == 2)
            return; /* the last run finished: this is a new one */
        if (state == 1 && !running) {
            running = 1;
            since = s;
            until = u;
        }
    }
    if (running && (since != f->since_ms || until != f->until_ms)) {
        f->since_ms = since;
        f->until_ms = until;
        t->window_resumed = 1;
    }
}

/* Assigns the DLT's partitions (one, or all) at the given start and records
 * where each ends now, so a run has a fixed end. */
static int assign(tool *t, filters *f, int use_committed, wf_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(t->consumer, t->dlt, NULL);
    rd_kafka_resp_err_t rerr = rd_kafka_metadata(t->consumer, 0, rkt, &md, 10000);
    rd_kafka_topic_partition_list_t *l = NULL;
    int rc = -1;

    if (rerr || md->topic_cnt != 1 || md->topics[0].err) {
        wf_err_set(err, WF_TRANSIENT, "kafka.metadata", "metadata of %s: %s", t->dlt,
                   rd_kafka_err2str(rerr ? rerr : md->topics[0].err));
        goto out;
    }
    t->n_partitions =
        md->topics[0].partition_cnt < MAX_PARTITIONS ? md->topics[0].partition_cnt : MAX_PARTITIONS;
    l = rd_kafka_topic_partition_list_new(t->n_partitions);
    for (int i = 0; i < t->n_partitions; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t lo = 0, hi = 0;
        t->end[p] = t->pos[p] = 0;
        t->assigned[p] = 0;
        if (f->partition >= 0 && p != f->partition)
            continue;
        t->assigned[p] = 1;
        rd_kafka_query_watermark_offsets(t->consumer, t->dlt, p, &lo, &hi, 10000);
        t->end[p] = hi;
        t->pos[p] = f->from_offset > lo ? f->from_offset : lo;
        rd_kafka_topic_partition_list_add(l, t->dlt, p)->offset = t->pos[p];
    }
    if (use_committed) {
        /* A resumed replay starts after the last committed record. */
        rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(l);
        rerr = rd_kafka_committed(t->consumer, c, 10000);
        for (int i = 0; i < c->cnt && !rerr; i++)
            rerr = c->elems[i].err;
        if (rerr) {
            /* Starting from the beginning would publish again what the
             * interrupted run published. */
            wf_err_set(err, WF_TRANSIENT, "kafka.committed", "committed offsets of %s: %s", t->dlt,
                       rd_kafka_err2str(rerr));
            rd_kafka_topic_partition_list_destroy(c);
            goto out;
        }
        for (int i = 0; i < c->cnt; i++)
            if (c->elems[i].offset >= 0 && c->elems[i].offset > l->elems[i].offset) {
                l->elems[i].offset = c->elems[i].offset;
                t->pos[l->elems[i].partition] = c->elems[i].offset;
            }
        resume_window(t, f, c);
        rd_kafka_topic_partition_list_destroy(c);
    }
    rerr = rd_kafka_assign(t->consumer, l);
    if (rerr)
        wf_err_set(err, WF_TRANSIENT, "kafka.assign", "assign %s: %s", t->dlt,
                   rd_kafka_err2str(rerr));
    else
        rc = 0;
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* The replay target's partition count, for checking x-original-partition. */
static int target_partitions(tool *t, wf_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t rerr = rd_kafka_metadata(t->consumer, 1, NULL, &md, 10000);

    if (rerr) {
        wf_err_set(err, WF_TRANSIENT, "kafka.metadata", "metadata: %s", rd_kafka_err2str(rerr));
        return -1;
    }
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, t->target) == 0 && md->topics[i].err == 0)
            t->target_partitions = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    if (t->target_partitions <= 0) {
        wf_err_set(err, WF_CONFIG, "kafka.topics", "replay target %s does not exist", t->target);
        return -1;
    }
    return 0;
}

/* Polls the next record before the recorded ends; NULL when all are read. */
static rd_kafka_message_t *next_record(tool *t)
{
    int64_t *pos = t->pos;

    for (;;) {
        int done = 1;
        for (int p = 0; p < t->n_partitions; p++)
            if (pos[p] < t->end[p])
                done = 0;
        if (done || stop_requested)
            return NULL;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(t->consumer, 500);
        if (m == NULL)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "wsflyte-dlt: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->partition < t->n_partitions) {
            pos[m->partition] = m->offset + 1;
            if (m->offset >= t->end[m->partition]) {
                rd_kafka_message_destroy(m);
                continue;
            }
        }
        return m;
    }
}

/* ---- list and show ---- */

static void describe_event(tool *t, const rd_kafka_message_t *m, char *type, size_t len,
                           json_t **as_json)
{
    ws_event ev;
    wf_err err;
    char ct[64];

    wf_err_init(&err);
    memset(&ev, 0, sizeof(ev));
    header(m, "content-type", ct, sizeof(ct));
    if (codec_decode_event(t->codec, m->payload, m->len, ct[0] ? ct : NULL, &ev, &err) == 0) {
        snprintf(type, len, "%s", ws_event_type_name(ev.type));
        if (as_json)
            *as_json = ws_event_to_json(&ev);
    } else {
        snprintf(type, len, "(undecodable)");
        if (as_json)
            *as_json = json_pack("{s:s, s:s}", "undecodable", err.msg, "code", err.code);
    }
    ws_event_fini(&ev);
}

static int cmd_list(tool *t, const filters *f)
{
    rd_kafka_message_t *m;
    long shown = 0, total = 0;

    printf("%-4s %-8s %-20s %-24s %-18s %-16s %-14s %s\n", "PART", "OFFSET", "DEAD-LETTERED",
           "WORKSPACE", "EVENT", "CLASS", "CODE", "ATTEMPTS");
    while ((m = next_record(t)) != NULL) {
        total++;
        if (matches(f, m)) {
            char when[32] = "", cls[32], code[64], attempts[16], type[32];
            rd_kafka_timestamp_type_t tt;
            format_time(rd_kafka_message_timestamp(m, &tt), when, sizeof(when));
            header(m, "x-error-class", cls, sizeof(cls));
            header(m, "x-error-code", code, sizeof(code));
            header(m, "x-attempts", attempts, sizeof(attempts));
            describe_event(t, m, type, sizeof(type), NULL);
            printf("%-4d %-8" PRId64 " %-20s %-24.*s %-18s %-16s %-14s %s\n", (int)m->partition,
                   m->offset, when, (int)(m->key_len < 24 ? m->key_len : 24),
                   m->key ? (const char *)m->key : "", type, cls, code, attempts);
            shown++;
        }
        rd_kafka_message_destroy(m);
    }
    fprintf(stderr, "wsflyte-dlt: %ld of %ld dead letter(s) match\n", shown, total);
    return 0;
}

/* The trace id of the record's traceparent (W3C), or null when it has
 * none valid. */
static json_t *trace_of(rd_kafka_headers_t *h)
{
    const void *v;
    size_t n;
    wf_trace tr;

    if (h == NULL ||
        rd_kafka_header_get_last(h, "traceparent", &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        wf_trace_parse(&tr, v, n) != 0)
        return json_null();
    return json_string(tr.trace_id);
}

static int cmd_show(tool *t, const filters *f)
{
    rd_kafka_message_t *m;
    int found = 0;

    while (!found && (m = next_record(t)) != NULL) {
        if (m->offset == f->from_offset) {
            rd_kafka_headers_t *h = NULL;
            json_t *doc = json_object(), *hdrs = json_object(), *ev = NULL;
            char type[32], *text;
            const char *name;
            const void *val;
            size_t len;
            json_object_set_new(doc, "partition", json_integer(m->partition));
            json_object_set_new(doc, "offset", json_integer(m->offset));
            json_object_set_new(doc, "key", json_stringn(m->key ? m->key : "", m->key_len));
            if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR)
                for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &len) == 0; i++)
                    json_object_set_new(hdrs, name, json_stringn(val ? val : "", len));
            json_object_set_new(doc, "headers", hdrs);
            json_object_set_new(doc, "trace_id", trace_of(h));
            describe_event(t, m, type, sizeof(type), &ev);
            json_object_set_new(doc, "event", ev ? ev : json_null());
            text = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);
            printf("%s\n", text ? text : "{}");
            free(text);
            json_decref(doc);
            found = 1;
        }
        rd_kafka_message_destroy(m);
    }
    if (!found)
        fprintf(stderr, "wsflyte-dlt: no record at partition %d offset %" PRId64 "\n", f->partition,
                f->from_offset);
    return found ? 0 : 1;
}

/* ---- replay ---- */

static void add_commit(rd_kafka_topic_partition_list_t *l, const char *topic, int32_t partition,
                       int64_t next, const char *metadata)
{
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, topic, partition);

    tp->offset = next;
    tp->metadata_size = strlen(metadata);
    tp->metadata = malloc(tp->metadata_size);
    if (tp->metadata)
        memcpy(tp->metadata, metadata, tp->metadata_size);
    else
        tp->metadata_size = 0;
}

static int commit_list(tool *t, rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_resp_err_t err = rd_kafka_commit(t->consumer, l, 0);

    if (err)
        fprintf(stderr, "wsflyte-dlt: commit %s: %s\n", t->dlt, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
    return err ? -1 : 0;
}

static int commit_through(tool *t, const filters *f, int32_t partition, int64_t next)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    char md[128];

    window_metadata(f, 0, md, sizeof(md));
    add_commit(l, t->dlt, partition, next, md);
    return commit_list(t, l);
}

/* Marks every partition of a replay that reached its end as done, so the
 * next run with the same options resolves relative times afresh. */
static int commit_done(tool *t, const filters *f)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(t->n_partitions);
    char md[128];

    window_metadata(f, 1, md, sizeof(md));
    for (int p = 0; p < t->n_partitions; p++)
        if (t->assigned[p])
            add_commit(l, t->dlt, p, t->pos[p], md);
    return commit_list(t, l);
}

/* Waits for the broker to acknowledge everything republished so far.
 * Anything still queued after the wait may or may not arrive; the record
 * it copies must not be committed, or a lost copy would be lost for good.
 * Queued copies are purged so that none leaves after the run gave up. */
static int acknowledged(tool *t, const rd_kafka_message_t *m, long timeout_ms)
{
    rd_kafka_resp_err_t err = rd_kafka_flush(t->producer, (int)timeout_ms);
    int queued = rd_kafka_outq_len(t->producer);

    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && queued == 0)
        return 1;
    fprintf(stderr,
            "wsflyte-dlt: the copy of %s[%d]@%" PRId64 " was not acknowledged by the broker "
            "within %ld ms (%s; %d message(s) still queued for %s): stopping without "
            "committing it.  The copy may still arrive; running the same command again "
            "resumes at this record and may publish it a second time.\n",
            t->dlt, (int)m->partition, m->offset, timeout_ms,
            err ? rd_kafka_err2str(err) : "queue not empty", queued, t->target);
    rd_kafka_purge(t->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(t->producer, 0);
    return 0;
}

/* Republishes m to partition of the target with its key and headers,
 * x-replay-count incremented, and (for a retry tier) due now. */
static int republish(tool *t, const rd_kafka_message_t *m, int32_t partition, int replays)
{
    rd_kafka_headers_t *in = NULL, *h;
    char buf[32];
    rd_kafka_resp_err_t err;

    h = rd_kafka_message_headers(m, &in) == RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_headers_copy(in)
                                                                       : rd_kafka_headers_new(4);
    snprintf(buf, sizeof(buf), "%d", replays + 1);
    kafka_header_set(h, "x-replay-count", buf);
    snprintf(buf, sizeof(buf), "%" PRId64, wf_clock_wall_ms());
    kafka_header_set(h, "x-retry-due-ms", buf);
    err = rd_kafka_producev(
        t->producer, RD_KAFKA_V_TOPIC(t->target), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(h);
        fprintf(stderr, "wsflyte-dlt: publish: %s\n", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

typedef struct replay_stats {
    long replayed, skipped, refused, seen;
} replay_stats;

/* final: 0 while running, 1 at the end, 2 after a failure. */
static void progress(const replay_stats *s, int final, int dry_run)
{
    static const char *const prefix[] = {"", "done: ", "stopped: "};

    fprintf(stderr,
            "wsflyte-dlt: %s%ld replayed%s, %ld skipped by filter, %ld refused (loop guard) "
            "of %ld read\n",
            prefix[final], s->replayed, dry_run ? " (dry run)" : "", s->skipped, s->refused,
            s->seen);
}

/* Why m cannot be replayed (a message for the operator), or NULL; fills
 * *replays and *partition (the target partition: the event's own, from
 * x-original-partition) otherwise. */
static const char *unreplayable(tool *t, const options *o, const rd_kafka_message_t *m,
                                int *replays, int32_t *partition, char *why, size_t len)
{
    char buf[64], err[64];
    int p;

    header(m, "x-error-code", buf, sizeof(buf));
    if (m->len == 0 && strcmp(buf, "kafka.record-too-large") == 0) {
        header(m, "x-original-offset", err, sizeof(err));
        header(m, "x-original-partition", buf, sizeof(buf));
        snprintf(why, len,
                 "a stub of a record too large to forward: the event itself is at "
                 "partition %s offset %s of the events topic, if still retained",
                 buf[0] ? buf : "?", err[0] ? err : "?");
        return why;
    }
    *replays = 0;
    header(m, "x-replay-count", buf, sizeof(buf));
    if (buf[0] && numparse_int(buf, 0, INT_MAX, replays, err, sizeof(err)) != 0) {
        snprintf(why, len, "x-replay-count \"%.32s\": %s", buf, err);
        return why;
    }
    if (*replays >= o->max_replays) {
        snprintf(why, len, "replayed %d time(s) already (--max-replays %d)", *replays,
                 o->max_replays);
        return why;
    }
    header(m, "x-original-partition", buf, sizeof(buf));
    if (buf[0] == '\0') {
        /* wsflyte dead-letters on the event's own partition number. */
        fprintf(stderr,
                "wsflyte-dlt: %s[%d]@%" PRId64 " has no x-original-partition: replaying it to "
                "partition %d, the dead letter's own\n",
                t->dlt, (int)m->partition, m->offset, (int)m->partition);
        p = m->partition;
    } else if (numparse_int(buf, 0, t->target_partitions - 1, &p, err, sizeof(err)) != 0) {
        snprintf(why, len, "x-original-partition \"%.32s\": %s (%.120s has %d partitions)", buf,
                 err, t->target, t->target_partitions);
        return why;
    }
    if (p >= t->target_partitions) {
        snprintf(why, len, "partition %d: %.120s has %d partitions", p, t->target,
                 t->target_partitions);
        return why;
    }
    *partition = p;
    return NULL;
}

static int cmd_replay(tool *t, const options *o)
{
    replay_stats s = {0};
    rd_kafka_message_t *m;
    int64_t last_progress = wf_clock_wall_ms();
    char why[256];
    int failed = 0;

    while ((m = next_record(t)) != NULL) {
        int32_t part = m->partition;
        int64_t next = m->offset + 1;
        int published = 0;
        s.seen++;
        if (!matches(&o->f, m)) {
            s.skipped++;
        } else {
            int replays = 0;
            int32_t target = 0;
            if (unreplayable(t, o, m, &replays, &target, why, sizeof(why))) {
                s.refused++;
                fprintf(stderr, "wsflyte-dlt: refused %s[%d]@%" PRId64 ": %s\n", t->dlt, (int)part,
                        m->offset, why);
            } else if (o->dry_run) {
                s.replayed++;
                printf("would replay %s[%d]@%" PRId64 " key %.*s to %s[%d]\n", t->dlt, (int)part,
                       m->offset, (int)m->key_len, m->key ? (const char *)m->key : "", t->target,
                       (int)target);
            } else if (republish(t, m, target, replays) == 0) {
                published = 1; /* counted once acknowledged */
            } else {
                rd_kafka_message_destroy(m);
                failed = 1;
                break;
            }
        }
        if (!o->dry_run) {
            /* Commit only what is acknowledged: flush, then commit. */
            if (!acknowledged(t, m, o->ack_timeout_ms) || t->delivery_errors ||
                commit_through(t, &o->f, part, next) != 0) {
                rd_kafka_message_destroy(m);
                failed = 1;
                break;
            }
        }
        s.replayed += published;
        rd_kafka_message_destroy(m);
        if (wf_clock_wall_ms() - last_progress > 2000) {
            progress(&s, 0, o->dry_run);
            last_progress = wf_clock_wall_ms();
        }
    }
    if (!failed && !stop_requested && !o->dry_run && commit_done(t, &o->f) != 0)
        failed = 1;
    progress(&s, failed ? 2 : 1, o->dry_run);
    if (failed || stop_requested)
        fprintf(stderr,
                "wsflyte-dlt: replay %s; run the same command again to resume after the "
                "last record committed\n",
                failed ? "stopped early" : "interrupted");
    return failed || t->delivery_errors || stop_requested ? 1 : 0;
}

/* A time filter as part of the replay's identity: an absolute time as the
 * instant it names, a relative one as the duration given, since the instant
 * it resolves to changes with every run. */
static void time_key(int64_t ms, long ago, char *buf, size_t len)
{
    if (ago > 0)
        snprintf(buf, len, "ago:%ld", ago);
    else
        snprintf(buf, len, "%lld", (long long)ms);
}

/* The replay's consumer group: one per (filters, target), so that running
 * the same command again resumes it, while a replay with other filters is
 * not told that records it never looked at were done. */
static void replay_group(const wf_config *cfg, const options *o, char *buf, size_t len)
{
    char key[1024], hash[17], since[32], until[32];
    const filters *f = &o->f;

    time_key(f->since_ms, f->since_ago, since, sizeof(since));
    time_key(f->until_ms, f->until_ago, until, sizeof(until));
    snprintf(key, sizeof(key), "w=%s|c=%s|e=%s|s=%s|u=%s|p=%d|f=%lld|t=%lld|to=%d",
             f->workspace ? f->workspace : "", f->error_class ? f->error_class : "",
             f->error_code ? f->error_code : "", since, until, f->partition,
             (long long)f->from_offset, (long long)f->to_offset, o->to_main);
    names_hash_hex(key, 8, hash);
    snprintf(buf, len, "%s.dlt-replay-%s", cfg->kafka.group_id, hash);
}

/* ---- main ---- */

/* Reads --name's value, a whole number 0..max.  Returns 0, or -1 after
 * saying why. */
static int number_option(const char *name, const char *arg, int64_t max, int64_t *out)
{
    char why[64];

    if (numparse_i64(arg, 0, max, out, why, sizeof(why)) == 0)
        return 0;
    fprintf(stderr, "wsflyte-dlt: --%s \"%s\": %s\n", name, arg, why);
    return -1;
}

static int parse_args(int argc, char **argv, options *o)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"workspace", required_argument, NULL, 'w'},
                                         {"class", required_argument, NULL, 'C'},
                                         {"code", required_argument, NULL, 'E'},
                                         {"since", required_argument, NULL, 's'},
                                         {"until", required_argument, NULL, 'u'},
                                         {"partition", required_argument, NULL, 'p'},
                                         {"from-offset", required_argument, NULL, 'f'},
                                         {"to-offset", required_argument, NULL, 't'},
                                         {"offset", required_argument, NULL, 'o'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"to", required_argument, NULL, 'T'},
                                         {"max-replays", required_argument, NULL, 'm'},
                                         {"ack-timeout", required_argument, NULL, 'A'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    int64_t v;
    int c;

    memset(o, 0, sizeof(*o));
    o->f.partition = -1;
    o->f.from_offset = o->f.to_offset = -1;
    o->max_replays = 3;
    o->ack_timeout_ms = 30000;
    while ((c = getopt_long(argc, argv, "c:w:p:nhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config_path = optarg;
            break;
        case 'w':
            o->f.workspace = optarg;
            break;
        case 'C':
            o->f.error_class = optarg;
            break;
        case 'E':
            o->f.error_code = optarg;
            break;
        case 'p':
            if (number_option("partition", optarg, MAX_PARTITIONS - 1, &v) != 0)
                return -1;
            o->f.partition = (int)v;
            break;
        case 'f':
        case 't':
        case 'o':
            if (number_option(c == 'f'   ? "from-offset"
                              : c == 't' ? "to-offset"
                                         : "offset",
                              optarg, INT64_MAX, &v) != 0)
                return -1;
            if (c != 't')
                o->f.from_offset = v;
            if (c != 'f')
                o->f.to_offset = v;
            break;
        case 'n':
            o->dry_run = 1;
            break;
        case 'm':
            if (number_option("max-replays", optarg, INT_MAX, &v) != 0)
                return -1;
            o->max_replays = (int)v;
            break;
        case 'A':
            if (wf_duration_parse(optarg, &o->ack_timeout_ms) != 0 || o->ack_timeout_ms > INT_MAX) {
                fprintf(stderr, "wsflyte-dlt: --ack-timeout: \"%s\" is not a duration (30s, 2m)\n",
                        optarg);
                return -1;
            }
            break;
        case 'V':
            printf("wsflyte-dlt %s\n", WSFLYTE_VERSION);
            exit(0);
        case 'h':
            usage(stdout);
            exit(0);
        case 's':
        case 'u':
            if (parse_time(optarg, c == 's' ? &o->f.since_ms : &o->f.until_ms,
                           c == 's' ? &o->f.since_ago : &o->f.until_ago) != 0) {
                fprintf(stderr, "wsflyte-dlt: --%s: cannot read \"%s\" as a time\n",
                        c == 's' ? "since" : "until", optarg);
                return -1;
            }
            break;
        case 'T':
            if (strcmp(optarg, "main") != 0 && strcmp(optarg, "retry") != 0) {
                fprintf(stderr, "wsflyte-dlt: --to: \"%s\" is not main or retry\n", optarg);
                return -1;
            }
            o->to_main = strcmp(optarg, "main") == 0;
            break;
        default:
            return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "wsflyte-dlt: give one command: list, show or replay\n");
        return -1;
    }
    o->command = argv[optind];
    if (strcmp(o->command, "show") == 0 && (o->f.partition < 0 || o->f.from_offset < 0)) {
        fprintf(stderr, "wsflyte-dlt: show needs --partition and --offset\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    tool t;
    char *report = NULL, group[300];
    wf_err err;
    int rc = 1;

    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    if (strcmp(o.command, "list") && strcmp(o.command, "show") && strcmp(o.command, "replay")) {
        fprintf(stderr, "wsflyte-dlt: unknown command \"%s\"\n", o.command);
        return 2;
    }
    memset(&t, 0, sizeof(t));
    wf_err_init(&err);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (wf_config_load(&t.cfg, o.config_path, environ, &report, &err) != 0) {
        fprintf(stderr, "wsflyte-dlt: configuration is invalid:\n%s", report ? report : err.msg);
        goto out;
    }
    wf_config_dlt_topic(&t.cfg, t.dlt, sizeof(t.dlt));
    if (o.to_main || t.cfg.retry.n_tiers == 0)
        snprintf(t.target, sizeof(t.target), "%s", t.cfg.kafka.topic_events);
    else
        wf_config_retry_topic(&t.cfg, 0, t.target, sizeof(t.target));
    if (strcmp(o.command, "replay") == 0)
        replay_group(&t.cfg, &o, group, sizeof(group));
    else
        snprintf(group, sizeof(group), "%s.dlt-inspect-%ld", t.cfg.kafka.group_id,
                 (long)wf_clock_wall_ms());
    if ((t.codec = kafka_codec_new(&t.cfg, &err)) == NULL ||
        (t.consumer = make_consumer(&t, group, &err)) == NULL ||
        (strcmp(o.command, "replay") == 0 && !o.dry_run &&
         (t.producer = make_producer(&t, &err)) == NULL) ||
        (strcmp(o.command, "replay") == 0 && target_partitions(&t, &err) != 0) ||
        assign(&t, &o.f, strcmp(o.command, "replay") == 0 && !o.dry_run, &err) != 0) {
        fprintf(stderr, "wsflyte-dlt: %s\n", err.msg);
        goto out;
    }
    if (strcmp(o.command, "replay") == 0)
        fprintf(stderr, "wsflyte-dlt: replaying %s to %s as group %s%s\n", t.dlt, t.target, group,
                o.dry_run ? " (dry run)" : "");
    if (t.window_resumed) {
        char since[32] = "open", until[32] = "open";
        format_time(o.f.since_ms, since, sizeof(since));
        format_time(o.f.until_ms, until, sizeof(until));
        fprintf(stderr,
                "wsflyte-dlt: resuming an interrupted replay with the time window it started "
                "with: since %s, until %s\n",
                since, until);
    }
    if (strcmp(o.command, "list") == 0)
        rc = cmd_list(&t, &o.f);
    else if (strcmp(o.command, "show") == 0)
        rc = cmd_show(&t, &o.f);
    else
        rc = cmd_replay(&t, &o);
out:
    if (t.consumer) {
        rd_kafka_consumer_close(t.consumer);
        rd_kafka_destroy(t.consumer);
    }
    if (t.producer) {
        rd_kafka_flush(t.producer, 30000);
        rd_kafka_destroy(t.producer);
    }
    codec_free(t.codec);
    free(report);
    wf_config_fini(&t.cfg);
    curl_global_cleanup();
    return rc;
}
