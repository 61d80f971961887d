/* reads: what a path reads of FlyteAdmin and Kubernetes before it plans
 * (plan.h), kept in the shape plan_view borrows.  The event path, the
 * repairer, the live diff and wsflyte-status --live read through it, by
 * the names wsflyte renders (desired.h); it decides nothing.
 *
 * A reads is used by one thread at a time; everything it holds is its own
 * (new references) and lives until reads_fini. */
#ifndef WF_READS_H
#define WF_READS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "desired.h"
#include "flyte.h"
#include "httpc.h"
#include "k8s.h"
#include "plan.h"
#include "wf_err.h"

typedef struct reads {
    json_t *project;
    json_t **namespaces;         /* per domain of d */
    json_t **attributes;         /* per domain */
    json_t **bindings;           /* per domain */
    json_t **cleanup;            /* per entry of d->cleanup */
    json_t **cluster_attributes; /* per domain (d has cluster attributes) */
    json_t **old_namespaces;     /* per domain, on the cluster a move leaves */
    json_t **old_cleanup;        /* per entry of d->cleanup, there (Namespaces only) */
    size_t n_domains, n_cleanup;
    uint64_t *ids; /* other objects, by identity */
    json_t **objs;
    size_t n_objs, cap_objs;
    plan_view v; /* what plan_make reads: points into the above */
} reads;

/* Sizes rd for d (which must outlive it).  Returns 0, or -1 with err set. */
int reads_init(reads *rd, const desired *d, wf_err *err);
/* Releases everything; a zeroed rd is a no-op. */
void reads_fini(reads *rd);

/* Keeps obj (taken; NULL: it does not exist) as what was read of id. */
int reads_put(reads *rd, uint64_t id, json_t *obj, wf_err *err);

/* One read each, into its own slot: reads of different slots may run at
 * once on different clients (the caller then sets the *_read flags of
 * plan_view).  The project sets project_read itself. */
int reads_namespace(reads *rd, k8s *kube, const desired *d, size_t i, wf_err *err);
int reads_cleanup_entry(reads *rd, k8s *kube, const desired *d, size_t i, wf_err *err);
int reads_binding_list(reads *rd, k8s *kube, const desired *d, size_t i, wf_err *err);
/* A move: domain i's Namespace on the cluster it leaves (kube is that
 * cluster's client); the caller sets old_namespaces_read. */
int reads_old_namespace(reads *rd, k8s *kube, const desired *d, size_t i, wf_err *err);
/* Flyte not wanted: the Namespace of cleanup entry i on the cluster a move
 * left (kube is that cluster's client); the caller sets old_cleanup_read. */
int reads_old_cleanup_entry(reads *rd, k8s *kube, const desired *d, size_t i, wf_err *err);

/* The Flyte project. */
int reads_project(reads *rd, httpc *flyte, const desired *d, wf_err *err);
/* Each domain's Namespace. */
int reads_namespaces(reads *rd, k8s *kube, const desired *d, wf_err *err);
/* Each domain's WORKFLOW_EXECUTION_CONFIG (and EXECUTION_CLUSTER_LABEL
 * when d has cluster attributes), when the project read is wsflyte's and
 * active (FlyteAdmin answers only then); marks the attributes read either
 * way.  Call after reads_project. */
int reads_attributes(reads *rd, httpc *flyte, const desired *d, wf_err *err);
/* Every object of d->cleanup by its name (Flyte not wanted). */
int reads_cleanup(reads *rd, k8s *kube, const desired *d, wf_err *err);
/* The member RoleBindings of each domain with need[i] set, listed by label. */
int reads_bindings(reads *rd, k8s *kube, const desired *d, const int *need, wf_err *err);
/* The cluster workspace_id's Flyte project names (FLYTE_LABEL_CLUSTER)
 * into buf, when the project is wsflyte's; "" when there is none.  A read
 * of its own, apart from any reads: placement is decided before them.
 * With project non-NULL, *project is the project read (a new reference,
 * NULL when there is none), for reads_adopt_project. */
int reads_project_cluster(httpc *flyte, const char *workspace_id, char *buf, size_t len,
                          json_t **project, wf_err *err);
/* Keeps project (taken; NULL: there is none) as the project read, in place
 * of reads_project: the read placement made, before anything was written. */
void reads_adopt_project(reads *rd, json_t *project);
/* One manifest's live object, kept by its identity. */
int reads_object(reads *rd, k8s *kube, const json_t *manifest, wf_err *err);

#endif
