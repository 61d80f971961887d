/* plan: the rule of wsflyte in one place, without I/O.  From what a
 * workspace must hold (desired.h), what wsflyte recorded of it (wsstate.h)
 * and what a path read of FlyteAdmin and Kubernetes (plan_view), it decides
 * a verdict (proceed, stale, duplicate, fail, wait, superseded) and the
 * ordered steps (create, update with the fields that change, delete, keep).
 *
 * Every path is read -> plan -> act:
 *   an event (provision.c): the record alone decides stale and duplicate;
 *     else the project and the namespaces are read, the plan made, the
 *     record marked, the steps applied, the record written;
 *   a repair (provision.c): the objects the job names are read, the plan
 *     made from the record's own event, the steps applied;
 *   wsflyte-render --diff (liveplan.c): everything is read, the plan made
 *     and printed;
 *   the watch (drift.c): plan_compare_object on the watch's copy.
 *
 * No clock, no I/O, no client header: a plan is a function of its inputs,
 * which is what tests/unit/test_plan.c checks case by case.
 *
 * Steps carry a level: every step of a level may run at once, and runs
 * only after every step of the levels below ended (PLAN_LEVEL_*).  Within
 * the list, steps are in the order the service applied them one by one,
 * which is the order the diff prints. */
#ifndef WF_PLAN_H
#define WF_PLAN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "desired.h"
#include "event.h"
#include "wf_err.h"
#include "wsstate.h"

/* ---- identities: what a state record keys its content hashes by ---- */

/* A Kubernetes object's (namespace NULL or "" for a cluster-scoped one). */
uint64_t plan_object_id(const char *api_version, const char *kind, const char *ns,
                        const char *name);
/* The same of a manifest. */
uint64_t plan_manifest_id(const json_t *manifest);
/* The Flyte project's and a domain's attributes'. */
uint64_t plan_project_id(void);
uint64_t plan_attributes_id(const char *domain);
/* A domain's EXECUTION_CLUSTER_LABEL attributes' (kubernetes.clusters). */
uint64_t plan_cluster_attributes_id(const char *domain);
/* The Flyte identities a record with Flyte present may list (the project,
 * each domain's attributes under cfg's domains, and with
 * kubernetes.clusters each domain's EXECUTION_CLUSTER_LABEL), at most cap
 * into out;
 * returns how many there are.  Every other identity is a Kubernetes
 * object. */
size_t plan_flyte_ids(const wf_config *cfg, uint64_t *out, size_t cap);

/* Fills cur (initialised here) with what d asks for: per object its
 * identity and content hash, sorted, and the digest of them all.  Flyte
 * absent keeps no objects: the digest then covers the archive body and the
 * names to clean up.  Returns 0, or -1 with err set (out of memory). */
int plan_hashes(const desired *d, wsstate *cur, wf_err *err);

/* The identities plan_hashes computed, by manifest: handed to plan_make
 * (plan_input.manifest_ids) so that each identity is hashed once per event. */
typedef struct plan_ids {
    const json_t **manifests; /* sorted by address */
    uint64_t *ids;
    size_t n;
} plan_ids;
/* plan_hashes that also keeps the identities in *ids (initialised here;
 * plan_ids_fini it; borrowed pointers into d). */
int plan_hashes_keep(const desired *d, wsstate *cur, plan_ids *ids, wf_err *err);
void plan_ids_fini(plan_ids *ids);

/* The cluster rec places its workspace on: the index of rec->cluster in
 * kubernetes.clusters, or -1 (none recorded, or no longer configured). */
int plan_record_cluster(const wf_config *cfg, const wsstate *rec);
/* Re-renders the desired state of the event rec keeps, on its recorded
 * cluster (desired_fini d in every case).  Returns 0, or -1 with err set. */
int plan_render_record(const wf_config *cfg, const wsstate *rec, desired *d, wf_err *err);

/* ---- comparisons, as the write would see them ---- */

/* The fields of live that an apply of want would change (livediff.h):
 * appended to changes (may be NULL) as "path: old -> new" strings.
 * Returns how many differ, or -1 when out of memory. */
int plan_compare_object(const json_t *want, const json_t *live, json_t *changes);
/* The same for a Flyte project and the body of its UpdateProject (the
 * desired project, or the archive body): name, description, labels and
 * state (any state but archived reads as active); a field the body leaves
 * out is kept by FlyteAdmin and not compared. */
int plan_compare_project(const json_t *want, const json_t *live, json_t *changes);
/* The same for a domain's attributes and the body of their PUT, which
 * replaces what FlyteAdmin stores. */
int plan_compare_attributes(const json_t *want, const json_t *live, json_t *changes);

/* Whether a namespace read or answered by an apply is on its way out
 * (deletionTimestamp, or phase Terminating): nothing goes into it. */
int plan_terminating(const json_t *ns);

/* ---- the plan ---- */

typedef enum plan_verdict {
    PLAN_PROCEED,    /* apply the steps (there may be none) */
    PLAN_STALE,      /* SKIPPED "stale": nothing is written */
    PLAN_DUPLICATE,  /* answered from the record: nothing is written */
    PLAN_FAIL,       /* err says why (class, code); nothing is written */
    PLAN_SUPERSEDED, /* repair: the objects hold a newer version than the record */
} plan_verdict;

typedef enum plan_op { PLAN_CREATE, PLAN_UPDATE, PLAN_DELETE, PLAN_KEEP } plan_op;

typedef enum plan_target {
    PLAN_PROJECT,    /* the Flyte project: CREATE registers, UPDATE puts want */
    PLAN_ATTRIBUTES, /* a domain's attributes (WORKFLOW_EXECUTION_CONFIG or
                        EXECUTION_CLUSTER_LABEL, as want says): PUT want */
    PLAN_OBJECT,     /* a Kubernetes object: server-side apply of want, or delete */
} plan_target;

enum {
    PLAN_LEVEL_PROJECT = 0, /* the project is registered before anything else exists */
    PLAN_LEVEL_NAMESPACES,  /* the namespaces (and the project's update) */
    PLAN_LEVEL_CONTENT,     /* what goes into them, attributes, cluster objects, deletes */
    PLAN_LEVEL_OLD_CLUSTER, /* a move: the namespaces left on the old cluster, deleted last */
    PLAN_LEVELS
};

typedef struct plan_step {
    plan_target target;
    plan_op op;
    int level;
    /* The body to write (borrowed from the desired state); NULL for a
     * delete and a keep. */
    const json_t *want;
    /* Which object (borrowed): api_version and ns NULL for Flyte; name is
     * the project id for the project, the domain for attributes. */
    const char *api_version, *kind, *ns, *name;
    const char *uid; /* a delete's precondition (borrowed from the view), or NULL */
    uint64_t id;     /* the record's identity of the object */
    int domain;      /* index into d->domains, -1 for none */
    /* The Kubernetes API a PLAN_OBJECT step goes to: an index into
     * kubernetes.clusters, or -1 for kubernetes.api_url (the control plane,
     * or the one cluster without kubernetes.clusters). */
    int cluster;
    json_t *changes;    /* owned: what an update changes, when the live object was read */
    const char *note;   /* why, for people (static text), or NULL */
    const char *writer; /* repair: the other field manager that changed it last (borrowed) */
} plan_step;

/* The answer the event gets when its steps succeed (SUCCEEDED or SKIPPED
 * with a reason, whether it names the project). */
typedef struct plan_answer {
    prov_status status;
    const char *reason; /* static text or NULL */
    int present;        /* Flyte present: the project, console and namespaces */
    int project;        /* the answer names the project (Flyte absent) */
} plan_answer;

typedef struct plan {
    plan_verdict verdict;
    /* FAIL: why.  PROCEED: an error to report once the steps are applied
     * (err.cls != WF_OK): a rendered namespace someone else holds is left
     * alone while the rest of the workspace goes; a namespace still
     * terminating makes the event wait (transient) after re-applying it. */
    wf_err err;
    plan_answer answer;
    long long newer;  /* STALE, SUPERSEDED: the version that decided it, -1 */
    char where[128];  /* and which object holds it */
    plan_step *steps; /* owned */
    size_t n_steps;
    size_t cap;
} plan;

/* Reads the paths made.  A field left 0/NULL was not read; a read object
 * that does not exist is NULL with its *_read flag set. */
typedef struct plan_view {
    int project_read;
    const json_t *project;
    /* Per domain of d: the Namespace of its rendered name. */
    int namespaces_read;
    const json_t *const *namespaces;
    /* Per domain: GetProjectDomainAttributes' answer (NULL: none). */
    int attributes_read;
    const json_t *const *attributes;
    /* Per domain: the member RoleBindings listed by label in its namespace
     * (an array), NULL where not listed. */
    const json_t *const *bindings;
    /* Any other Kubernetes object by identity: 1 with *live (NULL: absent)
     * when read, 0 when not.  NULL: none was read. */
    int (*object)(void *ud, uint64_t id, const json_t **live);
    void *object_ud;
    /* Flyte absent: per entry of d->cleanup, the object under that name. */
    const json_t *const *cleanup;
    /* Per domain: EXECUTION_CLUSTER_LABEL's answer, read with attributes
     * when d has cluster attributes (NULL: none). */
    const json_t *const *cluster_attributes;
    /* A move (plan_input.from_cluster): per domain, the Namespace of its
     * rendered name on the old cluster. */
    int old_namespaces_read;
    const json_t *const *old_namespaces;
    /* Flyte absent, with a cluster that may still hold the workspace's
     * namespaces (plan_input.from_cluster, the record's moving_from): per
     * entry of d->cleanup, the Namespace of that name there (NULL for the
     * other kinds). */
    int old_cleanup_read;
    const json_t *const *old_cleanup;
} plan_view;

typedef enum plan_mode {
    PLAN_FOR_EVENT,  /* what the event writes */
    PLAN_FOR_REPAIR, /* what a repair restores of the record */
} plan_mode;

typedef struct plan_input {
    plan_mode mode;
    const wf_config *cfg;
    const ws_event *ev; /* the event (repair: the record's own) */
    const desired *d;   /* its desired state */
    const wsstate *cur; /* plan_hashes(d) */
    /* The workspace's state record, or NULL.  An event writes only what
     * changed since a complete one; a repair restores what it lists. */
    const wsstate *record;
    /* Versions up to this recorded on the objects are a failed newer
     * event's own writes, not another writer's (-1: none). */
    long long own_upto;
    /* Repair: the Kubernetes objects the job names (or all_k8s), and
     * whether it asks for the Flyte project and attributes. */
    const uint64_t *ids;
    size_t n_ids;
    int all_k8s;
    int flyte;
    /* plan_hashes_keep's identities of d's manifests, or NULL. */
    const plan_ids *manifest_ids;
    /* An event: the cluster (index into kubernetes.clusters) that may still
     * hold the workspace's namespaces, now wanted on d->cluster; -1: none.
     * Its namespaces (plan_view.old_namespaces; Flyte not wanted:
     * plan_view.old_cleanup) are deleted at PLAN_LEVEL_OLD_CLUSTER, once
     * everything else is in place.  A move to
     * another cluster than the record's is planned without the record
     * (record NULL): nothing on the new cluster is vouched for. */
    int from_cluster;
} plan_input;

/* Whether the record alone makes an event at version stale: decided
 * before anything is built. */
int plan_stale_by_record(const wsstate *record, long long version);
/* Whether the record already says what cur asks for at version: the
 * event is a duplicate, answered from the record. */
int plan_duplicate(const wsstate *record, long long version, const wsstate *cur);

void plan_init(plan *p);
void plan_fini(plan *p);

/* Which domains' member RoleBindings the plan must see listed (need[i] set
 * to 1), given the namespaces read: pruning by name from the record is not
 * possible there (no record, a namespace re-created under the record, a
 * record whose event cannot be rendered any more).  prior (may be NULL) is
 * the record's event rendered, when the record drops objects cur lacks
 * (plan_needs_prior).  Returns how many. */
size_t plan_lists_needed(const plan_input *in, const plan_view *v, const desired *prior, int *need);
/* Whether the record lists objects cur no longer has: only then is the
 * record's event rendered (prior), to name them. */
int plan_needs_prior(const plan_input *in);

/* Decides.  prior as for plan_lists_needed.  Returns 0 with p filled, or -1
 * with err set (out of memory). */
int plan_make(const plan_input *in, const plan_view *v, const desired *prior, plan *p, wf_err *err);

/* Counts p's steps by operation (counts[PLAN_KEEP + 1]). */
void plan_count(const plan *p, size_t *counts);

extern const char *const plan_op_names[]; /* "create", "update", "delete", "unchanged" */

#endif
