/* The error every operation reports into: class, stable code and message;
 * the first error wins, and classes map onto the contract's four. */
#include "wf_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

void wf_err_init(wf_err *e)
{
    memset(e, 0, sizeof(*e));
    e->retry_after_ms = -1;
}

/* Stores text as the message, cut to fit on a character boundary: it
 * travels as the x-error-message header and in JSON.  text may hold one
 * byte more than fits, so the cut can tell a whole character from half. */
static void store_msg(wf_err *e, const char *text)
{
    size_t n = utf8_prefix_len(text, sizeof(e->msg) - 1);

    memcpy(e->msg, text, n);
    e->msg[n] = '\0';
}

void wf_err_set(wf_err *e, wf_class cls, const char *code, const char *fmt, ...)
{
    char full[WF_ERR_MSG_MAX + 1];
    va_list ap;

    if (e == NULL || e->cls != WF_OK)
        return;
    e->cls = cls;
    snprintf(e->code, sizeof(e->code), "%s", code ? code : "");
    va_start(ap, fmt);
    vsnprintf(full, sizeof(full), fmt, ap);
    va_end(ap);
    store_msg(e, full);
}

void wf_err_prefix(wf_err *e, const char *fmt, ...)
{
    char prefix[256], full[WF_ERR_MSG_MAX + 1];
    size_t n, rest;
    va_list ap;

    if (e == NULL || e->cls == WF_OK)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    n = strlen(prefix);
    if (n + 2 >= sizeof(e->msg))
        return;
    /* Truncating the tail is fine: the start says what failed. */
    memcpy(full, prefix, n);
    memcpy(full + n, ": ", 2);
    rest = strnlen(e->msg, sizeof(full) - 1 - n - 2);
    memcpy(full + n + 2, e->msg, rest);
    full[n + 2 + rest] = '\0';
    store_msg(e, full);
}

int wf_err_is_set(const wf_err *e)
{
    return e != NULL && e->cls != WF_OK;
}

static const char *const class_names[] = {
    [WF_OK] = "OK",
    [WF_TRANSIENT] = "TRANSIENT",
    [WF_PERMANENT] = "PERMANENT",
    [WF_DESERIALIZATION] = "DESERIALIZATION",
    [WF_VALIDATION] = "VALIDATION",
    [WF_CONFIG] = "CONFIG",
    [WF_INTERNAL] = "INTERNAL",
};

const char *wf_class_name(wf_class cls)
{
    if ((size_t)cls >= sizeof(class_names) / sizeof(class_names[0]))
        return "INTERNAL";
    return class_names[cls];
}

wf_class wf_class_reported(wf_class cls)
{
    switch (cls) {
    case WF_INTERNAL:
        return WF_TRANSIENT;
    case WF_CONFIG:
        return WF_PERMANENT;
    default:
        return cls;
    }
}

wf_class wf_class_parse(const char *name)
{
    for (size_t i = 1; i < sizeof(class_names) / sizeof(class_names[0]); i++)
        if (strcmp(class_names[i], name) == 0)
            return (wf_class)i;
    return WF_OK;
}
