/* pause: pausing and resuming assigned partitions for retry tiers' due
 * times and for per-partition backpressure; see pause.h. */
#include "pause.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "numparse.h"

/* Why a partition is paused; it is resumed when no reason is left. */
enum { PAUSE_DUE = 1, PAUSE_BACKPRESSURE = 2 };

typedef struct paused {
    char *topic;
    int32_t partition;
    int reasons;
    int64_t resume_at_ms; /* for PAUSE_DUE */
    struct paused *next;
} paused;

/* The due time first given to a retry-tier partition's head record. */
typedef struct deferral {
    char *topic;
    int32_t partition;
    int64_t offset;
    int64_t due_ms;
    struct deferral *next;
} deferral;

struct pauses {
    rd_kafka_t *consumer;
    offsets *offsets;
    size_t max_inflight; /* a partition's window */
    pause_store_fn store;
    void *ud;
    paused *paused;
    deferral *deferrals; /* one per retry-tier partition seen */
    int backpressure;    /* partitions paused for it */
};

pauses *pause_new(rd_kafka_t *consumer, offsets *tracker, size_t window, pause_store_fn store,
                  void *ud)
{
    pauses *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->consumer = consumer;
    p->offsets = tracker;
    p->max_inflight = window;
    p->store = store;
    p->ud = ud;
    return p;
}

int64_t pause_retry_due(const char *header, int64_t timestamp_ms, int64_t delay_ms, int64_t now,
                        int *bad)
{
    int64_t due = 0;

    *bad = header != NULL && numparse_i64(header, 1, INT64_MAX, &due, NULL, 0) != 0;
    if (due <= 0)
        due = timestamp_ms + delay_ms;
    /* A record is never held longer than its tier's delay from now: a bad
     * header or a producer's fast clock would pause the partition for as
     * long as it says. */
    if (due > now + delay_ms)
        due = now + delay_ms;
    return due;
}

/* The link to the partition's entry, or to the list's end when it has none. */
static paused **paused_link(pauses *ps, const char *topic, int32_t partition)
{
    paused **pp = &ps->paused;

    while (*pp && ((*pp)->partition != partition || strcmp((*pp)->topic, topic) != 0))
        pp = &(*pp)->next;
    return pp;
}

static paused *find_paused(pauses *ps, const char *topic, int32_t partition, int create)
{
    paused *p = *paused_link(ps, topic, partition);

    if (p)
        return p;
    if (!create || (p = calloc(1, sizeof(*p))) == NULL || (p->topic = strdup(topic)) == NULL) {
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->next = ps->paused;
    ps->paused = p;
    return p;
}

static void set_paused(pauses *ps, const char *topic, int32_t partition, int pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);

    rd_kafka_topic_partition_list_add(l, topic, partition);
    if (pause)
        rd_kafka_pause_partitions(ps->consumer, l);
    else
        rd_kafka_resume_partitions(ps->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* A seek (pause_defer_if_not_due) makes librdkafka 2.0.2 forget the offset
 * stored for that partition; store what is done again on resume so that
 * commits keep up. */
static void restore_offset(pauses *ps, const char *topic, int32_t partition)
{
    int64_t next = offsets_committable(ps->offsets, topic, partition);

    if (next >= 0)
        ps->store(ps->ud, topic, partition, next);
}

/* Returns 0, or -1 when out of memory (the partition then goes on). */
static int add_pause(pauses *ps, const char *topic, int32_t partition, int reason, int64_t until)
{
    paused *p = find_paused(ps, topic, partition, 1);

    if (p == NULL)
        return -1;
    if (p->reasons == 0)
        set_paused(ps, topic, partition, 1);
    p->reasons |= reason;
    if (reason == PAUSE_DUE)
        p->resume_at_ms = until;
    return 0;
}

/* Drops reason from *pp and, when no reason is left, resumes the partition
 * and unlinks *pp.  Only paused partitions are ever resumed: resuming an
 * active one can rewind it in librdkafka 2.0.2.  Returns 1 when unlinked. */
static int drop_reason(pauses *ps, paused **pp, int reason)
{
    paused *p = *pp;

    p->reasons &= ~reason;
    if (p->reasons != 0)
        return 0;
    set_paused(ps, p->topic, p->partition, 0);
    restore_offset(ps, p->topic, p->partition);
    *pp = p->next;
    free(p->topic);
    free(p);
    return 1;
}

/* Drops reason from every partition paused for it (only_due_now: whose
 * due time has come) and resumes those left without a reason. */
static void remove_pause(pauses *ps, int reason, int only_due_now)
{
    int64_t now = wf_clock_wall_ms();

    for (paused **pp = &ps->paused; *pp;) {
        paused *p = *pp;
        if ((p->reasons & reason) && (!only_due_now || p->resume_at_ms <= now) &&
            drop_reason(ps, pp, reason))
            continue;
        pp = &p->next;
    }
}

void pause_free(pauses *ps)
{
    if (ps == NULL)
        return;
    while (ps->paused) {
        paused *p = ps->paused;
        ps->paused = p->next;
        free(p->topic);
        free(p);
    }
    while (ps->deferrals) {
        deferral *d = ps->deferrals;
        ps->deferrals = d->next;
        free(d->topic);
        free(d);
    }
    free(ps);
}

/* One partition's window: a partition with max_inflight records in memory
 * stops fetching until half of them are done.  Only that partition: the
 * others keep their latency (contract §3: no workspace's backlog holds up
 * the others).  ps->backpressure counts the partitions held. */
static void window_check(void *ud, const char *topic, int32_t partition, size_t pending)
{
    pauses *ps = ud;
    paused **pp = paused_link(ps, topic, partition);

    if (*pp == NULL || !((*pp)->reasons & PAUSE_BACKPRESSURE)) {
        if (pending < ps->max_inflight ||
            add_pause(ps, topic, partition, PAUSE_BACKPRESSURE, 0) != 0)
            return;
        ps->backpressure++;
        log_info(LOG_CTX_NONE,
                 "%s[%" PRId32 "]: %zu records in flight; fetching paused down to %zu", topic,
                 partition, pending, ps->max_inflight / 2);
    } else if (pending <= ps->max_inflight / 2) {
        drop_reason(ps, pp, PAUSE_BACKPRESSURE);
        ps->backpressure--;
        log_info(LOG_CTX_NONE, "%s[%" PRId32 "]: %zu records in flight; fetching again", topic,
                 partition, pending);
    }
}

void pause_apply_backpressure(pauses *ps)
{
    offsets_each_pending(ps->offsets, window_check, ps);
}

void pause_resume_due(pauses *ps)
{
    remove_pause(ps, PAUSE_DUE, 1);
}

void pause_resume_all(pauses *ps)
{
    remove_pause(ps, PAUSE_DUE | PAUSE_BACKPRESSURE, 0);
    ps->backpressure = 0;
}

/* The due time of m: the one it got when first read, so that a due time
 * clamped to "now + delay" does not move away on every re-read of the
 * same record.  due is what m says now. */
static int64_t first_due(pauses *ps, const rd_kafka_message_t *m, int64_t due)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    deferral *d;

    for (d = ps->deferrals; d; d = d->next)
        if (d->partition == m->partition && strcmp(d->topic, topic) == 0)
            break;
    if (d == NULL) {
        if ((d = calloc(1, sizeof(*d))) == NULL || (d->topic = strdup(topic)) == NULL) {
            free(d);
            return due; /* out of memory: the clamp alone still bounds it */
        }
        d->partition = m->partition;
        d->offset = -1;
        d->next = ps->deferrals;
        ps->deferrals = d;
    }
    if (d->offset != m->offset) {
        d->offset = m->offset;
        d->due_ms = due;
    }
    return d->due_ms < due ? d->due_ms : due;
}

/* A retry-tier record is only handled once due; until then its partition
 * is rewound to it and paused.  With one fixed delay per tier, records are
 * in due order, so only the head of each partition needs checking. */
int pause_defer_if_not_due(pauses *ps, const rd_kafka_message_t *m, int64_t delay_ms)
{
    rd_kafka_headers_t *h = NULL;
    rd_kafka_timestamp_type_t tstype;
    char buf[32];
    const char *header = NULL;
    int bad = 0;
    int64_t now = wf_clock_wall_ms(), due;

    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        kafka_header_get(h, "x-retry-due-ms", buf, sizeof(buf)) == 0)
        header = buf;
    due = first_due(
        ps, m,
        pause_retry_due(header, rd_kafka_message_timestamp(m, &tstype), delay_ms, now, &bad));
    if (bad)
        log_warn(LOG_CTX_NONE,
                 "%s[%" PRId32 "]@%" PRId64 ": x-retry-due-ms \"%s\" is not a time in epoch ms; "
                 "due by its timestamp instead",
                 rd_kafka_topic_name(m->rkt), m->partition, m->offset, buf);
    if (due <= now)
        return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset;
    /* Timeout 0: asynchronous.  A finite timeout waits 1000x too short in
     * librdkafka 2.0.2 (#4230).  The seek's version barrier drops the
     * records prefetched behind m at once. */
    rd_kafka_error_t *err = rd_kafka_seek_partitions(ps->consumer, l, 0);
    if (err == NULL && l->elems[0].err && l->elems[0].err != RD_KAFKA_RESP_ERR__IN_PROGRESS)
        err = rd_kafka_error_new(l->elems[0].err, "%s", rd_kafka_err2str(l->elems[0].err));
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        /* Pausing without the rewind would resume after m and skip it:
         * handle it early instead. */
        log_warn(LOG_CTX_NONE,
                 "seek %s[%" PRId32 "]@%" PRId64 ": %s; handling it before its due time",
                 rd_kafka_topic_name(m->rkt), m->partition, m->offset, rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        return 0;
    }
    add_pause(ps, rd_kafka_topic_name(m->rkt), m->partition, PAUSE_DUE, due);
    return 1;
}
