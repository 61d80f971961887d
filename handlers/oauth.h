/* oauth: FlyteAdmin OAuth2 client credentials as an httpc auth provider.
 *
 * The token endpoint is discovered once through
 * GET {flyte.admin_url}/.well-known/oauth-authorization-server (RFC 8414,
 * "Accept: application/json" so the answer is snake_case).  A token is
 * requested with POST token_endpoint, HTTP Basic
 * base64(urlenc(client_id) ":" urlenc(secret)) and
 * grant_type=client_credentials&scope=<flyte.auth.scopes joined by ' ',
 * default "all">.  The secret is read from flyte.auth.client_secret_file
 * (surrounding whitespace trimmed) on every token request, so a rotated
 * secret is picked up without a restart.
 *
 * A token is cached until 10% of its expires_in (at most 60 s) before it
 * expires (300 s when the server gives no expires_in), and dropped when
 * httpc reports a 401 (invalidate), unless it was fetched less than
 * OAUTH_FRESH_MS ago: then another thread has just replaced the token the
 * 401 was for, and the new one is used.
 *
 * One provider is shared by every worker thread: a mutex serialises it, so
 * concurrent callers wait for one token request instead of each sending
 * their own.  Neither the secret nor a token ever appears in an error
 * message or a log line.
 *
 * Failures are WF_TRANSIENT: code "flyte.connect" / "flyte.timeout" when the
 * server cannot be reached, else "flyte.auth" (unreadable secret file, auth
 * switched off in FlyteAdmin, a token endpoint that refuses the client): a
 * credentials problem must hold events back for retry, never dead-letter
 * them.  While a refresh fails, a token that has not yet expired is still
 * used.  Bad settings are WF_CONFIG from oauth_new. */
#ifndef WF_OAUTH_H
#define WF_OAUTH_H

#include <stddef.h>

#include "config.h"
#include "wf_err.h"

#define OAUTH_FRESH_MS 1000

typedef struct oauth oauth;

/* Reads flyte.admin_url and flyte.auth.* from cfg (copied).  ca_file is the
 * CA bundle the FlyteAdmin client verifies TLS with (NULL = system trust
 * store); the discovery and token calls use the same.  Sends nothing yet.
 * Returns NULL with err set (WF_CONFIG when flyte.auth.type is not
 * client_credentials or client_id / client_secret_file are empty). */
oauth *oauth_new(const wf_config *cfg, const char *ca_file, wf_err *err);
void oauth_free(oauth *o);

/* httpc_auth_fn: writes "Bearer <token>" to buf.  Returns 0, or -1 with err
 * set.  Thread-safe. */
int oauth_auth(void *ud, int invalidate, char *buf, size_t len, wf_err *err);

/* Token requests sent so far (for tests and metrics). */
unsigned long oauth_token_requests(oauth *o);

#endif
