/* damper: repair counts per object identity in a chained hash table that
 * grows with the objects repaired within a window (most of the time none). */
#include "damper.h"

#include <stdlib.h>

typedef struct entry {
    uint64_t id;
    int64_t window_start; /* first repair counted in the window */
    int64_t last;         /* last repair */
    int64_t hold_until;   /* in a fight: when the next repair may run */
    int64_t hold_ms;      /* in a fight: the hold set by the last repair */
    int repairs;          /* in the window */
    int fighting;
    struct entry *next;
} entry;

struct damper {
    entry **buckets;
    size_t n_buckets, n, n_fighting;
};

#define MIN_BUCKETS 64

static size_t bucket_of(const damper *d, uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (d->n_buckets - 1);
}

damper *damper_new(void)
{
    damper *d = calloc(1, sizeof(*d));

    if (d == NULL || (d->buckets = calloc(MIN_BUCKETS, sizeof(*d->buckets))) == NULL) {
        free(d);
        return NULL;
    }
    d->n_buckets = MIN_BUCKETS;
    return d;
}

void damper_free(damper *d)
{
    if (d == NULL)
        return;
    for (size_t b = 0; b < d->n_buckets; b++)
        while (d->buckets[b]) {
            entry *e = d->buckets[b];
            d->buckets[b] = e->next;
            free(e);
        }
    free(d->buckets);
    free(d);
}

static entry *find(const damper *d, uint64_t id)
{
    for (entry *e = d->buckets[bucket_of(d, id)]; e; e = e->next)
        if (e->id == id)
            return e;
    return NULL;
}

/* Doubles the table past 2 entries per bucket; out of memory only keeps the
 * chains longer. */
static void grow(damper *d)
{
    damper bigger = {NULL, d->n_buckets * 2, 0, 0};

    if (d->n < d->n_buckets * 2 ||
        (bigger.buckets = calloc(bigger.n_buckets, sizeof(*bigger.buckets))) == NULL)
        return;
    for (size_t b = 0; b < d->n_buckets; b++)
        while (d->buckets[b]) {
            entry *e = d->buckets[b];
            size_t nb = bucket_of(&bigger, e->id);
            d->buckets[b] = e->next;
            e->next = bigger.buckets[nb];
            bigger.buckets[nb] = e;
        }
    free(d->buckets);
    d->buckets = bigger.buckets;
    d->n_buckets = bigger.n_buckets;
}

/* How long a fight's object must stay as repaired for the fight to end. */
static int64_t quiet_ms(const entry *e)
{
    return e->hold_ms > DAMPER_WINDOW_MS ? e->hold_ms : DAMPER_WINDOW_MS;
}

static int over(const entry *e, int64_t now)
{
    return e->fighting ? now - e->last > quiet_ms(e) : now - e->window_start > DAMPER_WINDOW_MS;
}

static void remove_entry(damper *d, uint64_t id)
{
    for (entry **pp = &d->buckets[bucket_of(d, id)]; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            entry *e = *pp;
            *pp = e->next;
            d->n--;
            d->n_fighting -= e->fighting;
            free(e);
            return;
        }
}

int damper_repaired(damper *d, uint64_t id, int64_t now, int64_t *hold_ms)
{
    entry *e;

    *hold_ms = 0;
    if (d == NULL)
        return 0;
    if ((e = find(d, id)) != NULL && over(e, now)) {
        remove_entry(d, id);
        e = NULL;
    }
    if (e == NULL) {
        if ((e = calloc(1, sizeof(*e))) == NULL)
            return 0;
        grow(d);
        e->id = id;
        e->window_start = now;
        e->next = d->buckets[bucket_of(d, id)];
        d->buckets[bucket_of(d, id)] = e;
        d->n++;
    }
    e->last = now;
    if (e->fighting) {
        e->hold_ms = e->hold_ms * 2 > DAMPER_MAX_HOLD_MS ? DAMPER_MAX_HOLD_MS : e->hold_ms * 2;
        e->hold_until = now + e->hold_ms;
        *hold_ms = e->hold_ms;
        return 0;
    }
    if (++e->repairs < DAMPER_FIGHT_REPAIRS)
        return 0;
    e->fighting = 1;
    d->n_fighting++;
    e->hold_ms = DAMPER_FIRST_HOLD_MS;
    e->hold_until = now + e->hold_ms;
    *hold_ms = e->hold_ms;
    return 1;
}

int64_t damper_hold_until(damper *d, uint64_t id, int64_t now)
{
    entry *e = d ? find(d, id) : NULL;

    if (e == NULL || !e->fighting)
        return 0;
    if (over(e, now)) {
        remove_entry(d, id);
        return 0;
    }
    return e->hold_until > now ? e->hold_until : 0;
}

size_t damper_sweep(damper *d, int64_t now)
{
    size_t ended = 0;

    if (d == NULL)
        return 0;
    for (size_t b = 0; b < d->n_buckets; b++)
        for (entry **pp = &d->buckets[b]; *pp;) {
            entry *e = *pp;
            if (!over(e, now)) {
                pp = &e->next;
                continue;
            }
            *pp = e->next;
            d->n--;
            d->n_fighting -= e->fighting;
            ended += e->fighting;
            free(e);
        }
    return ended;
}

size_t damper_fighting(const damper *d)
{
    return d ? d->n_fighting : 0;
}
