#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "url.h"

static void http_and_https_urls_with_a_host_are_accepted(void **state)
{
    const char *good[] = {"http://flyteadmin:8088", "https://flyte.example.com/api",
                          "http://127.0.0.1:8081", "https://u:p@registry/path?q=1"};

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(url_is_http(good[i]));
}

/* The configuration, the OAuth discovery document and kubeconfig all ask
 * this one question, so none accepts a value another refuses. */
static void urls_without_a_host_or_with_whitespace_are_refused(void **state)
{
    const char *bad[] = {"",
                         "flyteadmin:8088",
                         "ftp://flyte",
                         "HTTP://flyte",
                         "http://",
                         "https://",
                         "https:///token",
                         "https://flyte .example.com",
                         "https://flyte\n.example.com",
                         "http://flyte\t"};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (url_is_http(bad[i]))
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(http_and_https_urls_with_a_host_are_accepted),
        cmocka_unit_test(urls_without_a_host_or_with_whitespace_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
