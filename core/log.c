/* One line per message on stderr, JSON or text, with the workspace, event
 * and attempt as fields. */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Set once at start-up, before any thread exists; read-only afterwards. */
static wf_log_format log_format = WF_LOG_TEXT;
static wf_log_level log_level = WF_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(wf_log_format format, wf_log_level level)
{
    log_format = format;
    log_level = level;
}

int log_enabled(wf_log_level level)
{
    return level >= log_level;
}

static void format_time(char *buf, size_t len)
{
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

/* A JSON string of s.  jansson refuses text that is not UTF-8 (a hostile
 * workspace id, a server's bytes in an error message): such a line keeps
 * its field, with the offending bytes as '?', rather than lose it. */
static json_t *text_value(const char *s)
{
    json_t *v = json_string(s);
    char *copy;

    if (v || (copy = strdup(s)) == NULL)
        return v;
    for (unsigned char *p = (unsigned char *)copy; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

static void emit_json(wf_log_level level, const log_ctx *ctx, const char *ts, const char *msg)
{
    json_t *o = json_object();
    char *line;

    if (o == NULL)
        return;
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(level_names[level]));
    json_object_set_new(o, "message", text_value(msg));
    if (ctx && ctx->workspace_id)
        json_object_set_new(o, "workspace_id", text_value(ctx->workspace_id));
    if (ctx && ctx->event_id)
        json_object_set_new(o, "event_id", text_value(ctx->event_id));
    if (ctx && ctx->trace_id)
        json_object_set_new(o, "trace_id", text_value(ctx->trace_id));
    if (ctx && ctx->attempt > 0)
        json_object_set_new(o, "attempt", json_integer(ctx->attempt));
    if (ctx && ctx->duration_ms >= 0)
        json_object_set_new(o, "duration_ms", json_integer(ctx->duration_ms));
    line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (line) {
        fprintf(stderr, "%s\n", line);
        free(line);
    }
    json_decref(o);
}

static void emit_text(wf_log_level level, const log_ctx *ctx, const char *ts, const char *msg)
{
    char extra[512] = "";
    size_t n = 0;

    /* The short fields first: an event id may be long enough to fill the
     * rest. */
    if (ctx && ctx->workspace_id)
        n += snprintf(extra + n, sizeof(extra) - n, " workspace=%s", ctx->workspace_id);
    if (ctx && ctx->trace_id && n < sizeof(extra))
        n += snprintf(extra + n, sizeof(extra) - n, " trace_id=%s", ctx->trace_id);
    if (ctx && ctx->event_id && n < sizeof(extra))
        n += snprintf(extra + n, sizeof(extra) - n, " event=%s", ctx->event_id);
    if (ctx && ctx->attempt > 0 && n < sizeof(extra))
        n += snprintf(extra + n, sizeof(extra) - n, " attempt=%d", ctx->attempt);
    if (ctx && ctx->duration_ms >= 0 && n < sizeof(extra))
        snprintf(extra + n, sizeof(extra) - n, " duration=%ldms", ctx->duration_ms);
    fprintf(stderr, "%s %-5s %s%s\n", ts, level_names[level], msg, extra);
}

void log_msg(wf_log_level level, const log_ctx *ctx, const char *fmt, ...)
{
    char msg[2048];
    char ts[40];
    va_list ap;

    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    format_time(ts, sizeof(ts));
    if (log_format == WF_LOG_JSON)
        emit_json(level, ctx, ts, msg);
    else
        emit_text(level, ctx, ts, msg);
}
