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

/* Reads partition of topic from its start to its high watermark (as the
 * partition was when asked) with reader, a client that assigns (not the
 * group member), into store, in offset order: a later record of a
 * workspace replaces an earlier one, a tombstone (null value) drops it, and
 * a record that cannot be read (not JSON, a newer format, a key other than
 * its workspace) is logged and drops it too, so that the workspace takes
 * the full path.  Sets *records to the records read.  Returns 0, or -1
 * with err set (WF_TRANSIENT: the partition could not be read within
 * timeout_ms). */
int restore_partition(rd_kafka_t *reader, const char *topic, int32_t partition, applied *store,
                      int timeout_ms, size_t *records, wf_err *err);

/* Applies one state record (key, value; value NULL for a tombstone) read
 * from partition to store.  Returns 1 when the record was kept, 0 when it
 * dropped the workspace's entry. */
int restore_record(applied *store, int32_t partition, const void *key, size_t key_len,
                   const void *value, size_t len);

#endif
