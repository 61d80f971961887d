#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"

static void dns1123_label_rules(void **state)
{
    (void)state;
    assert_true(names_is_dns1123_label("ws-ml-prod-001", 51));
    assert_true(names_is_dns1123_label("a", 51));
    assert_false(names_is_dns1123_label("", 51));
    assert_false(names_is_dns1123_label("-ws", 51));
    assert_false(names_is_dns1123_label("ws-", 51));
    assert_false(names_is_dns1123_label("Ws", 51));
    assert_false(names_is_dns1123_label("ws_1", 51));
    assert_false(names_is_dns1123_label("../etc", 51));
    assert_false(names_is_dns1123_label("ws\n1", 51));
    char long_id[53];
    memset(long_id, 'a', 52);
    long_id[52] = '\0';
    assert_false(names_is_dns1123_label(long_id, 51));
    long_id[51] = '\0';
    assert_true(names_is_dns1123_label(long_id, 51));
}

static void label_key_rules(void **state)
{
    char long_name[70], long_prefix[300];

    (void)state;
    assert_true(names_is_label_key("team"));
    assert_true(names_is_label_key("cost-center"));
    assert_true(names_is_label_key("Team_A.b"));
    assert_true(names_is_label_key("example.com/team"));
    assert_true(names_is_label_key("a-b.c1/X"));
    assert_false(names_is_label_key(""));
    assert_false(names_is_label_key("/team"));
    assert_false(names_is_label_key("example.com/"));
    assert_false(names_is_label_key("Example.com/team"));
    assert_false(names_is_label_key("example..com/team"));
    assert_false(names_is_label_key("-example.com/team"));
    assert_false(names_is_label_key("a/b/c"));
    assert_false(names_is_label_key("team name"));
    assert_false(names_is_label_key("-team"));
    assert_false(names_is_label_key("team."));
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    assert_false(names_is_label_key(long_name));
    long_name[63] = '\0';
    assert_true(names_is_label_key(long_name));
    memset(long_prefix, 'a', 254);
    memcpy(long_prefix + 254, "/x", 3);
    assert_false(names_is_label_key(long_prefix));
    memcpy(long_prefix + 253, "/x", 3);
    assert_true(names_is_label_key(long_prefix));
}

static void label_value_rules(void **state)
{
    (void)state;
    assert_true(names_is_label_value(""));
    assert_true(names_is_label_value("ws-1_a.b"));
    assert_false(names_is_label_value("alice@company.com"));
    assert_false(names_is_label_value("-x"));
    assert_false(names_is_label_value("a b"));
}

static void bucket_rules(void **state)
{
    (void)state;
    assert_true(names_is_bucket("ws-ml-prod-001-data"));
    assert_true(names_is_bucket("my.bucket.name"));
    assert_false(names_is_bucket("ab"));
    assert_false(names_is_bucket("Upper"));
    assert_false(names_is_bucket("a..b"));
    assert_false(names_is_bucket("192.168.1.1"));
    assert_false(names_is_bucket("b/../../other"));
}

static void quantity_rules(void **state)
{
    (void)state;
    const char *good[] = {"20",    "500m", "40Gi", "1.5", "80Gi", "1e3",
                          "100Mi", "2k",   "+1",   "1Ei", "1E"};
    const char *bad[] = {"", "4 cores", "8GB", "-1", "1..2", "Gi", "1Gii", "1e", "abc"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(names_is_quantity(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(names_is_quantity(bad[i]));
}

static void user_keys_are_valid_stable_and_distinct(void **state)
{
    char a[NAMES_USER_KEY_MAX], b[NAMES_USER_KEY_MAX], c[NAMES_USER_KEY_MAX];
    (void)state;
    names_user_key("alice", a);
    names_user_key("alice", b);
    assert_string_equal(a, b);
    assert_int_equal(strncmp(a, "alice-", 6), 0);
    names_user_key("Alice", c);
    assert_string_not_equal(a, c); /* case matters to authenticators */
    names_user_key("alice@company.com\n---\nkind: ClusterRoleBinding", a);
    assert_true(names_is_dns1123_label(a, 63));
    names_user_key("../../", b);
    assert_true(names_is_dns1123_label(b, 63));
    assert_int_equal(strncmp(b, "u-", 2), 0);
}

static void truncation_keeps_utf8_whole(void **state)
{
    (void)state;
    /* "é" is two bytes: cutting at 2 must not split it. */
    char *s = names_truncate_utf8("aé", 2);
    assert_string_equal(s, "a");
    free(s);
    s = names_truncate_utf8("abc", 64);
    assert_string_equal(s, "abc");
    free(s);
}

static void utf8_check_refuses_malformed_sequences(void **state)
{
    (void)state;
    assert_true(names_is_utf8("plain ascii"));
    assert_true(names_is_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    assert_false(names_is_utf8("\xff"));
    assert_false(names_is_utf8("\xc3"));             /* cut short */
    assert_false(names_is_utf8("\xc0\xaf"));         /* overlong "/" */
    assert_false(names_is_utf8("\xed\xa0\x80"));     /* surrogate */
    assert_false(names_is_utf8("\xf4\x90\x80\x80")); /* above U+10FFFF */
}

static void display_text_has_no_control_characters(void **state)
{
    (void)state;
    char *s = names_display("a\nb\tc\x7f\xc3\xa9");
    assert_string_equal(s, "a b c \xc3\xa9");
    free(s);
}

static void template_renders_flyte_syntax(void **state)
{
    (void)state;
    char *s = names_render_template("{{ project }}-{{ domain }}", "ws-1", "staging");
    assert_string_equal(s, "ws-1-staging");
    free(s);
    s = names_render_template("FlyteWorkspace-{{ project }}-Role", "ws-1", NULL);
    assert_string_equal(s, "FlyteWorkspace-ws-1-Role");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dns1123_label_rules),
        cmocka_unit_test(label_key_rules),
        cmocka_unit_test(label_value_rules),
        cmocka_unit_test(bucket_rules),
        cmocka_unit_test(quantity_rules),
        cmocka_unit_test(user_keys_are_valid_stable_and_distinct),
        cmocka_unit_test(truncation_keeps_utf8_whole),
        cmocka_unit_test(template_renders_flyte_syntax),
        cmocka_unit_test(utf8_check_refuses_malformed_sequences),
        cmocka_unit_test(display_text_has_no_control_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
