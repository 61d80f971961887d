/* log: one line per message on stderr, JSON for machines or text for
 * terminals.  Fields that apply (workspace, event, attempt, duration, trace
 * id) come from an optional log_ctx.  Messages must never contain secrets: callers
 * log names and paths, never token or password values. */
#ifndef WF_LOG_H
#define WF_LOG_H

#include "config.h"

typedef struct log_ctx {
    const char *workspace_id; /* NULL = absent */
    const char *event_id;
    int attempt;          /* 0 = absent */
    long duration_ms;     /* < 0 = absent */
    const char *trace_id; /* the event's W3C trace id (trace.h); NULL = absent */
} log_ctx;

#define LOG_CTX_NONE ((const log_ctx *)0)

void log_setup(wf_log_format format, wf_log_level level);
int log_enabled(wf_log_level level);
void log_msg(wf_log_level level, const log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(ctx, ...) log_msg(WF_LOG_DEBUG, ctx, __VA_ARGS__)
#define log_info(ctx, ...)  log_msg(WF_LOG_INFO, ctx, __VA_ARGS__)
#define log_warn(ctx, ...)  log_msg(WF_LOG_WARN, ctx, __VA_ARGS__)
#define log_error(ctx, ...) log_msg(WF_LOG_ERROR, ctx, __VA_ARGS__)

#endif
