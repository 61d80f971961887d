/* applied: the cache of completed applies, a hash table under one mutex
 * (lookups are a few hundred nanoseconds next to HTTP round trips). */
#include "applied.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096

typedef struct node {
    char *id;
    applied_entry e;
    struct node *next;
} node;

struct applied {
    pthread_mutex_t lock;
    size_t n, max;
    node *buckets[BUCKETS];
};

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h % BUCKETS;
}

static void node_free(node *x)
{
    if (x) {
        free(x->id);
        free(x);
    }
}

/* Caller holds the lock (or is the only user). */
static void clear(applied *c)
{
    for (size_t b = 0; b < BUCKETS; b++) {
        while (c->buckets[b]) {
            node *x = c->buckets[b];
            c->buckets[b] = x->next;
            node_free(x);
        }
    }
    c->n = 0;
}

/* Unlinks and returns the node for id, or NULL; caller holds the lock. */
static node *unlink_node(applied *c, const char *id)
{
    for (node **pp = &c->buckets[hash(id)]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            node *x = *pp;
            *pp = x->next;
            c->n--;
            return x;
        }
    }
    return NULL;
}

applied *applied_new(size_t max_entries)
{
    applied *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return NULL;
    }
    c->max = max_entries ? max_entries : APPLIED_MAX_ENTRIES;
    return c;
}

void applied_free(applied *c)
{
    if (c == NULL)
        return;
    clear(c);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int applied_get(applied *c, const char *id, applied_entry *out)
{
    int found = 0;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    for (node *x = c->buckets[hash(id)]; x; x = x->next) {
        if (strcmp(x->id, id) == 0) {
            *out = x->e;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

applied_verdict applied_check(applied *c, const char *id, long long version, const char *digest,
                              applied_entry *prior)
{
    applied_entry e;

    if (!applied_get(c, id, &e))
        return APPLIED_UNKNOWN;
    if (e.version > version)
        return APPLIED_STALE;
    if (e.version < version || strcmp(e.digest, digest) != 0)
        return APPLIED_UNKNOWN;
    *prior = e;
    return APPLIED_DUPLICATE;
}

void applied_put(applied *c, const char *id, const applied_entry *e)
{
    node *x, *old;

    if (c == NULL || (x = calloc(1, sizeof(*x))) == NULL)
        return;
    if ((x->id = strdup(id)) == NULL) {
        free(x);
        return;
    }
    x->e = *e;
    /* The strings come from the caller: keep them terminated. */
    x->e.digest[sizeof(x->e.digest) - 1] = '\0';
    x->e.reason[sizeof(x->e.reason) - 1] = '\0';
    pthread_mutex_lock(&c->lock);
    old = unlink_node(c, id);
    if (c->n >= c->max)
        clear(c); /* crude but bounded: entries are only shortcuts */
    x->next = c->buckets[hash(id)];
    c->buckets[hash(id)] = x;
    c->n++;
    pthread_mutex_unlock(&c->lock);
    node_free(old);
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
