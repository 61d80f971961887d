/* loop: the consumer group loop.  It reads lifecycle events, hands each to
 * the provisioner, and gives every event exactly one terminal outcome:
 * a result on the results topic (SUCCEEDED, SKIPPED or FAILED) and, for
 * FAILED and undecodable records, the original record on the dead-letter
 * topic.  An input offset is stored for commit only once all of the
 * event's outputs are acknowledged by the brokers (at-least-once). */
#ifndef WF_LOOP_H
#define WF_LOOP_H

#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "wf_err.h"

/* Runs until *stop becomes non-zero, then finishes or hands back in-flight
 * work, commits and leaves the group.  Returns 0 after a clean stop, or -1
 * with err set (start-up failure, lost output delivery, fatal Kafka error). */
int loop_run(const wf_config *cfg, volatile sig_atomic_t *stop, wf_err *err);

/* result_id for an event: a UUID-shaped SHA-256 digest of the event id, so
 * redeliveries carry the same id.  out must hold 37 bytes. */
void loop_result_id(const char *event_id, char *out);

/* When a retry-tier record is due: x-retry-due-ms (header, or NULL when
 * absent), else the record's timestamp plus the tier's delay; never later
 * than now plus the delay.  *bad is set when header is not a positive
 * number of epoch ms (it is then ignored). */
int64_t loop_retry_due(const char *header, int64_t timestamp_ms, int64_t delay_ms, int64_t now,
                       int *bad);

#endif
