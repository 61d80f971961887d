/* event: the in-memory workspace lifecycle event and provisioning result.
 *
 * Both encodings (Avro and JSON) decode into the same ws_event (see codec.h).
 * The plain-JSON form of CONTRACT.md §2 (field names as in the .avsc files,
 * enums as symbol names, null for absent optional fields) is the pivot:
 * ws_event_from_json() is the single place that checks field types. */
#ifndef WF_EVENT_H
#define WF_EVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "wf_err.h"

typedef enum ws_event_type {
    WS_WORKSPACE_CREATED,
    WS_SERVICE_ADDED,
    WS_SERVICE_REMOVED,
    WS_MEMBERS_CHANGED,
    WS_WORKSPACE_DELETED,
    WS_EVENT_TYPE_COUNT
} ws_event_type;

typedef enum ws_role { WS_ROLE_OWNER, WS_ROLE_CONTRIBUTOR, WS_ROLE_VIEWER, WS_ROLE_COUNT } ws_role;

typedef struct ws_member {
    char *user_id;
    char *email;
    ws_role role;
} ws_member;

typedef struct ws_quota {
    char *requests_cpu;
    char *requests_memory;
    char *limits_cpu;
    char *limits_memory;
    int64_t pods;
    int64_t persistent_volume_claims;
} ws_quota;

typedef struct ws_label {
    char *key;
    char *value;
} ws_label;

typedef struct workspace {
    char *workspace_id;
    char *workspace_name;
    char **services;
    size_t n_services;
    ws_member *members;
    size_t n_members;
    char *data_bucket;
    ws_quota *quota; /* NULL when the event has none */
    ws_label *labels;
    size_t n_labels;
} workspace;

typedef struct ws_event {
    char *event_id;
    ws_event_type type;
    int64_t occurred_at; /* ms since the epoch */
    int64_t workspace_version;
    char *actor;   /* may be NULL */
    char *service; /* may be NULL */
    workspace ws;
} ws_event;

typedef enum prov_status { PROV_SUCCEEDED, PROV_SKIPPED, PROV_FAILED } prov_status;

/* A provisioning result; strings are owned by the result. */
typedef struct prov_result {
    char *result_id;
    char *event_id;
    ws_event_type event_type;
    char *workspace_id;
    int64_t workspace_version;
    prov_status status;
    char *reason;        /* may be NULL */
    char *flyte_project; /* may be NULL */
    char *console_url;   /* may be NULL */
    char **namespaces;
    size_t n_namespaces;
    int32_t attempts;
    int64_t duration_ms;
    int has_error;
    char *error_class;
    char *error_code;
    char *error_message;
    int64_t completed_at;
} prov_result;

const char *ws_event_type_name(ws_event_type t);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int ws_event_type_parse(const char *name, ws_event_type *out);
const char *ws_role_name(ws_role r);
int ws_role_parse(const char *name, ws_role *out);
const char *prov_status_name(prov_status s);
int prov_status_parse(const char *name, prov_status *out);

/* Limits on a decoded event; anything larger is rejected as absurd. */
#define WS_MAX_MEMBERS  10000
#define WS_MAX_SERVICES 1000
#define WS_MAX_LABELS   1000
#define WS_MAX_STRING   65536 /* bytes in any one string */

/* Fills *ev from the plain-JSON form.  Returns 0, or -1 with err set
 * (class WF_DESERIALIZATION, code "event.field", the offending field path
 * in the message: `workspace.members[2].role: unknown role "ADMIN"`; class
 * WF_VALIDATION, code "event.limit" for a value beyond the limits above);
 * *ev is then zeroed and owns nothing.  Does not keep obj.
 * Required fields must have their JSON type (integers for long and int,
 * within range); actor, service and quota may be null or absent; labels may
 * be absent or null (empty).  Members unknown to the schema are ignored.
 * Strings must not contain NUL. */
int ws_event_from_json(const json_t *obj, ws_event *ev, wf_err *err);
/* What a result needs of an event that ws_event_from_json rejects (a
 * field missing, an unknown event type, a limit exceeded), read leniently so
 * that the event can still be answered FAILED (CONTRACT.md §3).  Returns 0
 * when event_id and workspace.workspace_id are readable strings: ev then
 * holds those two, the event type when it is a known one (else
 * WS_EVENT_TYPE_UNREADABLE) and the workspace version when it is an integer
 * (else WS_VERSION_UNREADABLE); nothing else.  Returns -1 with *ev zeroed
 * otherwise.  Release ev with ws_event_fini. */
#define WS_EVENT_TYPE_UNREADABLE WS_WORKSPACE_CREATED /* the result schema has no "unknown" */
#define WS_VERSION_UNREADABLE    (-1)
int ws_event_ids_from_json(const json_t *obj, ws_event *ev);
/* Returns a new reference to the plain-JSON form, or NULL on OOM or when a
 * required string is NULL. */
json_t *ws_event_to_json(const ws_event *ev);
/* Releases what ev owns; ev may be zeroed or NULL. */
void ws_event_fini(ws_event *ev);
/* Returns 1 when `service` is listed in the workspace's services. */
int workspace_has_service(const workspace *ws, const char *service);

/* As ws_event_from_json, with codes "result.field" and "result.limit";
 * error may be null or absent (has_error 0).  Returns 0, or -1 with err set and *r zeroed. */
int prov_result_from_json(const json_t *obj, prov_result *r, wf_err *err);
/* Returns a new reference to the plain-JSON form, or NULL on OOM or when a
 * required string (or, with has_error, an error string) is NULL. */
json_t *prov_result_to_json(const prov_result *r);
void prov_result_fini(prov_result *r);

#endif
