/* applied: what this process last applied completely, per workspace: the
 * version, a digest of the desired state and the result it answered.
 *
 * A shortcut, never the truth (that is on the objects: the Flyte project's
 * label, the namespaces' annotation).  Versions recorded there never go
 * down, so an event older than a cached version is stale without a
 * request; a duplicate of the cached version and digest still has to be
 * confirmed on the server by the caller.  An empty cache (after a restart)
 * is always correct, only slower.
 *
 * The composition root creates one cache and hands it to every
 * provisioner: one workspace's events may run on any worker thread.  Every
 * function is thread-safe; a NULL cache is an empty one that keeps
 * nothing. */
#ifndef WF_APPLIED_H
#define WF_APPLIED_H

#include <stddef.h>

#include "desired.h"
#include "event.h"

/* Enough for every workspace of a large platform; past it the cache starts
 * over empty (entries are only shortcuts). */
#define APPLIED_MAX_ENTRIES 200000
#define APPLIED_REASON_MAX  32

typedef struct applied applied;

/* One workspace's completed apply (a plain value: get copies it out). */
typedef struct applied_entry {
    long long version;
    char digest[DESIRED_DIGEST_LEN + 1];
    prov_status status;
    char reason[APPLIED_REASON_MAX]; /* "" for none */
    int project;                     /* the result named the Flyte project */
} applied_entry;

/* How an event compares with the cached apply of its workspace. */
typedef enum applied_verdict {
    APPLIED_UNKNOWN,   /* nothing cached, or an older or different apply: full path */
    APPLIED_STALE,     /* a newer version was applied: SKIPPED/stale, no request */
    APPLIED_DUPLICATE, /* this very version and digest: confirm, then answer *prior */
} applied_verdict;

/* A cache of at most max_entries workspaces (0: APPLIED_MAX_ENTRIES).
 * Returns NULL when out of memory. */
applied *applied_new(size_t max_entries);
/* Frees c and its entries; NULL is a no-op.  No provisioner may use c any
 * more. */
void applied_free(applied *c);

/* Copies workspace id's entry into *out; returns 1 when there is one, 0
 * otherwise (and always for a NULL cache). */
int applied_get(applied *c, const char *id, applied_entry *out);

/* Compares an event of workspace id (version, desired-state digest) with
 * the cached entry; *prior receives a copy of it for APPLIED_DUPLICATE. */
applied_verdict applied_check(applied *c, const char *id, long long version, const char *digest,
                              applied_entry *prior);

/* Records a completed apply for workspace id, replacing any earlier one
 * (e is copied).  Out of memory only costs the shortcut. */
void applied_put(applied *c, const char *id, const applied_entry *e);

/* Drops workspace id's entry: callers do so before any write, so that a
 * failed or interrupted apply never leaves one behind. */
void applied_forget(applied *c, const char *id);

/* How many workspaces are cached. */
size_t applied_count(applied *c);

#endif
