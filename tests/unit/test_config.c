#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define DATA(name) WSFLYTE_TEST_DATA "/config/" name

/* A loaded configuration and its report; released by teardown. */
typedef struct fixture {
    wf_config cfg;
    char *report;
    wf_err err;
    int rc;
    char path[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    wf_err_init(&f->err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    wf_config_fini(&f->cfg);
    free(f->report);
    if (f->path[0])
        unlink(f->path);
    free(f);
    return 0;
}

static void load(fixture *f, const char *path, char *const *envp)
{
    f->rc = wf_config_load(&f->cfg, path, envp, &f->report, &f->err);
}

/* Writes yaml to a temporary file and loads it with envp. */
static void load_text(fixture *f, const char *yaml, char *const *envp)
{
    int fd;

    snprintf(f->path, sizeof(f->path), "/tmp/wsflyte-test-config-XXXXXX");
    fd = mkstemp(f->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    load(f, f->path, envp);
}

/* Releases one load so the fixture can load again. */
static void reset(fixture *f)
{
    wf_config_fini(&f->cfg);
    free(f->report);
    f->report = NULL;
    wf_err_init(&f->err);
    if (f->path[0])
        unlink(f->path);
    f->path[0] = '\0';
}

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (haystack == NULL || strstr(haystack, needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, haystack ? haystack : "(null)");
}

static void assert_lacks(const char *haystack, const char *needle)
{
    if (haystack && strstr(haystack, needle))
        fail_msg("did not expect \"%s\" in:\n%s", needle, haystack);
}

/* Loads yaml and asserts it fails with expected (":line:col: path: text")
 * in the report. */
static void expect_problem(void **state, const char *yaml, const char *expected)
{
    fixture *f = *state;

    load_text(f, yaml, NULL);
    assert_int_equal(f->rc, -1);
    assert_int_equal(f->err.cls, WF_CONFIG);
    assert_contains(f->report, expected);
}

static void expect_env_problem(void **state, char *const *envp, const char *expected)
{
    fixture *f = *state;

    load(f, NULL, envp);
    assert_int_equal(f->rc, -1);
    assert_contains(f->report, expected);
}

/* ---- defaults and a full file ---- */

static void defaults_match_contract(void **state)
{
    fixture *f = *state;
    wf_config *c = &f->cfg;

    wf_config_defaults(c);
    assert_string_equal(c->kafka.bootstrap_servers, "localhost:9092");
    assert_string_equal(c->kafka.group_id, "wsflyte");
    assert_string_equal(c->kafka.topic_events, "workspace.lifecycle.v1");
    assert_string_equal(c->kafka.topic_results, "workspace.provisioning.v1");
    assert_int_equal(c->kafka.n_properties, 0);
    assert_string_equal(c->schemas.directory, "schemas");
    assert_string_equal(c->schemas.registry_url, "");
    assert_int_equal(c->schemas.auto_register, 0);
    assert_string_equal(c->results.format, "avro");
    assert_string_equal(c->flyte.admin_url, "http://localhost:8089");
    assert_string_equal(c->flyte.console_url, "http://localhost:8089/console");
    assert_int_equal(c->flyte.n_domains, 3);
    assert_string_equal(c->flyte.domains[0], "development");
    assert_string_equal(c->flyte.domains[1], "staging");
    assert_string_equal(c->flyte.domains[2], "production");
    assert_string_equal(c->flyte.authz_namespace, "flyte");
    assert_int_equal(c->flyte.auth_type, WF_AUTH_NONE);
    assert_string_equal(c->flyte.auth_client_id, "");
    assert_string_equal(c->flyte.auth_client_secret_file, "");
    assert_int_equal(c->flyte.n_auth_scopes, 0);
    assert_string_equal(c->kubernetes.api_url, "");
    assert_string_equal(c->kubernetes.token_file, "");
    assert_string_equal(c->kubernetes.ca_file, "");
    assert_string_equal(c->kubernetes.namespace_template, "{{ project }}-{{ domain }}");
    assert_string_equal(c->kubernetes.system_namespace, "flyte");
    assert_int_equal(c->kubernetes.quota_scope, WF_QUOTA_NAMESPACE);
    assert_int_equal(c->kubernetes.n_quota_split, 3);
    assert_int_equal(wf_config_quota_weight(c, "development"), 1);
    assert_int_equal(wf_config_quota_weight(c, "staging"), 1);
    assert_int_equal(wf_config_quota_weight(c, "production"), 2);
    assert_int_equal(wf_config_quota_weight(c, "qa"), 0);
    assert_string_equal(c->kubernetes.limit_default_cpu, "1");
    assert_string_equal(c->kubernetes.limit_default_memory, "2Gi");
    assert_string_equal(c->kubernetes.limit_default_request_cpu, "100m");
    assert_string_equal(c->kubernetes.limit_default_request_memory, "256Mi");
    assert_int_equal(c->flyte.qps, 50);
    assert_int_equal(c->flyte.burst, 100);
    assert_int_equal(c->kubernetes.qps, 50);
    assert_int_equal(c->kubernetes.burst, 100);
    assert_int_equal(c->kubernetes.n_clusters, 0);
    assert_null(c->kubernetes.clusters);
    assert_string_equal(c->kubernetes.placement_label, "flyte-cluster");
    assert_string_equal(c->kubernetes.placement_default, "");
    assert_string_equal(c->aws.account_id, "000000000000");
    assert_string_equal(c->aws.role_name_template, "FlyteWorkspace-{{ project }}-Role");
    assert_int_equal(c->aws.ack_enabled, 0);
    assert_int_equal(c->retry.in_place_attempts, 3);
    assert_int_equal(c->retry.n_tiers, 3);
    assert_int_equal(c->retry.tiers_ms[0], 30000);
    assert_int_equal(c->retry.tiers_ms[1], 300000);
    assert_int_equal(c->retry.tiers_ms[2], 1800000);
    assert_int_equal(c->reconcile.watch, 1);
    assert_int_equal(c->reconcile.resync_interval_ms, 3600000);
    assert_int_equal(c->processing.concurrency, 64);
    assert_string_equal(c->observability.listen, "0.0.0.0:9464");
    assert_int_equal(c->observability.log_format, WF_LOG_JSON);
    assert_int_equal(c->observability.log_level, WF_LOG_INFO);
}

static void load_without_file_or_env_gives_defaults(void **state)
{
    fixture *f = *state;

    load(f, NULL, NULL);
    assert_int_equal(f->rc, 0);
    assert_null(f->report);
    assert_false(wf_err_is_set(&f->err));
    assert_string_equal(f->cfg.kafka.group_id, "wsflyte");
}

static void empty_file_gives_defaults(void **state)
{
    fixture *f = *state;

    load_text(f, "# nothing set\n", NULL);
    assert_int_equal(f->rc, 0);
    assert_null(f->report);
    assert_int_equal(f->cfg.processing.concurrency, 64);
}

static const char *property(const wf_config *c, const char *key)
{
    return wf_config_property(c, key);
}

static void full_file_sets_every_key(void **state)
{
    fixture *f = *state;
    wf_config *c = &f->cfg;

    load(f, DATA("valid-full.yaml"), NULL);
    assert_int_equal(f->rc, 0);
    assert_null(f->report);
    assert_string_equal(c->kafka.bootstrap_servers, "broker-1:9093,broker-2:9093");
    assert_string_equal(c->kafka.group_id, "wsflyte-prod");
    assert_string_equal(c->kafka.topic_events, "ws.lifecycle.v2");
    assert_string_equal(c->kafka.topic_results, "ws.provisioning.v2");
    assert_int_equal(c->kafka.n_properties, 7);
    assert_string_equal(property(c, "security.protocol"), "SASL_SSL");
    assert_string_equal(property(c, "sasl.password"), "hunter2-sasl-secret");
    assert_string_equal(property(c, "session.timeout.ms"), "45000");
    assert_string_equal(property(c, "enable.auto.commit"), "false");
    assert_string_equal(c->schemas.directory, "/etc/wsflyte/schemas");
    assert_string_equal(c->schemas.registry_url, "https://registry.example.com:8081");
    assert_string_equal(c->results.format, "json");
    assert_string_equal(c->flyte.admin_url, "https://flyte.example.com");
    assert_string_equal(c->flyte.console_url, "https://flyte.example.com/console");
    assert_int_equal(c->flyte.n_domains, 2);
    assert_string_equal(c->flyte.domains[0], "dev");
    assert_string_equal(c->flyte.domains[1], "prod");
    assert_string_equal(c->flyte.authz_namespace, "flyte-authz");
    assert_int_equal(c->flyte.auth_type, WF_AUTH_CLIENT_CREDENTIALS);
    assert_string_equal(c->flyte.auth_client_id, "wsflyte");
    assert_string_equal(c->flyte.auth_client_secret_file, "/var/run/secrets/flyte/client_secret");
    assert_int_equal(c->flyte.n_auth_scopes, 2);
    assert_string_equal(c->flyte.auth_scopes[1], "offline");
    assert_string_equal(c->kubernetes.api_url, "https://k8s.example.com:6443");
    assert_string_equal(c->kubernetes.token_file,
                        "/var/run/secrets/kubernetes.io/serviceaccount/token");
    assert_string_equal(c->kubernetes.ca_file,
                        "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
    assert_string_equal(c->kubernetes.namespace_template, "ws-{{ project }}-{{ domain }}");
    assert_string_equal(c->kubernetes.system_namespace, "flyte-system");
    assert_string_equal(c->aws.account_id, "123456789012");
    assert_string_equal(c->aws.role_name_template, "Ws-{{ project }}-Runner");
    assert_string_equal(c->aws.oidc_provider,
                        "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE");
    assert_int_equal(c->aws.ack_enabled, 1);
    assert_int_equal(c->retry.in_place_attempts, 5);
    assert_int_equal(c->retry.n_tiers, 3);
    assert_int_equal(c->retry.tiers_ms[0], 10000);
    assert_int_equal(c->retry.tiers_ms[1], 120000);
    assert_int_equal(c->retry.tiers_ms[2], 3600000);
    assert_int_equal(c->processing.concurrency, 128);
    assert_string_equal(c->observability.listen, "127.0.0.1:9999");
    assert_int_equal(c->observability.log_format, WF_LOG_TEXT);
    assert_int_equal(c->observability.log_level, WF_LOG_DEBUG);
}

/* ---- one test per problem class ---- */

static void unknown_key_suggests_close_key(void **state)
{
    expect_problem(state, "kafka:\n  gruop_id: x\n",
                   ":2:3: kafka.gruop_id: unknown key (did you mean kafka.group_id?)\n");
}

static void unknown_key_in_wrong_section_names_right_one(void **state)
{
    expect_problem(state, "kafka:\n  admin_url: http://x\n",
                   ":2:3: kafka.admin_url: unknown key (did you mean flyte.admin_url?)\n");
}

static void unknown_key_without_close_match_has_no_hint(void **state)
{
    fixture *f = *state;

    expect_problem(state, "frobnicate: 1\n", ":1:1: frobnicate: unknown key\n");
    assert_lacks(f->report, "did you mean");
}

static void string_key_rejects_sequence(void **state)
{
    expect_problem(state, "kafka:\n  group_id: [a, b]\n",
                   ":2:13: kafka.group_id: expected a string, got a sequence\n");
}

static void section_rejects_scalar(void **state)
{
    expect_problem(state, "retry: 3\n", ":1:8: retry: expected a mapping, got a scalar\n");
}

static void int_key_rejects_text(void **state)
{
    expect_problem(state, "processing:\n  concurrency: many\n",
                   ":2:16: processing.concurrency: expected an integer, got \"many\"\n");
}

static void bool_key_rejects_text(void **state)
{
    expect_problem(state, "aws:\n  ack:\n    enabled: sometimes\n",
                   ":3:14: aws.ack.enabled: expected true or false, got \"sometimes\"\n");
}

static void list_key_rejects_scalar(void **state)
{
    expect_problem(state, "flyte:\n  domains: development\n",
                   ":2:12: flyte.domains: expected a list of strings, got a scalar\n");
}

static void list_item_rejects_mapping(void **state)
{
    expect_problem(state, "flyte:\n  auth:\n    scopes: [a, {b: c}]\n",
                   ":3:17: flyte.auth.scopes[1]: expected a string, got a mapping\n");
}

static void properties_reject_sequence(void **state)
{
    expect_problem(state, "kafka:\n  properties: [a]\n",
                   ":2:15: kafka.properties: expected a mapping of strings, got a sequence\n");
}

static void properties_accept_numbers_and_bools_as_text(void **state)
{
    fixture *f = *state;

    load_text(f, "kafka:\n  properties:\n    linger.ms: 5\n    enable.idempotence: true\n", NULL);
    assert_int_equal(f->rc, 0);
    assert_string_equal(property(&f->cfg, "linger.ms"), "5");
    assert_string_equal(property(&f->cfg, "enable.idempotence"), "true");
}

static void bad_duration_names_item(void **state)
{
    expect_problem(state, "retry:\n  tiers: [30s, 5x]\n",
                   ":2:16: retry.tiers[1]: bad duration \"5x\" (use e.g. 30s, 5m, 1h)\n");
}

static char *dump(const wf_config *cfg);

static void reconcile_keys_load_and_zero_means_off(void **state)
{
    fixture *f = *state;
    char *envp[] = {"WSFLYTE_RECONCILE_RESYNC_INTERVAL=0", NULL};
    char *out;

    load_text(f, "reconcile:\n  watch: false\n  resync_interval: 10m\n", NULL);
    assert_int_equal(f->rc, 0);
    assert_int_equal(f->cfg.reconcile.watch, 0);
    assert_int_equal(f->cfg.reconcile.resync_interval_ms, 600000);
    out = dump(&f->cfg);
    assert_contains(out, "reconcile:\n  watch: false\n  resync_interval: 10m\n");
    free(out);
    wf_config_fini(&f->cfg);
    free(f->report);
    f->report = NULL;
    load(f, f->path, envp);
    assert_int_equal(f->rc, 0);
    assert_int_equal(f->cfg.reconcile.resync_interval_ms, 0);
    out = dump(&f->cfg);
    assert_contains(out, "resync_interval: 0s\n");
    free(out);
}

static void resync_interval_rejects_bad_duration(void **state)
{
    expect_problem(state, "reconcile:\n  resync_interval: -5m\n",
                   ":2:20: reconcile.resync_interval: bad duration \"-5m\" (use e.g. 30s, 5m, "
                   "1h, or 0 for off)\n");
}

static void tiers_must_ascend(void **state)
{
    expect_problem(state, "retry:\n  tiers: [30s, 30m, 5m]\n",
                   ":2:21: retry.tiers[2]: 5m does not follow 30m: tiers must be strictly "
                   "ascending\n");
}

static void concurrency_out_of_range(void **state)
{
    expect_problem(state, "processing:\n  concurrency: 1025\n",
                   ":2:16: processing.concurrency: must be between 1 and 1024, got 1025\n");
}

static void pacing_needs_a_burst(void **state)
{
    fixture *f = *state;

    expect_problem(state, "kubernetes:\n  qps: 5\n  burst: 0\n",
                   ":3:10: kubernetes.burst: must be at least 1 when kubernetes.qps is above 0, "
                   "got 0\n");
    reset(f);
    expect_problem(state, "flyte:\n  qps: -1\n",
                   ":2:8: flyte.qps: must be between 0 and 100000, got -1\n");
    reset(f);
    /* qps 0 is unpaced: no burst needed. */
    load_text(f, "flyte:\n  qps: 0\n  burst: 0\n", NULL);
    assert_int_equal(f->rc, 0);
    assert_int_equal(f->cfg.flyte.qps, 0);
}

static void in_place_attempts_out_of_range(void **state)
{
    expect_problem(state, "retry:\n  in_place_attempts: 0\n",
                   ":2:22: retry.in_place_attempts: must be between 1 and 20, got 0\n");
}

static void results_format_is_enum(void **state)
{
    expect_problem(state, "results:\n  format: xml\n",
                   ":2:11: results.format: expected avro|json, got \"xml\"\n");
}

static void auth_type_is_enum(void **state)
{
    expect_problem(state, "flyte:\n  auth:\n    type: oauth\n",
                   ":3:11: flyte.auth.type: expected none|client_credentials, got \"oauth\"\n");
}

static void log_format_and_level_are_enums(void **state)
{
    fixture *f = *state;

    expect_problem(state, "observability:\n  log_format: xml\n  log_level: loud\n",
                   ":2:15: observability.log_format: expected json|text, got \"xml\"\n");
    assert_contains(
        f->report,
        ":3:14: observability.log_level: expected debug|info|warn|error, got \"loud\"\n");
}

static void required_values_must_not_be_empty(void **state)
{
    fixture *f = *state;

    expect_problem(state,
                   "kafka:\n  bootstrap_servers: \"\"\n  group_id: ''\n  topics: {events: \"\"}\n"
                   "flyte:\n  admin_url:\n  domains: []\n",
                   ":2:22: kafka.bootstrap_servers: missing required value\n");
    assert_contains(f->report, ":3:13: kafka.group_id: missing required value\n");
    assert_contains(f->report, ":4:20: kafka.topics.events: missing required value\n");
    assert_contains(f->report, ":6:13: flyte.admin_url: missing required value\n");
    assert_contains(f->report, ":7:12: flyte.domains: missing required value\n");
    assert_int_equal(count_lines(f->report), 5);
}

static void client_credentials_need_id_and_secret_file(void **state)
{
    fixture *f = *state;

    expect_problem(state, "flyte:\n  auth:\n    type: client_credentials\n",
                   ":3:11: flyte.auth.client_id: required when flyte.auth.type is "
                   "client_credentials\n");
    assert_contains(f->report, ":3:11: flyte.auth.client_secret_file: required when "
                               "flyte.auth.type is client_credentials\n");
}

static void ack_needs_the_oidc_provider(void **state)
{
    expect_problem(state, "aws:\n  ack:\n    enabled: true\n",
                   ":3:14: aws.oidc_provider: required when aws.ack.enabled is true\n");
}

static void oidc_provider_is_issuer_without_scheme(void **state)
{
    expect_problem(state, "aws:\n  oidc_provider: https://oidc.eks.eu-west-1.amazonaws.com/id/AB\n",
                   ":2:18: aws.oidc_provider: \"https://oidc.eks.eu-west-1.amazonaws.com/id/AB\": "
                   "give the issuer without \"https://\", as in IAM's ARN\n");
    reset(*state);
    expect_problem(state, "aws:\n  oidc_provider: \"oidc eks\"\n",
                   ":2:18: aws.oidc_provider: \"oidc eks\" is not an OIDC issuer host and path\n");
}

static void admin_url_must_be_http(void **state)
{
    expect_problem(state, "flyte:\n  admin_url: ftp://flyte\n",
                   ":2:14: flyte.admin_url: \"ftp://flyte\" is not an http:// or https:// URL\n");
}

static void registry_url_empty_or_http(void **state)
{
    fixture *f = *state;

    expect_problem(state, "schemas:\n  registry_url: registry:8081\n",
                   ":2:17: schemas.registry_url: \"registry:8081\" is not an http:// or "
                   "https:// URL\n");
    assert_int_equal(count_lines(f->report), 1);
}

static void api_url_forms(void **state)
{
    fixture *f = *state;
    static const char *const good[] = {"\"\"",
                                       "kubeconfig:/home/me/.kube/config",
                                       "\"kubeconfig: /home/me/.kube/config\"",
                                       "\"kubeconfig:\"",
                                       "https://k8s:6443",
                                       "http://127.0.0.1:8001"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char yaml[128];
        snprintf(yaml, sizeof(yaml), "kubernetes:\n  api_url: %s\n", good[i]);
        load_text(f, yaml, NULL);
        assert_int_equal(f->rc, 0);
        reset(f);
    }
    expect_problem(state, "kubernetes:\n  api_url: \"kube:/etc/kubeconfig\"\n",
                   ":2:12: kubernetes.api_url: \"kube:/etc/kubeconfig\" is neither "
                   "kubeconfig:PATH nor an http:// or https:// URL\n");
}

static void topic_names_follow_kafka_rules(void **state)
{
    fixture *f = *state;
    char yaml[512];

    expect_problem(state, "kafka:\n  topics:\n    results: \"a/b\"\n",
                   ":3:14: kafka.topics.results: \"a/b\" is not a valid topic name");
    reset(f);
    snprintf(yaml, sizeof(yaml), "kafka:\n  topics:\n    events: %0250d\n", 0);
    expect_problem(state, yaml,
                   ":3:13: kafka.topics.events: topic name is longer than 249 characters\n");
}

static void domains_are_dns_labels(void **state)
{
    expect_problem(state, "flyte:\n  domains: [dev, Prod_1]\n",
                   ":2:18: flyte.domains[1]: \"Prod_1\" is not a DNS-1123 label");
}

static void namespace_template_needs_both_placeholders(void **state)
{
    expect_problem(state, "kubernetes:\n  namespace_template: \"ws-{{ project }}\"\n",
                   ":2:23: kubernetes.namespace_template: \"ws-{{ project }}\" must contain "
                   "both {{ project }} and {{ domain }}\n");
}

static void account_id_is_twelve_digits(void **state)
{
    expect_problem(state, "aws:\n  account_id: \"12345678901\"\n",
                   ":2:15: aws.account_id: \"12345678901\" is not a 12-digit AWS account id\n");
}

static void listen_is_host_port(void **state)
{
    fixture *f = *state;

    expect_problem(state, "observability:\n  listen: \"9464\"\n",
                   ":2:11: observability.listen: \"9464\" is not host:port\n");
    reset(f);
    expect_problem(state, "observability:\n  listen: \"0.0.0.0:70000\"\n",
                   "observability.listen: \"0.0.0.0:70000\" is not host:port with a port from 0 "
                   "(any free port) "
                   "to 65535\n");
}

static void duplicate_key_reported(void **state)
{
    expect_problem(state, "kafka:\n  group_id: a\n  group_id: b\n",
                   ":3:13: kafka.group_id: duplicate key (first set at line 2)\n");
}

static void syntax_error_quotes_libyaml_mark(void **state)
{
    fixture *f = *state;

    load(f, DATA("syntax-error.yaml"), NULL);
    assert_int_equal(f->rc, -1);
    assert_string_equal(f->err.code, "config.syntax");
    assert_contains(f->report,
                    "syntax-error.yaml:3:21: syntax error: mapping values are not allowed in this "
                    "context\n");
}

static void missing_file_reported(void **state)
{
    fixture *f = *state;

    load(f, DATA("no-such-file.yaml"), NULL);
    assert_int_equal(f->rc, -1);
    assert_contains(f->report, "no-such-file.yaml: cannot open: No such file or directory\n");
}

static void many_problems_reported_at_once(void **state)
{
    fixture *f = *state;
    static const char *const expected[] = {
        "invalid-many.yaml:3:13: kafka.group_id: expected a string, got a sequence\n",
        "invalid-many.yaml:5:13: kafka.topics.events: \"bad topic!\" is not a valid topic name",
        "invalid-many.yaml:6:3: kafka.groupid: unknown key (did you mean kafka.group_id?)\n",
        "invalid-many.yaml:8:20: kafka.properties.sasl.password: expected a string, got a "
        "sequence\n",
        "invalid-many.yaml:10:11: results.format: expected avro|json, got \"xml\"\n",
        "invalid-many.yaml:12:14: flyte.admin_url: \"ftp://flyte.example.com\" is not an "
        "http:// or https:// URL\n",
        "invalid-many.yaml:13:26: flyte.domains[1]: \"Prod_1\" is not a DNS-1123 label",
        "invalid-many.yaml:15:22: retry.in_place_attempts: must be between 1 and 20, got 0\n",
        "invalid-many.yaml:16:16: retry.tiers[1]: bad duration \"5x\" (use e.g. 30s, 5m, 1h)\n",
        "invalid-many.yaml:18:16: processing.concurrency: must be between 1 and 1024, got 5000\n",
        "invalid-many.yaml:20:14: observability.log_level: expected debug|info|warn|error, got "
        "\"verbose\"\n",
        "invalid-many.yaml:21:11: observability.listen: \"9464\" is not host:port\n",
    };

    load(f, DATA("invalid-many.yaml"), NULL);
    assert_int_equal(f->rc, -1);
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        assert_contains(f->report, expected[i]);
    assert_int_equal(count_lines(f->report), sizeof(expected) / sizeof(expected[0]));
    assert_int_equal(f->err.cls, WF_CONFIG);
    assert_true(strncmp(f->report, f->err.msg, strlen(f->err.msg)) == 0);
    assert_lacks(f->report, "hunter2");
}

/* ---- environment ---- */

static void env_overrides_file(void **state)
{
    fixture *f = *state;
    char *envp[] = {
        "PATH=/usr/bin",
        "WSFLYTE_KAFKA_GROUP_ID=from-env",
        "WSFLYTE_KAFKA_TOPICS_EVENTS=env.events",
        "WSFLYTE_FLYTE_AUTH_TYPE=none",
        "WSFLYTE_FLYTE_AUTH_CLIENT_ID=env-client",
        "WSFLYTE_FLYTE_DOMAINS=a, b",
        "WSFLYTE_RETRY_TIERS=10s,1m",
        "WSFLYTE_AWS_ACK_ENABLED=false",
        "WSFLYTE_PROCESSING_CONCURRENCY=7",
        "WSFLYTE_OBSERVABILITY_LOG_LEVEL=warn",
        "WSFLYTE_KAFKA_PROPERTIES_SASL_PASSWORD=env-secret",
        "WSFLYTE_KAFKA_PROPERTIES_SOME__ODD_NAME=1",
        NULL,
    };

    load(f, DATA("valid-full.yaml"), envp);
    assert_int_equal(f->rc, 0);
    assert_string_equal(f->cfg.kafka.group_id, "from-env");
    assert_string_equal(f->cfg.kafka.topic_events, "env.events");
    assert_int_equal(f->cfg.flyte.auth_type, WF_AUTH_NONE);
    assert_string_equal(f->cfg.flyte.auth_client_id, "env-client");
    assert_int_equal(f->cfg.flyte.n_domains, 2);
    assert_string_equal(f->cfg.flyte.domains[0], "a");
    assert_string_equal(f->cfg.flyte.domains[1], "b");
    assert_int_equal(f->cfg.retry.n_tiers, 2);
    assert_int_equal(f->cfg.retry.tiers_ms[1], 60000);
    assert_int_equal(f->cfg.aws.ack_enabled, 0);
    assert_int_equal(f->cfg.processing.concurrency, 7);
    assert_int_equal(f->cfg.observability.log_level, WF_LOG_WARN);
    assert_string_equal(property(&f->cfg, "sasl.password"), "env-secret");
    assert_string_equal(property(&f->cfg, "some_odd.name"), "1");
    assert_int_equal(f->cfg.kafka.n_properties, 8);
    /* untouched by the environment */
    assert_string_equal(f->cfg.kafka.topic_results, "ws.provisioning.v2");
}

static void env_unknown_variable_suggests_name(void **state)
{
    char *envp[] = {"WSFLYTE_KAFKA_GROUPID=x", NULL};

    expect_env_problem(state, envp,
                       "env WSFLYTE_KAFKA_GROUPID: unknown key (did you mean "
                       "WSFLYTE_KAFKA_GROUP_ID?)\n");
}

/* Kubernetes injects service links such as WSFLYTE_METRICS_SERVICE_HOST for a
 * Service named wsflyte-metrics: they must not stop start-up. */
static void env_foreign_variables_are_ignored(void **state)
{
    fixture *f = *state;
    char *envp[] = {"WSFLYTE_METRICS_SERVICE_HOST=10.0.0.7", "WSFLYTE_METRICS_PORT=tcp://x:9464",
                    "WSFLYTE_BUILD_DIR=/tmp/build", NULL};

    load(f, NULL, envp);
    assert_int_equal(f->rc, 0);
    assert_null(f->report);
}

static void env_bad_value_names_variable(void **state)
{
    fixture *f = *state;
    char *envp[] = {"WSFLYTE_PROCESSING_CONCURRENCY=0", "WSFLYTE_RETRY_TIERS=30s,5x",
                    "WSFLYTE_FLYTE_ADMIN_URL=", NULL};

    expect_env_problem(state, envp,
                       "env WSFLYTE_PROCESSING_CONCURRENCY: processing.concurrency: must be "
                       "between 1 and 1024, got 0\n");
    assert_contains(f->report, "env WSFLYTE_RETRY_TIERS: retry.tiers[1]: bad duration \"5x\"");
    assert_contains(f->report, "env WSFLYTE_FLYTE_ADMIN_URL: flyte.admin_url: missing required "
                               "value\n");
}

static void env_client_credentials_need_id_and_secret_file(void **state)
{
    char *envp[] = {"WSFLYTE_FLYTE_AUTH_TYPE=client_credentials", NULL};

    expect_env_problem(state, envp,
                       "env WSFLYTE_FLYTE_AUTH_TYPE: flyte.auth.client_secret_file: required "
                       "when flyte.auth.type is client_credentials\n");
}

/* ---- secrets ---- */

static char *dump(const wf_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    assert_non_null(fp);
    wf_config_dump(cfg, fp);
    fclose(fp);
    return buf;
}

static void dump_masks_secret_properties(void **state)
{
    fixture *f = *state;
    char *out;

    load(f, DATA("valid-full.yaml"), NULL);
    assert_int_equal(f->rc, 0);
    out = dump(&f->cfg);
    assert_lacks(out, "hunter2-sasl-secret");
    assert_lacks(out, "keypass-secret-42");
    assert_contains(out, "sasl.password: \"***\"\n");
    assert_contains(out, "ssl.key.password: \"***\"\n");
    assert_contains(out, "security.protocol: \"SASL_SSL\"\n");
    assert_contains(out, "client_secret_file: \"/var/run/secrets/flyte/client_secret\"\n");
    assert_contains(out, "tiers: [10s, 2m, 1h]\n");
    assert_contains(out, "  topics:\n    events: \"ws.lifecycle.v2\"\n");
    free(out);
}

static void url_mask_hides_userinfo_only(void **state)
{
    static const char *const cases[][2] = {
        {"https://wsflyte:pw@registry:8081", "https://***@registry:8081"},
        {"http://user@registry:8081/api/", "http://***@registry:8081/api/"},
        {"https://a:b@c@registry/x@y?q=z@w", "https://***@registry/x@y?q=z@w"},
        {"https://registry:8081/x@y", "https://registry:8081/x@y"},
        {"http://registry?u=a@b", "http://registry?u=a@b"},
        {"user:pw@registry:8081", "***@registry:8081"},
        {"ftp://u:p@h", "ftp://***@h"},
        {"", ""},
    };
    char buf[128];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(wf_url_mask(cases[i][0], buf, sizeof(buf)), cases[i][1]);
    assert_string_equal(wf_url_mask("https://u:p@registry", buf, 12), "https://***");
}

static void dump_masks_userinfo_of_urls(void **state)
{
    fixture *f = *state;
    char *envp[] = {"WSFLYTE_FLYTE_ADMIN_URL=https://admin:admin-pw-3@flyte", NULL};
    char *out;

    load_text(f, "schemas:\n  registry_url: \"https://wsflyte:reg-pw-1@registry:8081/\"\n", envp);
    assert_int_equal(f->rc, 0);
    assert_string_equal(f->cfg.schemas.registry_url, "https://wsflyte:reg-pw-1@registry:8081/");
    out = dump(&f->cfg);
    assert_contains(out, "registry_url: \"https://***@registry:8081/\"\n");
    assert_contains(out, "admin_url: \"https://***@flyte\"\n");
    assert_lacks(out, "reg-pw-1");
    assert_lacks(out, "admin-pw-3");
    assert_lacks(out, "wsflyte:");
    free(out);
}

static void url_problems_mask_userinfo(void **state)
{
    fixture *f = *state;
    char *envp[] = {"WSFLYTE_KUBERNETES_API_URL=ftp://k8s:kube-pw-5@api", NULL};

    load_text(f, "schemas:\n  registry_url: \"ftp://wsflyte:reg-pw-2@registry\"\n", envp);
    assert_int_equal(f->rc, -1);
    assert_contains(
        f->report,
        "schemas.registry_url: \"ftp://***@registry\" is not an http:// or https:// URL");
    assert_contains(f->report, "\"ftp://***@api\" is neither kubeconfig:PATH");
    assert_lacks(f->report, "reg-pw-2");
    assert_lacks(f->report, "kube-pw-5");
    assert_lacks(f->err.msg, "reg-pw-2");
}

static void dump_loads_back_to_same_values(void **state)
{
    fixture *f = *state;
    wf_config again;
    char *out, *report = NULL;
    char path[] = "/tmp/wsflyte-test-dump-XXXXXX";
    int fd;

    load(f, DATA("valid-full.yaml"), NULL);
    out = dump(&f->cfg);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, out, strlen(out)), (ssize_t)strlen(out));
    close(fd);
    assert_int_equal(wf_config_load(&again, path, NULL, &report, NULL), 0);
    unlink(path);
    assert_null(report);
    assert_string_equal(again.kafka.group_id, f->cfg.kafka.group_id);
    assert_string_equal(again.aws.account_id, "123456789012");
    assert_int_equal(again.retry.tiers_ms[2], f->cfg.retry.tiers_ms[2]);
    assert_int_equal(again.flyte.auth_type, f->cfg.flyte.auth_type);
    assert_string_equal(property(&again, "sasl.password"), "***");
    wf_config_fini(&again);
    free(out);
}

static void dump_of_defaults_shows_empty_properties(void **state)
{
    fixture *f = *state;
    char *out;

    wf_config_defaults(&f->cfg);
    out = dump(&f->cfg);
    assert_contains(out, "  properties: {}\n");
    assert_contains(out, "domains: [\"development\", \"staging\", \"production\"]\n");
    assert_contains(out, "  auth:\n    type: none\n");
    free(out);
}

static void secret_values_absent_from_problems(void **state)
{
    fixture *f = *state;
    char *envp[] = {"WSFLYTE_KAFKA_PROPERTIES_SSL_KEY_PASSWORD=env-pass-1\x01", NULL};

    load_text(f,
              "kafka:\n  properties:\n    sasl.password: [list-pass-1]\n"
              "    sasl.oauthbearer.client.secret: |\n      block-pass-1\n",
              envp);
    assert_int_equal(f->rc, -1);
    assert_contains(f->report, ":3:20: kafka.properties.sasl.password: expected a string, got a "
                               "sequence\n");
    assert_contains(f->report, ":4:37: kafka.properties.sasl.oauthbearer.client.secret: value "
                               "contains a line break or control character\n");
    assert_contains(f->report, "env WSFLYTE_KAFKA_PROPERTIES_SSL_KEY_PASSWORD: "
                               "kafka.properties.ssl.key.password: value contains a line break "
                               "or control character\n");
    assert_lacks(f->report, "pass-1");
    assert_lacks(f->err.msg, "pass-1");
}

/* ---- durations and derived topic names ---- */

static void durations_parse(void **state)
{
    static const struct {
        const char *text;
        long ms;
    } cases[] = {
        {"30s", 30000},     {"5m", 300000},   {"1h", 3600000}, {"250ms", 250},
        {"2h30m", 9000000}, {"1m30s", 90000}, {"0s", -1},      {"", -1},
        {"5x", -1},         {"30", -1},       {"s", -1},       {"1.5h", -1},
        {"-5s", -1},        {" 5s", -1},      {"5s ", -1},     {"99999999999999999999h", -1},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long ms = -1;
        int rc = wf_duration_parse(cases[i].text, &ms);
        if (cases[i].ms < 0) {
            if (rc != -1)
                fail_msg("\"%s\" should not parse", cases[i].text);
        } else if (rc != 0 || ms != cases[i].ms) {
            fail_msg("\"%s\": rc %d, %ld ms, want %ld", cases[i].text, rc, ms, cases[i].ms);
        }
    }
}

static void durations_format(void **state)
{
    static const struct {
        long ms;
        const char *text;
    } cases[] = {
        {30000, "30s"},   {300000, "5m"}, {1800000, "30m"},  {3600000, "1h"},
        {1500, "1500ms"}, {90000, "90s"}, {9000000, "150m"}, {0, "0s"},
    };
    char buf[32];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wf_duration_format(cases[i].ms, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].text);
    }
}

static void retry_and_dlt_topic_names(void **state)
{
    fixture *f = *state;
    char buf[256];

    wf_config_defaults(&f->cfg);
    assert_string_equal(wf_config_retry_topic(&f->cfg, 0, buf, sizeof(buf)),
                        "workspace.lifecycle.v1.wsflyte.retry-30s");
    assert_string_equal(wf_config_retry_topic(&f->cfg, 1, buf, sizeof(buf)),
                        "workspace.lifecycle.v1.wsflyte.retry-5m");
    assert_string_equal(wf_config_retry_topic(&f->cfg, 2, buf, sizeof(buf)),
                        "workspace.lifecycle.v1.wsflyte.retry-30m");
    assert_string_equal(wf_config_retry_topic(&f->cfg, 3, buf, sizeof(buf)), "");
    assert_string_equal(wf_config_dlt_topic(&f->cfg, buf, sizeof(buf)),
                        "workspace.lifecycle.v1.wsflyte.dlt");
}

/* ---- the workspace budget and the LimitRange defaults ---- */

static void quota_split_sets_weights_from_yaml_and_env(void **state)
{
    fixture *f = *state;
    char *envp[] = {"WSFLYTE_KUBERNETES_QUOTA_SPLIT=dev=3,prod=1", NULL};

    load_text(f,
              "flyte:\n  domains: [dev, prod]\nkubernetes:\n  quota_scope: workspace\n"
              "  quota_split: {dev: 1, prod: 4}\n",
              NULL);
    assert_int_equal(f->rc, 0);
    assert_int_equal(f->cfg.kubernetes.quota_scope, WF_QUOTA_WORKSPACE);
    assert_int_equal(wf_config_quota_weight(&f->cfg, "dev"), 1);
    assert_int_equal(wf_config_quota_weight(&f->cfg, "prod"), 4);
    reset(f);
    load_text(f, "flyte:\n  domains: [dev, prod]\nkubernetes:\n  quota_scope: workspace\n", envp);
    assert_int_equal(f->rc, 0);
    assert_int_equal(wf_config_quota_weight(&f->cfg, "dev"), 3);
    assert_int_equal(wf_config_quota_weight(&f->cfg, "prod"), 1);
}

/* A custom domain without a weight would get no share of the budget. */
static void workspace_scope_needs_a_weight_per_domain(void **state)
{
    fixture *f = *state;

    expect_problem(state,
                   "flyte:\n  domains: [development, qa]\nkubernetes:\n  quota_scope: workspace\n",
                   ":4:16: kubernetes.quota_split: no weight for domain \"qa\" of flyte.domains "
                   "(required when kubernetes.quota_scope is workspace)\n");
    assert_contains(f->report, "kubernetes.quota_split: \"staging\" is not one of flyte.domains\n");
    reset(f);
    /* With the default scope the split is not used, so custom domains need none. */
    load_text(f, "flyte:\n  domains: [development, qa]\n", NULL);
    assert_int_equal(f->rc, 0);
}

static void quota_split_weights_are_positive_integers(void **state)
{
    fixture *f = *state;

    expect_problem(state,
                   "kubernetes:\n  quota_split: {development: 0, staging: x, production: 2}\n",
                   ":2:17: kubernetes.quota_split.development: weight must be an integer from 1 "
                   "to 1000, got \"0\"\n");
    assert_contains(f->report, "kubernetes.quota_split.staging: weight must be an integer from 1 "
                               "to 1000, got \"x\"\n");
    reset(f);
    expect_problem(state, "kubernetes:\n  quota_split: [1, 2]\n",
                   ":2:16: kubernetes.quota_split: expected a mapping of domains to weights, got a "
                   "sequence\n");
    reset(f);
    expect_problem(state, "kubernetes:\n  quota_scope: tenant\n",
                   "kubernetes.quota_scope: expected namespace|workspace, got \"tenant\"\n");
}

static void limit_range_values_are_quantities(void **state)
{
    fixture *f = *state;

    expect_problem(state,
                   "kubernetes:\n  limit_range: {default_cpu: \"1 core\", default_memory: 2GB}\n",
                   ":2:30: kubernetes.limit_range.default_cpu: \"1 core\": not a Kubernetes "
                   "quantity (e.g. 500m, 2, 256Mi, 2Gi)\n");
    assert_contains(f->report, "kubernetes.limit_range.default_memory: \"2GB\": not a Kubernetes "
                               "quantity");
    reset(f);
    load_text(f,
              "kubernetes:\n  limit_range: {default_cpu: 1500m, default_memory: 4Gi,\n"
              "    default_request_cpu: \"0.5\", default_request_memory: 1e9}\n",
              NULL);
    assert_int_equal(f->rc, 0);
    assert_string_equal(f->cfg.kubernetes.limit_default_cpu, "1500m");
    assert_string_equal(f->cfg.kubernetes.limit_default_request_memory, "1e9");
}

static void limit_range_request_must_not_exceed_limit(void **state)
{
    fixture *f = *state;
    char *envp[] = {"WSFLYTE_KUBERNETES_LIMIT_RANGE_DEFAULT_REQUEST_MEMORY=3Gi", NULL};

    expect_problem(state, "kubernetes:\n  limit_range: {default_request_cpu: \"2\"}\n",
                   ":2:38: kubernetes.limit_range.default_request_cpu: 2 is more than "
                   "kubernetes.limit_range.default_cpu 1 (a container's request cannot exceed its "
                   "limit)\n");
    reset(f);
    expect_env_problem(state, envp,
                       "env WSFLYTE_KUBERNETES_LIMIT_RANGE_DEFAULT_REQUEST_MEMORY: "
                       "kubernetes.limit_range.default_request_memory: 3Gi is more than "
                       "kubernetes.limit_range.default_memory 2Gi");
}

static void dump_shows_the_split_and_the_limit_range(void **state)
{
    fixture *f = *state;
    char *out;

    wf_config_defaults(&f->cfg);
    out = dump(&f->cfg);
    assert_contains(out, "  quota_scope: namespace\n"
                         "  quota_split: {development: 1, staging: 1, production: 2}\n"
                         "  limit_range:\n    default_cpu: \"1\"\n    default_memory: \"2Gi\"\n");
    free(out);
}

static void group_id_must_fit_topic_names(void **state)
{
    expect_problem(state, "kafka:\n  group_id: \"my group\"\n",
                   ":2:13: kafka.group_id: \"my group\" may only use a-z A-Z 0-9 . _ -");
}

/* ---- kubernetes.clusters and kubernetes.placement ---- */

#define TWO_CLUSTERS                                                                               \
    "kubernetes:\n"                                                                                \
    "  clusters:\n"                                                                                \
    "    - name: east-1\n"                                                                         \
    "      api_url: \"kubeconfig:/etc/wsflyte/east-1\"\n"                                          \
    "      oidc_provider: oidc.eks.us-east-1.amazonaws.com/id/ABC\n"                               \
    "    - {name: west-1, api_url: \"https://u:pw@west:6443\", token_file: /t, ca_file: /c,\n"     \
    "       qps: 5, burst: 10, weight: 3, oidc_provider: oidc.eks.us-west-2.amazonaws.com/id/D}\n"

static void clusters_load_with_defaults(void **state)
{
    fixture *f = *state;
    const wf_cluster *c;

    load_text(f, TWO_CLUSTERS "  placement: {label: example.com/cluster, default: west-1}\n", NULL);
    assert_int_equal(f->rc, 0);
    assert_null(f->report);
    assert_int_equal(f->cfg.kubernetes.n_clusters, 2);
    c = f->cfg.kubernetes.clusters;
    assert_string_equal(c[0].name, "east-1");
    assert_string_equal(c[0].api_url, "kubeconfig:/etc/wsflyte/east-1");
    assert_string_equal(c[0].token_file, "");
    assert_string_equal(c[0].ca_file, "");
    assert_int_equal(c[0].qps, 50);
    assert_int_equal(c[0].burst, 100);
    assert_int_equal(c[0].weight, 1);
    assert_string_equal(c[0].oidc_provider, "oidc.eks.us-east-1.amazonaws.com/id/ABC");
    assert_string_equal(c[1].name, "west-1");
    assert_string_equal(c[1].api_url, "https://u:pw@west:6443");
    assert_string_equal(c[1].token_file, "/t");
    assert_string_equal(c[1].ca_file, "/c");
    assert_int_equal(c[1].qps, 5);
    assert_int_equal(c[1].burst, 10);
    assert_int_equal(c[1].weight, 3);
    assert_string_equal(f->cfg.kubernetes.placement_label, "example.com/cluster");
    assert_string_equal(f->cfg.kubernetes.placement_default, "west-1");
    assert_int_equal(wf_config_cluster(&f->cfg, "west-1"), 1);
    assert_int_equal(wf_config_cluster(&f->cfg, "north-1"), -1);
}

static void empty_or_null_clusters_are_single_cluster(void **state)
{
    fixture *f = *state;

    load_text(f, "kubernetes:\n  clusters: []\n", NULL);
    assert_int_equal(f->rc, 0);
    assert_int_equal(f->cfg.kubernetes.n_clusters, 0);
    reset(f);
    load_text(f, "kubernetes:\n  clusters: ~\n", NULL);
    assert_int_equal(f->rc, 0);
    assert_int_equal(f->cfg.kubernetes.n_clusters, 0);
}

static void cluster_keys_are_checked_as_their_namesakes(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *entry, *expected;
    } cases[] = {
        {"{name: East_1}",
         ":3:14: kubernetes.clusters[0].name: \"East_1\" is not a DNS-1123 label"},
        {"{weight: 1}", ":3:7: kubernetes.clusters[0].name: missing required value\n"},
        {"{name: \"\"}", ":3:14: kubernetes.clusters[0].name: missing required value\n"},
        {"{name: a, api_url: \"kube:/x\"}",
         ":3:26: kubernetes.clusters[0].api_url: \"kube:/x\" is neither kubeconfig:PATH nor an "
         "http:// or https:// URL\n"},
        {"{name: a, token_file: [x]}",
         ":3:29: kubernetes.clusters[0].token_file: expected a string, got a sequence\n"},
        {"{name: a, ca_file: {x: y}}",
         ":3:26: kubernetes.clusters[0].ca_file: expected a string, got a mapping\n"},
        {"{name: a, qps: fast}",
         ":3:22: kubernetes.clusters[0].qps: expected an integer, got \"fast\"\n"},
        {"{name: a, qps: 100001}",
         ":3:22: kubernetes.clusters[0].qps: must be between 0 and 100000, got 100001\n"},
        {"{name: a, qps: 5, burst: 0}",
         ":3:32: kubernetes.clusters[0].burst: must be at least 1 when "
         "kubernetes.clusters[0].qps is above 0, got 0\n"},
        {"{name: a, weight: -1}",
         ":3:25: kubernetes.clusters[0].weight: must be between 0 and 1000, got -1\n"},
        {"{name: a, weight: 1.5}",
         ":3:25: kubernetes.clusters[0].weight: expected an integer, got \"1.5\"\n"},
        {"{name: a, oidc_provider: \"https://oidc.eks.x.amazonaws.com/id/A\"}",
         ":3:32: kubernetes.clusters[0].oidc_provider: \"https://oidc.eks.x.amazonaws.com/id/A\": "
         "give the issuer without \"https://\", as in IAM's ARN\n"},
        {"{name: a, nmae: b}", ":3:17: kubernetes.clusters[0].nmae: unknown key (did you mean "
                               "kubernetes.clusters[0].name?)\n"},
        {"{name: a, namespace_template: x}",
         ":3:17: kubernetes.clusters[0].namespace_template: unknown key\n"},
        {"{name: a, weight: 1, weight: 2}",
         ":3:36: kubernetes.clusters[0].weight: duplicate key (first set at line 3)\n"},
        {"east-1",
         ":3:7: kubernetes.clusters[0]: expected a mapping of cluster keys (name, api_url, ...), "
         "got a scalar\n"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml), "kubernetes:\n  clusters:\n    - %s\n", cases[i].entry);
        expect_problem(state, yaml, cases[i].expected);
        assert_int_equal(count_lines(f->report), 1);
        reset(f);
    }
}

static void clusters_must_be_a_list_of_at_most_64(void **state)
{
    fixture *f = *state;
    char yaml[4096];
    size_t n;

    expect_problem(state, "kubernetes:\n  clusters: east-1\n",
                   ":2:13: kubernetes.clusters: expected a list of clusters, got a scalar\n");
    reset(f);
    n = (size_t)snprintf(yaml, sizeof(yaml), "kubernetes:\n  clusters:\n");
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "    - {name: c%d}\n", i);
    expect_problem(state, yaml, ":3:5: kubernetes.clusters: at most 64 clusters, got 65\n");
    reset(f);
    yaml[n - strlen("    - {name: c64}\n")] = '\0';
    load_text(f, yaml, NULL);
    assert_int_equal(f->rc, 0);
    assert_int_equal(f->cfg.kubernetes.n_clusters, 64);
    assert_string_equal(f->cfg.kubernetes.clusters[63].name, "c63");
}

static void cluster_names_are_unique(void **state)
{
    fixture *f = *state;

    expect_problem(state,
                   "kubernetes:\n  clusters:\n    - {name: east-1}\n    - {name: west-1}\n"
                   "    - {weight: 2, name: east-1}\n",
                   ":5:25: kubernetes.clusters[2].name: duplicate cluster name \"east-1\" "
                   "(also kubernetes.clusters[0])\n");
    assert_int_equal(count_lines(f->report), 1);
}

static void clusters_need_a_weight_above_zero(void **state)
{
    fixture *f = *state;

    expect_problem(state,
                   "kubernetes:\n  clusters:\n    - {name: east-1, weight: 0}\n"
                   "    - {name: west-1, weight: 0}\n",
                   ":3:5: kubernetes.clusters: every weight is 0: at least one cluster needs a "
                   "weight above 0 to place new workspaces\n");
    reset(f);
    load_text(f,
              "kubernetes:\n  clusters:\n    - {name: east-1, weight: 0}\n    - {name: west-1}\n",
              NULL);
    assert_int_equal(f->rc, 0);
    assert_int_equal(f->cfg.kubernetes.clusters[0].weight, 0);
}

static void placement_default_names_a_cluster(void **state)
{
    fixture *f = *state;
    char *envp[] = {"WSFLYTE_KUBERNETES_PLACEMENT_DEFAULT=north-1", NULL};

    expect_problem(state, TWO_CLUSTERS "  placement:\n    default: north-1\n",
                   ":9:14: kubernetes.placement.default: \"north-1\" is not the name of a cluster "
                   "of kubernetes.clusters\n");
    assert_int_equal(count_lines(f->report), 1);
    reset(f);
    /* Without clusters no default can name one. */
    expect_problem(state, "kubernetes:\n  placement: {default: east-1}\n",
                   ":2:24: kubernetes.placement.default: \"east-1\" is not the name of a cluster");
    reset(f);
    load_text(f, TWO_CLUSTERS, envp);
    assert_int_equal(f->rc, -1);
    assert_contains(f->report, "env WSFLYTE_KUBERNETES_PLACEMENT_DEFAULT: "
                               "kubernetes.placement.default: \"north-1\" is not the name");
    reset(f);
    envp[0] = "WSFLYTE_KUBERNETES_PLACEMENT_DEFAULT=west-1";
    load_text(f, TWO_CLUSTERS, envp);
    assert_int_equal(f->rc, 0);
    assert_string_equal(f->cfg.kubernetes.placement_default, "west-1");
}

static void placement_label_is_a_label_key(void **state)
{
    fixture *f = *state;
    char *envp[] = {"WSFLYTE_KUBERNETES_PLACEMENT_LABEL=example.com/flyte-cluster", NULL};

    expect_problem(state, "kubernetes:\n  placement:\n    label: \"flyte cluster\"\n",
                   ":3:12: kubernetes.placement.label: \"flyte cluster\" is not a Kubernetes "
                   "label key");
    reset(f);
    expect_problem(state, "kubernetes:\n  placement:\n    label: \"\"\n",
                   ":3:12: kubernetes.placement.label: missing required value\n");
    reset(f);
    load(f, NULL, envp);
    assert_int_equal(f->rc, 0);
    assert_string_equal(f->cfg.kubernetes.placement_label, "example.com/flyte-cluster");
}

/* The issuer goes into an IAM trust policy and an ARN: nothing but
 * [A-Za-z0-9./_-] may reach them. */
static void cluster_oidc_provider_rejects_policy_breaking_characters(void **state)
{
    fixture *f = *state;
    static const char *const bad[] = {
        "oidc.eks.x.amazonaws.com/id/A\\\"}", "oidc.eks.x.amazonaws.com/id/*",
        "oidc.eks.x.amazonaws.com:443/id/A",  "oidc.eks.x.amazonaws.com/id/A B",
        "oidc.eks.x.amazonaws.com/id/A\\n",   "arn:aws:iam::1:oidc-provider/x.y",
        "oidc.eks.x.amazonaws.com/id/$A",     "oidc.eks.x.amazonaws.com/id/A,B"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml),
                 "kubernetes:\n  clusters:\n    - name: a\n      oidc_provider: \"%s\"\n", bad[i]);
        expect_problem(state, yaml, ":4:22: kubernetes.clusters[0].oidc_provider: ");
        assert_contains(f->report, "is not an OIDC issuer host and path\n");
        reset(f);
    }
}

static void ack_needs_each_cluster_oidc_provider(void **state)
{
    fixture *f = *state;

    expect_problem(
        state,
        "kubernetes:\n  clusters:\n    - {name: east-1, oidc_provider: oidc.eks.a.com/id/A}\n"
        "    - {name: west-1}\naws:\n  ack: {enabled: true}\n",
        ":4:7: kubernetes.clusters[1].oidc_provider: required when aws.ack.enabled is "
        "true\n");
    /* With clusters, aws.oidc_provider is not what the trust names. */
    assert_lacks(f->report, "aws.oidc_provider");
    assert_int_equal(count_lines(f->report), 1);
    reset(f);
    load_text(f, TWO_CLUSTERS "aws:\n  ack: {enabled: true}\n", NULL);
    assert_int_equal(f->rc, 0);
}

static void clusters_cannot_come_from_env(void **state)
{
    fixture *f = *state;
    char *whole[] = {"WSFLYTE_KUBERNETES_CLUSTERS=east-1", NULL};
    char *part[] = {"WSFLYTE_KUBERNETES_CLUSTERS_0_NAME=east-1", NULL};

    expect_env_problem(state, whole,
                       "env WSFLYTE_KUBERNETES_CLUSTERS: kubernetes.clusters: cannot be set from "
                       "the environment (a list of mappings): set it in the configuration file\n");
    reset(f);
    expect_env_problem(state, part,
                       "env WSFLYTE_KUBERNETES_CLUSTERS_0_NAME: kubernetes.clusters: ");
}

static void dump_shows_clusters_and_loads_back(void **state)
{
    fixture *f = *state;
    wf_config again;
    char *out, *report = NULL;
    char path[] = "/tmp/wsflyte-test-dump-XXXXXX";
    int fd;

    load_text(f, TWO_CLUSTERS "  placement: {default: east-1}\n", NULL);
    assert_int_equal(f->rc, 0);
    out = dump(&f->cfg);
    assert_contains(out, "  clusters:\n  - name: \"east-1\"\n"
                         "    api_url: \"kubeconfig:/etc/wsflyte/east-1\"\n"
                         "    token_file: \"\"\n    ca_file: \"\"\n    qps: 50\n    burst: 100\n"
                         "    weight: 1\n");
    assert_contains(out, "    api_url: \"https://***@west:6443\"\n");
    assert_lacks(out, "u:pw");
    assert_contains(out, "  placement:\n    label: \"flyte-cluster\"\n    default: \"east-1\"\n");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, out, strlen(out)), (ssize_t)strlen(out));
    close(fd);
    assert_int_equal(wf_config_load(&again, path, NULL, &report, NULL), 0);
    unlink(path);
    assert_null(report);
    assert_int_equal(again.kubernetes.n_clusters, 2);
    assert_string_equal(again.kubernetes.clusters[1].oidc_provider,
                        "oidc.eks.us-west-2.amazonaws.com/id/D");
    assert_int_equal(again.kubernetes.clusters[1].weight, 3);
    assert_string_equal(again.kubernetes.placement_default, "east-1");
    wf_config_fini(&again);
    free(out);
}

static void dump_of_defaults_shows_no_clusters(void **state)
{
    fixture *f = *state;
    char *out;

    wf_config_defaults(&f->cfg);
    out = dump(&f->cfg);
    assert_contains(out, "  clusters: []\n  placement:\n    label: \"flyte-cluster\"\n"
                         "    default: \"\"\n");
    free(out);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(defaults_match_contract),
        T(load_without_file_or_env_gives_defaults),
        T(empty_file_gives_defaults),
        T(full_file_sets_every_key),
        T(unknown_key_suggests_close_key),
        T(env_foreign_variables_are_ignored),
        T(unknown_key_in_wrong_section_names_right_one),
        T(unknown_key_without_close_match_has_no_hint),
        T(string_key_rejects_sequence),
        T(section_rejects_scalar),
        T(int_key_rejects_text),
        T(bool_key_rejects_text),
        T(list_key_rejects_scalar),
        T(list_item_rejects_mapping),
        T(properties_reject_sequence),
        T(properties_accept_numbers_and_bools_as_text),
        T(bad_duration_names_item),
        T(tiers_must_ascend),
        T(reconcile_keys_load_and_zero_means_off),
        T(resync_interval_rejects_bad_duration),
        T(concurrency_out_of_range),
        T(in_place_attempts_out_of_range),
        T(pacing_needs_a_burst),
        T(results_format_is_enum),
        T(auth_type_is_enum),
        T(log_format_and_level_are_enums),
        T(required_values_must_not_be_empty),
        T(client_credentials_need_id_and_secret_file),
        T(ack_needs_the_oidc_provider),
        T(oidc_provider_is_issuer_without_scheme),
        T(admin_url_must_be_http),
        T(registry_url_empty_or_http),
        T(api_url_forms),
        T(topic_names_follow_kafka_rules),
        T(domains_are_dns_labels),
        T(namespace_template_needs_both_placeholders),
        T(account_id_is_twelve_digits),
        T(listen_is_host_port),
        T(duplicate_key_reported),
        T(syntax_error_quotes_libyaml_mark),
        T(missing_file_reported),
        T(many_problems_reported_at_once),
        T(env_overrides_file),
        T(env_unknown_variable_suggests_name),
        T(env_bad_value_names_variable),
        T(env_client_credentials_need_id_and_secret_file),
        T(dump_masks_secret_properties),
        T(url_mask_hides_userinfo_only),
        T(dump_masks_userinfo_of_urls),
        T(url_problems_mask_userinfo),
        T(dump_loads_back_to_same_values),
        T(dump_of_defaults_shows_empty_properties),
        T(secret_values_absent_from_problems),
        T(durations_parse),
        T(durations_format),
        T(retry_and_dlt_topic_names),
        T(group_id_must_fit_topic_names),
        T(quota_split_sets_weights_from_yaml_and_env),
        T(workspace_scope_needs_a_weight_per_domain),
        T(quota_split_weights_are_positive_integers),
        T(limit_range_values_are_quantities),
        T(limit_range_request_must_not_exceed_limit),
        T(dump_shows_the_split_and_the_limit_range),
        T(clusters_load_with_defaults),
        T(empty_or_null_clusters_are_single_cluster),
        T(cluster_keys_are_checked_as_their_namesakes),
        T(clusters_must_be_a_list_of_at_most_64),
        T(cluster_names_are_unique),
        T(clusters_need_a_weight_above_zero),
        T(placement_default_names_a_cluster),
        T(placement_label_is_a_label_key),
        T(cluster_oidc_provider_rejects_policy_breaking_characters),
        T(ack_needs_each_cluster_oidc_provider),
        T(clusters_cannot_come_from_env),
        T(dump_shows_clusters_and_loads_back),
        T(dump_of_defaults_shows_no_clusters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
