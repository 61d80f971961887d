#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wf_err.h"

/* The message travels as a Kafka header and in JSON: a cut to fit must not
 * leave half a UTF-8 sequence at its end. */
static void a_cut_message_ends_on_a_character_boundary(void **state)
{
    char pad[WF_ERR_MSG_MAX];
    wf_err e;

    (void)state;
    memset(pad, 'x', sizeof(pad));
    pad[WF_ERR_MSG_MAX - 2] = '\0'; /* 1022 bytes, then a 2-byte é: 1 byte too many */
    wf_err_init(&e);
    wf_err_set(&e, WF_PERMANENT, "t.1", "%s\xc3\xa9", pad);
    assert_int_equal(strlen(e.msg), WF_ERR_MSG_MAX - 2);

    pad[WF_ERR_MSG_MAX - 4] = '\0'; /* 1020 bytes and a 3-byte €: fits exactly */
    wf_err_init(&e);
    wf_err_set(&e, WF_PERMANENT, "t.1", "%s\xe2\x82\xac", pad);
    assert_int_equal(strlen(e.msg), WF_ERR_MSG_MAX - 1);
    assert_memory_equal(e.msg + WF_ERR_MSG_MAX - 4, "\xe2\x82\xac", 3);
}

static void a_prefix_that_pushes_text_out_keeps_characters_whole(void **state)
{
    char pad[WF_ERR_MSG_MAX];
    wf_err e;

    (void)state;
    memset(pad, 'x', sizeof(pad));
    pad[WF_ERR_MSG_MAX - 5] = '\0'; /* 1019 bytes then €: 1022 in all */
    wf_err_init(&e);
    wf_err_set(&e, WF_TRANSIENT, "t.2", "%s\xe2\x82\xac", pad);
    wf_err_prefix(&e, "p"); /* "p: " pushes the € across the end */
    assert_true(strlen(e.msg) <= WF_ERR_MSG_MAX - 1);
    assert_int_equal((unsigned char)e.msg[strlen(e.msg) - 1], 'x');
    assert_memory_equal(e.msg, "p: xx", 5);
}

static void only_the_first_error_is_kept(void **state)
{
    wf_err e;

    (void)state;
    wf_err_init(&e);
    wf_err_set(&e, WF_TRANSIENT, "flyte.503", "first");
    wf_err_set(&e, WF_PERMANENT, "k8s.422", "second");
    assert_int_equal(e.cls, WF_TRANSIENT);
    assert_string_equal(e.code, "flyte.503");
    assert_string_equal(e.msg, "first");
}

/* Subscribers and wsflyte-dlt --class know the contract's four classes
 * only: the two internal ones are reported as one of them. */
static void every_class_is_reported_as_one_of_the_contracts_four(void **state)
{
    const char *four[] = {"TRANSIENT", "PERMANENT", "DESERIALIZATION", "VALIDATION"};

    (void)state;
    assert_string_equal(wf_class_name(wf_class_reported(WF_INTERNAL)), "TRANSIENT");
    assert_string_equal(wf_class_name(wf_class_reported(WF_CONFIG)), "PERMANENT");
    for (wf_class c = WF_TRANSIENT; c <= WF_INTERNAL; c++) {
        const char *name = wf_class_name(wf_class_reported(c));
        int found = 0;
        for (size_t i = 0; i < 4; i++)
            found |= strcmp(name, four[i]) == 0;
        assert_true(found);
    }
    assert_int_equal(wf_class_reported(WF_VALIDATION), WF_VALIDATION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_cut_message_ends_on_a_character_boundary),
        cmocka_unit_test(a_prefix_that_pushes_text_out_keeps_characters_whole),
        cmocka_unit_test(only_the_first_error_is_kept),
        cmocka_unit_test(every_class_is_reported_as_one_of_the_contracts_four),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
