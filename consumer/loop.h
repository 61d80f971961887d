/* loop: the consumer group loop.  It reads lifecycle events, hands each to
 * the provisioner, and gives every event exactly one terminal outcome
 * (outcome.h): a result on the results topic (SUCCEEDED, SKIPPED or FAILED)
 * and, for FAILED and undecodable records, the original record on the
 * dead-letter topic.  An input offset is stored for commit only once all of
 * the event's outputs are acknowledged by the brokers (at-least-once). */
#ifndef WF_LOOP_H
#define WF_LOOP_H

#include <signal.h>

#include "config.h"
#include "wf_err.h"

/* Runs until *stop becomes non-zero, then finishes or hands back in-flight
 * work, commits and leaves the group.  Returns 0 after a clean stop, or -1
 * with err set (start-up failure, lost output delivery, fatal Kafka error). */
int loop_run(const wf_config *cfg, volatile sig_atomic_t *stop, wf_err *err);

#endif
