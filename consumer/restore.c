/* restore: a partition's state records into the store. */
#include "restore.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define KEY_MAX 256

int restore_record(applied *store, int32_t partition, const void *key, size_t key_len,
                   const void *value, size_t len)
{
    char id[KEY_MAX];
    wsstate s;
    wf_err err;

    if (key == NULL || key_len == 0 || key_len >= sizeof(id)) {
        log_warn(LOG_CTX_NONE,
                 "state record in partition %" PRId32 " without a usable key; ignored", partition);
        return 0;
    }
    memcpy(id, key, key_len);
    id[key_len] = '\0';
    if (value == NULL) {
        applied_forget_at(store, id, partition); /* the compaction tombstone */
        return 0;
    }
    wf_err_init(&err);
    if (wsstate_decode(value, len, &s, &err) != 0) {
        log_ctx ctx = {id, NULL, 0, -1, NULL};
        log_warn(&ctx,
                 "state record ignored (%s): %s; the workspace's next event takes the full "
                 "path",
                 err.code, err.msg);
        applied_forget_at(store, id, partition);
        return 0;
    }
    if (strcmp(s.workspace_id, id) != 0) {
        log_ctx ctx = {id, NULL, 0, -1, NULL};
        log_warn(&ctx, "state record ignored: it describes workspace %.80s, not its key",
                 s.workspace_id);
        wsstate_fini(&s);
        applied_forget_at(store, id, partition);
        return 0;
    }
    /* The key may have moved between partitions (partitions added, another
     * partitioner): the highest version read wins, whatever the order. */
    return applied_restore_take(store, partition, &s) == 0;
}

/* Reads until every partition reached its end (end[i] <= next[i]);
 * returns 0, or -1 with err set. */
static int read_all(rd_kafka_t *reader, const char *topic, restore_part *parts, size_t n,
                    const int64_t *end, int64_t *next, applied *store, int timeout_ms, wf_err *err)
{
    int64_t t0 = wf_clock_mono_ms(), deadline = t0 + timeout_ms;
    size_t left = 0;

    for (size_t i = 0; i < n; i++)
        left += next[i] < end[i];
    while (left > 0) {
        rd_kafka_message_t *m;
        size_t i;

        if (wf_clock_mono_ms() > deadline) {
            wf_err_set(err, WF_TRANSIENT, "kafka.state",
                       "reading %s: %zu partition(s) not read to their end after %d ms", topic,
                       left, timeout_ms);
            return -1;
        }
        if ((m = rd_kafka_consumer_poll(reader, 200)) == NULL)
            continue;
        for (i = 0; i < n && parts[i].partition != m->partition; i++)
            ;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warn(LOG_CTX_NONE, "reading %s: %s", topic, rd_kafka_message_errstr(m));
        } else if (i < n && m->offset >= next[i] && next[i] < end[i]) {
            restore_record(store, m->partition, m->key, m->key_len, m->payload, m->len);
            parts[i].records++;
            next[i] = m->offset + 1;
            if (next[i] >= end[i]) {
                parts[i].ms = wf_clock_mono_ms() - t0;
                left--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    return 0;
}

int restore_partitions(rd_kafka_t *reader, const char *topic, restore_part *parts, size_t n,
                       applied *store, int timeout_ms, wf_err *err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
    int64_t *end = calloc(n ? n : 1, sizeof(*end)), *next = calloc(n ? n : 1, sizeof(*next));
    rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    int rc = -1;

    if (end == NULL || next == NULL) {
        wf_err_set(err, WF_INTERNAL, "oom", "state restore: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        parts[i].records = 0;
        parts[i].ms = 0;
        rerr = rd_kafka_query_watermark_offsets(reader, topic, parts[i].partition, &next[i],
                                                &end[i], timeout_ms);
        if (rerr) {
            wf_err_set(err, WF_TRANSIENT, "kafka.state", "offsets of %s[%" PRId32 "]: %s", topic,
                       parts[i].partition, rd_kafka_err2str(rerr));
            goto out;
        }
        if (next[i] < end[i])
            rd_kafka_topic_partition_list_add(l, topic, parts[i].partition)->offset = next[i];
    }
    if (l->cnt == 0) {
        rc = 0;
        goto out;
    }
    if ((rerr = rd_kafka_assign(reader, l)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        wf_err_set(err, WF_TRANSIENT, "kafka.state", "assign %s: %s", topic,
                   rd_kafka_err2str(rerr));
        goto out;
    }
    rc = read_all(reader, topic, parts, n, end, next, store, timeout_ms, err);
    rd_kafka_assign(reader, NULL);
out:
    rd_kafka_topic_partition_list_destroy(l);
    free(end);
    free(next);
    return rc;
}
