/* The planner, case by case: an event (or a record to repair) rendered
 * under tests/data/config/two-domains.yaml, a state record or none, and what
 * FlyteAdmin and Kubernetes returned when read, against the verdict, the
 * error and the exact steps.  Live objects are written as the servers return
 * them: uid, resourceVersion, managedFields, status and the labels wsflyte
 * writes (desired.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "desired.h"
#include "event.h"
#include "plan.h"
#include "wsstate.h"

/* ---- the workspace ---- */

#define DEV      "ws-a-development"
#define PROD     "ws-a-production"
#define AUTHZ    "flyte/wsflyte-authz-ws-a"
#define UID_DEV  "3f0c9a52-6e1d-4b7a-9c2e-8d5f1a0b7e01"
#define UID_PROD "3f0c9a52-6e1d-4b7a-9c2e-8d5f1a0b7e02"
#define UID_NEW  "9b27e4d0-1c5f-4a83-b6e9-04d2c7f3a1aa"
#define UID_CM   "c81e728d-9d4c-4f63-8b1e-5a7d2f0e9c33"

/* Member RoleBindings: <role>-<user key>, and the key's long form. */
#define RB_ALICE  "workspace-owner-alice-2bd806c97f"
#define RB_BOB    "workspace-viewer-bob-81b637d8fc"
#define RB_CAROL  "workspace-viewer-carol-4c26d9074c"
#define RB_DAVE   "workspace-contributor-dave-61ea0803f8"
#define KEY_ALICE "2bd806c97f0e00af"
#define KEY_BOB   "81b637d8fcd2c6da"
#define KEY_CAROL "4c26d9074c27d89e"
#define KEY_DAVE  "61ea0803f8853523"

/* ---- live objects ---- */

#define WSFLYTE_FIELDS(fields)                                                                     \
    "{\"manager\":\"wsflyte\",\"operation\":\"Apply\",\"time\":\"2026-11-30T09:12:44Z\","          \
    "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":" fields "}"

/* A Namespace wsflyte applied at version ver; extra goes into metadata. */
#define NAMESPACE(dom, uid, ver, extra, phase)                                                     \
    "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"ws-a-" dom "\","       \
    "\"uid\":\"" uid "\",\"resourceVersion\":\"48213\","                                           \
    "\"creationTimestamp\":\"2026-11-30T09:12:44Z\"," extra "\"labels\":{"                         \
    "\"app.kubernetes.io/managed-by\":\"wsflyte\",\"kubernetes.io/metadata.name\":\"ws-a-" dom     \
    "\",\"wsflyte.io/domain\":\"" dom "\",\"wsflyte.io/workspace\":\"ws-a\"},"                     \
    "\"annotations\":{\"wsflyte.io/workspace-version\":\"" ver "\"},"                              \
    "\"managedFields\":[" WSFLYTE_FIELDS(                                                          \
        "{\"f:metadata\":{\"f:annotations\":{\"f:wsflyte.io/workspace-version\":{}},"              \
        "\"f:labels\":{\"f:app.kubernetes.io/managed-by\":{},\"f:wsflyte.io/domain\":{},"          \
        "\"f:wsflyte.io/workspace\":{}}}}") "]},"                                                  \
                                            "\"spec\":{\"finalizers\":[\"kubernetes\"]},"          \
                                            "\"status\":{\"phase\":\"" phase "\"}}"

#define NS_OURS(dom, uid, ver) NAMESPACE(dom, uid, ver, "", "Active")
#define NS_TERMINATING(dom, uid, ver)                                                              \
    NAMESPACE(dom, uid, ver,                                                                       \
              "\"deletionTimestamp\":\"2026-12-01T10:00:00Z\",\"deletionGracePeriodSeconds\":0,",  \
              "Terminating")
/* A namespace of the same name that another team created. */
#define NS_FOREIGN(dom)                                                                            \
    "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"ws-a-" dom "\","       \
    "\"uid\":\"77d1e0c4-2a9b-4f5e-8c3d-1b6a9e2f4d10\",\"resourceVersion\":\"912\","                \
    "\"creationTimestamp\":\"2026-10-02T14:03:11Z\",\"labels\":{"                                  \
    "\"kubernetes.io/metadata.name\":\"ws-a-" dom "\",\"team\":\"data-eng\"},"                     \
    "\"managedFields\":[{\"manager\":\"kubectl-create\",\"operation\":\"Update\","                 \
    "\"time\":\"2026-10-02T14:03:11Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{"                 \
    "\"f:metadata\":{\"f:labels\":{\".\":{},\"f:team\":{}}}}}]},"                                  \
    "\"spec\":{\"finalizers\":[\"kubernetes\"]},\"status\":{\"phase\":\"Active\"}}"

/* GetProject's answer for a project wsflyte registered. */
#define PROJECT(ver, state)                                                                        \
    "{\"id\":\"ws-a\",\"name\":\"Flyte - A\",\"domains\":[{\"id\":\"development\","                \
    "\"name\":\"development\"},{\"id\":\"production\",\"name\":\"production\"}],"                  \
    "\"description\":\"Flyte project of workspace ws-a (A), managed by wsflyte\","                 \
    "\"labels\":{\"values\":{\"managed-by\":\"wsflyte\",\"wsflyte-workspace-version\":\"" ver      \
    "\"}},\"state\":\"" state "\",\"org\":\"\"}"
#define PROJECT_FOREIGN                                                                            \
    "{\"id\":\"ws-a\",\"name\":\"ws-a\",\"domains\":[{\"id\":\"development\","                     \
    "\"name\":\"development\"}],\"description\":\"registered by hand\","                           \
    "\"labels\":{\"values\":{\"team\":\"data-eng\"}},\"state\":\"ACTIVE\",\"org\":\"\"}"

/* GetProjectDomainAttributes' "attributes" (dom "" : the project-level
 * row FlyteAdmin falls back to). */
#define ATTRIBUTES(dom, bucket, path_dom)                                                          \
    "{\"project\":\"ws-a\",\"domain\":\"" dom "\",\"org\":\"\",\"matching_attributes\":{"          \
    "\"workflow_execution_config\":{\"security_context\":{\"run_as\":{"                            \
    "\"k8s_service_account\":\"workspace-runner\"}},\"raw_output_data_config\":{"                  \
    "\"output_location_prefix\":\"s3://" bucket "/flyte/" path_dom "\"},"                          \
    "\"labels\":{\"values\":{\"workspace-id\":\"ws-a\"}},\"envs\":{\"values\":["                   \
    "{\"key\":\"WORKSPACE_ID\",\"value\":\"ws-a\"},"                                               \
    "{\"key\":\"WORKSPACE_DATA_BUCKET\",\"value\":\"" bucket "\"}]}}}}"

/* A member RoleBinding as a LIST by label returns it. */
#define ROLEBINDING(ns, name, managed, key, role, k8s_role, user, uid)                             \
    "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"RoleBinding\",\"metadata\":{"     \
    "\"name\":\"" name "\",\"namespace\":\"" ns "\",\"uid\":\"" uid "\","                          \
    "\"resourceVersion\":\"50114\",\"labels\":{\"app.kubernetes.io/managed-by\":\"" managed "\","  \
    "\"wsflyte.io/member\":\"" key "\",\"wsflyte.io/role\":\"" role "\","                          \
    "\"wsflyte.io/workspace\":\"ws-a\"}},\"subjects\":[{\"kind\":\"User\","                        \
    "\"apiGroup\":\"rbac.authorization.k8s.io\",\"name\":\"" user "\"}],"                          \
    "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\","                   \
    "\"name\":\"" k8s_role "\"}}"
#define RB_LIVE_ALICE(ns)                                                                          \
    ROLEBINDING(ns, RB_ALICE, "wsflyte", KEY_ALICE, "OWNER", "workspace-owner", "alice",           \
                "1a2b3c4d-0000-4000-8000-00000000a11c")
#define RB_LIVE_BOB(ns)                                                                            \
    ROLEBINDING(ns, RB_BOB, "wsflyte", KEY_BOB, "VIEWER", "workspace-viewer", "bob",               \
                "1a2b3c4d-0000-4000-8000-000000000b0b")
#define RB_LIVE_CAROL(ns, uid)                                                                     \
    ROLEBINDING(ns, RB_CAROL, "wsflyte", KEY_CAROL, "VIEWER", "workspace-viewer", "carol", uid)
/* Carries the workspace's labels but another manager's: not wsflyte's. */
#define RB_LIVE_DAVE_ARGO(ns)                                                                      \
    ROLEBINDING(ns, RB_DAVE, "argocd", KEY_DAVE, "CONTRIBUTOR", "workspace-contributor", "dave",   \
                "1a2b3c4d-0000-4000-8000-00000000da5e")
/* wsflyte's labels on a name wsflyte never renders for a member. */
#define RB_LIVE_ONCALL(ns)                                                                         \
    ROLEBINDING(ns, "workspace-viewer-oncall", "wsflyte", KEY_BOB, "VIEWER", "workspace-viewer",   \
                "oncall", "1a2b3c4d-0000-4000-8000-0000000011ca")
/* Carol's binding by name, written by another manager. */
#define RB_LIVE_CAROL_ARGO(ns)                                                                     \
    ROLEBINDING(ns, RB_CAROL, "argocd", KEY_CAROL, "VIEWER", "workspace-viewer", "carol",          \
                "1a2b3c4d-0000-4000-8000-0000000ca2a0")
#define UID_CAROL_DEV  "1a2b3c4d-0000-4000-8000-0000000ca201"
#define UID_CAROL_PROD "1a2b3c4d-0000-4000-8000-0000000ca202"
#define CAROL_DEV      RB_LIVE_CAROL(DEV, UID_CAROL_DEV)
#define CAROL_PROD     RB_LIVE_CAROL(PROD, UID_CAROL_PROD)
/* What a LIST by the member selector returns in development after carol
 * left: alice's and bob's, carol's, one the selector matches but another
 * manager owns, and one of wsflyte's labels on a non-member name. */
#define LISTED_DEV_MIXED                                                                           \
    "[" RB_LIVE_ALICE(DEV) "," RB_LIVE_BOB(DEV) "," CAROL_DEV "," RB_LIVE_DAVE_ARGO(               \
        DEV) "," RB_LIVE_ONCALL(DEV) "]"

/* The authz ConfigMap: wsflyte's, or one of the same name another
 * workspace's labels claim. */
#define CONFIGMAP(ws, uid)                                                                         \
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"wsflyte-authz-ws-a\"," \
    "\"namespace\":\"flyte\",\"uid\":\"" uid "\",\"resourceVersion\":\"7781\",\"labels\":{"        \
    "\"app.kubernetes.io/managed-by\":\"wsflyte\",\"openpolicyagent.org/data\":\"opa\","           \
    "\"wsflyte.io/workspace\":\"" ws "\"}},\"data\":{\"workspace.json\":\"{}\"}}"

/* What the server adds to a manifest wsflyte applied (merged into the
 * rendered manifest), and another writer's later edit. */
#define SERVER_FIELDS(uid, edits)                                                                  \
    "\"metadata\":{\"uid\":\"" uid "\",\"resourceVersion\":\"50200\","                             \
    "\"creationTimestamp\":\"2026-11-30T09:12:45Z\",\"managedFields\":[" WSFLYTE_FIELDS("{}")      \
        edits "]}"
#define EDITED_BY(manager, time)                                                                   \
    ",{\"manager\":\"" manager "\",\"operation\":\"Update\",\"time\":\"" time "\","                \
    "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{}}"
/* A rendered manifest as read back: fields merged into it, and the
 * metadata the server added. */
#define LIVE(fields, uid, edits) "{" fields SERVER_FIELDS(uid, edits) "}"
#define UID_QUOTA                "5e0f2a71-8c3b-4d9e-a1f6-2b7c9d0e3f44"
#define UID_BOB_DEV              "1a2b3c4d-0000-4000-8000-000000000b0b"
#define KUBECTL_EDIT             EDITED_BY("kubectl-edit", "2026-12-02T16:40:00Z")
#define HELM_EDIT                EDITED_BY("helm", "2026-12-01T08:00:00Z")
/* The production quota raised by hand. */
#define LIVE_QUOTA_EDITED LIVE("\"spec\":{\"hard\":{\"pods\":\"500\"}},", UID_QUOTA, KUBECTL_EDIT)
/* Bob's development binding pointed at someone else, helm's write older. */
#define MALLORY                                                                                    \
    "\"subjects\":[{\"kind\":\"User\",\"apiGroup\":\"rbac.authorization.k8s.io\","                 \
    "\"name\":\"mallory\"}],"
#define LIVE_BOB_EDITED LIVE(MALLORY, UID_BOB_DEV, HELM_EDIT KUBECTL_EDIT)
/* The authz ConfigMap as wsflyte applied it. */
#define LIVE_AUTHZ LIVE("", UID_CM, "")

/* ---- expected steps ---- */

/* Step lines: [L<level> ]<op> <kind> <ns/>name[ uid=<uid>][ by <writer>][ (<note>)],
 * each followed, with SHOW_CHANGES, by its changes indented by two. */
enum { SHOW_LEVEL = 1, SHOW_NOTE = 2, SHOW_UID = 4, SHOW_WRITER = 8, SHOW_CHANGES = 16 };

/* A domain's objects after the namespace and before the bindings. */
#define CONTENT(op, ns)                                                                            \
    op " ResourceQuota " ns "/workspace-quota", op " LimitRange " ns "/workspace-defaults",        \
        op " NetworkPolicy " ns "/workspace-isolation",                                            \
        op " ServiceAccount " ns "/workspace-runner", op " Role " ns "/workspace-owner",           \
        op " Role " ns "/workspace-contributor", op " Role " ns "/workspace-viewer"
/* A domain unchanged since the record but for the version annotated on
 * its namespace (bindings of alice and bob). */
#define DOMAIN_KEPT(ns, dom)                                                                       \
    "unchanged ProjectDomainAttributes ws-a/" dom, "update Namespace " ns,                         \
        CONTENT("unchanged", ns), "unchanged RoleBinding " ns "/" RB_ALICE,                        \
        "unchanged RoleBinding " ns "/" RB_BOB
/* The same without a base to compare with: everything written. */
#define DOMAIN_WRITTEN(ns, dom, ns_op)                                                             \
    "update ProjectDomainAttributes ws-a/" dom, ns_op " Namespace " ns, CONTENT("update", ns),     \
        "update RoleBinding " ns "/" RB_ALICE, "update RoleBinding " ns "/" RB_BOB

/* ---- the table ---- */

typedef struct ev_spec {
    long long version;
    const char *type;    /* NULL: MEMBERS_CHANGED */
    const char *members; /* "user:ROLE ..." */
    int no_flyte;        /* services without flyte */
} ev_spec;

typedef struct rec_spec {
    int present;
    ev_spec ev; /* the event it applied */
    int incomplete;
    int unrenderable; /* keeps only the workspace and version of its event */
    const char *ns_uids[2];
} rec_spec;

/* A Kubernetes object read by identity: json is the object, NULL when the
 * GET said 404; with rendered, json is merged into the manifest the
 * desired state holds under that identity. */
typedef struct obj_spec {
    const char *api_version, *kind, *ns, *name;
    int rendered;
    const char *json;
} obj_spec;

#define MAX_STEPS 64

typedef struct plan_case {
    const char *name;
    plan_mode mode;
    ev_spec ev; /* a repair plans the record's own event */
    rec_spec rec;
    long long own_upto; /* 0: none */
    /* what was read */
    int project_read;
    const char *project;
    int namespaces_read;
    const char *namespaces[2];
    int attributes_read;
    const char *attributes[2];
    const char *bindings[2]; /* JSON arrays; NULL: not listed */
    obj_spec objects[4];
    const char *cleanup[3];
    /* a repair's job */
    obj_spec ids[4];
    int all_k8s, flyte;
    /* expected */
    plan_verdict verdict;
    wf_class cls;
    const char *code; /* NULL: no error */
    long long newer;  /* STALE, SUPERSEDED from the objects */
    const char *where;
    prov_status status;
    const char *reason;
    int needs_prior;
    const char *lists; /* plan_lists_needed per domain ("10"); NULL: not checked */
    unsigned show;
    const char *steps[MAX_STEPS];
} plan_case;

#define TWO   "alice:OWNER bob:VIEWER"
#define THREE "alice:OWNER bob:VIEWER carol:VIEWER"

/* The authz ConfigMap read and not found. */
#define AUTHZ_ABSENT                                                                               \
    {                                                                                              \
        "v1", "ConfigMap", "flyte", "wsflyte-authz-ws-a", 0, NULL                                  \
    }

static const plan_case cases[] = {
    {
        .name = "first_create_registers_the_project_then_namespaces_then_content",
        .ev = {1, "WORKSPACE_CREATED", TWO, 0},
        .project_read = 1,
        .namespaces_read = 1,
        .objects = {AUTHZ_ABSENT},
        .lists = "00",
        .show = SHOW_LEVEL,
        .steps = {"L0 create FlyteProject ws-a",
                  "L2 create ProjectDomainAttributes ws-a/development", "L1 create Namespace " DEV,
                  CONTENT("L2 create", DEV), "L2 create RoleBinding " DEV "/" RB_ALICE,
                  "L2 create RoleBinding " DEV "/" RB_BOB,
                  "L2 create ProjectDomainAttributes ws-a/production", "L1 create Namespace " PROD,
                  CONTENT("L2 create", PROD), "L2 create RoleBinding " PROD "/" RB_ALICE,
                  "L2 create RoleBinding " PROD "/" RB_BOB, "L2 create ConfigMap " AUTHZ},
    },
    {
        .name = "stale_by_the_project_label",
        .ev = {3, NULL, TWO, 0},
        .project_read = 1,
        .project = PROJECT("5", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "5"), NS_OURS("production", UID_PROD, "5")},
        .verdict = PLAN_STALE,
        .newer = 5,
        .where = "the Flyte project",
    },
    {
        .name = "own_writes_of_a_failed_newer_event_are_not_stale",
        .ev = {3, NULL, TWO, 0},
        .own_upto = 4,
        .project_read = 1,
        .project = PROJECT("4", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "4"), NS_OURS("production", UID_PROD, "4")},
        .bindings = {"[" RB_LIVE_ALICE(DEV) "," RB_LIVE_BOB(DEV) "]",
                     "[" RB_LIVE_ALICE(PROD) "," RB_LIVE_BOB(PROD) "]"},
        .lists = "11",
        .show = SHOW_CHANGES,
        .steps = {"update FlyteProject ws-a",
                  "  labels.values.wsflyte-workspace-version: \"4\" -> \"3\"",
                  "update ProjectDomainAttributes ws-a/development", "update Namespace " DEV,
                  "  metadata.annotations[\"wsflyte.io/workspace-version\"]: \"4\" -> \"3\"",
                  CONTENT("update", DEV), "update RoleBinding " DEV "/" RB_ALICE,
                  "update RoleBinding " DEV "/" RB_BOB,
                  "update ProjectDomainAttributes ws-a/production", "update Namespace " PROD,
                  "  metadata.annotations[\"wsflyte.io/workspace-version\"]: \"4\" -> \"3\"",
                  CONTENT("update", PROD), "update RoleBinding " PROD "/" RB_ALICE,
                  "update RoleBinding " PROD "/" RB_BOB, "update ConfigMap " AUTHZ},
    },
    {
        .name = "stale_by_a_namespace_annotation_when_flyte_is_not_wanted",
        .ev = {3, "SERVICE_REMOVED", TWO, 1},
        .project_read = 1,
        .project = PROJECT("2", "ACTIVE"),
        .cleanup = {NS_OURS("development", UID_DEV, "7"), NS_OURS("production", UID_PROD, "2"),
                    NULL},
        .verdict = PLAN_STALE,
        .newer = 7,
        .where = "a namespace of the workspace",
        .lists = "00",
    },
    {
        .name = "stale_by_the_record",
        .ev = {3, NULL, TWO, 0},
        .rec = {1, {4, NULL, TWO, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .verdict = PLAN_STALE,
        .newer = -1,
    },
    {
        .name = "duplicate_of_a_complete_record_at_the_same_version",
        .ev = {2, NULL, TWO, 0},
        .rec = {1, {2, NULL, TWO, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .verdict = PLAN_DUPLICATE,
    },
    {
        .name = "incomplete_record_is_no_duplicate_and_no_base",
        .ev = {2, NULL, TWO, 0},
        .rec = {1, {2, NULL, TWO, 0}, 1, 0, {UID_DEV, UID_PROD}},
        .project_read = 1,
        .project = PROJECT("2", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "2"), NS_OURS("production", UID_PROD, "2")},
        .bindings = {"[" RB_LIVE_ALICE(DEV) "," RB_LIVE_BOB(DEV) "]",
                     "[" RB_LIVE_ALICE(PROD) "," RB_LIVE_BOB(PROD) "]"},
        .lists = "11",
        .steps = {"unchanged FlyteProject ws-a", DOMAIN_WRITTEN(DEV, "development", "unchanged"),
                  DOMAIN_WRITTEN(PROD, "production", "unchanged"), "update ConfigMap " AUTHZ},
    },
    {
        .name = "foreign_namespace_fails_the_event_before_any_write",
        .ev = {2, NULL, TWO, 0},
        .project_read = 1,
        .project = PROJECT("1", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "1"), NS_FOREIGN("production")},
        .verdict = PLAN_FAIL,
        .cls = WF_PERMANENT,
        .code = "k8s.foreign-namespace",
    },
    {
        .name = "foreign_project_fails_the_event",
        .ev = {2, NULL, TWO, 0},
        .project_read = 1,
        .project = PROJECT_FOREIGN,
        .namespaces_read = 1,
        .verdict = PLAN_FAIL,
        .cls = WF_PERMANENT,
        .code = "flyte.foreign-project",
    },
    {
        .name = "terminating_namespace_reapplies_the_namespaces_and_waits",
        .ev = {2, NULL, TWO, 0},
        .project_read = 1,
        .project = PROJECT("1", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "1"),
                       NS_TERMINATING("production", UID_PROD, "1")},
        .cls = WF_TRANSIENT,
        .code = "k8s.namespace-terminating",
        .lists = "11",
        .show = SHOW_LEVEL,
        .steps = {"L1 update Namespace " DEV, "L1 update Namespace " PROD},
    },
    {
        .name = "archived_project_is_reactivated_before_its_attributes",
        .ev = {3, "SERVICE_ADDED", TWO, 0},
        .rec = {1, {2, "SERVICE_REMOVED", TWO, 1}, 0, 0, {NULL, NULL}},
        .project_read = 1,
        .project = PROJECT("2", "ARCHIVED"),
        .namespaces_read = 1,
        .attributes_read = 1,
        .objects = {AUTHZ_ABSENT},
        .lists = "00",
        .show = SHOW_LEVEL | SHOW_NOTE | SHOW_CHANGES,
        .steps = {"L1 update FlyteProject ws-a",
                  "  labels.values.wsflyte-workspace-version: \"2\" -> \"3\"",
                  "  state: \"ARCHIVED\" -> \"ACTIVE\"",
                  "L2 update ProjectDomainAttributes ws-a/development (not readable while the "
                  "project is archived; written after re-activation)",
                  "L1 create Namespace " DEV, CONTENT("L2 create", DEV),
                  "L2 create RoleBinding " DEV "/" RB_ALICE,
                  "L2 create RoleBinding " DEV "/" RB_BOB,
                  "L2 update ProjectDomainAttributes ws-a/production (not readable while the "
                  "project is archived; written after re-activation)",
                  "L1 create Namespace " PROD, CONTENT("L2 create", PROD),
                  "L2 create RoleBinding " PROD "/" RB_ALICE,
                  "L2 create RoleBinding " PROD "/" RB_BOB, "L2 create ConfigMap " AUTHZ},
    },
    {
        .name = "attributes_that_differ_are_updated_identical_ones_unchanged",
        .ev = {2, NULL, TWO, 0},
        .rec = {1, {1, NULL, TWO, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .project_read = 1,
        .project = PROJECT("1", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "1"), NS_OURS("production", UID_PROD, "1")},
        .attributes_read = 1,
        .attributes = {ATTRIBUTES("development", "ws-a-old-data", "development"),
                       ATTRIBUTES("production", "ws-a-data", "production")},
        .lists = "00",
        .show = SHOW_CHANGES,
        .steps = {"update FlyteProject ws-a",
                  "  labels.values.wsflyte-workspace-version: \"1\" -> \"2\"",
                  "update ProjectDomainAttributes ws-a/development",
                  "  matching_attributes.workflow_execution_config.raw_output_data_config."
                  "output_location_prefix: \"s3://ws-a-old-data/flyte/development\" -> "
                  "\"s3://ws-a-data/flyte/development\"",
                  "  matching_attributes.workflow_execution_config.envs.values[1].value: "
                  "\"ws-a-old-data\" -> \"ws-a-data\"",
                  "update Namespace " DEV,
                  "  metadata.annotations[\"wsflyte.io/workspace-version\"]: \"1\" -> \"2\"",
                  CONTENT("unchanged", DEV), "unchanged RoleBinding " DEV "/" RB_ALICE,
                  "unchanged RoleBinding " DEV "/" RB_BOB,
                  "unchanged ProjectDomainAttributes ws-a/production", "update Namespace " PROD,
                  "  metadata.annotations[\"wsflyte.io/workspace-version\"]: \"1\" -> \"2\"",
                  CONTENT("unchanged", PROD), "unchanged RoleBinding " PROD "/" RB_ALICE,
                  "unchanged RoleBinding " PROD "/" RB_BOB, "update ConfigMap " AUTHZ},
    },
    {
        .name = "project_level_attributes_only_make_the_domains_created",
        .ev = {2, NULL, TWO, 0},
        .rec = {1, {1, NULL, TWO, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .project_read = 1,
        .project = PROJECT("1", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "1"), NS_OURS("production", UID_PROD, "1")},
        .attributes_read = 1,
        .attributes = {ATTRIBUTES("", "ws-a-data", "development"), NULL},
        .lists = "00",
        .show = SHOW_NOTE,
        .steps = {"update FlyteProject ws-a",
                  "create ProjectDomainAttributes ws-a/development (only project-level "
                  "attributes exist)",
                  "update Namespace " DEV, CONTENT("unchanged", DEV),
                  "unchanged RoleBinding " DEV "/" RB_ALICE,
                  "unchanged RoleBinding " DEV "/" RB_BOB,
                  "create ProjectDomainAttributes ws-a/production", "update Namespace " PROD,
                  CONTENT("unchanged", PROD), "unchanged RoleBinding " PROD "/" RB_ALICE,
                  "unchanged RoleBinding " PROD "/" RB_BOB, "update ConfigMap " AUTHZ},
    },
    {
        .name = "removed_member_bindings_are_deleted_by_name_from_the_record",
        .ev = {3, NULL, TWO, 0},
        .rec = {1, {2, NULL, THREE, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .project_read = 1,
        .project = PROJECT("2", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "2"), NS_OURS("production", UID_PROD, "2")},
        .needs_prior = 1,
        .lists = "00",
        .show = SHOW_LEVEL | SHOW_NOTE | SHOW_UID,
        .steps = {"L1 update FlyteProject ws-a",
                  "L2 unchanged ProjectDomainAttributes ws-a/development",
                  "L1 update Namespace " DEV, CONTENT("L2 unchanged", DEV),
                  "L2 unchanged RoleBinding " DEV "/" RB_ALICE,
                  "L2 unchanged RoleBinding " DEV "/" RB_BOB,
                  "L2 unchanged ProjectDomainAttributes ws-a/production",
                  "L1 update Namespace " PROD, CONTENT("L2 unchanged", PROD),
                  "L2 unchanged RoleBinding " PROD "/" RB_ALICE,
                  "L2 unchanged RoleBinding " PROD "/" RB_BOB,
                  "L2 delete RoleBinding " DEV "/" RB_CAROL " (no longer wanted)",
                  "L2 delete RoleBinding " PROD "/" RB_CAROL " (no longer wanted)",
                  "L2 update ConfigMap " AUTHZ},
    },
    {
        .name = "removed_member_bindings_are_deleted_by_listing_without_a_record",
        .ev = {3, NULL, TWO, 0},
        .project_read = 1,
        .project = PROJECT("2", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "2"), NS_OURS("production", UID_PROD, "2")},
        .bindings = {LISTED_DEV_MIXED,
                     "[" RB_LIVE_ALICE(PROD) "," RB_LIVE_BOB(PROD) "," CAROL_PROD "]"},
        .lists = "11",
        .show = SHOW_NOTE | SHOW_UID,
        .steps = {"update FlyteProject ws-a", DOMAIN_WRITTEN(DEV, "development", "update"),
                  DOMAIN_WRITTEN(PROD, "production", "update"),
                  "delete RoleBinding " DEV "/" RB_CAROL " uid=" UID_CAROL_DEV
                  " (former member or role)",
                  "delete RoleBinding " PROD "/" RB_CAROL " uid=" UID_CAROL_PROD
                  " (former member or role)",
                  "update ConfigMap " AUTHZ},
    },
    {
        .name = "removed_member_of_an_unrenderable_record_is_pruned_by_listing",
        .ev = {3, NULL, TWO, 0},
        .rec = {1, {2, NULL, THREE, 0}, 0, 1, {UID_DEV, UID_PROD}},
        .project_read = 1,
        .project = PROJECT("2", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "2"), NS_OURS("production", UID_PROD, "2")},
        .bindings = {"[" RB_LIVE_ALICE(DEV) "," RB_LIVE_BOB(DEV) "," CAROL_DEV "]",
                     "[" RB_LIVE_ALICE(PROD) "," RB_LIVE_BOB(PROD) "," CAROL_PROD "]"},
        .needs_prior = 1,
        .lists = "11",
        .show = SHOW_UID,
        .steps = {"update FlyteProject ws-a", DOMAIN_KEPT(DEV, "development"),
                  DOMAIN_KEPT(PROD, "production"),
                  "delete RoleBinding " DEV "/" RB_CAROL " uid=" UID_CAROL_DEV,
                  "delete RoleBinding " PROD "/" RB_CAROL " uid=" UID_CAROL_PROD,
                  "update ConfigMap " AUTHZ},
    },
    {
        .name = "one_member_added_writes_only_what_changed",
        .ev = {3, NULL, THREE, 0},
        .rec = {1, {2, NULL, TWO, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .project_read = 1,
        .project = PROJECT("2", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "2"), NS_OURS("production", UID_PROD, "2")},
        .lists = "00",
        .steps = {"update FlyteProject ws-a", DOMAIN_KEPT(DEV, "development"),
                  "update RoleBinding " DEV "/" RB_CAROL, DOMAIN_KEPT(PROD, "production"),
                  "update RoleBinding " PROD "/" RB_CAROL, "update ConfigMap " AUTHZ},
    },
    {
        .name = "namespace_recreated_under_the_record_gets_everything_again",
        .ev = {3, NULL, TWO, 0},
        .rec = {1, {2, NULL, TWO, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .project_read = 1,
        .project = PROJECT("2", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_NEW, "2"), NS_OURS("production", UID_PROD, "2")},
        .bindings = {"[" RB_LIVE_ALICE(DEV) "," RB_LIVE_BOB(DEV) "]", NULL},
        .lists = "10",
        .steps = {"update FlyteProject ws-a", DOMAIN_WRITTEN(DEV, "development", "update"),
                  DOMAIN_KEPT(PROD, "production"), "update ConfigMap " AUTHZ},
    },
    /* In a namespace re-created under the record the record's names say
     * nothing: only the listing decides there, and a binding of that name
     * that is another writer's stays. */
    {
        .name = "removed_member_in_a_recreated_namespace_is_pruned_by_listing_not_by_name",
        .ev = {3, NULL, TWO, 0},
        .rec = {1, {2, NULL, THREE, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .project_read = 1,
        .project = PROJECT("2", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_NEW, "2"), NS_OURS("production", UID_PROD, "2")},
        .bindings = {"[" RB_LIVE_ALICE(DEV) "," RB_LIVE_CAROL_ARGO(DEV) "]", NULL},
        .needs_prior = 1,
        .lists = "10",
        .show = SHOW_NOTE | SHOW_UID,
        .steps = {"update FlyteProject ws-a", DOMAIN_WRITTEN(DEV, "development", "update"),
                  DOMAIN_KEPT(PROD, "production"),
                  "delete RoleBinding " PROD "/" RB_CAROL " (no longer wanted)",
                  "update ConfigMap " AUTHZ},
    },
    {
        .name = "repair_superseded_by_the_project",
        .mode = PLAN_FOR_REPAIR,
        .rec = {1, {2, NULL, TWO, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .project_read = 1,
        .project = PROJECT("4", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "2"), NS_OURS("production", UID_PROD, "2")},
        .all_k8s = 1,
        .flyte = 1,
        .verdict = PLAN_SUPERSEDED,
        .cls = WF_PERMANENT,
        .code = "state.superseded",
        .newer = 4,
        .where = "Flyte project ws-a",
        .lists = "00",
    },
    {
        .name = "repair_superseded_by_a_namespace",
        .mode = PLAN_FOR_REPAIR,
        .rec = {1, {2, NULL, TWO, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .project_read = 1,
        .project = PROJECT("2", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "2"), NS_OURS("production", UID_PROD, "5")},
        .all_k8s = 1,
        .verdict = PLAN_SUPERSEDED,
        .cls = WF_PERMANENT,
        .code = "state.superseded",
        .newer = 5,
        .where = "namespace " PROD,
    },
    {
        .name = "repair_leaves_a_foreign_namespace_alone_and_repairs_the_others",
        .mode = PLAN_FOR_REPAIR,
        .rec = {1, {2, NULL, TWO, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .namespaces_read = 1,
        .namespaces = {NS_FOREIGN("development"), NS_OURS("production", UID_PROD, "2")},
        .objects = {{"v1", "ResourceQuota", PROD, "workspace-quota", 1, LIVE_QUOTA_EDITED},
                    {"v1", "ConfigMap", "flyte", "wsflyte-authz-ws-a", 1, LIVE_AUTHZ}},
        .all_k8s = 1,
        .lists = "00",
        .show = SHOW_LEVEL | SHOW_NOTE | SHOW_WRITER | SHOW_CHANGES,
        .steps = {"L1 unchanged Namespace " DEV
                  " (not wsflyte's any more: left alone, nothing in it is repaired)",
                  "L1 unchanged Namespace " PROD,
                  "L2 update ResourceQuota " PROD "/workspace-quota by kubectl-edit",
                  "  spec.hard.pods: \"500\" -> \"100\"",
                  "L2 unchanged LimitRange " PROD "/workspace-defaults",
                  "L2 unchanged NetworkPolicy " PROD "/workspace-isolation",
                  "L2 unchanged ServiceAccount " PROD "/workspace-runner",
                  "L2 unchanged Role " PROD "/workspace-owner",
                  "L2 unchanged Role " PROD "/workspace-contributor",
                  "L2 unchanged Role " PROD "/workspace-viewer",
                  "L2 unchanged RoleBinding " PROD "/" RB_ALICE,
                  "L2 unchanged RoleBinding " PROD "/" RB_BOB, "L2 unchanged ConfigMap " AUTHZ},
    },
    {
        .name = "repair_recreates_a_deleted_object_and_restores_a_changed_one",
        .mode = PLAN_FOR_REPAIR,
        .rec = {1, {2, NULL, TWO, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .project_read = 1,
        .project = PROJECT("2", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NS_OURS("development", UID_DEV, "2"), NS_OURS("production", UID_PROD, "2")},
        .attributes_read = 1,
        .attributes = {ATTRIBUTES("development", "ws-a-data", "development"),
                       ATTRIBUTES("production", "ws-a-data", "production")},
        .objects = {{"v1", "ServiceAccount", PROD, "workspace-runner", 0, NULL},
                    {"rbac.authorization.k8s.io/v1", "RoleBinding", DEV, RB_BOB, 1,
                     LIVE_BOB_EDITED}},
        .ids = {{"v1", "ServiceAccount", PROD, "workspace-runner", 0, NULL},
                {"rbac.authorization.k8s.io/v1", "RoleBinding", DEV, RB_BOB, 0, NULL}},
        .flyte = 1,
        .lists = "00",
        .show = SHOW_LEVEL | SHOW_WRITER | SHOW_CHANGES,
        .steps = {"L1 unchanged FlyteProject ws-a",
                  "L2 unchanged ProjectDomainAttributes ws-a/development",
                  "L2 unchanged ProjectDomainAttributes ws-a/production",
                  "L2 update RoleBinding " DEV "/" RB_BOB " by kubectl-edit",
                  "  subjects[0].name: \"mallory\" -> \"bob\"",
                  "L2 create ServiceAccount " PROD "/workspace-runner"},
    },
    {
        .name = "repair_recreates_a_missing_namespace_it_names_with_everything_in_it",
        .mode = PLAN_FOR_REPAIR,
        .rec = {1, {2, NULL, TWO, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .namespaces_read = 1,
        .namespaces = {NULL, NS_OURS("production", UID_PROD, "2")},
        .ids = {{"v1", "Namespace", NULL, DEV, 0, NULL}},
        .lists = "00",
        .show = SHOW_LEVEL,
        .steps = {"L1 create Namespace " DEV, CONTENT("L2 create", DEV),
                  "L2 create RoleBinding " DEV "/" RB_ALICE,
                  "L2 create RoleBinding " DEV "/" RB_BOB},
    },
    {
        .name = "repair_writes_nothing_into_a_missing_namespace_it_does_not_name",
        .mode = PLAN_FOR_REPAIR,
        .rec = {1, {2, NULL, TWO, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .namespaces_read = 1,
        .namespaces = {NULL, NS_OURS("production", UID_PROD, "2")},
        .ids = {{"v1", "ResourceQuota", DEV, "workspace-quota", 0, NULL}},
        .show = SHOW_NOTE,
        .steps = {"unchanged Namespace " DEV
                  " (missing: nothing is repaired in it until it is re-created)"},
    },
    {
        .name = "repair_waits_for_a_terminating_namespace_and_repairs_the_others",
        .mode = PLAN_FOR_REPAIR,
        .rec = {1, {2, NULL, TWO, 0}, 0, 0, {UID_DEV, UID_PROD}},
        .namespaces_read = 1,
        .namespaces = {NS_TERMINATING("development", UID_DEV, "2"),
                       NS_OURS("production", UID_PROD, "2")},
        .objects = {{"v1", "ServiceAccount", DEV, "workspace-runner", 0, NULL},
                    {"v1", "ServiceAccount", PROD, "workspace-runner", 0, NULL}},
        .all_k8s = 1,
        .cls = WF_TRANSIENT,
        .code = "k8s.namespace-terminating",
        .steps = {"unchanged Namespace " PROD, "unchanged ResourceQuota " PROD "/workspace-quota",
                  "unchanged LimitRange " PROD "/workspace-defaults",
                  "unchanged NetworkPolicy " PROD "/workspace-isolation",
                  "create ServiceAccount " PROD "/workspace-runner",
                  "unchanged Role " PROD "/workspace-owner",
                  "unchanged Role " PROD "/workspace-contributor",
                  "unchanged Role " PROD "/workspace-viewer",
                  "unchanged RoleBinding " PROD "/" RB_ALICE,
                  "unchanged RoleBinding " PROD "/" RB_BOB, "unchanged ConfigMap " AUTHZ},
    },
    {
        .name = "flyte_not_wanted_archives_and_deletes_its_own_objects_by_uid",
        .ev = {3, "SERVICE_REMOVED", TWO, 1},
        .project_read = 1,
        .project = PROJECT("2", "ACTIVE"),
        .cleanup = {NS_OURS("development", UID_DEV, "2"),
                    NS_TERMINATING("production", UID_PROD, "2"), CONFIGMAP("ws-a", UID_CM)},
        .reason = "flyte-removed",
        .lists = "00",
        .show = SHOW_LEVEL | SHOW_NOTE | SHOW_UID | SHOW_CHANGES,
        .steps = {"L0 update FlyteProject ws-a",
                  "  labels.values.wsflyte-workspace-version: \"2\" -> \"3\"",
                  "  state: \"ACTIVE\" -> \"ARCHIVED\"",
                  "L1 delete Namespace " DEV " uid=" UID_DEV " (with everything in it)",
                  "L1 unchanged Namespace " PROD " (already being deleted)",
                  "L1 delete ConfigMap " AUTHZ " uid=" UID_CM},
    },
    {
        .name = "flyte_not_wanted_leaves_others_objects_and_fails_on_a_foreign_namespace",
        .ev = {3, "WORKSPACE_DELETED", TWO, 1},
        .project_read = 1,
        .project = PROJECT("2", "ACTIVE"),
        .cleanup = {NS_OURS("development", UID_DEV, "2"), NS_FOREIGN("production"),
                    CONFIGMAP("ws-b", UID_CM)},
        .cls = WF_PERMANENT,
        .code = "k8s.foreign-namespace",
        .reason = "workspace-deleted",
        .lists = "00",
        .show = SHOW_LEVEL | SHOW_NOTE | SHOW_UID,
        .steps = {"L0 update FlyteProject ws-a",
                  "L1 delete Namespace " DEV " uid=" UID_DEV " (with everything in it)",
                  "L1 unchanged Namespace " PROD " (not wsflyte's: left alone)",
                  "L1 unchanged ConfigMap " AUTHZ " (not wsflyte's: left alone)"},
    },
    {
        .name = "flyte_not_enabled_when_nothing_exists",
        .ev = {1, "WORKSPACE_CREATED", TWO, 1},
        .project_read = 1,
        .status = PROV_SKIPPED,
        .reason = "flyte-not-enabled",
        .lists = "00",
        .show = SHOW_NOTE,
        .steps = {"unchanged FlyteProject ws-a (does not exist)",
                  "unchanged Namespace " DEV " (does not exist)",
                  "unchanged Namespace " PROD " (does not exist)",
                  "unchanged ConfigMap " AUTHZ " (does not exist)"},
    },
    {
        .name = "flyte_not_wanted_leaves_a_foreign_project_alone",
        .ev = {2, "SERVICE_REMOVED", TWO, 1},
        .project_read = 1,
        .project = PROJECT_FOREIGN,
        .status = PROV_SKIPPED,
        .reason = "flyte-not-enabled",
        .show = SHOW_NOTE,
        .steps = {"unchanged FlyteProject ws-a (not managed by wsflyte: left alone)",
                  "unchanged Namespace " DEV " (does not exist)",
                  "unchanged Namespace " PROD " (does not exist)",
                  "unchanged ConfigMap " AUTHZ " (does not exist)"},
    },
    {
        .name = "lists_are_needed_where_a_namespace_exists_without_a_record",
        .ev = {2, NULL, TWO, 0},
        .project_read = 1,
        .project = PROJECT("1", "ACTIVE"),
        .namespaces_read = 1,
        .namespaces = {NULL, NS_OURS("production", UID_PROD, "1")},
        .bindings = {NULL, "[" RB_LIVE_ALICE(PROD) "," RB_LIVE_BOB(PROD) "]"},
        .lists = "01",
        .steps = {"update FlyteProject ws-a", "update ProjectDomainAttributes ws-a/development",
                  "create Namespace " DEV, CONTENT("create", DEV),
                  "create RoleBinding " DEV "/" RB_ALICE, "create RoleBinding " DEV "/" RB_BOB,
                  DOMAIN_WRITTEN(PROD, "production", "update"), "update ConfigMap " AUTHZ},
    },
};

/* ---- running a case ---- */

static json_t *event_json(const ev_spec *e)
{
    const char *type = e->type ? e->type : "MEMBERS_CHANGED";
    json_t *members = json_array(), *ev;
    char buf[256], id[32], *save = NULL;

    assert_true(strlen(e->members) < sizeof(buf));
    strcpy(buf, e->members);
    for (char *m = strtok_r(buf, " ", &save); m; m = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(m, ':'), email[64];
        assert_non_null(colon);
        *colon = '\0';
        snprintf(email, sizeof(email), "%s@example.com", m);
        json_array_append_new(
            members, json_pack("{s:s, s:s, s:s}", "user_id", m, "email", email, "role", colon + 1));
    }
    snprintf(id, sizeof(id), "e-%lld", e->version);
    ev = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s?, s:{s:s, s:s, s:[s], s:o, s:s, s:n, s:{}}}",
                   "event_id", id, "event_type", type, "occurred_at",
                   (json_int_t)1764316800000 + e->version, "workspace_version",
                   (json_int_t)e->version, "actor", "alice", "service",
                   strstr(type, "SERVICE_") ? "flyte" : NULL, "workspace", "workspace_id", "ws-a",
                   "workspace_name", "A", "services", e->no_flyte ? "emr" : "flyte", "members",
                   members, "data_bucket", "ws-a-data", "quota", "labels");
    assert_non_null(ev);
    return ev;
}

static void event_build(const ev_spec *e, ws_event *ev)
{
    json_t *j = event_json(e);
    wf_err err;

    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(j, ev, &err), 0);
    json_decref(j);
}

/* The record an apply of r->ev would have written. */
static void record_build(const wf_config *cfg, const rec_spec *r, wsstate *rec)
{
    json_t *j = event_json(&r->ev);
    ws_event ev;
    desired d;
    wf_err err;

    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(j, &ev, &err), 0);
    assert_int_equal(desired_build(cfg, &ev, &d, &err), 0);
    assert_int_equal(plan_hashes(&d, rec, &err), 0);
    rec->workspace_id = strdup("ws-a");
    rec->version = r->ev.version;
    rec->event_id = strdup(ev.event_id);
    rec->status = PROV_SUCCEEDED;
    rec->project = 1;
    rec->flyte = d.flyte_wanted;
    rec->complete = !r->incomplete;
    if (r->unrenderable) {
        char stub[128];
        snprintf(stub, sizeof(stub),
                 "{\"workspace_version\":%lld,\"workspace\":{"
                 "\"workspace_id\":\"ws-a\"}}",
                 r->ev.version);
        rec->event = strdup(stub);
    } else {
        rec->event = json_dumps(j, JSON_COMPACT);
    }
    for (size_t i = 0; i < 2 && d.flyte_wanted; i++)
        if (r->ns_uids[i])
            assert_int_equal(
                wsstate_set_namespace_uid(rec, d.domains[i].namespace_name, r->ns_uids[i]), 0);
    desired_fini(&d);
    ws_event_fini(&ev);
    json_decref(j);
}

/* Everything a case parsed, released at the end. */
typedef struct held {
    json_t *objs[32];
    size_t n;
} held;

static json_t *parse(held *h, const char *text)
{
    json_error_t jerr;
    json_t *v;

    if (text == NULL)
        return NULL;
    v = json_loads(text, 0, &jerr);
    if (v == NULL)
        fail_msg("bad JSON in the table: %s at %d: %.80s", jerr.text, jerr.position, text);
    assert_true(h->n < sizeof(h->objs) / sizeof(h->objs[0]));
    h->objs[h->n++] = v;
    return v;
}

typedef struct live_set {
    uint64_t ids[4];
    const json_t *objs[4];
    size_t n;
} live_set;

static int live_lookup(void *ud, uint64_t id, const json_t **live)
{
    const live_set *ls = ud;

    for (size_t i = 0; i < ls->n; i++)
        if (ls->ids[i] == id) {
            *live = ls->objs[i];
            return 1;
        }
    return 0;
}

static const json_t *manifest_of(const desired *d, uint64_t id)
{
    const json_t *m;
    size_t j;

    for (size_t i = 0; i <= d->n_domains; i++) {
        json_t *objs = i < d->n_domains ? d->domains[i].objects : d->cluster_objects;
        json_array_foreach(objs, j, m)
        {
            if (plan_manifest_id(m) == id)
                return m;
        }
    }
    return NULL;
}

static json_t *live_object(held *h, const desired *d, const obj_spec *o, uint64_t id)
{
    json_t *patch = parse(h, o->json), *live;

    if (!o->rendered)
        return patch;
    assert_non_null(manifest_of(d, id));
    live = json_deep_copy(manifest_of(d, id));
    assert_int_equal(json_object_update_recursive(live, patch), 0);
    assert_true(h->n < sizeof(h->objs) / sizeof(h->objs[0]));
    h->objs[h->n++] = live;
    return live;
}

static void line_add(char lines[][512], size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void line_add(char lines[][512], size_t *n, const char *fmt, ...)
{
    va_list ap;

    assert_true(*n < 4 * MAX_STEPS);
    va_start(ap, fmt);
    vsnprintf(lines[*n], 512, fmt, ap);
    va_end(ap);
    (*n)++;
}

static size_t render_steps(const plan *p, unsigned show, char lines[][512])
{
    size_t n = 0;

    for (size_t i = 0; i < p->n_steps; i++) {
        const plan_step *s = &p->steps[i];
        char level[8] = "", uid[96] = "", writer[96] = "", note[160] = "";
        size_t k;
        json_t *c;

        if (show & SHOW_LEVEL)
            snprintf(level, sizeof(level), "L%d ", s->level);
        if ((show & SHOW_UID) && s->uid)
            snprintf(uid, sizeof(uid), " uid=%s", s->uid);
        if ((show & SHOW_WRITER) && s->writer)
            snprintf(writer, sizeof(writer), " by %s", s->writer);
        if ((show & SHOW_NOTE) && s->note)
            snprintf(note, sizeof(note), " (%s)", s->note);
        line_add(lines, &n, "%s%s %s %s%s%s%s%s%s", level, plan_op_names[s->op], s->kind,
                 s->ns ? s->ns : "", s->ns ? "/" : "", s->name, uid, writer, note);
        if (show & SHOW_CHANGES)
            json_array_foreach(s->changes, k, c) line_add(lines, &n, "  %s", json_string_value(c));
    }
    return n;
}

/* What holds of every plan: a body exactly for writes, levels in range,
 * changes only on updates. */
static void check_invariants(const plan *p)
{
    size_t counts[PLAN_KEEP + 1];

    for (size_t i = 0; i < p->n_steps; i++) {
        const plan_step *s = &p->steps[i];
        int writes = s->op == PLAN_CREATE || s->op == PLAN_UPDATE;
        assert_int_equal(s->want != NULL, writes);
        assert_in_range(s->level, 0, PLAN_LEVELS - 1);
        assert_true(s->changes == NULL || s->op == PLAN_UPDATE);
        assert_non_null(s->kind);
        assert_non_null(s->name);
    }
    plan_count(p, counts);
    assert_int_equal(counts[0] + counts[1] + counts[2] + counts[3], p->n_steps);
}

static void check_steps(const plan_case *tc, const plan *p)
{
    static char lines[4 * MAX_STEPS][512];
    size_t n = render_steps(p, tc->show, lines), want = 0;
    int same;

    while (want < MAX_STEPS && tc->steps[want])
        want++;
    same = n == want;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(lines[i], tc->steps[i]) == 0;
    if (same)
        return;
    for (size_t i = 0; i < n || i < want; i++)
        print_error("%c %-70s | %s\n",
                    i < n && i < want && !strcmp(lines[i], tc->steps[i]) ? ' ' : '!',
                    i < want ? tc->steps[i] : "", i < n ? lines[i] : "");
    fail_msg("%s: steps differ (expected | planned)", tc->name);
}

static const char *str_or(const char *s)
{
    return s ? s : "(null)";
}

static void run_case(void **state)
{
    const plan_case *tc = *state;
    char path[512], *report = NULL, lists[8] = "";
    wf_config cfg;
    wsstate rec, cur;
    ws_event ev;
    desired d, prior;
    const desired *priorp = NULL;
    held h = {.n = 0};
    live_set ls = {.n = 0};
    const json_t *namespaces[2] = {NULL}, *attributes[2] = {NULL}, *bindings[2] = {NULL},
                 *cleanup[3] = {NULL};
    plan_view v = {0};
    plan_input in = {0};
    uint64_t ids[4];
    size_t n_ids = 0;
    int need[2] = {0};
    plan p;
    wf_err err;

    wf_err_init(&err);
    snprintf(path, sizeof(path), "%s/config/two-domains.yaml", WSFLYTE_TEST_DATA);
    assert_int_equal(wf_config_load(&cfg, path, NULL, &report, &err), 0);
    free(report);
    wsstate_init(&rec);
    if (tc->rec.present)
        record_build(&cfg, &tc->rec, &rec);
    if (tc->mode == PLAN_FOR_REPAIR) {
        assert_int_equal(wsstate_event_of(&rec, &ev, &err), 0);
        assert_int_equal(plan_render_record(&cfg, &rec, &d, &err), 0);
    } else {
        event_build(&tc->ev, &ev);
        assert_int_equal(desired_build(&cfg, &ev, &d, &err), 0);
    }
    assert_int_equal(plan_hashes(&d, &cur, &err), 0);

    in.mode = tc->mode;
    in.cfg = &cfg;
    in.ev = &ev;
    in.d = &d;
    in.cur = &cur;
    in.record = tc->rec.present ? &rec : NULL;
    in.own_upto = tc->own_upto ? tc->own_upto : -1;
    for (size_t i = 0; i < 4 && tc->ids[i].kind; i++)
        ids[n_ids++] =
            plan_object_id(tc->ids[i].api_version, tc->ids[i].kind, tc->ids[i].ns, tc->ids[i].name);
    in.ids = ids;
    in.n_ids = n_ids;
    in.all_k8s = tc->all_k8s;
    in.flyte = tc->flyte;

    v.project_read = tc->project_read;
    v.project = parse(&h, tc->project);
    v.namespaces_read = tc->namespaces_read;
    v.attributes_read = tc->attributes_read;
    for (size_t i = 0; i < 2; i++) {
        namespaces[i] = parse(&h, tc->namespaces[i]);
        attributes[i] = parse(&h, tc->attributes[i]);
        bindings[i] = parse(&h, tc->bindings[i]);
    }
    v.namespaces = namespaces;
    v.attributes = attributes;
    v.bindings = bindings;
    for (size_t i = 0; i < 3; i++)
        cleanup[i] = parse(&h, tc->cleanup[i]);
    v.cleanup = cleanup;
    if (!d.flyte_wanted)
        assert_true(json_array_size(d.cleanup) <= 3);
    else
        assert_int_equal(d.n_domains, 2);
    for (size_t i = 0; i < 4 && tc->objects[i].kind; i++) {
        const obj_spec *o = &tc->objects[i];
        ls.ids[i] = plan_object_id(o->api_version, o->kind, o->ns, o->name);
        ls.objs[i] = live_object(&h, &d, o, ls.ids[i]);
        ls.n++;
    }
    if (ls.n) {
        v.object = live_lookup;
        v.object_ud = &ls;
    }

    /* The record alone decides stale and duplicate, as an event's path
     * asks it before reading anything; the record's event is rendered only
     * when the record names objects the event dropped. */
    assert_int_equal(plan_needs_prior(&in), tc->needs_prior);
    if (plan_needs_prior(&in) && plan_render_record(&cfg, &rec, &prior, &err) == 0)
        priorp = &prior;
    assert_true(priorp != NULL || !tc->needs_prior || tc->rec.unrenderable);
    wf_err_init(&err);
    plan_init(&p);
    if (tc->mode == PLAN_FOR_EVENT && in.record &&
        plan_stale_by_record(in.record, ev.workspace_version))
        p.verdict = PLAN_STALE;
    else if (tc->mode == PLAN_FOR_EVENT && plan_duplicate(in.record, ev.workspace_version, &cur))
        p.verdict = PLAN_DUPLICATE;
    else
        assert_int_equal(plan_make(&in, &v, priorp, &p, &err), 0);
    if (tc->lists) {
        plan_lists_needed(&in, &v, priorp, need);
        snprintf(lists, sizeof(lists), "%d%d", need[0], need[1]);
        assert_string_equal(lists, tc->lists);
    }

    assert_int_equal(p.verdict, tc->verdict);
    assert_int_equal(p.err.cls, tc->cls);
    if (tc->code)
        assert_string_equal(p.err.code, tc->code);
    if (tc->verdict == PLAN_STALE || tc->verdict == PLAN_SUPERSEDED) {
        assert_int_equal(p.newer, tc->newer ? tc->newer : -1);
        if (tc->where)
            assert_string_equal(p.where, tc->where);
    }
    assert_int_equal(p.answer.status, tc->status);
    assert_string_equal(str_or(p.answer.reason), str_or(tc->reason));
    check_invariants(&p);
    check_steps(tc, &p);

    plan_fini(&p);
    if (priorp)
        desired_fini(&prior);
    for (size_t i = 0; i < h.n; i++)
        json_decref(h.objs[i]);
    wsstate_fini(&cur);
    desired_fini(&d);
    ws_event_fini(&ev);
    wsstate_fini(&rec);
    wf_config_fini(&cfg);
}

/* ---- a few checks outside the table ---- */

/* A record of the same desired state at the same version is a duplicate
 * only while complete and only at that version. */
static void duplicate_needs_a_complete_record_of_the_same_digest(void **state)
{
    char path[512], *report = NULL;
    const rec_spec same = {1, {2, NULL, TWO, 0}, 0, 0, {NULL, NULL}};
    wf_config cfg;
    wsstate rec, cur;
    ws_event ev;
    desired d;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    snprintf(path, sizeof(path), "%s/config/two-domains.yaml", WSFLYTE_TEST_DATA);
    assert_int_equal(wf_config_load(&cfg, path, NULL, &report, &err), 0);
    free(report);
    wsstate_init(&rec);
    record_build(&cfg, &same, &rec);
    event_build(&(ev_spec){2, NULL, TWO, 0}, &ev);
    assert_int_equal(desired_build(&cfg, &ev, &d, &err), 0);
    assert_int_equal(plan_hashes(&d, &cur, &err), 0);

    assert_true(plan_duplicate(&rec, 2, &cur));
    assert_false(plan_duplicate(&rec, 3, &cur));
    assert_false(plan_duplicate(NULL, 2, &cur));
    assert_false(plan_stale_by_record(&rec, 2));
    assert_true(plan_stale_by_record(&rec, 1));
    assert_false(plan_stale_by_record(NULL, 1));
    rec.digest ^= 1;
    assert_false(plan_duplicate(&rec, 2, &cur));
    rec.digest ^= 1;
    rec.complete = 0;
    assert_false(plan_duplicate(&rec, 2, &cur));

    wsstate_fini(&cur);
    desired_fini(&d);
    ws_event_fini(&ev);
    wsstate_fini(&rec);
    wf_config_fini(&cfg);
}

/* ---- kubernetes.clusters ---- */

static void fleet_config(wf_config *cfg)
{
    static const char *const names[] = {"east-1", "west-2"};
    char path[512], *report = NULL;
    wf_err err;

    wf_err_init(&err);
    snprintf(path, sizeof(path), "%s/config/two-domains.yaml", WSFLYTE_TEST_DATA);
    assert_int_equal(wf_config_load(cfg, path, NULL, &report, &err), 0);
    free(report);
    cfg->kubernetes.clusters = calloc(2, sizeof(*cfg->kubernetes.clusters));
    for (size_t i = 0; i < 2; i++) {
        wf_cluster *c = &cfg->kubernetes.clusters[i];
        c->name = strdup(names[i]);
        c->api_url = strdup("http://127.0.0.1:1");
        c->token_file = strdup("");
        c->ca_file = strdup("");
        c->qps = 50;
        c->burst = 100;
        c->weight = 1;
        c->oidc_provider = strdup("");
    }
    cfg->kubernetes.n_clusters = 2;
}

/* Step lines with the cluster: "L<level> c<cluster> <op> <kind> <ns/>name". */
static void check_fleet_steps(const char *name, const plan *p, const char *const *want)
{
    static char lines[MAX_STEPS][512];
    size_t n = 0, k = 0;
    int same;

    for (size_t i = 0; i < p->n_steps && n < MAX_STEPS; i++, n++) {
        const plan_step *s = &p->steps[i];
        snprintf(lines[n], sizeof(lines[n]), "L%d c%d %s %s %s%s%s%s%s", s->level, s->cluster,
                 plan_op_names[s->op], s->kind, s->ns ? s->ns : "", s->ns ? "/" : "", s->name,
                 s->uid ? " uid=" : "", s->uid ? s->uid : "");
    }
    while (want[k])
        k++;
    same = n == k;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(lines[i], want[i]) == 0;
    if (same)
        return;
    for (size_t i = 0; i < n || i < k; i++)
        print_error("%c %-70s | %s\n", i < n && i < k && !strcmp(lines[i], want[i]) ? ' ' : '!',
                    i < k ? want[i] : "", i < n ? lines[i] : "");
    fail_msg("%s: steps differ (expected | planned)", name);
}

#define FLEET_CONTENT(lc, op, ns)                                                                  \
    lc " " op " ResourceQuota " ns "/workspace-quota",                                             \
        lc " " op " LimitRange " ns "/workspace-defaults",                                         \
        lc " " op " NetworkPolicy " ns "/workspace-isolation",                                     \
        lc " " op " ServiceAccount " ns "/workspace-runner",                                       \
        lc " " op " Role " ns "/workspace-owner", lc " " op " Role " ns "/workspace-contributor",  \
        lc " " op " Role " ns "/workspace-viewer", lc " " op " RoleBinding " ns "/" RB_ALICE,      \
        lc " " op " RoleBinding " ns "/" RB_BOB

/* A new workspace placed on west-2: its namespaces and their content go
 * there, the authz ConfigMap to the control plane, and each domain gets
 * EXECUTION_CLUSTER_LABEL next to its WORKFLOW_EXECUTION_CONFIG. */
static void placement_puts_the_namespaces_on_the_cluster(void **state)
{
    const ev_spec e = {1, "WORKSPACE_CREATED", TWO, 0};
    static const char *const want[] = {"L0 c-1 create FlyteProject ws-a",
                                       "L2 c-1 create ProjectDomainAttributes ws-a/development",
                                       "L2 c-1 create ExecutionClusterLabel ws-a/development",
                                       "L1 c1 create Namespace " DEV,
                                       FLEET_CONTENT("L2 c1", "create", DEV),
                                       "L2 c-1 create ProjectDomainAttributes ws-a/production",
                                       "L2 c-1 create ExecutionClusterLabel ws-a/production",
                                       "L1 c1 create Namespace " PROD,
                                       FLEET_CONTENT("L2 c1", "create", PROD),
                                       "L2 c-1 update ConfigMap " AUTHZ,
                                       NULL};
    const json_t *namespaces[2] = {NULL}, *none[2] = {NULL};
    wf_config cfg;
    wsstate cur;
    ws_event ev;
    desired d;
    plan_view v = {0};
    plan_input in = {0};
    plan p;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    fleet_config(&cfg);
    event_build(&e, &ev);
    assert_int_equal(desired_build_on(&cfg, &ev, 1, &d, &err), 0);
    assert_int_equal(plan_hashes(&d, &cur, &err), 0);
    in = (plan_input){.mode = PLAN_FOR_EVENT,
                      .cfg = &cfg,
                      .ev = &ev,
                      .d = &d,
                      .cur = &cur,
                      .own_upto = -1,
                      .from_cluster = -1};
    v.project_read = 1;
    v.namespaces_read = 1;
    v.namespaces = namespaces;
    v.bindings = none;
    plan_init(&p);
    assert_int_equal(plan_make(&in, &v, NULL, &p, &err), 0);
    assert_int_equal(p.verdict, PLAN_PROCEED);
    assert_int_equal(p.err.cls, WF_OK);
    check_invariants(&p);
    check_fleet_steps("placement", &p, want);
    plan_fini(&p);
    wsstate_fini(&cur);
    desired_fini(&d);
    ws_event_fini(&ev);
    wf_config_fini(&cfg);
}

/* A move from east-1 to west-2 (planned without the record, which vouches
 * for nothing on west-2): everything is created on west-2, the attributes
 * and the cluster label written, and only then, at the last level, the
 * workspace's own namespaces deleted on east-1 with their uids; a
 * namespace of the same name there that is not wsflyte's stays. */
static void a_move_creates_on_the_new_cluster_then_deletes_on_the_old(void **state)
{
    const ev_spec e = {3, NULL, TWO, 0};
    static const char *const want[] = {"L1 c-1 update FlyteProject ws-a",
                                       "L2 c-1 update ProjectDomainAttributes ws-a/development",
                                       "L2 c-1 update ExecutionClusterLabel ws-a/development",
                                       "L1 c1 create Namespace " DEV,
                                       FLEET_CONTENT("L2 c1", "create", DEV),
                                       "L2 c-1 update ProjectDomainAttributes ws-a/production",
                                       "L2 c-1 update ExecutionClusterLabel ws-a/production",
                                       "L1 c1 create Namespace " PROD,
                                       FLEET_CONTENT("L2 c1", "create", PROD),
                                       "L2 c-1 update ConfigMap " AUTHZ,
                                       "L3 c0 delete Namespace " DEV " uid=" UID_DEV,
                                       "L3 c0 unchanged Namespace " PROD,
                                       NULL};
    held h = {.n = 0};
    const json_t *namespaces[2] = {NULL}, *none[2] = {NULL}, *old[2];
    wf_config cfg;
    wsstate cur;
    ws_event ev;
    desired d;
    plan_view v = {0};
    plan_input in;
    plan p;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    fleet_config(&cfg);
    event_build(&e, &ev);
    assert_int_equal(desired_build_on(&cfg, &ev, 1, &d, &err), 0);
    assert_int_equal(plan_hashes(&d, &cur, &err), 0);
    in = (plan_input){.mode = PLAN_FOR_EVENT,
                      .cfg = &cfg,
                      .ev = &ev,
                      .d = &d,
                      .cur = &cur,
                      .own_upto = -1,
                      .from_cluster = 0};
    v.project_read = 1;
    v.project = parse(&h, PROJECT("2", "ACTIVE"));
    v.namespaces_read = 1;
    v.namespaces = namespaces;
    v.bindings = none;
    old[0] = parse(&h, NS_OURS("development", UID_DEV, "2"));
    old[1] = parse(&h, NS_FOREIGN("production"));
    v.old_namespaces_read = 1;
    v.old_namespaces = old;
    plan_init(&p);
    assert_int_equal(plan_make(&in, &v, NULL, &p, &err), 0);
    assert_int_equal(p.verdict, PLAN_PROCEED);
    assert_int_equal(p.err.cls, WF_OK);
    assert_int_equal(p.answer.present, 1);
    check_invariants(&p);
    check_fleet_steps("move", &p, want);
    /* The cluster label's body names the new cluster. */
    for (size_t i = 0; i < p.n_steps; i++)
        if (strcmp(p.steps[i].kind, "ExecutionClusterLabel") == 0)
            assert_string_equal(
                json_string_value(json_object_get(
                    json_object_get(json_object_get(p.steps[i].want, "matching_attributes"),
                                    "execution_cluster_label"),
                    "value")),
                "west-2");
    plan_fini(&p);

    /* The same workspace already on west-2 with nothing left to delete
     * plans no level 3 write. */
    old[0] = NULL;
    old[1] = NULL;
    plan_init(&p);
    assert_int_equal(plan_make(&in, &v, NULL, &p, &err), 0);
    for (size_t i = 0; i < p.n_steps; i++)
        if (p.steps[i].level == PLAN_LEVEL_OLD_CLUSTER)
            assert_int_equal(p.steps[i].op, PLAN_KEEP);
    plan_fini(&p);

    for (size_t i = 0; i < h.n; i++)
        json_decref(h.objs[i]);
    wsstate_fini(&cur);
    desired_fini(&d);
    ws_event_fini(&ev);
    wf_config_fini(&cfg);
}

/* A deletion of a workspace whose move left namespaces on east-1
 * (moving_from): its own namespaces there are deleted too, at the last
 * level, with their uids; one there that is not wsflyte's stays. */
static void a_deletion_also_deletes_what_a_move_left(void **state)
{
    const ev_spec e = {3, "WORKSPACE_DELETED", TWO, 0};
    held h = {.n = 0};
    const json_t *cleanup[32] = {NULL}, *old[32] = {NULL};
    wf_config cfg;
    wsstate cur;
    ws_event ev;
    desired d;
    plan_view v = {0};
    plan_input in;
    plan p;
    wf_err err;
    const json_t *entry;
    size_t i, deletes = 0, keeps = 0;

    (void)state;
    wf_err_init(&err);
    fleet_config(&cfg);
    event_build(&e, &ev);
    assert_int_equal(desired_build_on(&cfg, &ev, 1, &d, &err), 0);
    assert_true(json_array_size(d.cleanup) <= 32);
    assert_int_equal(plan_hashes(&d, &cur, &err), 0);
    in = (plan_input){.mode = PLAN_FOR_EVENT,
                      .cfg = &cfg,
                      .ev = &ev,
                      .d = &d,
                      .cur = &cur,
                      .own_upto = -1,
                      .from_cluster = 0};
    v.project_read = 1;
    v.project = parse(&h, PROJECT("2", "ACTIVE"));
    v.cleanup = cleanup;
    json_array_foreach(d.cleanup, i, entry)
    {
        const char *name = json_string_value(json_object_get(entry, "name"));
        if (strcmp(json_string_value(json_object_get(entry, "kind")), "Namespace") != 0)
            continue;
        old[i] = strcmp(name, DEV) == 0 ? parse(&h, NS_OURS("development", UID_DEV, "2"))
                                        : parse(&h, NS_FOREIGN("production"));
    }
    v.old_cleanup_read = 1;
    v.old_cleanup = old;
    plan_init(&p);
    assert_int_equal(plan_make(&in, &v, NULL, &p, &err), 0);
    assert_int_equal(p.verdict, PLAN_PROCEED);
    for (i = 0; i < p.n_steps; i++) {
        const plan_step *s = &p.steps[i];
        if (s->level != PLAN_LEVEL_OLD_CLUSTER)
            continue;
        assert_string_equal(s->kind, "Namespace");
        assert_int_equal(s->cluster, 0);
        if (s->op == PLAN_DELETE) {
            assert_string_equal(s->name, DEV);
            assert_string_equal(s->uid, UID_DEV);
            deletes++;
        } else {
            assert_int_equal(s->op, PLAN_KEEP);
            assert_string_equal(s->name, PROD);
            keeps++;
        }
    }
    assert_int_equal(deletes, 1);
    assert_int_equal(keeps, 1);
    plan_fini(&p);

    /* Without the old cluster read, nothing is planned there. */
    v.old_cleanup_read = 0;
    plan_init(&p);
    assert_int_equal(plan_make(&in, &v, NULL, &p, &err), 0);
    for (i = 0; i < p.n_steps; i++)
        assert_int_not_equal(p.steps[i].level, PLAN_LEVEL_OLD_CLUSTER);
    plan_fini(&p);

    for (i = 0; i < h.n; i++)
        json_decref(h.objs[i]);
    wsstate_fini(&cur);
    desired_fini(&d);
    ws_event_fini(&ev);
    wf_config_fini(&cfg);
}

/* The record keeps the cluster; re-rendering it places the workspace
 * there again, and the Flyte identities include the cluster labels. */
static void the_record_renders_on_its_cluster(void **state)
{
    const rec_spec r = {1, {2, NULL, TWO, 0}, 0, 0, {NULL, NULL}};
    uint64_t ids[8];
    wf_config cfg;
    wsstate rec;
    desired d;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    fleet_config(&cfg);
    wsstate_init(&rec);
    record_build(&cfg, &r, &rec);
    rec.cluster = strdup("west-2");
    assert_int_equal(plan_record_cluster(&cfg, &rec), 1);
    assert_int_equal(plan_render_record(&cfg, &rec, &d, &err), 0);
    assert_int_equal(d.cluster, 1);
    assert_non_null(d.domains[0].cluster_attributes);
    desired_fini(&d);
    free(rec.cluster);
    rec.cluster = strdup("gone-1");
    assert_int_equal(plan_record_cluster(&cfg, &rec), -1);
    assert_int_equal(plan_flyte_ids(&cfg, ids, 8), 5);
    assert_true(ids[2] == plan_cluster_attributes_id("development"));
    assert_true(ids[2] != plan_attributes_id("development"));
    wsstate_fini(&rec);
    wf_config_fini(&cfg);
}

int main(void)
{
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    struct CMUnitTest tests[N + 5];

    for (size_t i = 0; i < N; i++)
        tests[i] = (struct CMUnitTest){cases[i].name, run_case, NULL, NULL, (void *)&cases[i]};
    tests[N] =
        (struct CMUnitTest)cmocka_unit_test(duplicate_needs_a_complete_record_of_the_same_digest);
    tests[N + 1] =
        (struct CMUnitTest)cmocka_unit_test(placement_puts_the_namespaces_on_the_cluster);
    tests[N + 2] = (struct CMUnitTest)cmocka_unit_test(
        a_move_creates_on_the_new_cluster_then_deletes_on_the_old);
    tests[N + 3] = (struct CMUnitTest)cmocka_unit_test(the_record_renders_on_its_cluster);
    tests[N + 4] = (struct CMUnitTest)cmocka_unit_test(a_deletion_also_deletes_what_a_move_left);
    return _cmocka_run_group_tests("plan", tests, N + 5, NULL, NULL);
}
