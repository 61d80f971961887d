/* restore: reads the state records of an assigned partition from the
 * state topic into the store (applied.h), before that partition's events
 * are handled. */
#ifndef WF_RESTORE_H
#define WF_RESTORE_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "applied.h"
#include "wf_err.h"

/* One partition to restore, and what its restore found. */
typedef struct restore_part {
    int32_t partition;
    size_t records; /* read */
    int64_t ms;     /* from the start until its last record was applied */
} restore_part;

/* Reads the n partitions of topic, all at once, from their start to their
 * high watermarks (as they were when asked) with reader, a client that
 * assigns (not the group member), into store, in offset order per
 * partition: a later record of a workspace replaces an earlier one of the
 * same partition, a tombstone (null value) drops it, and a record that
 * cannot be read (not JSON, a newer format, a key or an event other than
 * its workspace) is logged and drops it too, so that the workspace takes
 * the full path.  Across partitions (a key that moved) the highest version
 * wins, and a tombstone or unreadable record drops only its own
 * partition's entry.  Returns 0, or -1 with
 * err set (WF_TRANSIENT: not everything could be read within timeout_ms). */
int restore_partitions(rd_kafka_t *reader, const char *topic, restore_part *parts, size_t n,
                       applied *store, int timeout_ms, wf_err *err);

/* Applies one state record (key, value; value NULL for a tombstone) read
 * from partition to store.  Returns 1 when the record was kept, 0 when it
 * dropped the workspace's entry. */
int restore_record(applied *store, int32_t partition, const void *key, size_t key_len,
                   const void *value, size_t len);

#endif
