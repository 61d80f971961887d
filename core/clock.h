/* clock: the service's one source of time.  Wall time is for what leaves
 * the process (headers, results, due times other replicas compare);
 * monotonic time is for intervals inside it (backoffs, token lifetimes),
 * which must not jump when the system clock is set. */
#ifndef WF_CLOCK_H
#define WF_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t wf_clock_wall_ms(void);

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
int64_t wf_clock_mono_ms(void);

/* The CLOCK_REALTIME instant ms from now (negative: now), the form
 * pthread_cond_timedwait takes. */
struct timespec wf_clock_deadline_in(int64_t ms);

#endif
