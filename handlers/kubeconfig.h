/* kubeconfig: reads the connection settings of a kubeconfig file
 * (kubernetes.api_url "kubeconfig:PATH"), the way client-go does for the
 * subset wsflyte supports.
 *
 * PATH may list several files separated by ':' ($KUBECONFIG style); an
 * empty PATH means $KUBECONFIG, else ~/.kube/config.  As in client-go, the
 * first file that sets current-context wins, and so does the first file
 * that defines a context, cluster or user of a given name.
 *
 * current-context -> contexts[name].context.{cluster, user, namespace};
 * clusters[].cluster: server (http:// or https://), certificate-authority-data
 * (base64 PEM, takes precedence) or certificate-authority (a path);
 * users[].user: tokenFile (re-read like the in-cluster token; takes
 * precedence, as client-go's last-read file token does) or token, and/or
 * client-certificate[-data] with client-key[-data].  Relative paths resolve
 * against the directory of the file that holds the entry, not the working
 * directory.
 *
 * Refused with a clear error (WF_CONFIG, code "config.kubeconfig"):
 * insecure-skip-tls-verify: true (TLS is always verified), exec and
 * auth-provider plugins and username/password when the user has no token or
 * certificate, a client certificate without its key, malformed base64 or
 * data that is not PEM.  tls-server-name and proxy-url are ignored with a
 * warning (libcurl has no SNI override; the proxy comes from the usual
 * environment variables).  Messages name the file, line and column, and the
 * key path; never a token or key. */
#ifndef WF_KUBECONFIG_H
#define WF_KUBECONFIG_H

#include <stddef.h>

#include "httpc.h"
#include "wf_err.h"

typedef struct kubeconfig {
    char *path;      /* the file that holds the context */
    char *context;   /* current-context */
    char *namespace; /* the context's namespace, or NULL */
    char *server;    /* API server URL */
    /* At most one of ca_file / ca_pem is set; neither = system trust store. */
    char *ca_file; /* absolute */
    char *ca_pem;  /* decoded certificate-authority-data */
    size_t ca_pem_len;
    /* Credentials: token_file (re-read; preferred) or token, and/or a
     * client certificate as files or PEM data. */
    char *token_file; /* absolute */
    char *token;
    char *client_cert_file;
    char *client_key_file;
    char *client_cert_pem;
    size_t client_cert_pem_len;
    char *client_key_pem;
    size_t client_key_pem_len;
} kubeconfig;

/* Loads path (see above; may be NULL or "").  Returns 0 with *kc filled, or
 * -1 with err set; release *kc with kubeconfig_fini in both cases. */
int kubeconfig_load(const char *path, kubeconfig *kc, wf_err *err);
void kubeconfig_fini(kubeconfig *kc);

/* Sets base_url and the TLS fields of *o from kc (pointers into kc, which
 * must outlive httpc_new), and, for a static token, auth =
 * kubeconfig_token_auth with auth_ud = kc.  A token_file is left to the
 * caller's re-reading token source. */
void kubeconfig_httpc_opts(const kubeconfig *kc, httpc_opts *o);

/* httpc_auth_fn for a static token; ud is the kubeconfig.  A static token
 * cannot be renewed, so invalidate changes nothing. */
int kubeconfig_token_auth(void *ud, int invalidate, char *buf, size_t len, wf_err *err);

#endif
