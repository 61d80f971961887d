/* wsstate: wsflyte's record of what it last applied to one workspace, as
 * kept in memory (applied.h) and on the compacted state topic
 * (CONTRACT.md §1, §3).  The record lets the handler decide stale and
 * duplicate events without a request, write only the objects whose desired
 * content changed, delete by name the ones no longer desired, and re-render
 * the workspace's desired state (from the event kept in it).
 *
 * The in-memory form is compact: a few strings and one sorted array of
 * 64-bit (identity, content) hash pairs per workspace.  The topic form is
 * JSON with a "format" version; see the README ("State record"). */
#ifndef WF_WSSTATE_H
#define WF_WSSTATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "wf_err.h"

/* The record format this wsflyte writes and the newest it reads. */
#define WSSTATE_FORMAT 1

/* One desired object: a hash of its identity (API, kind, namespace, name;
 * or the Flyte project; or a domain's attributes) and of its content. */
typedef struct wsstate_obj {
    uint64_t id;
    uint64_t hash;
} wsstate_obj;

typedef struct wsstate {
    char *workspace_id;
    long long version; /* the workspace_version applied */
    char *event_id;
    prov_status status; /* the answer for a duplicate */
    char *reason;       /* NULL for none */
    int project;        /* the answer named the Flyte project */
    int flyte;          /* 1: Flyte present (objects below exist); 0: absent (a tombstone) */
    int complete;       /* 0: an apply failed part way: the hashes say nothing */
    uint64_t digest;    /* of everything the event asked for */
    wsstate_obj *objs;  /* sorted by id; only with flyte */
    size_t n_objs;
    /* Per namespace the apply found or created: the hash of its name (id)
     * and of its uid (hash), a few; empty in records written before
     * uids were kept.  Tells the namespace wsflyte wrote from one of the same
     * name someone re-created since. */
    wsstate_obj *ns_uids;
    size_t n_ns_uids;
    char *event; /* compact JSON of the event applied (ws_event_to_json) */
    /* With kubernetes.clusters: the execution cluster holding the
     * workspace's namespaces, and the one that may still hold its old
     * namespaces after a move whose deletes did not finish.  NULL: none
     * (single-cluster mode; no move pending). */
    char *cluster;
    char *moving_from;
} wsstate;

void wsstate_init(wsstate *s);
/* Frees what s holds and leaves it empty; NULL is a no-op. */
void wsstate_fini(wsstate *s);
/* Deep copy into dst (initialised by this call).  Returns 0, or -1 when out
 * of memory (dst is then empty). */
int wsstate_copy(wsstate *dst, const wsstate *src);

/* Sorts s->objs by id (call after filling them). */
void wsstate_sort(wsstate *s);
/* Returns 1 and *hash when s records an object of this identity. */
int wsstate_find(const wsstate *s, uint64_t id, uint64_t *hash);

/* Records uid as the uid of namespace ns (replacing an earlier one).
 * Returns 0, or -1 when out of memory (s unchanged). */
int wsstate_set_namespace_uid(wsstate *s, const char *ns, const char *uid);
/* Returns 1 when s records a uid for namespace ns, with *same telling
 * whether it is uid; 0 when it records none. */
int wsstate_namespace_uid_is(const wsstate *s, const char *ns, const char *uid, int *same);

/* Hashes: of bytes, and of a JSON value's canonical form (compact, sorted
 * keys).  wsstate_hash_json returns 0 (never a valid hash from the first)
 * when the value cannot be serialised, so that it matches nothing. */
uint64_t wsstate_hash(const void *buf, size_t len);
uint64_t wsstate_hash_json(const json_t *v);

/* The encodings of containers that more than one holds (a reference count
 * above 1: what a desired state shares between its objects), kept by
 * address while the values of one desired state are hashed, so that each
 * is walked once.  The values must not change while the memo lives. */
typedef struct wsstate_memo wsstate_memo;
wsstate_memo *wsstate_memo_new(void); /* NULL when out of memory */
void wsstate_memo_free(wsstate_memo *m);
/* wsstate_hash_json, the same hash, with memo (NULL: none). */
uint64_t wsstate_hash_json_with(const json_t *v, wsstate_memo *memo);

/* The event s keeps, decoded into *ev (release with ws_event_fini): what
 * desired_build re-renders the workspace's desired state from.  Returns 0,
 * or -1 with err set (the record keeps no event, or one this wsflyte cannot
 * read). */
int wsstate_event_of(const wsstate *s, ws_event *ev, wf_err *err);

/* The topic form (JSON text, malloc'd, not NUL-terminated in *len).
 * Returns NULL when out of memory. */
char *wsstate_encode(const wsstate *s, size_t *len);
/* The small form of s, for when its topic form is too large to produce:
 * incomplete (the next event takes the full path), no objects, no event
 * id, and an event that names only the workspace and version (enough for
 * stale decisions; nothing is repaired from it).  At most
 * WSSTATE_STUB_MAX bytes.  Returns NULL when out of memory. */
#define WSSTATE_STUB_MAX 1024
char *wsstate_encode_stub(const wsstate *s, size_t *len);
/* Reads a record from the topic into *out (initialised by this call).
 * Returns 0; or -1 with err set (WF_DESERIALIZATION: not JSON, a field
 * missing or mistyped, a format newer than WSSTATE_FORMAT, or an event of
 * another workspace or version than the record's). */
int wsstate_decode(const void *buf, size_t len, wsstate *out, wf_err *err);

#endif
