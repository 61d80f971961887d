/* url: the one test of what counts as an http(s) URL, shared by the
 * configuration (flyte.admin_url, the registry, OAuth endpoints), the OAuth
 * discovery document and kubeconfig's cluster server, so that a value one of
 * them accepts is never refused by another. */
#ifndef WF_URL_H
#define WF_URL_H

/* True when s is http:// or https:// followed by a host (not empty, not
 * starting with '/') and s holds no whitespace, which libcurl would
 * otherwise send or reject in its own words. */
int url_is_http(const char *s);

#endif
