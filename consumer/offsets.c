/* Per partition, the records in flight and the lowest unfinished offset:
 * what may be committed when records finish out of order. */
#include "offsets.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    int64_t offset;
    int done;
} slot;

/* In-flight offsets of one partition, ascending, as a ring-free array with
 * a moving head: completed offsets are popped from the front. */
typedef struct part {
    char *topic;
    int32_t partition;
    slot *slots;
    size_t head, len, cap;
    size_t pending;      /* begun and not yet done */
    int64_t committable; /* last offset offsets_done() reported, or -1 */
    struct part *next;
} part;

struct offsets {
    part *parts;
};

offsets *offsets_new(void)
{
    return calloc(1, sizeof(offsets));
}

static void part_free(part *p)
{
    free(p->topic);
    free(p->slots);
    free(p);
}

void offsets_free(offsets *o)
{
    if (o == NULL)
        return;
    for (part *p = o->parts, *n; p; p = n) {
        n = p->next;
        part_free(p);
    }
    free(o);
}

static part *find(const offsets *o, const char *topic, int32_t partition)
{
    for (part *p = o->parts; p; p = p->next)
        if (p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    return NULL;
}

int offsets_begin(offsets *o, const char *topic, int32_t partition, int64_t offset)
{
    part *p = find(o, topic, partition);

    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL || (p->topic = strdup(topic)) == NULL) {
            free(p);
            return -1;
        }
        p->partition = partition;
        p->committable = -1;
        p->next = o->parts;
        o->parts = p;
    }
    if (p->head > 0 && p->head == p->len) {
        p->head = p->len = 0;
    }
    if (p->len == p->cap) {
        /* Compact before growing: the popped prefix is dead space. */
        if (p->head > 0) {
            memmove(p->slots, p->slots + p->head, (p->len - p->head) * sizeof(slot));
            p->len -= p->head;
            p->head = 0;
        }
        if (p->len == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 16;
            slot *s = realloc(p->slots, cap * sizeof(slot));
            if (s == NULL)
                return -1;
            p->slots = s;
            p->cap = cap;
        }
    }
    p->slots[p->len].offset = offset;
    p->slots[p->len].done = 0;
    p->len++;
    p->pending++;
    return 0;
}

int64_t offsets_done(offsets *o, const char *topic, int32_t partition, int64_t offset)
{
    part *p = find(o, topic, partition);
    int64_t commit = -1;
    size_t lo, hi;

    if (p == NULL)
        return -1;
    /* Binary search: slots are ascending. */
    lo = p->head;
    hi = p->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->slots[mid].offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == p->len || p->slots[lo].offset != offset || p->slots[lo].done)
        return -1;
    p->slots[lo].done = 1;
    p->pending--;
    while (p->head < p->len && p->slots[p->head].done) {
        commit = p->slots[p->head].offset + 1;
        p->head++;
    }
    if (commit >= 0)
        p->committable = commit;
    return commit;
}

int64_t offsets_committable(const offsets *o, const char *topic, int32_t partition)
{
    const part *p = find(o, topic, partition);

    return p ? p->committable : -1;
}

size_t offsets_inflight(const offsets *o, const char *topic, int32_t partition)
{
    size_t n = 0;

    for (part *p = o->parts; p; p = p->next)
        if (topic == NULL || (p->partition == partition && strcmp(p->topic, topic) == 0))
            n += p->len - p->head;
    return n;
}

void offsets_each_pending(const offsets *o, offsets_pending_fn fn, void *ud)
{
    for (const part *p = o->parts; p; p = p->next)
        fn(ud, p->topic, p->partition, p->pending);
}

void offsets_drop(offsets *o, const char *topic, int32_t partition)
{
    for (part **pp = &o->parts; *pp; pp = &(*pp)->next) {
        if ((*pp)->partition == partition && strcmp((*pp)->topic, topic) == 0) {
            part *dead = *pp;
            *pp = dead->next;
            part_free(dead);
            return;
        }
    }
}
