/* offsets: which input offsets may be committed.
 *
 * Kafka commits one offset per partition: "everything before this is done".
 * Events finish out of order (other workspaces, retries, result deliveries),
 * so the tracker keeps each partition's in-flight offsets and reports the
 * lowest unfinished one: offsets are never committed past unfinished work.
 * Not thread-safe; the consumer loop owns it. */
#ifndef WF_OFFSETS_H
#define WF_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

typedef struct offsets offsets;

offsets *offsets_new(void);
void offsets_free(offsets *o);

/* Records that offset of (topic, partition) is now in flight.  Offsets of a
 * partition must be begun in increasing order.  Returns 0, or -1 on OOM. */
int offsets_begin(offsets *o, const char *topic, int32_t partition, int64_t offset);

/* Marks offset done.  Returns the offset to commit for that partition (the
 * next offset to consume) when it advanced, or -1 when it did not. */
int64_t offsets_done(offsets *o, const char *topic, int32_t partition, int64_t offset);

/* The last offset offsets_done() returned for the partition (the next
 * offset to consume), or -1 if none since the partition was begun. */
int64_t offsets_committable(const offsets *o, const char *topic, int32_t partition);

/* Number of offsets in flight in all partitions, or in one (topic != NULL). */
size_t offsets_inflight(const offsets *o, const char *topic, int32_t partition);

/* Calls fn for every partition tracked, with its number of offsets begun
 * and not yet done (records whose work is still in memory).  fn must not
 * change o. */
typedef void (*offsets_pending_fn)(void *ud, const char *topic, int32_t partition, size_t pending);
void offsets_each_pending(const offsets *o, offsets_pending_fn fn, void *ud);

/* Forgets a partition (revoked): its in-flight work will be redelivered. */
void offsets_drop(offsets *o, const char *topic, int32_t partition);

#endif
