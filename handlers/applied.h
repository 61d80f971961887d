/* applied: the store of state records (wsstate.h), one per workspace this
 * process owns, each tagged with the partition of the state topic it came
 * from or goes to.
 *
 * The records are restored from the state topic when a partition is
 * assigned and dropped when it is revoked; the handler reads a workspace's
 * record before an event and puts the new one after it.  The truth about
 * versions stays on the objects too (the Flyte project's label, the
 * namespaces' annotation): the guard against other writers.
 *
 * The composition root creates one store and hands it to every
 * provisioner: one workspace's events may run on any worker thread.  Every
 * function is thread-safe; a NULL store is an empty one that keeps
 * nothing. */
#ifndef WF_APPLIED_H
#define WF_APPLIED_H

#include <stddef.h>
#include <stdint.h>

#include "wsstate.h"

typedef struct applied applied;

/* Returns NULL when out of memory. */
applied *applied_new(void);
/* Frees c and its records; NULL is a no-op.  No provisioner may use c any
 * more. */
void applied_free(applied *c);

/* Copies workspace id's record into *out (initialised by this call);
 * returns 1 when there is one, 0 otherwise (also when out of memory: the
 * workspace then takes the full path). */
int applied_get(applied *c, const char *id, wsstate *out);

/* applied_get, and *partition: the one the record is stored under. */
int applied_get_at(applied *c, const char *id, wsstate *out, int32_t *partition);

/* Stores s (its workspace_id names it) for partition, replacing any
 * earlier record; takes s's contents on every path (s is left empty).
 * Returns 0, or -1 when out of memory (the workspace's record is then
 * dropped: the full path is always correct). */
int applied_put_take(applied *c, int32_t partition, wsstate *s);

/* Stores s as read from the state topic's partition (a restore): it
 * replaces a record of the same partition (the newer offset), or of
 * another partition with a lower version (the workspace's key moved to
 * partition, whose record is the newer); a record of another partition
 * with a higher or equal version is kept and s dropped.  Takes s's
 * contents on every path.  Returns 0 when stored, 1 when dropped, or -1
 * when out of memory (the workspace's record is then dropped). */
int applied_restore_take(applied *c, int32_t partition, wsstate *s);

/* Marks workspace id's record incomplete (an apply failed part way: what
 * the objects hold is unknown) and copies it into *out; returns 1 when
 * there was one. */
int applied_mark_incomplete(applied *c, const char *id, wsstate *out);

/* applied_mark_incomplete before a move's writes: the record also names
 * may_hold (the cluster about to be written to, not the record's) as
 * moving_from, the cluster that may hold the workspace's namespaces.  A
 * move that fails part way and is then set back finds there what it must
 * delete.  may_hold NULL: as applied_mark_incomplete.  Returns 1 when
 * there was a record, 0 when none, -1 when out of memory (the record is
 * marked incomplete, *out empty). */
int applied_mark_moving(applied *c, const char *id, const char *may_hold, wsstate *out);

/* Drops workspace id's record (a compaction tombstone, an unreadable
 * record). */
void applied_forget(applied *c, const char *id);

/* Drops workspace id's record only when it is stored under partition (a
 * tombstone or unreadable record there says nothing of another
 * partition's); returns 1 when dropped. */
int applied_forget_at(applied *c, const char *id, int32_t partition);

/* Drops workspace id's record only when it is still the one stored under
 * partition at version (a repair found it superseded; an event may have
 * replaced it since); returns 1 when dropped. */
int applied_retire(applied *c, const char *id, int32_t partition, long long version);

/* Drops every record of partition (a revoke); returns how many. */
size_t applied_drop_partition(applied *c, int32_t partition);

/* The ids of the workspaces with a record (a malloc'd array of *n malloc'd
 * strings), for a pass over every owned workspace: read each with
 * applied_get.  Release with applied_list_free.  Returns 0, or -1 when out
 * of memory. */
int applied_list(applied *c, char ***ids, size_t *n);
void applied_list_free(char **ids, size_t n);

/* How many workspaces have a record, and their in-memory size in bytes
 * (an estimate: what the records allocate). */
size_t applied_count(applied *c);
size_t applied_bytes(applied *c);

/* What the watch needs of workspace id's record to judge one object,
 * read under the lock without copying the record (whose event and object
 * list grow with the workspace). */
typedef struct applied_peek {
    long long version; /* the workspace_version applied */
    uint64_t digest;   /* of everything the event asked for */
    int flyte;         /* Flyte present */
    int complete;      /* the hashes describe the objects */
    int listed;        /* the record lists obj_id ... */
    uint64_t hash;     /* ... with this content hash */
} applied_peek;

/* Fills *out for object obj_id of workspace id and returns 1 when the
 * workspace has a record, else returns 0. */
int applied_peek_object(applied *c, const char *id, uint64_t obj_id, applied_peek *out);

#endif
