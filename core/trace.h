/* trace: the W3C trace context (https://www.w3.org/TR/trace-context/) of
 * one event: its `traceparent`, checked as level 1 says, and `tracestate`.
 *
 * An event's trace context is copied onto its result and onto its retry-tier
 * and dead-letter records, and its trace id goes into every log line about
 * the event.  An event without a valid `traceparent` gets a new one, derived
 * from its event id so that a redelivery (the same event_id, the same
 * result_id) also carries the same trace id.  Pure data: no allocation. */
#ifndef WF_TRACE_H
#define WF_TRACE_H

#include <stddef.h>

#define WF_TRACEPARENT_LEN 55 /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define WF_TRACE_ID_LEN    32
#define WF_TRACESTATE_MAX  512 /* what a vendor must propagate at least */

typedef struct wf_trace {
    char traceparent[WF_TRACEPARENT_LEN + 1]; /* what is propagated, version 00 */
    char trace_id[WF_TRACE_ID_LEN + 1];       /* 32 lowercase hex digits */
    char tracestate[WF_TRACESTATE_MAX + 1];   /* "" when absent or dropped */
    int generated;                            /* 1: made here, the event had none valid */
} wf_trace;

/* Reads a traceparent header value of len bytes into *t (tracestate
 * empty).  Returns 0 when it is valid, -1 otherwise (*t is then cleared).
 * Version 00 must be exactly 55 bytes; a higher version (not ff) is read
 * by its first 55 bytes and propagated as version 00, as the
 * recommendation says. */
int wf_trace_parse(wf_trace *t, const char *value, size_t len);

/* Sets t's tracestate to value (len bytes) when t came from a valid
 * traceparent and value is at most WF_TRACESTATE_MAX bytes of printable
 * ASCII; returns 0, or -1 when it is dropped (the list is then left out
 * rather than passed on damaged). */
int wf_trace_set_state(wf_trace *t, const char *value, size_t len);

/* Makes a new trace context (sampled) for an event without a valid
 * traceparent: trace id and parent id are derived from seed (the event id,
 * seed_len bytes) by SHA-256, or random when seed is NULL.  Returns 0, or -1
 * when OpenSSL failed (*t is then cleared). */
int wf_trace_new(wf_trace *t, const char *seed, size_t seed_len);

#endif
