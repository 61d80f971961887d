/* The one check of what counts as an http(s) URL. */
#include "url.h"

#include <string.h>

int url_is_http(const char *s)
{
    const char *rest = NULL;

    if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    else if (strncmp(s, "https://", 8) == 0)
        rest = s + 8;
    return rest && *rest && *rest != '/' && strpbrk(s, " \t\r\n") == NULL;
}
