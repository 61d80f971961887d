/* k8s: the Kubernetes API calls wsflyte makes.  All writes are server-side
 * apply (PATCH application/apply-patch+yaml, fieldManager=wsflyte,
 * force=true): it creates what is missing and converges what exists in one
 * request, and never touches fields other managers own.
 *
 * Connection: kubernetes.api_url "" means in-cluster (KUBERNETES_SERVICE_HOST
 * and _PORT, the service-account token and CA); otherwise a URL, with
 * kubernetes.token_file / ca_file.  The token file is re-read at most every
 * 60 s and after any 401, as the kubelet rotates projected tokens.
 *
 * Objects handed back by k8s_apply (live) and k8s_list (items) come without
 * metadata.managedFields: nothing reads it there, and it is about 40 % of
 * what there is to parse.  k8s_get's obj is whole: drift repair and the live
 * diff read who manages which field. */
#ifndef WF_K8S_H
#define WF_K8S_H

#include <jansson.h>

#include "config.h"
#include "httpc.h"
#include "wf_err.h"

#define K8S_FIELD_MANAGER "wsflyte"

typedef struct k8s k8s;

/* pace (borrowed; NULL: unpaced) is the API server's pacer.  Returns NULL
 * with err set (class WF_CONFIG when the connection settings are
 * unusable). */
k8s *k8s_new(const wf_config *cfg, pacer *pace, httpc_observer observer, void *observer_ud,
             wf_err *err);
/* k8s_new for the execution cluster kubernetes.clusters[cluster] (its
 * api_url, token_file and ca_file); -1: kubernetes.api_url, as k8s_new. */
k8s *k8s_new_cluster(const wf_config *cfg, int cluster, pacer *pace, httpc_observer observer,
                     void *observer_ud, wf_err *err);
void k8s_free(k8s *k);
/* The pacer priority of k's later requests (httpc_set_priority). */
void k8s_set_priority(k8s *k, pacer_priority priority);
/* When k's later requests give up (httpc_set_yield). */
void k8s_set_yield(k8s *k, int (*yield)(void *ud), void *ud);

/* Server-side apply of obj (apiVersion, kind, metadata.name, and
 * metadata.namespace for namespaced kinds).  On success returns 0 and, when
 * live is not NULL, the object as the server now holds it (new reference);
 * *created (when not NULL) tells whether the apply created it (201).
 * A 403 NamespaceTerminating is WF_TRANSIENT (code k8s.namespace-terminating);
 * a schema rejection (500 "field not declared in schema") is WF_PERMANENT. */
int k8s_apply(k8s *k, const json_t *obj, json_t **live, int *created, wf_err *err);
/* k8s_apply that hands back in *state (new reference) only what the answer
 * says of the object's state: {"metadata": {uid, deletionTimestamp},
 * "status": {phase}}, each as far as the server gave it (a namespace's
 * uid, and whether it is terminating: plan_terminating).  Parsing the whole
 * answer cost about 100 k instructions a namespace. */
int k8s_apply_state(k8s *k, const json_t *obj, json_t **state, wf_err *err);

/* GET one object.  Returns 0 with *obj (NULL when it does not exist: the
 * API server answered its NotFound Status naming this object).  Any other
 * 404 is WF_TRANSIENT, code k8s.404; a 404 Status for the path itself is
 * WF_PERMANENT, code k8s.no-kind (CRD not installed). */
int k8s_get(k8s *k, const char *api_version, const char *kind, const char *ns, const char *name,
            json_t **obj, wf_err *err);

/* LIST with a label selector.  ns NULL lists across namespaces (or a
 * cluster-scoped kind).  Returns 0 with *items a new array reference. */
int k8s_list(k8s *k, const char *api_version, const char *kind, const char *ns,
             const char *selector, json_t **items, wf_err *err);

/* DELETE (background propagation).  A missing object (the server's
 * NotFound naming it, as for k8s_get) is success.  uid
 * (may be NULL) is a precondition: an object re-created under the same name
 * since it was listed is left alone (409), and that too counts as success. */
int k8s_delete(k8s *k, const char *api_version, const char *kind, const char *ns, const char *name,
               const char *uid, wf_err *err);

/* The connection of k's own requests, for a streaming request (a WATCH)
 * that httpc, which reads whole answers, cannot make: base URL, TLS
 * material, and the auth provider, which applies k's token rules (the token
 * file re-read at most every 60 s and after a 401) and may be called from
 * any thread.  Every pointer belongs to k: valid until k8s_free.  The
 * Authorization value it gives is a secret: never log it. */
const httpc_opts *k8s_conn(const k8s *k);

/* GET /version: returns the HTTP status, or 0 when the server did not
 * answer. */
long k8s_probe(k8s *k);

/* Builds the REST path of an object (name may be NULL for the collection).
 * Returns 0, or -1 for a kind wsflyte does not manage. */
int k8s_path(const char *api_version, const char *kind, const char *ns, const char *name, char *buf,
             size_t len);

#endif
