/* livediff: how an object a server holds differs from what wsflyte would
 * write, field by field, as the write itself would see it.
 *
 * Two kinds of write, two readings of "differs":
 * - Kubernetes server-side apply (livediff_apply): only the fields wsflyte
 *   sets count.  Fields the server or other writers add (metadata.uid,
 *   resourceVersion, managedFields, status, defaulted spec fields, other
 *   managers' labels) are not differences, also inside list elements.
 *   Lists are atomic: same length, element by element.  Quantities in
 *   resource maps (spec.hard, LimitRange limits) compare by value ("1000m"
 *   is "1").  A field the live object's managedFields give to wsflyte's
 *   manager alone that the manifest no longer sets is a removal.
 * - FlyteAdmin's PUT (livediff_replace): the body replaces what is stored,
 *   so a live field wsflyte does not send is a difference, unless it is a
 *   value proto3 JSON prints for an unset field (null, "", 0, false, {}, []).
 * Either way, a string field holding a JSON document on both sides (the
 * authz ConfigMap's matrix, IAM policy documents) is compared inside, as a
 * whole document.
 *
 * Each difference is appended to changes as one string,
 *   <path>: <live value> -> <wanted value>
 * with JSON values, "(absent)" for a missing field, and paths like
 * metadata.labels["wsflyte.io/workspace"] or subjects[0].name. */
#ifndef WF_LIVEDIFF_H
#define WF_LIVEDIFF_H

#include <jansson.h>

/* Compares a manifest with the live object of the same name.  manager is
 * the field manager whose ownership decides removals (NULL: no removals).
 * Returns the number of differences appended to changes (an array), or -1
 * out of memory. */
int livediff_apply(const json_t *want, const json_t *live, const char *manager, json_t *changes);

/* Compares a FlyteAdmin request body with what a GET returned.  Returns as
 * livediff_apply. */
int livediff_replace(const json_t *want, const json_t *live, json_t *changes);

/* True when two Kubernetes quantity strings denote the same amount. */
int livediff_same_quantity(const char *a, const char *b);

#endif
