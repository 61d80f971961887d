/* jsonskim: JSON text without the members nobody reads, before parsing.
 *
 * Every object the Kubernetes API answers with carries metadata.managedFields
 * (server-side apply's record of who owns which field): about 40 % of the
 * bytes of a RoleBinding or Namespace, and jansson spends some 170
 * instructions per byte building values wsflyte never looks at.  This scan
 * copies the text once, dropping the named member of every object that is
 * the value of the named parent key, at any depth (each item of a LIST). */
#ifndef WF_JSONSKIM_H
#define WF_JSONSKIM_H

#include <stddef.h>

/* Returns a malloc'd, NUL-terminated copy of text[0..len) without every
 * member `key` of an object that is the value of a member `parent` (keys
 * compared as written, without unescaping), its length in *out_len; or NULL
 * when the text does not scan as JSON objects and arrays (nesting past 256,
 * an unterminated string, unbalanced brackets) or on OOM: the caller then
 * parses the text as it is.  For valid JSON, what remains parses to what
 * the whole text parses to, minus those members; a dropped member's value
 * is only scanned for its end, not checked. */
char *jsonskim_without(const char *text, size_t len, const char *parent, const char *key,
                       size_t *out_len);

/* Returns a malloc'd, NUL-terminated copy of the object text[0..len) with
 * only the members named in keep[0..n_keep), each "parent.key": member
 * parent of the top object and, when its value is an object, only its
 * members key (keys compared as written); its length in *out_len.  NULL
 * when the text does not scan as an object (an unterminated string,
 * unbalanced brackets, nesting past 256) or on OOM: the caller then parses
 * the text as it is.  For valid JSON, what remains parses to the values the
 * whole text holds at those paths; what is dropped is only scanned. */
char *jsonskim_only(const char *text, size_t len, const char *const *keep, size_t n_keep,
                    size_t *out_len);

#endif
