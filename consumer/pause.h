/* pause: which assigned partitions the consumer stops fetching, and why.
 *
 * Two reasons, each with its own end: a retry tier's head record that is
 * not yet due (the partition is rewound to it and paused until its due
 * time), and a partition's window of records in memory being full
 * (backpressure: paused until half of them are done).  A partition is
 * resumed only when no reason is left.  Consumer thread only. */
#ifndef WF_PAUSE_H
#define WF_PAUSE_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "offsets.h"

typedef struct pauses pauses;

/* Stores next (the next offset to consume) of a partition for commit. */
typedef void (*pause_store_fn)(void *ud, const char *topic, int32_t partition, int64_t next);

/* consumer and tracker are borrowed and must outlive the set.  window is
 * the most records a partition may have in memory before it is paused.
 * store puts a resumed partition's done offset back (see pause.c).
 * Returns NULL when out of memory. */
pauses *pause_new(rd_kafka_t *consumer, offsets *tracker, size_t window, pause_store_fn store,
                  void *ud);
/* Forgets every pause without resuming (the consumer is closing). */
void pause_free(pauses *p);

/* A retry-tier record (tier delay delay_ms) is only handled once due:
 * until then its partition is rewound to it and paused.  Returns 1 when m
 * was deferred (the caller drops m), 0 when it is due now. */
int pause_defer_if_not_due(pauses *p, const rd_kafka_message_t *m, int64_t delay_ms);

/* Resumes the partitions whose due time has come (and no other reason
 * holds them). */
void pause_resume_due(pauses *p);

/* Pauses partitions whose window is full, resumes those down to half. */
void pause_apply_backpressure(pauses *p);

/* The assignment ends: resumes every paused partition (librdkafka keeps an
 * application pause across unassign/assign) and forgets the pauses. */
void pause_resume_all(pauses *p);

/* When a retry-tier record is due: x-retry-due-ms (header, or NULL when
 * absent), else the record's timestamp plus the tier's delay; never later
 * than now plus the delay.  *bad is set when header is not a positive
 * number of epoch ms (it is then ignored). */
int64_t pause_retry_due(const char *header, int64_t timestamp_ms, int64_t delay_ms, int64_t now,
                        int *bad);

#endif
