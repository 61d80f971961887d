/* wf_err: the error every wsflyte operation reports into.
 *
 * A failure carries a class that decides what happens to the event
 * (retry, dead-letter), a short stable code for headers and metrics
 * ("flyte.503", "k8s.422", "avro.schema", "config.key") and a message that
 * names the operation, the item and the cause.  The first error set wins:
 * later wf_err_set() calls on an already-set error are ignored, so the
 * innermost, most specific cause survives. */
#ifndef WF_ERR_H
#define WF_ERR_H

#include <stddef.h>

typedef enum wf_class {
    WF_OK = 0,
    WF_TRANSIENT,       /* 5xx, 429, timeouts, connection errors: retry */
    WF_PERMANENT,       /* other 4xx, refused by the server: dead-letter */
    WF_DESERIALIZATION, /* undecodable record: dead-letter, never retry */
    WF_VALIDATION,      /* decoded but invalid (bad workspace_id...): dead-letter */
    WF_CONFIG,          /* bad configuration: stop start-up */
    WF_INTERNAL,        /* out of memory, bug: stop */
} wf_class;

#define WF_ERR_CODE_MAX 32
#define WF_ERR_MSG_MAX  1024

typedef struct wf_err {
    wf_class cls;
    char code[WF_ERR_CODE_MAX];
    char msg[WF_ERR_MSG_MAX];
    long retry_after_ms; /* server's Retry-After, or -1 */
} wf_err;

void wf_err_init(wf_err *e);
/* Sets e unless it already holds an error.  code may be NULL. */
void wf_err_set(wf_err *e, wf_class cls, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefixes the message of a set error with context ("project ws-1: ..."). */
void wf_err_prefix(wf_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int wf_err_is_set(const wf_err *e);
/* Name used in x-error-class headers and metrics: "TRANSIENT", ... */
const char *wf_class_name(wf_class cls);
/* The class an event's outcome reports (x-error-class, the result's
 * error.class): one of the contract's four.  An internal failure (out of
 * memory, a bug) is TRANSIENT: the same record may well succeed later; a
 * configuration problem is PERMANENT: only an operator's change helps. */
wf_class wf_class_reported(wf_class cls);
/* Parses a class name back; returns WF_OK for an unknown name. */
wf_class wf_class_parse(const char *name);

#endif
