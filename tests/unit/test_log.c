#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

/* Runs one log call with stderr sent to a temporary file; returns the line
 * it wrote, parsed as JSON. */
static json_t *logged_json(const log_ctx *ctx, const char *msg)
{
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    char line[4096] = "";

    assert_non_null(tmp);
    fflush(stderr);
    dup2(fileno(tmp), STDERR_FILENO);
    log_setup(WF_LOG_JSON, WF_LOG_INFO);
    log_warn(ctx, "%s", msg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    assert_non_null(fgets(line, sizeof(line), tmp));
    fclose(tmp);
    return json_loads(line, 0, NULL);
}

static void json_lines_carry_the_fields_that_apply(void **state)
{
    log_ctx ctx = {"ws-1", "ev-1", 2, 120, "4bf92f3577b34da6a3ce929d0e0e4736"};
    json_t *o = logged_json(&ctx, "retrying \"soon\"\nreally");

    (void)state;
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(o, "message")),
                        "retrying \"soon\"\nreally");
    assert_string_equal(json_string_value(json_object_get(o, "workspace_id")), "ws-1");
    assert_string_equal(json_string_value(json_object_get(o, "event_id")), "ev-1");
    assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "duration_ms")), 120);
    assert_string_equal(json_string_value(json_object_get(o, "trace_id")),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_non_null(json_object_get(o, "ts"));
    json_decref(o);
}

/* Bytes that are not UTF-8 must not cost the line or its fields. */
static void text_that_is_not_utf8_keeps_its_field(void **state)
{
    log_ctx ctx = {"ws-\xff\xfe", NULL, 0, -1, NULL};
    json_t *o = logged_json(&ctx, "server said \xc3\x28 here");

    (void)state;
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "message")), "server said ?( here");
    assert_string_equal(json_string_value(json_object_get(o, "workspace_id")), "ws-??");
    assert_null(json_object_get(o, "event_id"));
    assert_null(json_object_get(o, "attempt"));
    assert_null(json_object_get(o, "duration_ms"));
    assert_null(json_object_get(o, "trace_id"));
    json_decref(o);
}

/* Text lines name the trace id before the event id, which may be long
 * enough to fill the line's fields. */
static void text_lines_keep_the_trace_id_of_a_long_event_id(void **state)
{
    char event_id[700];
    log_ctx ctx = {"ws-1", event_id, 1, -1, "4bf92f3577b34da6a3ce929d0e0e4736"};
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    char line[4096] = "";

    (void)state;
    memset(event_id, 'e', sizeof(event_id) - 1);
    event_id[sizeof(event_id) - 1] = '\0';
    assert_non_null(tmp);
    fflush(stderr);
    dup2(fileno(tmp), STDERR_FILENO);
    log_setup(WF_LOG_TEXT, WF_LOG_INFO);
    log_info(&ctx, "handled");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    assert_non_null(fgets(line, sizeof(line), tmp));
    fclose(tmp);
    assert_non_null(strstr(
        line, " handled workspace=ws-1 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 event=eee"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_lines_carry_the_fields_that_apply),
        cmocka_unit_test(text_that_is_not_utf8_keeps_its_field),
        cmocka_unit_test(text_lines_keep_the_trace_id_of_a_long_event_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
