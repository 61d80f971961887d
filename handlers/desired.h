/* desired: what Flyte and Kubernetes must hold for one workspace event
 * (CONTRACT.md §4), computed as data without touching any server.  The
 * handler applies it; wsflyte-render prints it.  Every event field that
 * reaches a name, label, URL or manifest is checked here first. */
#ifndef WF_DESIRED_H
#define WF_DESIRED_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "event.h"
#include "wf_err.h"

/* Labels and annotations wsflyte writes; selectors use the same keys. */
#define LABEL_MANAGED_BY    "app.kubernetes.io/managed-by"
#define LABEL_WORKSPACE     "wsflyte.io/workspace"
#define LABEL_DOMAIN        "wsflyte.io/domain"
#define LABEL_MEMBER        "wsflyte.io/member"
#define LABEL_ROLE          "wsflyte.io/role"
#define ANNOTATION_VERSION  "wsflyte.io/workspace-version"
#define FLYTE_LABEL_MANAGED "managed-by"
#define FLYTE_LABEL_VERSION "wsflyte-workspace-version"
#define FLYTE_LABEL_CLUSTER "wsflyte-cluster" /* with kubernetes.clusters: the cluster */
#define MANAGER_NAME        "wsflyte"
#define RUNNER_SA           "workspace-runner"
#define WORKSPACE_ID_MAX    51

typedef struct desired_domain {
    char *domain;
    char *namespace_name;
    json_t *attributes; /* ProjectDomainAttributes (WORKFLOW_EXECUTION_CONFIG) */
    /* With kubernetes.clusters: ProjectDomainAttributes
     * (EXECUTION_CLUSTER_LABEL) naming the workspace's cluster; else NULL. */
    json_t *cluster_attributes;
    json_t *objects;  /* manifests in apply order; the Namespace first */
    json_t *bindings; /* names of the RoleBindings that must exist (array) */
} desired_domain;

typedef struct desired {
    int flyte_wanted; /* 0: the workspace's Flyte footprint must be absent */
    /* The execution cluster (index into kubernetes.clusters) that holds the
     * workspace's namespaces, or -1: the cluster of kubernetes.api_url
     * (no clusters configured).  cluster_objects and the control-plane
     * entries of cleanup go to kubernetes.api_url whatever it is. */
    int cluster;
    char *project_id;
    /* Flyte wanted: */
    json_t *project; /* Project body, state ACTIVE, labels with version */
    desired_domain *domains;
    size_t n_domains;
    /* Outside the workspace namespaces (authz, ACK): always on the
     * control-plane cluster of kubernetes.api_url. */
    json_t *cluster_objects;
    char *console_url;
    /* Flyte not wanted: */
    json_t *archive; /* Project body for UpdateProject: ARCHIVED, labels with version */
    json_t *cleanup; /* [{apiVersion, kind, name, namespace (absent: cluster-scoped)}]:
                        every object wsflyte would have created for the workspace, by the
                        names it renders, the Namespaces first; nothing is found by label */
} desired;

/* Checks the event and computes its desired state.  Returns 0, or -1 with
 * err set (WF_VALIDATION with the offending field for bad input).  Only
 * the fields of the wanted or the not-wanted case are set.  Objects share
 * subtrees that are the same in every domain (a Role's rules, the
 * NetworkPolicy's spec, wsflyte's labels, ...): treat everything in d as
 * read-only, and json_deep_copy a part before changing it. */
int desired_build(const wf_config *cfg, const ws_event *ev, desired *d, wf_err *err);
/* desired_build for the workspace placed on cluster (an index into
 * kubernetes.clusters; -1, or any with no clusters configured: the one
 * cluster, exactly as desired_build).  With a cluster the project carries
 * the label FLYTE_LABEL_CLUSTER, each domain EXECUTION_CLUSTER_LABEL
 * attributes, and the ACK Role trusts that cluster's OIDC provider. */
int desired_build_on(const wf_config *cfg, const ws_event *ev, int cluster, desired *d,
                     wf_err *err);
void desired_fini(desired *d);
/* Whether desired_build would refuse ev, decided as it decides (the
 * event's fields, labels, quota and its split, the namespace names, the
 * permission matrix's size, and with kubernetes.clusters a placement label
 * naming no configured cluster: placement.unknown-cluster) building only
 * the permission matrix: what can fail without asking a server.
 * Returns 0, or -1 with err set as desired_build sets it. */
int desired_check(const wf_config *cfg, const ws_event *ev, wf_err *err);

/* A digest of everything d asks for (hex, NUL-terminated): two events with
 * the same digest lead to the same requests.  out holds
 * DESIRED_DIGEST_LEN + 1 bytes. */
#define DESIRED_DIGEST_LEN 32
void desired_digest(const desired *d, char *out);

/* A recorded workspace version (a label or annotation value): the number, or
 * -1 when v is absent or not a non-negative decimal. */
long long desired_parse_version(const char *v);
/* The workspace version recorded on a Flyte project (its
 * FLYTE_LABEL_VERSION label), or -1 when there is none: no project, or one
 * written by an older wsflyte. */
long long desired_recorded_version(const json_t *project);
/* A project wsflyte did not register belongs to someone else: wsflyte
 * neither takes it over nor archives it. */
int desired_project_is_ours(const json_t *project);
/* Whether FlyteAdmin holds the project archived (ARCHIVED or
 * SYSTEM_ARCHIVED, by name or number); anything else reads as active. */
int desired_project_archived(const json_t *project);
/* An object is the workspace's only when it carries wsflyte's labels for
 * that very workspace: a name alone proves nothing (another team, another
 * workspace whose custom domain renders the same name). */
int desired_object_is_ours(const json_t *obj, const char *workspace_id);

/* The label selector matching the workspace's member RoleBindings. */
void desired_member_selector(const char *workspace_id, char *buf, size_t len);
/* True when name has the form of a member RoleBinding wsflyte renders
 * ("<workspace role>-<user key>"): only such names are ever pruned. */
int desired_is_binding_name(const char *name);

#endif
