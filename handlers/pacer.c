/* pacer: a token bucket per API with pauses for throttling answers and a
 * lower priority for background requests. */
#include "pacer.h"

#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* What the first request after a pause is doing. */
typedef enum probe_state {
    PROBE_NONE,     /* no pause since the last good answer */
    PROBE_DUE,      /* a pause was set: the next request to go is the probe */
    PROBE_IN_FLIGHT /* the probe is out: the others wait for its answer */
} probe_state;

struct pacer {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a pause, an answer, an event request done */
    char *api;
    int qps, burst;
    double reserve;    /* tokens background requests leave to events */
    double tokens;     /* negative: reserved by waiting event requests */
    int64_t refill_ms; /* when tokens was last brought up to date */
    int64_t pause_until_ms;
    unsigned pause_epoch; /* bumped by every pause: reservations start over */
    probe_state probe;
    int64_t probe_deadline_ms;
    int events_waiting;
    int background_waiting; /* only then does an event request's end wake */
    int (*cancelled)(void *ud);
    void *cancel_ud;
    void (*on_throttled)(void *ud, const char *api, long pause_ms);
    void *throttled_ud;
};

pacer *pacer_new(const pacer_opts *o)
{
    pacer *p;

    if (o->qps < 0 || (o->qps > 0 && o->burst < 1))
        return NULL;
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    if ((p->api = strdup(o->api ? o->api : "http")) == NULL) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    p->qps = o->qps;
    p->burst = o->burst;
    p->reserve = (double)o->burst * PACER_RESERVE_PERCENT / 100.0;
    p->tokens = o->burst; /* client-go's bucket starts full */
    p->refill_ms = wf_clock_mono_ms();
    p->cancelled = o->cancelled;
    p->cancel_ud = o->cancel_ud;
    p->on_throttled = o->on_throttled;
    p->throttled_ud = o->throttled_ud;
    return p;
}

void pacer_free(pacer *p)
{
    if (p == NULL)
        return;
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->lock);
    free(p->api);
    free(p);
}

/* Brings tokens up to now; during a pause nothing accrues (refill_ms is
 * the pause's end then).  Caller holds the lock. */
static void refill(pacer *p, int64_t now)
{
    if (p->qps == 0 || now <= p->refill_ms)
        return;
    p->tokens += (double)(now - p->refill_ms) * p->qps / 1000.0;
    if (p->tokens > p->burst)
        p->tokens = p->burst;
    p->refill_ms = now;
}

/* The one request's own reason to give up (pacer_acquire_or_yield). */
typedef struct waiter {
    int (*give_up)(void *ud);
    void *ud;
} waiter;

static int giving_up(const pacer *p, const waiter *w)
{
    return (p->cancelled && p->cancelled(p->cancel_ud)) || (w->give_up && w->give_up(w->ud));
}

/* Sleeps until woken or ms (at most PACER_POLL_MS) passed.  Returns -1
 * when the caller should give up.  Caller holds the lock. */
static int wait_a_while(pacer *p, const waiter *w, int64_t ms)
{
    struct timespec until;

    if (giving_up(p, w))
        return -1;
    if (ms > PACER_POLL_MS)
        ms = PACER_POLL_MS;
    if (ms < 1)
        ms = 1;
    until = wf_clock_deadline_in(ms);
    pthread_cond_timedwait(&p->changed, &p->lock, &until);
    return 0;
}

/* Milliseconds a request must still hold back for a pause or for the
 * probe's answer; 0 when it may go.  Caller holds the lock. */
static int64_t held_back(pacer *p, int64_t now)
{
    if (now < p->pause_until_ms)
        return p->pause_until_ms - now;
    if (p->probe == PROBE_IN_FLIGHT && now < p->probe_deadline_ms)
        return p->probe_deadline_ms - now;
    return 0;
}

/* The request about to go is the first after a pause: the others wait for
 * its answer.  Caller holds the lock. */
static void leave(pacer *p, int64_t now)
{
    if (p->probe == PROBE_DUE || (p->probe == PROBE_IN_FLIGHT && now >= p->probe_deadline_ms)) {
        p->probe = PROBE_IN_FLIGHT;
        p->probe_deadline_ms = now + PACER_PROBE_MAX_MS;
    }
}

/* An event request: reserve the next token (client-go's Wait on
 * x/time/rate), sleep until it is due; a pause meanwhile gives it back and
 * starts over once the pause is over. */
static int acquire_event(pacer *p, const waiter *w)
{
    for (;;) {
        int64_t now = wf_clock_mono_ms(), wait;

        refill(p, now);
        if ((wait = held_back(p, now)) > 0) {
            if (wait_a_while(p, w, wait) != 0)
                return -1;
            continue;
        }
        if (p->qps == 0) {
            leave(p, now);
            return 0;
        }
        unsigned epoch = p->pause_epoch;
        p->tokens -= 1;
        int64_t due = now + (p->tokens < 0 ? (int64_t)ceil(-p->tokens * 1000.0 / p->qps) : 0);
        for (;;) {
            now = wf_clock_mono_ms();
            if (p->pause_epoch != epoch) {
                /* The pause drained the bucket: give the reservation back. */
                p->tokens += 1;
                break;
            }
            wait = held_back(p, now);
            if (due - now > wait)
                wait = due - now;
            if (wait <= 0) {
                leave(p, now);
                return 0;
            }
            if (wait_a_while(p, w, wait) != 0) {
                if (p->pause_epoch == epoch)
                    p->tokens += 1;
                return -1;
            }
        }
    }
}

/* A background request: take a token only while no event request waits
 * and more than the reserve is left; never run into debt. */
static int acquire_background(pacer *p, const waiter *w)
{
    for (;;) {
        int64_t now = wf_clock_mono_ms(), wait;

        refill(p, now);
        if ((wait = held_back(p, now)) == 0 && p->events_waiting > 0)
            wait = PACER_POLL_MS; /* woken when one is done */
        if (wait == 0 && p->qps > 0 && p->tokens < p->reserve + 1)
            wait = (int64_t)ceil((p->reserve + 1 - p->tokens) * 1000.0 / p->qps);
        if (wait == 0) {
            if (p->qps > 0)
                p->tokens -= 1;
            leave(p, now);
            return 0;
        }
        if (wait_a_while(p, w, wait) != 0)
            return -1;
    }
}

int pacer_acquire(pacer *p, pacer_priority prio)
{
    return pacer_acquire_or_yield(p, prio, NULL, NULL);
}

int pacer_acquire_or_yield(pacer *p, pacer_priority prio, int (*give_up)(void *ud), void *ud)
{
    waiter w = {give_up, ud};
    int rc;

    if (p == NULL) /* unpaced: the job may still be asked to give up */
        return give_up && give_up(ud) ? -1 : 0;
    pthread_mutex_lock(&p->lock);
    if (give_up && give_up(ud)) {
        rc = -1;
    } else if (prio == PACER_BACKGROUND) {
        p->background_waiting++;
        rc = acquire_background(p, &w);
        p->background_waiting--;
    } else {
        p->events_waiting++;
        rc = acquire_event(p, &w);
        p->events_waiting--;
        if (p->events_waiting == 0 && p->background_waiting > 0)
            pthread_cond_broadcast(&p->changed); /* background requests may go */
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* Caller holds the lock. */
static void pause_locked(pacer *p, long ms)
{
    int64_t now = wf_clock_mono_ms(), until;

    if (ms < 0)
        ms = 0;
    if (ms > PACER_MAX_PAUSE_MS)
        ms = PACER_MAX_PAUSE_MS;
    until = now + ms;
    refill(p, now);
    if (until > p->pause_until_ms)
        p->pause_until_ms = until;
    /* Nothing accrues during the pause, and what was saved is gone: after
     * it, requests resume at qps rather than as one burst. */
    if (p->tokens > 0)
        p->tokens = 0;
    if (p->pause_until_ms > p->refill_ms)
        p->refill_ms = p->pause_until_ms;
    p->pause_epoch++;
    p->probe = PROBE_DUE;
    pthread_cond_broadcast(&p->changed);
}

void pacer_pause(pacer *p, long ms)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    pause_locked(p, ms);
    pthread_mutex_unlock(&p->lock);
}

void pacer_answered(pacer *p, long status, long retry_after_ms)
{
    long ms = -1;

    if (p == NULL)
        return;
    if (status == 429 || (status == 503 && retry_after_ms >= 0)) {
        ms = retry_after_ms >= 0 ? retry_after_ms : PACER_DEFAULT_PAUSE_MS;
        if (ms > PACER_MAX_PAUSE_MS)
            ms = PACER_MAX_PAUSE_MS;
    }
    pthread_mutex_lock(&p->lock);
    if (ms >= 0) {
        pause_locked(p, ms);
    } else if (p->probe == PROBE_IN_FLIGHT) {
        /* Any other answer (or none: a connection error is no throttling)
         * lets the requests held back go, at qps. */
        p->probe = PROBE_NONE;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
    if (ms >= 0 && p->on_throttled)
        p->on_throttled(p->throttled_ud, p->api, ms);
}

long pacer_paused_ms(pacer *p)
{
    int64_t left;

    if (p == NULL)
        return 0;
    pthread_mutex_lock(&p->lock);
    left = p->pause_until_ms - wf_clock_mono_ms();
    pthread_mutex_unlock(&p->lock);
    return left > 0 ? (long)left : 0;
}

long pacer_retry_after_ms(const char *value, size_t len, int64_t now_wall_ms, long max_ms)
{
    char buf[64];
    size_t i = 0, n = len;
    long secs = 0;
    time_t at;

    while (i < n && isspace((unsigned char)value[i]))
        i++;
    while (n > i && isspace((unsigned char)value[n - 1]))
        n--;
    if (i == n || n - i >= sizeof(buf))
        return -1;
    if (isdigit((unsigned char)value[i])) {
        /* delay-seconds: digits only; a huge value is clamped, never
         * overflowed. */
        for (; i < n; i++) {
            if (!isdigit((unsigned char)value[i]))
                return -1;
            if (secs <= max_ms / 1000)
                secs = secs * 10 + (value[i] - '0');
        }
        return secs <= max_ms / 1000 ? secs * 1000 : max_ms;
    }
    /* An HTTP date (RFC 9110: IMF-fixdate, or the obsolete RFC 850 and
     * asctime forms), which curl_getdate reads. */
    memcpy(buf, value + i, n - i);
    buf[n - i] = '\0';
    if ((at = curl_getdate(buf, NULL)) == -1)
        return -1;
    int64_t ms = (int64_t)at * 1000 - now_wall_ms;
    if (ms < 0)
        return 0;
    return ms > max_ms ? max_ms : (long)ms;
}
