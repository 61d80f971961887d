/* damper: per-object damping of drift repairs that do not stick.
 *
 * Another writer that owns a field wsflyte also owns (a second replica, a
 * mutating admission webhook, a GitOps controller with self-heal) undoes
 * every repair; repairing again as fast as the watch sees it is a fight
 * that costs two requests a round and a warning line each time.  The damper
 * counts repairs per object identity: after DAMPER_FIGHT_REPAIRS repairs
 * within DAMPER_WINDOW_MS the object is in a fight, and each later repair
 * must wait a hold that starts at DAMPER_FIRST_HOLD_MS and doubles per
 * repair, up to DAMPER_MAX_HOLD_MS.  A fight ends when the object stays as
 * repaired for longer than the window and the current hold (no drift seen
 * meanwhile): its next drift starts counting afresh.
 *
 * Times are the caller's monotonic milliseconds.  Not thread-safe: the
 * caller serialises every call. */
#ifndef WF_DAMPER_H
#define WF_DAMPER_H

#include <stddef.h>
#include <stdint.h>

#define DAMPER_FIGHT_REPAIRS 3
#define DAMPER_WINDOW_MS     (10 * 60 * 1000L)
#define DAMPER_FIRST_HOLD_MS (10 * 1000L)
#define DAMPER_MAX_HOLD_MS   (60 * 60 * 1000L)

typedef struct damper damper;

/* Returns NULL when out of memory. */
damper *damper_new(void);
/* NULL is a no-op. */
void damper_free(damper *d);

/* Object id was repaired at now.  Returns 1 when this repair starts a fight
 * (the caller logs it once and counts it), else 0; *hold_ms is how long the
 * next repair of id must wait (0 when not in a fight).  Out of memory
 * forgets the object (it is then repaired undamped). */
int damper_repaired(damper *d, uint64_t id, int64_t now, int64_t *hold_ms);

/* Drift of id was seen at now: returns the time until which its repair
 * waits, or 0 when it may run at once (no fight, or one that has ended:
 * the object stayed as repaired long enough). */
int64_t damper_hold_until(damper *d, uint64_t id, int64_t now);

/* Forgets objects whose window and fight are over; returns how many fights
 * ended (objects that stayed as repaired). */
size_t damper_sweep(damper *d, int64_t now);

/* How many objects are in a fight now. */
size_t damper_fighting(const damper *d);

#endif
