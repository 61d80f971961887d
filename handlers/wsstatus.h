/* wsstatus: what wsflyte-status tells of one workspace, from its state
 * records (wsstate.h) and the desired state re-rendered from the event a
 * record keeps (desired.h).  Pure data: no server, no Kafka.
 *
 * A workspace's key may have records on several partitions of the state
 * topic (partitions were added; the platform's partitioner changed): the
 * newest record of each partition counts, and of those the one with the
 * highest version wins, as the restore decides. */
#ifndef WF_WSSTATUS_H
#define WF_WSSTATUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "desired.h"
#include "event.h"
#include "wsstate.h"

/* Of n records (each the newest of its partition), the index of the one
 * that wins: the highest version; on equal versions an incomplete record
 * (it claims less), then the first given.  -1 when n is 0. */
int wsstatus_pick(const wsstate *recs, size_t n) __attribute__((warn_unused_result));

/* The identity hash a record keys a Kubernetes manifest by (apiVersion,
 * kind, namespace, name), the Flyte project, and a domain's attributes:
 * what handlers/provision.c hashes, which records must keep matching. */
uint64_t wsstatus_object_id(const json_t *manifest);
uint64_t wsstatus_project_id(void);
uint64_t wsstatus_attributes_id(const char *domain);
/* Whether attributes (desired.h) are a domain's EXECUTION_CLUSTER_LABEL
 * (kubernetes.clusters), not its WORKFLOW_EXECUTION_CONFIG. */
int wsstatus_is_cluster_attributes(const json_t *attributes);

/* Describes record s as one JSON object (a new reference, or NULL when out
 * of memory):
 *   workspace_id, version, event_id, event_type, event_time (ISO 8601 UTC),
 *   outcome {status, reason, project_named}, complete, flyte_wanted,
 *   project, console_url, namespaces [..],
 *   objects [{apiVersion, kind, namespace, name, identity, content,
 *             rendered_matches}] (a domain's EXECUTION_CLUSTER_LABEL
 *             attributes also resource_type),
 *   unnamed_objects (recorded hashes no re-rendered object names),
 *   members [{user_id, email, role, domains [..]}]
 * ev and d are the recorded event and its desired state; NULL when the
 * record's event could not be read or rendered (why: render_error), so
 * only what the record itself says is given.  Objects come in a fixed
 * order: the Flyte project, then per domain its attributes and its
 * manifests, then the objects outside the namespaces (wsstatus_each). */
json_t *wsstatus_describe(const wsstate *s, const ws_event *ev, const desired *d,
                          const char *render_error) __attribute__((warn_unused_result));

/* Calls fn for every object of d in the order of wsstatus_describe's
 * "objects": kind "FlyteProject" (obj: the project body, domain NULL),
 * "ProjectDomainAttributes" (obj: the attributes, domain set; with
 * kubernetes.clusters twice per domain, wsstatus_is_cluster_attributes
 * telling them apart), and every
 * manifest (domain set for a domain's).  Stops at and returns fn's first
 * nonzero answer; 0 otherwise.  Nothing when Flyte is not wanted. */
typedef int wsstatus_object_fn(void *ud, size_t index, const char *kind, const char *domain,
                               const json_t *obj);
int wsstatus_each(const desired *d, wsstatus_object_fn *fn, void *ud);

/* Milliseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf
 * (at least 32 bytes). */
void wsstatus_time(int64_t ms, char *buf, size_t len);

#endif
