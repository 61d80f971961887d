/* applied: the store of state records, a hash table under one mutex
 * (lookups are a few hundred nanoseconds next to HTTP round trips).  The
 * table grows with the workspaces owned, so that 10,000 or 200,000 keep
 * short chains. */
#include "applied.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MIN_BUCKETS 4096

typedef struct node {
    wsstate s; /* s.workspace_id is the key */
    int32_t partition;
    struct node *next;
} node;

struct applied {
    pthread_mutex_t lock;
    size_t n, n_buckets;
    node **buckets;
};

static size_t hash(const char *s, size_t n_buckets)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h % n_buckets;
}

static void node_free(node *x)
{
    if (x) {
        wsstate_fini(&x->s);
        free(x);
    }
}

/* Unlinks and returns the node for id, or NULL; caller holds the lock. */
static node *unlink_node(applied *c, const char *id)
{
    for (node **pp = &c->buckets[hash(id, c->n_buckets)]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->s.workspace_id, id) == 0) {
            node *x = *pp;
            *pp = x->next;
            c->n--;
            return x;
        }
    }
    return NULL;
}

static node *find(applied *c, const char *id)
{
    for (node *x = c->buckets[hash(id, c->n_buckets)]; x; x = x->next)
        if (strcmp(x->s.workspace_id, id) == 0)
            return x;
    return NULL;
}

/* Doubles the table when chains grow past 2 on average; out of memory
 * only keeps the chains longer.  Caller holds the lock. */
static void grow(applied *c)
{
    size_t nb = c->n_buckets * 2;
    node **b;

    if (c->n < c->n_buckets * 2 || (b = calloc(nb, sizeof(*b))) == NULL)
        return;
    for (size_t i = 0; i < c->n_buckets; i++) {
        while (c->buckets[i]) {
            node *x = c->buckets[i];
            size_t h = hash(x->s.workspace_id, nb);
            c->buckets[i] = x->next;
            x->next = b[h];
            b[h] = x;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->n_buckets = nb;
}

applied *applied_new(void)
{
    applied *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->n_buckets = MIN_BUCKETS;
    if ((c->buckets = calloc(c->n_buckets, sizeof(*c->buckets))) == NULL ||
        pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->buckets);
        free(c);
        return NULL;
    }
    return c;
}

void applied_free(applied *c)
{
    if (c == NULL)
        return;
    for (size_t b = 0; b < c->n_buckets; b++) {
        while (c->buckets[b]) {
            node *x = c->buckets[b];
            c->buckets[b] = x->next;
            node_free(x);
        }
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int applied_get(applied *c, const char *id, wsstate *out)
{
    int found = 0;
    node *x;

    wsstate_init(out);
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    if ((x = find(c, id)) != NULL)
        found = wsstate_copy(out, &x->s) == 0;
    pthread_mutex_unlock(&c->lock);
    return found;
}

int applied_get_at(applied *c, const char *id, wsstate *out, int32_t *partition)
{
    int found = 0;
    node *x;

    wsstate_init(out);
    *partition = -1;
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    if ((x = find(c, id)) != NULL && (found = wsstate_copy(out, &x->s) == 0))
        *partition = x->partition;
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* Stores s for partition unless keep(existing) says the record held is to
 * stay; takes s's contents on every path.  The decision and the store are
 * one critical section: a worker storing a newer record of the same key
 * meanwhile is never overwritten by a decision taken before it.  Returns 0
 * when stored, 1 when the held record stayed, -1 when out of memory. */
static int put_unless(applied *c, int32_t partition, wsstate *s,
                      int (*keep)(const node *held, int32_t partition, const wsstate *s))
{
    node *x, *old = NULL;
    int kept = 0;

    if (c == NULL || s->workspace_id == NULL || (x = calloc(1, sizeof(*x))) == NULL) {
        if (c && s->workspace_id)
            applied_forget(c, s->workspace_id);
        wsstate_fini(s);
        return -1;
    }
    x->s = *s;
    wsstate_init(s);
    x->partition = partition;
    pthread_mutex_lock(&c->lock);
    if (keep && (old = find(c, x->s.workspace_id)) != NULL && keep(old, partition, &x->s)) {
        kept = 1;
    } else {
        old = unlink_node(c, x->s.workspace_id);
        grow(c);
        size_t h = hash(x->s.workspace_id, c->n_buckets);
        x->next = c->buckets[h];
        c->buckets[h] = x;
        c->n++;
    }
    pthread_mutex_unlock(&c->lock);
    node_free(kept ? x : old);
    return kept;
}

int applied_put_take(applied *c, int32_t partition, wsstate *s)
{
    return put_unless(c, partition, s, NULL) < 0 ? -1 : 0;
}

/* A record of another partition at a version at least as high stays. */
static int held_is_newer(const node *held, int32_t partition, const wsstate *s)
{
    return held->partition != partition && held->s.version >= s->version;
}

int applied_restore_take(applied *c, int32_t partition, wsstate *s)
{
    return put_unless(c, partition, s, held_is_newer);
}

int applied_mark_incomplete(applied *c, const char *id, wsstate *out)
{
    return applied_mark_moving(c, id, NULL, out) == 1;
}

int applied_mark_moving(applied *c, const char *id, const char *may_hold, wsstate *out)
{
    int found = 0;
    node *x;

    wsstate_init(out);
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    if ((x = find(c, id)) != NULL) {
        char *held = may_hold ? strdup(may_hold) : NULL;
        x->s.complete = 0;
        found = 1;
        if (may_hold && held == NULL) {
            found = -1;
        } else if (held) {
            free(x->s.moving_from);
            x->s.moving_from = held;
        }
        if (found == 1 && wsstate_copy(out, &x->s) != 0)
            found = -1;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

void applied_forget(applied *c, const char *id)
{
    node *x;

    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    x = unlink_node(c, id);
    pthread_mutex_unlock(&c->lock);
    node_free(x);
}

/* Drops id's record when it is under partition (and at *version, unless
 * version is NULL); returns 1 when dropped. */
static int forget_if(applied *c, const char *id, int32_t partition, const long long *version)
{
    node *x = NULL, *at;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    if ((at = find(c, id)) != NULL && at->partition == partition &&
        (version == NULL || at->s.version == *version))
        x = unlink_node(c, id);
    pthread_mutex_unlock(&c->lock);
    node_free(x);
    return x != NULL;
}

int applied_forget_at(applied *c, const char *id, int32_t partition)
{
    return forget_if(c, id, partition, NULL);
}

int applied_retire(applied *c, const char *id, int32_t partition, long long version)
{
    return forget_if(c, id, partition, &version);
}

size_t applied_drop_partition(applied *c, int32_t partition)
{
    size_t dropped = 0;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    for (size_t b = 0; b < c->n_buckets; b++) {
        for (node **pp = &c->buckets[b]; *pp;) {
            node *x = *pp;
            if (x->partition != partition) {
                pp = &x->next;
                continue;
            }
            *pp = x->next;
            node_free(x);
            c->n--;
            dropped++;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return dropped;
}

void applied_list_free(char **ids, size_t n)
{
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
}

int applied_list(applied *c, char ***ids, size_t *n)
{
    size_t k = 0;
    char **out;

    *ids = NULL;
    *n = 0;
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    out = calloc(c->n ? c->n : 1, sizeof(*out));
    for (size_t b = 0; out && b < c->n_buckets; b++) {
        for (node *x = c->buckets[b]; x; x = x->next) {
            if ((out[k] = strdup(x->s.workspace_id)) == NULL) {
                applied_list_free(out, k);
                out = NULL;
                break;
            }
            k++;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (out == NULL)
        return -1;
    *ids = out;
    *n = k;
    return 0;
}

size_t applied_count(applied *c)
{
    size_t n;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

static size_t len0(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

size_t applied_bytes(applied *c)
{
    size_t n = 0;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    n = c->n_buckets * sizeof(node *);
    for (size_t b = 0; b < c->n_buckets; b++)
        for (node *x = c->buckets[b]; x; x = x->next)
            n += sizeof(*x) + (x->s.n_objs + x->s.n_ns_uids) * sizeof(wsstate_obj) +
                 len0(x->s.workspace_id) + len0(x->s.event_id) + len0(x->s.reason) +
                 len0(x->s.event);
    pthread_mutex_unlock(&c->lock);
    return n;
}

int applied_peek_object(applied *c, const char *id, uint64_t obj_id, applied_peek *out)
{
    int found = 0;
    node *x;

    memset(out, 0, sizeof(*out));
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    if ((x = find(c, id)) != NULL) {
        found = 1;
        out->version = x->s.version;
        out->digest = x->s.digest;
        out->flyte = x->s.flyte;
        out->complete = x->s.complete;
        out->listed = wsstate_find(&x->s, obj_id, &out->hash);
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}
