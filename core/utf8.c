/* Cutting text to a byte budget without splitting a UTF-8 character. */
#include "utf8.h"

#include <string.h>

size_t utf8_prefix_len(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);

    if (n <= max)
        return n;
    /* s[max] is the first byte left out: if it continues a sequence, back up
     * to where that sequence began. */
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}
