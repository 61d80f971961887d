/* jsonout: a jansson document as compact JSON text, byte for byte what
 * json_dumps(doc, JSON_COMPACT) writes.
 *
 * Every API request body goes through it.  jansson's dumper pays for
 * generality per value (a loop check that formats each container's address
 * into a hash table, a callback per token, a UTF-8 decode per character);
 * this writer walks the document once into one growing buffer, at about a
 * quarter of the instructions.  Documents it does not write itself (a real
 * number, a top level that is not an object or array, nesting deeper than
 * JSONOUT_MAX_DEPTH, which is where a cycle ends up) are handed to
 * json_dumps, so the answer is always json_dumps's. */
#ifndef WF_JSONOUT_H
#define WF_JSONOUT_H

#include <jansson.h>
#include <stddef.h>

#define JSONOUT_MAX_DEPTH 512

/* Returns the text (malloc'd, NUL-terminated) and its length in *len (when
 * len is not NULL), or NULL where json_dumps would answer NULL: out of
 * memory, a string that is not valid UTF-8, a cycle. */
char *jsonout_compact(const json_t *doc, size_t *len);

#endif
