#include "wf_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void wf_err_init(wf_err *e)
{
    memset(e, 0, sizeof(*e));
    e->retry_after_ms = -1;
}

/* A message cut to fit (it travels as the x-error-message header and in
 * JSON) must not end in half a UTF-8 sequence: drop the partial one. */
static void drop_partial_utf8(char *s)
{
    size_t n = strlen(s), start = n, need;

    while (start > 0 && n - start < 4 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0)
        return;
    unsigned char lead = (unsigned char)s[start - 1];
    if (lead < 0x80)
        return;
    need = (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 1;
    if (n - (start - 1) < need)
        s[start - 1] = '\0';
}

void wf_err_set(wf_err *e, wf_class cls, const char *code, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL || e->cls != WF_OK)
        return;
    e->cls = cls;
    snprintf(e->code, sizeof(e->code), "%s", code ? code : "");
    va_start(ap, fmt);
    if (vsnprintf(e->msg, sizeof(e->msg), fmt, ap) >= (int)sizeof(e->msg))
        drop_partial_utf8(e->msg);
    va_end(ap);
}

void wf_err_prefix(wf_err *e, const char *fmt, ...)
{
    char prefix[256];
    char old[WF_ERR_MSG_MAX];
    va_list ap;

    if (e == NULL || e->cls == WF_OK)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    size_t n;

    memcpy(old, e->msg, sizeof(old));
    n = strlen(prefix);
    if (n + 2 >= sizeof(e->msg))
        return;
    memcpy(e->msg, prefix, n);
    memcpy(e->msg + n, ": ", 2);
    /* Truncating the tail is fine: the start says what failed. */
    memcpy(e->msg + n + 2, old, sizeof(e->msg) - n - 3);
    e->msg[sizeof(e->msg) - 1] = '\0';
    drop_partial_utf8(e->msg);
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

wf_class wf_class_parse(const char *name)
{
    for (size_t i = 1; i < sizeof(class_names) / sizeof(class_names[0]); i++)
        if (strcmp(class_names[i], name) == 0)
            return (wf_class)i;
    return WF_OK;
}
