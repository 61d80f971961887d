/* pacer: client-side pacing of the requests to one API (FlyteAdmin or
 * Kubernetes), shared by every worker of the process.
 *
 * A token bucket with client-go's semantics (flowcontrol.
 * NewTokenBucketRateLimiter(qps, burst)): it refills at qps tokens a second
 * up to burst, starts full, and every request takes one token, sleeping
 * until one is due; qps 0 leaves requests unpaced.  A 429 (or a 503 with
 * Retry-After) pauses every request to the API until the server's
 * Retry-After (capped), and after a pause one request goes first: the others
 * wait for its answer, so a throttled API sees about one request per
 * Retry-After, whatever the concurrency.  The bucket does not fill during a
 * pause, so the requests held back resume at qps, not as a burst.
 *
 * Two priorities.  Event requests reserve tokens in arrival order (they may
 * take tokens not yet refilled and wait for them, as client-go does).
 * Background requests (resync, repairs) yield to events: they take a token
 * only while no event request waits and more than PACER_RESERVE_PERCENT of
 * the bucket is left, so events always find that share of the burst and
 * never queue behind a background pass.
 *
 * Thread-safe.  The composition root creates one pacer per API and hands it
 * to every HTTP client of that API. */
#ifndef WF_PACER_H
#define WF_PACER_H

#include <stddef.h>
#include <stdint.h>

/* A 429 without a usable Retry-After pauses the API for this long. */
#define PACER_DEFAULT_PAUSE_MS 1000
/* A longer Retry-After is cut to this: the in-place retry of the request
 * that got it gives up anyway and goes to a retry tier. */
#define PACER_MAX_PAUSE_MS 60000
/* The share of the bucket background requests leave to events. */
#define PACER_RESERVE_PERCENT 50
/* How often a waiting request checks whether it should give up. */
#define PACER_POLL_MS 100
/* How long the first request after a pause holds the others back at most
 * (it normally answers within milliseconds). */
#define PACER_PROBE_MAX_MS 10000

typedef struct pacer pacer;

typedef enum pacer_priority { PACER_EVENT, PACER_BACKGROUND } pacer_priority;

typedef struct pacer_opts {
    const char *api; /* "flyte" or "k8s": handed to on_throttled; copied */
    int qps;         /* tokens per second; 0 = unpaced (pauses still hold) */
    int burst;       /* the bucket's size; at least 1 when qps > 0 */
    /* Polled every PACER_POLL_MS while a request waits: non-zero (the
     * process is stopping, its partition is being revoked) makes it give
     * up.  NULL: never. */
    int (*cancelled)(void *ud);
    void *cancel_ud;
    /* Called (outside the pacer's lock) for every throttling answer, with
     * the pause it set, e.g. for wsflyte_api_throttled_total.  Or NULL. */
    void (*on_throttled)(void *ud, const char *api, long pause_ms);
    void *throttled_ud;
} pacer_opts;

/* Returns NULL on OOM or on qps < 0, or qps > 0 with burst < 1 (the
 * configuration check reports those with their key). */
pacer *pacer_new(const pacer_opts *opts);
void pacer_free(pacer *p);

/* Waits, sleeping, until a request of priority prio may be sent, and
 * counts it.  Returns 0, or -1 when opts.cancelled said to give up (no
 * token is then spent).  A NULL pacer lets every request go. */
int pacer_acquire(pacer *p, pacer_priority prio);
/* pacer_acquire for one request that also gives up when give_up(ud) says
 * so (a repair an event of its workspace preempts), asked before it goes
 * and while it waits; NULL give_up: only opts.cancelled counts. */
int pacer_acquire_or_yield(pacer *p, pacer_priority prio, int (*give_up)(void *ud), void *ud);

/* Reports the answer to a request pacer_acquire let go: its HTTP status (0:
 * no answer) and Retry-After in ms (-1: none or unreadable).  A 429, or a
 * 503 with Retry-After, pauses the API (PACER_DEFAULT_PAUSE_MS without
 * Retry-After).  NULL p: nothing. */
void pacer_answered(pacer *p, long status, long retry_after_ms);

/* Holds every request back for ms from now (cut to [0,
 * PACER_MAX_PAUSE_MS]); a pause never shortens a longer one. */
void pacer_pause(pacer *p, long ms);

/* Milliseconds until a pause set on p ends; 0 when none. */
long pacer_paused_ms(pacer *p);

/* Reads a Retry-After value (len bytes, not NUL-terminated): delay-seconds
 * or an HTTP date, made relative to now_wall_ms.  Returns milliseconds (at
 * most max_ms; a past date is 0), or -1 when it is neither. */
long pacer_retry_after_ms(const char *value, size_t len, int64_t now_wall_ms, long max_ms);

#endif
