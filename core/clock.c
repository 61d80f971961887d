/* clock: wall and monotonic milliseconds, and condition-variable deadlines. */
#include "clock.h"

static int64_t ms_of(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t wf_clock_wall_ms(void)
{
    return ms_of(CLOCK_REALTIME);
}

int64_t wf_clock_mono_ms(void)
{
    return ms_of(CLOCK_MONOTONIC);
}

struct timespec wf_clock_deadline_in(int64_t ms)
{
    struct timespec t;

    if (ms < 0)
        ms = 0;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}
