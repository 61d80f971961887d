/* names: the rules that decide which strings may become Kubernetes names,
 * label values, Flyte ids and S3 prefixes, and the stable encodings that
 * turn free-form values (user ids, emails) into valid ones.  Every value from
 * an event passes through here before it reaches a name, label or URL. */
#ifndef WF_NAMES_H
#define WF_NAMES_H

#include <stddef.h>

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most max_len bytes.
 * The one DNS-label check: configured namespaces and derived names alike. */
int names_is_dns1123_label(const char *s, size_t max_len);
/* Kubernetes label value: empty, or <= 63 of [A-Za-z0-9._-] starting and
 * ending alphanumeric. */
int names_is_label_value(const char *s);
/* Kubernetes label key (a qualified name): an optional prefix, a DNS-1123
 * subdomain of at most 253 characters, and '/', then a name of 1..63 of
 * [A-Za-z0-9._-] starting and ending alphanumeric. */
int names_is_label_key(const char *s);
/* S3 bucket name: 3..63 of [a-z0-9.-], starting and ending alphanumeric,
 * no "..", not an IP address. */
int names_is_bucket(const char *s);
/* Kubernetes quantity: ^[+]?[0-9.]+([eE][-+]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$
 * without a sign (quotas are never negative). */
int names_is_quantity(const char *s);

/* First 2*nbytes hex digits of SHA-256(s) into out (size >= 2*nbytes+1). */
void names_hash_hex(const char *s, size_t nbytes, char *out);

/* A stable, valid, unique object-name part for a user id: the user id's
 * lowercase [a-z0-9-] characters (at most 20), '-', and 10 hex digits of its
 * hash, e.g. "alice-2bd806c97f".  out must hold NAMES_USER_KEY_MAX. */
#define NAMES_USER_KEY_MAX 32
void names_user_key(const char *user_id, char *out);
/* True when s has the form names_user_key produces. */
int names_is_user_key(const char *s);

/* True when s is well-formed UTF-8 (no overlongs, surrogates or code
 * points above U+10FFFF): jansson refuses anything else. */
int names_is_utf8(const char *s);

/* A copy of s for display (Flyte project name and description): control
 * characters, newlines included, become spaces.  Returns malloc'd or NULL. */
char *names_display(const char *s);

/* Copies at most max_bytes of s into a new string, never cutting a UTF-8
 * sequence.  Returns malloc'd or NULL on OOM. */
char *names_truncate_utf8(const char *s, size_t max_bytes);

/* Replaces "{{ project }}" and "{{ domain }}" (FlyteAdmin's own syntax: one
 * space inside each brace) in tmpl.  domain may be NULL.  Returns malloc'd. */
char *names_render_template(const char *tmpl, const char *project, const char *domain);

#endif
