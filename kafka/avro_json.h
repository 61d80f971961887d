/* avro_json: Avro data <-> the plain-JSON form of CONTRACT.md §2, and
 * Avro schema resolution done on that form.
 *
 * Plain JSON: records and maps are objects, arrays are arrays, a union is
 * its branch's value (null for the null branch), an enum is its symbol name,
 * int and long are integers, float and double are reals, string is a string,
 * and bytes and fixed are strings with one code point U+0000..U+00FF per byte
 * (Avro's own JSON convention).
 *
 * Decoding reads Avro binary with the WRITER schema into plain JSON; a
 * reader (avro_json_reader, built from our .avsc) then projects that JSON
 * onto the READER schema by Avro's resolution rules: fields match by name
 * (or a reader alias), fields only the writer has are dropped, reader fields
 * the writer lacks take their declared "default", int promotes to long,
 * float and double, long to float and double, float to double, and an
 * unknown enum symbol takes the reader enum's "default" if it has one.
 * avro-c 1.11 cannot do this itself: its resolvers refuse reader fields
 * missing from the writer and never read a field's default.
 *
 * The binary decoder is our own rather than avro_value_read(): avro-c 1.11
 * accepts enum indexes past the last symbol and loops over array blocks that
 * claim billions of zero-byte items.  This one checks every index and length
 * against the schema and the bytes left. */
#ifndef WF_AVRO_JSON_H
#define WF_AVRO_JSON_H

#include <avro.h>
#include <jansson.h>
#include <stddef.h>

#include "wf_err.h"

/* Limits for untrusted data: nesting of schemas and values, and items in
 * one array or map. */
#define AVRO_JSON_MAX_DEPTH 64
#define AVRO_JSON_MAX_ITEMS 1000000

/* Reads exactly one datum of `writer` from buf[0..len).  Returns 0 and a new
 * reference in *out, or -1 with err set: WF_DESERIALIZATION "avro.decode"
 * for truncated or malformed data or bytes left over after the datum (the
 * message names the field path and byte offset), WF_INTERNAL on OOM. */
int avro_json_decode(avro_schema_t writer, const void *buf, size_t len, json_t **out, wf_err *err)
    __attribute__((warn_unused_result));

/* Converts an avro-c value (for instance one read by avro_value_read) to
 * plain JSON.  Returns 0 and a new reference in *out, or -1 with err set. */
int avro_json_from_value(const avro_value_t *src, json_t **out, wf_err *err)
    __attribute__((warn_unused_result));

/* Fills dest, a fresh value of any avro-c class, from plain JSON under
 * dest's schema.  Every field of a record must be present; members of `in`
 * the schema does not know are ignored.  A union takes the first branch the
 * JSON value fits.  Returns 0, or -1 with err set (WF_INTERNAL "avro.encode",
 * naming the field path). */
int avro_json_to_value(const json_t *in, avro_value_t *dest, wf_err *err)
    __attribute__((warn_unused_result));

/* Encodes `in` under `schema` as Avro binary into a malloc'd buffer whose
 * first `headroom` bytes are left for the caller (the wire-format header).
 * Returns 0 with *out and *out_len (headroom included), or -1 with err set
 * as avro_json_to_value(). */
int avro_json_encode(avro_schema_t schema, const json_t *in, size_t headroom, void **out,
                     size_t *out_len, wf_err *err) __attribute__((warn_unused_result));

/* A reader schema: a parsed .avsc with its named types indexed. */
typedef struct avro_json_reader avro_json_reader;

/* Indexes the named types of avsc and keeps a reference to it.  Returns
 * NULL with err set (WF_CONFIG "avro.schema") for a malformed schema. */
avro_json_reader *avro_json_reader_new(json_t *avsc, wf_err *err)
    __attribute__((warn_unused_result));
void avro_json_reader_free(avro_json_reader *r);

/* Projects plain JSON written under some writer schema onto the reader
 * schema (rules above).  Returns 0 and a new reference in *out, or -1 with
 * err set: WF_DESERIALIZATION "avro.schema" when the data cannot be resolved
 * (a reader field without default missing, a type that does not promote, an
 * unknown enum symbol without default), the message naming the field path. */
int avro_json_reader_project(const avro_json_reader *r, const json_t *in, json_t **out, wf_err *err)
    __attribute__((warn_unused_result));

#endif
