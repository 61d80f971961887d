/* libFuzzer target: the Kubernetes client's handling of API server answers
 * (k8s_get, k8s_list, k8s_probe: Status bodies, NotFound vs missing kind,
 * NamespaceTerminating causes, Retry-After), served by canned_server.h. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canned_server.h"
#include "config.h"
#include "k8s.h"

static canned srv;
static k8s *kube;
static wf_config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char url[64];
    wf_err err;

    (void)argc;
    (void)argv;
    canned_start(&srv);
    wf_config_defaults(&cfg);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", srv.port);
    free(cfg.kubernetes.api_url);
    cfg.kubernetes.api_url = strdup(url);
    wf_err_init(&err);
    kube = k8s_new(&cfg, NULL, NULL, NULL, &err);
    if (kube == NULL) {
        fprintf(stderr, "fuzz_k8s_response: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *obj = NULL;
    wf_err err;

    if (canned_set(&srv, data, size) != 0)
        return 0;
    wf_err_init(&err);
    if (k8s_get(kube, "v1", "Namespace", NULL, "ws-1-development", &obj, &err) == 0)
        json_decref(obj);
    obj = NULL;
    wf_err_init(&err);
    if (k8s_list(kube, "rbac.authorization.k8s.io/v1", "RoleBinding", "ws-1-development",
                 "wsflyte.io/workspace=ws-1", &obj, &err) == 0)
        json_decref(obj);
    (void)k8s_probe(kube);
    return 0;
}
