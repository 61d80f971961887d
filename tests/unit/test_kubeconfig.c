#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "kubeconfig.h"

/* base64 of small PEM-looking texts (the loader checks the PEM armour; curl
 * checks the contents). */
#define CERT_B64                                                                                   \
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClRVbEpRZz09Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
#define KEY_B64  "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tClMwVloKLS0tLS1FTkQgUFJJVkFURSBLRVktLS0tLQo="
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n"
#define TOKEN    "tok-5ecret-value"

#define HEAD                                                                                       \
    "apiVersion: v1\n"                                                                             \
    "kind: Config\n"                                                                               \
    "current-context: dev\n"                                                                       \
    "contexts:\n"                                                                                  \
    "- name: dev\n"                                                                                \
    "  context: {cluster: c1, user: u1, namespace: team-a}\n"

#define CLUSTER(extra)                                                                             \
    "clusters:\n"                                                                                  \
    "- name: c1\n"                                                                                 \
    "  cluster:\n"                                                                                 \
    "    server: https://api.example.test:6443\n" extra

/* A temporary directory with a "sub" folder holding the kubeconfig. */
typedef struct fixture {
    char dir[64];
    char sub[96];
    char files[8][160];
    size_t n_files;
    kubeconfig kc;
    wf_err err;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/wsflyte-kc-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->sub, sizeof(f->sub), "%s/sub", f->dir);
    assert_int_equal(mkdir(f->sub, 0700), 0);
    wf_err_init(&f->err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    kubeconfig_fini(&f->kc);
    for (size_t i = 0; i < f->n_files; i++)
        unlink(f->files[i]);
    rmdir(f->sub);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Writes text to dir/name and returns the path (owned by the fixture). */
static const char *put(fixture *f, const char *dir, const char *name, const char *text)
{
    char *path = f->files[f->n_files++];
    char buf[sizeof(f->files[0])];
    FILE *fp;

    /* Through buf: dir may be one of f->files, as far as the compiler knows. */
    snprintf(buf, sizeof(buf), "%s/%s", dir, name);
    memcpy(path, buf, sizeof(buf));
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static int load(fixture *f, const char *yaml)
{
    const char *path = put(f, f->sub, "config", yaml);

    return kubeconfig_load(path, &f->kc, &f->err);
}

static void expect_path(fixture *f, const char *got, const char *dir, const char *name)
{
    char want[256];

    assert_non_null(got);
    snprintf(want, sizeof(want), "%s/%s", dir, name);
    assert_string_equal(got, want);
    (void)f;
}

static void ca_file_and_token_resolve_against_the_kubeconfig_folder(void **state)
{
    fixture *f = *state;

    assert_int_equal(
        load(f, HEAD CLUSTER("    certificate-authority: ca.crt\n") "users:\n"
                                                                    "- name: u1\n"
                                                                    "  user: {token: " TOKEN "}\n"),
        0);
    assert_string_equal(f->kc.server, "https://api.example.test:6443");
    assert_string_equal(f->kc.context, "dev");
    assert_string_equal(f->kc.namespace, "team-a");
    expect_path(f, f->kc.ca_file, f->sub, "ca.crt");
    assert_null(f->kc.ca_pem);
    assert_string_equal(f->kc.token, TOKEN);
    assert_null(f->kc.token_file);
}

static void ca_data_takes_precedence_over_ca_file(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, HEAD CLUSTER("    certificate-authority: ca.crt\n"
                                          "    certificate-authority-data: " CERT_B64
                                          "\n") "users:\n- name: u1\n  user: {}\n"),
                     0);
    assert_null(f->kc.ca_file);
    assert_non_null(f->kc.ca_pem);
    assert_int_equal(f->kc.ca_pem_len, strlen(CERT_PEM));
    assert_memory_equal(f->kc.ca_pem, CERT_PEM, f->kc.ca_pem_len);
    assert_null(f->kc.token);
}

static void token_file_wins_over_token_and_is_resolved(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, HEAD CLUSTER("") "users:\n"
                                              "- name: u1\n"
                                              "  user:\n"
                                              "    token: " TOKEN "\n"
                                              "    tokenFile: ../token\n"),
                     0);
    assert_null(f->kc.token);
    expect_path(f, f->kc.token_file, f->sub, "../token");
}

static void client_certificate_files_and_data(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, HEAD CLUSTER("") "users:\n"
                                              "- name: u1\n"
                                              "  user:\n"
                                              "    client-certificate: certs/me.crt\n"
                                              "    client-key: /abs/me.key\n"),
                     0);
    expect_path(f, f->kc.client_cert_file, f->sub, "certs/me.crt");
    assert_string_equal(f->kc.client_key_file, "/abs/me.key");
    kubeconfig_fini(&f->kc);

    assert_int_equal(load(f, HEAD CLUSTER("") "users:\n"
                                              "- name: u1\n"
                                              "  user:\n"
                                              "    client-certificate-data: " CERT_B64 "\n"
                                              "    client-key-data: " KEY_B64 "\n"),
                     0);
    assert_non_null(f->kc.client_cert_pem);
    assert_non_null(f->kc.client_key_pem);
    assert_null(f->kc.client_cert_file);
    assert_true(strstr(f->kc.client_key_pem, "PRIVATE KEY") != NULL);
}

static void certificate_without_key_is_refused(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, HEAD CLUSTER("") "users:\n"
                                              "- name: u1\n"
                                              "  user:\n"
                                              "    token: " TOKEN "\n"
                                              "    client-certificate: me.crt\n"),
                     -1);
    assert_int_equal(f->err.cls, WF_CONFIG);
    assert_string_equal(f->err.code, "config.kubeconfig");
    assert_non_null(strstr(f->err.msg, "users[\"u1\"].user.client-key"));
    assert_null(strstr(f->err.msg, TOKEN));
}

static void missing_context_names_file_and_context(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, "current-context: prod\n"
                             "contexts:\n"
                             "- name: dev\n"
                             "  context: {cluster: c1}\n" CLUSTER("")),
                     -1);
    assert_non_null(strstr(f->err.msg, f->sub));
    assert_non_null(strstr(f->err.msg, "current-context"));
    assert_non_null(strstr(f->err.msg, "\"prod\": no entry of that name in contexts"));
}

static void missing_current_context_is_refused(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, "contexts: []\n" CLUSTER("")), -1);
    assert_non_null(strstr(f->err.msg, "current-context: not set"));
}

static void missing_cluster_and_user_entries_are_named(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, HEAD), -1);
    assert_non_null(strstr(f->err.msg, "contexts[\"dev\"].context.cluster: \"c1\": no entry"));
    kubeconfig_fini(&f->kc);
    wf_err_init(&f->err);
    assert_int_equal(load(f, HEAD CLUSTER("")), -1);
    assert_non_null(strstr(f->err.msg, "contexts[\"dev\"].context.user: \"u1\": no entry"));
}

static void insecure_skip_tls_verify_is_refused(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, HEAD CLUSTER("    insecure-skip-tls-verify: true\n")), -1);
    /* printed with the value node's line and column */
    assert_non_null(strstr(f->err.msg, "config:11:31: clusters[\"c1\"].cluster."
                                       "insecure-skip-tls-verify: wsflyte always verifies"));
}

static void exec_plugin_is_refused(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, HEAD CLUSTER("") "users:\n"
                                              "- name: u1\n"
                                              "  user:\n"
                                              "    exec: {command: aws, args: [eks, get-token]}\n"),
                     -1);
    assert_non_null(strstr(f->err.msg, "users[\"u1\"].user.exec: not supported"));
}

static void bad_base64_and_non_pem_are_refused(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, HEAD CLUSTER("    certificate-authority-data: '%%%'\n")), -1);
    assert_non_null(strstr(f->err.msg, "certificate-authority-data: not valid base64"));
    kubeconfig_fini(&f->kc);
    wf_err_init(&f->err);
    assert_int_equal(
        load(f, HEAD CLUSTER("    certificate-authority-data: bm90IGEgY2VydGlmaWNhdGU=\n")), -1);
    assert_non_null(strstr(f->err.msg, "does not decode to PEM"));
}

static void server_must_be_an_http_url(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, HEAD "clusters:\n- name: c1\n  cluster: {server: api:6443}\n"), -1);
    assert_non_null(strstr(f->err.msg, "clusters[\"c1\"].cluster.server: must be an http"));
}

/* The same URL rule as flyte.admin_url: a scheme alone is not a server. */
static void server_without_a_host_is_refused(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, HEAD "clusters:\n- name: c1\n  cluster: {server: \"https:///api\"}\n"),
                     -1);
    assert_non_null(strstr(f->err.msg, "clusters[\"c1\"].cluster.server: must be an http"));
}

static void syntax_error_has_file_line_and_column(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, "current-context: dev\ncontexts: [\n"), -1);
    assert_non_null(strstr(f->err.msg, "/sub/config:3:1: syntax error"));
}

static void unreadable_file_is_named(void **state)
{
    fixture *f = *state;
    char path[160];

    snprintf(path, sizeof(path), "%s/missing", f->dir);
    assert_int_equal(kubeconfig_load(path, &f->kc, &f->err), -1);
    assert_non_null(strstr(f->err.msg, path));
    assert_non_null(strstr(f->err.msg, "No such file"));
}

/* $KUBECONFIG-style lists: the first file to define a name wins; paths
 * resolve against the file that holds the entry. */
static void file_lists_merge_like_client_go(void **state)
{
    fixture *f = *state;
    const char *a = put(f, f->dir, "a", HEAD);
    const char *b = put(f, f->sub, "b",
                        "current-context: other\n" CLUSTER(
                            "    certificate-authority: ca.crt\n") "users:\n- name: u1\n  user: "
                                                                   "{tokenFile: tok}\n");
    char list[400];

    snprintf(list, sizeof(list), "%s:%s", a, b);
    setenv("KUBECONFIG", list, 1);
    assert_int_equal(kubeconfig_load("", &f->kc, &f->err), 0);
    unsetenv("KUBECONFIG");
    assert_string_equal(f->kc.context, "dev");
    assert_string_equal(f->kc.path, a);
    expect_path(f, f->kc.ca_file, f->sub, "ca.crt");
    expect_path(f, f->kc.token_file, f->sub, "tok");
}

static void httpc_opts_and_static_token_auth(void **state)
{
    fixture *f = *state;
    httpc_opts o = {0};
    char buf[128];

    assert_int_equal(load(f, HEAD CLUSTER("    certificate-authority-data: " CERT_B64
                                          "\n") "users:\n- name: u1\n  user: {token: " TOKEN "}\n"),
                     0);
    kubeconfig_httpc_opts(&f->kc, &o);
    assert_string_equal(o.base_url, "https://api.example.test:6443");
    assert_ptr_equal(o.ca_pem, f->kc.ca_pem);
    assert_ptr_equal(o.auth, kubeconfig_token_auth);
    assert_int_equal(o.auth(o.auth_ud, 1, buf, sizeof(buf), &f->err), 0);
    assert_string_equal(buf, "Bearer " TOKEN);
    assert_int_equal(o.auth(o.auth_ud, 0, buf, 10, &f->err), -1);
    assert_null(strstr(f->err.msg, TOKEN));
}

static void token_with_header_breaking_characters_is_refused(void **state)
{
    fixture *f = *state;

    assert_int_equal(load(f, HEAD CLUSTER("") "users:\n- name: u1\n"
                                              "  user: {token: \"a\\r\\nX-Evil: 1\"}\n"),
                     -1);
    assert_non_null(strstr(f->err.msg, "token: holds characters"));
}

/* ---- TLS: certificate-authority-data reaches libcurl as a blob ---- */

#define OPENSSL_CERTS                                                                              \
    "cd %s && "                                                                                    \
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "           \
    "-subj /CN=wsflyte-test-ca -keyout ca.key -out ca.crt && "                                     \
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "           \
    "-subj /CN=other-ca -keyout other.key -out other.crt && "                                      \
    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "                         \
    "-subj /CN=127.0.0.1 -keyout srv.key -out srv.csr && "                                         \
    "printf 'subjectAltName=IP:127.0.0.1\\n' > ext && "                                            \
    "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "              \
    "-extfile ext -out srv.crt"

typedef struct tls_server {
    struct MHD_Daemon *daemon;
    char *cert, *key;
    unsigned port;
    char auth[128];
} tls_server;

static char *slurp(const char *dir, const char *name)
{
    char path[256], *buf = calloc(1, 65536);
    FILE *fp;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(buf);
    n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void b64(const char *in, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), i;
    const unsigned char *p = (const unsigned char *)in;

    for (i = 0; i + 2 < n; i += 3) {
        *out++ = t[p[i] >> 2];
        *out++ = t[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        *out++ = t[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
        *out++ = t[p[i + 2] & 63];
    }
    if (i < n) {
        *out++ = t[p[i] >> 2];
        *out++ = t[((p[i] & 3) << 4) | (i + 1 < n ? p[i + 1] >> 4 : 0)];
        *out++ = i + 1 < n ? t[(p[i + 1] & 15) << 2] : '=';
        *out++ = '=';
    }
    *out = '\0';
}

static enum MHD_Result tls_request(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *data,
                                   size_t *data_len, void **con_cls)
{
    tls_server *s = cls;
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    static const char body[] = "{\"major\":\"1\"}";
    struct MHD_Response *r;
    enum MHD_Result rc;

    (void)url, (void)method, (void)version, (void)data, (void)data_len, (void)con_cls;
    snprintf(s->auth, sizeof(s->auth), "%s", a ? a : "");
    r = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
}

static long get_version(fixture *f, wf_err *err)
{
    httpc_opts o = {0};
    http_response r = {0};
    httpc *h;
    long status = -1;

    o.api = "k8s";
    kubeconfig_httpc_opts(&f->kc, &o);
    /* A TLS handshake under valgrind, beside the end-to-end suite, can take
     * longer than the service's defaults: this test is about trust. */
    o.timeout_ms = 60000;
    o.connect_timeout_ms = 30000;
    h = httpc_new(&o, err);
    assert_non_null(h);
    if (httpc_request(h, "GET", "/version", NULL, NULL, 0, &r, err) == 0)
        status = r.status;
    http_response_fini(&r);
    httpc_free(h);
    return status;
}

static void ca_data_verifies_a_tls_server(void **state)
{
    fixture *f = *state;
    char cmd[2048], tls[128], *ca, *other, *ca64, *yaml;
    struct sockaddr_in sa = {0};
    tls_server s = {0};
    wf_err err;

    if (system("command -v openssl >/dev/null 2>&1") != 0 ||
        MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        skip();
    snprintf(tls, sizeof(tls), "%s/tls", f->dir);
    assert_int_equal(mkdir(tls, 0700), 0);
    snprintf(cmd, sizeof(cmd), "(" OPENSSL_CERTS ") >/dev/null 2>&1", tls);
    assert_int_equal(system(cmd), 0);
    s.cert = slurp(tls, "srv.crt");
    s.key = slurp(tls, "srv.key");
    ca = slurp(tls, "ca.crt");
    other = slurp(tls, "other.crt");
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s.daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0, NULL, NULL, tls_request,
                         &s, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_HTTPS_MEM_CERT, s.cert,
                         MHD_OPTION_HTTPS_MEM_KEY, s.key, MHD_OPTION_END);
    assert_non_null(s.daemon);
    s.port = MHD_get_daemon_info(s.daemon, MHD_DAEMON_INFO_BIND_PORT)->port;

    ca64 = malloc(strlen(ca) * 2 + 4);
    yaml = malloc(strlen(ca) * 2 + 1024);
    for (int round = 0; round < 2; round++) {
        b64(round == 0 ? ca : other, ca64);
        sprintf(yaml,
                HEAD "clusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:%u\n"
                     "    certificate-authority-data: %s\n"
                     "users:\n- name: u1\n  user: {token: " TOKEN "}\n",
                s.port, ca64);
        kubeconfig_fini(&f->kc);
        assert_int_equal(load(f, yaml), 0);
        wf_err_init(&err);
        if (round == 0) {
            assert_int_equal(get_version(f, &err), 200);
            assert_string_equal(s.auth, "Bearer " TOKEN);
        } else {
            /* Signed by another CA: refused, and the token never sent. */
            s.auth[0] = '\0';
            assert_int_equal(get_version(f, &err), -1);
            assert_string_equal(err.code, "k8s.connect");
            assert_string_equal(s.auth, "");
        }
    }
    MHD_stop_daemon(s.daemon);
    free(ca64);
    free(yaml);
    free(ca);
    free(other);
    free(s.cert);
    free(s.key);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tls);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ca_file_and_token_resolve_against_the_kubeconfig_folder,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(ca_data_takes_precedence_over_ca_file, setup, teardown),
        cmocka_unit_test_setup_teardown(token_file_wins_over_token_and_is_resolved, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(client_certificate_files_and_data, setup, teardown),
        cmocka_unit_test_setup_teardown(certificate_without_key_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_context_names_file_and_context, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_current_context_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_cluster_and_user_entries_are_named, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(insecure_skip_tls_verify_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(exec_plugin_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_base64_and_non_pem_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(server_must_be_an_http_url, setup, teardown),
        cmocka_unit_test_setup_teardown(server_without_a_host_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(syntax_error_has_file_line_and_column, setup, teardown),
        cmocka_unit_test_setup_teardown(unreadable_file_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(file_lists_merge_like_client_go, setup, teardown),
        cmocka_unit_test_setup_teardown(httpc_opts_and_static_token_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(token_with_header_breaking_characters_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(ca_data_verifies_a_tls_server, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
