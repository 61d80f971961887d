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
#include "names.h"

typedef struct fixture {
    wf_config cfg;
    json_t *seed; /* the ws-ml-prod-001 event as JSON */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char path[512];
    FILE *fp;
    char line[4096];

    wf_config_defaults(&f->cfg);
    snprintf(path, sizeof(path), "%s/events/seed.jsonl", WSFLYTE_TEST_DATA);
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    f->seed = json_loads(line, 0, NULL);
    assert_non_null(f->seed);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    json_decref(f->seed);
    wf_config_fini(&f->cfg);
    free(f);
    return 0;
}

/* Builds the desired state of the seed event after edit() changed it.
 * desired_check, which builds nothing, must decide every case alike: it is
 * what refuses an event before it reaches the dispatcher. */
static int build(fixture *f, void (*edit)(json_t *), desired *d, wf_err *err)
{
    json_t *ev_json = json_deep_copy(f->seed);
    ws_event ev;
    wf_err checked;
    int rc;

    if (edit)
        edit(ev_json);
    wf_err_init(err);
    wf_err_init(&checked);
    assert_int_equal(ws_event_from_json(ev_json, &ev, err), 0);
    rc = desired_build(&f->cfg, &ev, d, err);
    assert_int_equal(desired_check(&f->cfg, &ev, &checked), rc);
    if (rc != 0) {
        assert_int_equal(checked.cls, err->cls);
        assert_string_equal(checked.code, err->code);
        assert_string_equal(checked.msg, err->msg);
    }
    ws_event_fini(&ev);
    json_decref(ev_json);
    return rc;
}

static json_t *ws_of(json_t *ev)
{
    return json_object_get(ev, "workspace");
}

static const json_t *find_object(const json_t *objects, const char *kind, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(objects, i, o)
    {
        const char *k = json_string_value(json_object_get(o, "kind"));
        const char *n = json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
        if (strcmp(k, kind) == 0 && (name == NULL || strcmp(n, name) == 0))
            return o;
    }
    return NULL;
}

static size_t count_kind(const json_t *objects, const char *kind)
{
    size_t i, n = 0;
    json_t *o;
    json_array_foreach(objects, i, o) n +=
        strcmp(json_string_value(json_object_get(o, "kind")), kind) == 0;
    return n;
}

static void seed_gets_three_domains_with_namespace_first(void **state)
{
    fixture *f = *state;
    desired d;
    wf_err err;

    assert_int_equal(build(f, NULL, &d, &err), 0);
    assert_true(d.flyte_wanted);
    assert_int_equal(d.n_domains, 3);
    assert_string_equal(d.domains[0].namespace_name, "ws-ml-prod-001-development");
    assert_string_equal(d.domains[2].namespace_name, "ws-ml-prod-001-production");
    const json_t *first = json_array_get(d.domains[0].objects, 0);
    assert_string_equal(json_string_value(json_object_get(first, "kind")), "Namespace");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(first, "metadata"), "annotations"),
                            ANNOTATION_VERSION)),
                        "1");
    assert_string_equal(json_string_value(json_object_get(d.project, "name")),
                        "Flyte - ML Production");
    assert_string_equal(json_string_value(json_object_get(d.project, "state")), "ACTIVE");
    desired_fini(&d);
}

static void contributors_are_not_bound_in_production(void **state)
{
    fixture *f = *state;
    desired d;
    wf_err err;

    assert_int_equal(build(f, NULL, &d, &err), 0);
    assert_int_equal(count_kind(d.domains[0].objects, "RoleBinding"), 3); /* development */
    assert_int_equal(count_kind(d.domains[1].objects, "RoleBinding"), 3); /* staging */
    assert_int_equal(count_kind(d.domains[2].objects, "RoleBinding"), 2); /* production */
    assert_int_equal(json_array_size(d.domains[2].bindings), 2);
    const json_t *rb = find_object(d.domains[2].objects, "RoleBinding", NULL);
    const char *name = json_string_value(json_object_get(json_object_get(rb, "metadata"), "name"));
    assert_true(strncmp(name, "workspace-owner-alice-", 22) == 0 ||
                strncmp(name, "workspace-viewer-charlie-", 25) == 0);
    desired_fini(&d);
}

static void set_bad_id(json_t *ev)
{
    json_object_set_new(ws_of(ev), "workspace_id", json_string("../kube-system"));
}
static void set_long_id(json_t *ev)
{
    json_object_set_new(ws_of(ev), "workspace_id",
                        json_string("a234567890123456789012345678901234567890123456789012"));
}
static void set_bad_bucket(json_t *ev)
{
    json_object_set_new(ws_of(ev), "data_bucket", json_string("bucket/../../other"));
}
static void set_bad_quota(json_t *ev)
{
    json_object_set_new(ws_of(ev), "quota",
                        json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "requests_cpu", "4 cores",
                                  "requests_memory", "1Gi", "limits_cpu", "8", "limits_memory",
                                  "2Gi", "pods", 10, "persistent_volume_claims", 1));
}
static void set_newline_user(json_t *ev)
{
    json_t *m = json_array_get(json_object_get(ws_of(ev), "members"), 0);
    json_object_set_new(m, "user_id", json_string("alice\nkind: ClusterRoleBinding"));
}

static void set_system_user(json_t *ev)
{
    json_t *m = json_array_get(json_object_get(ws_of(ev), "members"), 2);
    json_object_set_new(m, "user_id", json_string("system:anonymous"));
}
static void set_upper_id(json_t *ev)
{
    json_object_set_new(ws_of(ev), "workspace_id", json_string("WS-1"));
}
static void set_huge_name(json_t *ev)
{
    char name[1100];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    json_object_set_new(ws_of(ev), "workspace_name", json_string(name));
}

static void hostile_or_invalid_fields_are_validation_errors(void **state)
{
    fixture *f = *state;
    void (*edits[])(json_t *) = {set_bad_id,       set_long_id,     set_bad_bucket, set_bad_quota,
                                 set_newline_user, set_system_user, set_upper_id,   set_huge_name};
    const char *codes[] = {"event.workspace_id", "event.workspace_id",  "event.data_bucket",
                           "event.quota",        "event.member",        "event.member",
                           "event.workspace_id", "event.workspace_name"};
    desired d;
    wf_err err;

    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        assert_int_equal(build(f, edits[i], &d, &err), -1);
        assert_int_equal(err.cls, WF_VALIDATION);
        assert_string_equal(err.code, codes[i]);
        desired_fini(&d);
    }
}

static void set_hostile_names(json_t *ev)
{
    json_object_set_new(ws_of(ev), "workspace_name",
                        json_string("x\"}\n---\nkind: Namespace\nmetadata: {name: kube-system} "
                                    "ééééééééééééééééééééééééééé"));
    json_t *m = json_array_get(json_object_get(ws_of(ev), "members"), 1);
    json_object_set_new(m, "user_id", json_string("bob\"; ../../etc: {a: [b]}"));
}

static void hostile_names_stay_data_inside_the_workspace(void **state)
{
    fixture *f = *state;
    desired d;
    wf_err err;
    size_t i, j;
    json_t *o;

    assert_int_equal(build(f, set_hostile_names, &d, &err), 0);
    const char *name = json_string_value(json_object_get(d.project, "name"));
    assert_true(strlen(name) <= 64);
    /* Kept as data, not markup; the newline is display-cleaned to a space. */
    assert_true(strncmp(name, "Flyte - x\"} ---", 15) == 0);
    assert_null(strchr(json_string_value(json_object_get(d.project, "description")), '\n'));
    for (i = 0; i < d.n_domains; i++) {
        json_array_foreach(d.domains[i].objects, j, o)
        {
            json_t *meta = json_object_get(o, "metadata");
            const char *ns = json_string_value(json_object_get(meta, "namespace"));
            const char *n = json_string_value(json_object_get(meta, "name"));
            if (ns)
                assert_string_equal(ns, d.domains[i].namespace_name);
            if (strcmp(json_string_value(json_object_get(o, "kind")), "RoleBinding") == 0)
                assert_true(names_is_dns1123_label(n, 63));
        }
    }
    desired_fini(&d);
}

static void add_member_dave(json_t *ev)
{
    json_array_append_new(json_object_get(ws_of(ev), "members"),
                          json_pack("{s:s, s:s, s:s}", "user_id", "dave", "email",
                                    "dave@company.com", "role", "VIEWER"));
}

static void set_unsorted_members(json_t *ev)
{
    json_object_set_new(
        ws_of(ev), "members",
        json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]", "user_id",
                  "zed", "email", "z@company.com", "role", "OWNER", "user_id", "alice", "email",
                  "a@company.com", "role", "VIEWER", "user_id", "Bob", "email", "b@company.com",
                  "role", "CONTRIBUTOR", "user_id", "\xc3\xa4nne", "email", "ae@company.com",
                  "role", "VIEWER"));
}

static size_t many_count, many_id_len, many_email_len;
static int many_role = -1; /* an index into ROLES; -1: in turn */
static const char *const ROLES[] = {"OWNER", "CONTRIBUTOR", "VIEWER"};

/* many_count members, ids and emails of the lengths set, the roles in
 * turn. */
static void set_many_members(json_t *ev)
{
    json_t *members = json_array();
    char id[512], email[512];

    for (size_t i = 0; i < many_count; i++) {
        snprintf(id, sizeof(id), "user-%06zu-%0*d", i, (int)many_id_len - 12, 0);
        snprintf(email, sizeof(email), "u%06zu-%0*d@company.com", i, (int)many_email_len - 20, 0);
        json_array_append_new(members,
                              json_pack("{s:s, s:s, s:s}", "user_id", id, "email", email, "role",
                                        ROLES[many_role < 0 ? i % 3 : (size_t)many_role]));
    }
    json_object_set_new(ws_of(ev), "members", members);
}

static int builds_with_members(fixture *f, size_t n, int role, size_t id_len, size_t email_len,
                               wf_err *err)
{
    desired d;
    int rc;

    many_count = n;
    many_role = role;
    many_id_len = id_len;
    many_email_len = email_len;
    rc = build(f, set_many_members, &d, err);
    desired_fini(&d);
    return rc;
}

/* The authz ConfigMap holds at most 1 MiB: the member limit is what fits
 * (the README's numbers: with ids and emails of 40 characters about 2,700
 * members in equal thirds, 1,800 owners, 4,300 viewers; at least 950
 * owners with the longest ids and emails allowed), and a larger workspace
 * is a VALIDATION error before anything is written, not an API error
 * after. */
static void authz_matrix_over_a_configmap_is_a_validation_error(void **state)
{
    fixture *f = *state;
    wf_err err;

    assert_int_equal(builds_with_members(f, 2700, -1, 40, 40, &err), 0);
    assert_int_equal(builds_with_members(f, 1800, 0, 40, 40, &err), 0);
    assert_int_equal(builds_with_members(f, 4300, 2, 40, 40, &err), 0);
    assert_int_equal(builds_with_members(f, 950, 0, 256, 320, &err), 0);
    assert_int_equal(builds_with_members(f, 10000, -1, 40, 40, &err), -1);
    assert_int_equal(err.cls, WF_VALIDATION);
    assert_string_equal(err.code, "event.limit");
    assert_non_null(strstr(err.msg, "permission matrix of 10000 members"));
    assert_non_null(strstr(err.msg, "1048576 bytes a ConfigMap (wsflyte-authz-"));
    assert_int_equal(builds_with_members(f, 1000, 0, 256, 320, &err), -1);
    assert_int_equal(err.cls, WF_VALIDATION);
    assert_string_equal(err.code, "event.limit");
}

static void set_duplicate_members(json_t *ev)
{
    json_object_set_new(
        ws_of(ev), "members",
        json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]", "user_id",
                  "bob", "email", "b1@company.com", "role", "VIEWER", "user_id", "carol", "email",
                  "c1@company.com", "role", "CONTRIBUTOR", "user_id", "bob", "email",
                  "b2@company.com", "role", "OWNER", "user_id", "carol", "email", "c2@company.com",
                  "role", "CONTRIBUTOR"));
}

/* A member listed twice counts once, with the most privileged role, the
 * first listed among equals. */
static void a_member_listed_twice_keeps_the_most_privileged_role(void **state)
{
    fixture *f = *state;
    const json_t *cm, *rb;
    json_t *doc, *members;
    desired d;
    wf_err err;

    assert_int_equal(build(f, set_duplicate_members, &d, &err), 0);
    assert_int_equal(count_kind(d.domains[0].objects, "RoleBinding"), 2); /* bob, carol */
    assert_int_equal(count_kind(d.domains[2].objects, "RoleBinding"), 1); /* bob */
    rb = find_object(d.domains[2].objects, "RoleBinding", NULL);
    assert_true(strncmp(json_string_value(json_object_get(json_object_get(rb, "metadata"), "name")),
                        "workspace-owner-bob-", 20) == 0);
    cm = find_object(d.cluster_objects, "ConfigMap", NULL);
    doc = json_loads(
        json_string_value(json_object_get(json_object_get(cm, "data"), "workspace.json")), 0, NULL);
    members = json_object_get(doc, "members");
    assert_int_equal(json_object_size(members), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(members, "bob"), "role")),
                        "OWNER");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(members, "bob"), "email")),
        "b2@company.com");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(members, "carol"), "email")),
        "c1@company.com");
    json_decref(doc);
    desired_fini(&d);
}

/* The authz document is text inside the ConfigMap: with its keys (and the
 * members, whatever their order in the event) in byte order, as it always
 * was, so the same workspace always gives the same text. */
static void authz_document_has_its_keys_in_byte_order(void **state)
{
    fixture *f = *state;
    const json_t *cm;
    const char *text;
    json_t *doc;
    char *sorted;
    desired d;
    wf_err err;

    assert_int_equal(build(f, set_unsorted_members, &d, &err), 0);
    cm = find_object(d.cluster_objects, "ConfigMap", NULL);
    assert_non_null(cm);
    text = json_string_value(json_object_get(json_object_get(cm, "data"), "workspace.json"));
    assert_non_null(text);
    doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_object_size(json_object_get(doc, "members")), 4);
    sorted = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, sorted);
    assert_true(strstr(text, "{\"members\":{\"Bob\":{\"domains\":") == text);
    free(sorted);
    json_decref(doc);
    desired_fini(&d);
}

static void digest_changes_with_the_desired_state_only(void **state)
{
    fixture *f = *state;
    char a[DESIRED_DIGEST_LEN + 1], b[DESIRED_DIGEST_LEN + 1], c[DESIRED_DIGEST_LEN + 1];
    desired d;
    wf_err err;

    assert_int_equal(build(f, NULL, &d, &err), 0);
    desired_digest(&d, a);
    desired_fini(&d);
    assert_int_equal(build(f, NULL, &d, &err), 0);
    desired_digest(&d, b);
    desired_fini(&d);
    assert_int_equal(build(f, add_member_dave, &d, &err), 0);
    desired_digest(&d, c);
    desired_fini(&d);
    assert_int_equal(strlen(a), DESIRED_DIGEST_LEN);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
}

static void drop_flyte(json_t *ev)
{
    json_object_set_new(ws_of(ev), "services", json_pack("[s,s]", "sagemaker", "emr"));
}
static void make_delete(json_t *ev)
{
    json_object_set_new(ev, "event_type", json_string("WORKSPACE_DELETED"));
}

static void flyte_absent_or_deleted_wants_nothing(void **state)
{
    fixture *f = *state;
    desired d;
    wf_err err;

    assert_int_equal(build(f, drop_flyte, &d, &err), 0);
    assert_false(d.flyte_wanted);
    assert_int_equal(d.n_domains, 0);
    desired_fini(&d);
    assert_int_equal(build(f, make_delete, &d, &err), 0);
    assert_false(d.flyte_wanted);
    desired_fini(&d);
}

static void network_policy_allows_dns_and_selects_unforgeable_labels(void **state)
{
    fixture *f = *state;
    desired d;
    wf_err err;

    assert_int_equal(build(f, NULL, &d, &err), 0);
    const json_t *np = find_object(d.domains[0].objects, "NetworkPolicy", "workspace-isolation");
    assert_non_null(np);
    char *text = json_dumps(np, JSON_COMPACT);
    assert_non_null(strstr(text, "\"kubernetes.io/metadata.name\":\"flyte\""));
    assert_non_null(strstr(text, "\"protocol\":\"UDP\",\"port\":53"));
    assert_non_null(strstr(text, "\"protocol\":\"TCP\",\"port\":443"));
    assert_null(strstr(text, "\"name\":\"flyte-system\""));
    free(text);
    desired_fini(&d);
}

static void iam_role_names_fit_iam_limits(void **state)
{
    fixture *f = *state;
    desired d;
    wf_err err;

    json_object_set_new(ws_of(f->seed), "workspace_id",
                        json_string("a23456789012345678901234567890123456789012345678901"));
    assert_int_equal(build(f, NULL, &d, &err), 0);
    const json_t *sa = find_object(d.domains[0].objects, "ServiceAccount", "workspace-runner");
    const char *arn = json_string_value(
        json_object_get(json_object_get(json_object_get(sa, "metadata"), "annotations"),
                        "eks.amazonaws.com/role-arn"));
    const char *role = strstr(arn, ":role/") + 6;
    assert_true(strlen(role) <= 64);
    assert_true(strncmp(role, "FlyteWorkspace-a2345", 20) == 0);
    desired_fini(&d);
}

/* ACK objects: Kubernetes names are DNS-1123 (IAM names may have capitals);
 * the role trusts the cluster's OIDC provider for exactly the workspace's
 * runner service accounts, and its policy covers the data bucket only. */
static void ack_objects_have_valid_names_and_trust_only_the_runners(void **state)
{
    fixture *f = *state;
    desired d;
    wf_err err;
    const char *oidc = "oidc.eks.eu-west-1.amazonaws.com/id/ABC123";

    f->cfg.aws.ack_enabled = 1;
    free(f->cfg.aws.oidc_provider);
    f->cfg.aws.oidc_provider = strdup(oidc);
    assert_int_equal(build(f, NULL, &d, &err), 0);
    const json_t *role = NULL, *policy = NULL, *o;
    size_t i;
    json_array_foreach(d.cluster_objects, i, o)
    {
        const char *av = json_string_value(json_object_get(o, "apiVersion"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        if (strcmp(av, "iam.services.k8s.aws/v1alpha1") != 0)
            continue;
        if (strcmp(kind, "Role") == 0)
            role = o;
        else if (strcmp(kind, "Policy") == 0)
            policy = o;
    }
    assert_non_null(role);
    assert_non_null(policy);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(role, "metadata"), "name")),
        "wsflyte-ws-ml-prod-001");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(policy, "metadata"), "name")),
        "wsflyte-ws-ml-prod-001-data");
    assert_string_equal(json_string_value(json_object_get(json_object_get(role, "spec"), "name")),
                        "FlyteWorkspace-ws-ml-prod-001-Role");

    json_t *trust = json_loads(json_string_value(json_object_get(json_object_get(role, "spec"),
                                                                 "assumeRolePolicyDocument")),
                               0, NULL);
    assert_non_null(trust);
    json_t *st = json_array_get(json_object_get(trust, "Statement"), 0);
    assert_string_equal(json_string_value(json_object_get(st, "Action")),
                        "sts:AssumeRoleWithWebIdentity");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(st, "Principal"), "Federated")),
        "arn:aws:iam::000000000000:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC123");
    json_t *eq = json_object_get(json_object_get(st, "Condition"), "StringEquals");
    assert_string_equal(
        json_string_value(json_object_get(eq, "oidc.eks.eu-west-1.amazonaws.com/id/ABC123:aud")),
        "sts.amazonaws.com");
    json_t *subs = json_object_get(eq, "oidc.eks.eu-west-1.amazonaws.com/id/ABC123:sub");
    assert_int_equal(json_array_size(subs), 3);
    assert_string_equal(json_string_value(json_array_get(subs, 0)),
                        "system:serviceaccount:ws-ml-prod-001-development:workspace-runner");
    assert_string_equal(json_string_value(json_array_get(subs, 2)),
                        "system:serviceaccount:ws-ml-prod-001-production:workspace-runner");
    json_decref(trust);

    json_t *doc = json_loads(
        json_string_value(json_object_get(json_object_get(policy, "spec"), "policyDocument")), 0,
        NULL);
    json_t *res = json_object_get(json_array_get(json_object_get(doc, "Statement"), 0), "Resource");
    assert_string_equal(json_string_value(json_array_get(res, 0)),
                        "arn:aws:s3:::ws-ml-prod-001-data");
    assert_string_equal(json_string_value(json_array_get(res, 1)),
                        "arn:aws:s3:::ws-ml-prod-001-data/*");
    json_decref(doc);
    desired_fini(&d);
}

/* ---- allocation failures ---- */

static size_t allocs, fail_at; /* fail_at 0: never fail */

static void *failing_malloc(size_t n)
{
    return ++allocs == fail_at ? NULL : malloc(n);
}

/* Everything d holds, as one text; "" for a NULL field. */
static char *dump_desired(const desired *d)
{
    json_t *doc = json_pack("{s:b, s:s?, s:O?, s:O?, s:s?, s:O?, s:O?, s:[]}", "flyte_wanted",
                            d->flyte_wanted, "project_id", d->project_id, "project", d->project,
                            "cluster_objects", d->cluster_objects, "console_url", d->console_url,
                            "archive", d->archive, "cleanup", d->cleanup, "domains");
    char *text;

    assert_non_null(doc);
    for (size_t i = 0; i < d->n_domains; i++)
        assert_int_equal(json_array_append_new(json_object_get(doc, "domains"),
                                               json_pack("{s:s?, s:s?, s:O?, s:O?, s:O?}", "domain",
                                                         d->domains[i].domain, "namespace",
                                                         d->domains[i].namespace_name, "attributes",
                                                         d->domains[i].attributes, "objects",
                                                         d->domains[i].objects, "bindings",
                                                         d->domains[i].bindings)),
                         0);
    text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    assert_non_null(text);
    return text;
}

/* Fails jansson's 1st, 2nd, ... allocation in turn until a build no longer
 * reaches the failing one: every build either fails (out of memory) or is
 * exactly the build without failures.  A half-built desired state would
 * make pruning delete the bindings it lacks. */
static void build_fails_or_is_complete_under_every_allocation_failure(fixture *f,
                                                                      void (*edit)(json_t *))
{
    json_t *ev_json = json_deep_copy(f->seed);
    char *want, *got;
    size_t failed = 0, n;
    ws_event ev;
    desired d;
    wf_err err;

    if (edit)
        edit(ev_json);
    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(ev_json, &ev, &err), 0);
    assert_int_equal(desired_build(&f->cfg, &ev, &d, &err), 0);
    want = dump_desired(&d);
    desired_fini(&d);
    for (n = 1;; n++) {
        allocs = 0;
        fail_at = n;
        wf_err_init(&err);
        json_set_alloc_funcs(failing_malloc, free);
        int rc = desired_build(&f->cfg, &ev, &d, &err);
        json_set_alloc_funcs(malloc, free);
        if (rc != 0) {
            assert_int_equal(err.cls, WF_INTERNAL);
            assert_string_equal(err.code, "oom");
            failed++;
        } else {
            got = dump_desired(&d);
            if (strcmp(got, want) != 0) {
                size_t k = 0;
                while (got[k] == want[k])
                    k++;
                fprintf(stderr, "allocation %zu: differs at %zu: got ...%.120s\nwant ...%.120s\n",
                        n, k, got + (k > 40 ? k - 40 : 0), want + (k > 40 ? k - 40 : 0));
            }
            assert_string_equal(got, want);
            free(got);
        }
        desired_fini(&d);
        if (allocs < n)
            break; /* the build never reached the failing allocation */
    }
    assert_true(n > 10);
    assert_true(failed > 10);
    free(want);
    ws_event_fini(&ev);
    json_decref(ev_json);
}

static void enable_ack(fixture *f)
{
    f->cfg.aws.ack_enabled = 1;
    free(f->cfg.aws.oidc_provider);
    f->cfg.aws.oidc_provider = strdup("oidc.eks.eu-west-1.amazonaws.com/id/ABC123");
}

static void present_build_fails_or_is_complete_when_memory_runs_out(void **state)
{
    fixture *f = *state;
    enable_ack(f);
    build_fails_or_is_complete_under_every_allocation_failure(f, NULL);
}

static void absent_build_fails_or_is_complete_when_memory_runs_out(void **state)
{
    fixture *f = *state;
    enable_ack(f);
    build_fails_or_is_complete_under_every_allocation_failure(f, make_delete);
}

/* Removal names every object wsflyte would have created, namespaces first,
 * so nothing is ever looked up (or deleted) by label. */
static void removal_names_the_rendered_objects(void **state)
{
    fixture *f = *state;
    desired d;
    wf_err err;

    enable_ack(f);
    assert_int_equal(build(f, make_delete, &d, &err), 0);
    char *text = json_dumps(d.cleanup, JSON_COMPACT);
    assert_string_equal(
        text,
        "[{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"name\":\"ws-ml-prod-001-development\"},"
        "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"name\":\"ws-ml-prod-001-staging\"},"
        "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"name\":\"ws-ml-prod-001-production\"},"
        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"wsflyte-authz-ws-ml-prod-001\","
        "\"namespace\":\"flyte\"},"
        "{\"apiVersion\":\"iam.services.k8s.aws/v1alpha1\",\"kind\":\"Role\",\"name\":"
        "\"wsflyte-ws-ml-prod-001\",\"namespace\":\"flyte\"},"
        "{\"apiVersion\":\"iam.services.k8s.aws/v1alpha1\",\"kind\":\"Policy\",\"name\":"
        "\"wsflyte-ws-ml-prod-001-data\",\"namespace\":\"flyte\"}]");
    free(text);
    desired_fini(&d);
}

static const char *ack_policy_name(const desired *d)
{
    size_t i;
    json_t *o;

    json_array_foreach(d->cluster_objects, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "kind")), "Policy") == 0)
            return json_string_value(json_object_get(json_object_get(o, "spec"), "name"));
    }
    return NULL;
}

static void set_long_id_a(json_t *ev)
{
    json_object_set_new(ws_of(ev), "workspace_id",
                        json_string("a23456789012345678901234567890123456789012345678901"));
}
static void set_long_id_b(json_t *ev)
{
    json_object_set_new(ws_of(ev), "workspace_id",
                        json_string("a23456789012345678901234567890123456789012345678902"));
}

/* Long ids share the start of their IAM role name; the hash at its end
 * keeps them apart, so the policy name must keep the whole role name. */
static void long_ids_get_distinct_ack_policy_names(void **state)
{
    fixture *f = *state;
    desired a, b;
    wf_err err;

    enable_ack(f);
    assert_int_equal(build(f, set_long_id_a, &a, &err), 0);
    assert_int_equal(build(f, set_long_id_b, &b, &err), 0);
    const char *pa = ack_policy_name(&a), *pb = ack_policy_name(&b);
    assert_non_null(pa);
    assert_non_null(pb);
    assert_string_not_equal(pa, pb);
    assert_true(strlen(pa) <= 128);
    const char *role = json_string_value(
        json_object_get(json_object_get(json_array_get(a.cluster_objects, 2), "spec"), "name"));
    assert_int_equal(strlen(role), 64);
    assert_true(strncmp(pa, role, strlen(role)) == 0);
    assert_string_equal(pa + strlen(role), "-data");
    desired_fini(&a);
    desired_fini(&b);
}

static void binding_names_of_the_rendered_form_only(void **state)
{
    fixture *f = *state;
    desired d;
    wf_err err;
    size_t i;
    json_t *n;

    assert_int_equal(build(f, NULL, &d, &err), 0);
    json_array_foreach(d.domains[0].bindings, i, n)
        assert_true(desired_is_binding_name(json_string_value(n)));
    desired_fini(&d);
    assert_false(desired_is_binding_name("ci-deployer"));
    assert_false(desired_is_binding_name("workspace-owner"));
    assert_false(desired_is_binding_name("workspace-owner-alice"));
    assert_false(desired_is_binding_name("workspace-admin-alice-2bd806c97f"));
    assert_false(desired_is_binding_name("workspace-owner-alice-2BD806C97F"));
    assert_false(desired_is_binding_name("workspace-owner-alice-2bd806c97f-x"));
    assert_true(desired_is_binding_name("workspace-viewer-u-0123456789"));
}

/* ---- the workspace budget, LimitRange defaults and workspace labels ---- */

static const char *hard_of(const desired_domain *dd, const char *key)
{
    const json_t *q = find_object(dd->objects, "ResourceQuota", "workspace-quota");
    return json_string_value(
        json_object_get(json_object_get(json_object_get(q, "spec"), "hard"), key));
}

static void set_quota_20_cpu(json_t *ev)
{
    json_object_set_new(ws_of(ev), "quota",
                        json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "requests_cpu", "20",
                                  "requests_memory", "10000000001", "limits_cpu", "1",
                                  "limits_memory", "40Gi", "pods", 10, "persistent_volume_claims",
                                  3));
}

static void set_workspace_scope(fixture *f)
{
    f->cfg.kubernetes.quota_scope = WF_QUOTA_WORKSPACE;
}

/* With quota_scope workspace the event's quota is the total: 1:1:2 gives
 * 5, 5 and 10 of 20 CPUs, each share rounded down to millicores, bytes and
 * counts. */
static void workspace_scope_splits_the_quota_by_weight(void **state)
{
    fixture *f = *state;
    const char *want[3][6] = {
        {"5", "2500000000", "250m", "10Gi", "2", "0"},
        {"5", "2500000000", "250m", "10Gi", "2", "0"},
        {"10", "5000000000", "500m", "20Gi", "5", "1"},
    };
    const char *keys[6] = {"requests.cpu", "requests.memory",       "limits.cpu", "limits.memory",
                           "pods",         "persistentvolumeclaims"};
    desired d;
    wf_err err;

    set_workspace_scope(f);
    assert_int_equal(build(f, set_quota_20_cpu, &d, &err), 0);
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < 6; k++)
            assert_string_equal(hard_of(&d.domains[i], keys[k]), want[i][k]);
    desired_fini(&d);
    /* The default quota is a workspace total too. */
    assert_int_equal(build(f, NULL, &d, &err), 0);
    assert_string_equal(hard_of(&d.domains[0], "requests.cpu"), "5");
    assert_string_equal(hard_of(&d.domains[2], "requests.memory"), "20Gi");
    assert_string_equal(hard_of(&d.domains[1], "limits.cpu"), "10");
    assert_string_equal(hard_of(&d.domains[2], "pods"), "50");
    desired_fini(&d);
}

/* The default scope gives every namespace the whole quota, as written. */
static void namespace_scope_gives_each_namespace_the_whole_quota(void **state)
{
    fixture *f = *state;
    desired d;
    wf_err err;

    assert_int_equal(build(f, set_quota_20_cpu, &d, &err), 0);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(hard_of(&d.domains[i], "requests.cpu"), "20");
        assert_string_equal(hard_of(&d.domains[i], "requests.memory"), "10000000001");
        assert_string_equal(hard_of(&d.domains[i], "pods"), "10");
    }
    desired_fini(&d);
}

static void set_huge_quota(json_t *ev)
{
    json_object_set_new(ws_of(ev), "quota",
                        json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "requests_cpu", "1",
                                  "requests_memory", "9Ei", "limits_cpu", "1", "limits_memory",
                                  "1Gi", "pods", 1, "persistent_volume_claims", 1));
}

static void quota_too_large_to_split_is_a_validation_error(void **state)
{
    fixture *f = *state;
    desired d;
    wf_err err;

    set_workspace_scope(f);
    assert_int_equal(build(f, set_huge_quota, &d, &err), -1);
    assert_int_equal(err.cls, WF_VALIDATION);
    assert_string_equal(err.code, "event.quota");
    if (strstr(err.msg, "workspace.quota.requests_memory \"9Ei\"") == NULL)
        fail_msg("%s", err.msg);
    desired_fini(&d);
}

static void limit_range_gives_containers_the_configured_defaults(void **state)
{
    fixture *f = *state;
    desired d;
    wf_err err;

    free(f->cfg.kubernetes.limit_default_cpu);
    f->cfg.kubernetes.limit_default_cpu = strdup("1500m");
    assert_int_equal(build(f, NULL, &d, &err), 0);
    for (size_t i = 0; i < d.n_domains; i++) {
        const json_t *objs = d.domains[i].objects;
        const json_t *lr = find_object(objs, "LimitRange", "workspace-defaults");
        const json_t *limit =
            json_array_get(json_object_get(json_object_get(lr, "spec"), "limits"), 0);
        assert_non_null(lr);
        assert_ptr_equal(json_array_get(objs, 2), lr); /* right after the ResourceQuota */
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(lr, "metadata"), "namespace")),
            d.domains[i].namespace_name);
        assert_string_equal(json_string_value(json_object_get(limit, "type")), "Container");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(limit, "default"), "cpu")), "1500m");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(limit, "default"), "memory")), "2Gi");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(limit, "defaultRequest"), "cpu")),
            "100m");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(limit, "defaultRequest"), "memory")),
            "256Mi");
        assert_string_equal(
            json_string_value(json_object_get(
                json_object_get(json_object_get(lr, "metadata"), "labels"), LABEL_WORKSPACE)),
            "ws-ml-prod-001");
    }
    desired_fini(&d);
}

static void set_team_labels(json_t *ev)
{
    json_object_set_new(ws_of(ev), "labels",
                        json_pack("{s:s, s:s, s:s}", "team", "ml", "example.com/cost-center",
                                  "CC-42", "empty", ""));
}

static const char *label(const json_t *labels, const char *key)
{
    return json_string_value(json_object_get(labels, key));
}

/* Workspace labels land on every namespace and on the project, beside
 * wsflyte's own, and nowhere else. */
static void workspace_labels_go_onto_namespaces_and_project(void **state)
{
    fixture *f = *state;
    const json_t *labels;
    desired d;
    wf_err err;

    assert_int_equal(build(f, set_team_labels, &d, &err), 0);
    for (size_t i = 0; i < d.n_domains; i++) {
        labels = json_object_get(
            json_object_get(json_array_get(d.domains[i].objects, 0), "metadata"), "labels");
        assert_string_equal(label(labels, "team"), "ml");
        assert_string_equal(label(labels, "example.com/cost-center"), "CC-42");
        assert_string_equal(label(labels, "empty"), "");
        assert_string_equal(label(labels, LABEL_MANAGED_BY), MANAGER_NAME);
        assert_string_equal(label(labels, LABEL_DOMAIN), d.domains[i].domain);
        assert_int_equal(json_object_size(labels), 6);
        labels = json_object_get(
            json_object_get(find_object(d.domains[i].objects, "ResourceQuota", NULL), "metadata"),
            "labels");
        assert_null(label(labels, "team"));
    }
    labels = json_object_get(json_object_get(d.project, "labels"), "values");
    assert_string_equal(label(labels, "team"), "ml");
    assert_string_equal(label(labels, "example.com/cost-center"), "CC-42");
    assert_string_equal(label(labels, FLYTE_LABEL_MANAGED), MANAGER_NAME);
    assert_string_equal(label(labels, FLYTE_LABEL_VERSION), "1");
    assert_int_equal(json_object_size(labels), 5);
    desired_fini(&d);
}

static const char *label_key, *label_value;

static void set_one_label(json_t *ev)
{
    json_object_set_new(ws_of(ev), "labels", json_pack("{s:s}", label_key, label_value));
}

static void set_fifteen_labels(json_t *ev)
{
    json_t *labels = json_object();
    char key[16];

    for (int i = 0; i < 15; i++) {
        snprintf(key, sizeof(key), "l%d", i);
        json_object_set_new(labels, key, json_string("v"));
    }
    json_object_set_new(ws_of(ev), "labels", labels);
}

/* Reserved prefixes (and their subdomains) keep wsflyte's and Kubernetes'
 * own labels out of the workspace's reach; malformed labels would be
 * refused by the API server and FlyteAdmin anyway. */
static void invalid_or_reserved_labels_are_validation_errors(void **state)
{
    fixture *f = *state;
    const char *bad[][2] = {
        {"team name", "x"},
        {"kubernetes.io/metadata.name", "x"},
        {"app.kubernetes.io/managed-by", "someone"},
        {"foo.k8s.io/x", "y"},
        {"k8s.io/x", "y"},
        {"wsflyte.io/workspace", "other"},
        {"a.wsflyte.io/x", "y"},
        {"managed-by", "someone"},
        {"wsflyte-workspace-version", "999"},
        {"team", "alice@company.com"},
        {"team", "-x"},
        {"Example.com/team", "x"},
    };
    const char *good[][2] = {
        {"notkubernetes.io/x", "y"}, {"kubernetes.io.example.com/x", "y"}, {"Team_1", "A.b-c_d"}};
    desired d;
    wf_err err;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        label_key = bad[i][0];
        label_value = bad[i][1];
        if (build(f, set_one_label, &d, &err) != -1)
            fail_msg("accepted label %s=%s", label_key, label_value);
        assert_int_equal(err.cls, WF_VALIDATION);
        assert_string_equal(err.code, "event.label");
        assert_non_null(strstr(err.msg, label_key));
        desired_fini(&d);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        label_key = good[i][0];
        label_value = good[i][1];
        if (build(f, set_one_label, &d, &err) != 0)
            fail_msg("refused label %s=%s: %s", label_key, label_value, err.msg);
        desired_fini(&d);
    }
    assert_int_equal(build(f, set_fifteen_labels, &d, &err), -1);
    assert_string_equal(err.code, "event.label");
    desired_fini(&d);
}

static void set_one_label_and_drop_flyte(json_t *ev)
{
    set_one_label(ev);
    drop_flyte(ev);
}

/* A workspace whose labels are bad can still be removed. */
static void bad_labels_do_not_block_removal(void **state)
{
    fixture *f = *state;
    desired d;
    wf_err err;

    label_key = "kubernetes.io/x";
    label_value = "y";
    assert_int_equal(build(f, set_one_label_and_drop_flyte, &d, &err), 0);
    assert_false(d.flyte_wanted);
    desired_fini(&d);
}

static void workspace_scope_build_fails_or_is_complete_when_memory_runs_out(void **state)
{
    fixture *f = *state;
    set_workspace_scope(f);
    build_fails_or_is_complete_under_every_allocation_failure(f, set_team_labels);
}

/* ---- kubernetes.clusters ---- */

static void add_clusters(fixture *f)
{
    static const char *const names[] = {"east-1", "west-2"};
    static const char *const oidc[] = {"oidc.eks.us-east-1.amazonaws.com/id/EAST",
                                       "oidc.eks.us-west-2.amazonaws.com/id/WEST"};

    f->cfg.kubernetes.clusters = calloc(2, sizeof(*f->cfg.kubernetes.clusters));
    for (size_t i = 0; i < 2; i++) {
        wf_cluster *c = &f->cfg.kubernetes.clusters[i];
        c->name = strdup(names[i]);
        c->api_url = strdup("http://127.0.0.1:1");
        c->token_file = strdup("");
        c->ca_file = strdup("");
        c->qps = 50;
        c->burst = 100;
        c->weight = 1;
        c->oidc_provider = strdup(oidc[i]);
    }
    f->cfg.kubernetes.n_clusters = 2;
}

static void set_cluster_label_west(json_t *ev)
{
    json_object_set_new(ws_of(ev), "labels", json_pack("{s:s}", "flyte-cluster", "west-2"));
}

static void set_cluster_label_unknown(json_t *ev)
{
    json_object_set_new(ws_of(ev), "labels", json_pack("{s:s}", "flyte-cluster", "north-9"));
}

static void set_reserved_cluster_label(json_t *ev)
{
    json_object_set_new(ws_of(ev), "labels", json_pack("{s:s}", "wsflyte-cluster", "east-1"));
}

static int build_on(fixture *f, void (*edit)(json_t *), int cluster, desired *d, wf_err *err)
{
    json_t *ev_json = json_deep_copy(f->seed);
    ws_event ev;
    int rc;

    if (edit)
        edit(ev_json);
    wf_err_init(err);
    assert_int_equal(ws_event_from_json(ev_json, &ev, err), 0);
    rc = desired_build_on(&f->cfg, &ev, cluster, d, err);
    ws_event_fini(&ev);
    json_decref(ev_json);
    return rc;
}

/* Without clusters, desired_build_on of any cluster is desired_build:
 * the same objects, the same digest, no cluster attributes. */
static void single_cluster_mode_renders_as_before(void **state)
{
    fixture *f = *state;
    desired a, b;
    char da[DESIRED_DIGEST_LEN + 1], db[DESIRED_DIGEST_LEN + 1];
    wf_err err;

    assert_int_equal(build(f, NULL, &a, &err), 0);
    assert_int_equal(build_on(f, NULL, 1, &b, &err), 0);
    assert_int_equal(a.cluster, -1);
    assert_int_equal(b.cluster, -1);
    desired_digest(&a, da);
    desired_digest(&b, db);
    assert_string_equal(da, db);
    for (size_t i = 0; i < a.n_domains; i++)
        assert_null(a.domains[i].cluster_attributes);
    assert_null(json_object_get(json_object_get(json_object_get(a.project, "labels"), "values"),
                                FLYTE_LABEL_CLUSTER));
    desired_fini(&a);
    desired_fini(&b);
}

/* On a cluster: the project's label, each domain's EXECUTION_CLUSTER_LABEL
 * attributes with the cluster's name, and the ACK Role trusting the
 * cluster's own OIDC provider; the authz ConfigMap stays a cluster object
 * (the control plane's). */
static void a_cluster_names_itself_to_flyte_and_to_iam(void **state)
{
    fixture *f = *state;
    desired d, other;
    char d1[DESIRED_DIGEST_LEN + 1], d2[DESIRED_DIGEST_LEN + 1];
    wf_err err;
    const json_t *o;
    size_t i;
    int roles = 0;

    add_clusters(f);
    enable_ack(f);
    assert_int_equal(build_on(f, NULL, 1, &d, &err), 0);
    assert_int_equal(d.cluster, 1);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(d.project, "labels"), "values"), FLYTE_LABEL_CLUSTER)),
        "west-2");
    for (i = 0; i < d.n_domains; i++) {
        const json_t *ca = d.domains[i].cluster_attributes;
        assert_non_null(ca);
        assert_string_equal(json_string_value(json_object_get(ca, "project")), "ws-ml-prod-001");
        assert_string_equal(json_string_value(json_object_get(ca, "domain")), d.domains[i].domain);
        assert_string_equal(json_string_value(json_object_get(
                                json_object_get(json_object_get(ca, "matching_attributes"),
                                                "execution_cluster_label"),
                                "value")),
                            "west-2");
    }
    json_array_foreach(d.cluster_objects, i, o)
    {
        const char *kind = json_string_value(json_object_get(o, "kind"));
        if (strcmp(kind, "Role") != 0)
            continue;
        const char *doc = json_string_value(
            json_object_get(json_object_get(o, "spec"), "assumeRolePolicyDocument"));
        assert_non_null(strstr(doc, "oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/WEST"));
        assert_null(strstr(doc, "EAST"));
        roles++;
    }
    assert_int_equal(roles, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(d.cluster_objects, 0), "kind")),
        "ConfigMap");
    /* Another cluster is another desired state. */
    assert_int_equal(build_on(f, NULL, 0, &other, &err), 0);
    desired_digest(&d, d1);
    desired_digest(&other, d2);
    assert_string_not_equal(d1, d2);
    desired_fini(&other);
    desired_fini(&d);
}

/* A placement label naming no configured cluster is refused without a
 * server, by desired_check too; wsflyte's own project label is reserved. */
static void unknown_cluster_and_reserved_cluster_label_are_validation_errors(void **state)
{
    fixture *f = *state;
    json_t *ev_json;
    ws_event ev;
    desired d;
    wf_err err;

    add_clusters(f);
    ev_json = json_deep_copy(f->seed);
    set_cluster_label_unknown(ev_json);
    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(ev_json, &ev, &err), 0);
    assert_int_equal(desired_check(&f->cfg, &ev, &err), -1);
    assert_int_equal(err.cls, WF_VALIDATION);
    assert_string_equal(err.code, "placement.unknown-cluster");
    ws_event_fini(&ev);
    json_decref(ev_json);

    ev_json = json_deep_copy(f->seed);
    set_cluster_label_west(ev_json);
    wf_err_init(&err);
    assert_int_equal(ws_event_from_json(ev_json, &ev, &err), 0);
    assert_int_equal(desired_check(&f->cfg, &ev, &err), 0);
    ws_event_fini(&ev);
    json_decref(ev_json);

    assert_int_equal(build_on(f, set_reserved_cluster_label, 0, &d, &err), -1);
    assert_int_equal(err.cls, WF_VALIDATION);
    assert_string_equal(err.code, "event.label");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(seed_gets_three_domains_with_namespace_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(contributors_are_not_bound_in_production, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_or_invalid_fields_are_validation_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(hostile_names_stay_data_inside_the_workspace, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(flyte_absent_or_deleted_wants_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(digest_changes_with_the_desired_state_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(authz_document_has_its_keys_in_byte_order, setup, teardown),
        cmocka_unit_test_setup_teardown(authz_matrix_over_a_configmap_is_a_validation_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(network_policy_allows_dns_and_selects_unforgeable_labels,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(iam_role_names_fit_iam_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(ack_objects_have_valid_names_and_trust_only_the_runners,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(present_build_fails_or_is_complete_when_memory_runs_out,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(absent_build_fails_or_is_complete_when_memory_runs_out,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(removal_names_the_rendered_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(long_ids_get_distinct_ack_policy_names, setup, teardown),
        cmocka_unit_test_setup_teardown(binding_names_of_the_rendered_form_only, setup, teardown),
        cmocka_unit_test_setup_teardown(workspace_scope_splits_the_quota_by_weight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(namespace_scope_gives_each_namespace_the_whole_quota, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(quota_too_large_to_split_is_a_validation_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(limit_range_gives_containers_the_configured_defaults, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(workspace_labels_go_onto_namespaces_and_project, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(invalid_or_reserved_labels_are_validation_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_labels_do_not_block_removal, setup, teardown),
        cmocka_unit_test_setup_teardown(single_cluster_mode_renders_as_before, setup, teardown),
        cmocka_unit_test_setup_teardown(a_cluster_names_itself_to_flyte_and_to_iam, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            unknown_cluster_and_reserved_cluster_label_are_validation_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(a_member_listed_twice_keeps_the_most_privileged_role, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            workspace_scope_build_fails_or_is_complete_when_memory_runs_out, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
