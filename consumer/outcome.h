/* outcome: a record's terminal outputs, and marking its offset done.
 *
 * Every record read gets exactly one terminal outcome: a result on the
 * results topic (SUCCEEDED, SKIPPED or FAILED) and, for FAILED and
 * undecodable records, the original record on the dead-letter topic; or,
 * for a transient failure with retry tiers left, the record forwarded to
 * the next tier.  When the handler changed the workspace's state record,
 * the record goes to the state topic with it (the event's partition).  A record's offset is marked
 * done (offsets_done, then the done callback) only once every output is acknowledged by the
 * brokers. An output that is lost makes the context fatal: the process must stop without committing
 * past it.  A record abandoned (revoke, stop) gets no output at all; the partition's next owner
 * redelivers it.
 *
 * Runs on the consumer thread only: outcome_finish and friends, and the
 * delivery reports (outcome_delivered, from rd_kafka_poll/flush of the
 * producer). */
#ifndef WF_OUTCOME_H
#define WF_OUTCOME_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "config.h"
#include "dispatch.h"
#include "event.h"
#include "metrics.h"
#include "offsets.h"
#include "provision.h"
#include "trace.h"
#include "wf_err.h"

typedef struct outcome outcome;

/* Called when a partition's committable offset advanced to next (the next
 * offset to consume): store it for commit. */
typedef void (*outcome_done_fn)(void *ud, const char *topic, int32_t partition, int64_t next);

typedef struct outcome_opts {
    const wf_config *cfg; /* topics, retry tiers, group id */
    /* Outputs go here; its delivery report callback must call
     * outcome_delivered.  Borrowed, like every pointer here. */
    rd_kafka_t *producer;
    offsets *offsets; /* every record's offset is begun here */
    codec *codec;     /* encodes results; reads undecodable records' ids */
    codec_format results_format;
    metrics *metrics;
    outcome_done_fn done;
    void *ud;
} outcome_opts;

/* One record on its way to a terminal outcome (or to the next retry tier).
 * The consumer loop fills the event and runs it; the outcome module gives
 * it its outputs.  refs counts the consumer thread's own reference plus one
 * per output in flight; the offset is marked done when it drops to zero
 * without a failure. */
typedef struct work {
    job j; /* first: the dispatcher hands back &work->j */
    outcome *oc;
    rd_kafka_message_t *msg; /* owned */
    ws_event ev;
    int tier;           /* -1: the events topic; else the retry tier it came from */
    int prior_attempts; /* from x-attempts */
    int attempts;       /* made by this delivery */
    int abandoned;      /* no outputs: the partition's next owner redelivers it */
    int failed;         /* an output was lost */
    int refs;
    unsigned assign_gen; /* the assignment it was consumed under */
    int64_t started_ms;
    prov_result result;
    wsstate state;  /* to the state topic with the outcome; none when workspace_id is NULL */
    int state_stub; /* the state record produced last was the small form */
    wf_err err;
    wf_trace trace; /* the record's trace context, or one made for it (trace.h) */
} work;

/* w's trace id for log lines (log_ctx.trace_id), NULL when it has none. */
const char *outcome_trace_id(const work *w);

/* Returns NULL on out of memory.  Topic names come from opts->cfg. */
outcome *outcome_new(const outcome_opts *opts);
/* Outputs still in flight must be flushed (or lost with the producer)
 * first: their delivery reports refer to work of this context. */
void outcome_free(outcome *oc);

const char *outcome_dlt_topic(const outcome *oc);
const char *outcome_state_topic(const outcome *oc);
/* The topic of retry tier i (i < cfg->retry.n_tiers). */
const char *outcome_tier_topic(const outcome *oc, size_t i);
/* The retry tier topic is the topic of, or -1 (the events topic). */
int outcome_tier_of(const outcome *oc, const char *topic);

/* Set once an output was lost (or a result could not even be built): the
 * process must stop and not commit. */
int outcome_fatal(const outcome *oc);
/* The assignment ended: outputs acknowledged from now on belong to records
 * of an earlier assignment and mark no offset done (a newer delivery of the
 * same offset may be in flight). */
void outcome_revoked(outcome *oc);

/* Starts tracking record m (read from retry tier `tier`, or -1): its
 * offset is begun and x-attempts read.  Takes m on success; returns NULL
 * when out of memory (m is then still the caller's). */
work *outcome_begin(outcome *oc, rd_kafka_message_t *m, int tier);

/* Gives w, collected from the dispatcher (or never submitted, with w->err
 * set), its outcome and drops the consumer thread's reference: a result
 * (and a dead letter when it failed), a forward to the next retry tier for
 * a transient failure with tiers left, or nothing when cancelled or
 * abandoned.  A superseded job is answered SKIPPED "stale". */
void outcome_finish(work *w);

/* Decodes w's event (a record's readability decides its outcome).
 * Returns 0 when the event is ready to run; 1 when the record got its
 * outcome instead (undecodable: a dead letter, and a FAILED result when its
 * ids are readable; keyed other than by its workspace, or refused by
 * desired_check, which needs no server: FAILED) and the
 * consumer thread's reference is dropped; -1 when the schema registry is
 * unreachable (not the record's fault): w is abandoned and released, and
 * the process must stop. */
int outcome_decode(work *w);

/* Drops the consumer thread's reference on w without an output. */
void outcome_release(work *w);

/* The producer's delivery report callback (m->_private is the work). */
void outcome_delivered(const rd_kafka_message_t *m);

/* result_id for an event: a UUID-shaped SHA-256 digest of the event id, so
 * redeliveries carry the same id.  out must hold 37 bytes. */
void outcome_result_id(const char *event_id, char *out);

#endif
