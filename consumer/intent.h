/* intent: writes a workspace's record marked incomplete to the state topic
 * and waits for the brokers to acknowledge it, before an apply starts
 * writing (provision_intent_fn), and so the record an event leaves, and
 * the tombstone of a record a repair found superseded.  Runs on worker threads, with a producer
 * of its own, so that a worker never waits for the consumer thread. */
#ifndef WF_INTENT_H
#define WF_INTENT_H

#include <stdint.h>

#include "config.h"
#include "wf_err.h"
#include "wsstate.h"

typedef struct intent intent;

/* Returns NULL with err set. */
intent *intent_new(const wf_config *cfg, wf_err *err);
/* Waits (bounded) for records still in flight, then frees; NULL is a
 * no-op.  No worker may write through it any more. */
void intent_free(intent *in);

/* A provision_intent_fn: ud is the intent.  Produces s to the state topic's
 * partition and waits for its acknowledgement; a record too large for the
 * topic is replaced by its small incomplete form (wsstate_encode_stub),
 * logged.  Returns 0, or -1 with err set (WF_TRANSIENT: not acknowledged
 * within 30 s; the event is retried). */
int intent_write(void *ud, int32_t partition, const wsstate *s, wf_err *err);

/* A provision_retire_fn: produces a tombstone for workspace_id to the
 * state topic's partition and waits for it.  Returns 0, or -1 with err
 * set. */
int intent_retire(void *ud, int32_t partition, const char *workspace_id, wf_err *err);

#endif
