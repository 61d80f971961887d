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

/* A document written piece by piece, where building a jansson tree first
 * would cost more than the text: the pieces get jsonout_compact's escapes
 * and number forms, so a document written as its tree would be is the same
 * text.  Storage belongs to the caller: start from a zeroed jsonout_buf.  A
 * failed piece (out of memory, a string that is not valid UTF-8) makes
 * jsonout_finish answer NULL. */
typedef struct jsonout_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} jsonout_buf;

/* Bytes as they are (punctuation, or text jsonout_is_compact accepted). */
void jsonout_raw(jsonout_buf *b, const char *s, size_t n);
/* A JSON string of s[0..n). */
void jsonout_string(jsonout_buf *b, const char *s, size_t n);
void jsonout_integer(jsonout_buf *b, json_int_t v);
/* Any value, as jsonout_compact writes it inside a document. */
void jsonout_value(jsonout_buf *b, const json_t *v);
/* Returns the text (malloc'd, NUL-terminated; its length in *len when len
 * is not NULL) and empties b; or NULL, b released, when a piece failed. */
char *jsonout_finish(jsonout_buf *b, size_t *len);

/* Whether text[0..len) is exactly what jsonout_compact writes of what
 * json_loads reads from it: an object or array without whitespace, keys
 * unique in each object, strings with jansson's escapes only, integers
 * without a sign on zero, no reals.  Text wsflyte wrote itself passes;
 * for anything else the answer may be 0 where a round trip would give the
 * same text (deep nesting, long numbers, many keys): then parse it. */
int jsonout_is_compact(const char *text, size_t len);

#endif
