/* flyte: the FlyteAdmin REST calls wsflyte makes (grpc-gateway, /api/v1).
 *
 * Every call sends "Accept: application/json", the only value for which
 * FlyteAdmin answers in snake_case and rejects unknown fields.  Non-2xx
 * answers become errors classified by httpc_classify, except those the
 * function documents as outcomes (404 on GET, 409 on register). */
#ifndef WF_FLYTE_H
#define WF_FLYTE_H

#include <jansson.h>

#include "httpc.h"
#include "wf_err.h"

/* Project.state values as FlyteAdmin names them. */
#define FLYTE_STATE_ACTIVE   "ACTIVE"
#define FLYTE_STATE_ARCHIVED "ARCHIVED"

/* GET /api/v1/projects/{id}.  Returns 0 with *project a new reference, or
 * NULL when the project does not exist (FlyteAdmin's own 404: code 5,
 * "project [<id>] not found"); -1 with err set otherwise, WF_TRANSIENT code
 * flyte.404 for any other 404 (a gateway's or ingress's). */
int flyte_get_project(httpc *h, const char *id, json_t **project, wf_err *err);

/* POST /api/v1/projects.  Returns 0 (*exists = 1 when FlyteAdmin answered
 * 409: the id is taken, possibly by an archived project), or -1. */
int flyte_register_project(httpc *h, const json_t *project, int *exists, wf_err *err);

/* PUT /api/v1/projects/{id} with a bare Project.  The body must carry
 * "state": FlyteAdmin writes state on every update, so a body without it
 * would un-archive the project; this function refuses such a body. */
int flyte_update_project(httpc *h, const json_t *project, wf_err *err);

/* PUT /api/v1/project_domain_attributes/{project}/{domain} with
 * {"attributes": attrs}.  Replaces the attribute of attrs' type. */
int flyte_put_domain_attributes(httpc *h, const char *project, const char *domain,
                                const json_t *attrs, wf_err *err);

/* GET /api/v1/project_domain_attributes/{project}/{domain}?resource_type=
 * resource_type.  Returns 0 with *attrs the ProjectDomainAttributes (new
 * reference), or NULL when FlyteAdmin holds none (its own 404: code 5,
 * "Resource [...] not found"); -1 with err set otherwise (any other 404 is
 * WF_TRANSIENT flyte.404).  FlyteAdmin falls back to a project-level row,
 * which comes back with "domain": "". */
int flyte_get_domain_attributes(httpc *h, const char *project, const char *domain,
                                const char *resource_type, json_t **attrs, wf_err *err);

/* ---- listing (a resync pass reads FlyteAdmin by the page) ---- */

/* Called with each listed object (borrowed for the call).  Returns 0 to go
 * on, or -1 with err set to end the listing. */
typedef int (*flyte_list_fn)(void *ud, const json_t *obj, wf_err *err);

/* GET /api/v1/projects?limit=limit&filters=value_in(state,0;1;2;3)
 * &sort_by.key=identifier&sort_by.direction=ASCENDING, then with each
 * continuation token until FlyteAdmin answers none (or an empty page):
 * every project of every state (without a state filter FlyteAdmin leaves
 * archived ones out), in identifier order so that the pages do not shift.
 * cb gets each project of each page, as GetProject answers it.  Returns 0,
 * or -1 with err set (cb's, or the request's classified). */
int flyte_list_projects(httpc *h, int limit, flyte_list_fn cb, void *ud, wf_err *err);

/* GET /api/v1/matchable_attributes?resource_type=resource_type: every row
 * of the type in one answer (FlyteAdmin does not page it; h's answer limit
 * is raised to FLYTE_LIST_MAX_BODY for this call only).  cb gets each
 * project-domain row (project and domain set, workflow and launch_plan
 * empty: the only rows wsflyte writes) shaped as GetProjectDomainAttributes
 * answers it ({project, domain, matching_attributes, org}), so that
 * plan_compare_attributes reads it unchanged.  Returns 0, or -1 with err
 * set. */
#define FLYTE_LIST_MAX_BODY ((size_t)512 * 1024 * 1024)
int flyte_list_attributes(httpc *h, const char *resource_type, flyte_list_fn cb, void *ud,
                          wf_err *err);

/* Reads the project's label value for key; NULL when absent. */
const char *flyte_project_label(const json_t *project, const char *key);
/* Returns 1 when the project's state is ARCHIVED (or SYSTEM_ARCHIVED). */
int flyte_project_archived(const json_t *project);

#endif
