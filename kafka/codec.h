/* codec: Kafka record values <-> ws_event / prov_result.
 *
 * Decoding accepts Avro binary in the Confluent wire format (0x00, 4-byte
 * big-endian schema id, body) and JSON (content-type application/json or a
 * value starting with '{').  The writer schema comes from a Confluent
 * Schema Registry (GET /schemas/ids/{id}) when opts.registry_url is set,
 * else from <schema_dir>/schema-ids.json, a map {"<id>": "<file.avsc>"}.
 *
 * Schema evolution: the record is read with its writer schema, converted to
 * the plain-JSON form, and fields the writer lacks take the defaults that our
 * reader schema (<schema_dir>/workspace_lifecycle_event.avsc) declares.  Fields
 * only the writer has are ignored.  avro-c 1.11 cannot do this itself: its
 * resolvers refuse reader fields missing from the writer.
 *
 * Decisions:
 * - Bytes left over after the Avro record are an error ("avro.decode"): the
 *   Confluent serializers never write them, and they usually mean the schema
 *   id names the wrong writer schema, which would otherwise misdecode.
 * - A writer schema that cannot be resolved to ours (a reader field without
 *   default missing, a type that does not promote, an enum symbol we do not
 *   know) fails with "avro.schema"; the message names the field path.
 * - Encoding uses our own schema and its id: without a registry, the
 *   smallest id in the id map whose schema equals ours (avro_schema_equal);
 *   with a registry, the id the registry reports for our schema under the
 *   subject (POST /subjects/{subject}, TopicNameStrategy: "<topic>-value"),
 *   found by codec_check_result_schema at start-up (the service) or on
 *   first use (the tools), and cached.  Only codec_check_result_schema
 *   registers, and only when told to (schemas.auto_register, off by
 *   default as in Confluent's serializers).  A registry that does not know our schema under the
 *   subject fails with WF_CONFIG "registry.subject"; an unreachable registry
 *   fails with WF_TRANSIENT "registry.unreachable" and never falls back to
 *   the local map, whose ids mean nothing to the registry's other clients.
 * - Registry lookups of writer schemas are cached per id for the codec's
 *   life.  Connection errors and timeouts give WF_TRANSIENT
 *   "registry.unreachable"; HTTP 404 gives WF_DESERIALIZATION "avro.schema";
 *   any other non-2xx status gives WF_TRANSIENT "registry.<status>" (a
 *   registry outage or credentials problem must not dead-letter events).
 * - JSON: duplicate member names are a "json.parse" error; members the
 *   event does not define are ignored.
 * - Encoded JSON is compact, UTF-8, without a trailing newline.
 *
 * A codec caches schemas and is not thread-safe: use one per thread.  The
 * registry client is libcurl; call curl_global_init() once at start-up. */
#ifndef WF_CODEC_H
#define WF_CODEC_H

#include <signal.h>
#include <stddef.h>

#include "event.h"
#include "wf_err.h"

typedef struct codec codec;

typedef enum codec_format { CODEC_AVRO, CODEC_JSON } codec_format;

typedef struct codec_opts {
    const char *schema_dir;   /* required */
    const char *registry_url; /* NULL or "" for the local id map */
    long http_timeout_ms;     /* registry calls; 0 = 5000 */
    /* The id map; NULL = <schema_dir>/schema-ids.json.  Its files are
     * relative to the map's own directory.  Unused with a registry. */
    const char *id_map_path;
    /* Registry subjects of our schemas; NULL = "workspace.lifecycle.v1-value"
     * and "workspace.provisioning.v1-value". */
    const char *event_subject;
    const char *result_subject;
} codec_opts;

/* Loads and checks both reader schemas and, without a registry, every
 * schema of the id map.  Returns NULL with err set (WF_CONFIG). */
codec *codec_new(const codec_opts *opts, wf_err *err);
void codec_free(codec *c);

/* The service's start-up check of the result schema, so that a schema the
 * registry lacks stops wsflyte before it consumes anything rather than at
 * its first result.  Without a registry it returns 0 at once (codec_new
 * found the id in the id map).  With one, it looks our result schema up
 * under the result subject; one the registry does not know is registered
 * when auto_register is set, else it fails WF_CONFIG "registry.subject"
 * with a message naming the subject and the command that registers it
 * (userinfo of the URL masked).  No answer, a 5xx, 408 or 429 is tried
 * again with backoff for wait_ms (until *stop, which may be NULL), then
 * fails WF_TRANSIENT; any other 4xx fails at once.  Returns 0 with the id
 * every later codec_encode_result uses, or -1 with err set. */
int codec_check_result_schema(codec *c, int auto_register, long wait_ms,
                              volatile sig_atomic_t *stop, wf_err *err);

/* Parses "avro" / "json".  Returns 0, or -1 for anything else. */
int codec_format_parse(const char *name, codec_format *out);

/* Decodes one record value.  content_type is the record's content-type
 * header or NULL.  Returns 0 with *ev filled (release with ws_event_fini),
 * or -1 with err set: class WF_DESERIALIZATION and code avro.magic,
 * avro.schema, avro.decode, json.parse or event.field; WF_VALIDATION
 * event.limit for an event beyond the limits of event.h; WF_TRANSIENT when
 * the registry cannot be reached. */
int codec_decode_event(codec *c, const void *buf, size_t len, const char *content_type,
                       ws_event *ev, wf_err *err);

/* For a record codec_decode_event rejected: reads what identifies the event
 * (ws_event_ids_from_json), from the JSON value or from the Avro record as
 * its writer schema has it, so that a record our schema cannot resolve (an
 * event type we do not know) or that exceeds a limit can still be answered
 * FAILED.  Returns 0 with *ev filled as there, or -1 with *ev zeroed when
 * event_id or workspace.workspace_id cannot be read. */
int codec_decode_event_ids(codec *c, const void *buf, size_t len, const char *content_type,
                           ws_event *ev);

/* Encodes with our own schema.  Returns 0 and a malloc'd buffer the caller
 * frees, or -1 with err set. */
int codec_encode_event(codec *c, const ws_event *ev, codec_format fmt, void **out, size_t *out_len,
                       wf_err *err);
int codec_encode_result(codec *c, const prov_result *r, codec_format fmt, void **out,
                        size_t *out_len, wf_err *err);
/* As codec_decode_event, for results (JSON when the value starts with '{');
 * field errors have code result.field. */
int codec_decode_result(codec *c, const void *buf, size_t len, prov_result *r, wf_err *err);

#endif
