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
        applied_forget(store, id); /* the compaction tombstone */
        return 0;
    }
    wf_err_init(&err);
    if (wsstate_decode(value, len, &s, &err) != 0) {
        log_ctx ctx = {id, NULL, 0, -1};
        log_warn(&ctx,
                 "state record ignored (%s): %s; the workspace's next event takes the full "
                 "path",
                 err.code, err.msg);
        applied_forget(store, id);
        return 0;
    }
    if (strcmp(s.workspace_id, id) != 0) {
        log_ctx ctx = {id, NULL, 0, -1};
        log_warn(&ctx, "state record ignored: it describes workspace %.80s, not its key",
                 s.workspace_id);
        wsstate_fini(&s);
        applied_forget(store, id);
        return 0;
    }
    return applied_put_take(store, partition, &s) == 0;
}

/* Reads records until the one before hi; returns 0, or -1 with err set. */
static int read_to(rd_kafka_t *reader, const char *topic, int32_t partition, int64_t hi,
                   applied *store, int timeout_ms, size_t *records, wf_err *err)
{
    int64_t deadline = wf_clock_mono_ms() + timeout_ms, next = 0;

    while (next < hi) {
        rd_kafka_message_t *m;

        if (wf_clock_mono_ms() > deadline) {
            wf_err_set(err, WF_TRANSIENT, "kafka.state",
                       "reading %s[%" PRId32 "]: at offset %" PRId64 " of %" PRId64 " after %d ms",
                       topic, partition, next, hi, timeout_ms);
            return -1;
        }
        if ((m = rd_kafka_consumer_poll(reader, 200)) == NULL)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warn(LOG_CTX_NONE, "reading %s[%" PRId32 "]: %s", topic, partition,
                         rd_kafka_message_errstr(m));
        } else if (m->partition == partition) {
            restore_record(store, partition, m->key, m->key_len, m->payload, m->len);
            (*records)++;
            next = m->offset + 1;
        }
        rd_kafka_message_destroy(m);
    }
    return 0;
}

int restore_partition(rd_kafka_t *reader, const char *topic, int32_t partition, applied *store,
                      int timeout_ms, size_t *records, wf_err *err)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t rerr;
    int64_t lo = 0, hi = 0;
    int rc;

    *records = 0;
    rerr = rd_kafka_query_watermark_offsets(reader, topic, partition, &lo, &hi, timeout_ms);
    if (rerr) {
        wf_err_set(err, WF_TRANSIENT, "kafka.state", "offsets of %s[%" PRId32 "]: %s", topic,
                   partition, rd_kafka_err2str(rerr));
        return -1;
    }
    if (hi <= lo)
        return 0;
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = lo;
    rerr = rd_kafka_assign(reader, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (rerr) {
        wf_err_set(err, WF_TRANSIENT, "kafka.state", "assign %s[%" PRId32 "]: %s", topic, partition,
                   rd_kafka_err2str(rerr));
        return -1;
    }
    rc = read_to(reader, topic, partition, hi, store, timeout_ms, records, err);
    rd_kafka_assign(reader, NULL);
    return rc;
}
